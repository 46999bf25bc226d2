// The keyword CNN against its PyTorch reference (scripts/gen_keyword_cnn_golden.py): every weight
// from the deterministic formula of vision-weights.ts on both sides, log-mel input from the same
// formula; references in float64. Tolerances: logits 1e-4 relative to the largest |logit|, loss
// 1e-4 relative, sampled gradient entries, max |g| and L2 norm 1e-3 relative to the gradient's
// largest entry, running means 1e-4. Then the whole model on audio: the mel front-end stays fixed
// and the CNN learns two clips.
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { runGraph } from '../../test/graph-run.js'
import { expectClose } from '../../test/op-check.js'
import { grad } from '../autodiff/grad.js'
import type { Tensor } from '../graph/graph.js'
import * as nn from '../graph/nn.js'
import { importOnnx } from '../onnx/import.js'
import { Rng } from '../runtime/rng.js'
import { Runtime } from '../runtime/session.js'
import { hostF32, hostI64, TrainSession } from '../train/step.js'
import { KeywordCnn, keywordCnnDefaults, parseKeywordCnnConfig } from './keyword-cnn.js'
import { speechEmbeddingFiles } from './speech-embedding-node.js'
import { detUniform, fillDeterministic } from './vision-weights.js'

interface Golden {
  channels: number[]
  num_classes: number
  input: { name: string; scale: number; shape: [number, number, number] }
  labels: number[]
  param_count: number
  eval: { logits: number[] }
  train: { logits: number[]; loss: number; grads: Record<string, { shape: number[]; indices: number[]; values: number[]; max_abs: number; l2: number }>; running_mean: number[] }
}

const g = JSON.parse(readFileSync(new URL('../../test/golden/audio/keyword-cnn.json', import.meta.url), 'utf8')) as Golden
const mel = () => {
  const m = importOnnx(readFileSync(speechEmbeddingFiles().melspectrogram))
  m.requiresGrad(false)
  return m
}

describe('keyword CNN', () => {
  it('matches its PyTorch reference: eval logits, train-mode loss, gradients and running means', async () => {
    const model = new KeywordCnn(mel(), { channels: g.channels }, g.num_classes, new Rng(0))
    model.nameParameters()
    fillDeterministic(model)
    expect(model.countParameters()).toBe(g.param_count)
    const params = new Map(model.namedParameters())
    const shape = g.input.shape
    const x = hostF32(detUniform(g.input.name, new Float32Array(shape[0] * shape[1] * shape[2]), g.input.scale), shape)
    const ev = await runGraph((gr) => ({ logits: model.head(model.fromMel(gr.input('x', shape))) }), { x })
    expectClose(ev['logits']!, g.eval.logits, 1e-4, 'eval logits')

    const names = Object.keys(g.train.grads)
    const tr = await runGraph((gr) => {
      const logits = model.head(model.fromMel(gr.input('x', shape)))
      const loss = nn.crossEntropy(logits, gr.input('y', [shape[0]], 'int64'))
      const out: Record<string, Tensor> = { logits, loss, rm: gr.stateUpdates.get(params.get('blocks.0.bn.running_mean')!)! }
      grad(loss, names.map((n) => gr.param(params.get(n)!))).forEach((d, i) => (out[`grad:${names[i]}`] = d!))
      return out
    }, { x, y: hostI64(g.labels, [shape[0]]) }, { training: true })
    expectClose(tr['logits']!, g.train.logits, 1e-4, 'train logits')
    expect(Math.abs(tr['loss']![0]! - g.train.loss) / g.train.loss).toBeLessThan(1e-4)
    for (const n of names) {
      const want = g.train.grads[n]!
      const got = tr[`grad:${n}`]!
      expect(got.length).toBe(want.shape.reduce((a, b) => a * b, 1))
      const worst = Math.max(...want.indices.map((i, k) => Math.abs(got[i]! - want.values[k]!)))
      expect(worst / want.max_abs, `d loss / d ${n}`).toBeLessThan(1e-3)
      const l2 = Math.sqrt(Array.from(got).reduce((a, v) => a + v * v, 0))
      expect(Math.abs(l2 - want.l2) / want.l2, `|d ${n}|`).toBeLessThan(1e-3)
    }
    expectClose(tr['rm']!, g.train.running_mean, 1e-4, 'blocks.0.bn.running_mean after one train-mode forward')
  })

  it('config: defaults, and bad channel lists are refused with the value and an example', () => {
    expect(parseKeywordCnnConfig(undefined)).toEqual({ channels: [...keywordCnnDefaults.channels] })
    expect(() => parseKeywordCnnConfig({ channels: [16, 0] }, 'x/config.json')).toThrow(/x\/config.json: keyword_cnn.channels .*\[16,0\]/)
  })

  it('trains on audio: loss falls on two clips while the mel front-end stays fixed', async () => {
    const front = mel()
    const model = new KeywordCnn(front, keywordCnnDefaults, 2, new Rng(1))
    const before = front.parameters().map((p) => p.data.slice())
    const N = 8000
    const rng = new Rng(3)
    const x = Float32Array.from({ length: 2 * N }, (_, i) => (i < N ? 0.3 * Math.sin(i * 0.05) : 0.3 * Math.sin(i * 0.31)) + 0.01 * rng.normal())
    const s = new TrainSession({ runtime: new Runtime({ threads: 1 }), model, optimizer: { kind: 'adam', lr: 3e-3 }, forward: (b) => ({ loss: nn.crossEntropy(model.logits(b['x']!), b['y']!) }) })
    const losses: number[] = []
    for (let k = 0; k < 6; k++) losses.push((await s.trainStep({ x: hostF32(x, [2, N]), y: hostI64([0, 1], [2]) })).loss)
    expect(losses[5]!, `losses ${losses}`).toBeLessThan(losses[0]!)
    front.parameters().forEach((p, i) => expect(p.data).toEqual(before[i]))
    expect(model.namedParameters().every(([n]) => n.startsWith('blocks.') || n.startsWith('classifier.'))).toBe(true)
  })
})
