// Wav2Vec2ForSequenceClassification against the reference of scripts/gen_wav2vec2_seqcls_goldens.py:
// torchaudio 0.13's wav2vec2_model with the committed tiny CTC folders' weights plus HF's
// classification head written from its modeling code (per-clip normalisation, weighted layer sum,
// projector, mean pooling, classifier, cross-entropy). Float32 ONNX Runtime against float64 torch:
// logits 1e-4 relative to the largest |logit|, loss 1e-5 relative, gradients 1e-3 relative to max |g|.
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { grad } from '../autodiff/grad.js'
import { Graph, withGraph, type Tensor } from '../graph/graph.js'
import * as nn from '../graph/nn.js'
import { expectClose, runOrt } from '../../test/op-check.js'
import type { HostTensor } from '../runtime/session.js'
import { openWav2Vec2Classifier } from './wav2vec2-node.js'

interface Golden {
  folder: string
  classifier_proj_size: number
  use_weighted_layer_sum: boolean
  num_labels: number
  head: Record<string, number[]>
  audio: number[]
  shape: [number, number]
  targets: number[]
  logits: number[]
  loss: number
  grads: Record<string, { index: number[]; value: number[]; max_abs: number; norm: number }>
}
const golden = (name: string): Golden => JSON.parse(readFileSync(new URL(`../../test/golden/wav2vec2/${name}.json`, import.meta.url), 'utf8')) as Golden
const fixture = (name: string): string => fileURLToPath(new URL(`../../test/fixtures/models/${name}`, import.meta.url))

describe('Wav2Vec2ForSequenceClassification against the reference', () => {
  for (const name of ['seqcls-group', 'seqcls-layer']) {
    it(`${name === 'seqcls-group' ? 'post-LN encoder with the weighted layer sum' : 'stable layer norm, last hidden state'}: logits, loss and gradients`, async () => {
      const gd = golden(name)
      const f = await openWav2Vec2Classifier(fixture(gd.folder), { numClasses: gd.num_labels })
      const m = f.model
      // a CTC folder gives the backbone; the lm_head is left out and a new head drawn
      expect(f.labels).toEqual([])
      expect(f.report.initialised.filter((n) => !n.startsWith('wav2vec2.')).sort()).toEqual(['classifier.bias', 'classifier.weight', 'projector.bias', 'projector.weight'])
      expect(f.report.ignored).toEqual(expect.arrayContaining(['lm_head.weight', 'lm_head.bias']))
      // the golden's head; its config fields set from the golden
      const raw = JSON.parse(readFileSync(`${fixture(gd.folder)}/config.json`, 'utf8')) as Record<string, unknown>
      const { Wav2Vec2ForSequenceClassification } = await import('./wav2vec2-classifier.js')
      const model = new Wav2Vec2ForSequenceClassification({ ...raw, classifier_proj_size: gd.classifier_proj_size, use_weighted_layer_sum: gd.use_weighted_layer_sum }, gd.num_labels)
      const named = new Map(model.namedParameters())
      for (const [n, p] of m.namedParameters()) if (n.startsWith('wav2vec2.')) named.get(n)!.data.set(p.data)
      for (const [n, v] of Object.entries(gd.head)) named.get(n)!.data.set(v)
      const [B, N] = gd.shape
      const g = new Graph()
      g.training = true
      const outs = withGraph(g, () => {
        const x = g.input('audio', [B, N])
        const y = g.input('labels', [B], 'int64')
        const logits = model.logits(x)
        const loss = nn.crossEntropy(logits, y)
        const grads = grad(loss, Object.keys(gd.grads).map((k) => g.param(named.get(k)!))) as Tensor[]
        return [logits, loss, ...grads]
      })
      const feeds: Record<string, HostTensor> = {
        audio: { data: Float32Array.from(gd.audio), shape: [B, N], dtype: 'float32' },
        labels: { data: BigInt64Array.from(gd.targets.map(BigInt)), shape: [B], dtype: 'int64' },
      }
      const [logits, loss, ...grads] = await runOrt(outs, feeds)
      expectClose(Array.from(logits!), gd.logits, 1e-4, `${name} logits`)
      expect(Math.abs(loss![0]! - gd.loss) / Math.abs(gd.loss), `${name} loss ${loss![0]} vs ${gd.loss}`).toBeLessThan(1e-5)
      Object.entries(gd.grads).forEach(([k, want], i) => {
        const got = grads[i]!
        let worst = 0
        want.index.forEach((j, q) => (worst = Math.max(worst, Math.abs(got[j]! - want.value[q]!))))
        expect(worst / want.max_abs, `${name} d loss / d ${k}`).toBeLessThan(1e-3)
        const l2 = Math.sqrt(Array.from(got).reduce((a, v) => a + v * v, 0))
        expect(Math.abs(l2 - want.norm) / want.norm, `${name} |d ${k}|`).toBeLessThan(1e-3)
      })
    }, 60_000)
  }
})
