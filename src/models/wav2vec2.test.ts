// Wav2Vec2ForCTC against torchaudio 0.13's wav2vec2_model with the same weights (HF's names mapped
// one to one; scripts/gen_wav2vec2_goldens.py, test/golden/wav2vec2). Float32 ONNX Runtime against
// float64 torch. Tolerances: logits 1e-4 relative to the largest |logit|; loss 1e-5 relative;
// gradients (48 sampled entries, max |g|, L2 norm) 1e-3 relative to the largest |g|.
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { grad } from '../autodiff/grad.js'
import { Graph, withGraph, type Tensor } from '../graph/graph.js'
import { expectClose, runOrt } from '../../test/op-check.js'
import type { HostTensor } from '../runtime/session.js'
import { Rng } from '../runtime/rng.js'
import { evaluate } from '../runtime/reference.js'
import { nd } from '../runtime/ndarray.js'
import { frameCount, minSamples, parseWav2Vec2Config, specAugmentMask, Wav2Vec2ForCTC } from './wav2vec2.js'
import { openWav2Vec2 } from './wav2vec2-node.js'
import { writeSafetensorsFile } from '../checkpoint/io-node.js'
import { modelTensors } from './pretrained-node.js'
import { framesNeeded, normalizeClip } from '../train/speech.js'

interface Golden {
  name: string
  folder: string
  input_values: number[]
  shape: [number, number]
  lengths: number[]
  use_mask: boolean
  label_ids: number[][]
  logits: number[]
  logits_shape: [number, number, number]
  frame_lengths: number[]
  loss: number
  grads: Record<string, { index: number[]; value: number[]; max_abs: number; norm: number }>
}
const golden = (name: string): Golden => JSON.parse(readFileSync(new URL(`../../test/golden/wav2vec2/${name}.json`, import.meta.url), 'utf8')) as Golden
const fixture = (name: string): string => fileURLToPath(new URL(`../../test/fixtures/models/${name}`, import.meta.url))
const i64 = (v: number[], shape: number[]): HostTensor => ({ data: BigInt64Array.from(v.map(BigInt)), shape, dtype: 'int64' })

describe('Wav2Vec2ForCTC against torchaudio', () => {
  for (const name of ['group', 'layer']) {
    it(`${name === 'group' ? 'group-norm encoder, post-LN, no mask, sum reduction' : 'layer-norm encoder, stable layer norm, attention mask, mean + zero_infinity'}: logits, loss and gradients`, async () => {
      const gd = golden(name)
      const { model } = await openWav2Vec2(fixture(gd.folder))
      const [B, N] = gd.shape
      const T = gd.logits_shape[1]
      expect(model.frames(N)).toBe(T)
      const L = Math.max(...gd.label_ids.map((l) => l.length))
      const g = new Graph()
      g.training = true
      const outs = withGraph(g, () => {
        const x = g.input('input_values', [B, N])
        const mask = gd.use_mask ? g.input('frame_mask', [B, T]) : null
        const labels = g.input('labels', [B, L], 'int64')
        const ll = g.input('label_lengths', [B], 'int64')
        const fl = g.input('frame_lengths', [B], 'int64')
        const logits = model.logits(x, mask)
        const loss = model.loss(logits, labels, ll, fl)
        const named = new Map(model.namedParameters())
        const wrt = Object.keys(gd.grads).map((k) => g.param(named.get(k)!))
        const grads = grad(loss, wrt) as Tensor[]
        return [logits, loss, ...grads]
      })
      const feeds: Record<string, HostTensor> = {
        input_values: { data: Float32Array.from(gd.input_values), shape: [B, N], dtype: 'float32' },
        labels: i64(gd.label_ids.flatMap((l) => [...l, ...new Array<number>(L - l.length).fill(0)]), [B, L]),
        label_lengths: i64(gd.label_ids.map((l) => l.length), [B]),
        frame_lengths: i64(gd.frame_lengths, [B]),
      }
      if (gd.use_mask) feeds['frame_mask'] = { data: Float32Array.from({ length: B * T }, (_, k) => (k % T < gd.frame_lengths[Math.floor(k / T)]! ? 1 : 0)), shape: [B, T], dtype: 'float32' }
      const [logits, loss, ...grads] = await runOrt(outs, feeds)
      // padded frames of a masked clip are not compared: HF and torchaudio leave them unspecified
      const keep = (a: ArrayLike<number>): number[] => Array.from(a).filter((_, k) => Math.floor(k / gd.logits_shape[2]) % T < gd.frame_lengths[Math.floor(k / (T * gd.logits_shape[2]))]!)
      expectClose(keep(logits!), keep(gd.logits), 1e-4, `${name} logits`)
      expect(Math.abs(loss![0]! - gd.loss) / Math.abs(gd.loss), `${name} loss ${loss![0]} vs ${gd.loss}`).toBeLessThan(1e-5)
      Object.entries(gd.grads).forEach(([k, want], i) => {
        const got = grads[i]!
        const sampled = want.index.map((j) => got[j]!)
        let worst = 0
        sampled.forEach((v, j) => (worst = Math.max(worst, Math.abs(v - want.value[j]!))))
        expect(worst / want.max_abs, `${name} d loss / d ${k}`).toBeLessThan(1e-3)
        let m = 0
        let l2 = 0
        for (const v of got) {
          m = Math.max(m, Math.abs(v))
          l2 += v * v
        }
        expect(Math.abs(m - want.max_abs) / want.max_abs, `${name} max |d ${k}|`).toBeLessThan(1e-3)
        expect(Math.abs(Math.sqrt(l2) - want.norm) / want.norm, `${name} |d ${k}|`).toBeLessThan(1e-3)
      })
    }, 60_000)
  }
})

describe('Wav2Vec2 config and checkpoint handling', () => {
  it('counts frames as HF does and knows the shortest clip', () => {
    const c = parseWav2Vec2Config({})
    expect(frameCount(c, 16000)).toBe(49) // wav2vec2-base: 20 ms frames, 25 ms receptive field
    expect(frameCount(c, 32000)).toBe(99)
    expect(minSamples(c)).toBe(400)
    expect(frameCount(c, 400)).toBe(1)
    expect(frameCount(c, 399)).toBe(0)
  })
  it('reports every bad config field at once', () => {
    expect(() => parseWav2Vec2Config({ feat_extract_norm: 'batch', conv_dim: [4, 4], conv_stride: [2], hidden_size: 10, num_attention_heads: 4, pad_token_id: 40, vocab_size: 32 }))
      .toThrow(/feat_extract_norm: must be "group" or "layer"[\s\S]*conv_dim[\s\S]*hidden_size: 10 is not divisible by num_attention_heads=4[\s\S]*pad_token_id: 40/)
  })
  it('freeze_feature_encoder stops exactly the conv feature encoder', async () => {
    const { model } = await openWav2Vec2(fixture('wav2vec2-group-tiny'))
    const before = model.countParameters(true)
    const convs = model.wav2vec2.feature_extractor.parameters().reduce((a, p) => a + p.data.length, 0)
    model.freezeFeatureEncoder()
    expect(model.countParameters(true)).toBe(before - convs)
    expect(model.namedParameters().filter(([, p]) => !p.requiresGrad).map(([n]) => n).every((n) => n.startsWith('wav2vec2.feature_extractor.') || n === 'wav2vec2.masked_spec_embed')).toBe(true)
  })
  it('a fresh model traces with the default (base) config shape rules', () => {
    const m = new Wav2Vec2ForCTC({ hidden_size: 32, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 64, conv_dim: [8, 8], conv_kernel: [10, 3], conv_stride: [5, 2], num_conv_pos_embeddings: 8, num_conv_pos_embedding_groups: 2, vocab_size: 10 })
    const g = new Graph()
    const logits = withGraph(g, () => m.logits(g.input('x', [1, 400])))
    expect(logits.shape).toEqual([1, m.frames(400), 10])
  })
  it('reads the positional conv saved under parametrizations (transformers with torch >= 2.1) as weight_g / weight_v', async () => {
    const src = fixture('wav2vec2-layer-tiny')
    const dir = mkdtempSync(join(tmpdir(), 'ft-w2v-'))
    try {
      for (const f of ['config.json', 'vocab.json', 'tokenizer_config.json', 'preprocessor_config.json']) copyFileSync(join(src, f), join(dir, f))
      const { model } = await openWav2Vec2(src)
      const renamed = modelTensors(model).map(([k, t]) => [k.replace('conv.weight_g', 'conv.parametrizations.weight.original0').replace('conv.weight_v', 'conv.parametrizations.weight.original1'), t] as const)
      await writeSafetensorsFile(join(dir, 'model.safetensors'), renamed, { format: 'pt' })
      const back = await openWav2Vec2(dir)
      const a = new Map(model.namedParameters())
      for (const [k, p] of back.model.namedParameters()) expect(Array.from(p.data), k).toEqual(Array.from(a.get(k)!.data))
      expect(back.report.loaded).toBe(model.namedParameters().length)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('audio preparation for CTC', () => {
  it("normalises a clip as HF's zero_mean_unit_var_norm: population variance + 1e-7", () => {
    const x = Float32Array.from([1, 2, 3, 4])
    const y = normalizeClip(x)
    const sd = Math.sqrt(1.25 + 1e-7)
    expect(Array.from(y).map((v) => Math.round(v * 1e6) / 1e6)).toEqual([-1.5, -0.5, 0.5, 1.5].map((v) => Math.round((v / sd) * 1e6) / 1e6))
    expect(Array.from(normalizeClip(new Float32Array(3).fill(0.25)))).toEqual([0, 0, 0])
  })
  it('counts the CTC steps a transcript needs: a blank between repeated labels', () => {
    expect(framesNeeded([])).toBe(0)
    expect(framesNeeded([5, 6, 7])).toBe(3)
    expect(framesNeeded([5, 5, 5, 6, 6])).toBe(8)
  })
  it('SpecAugment draws HF-style time spans inside each clip, and masked frames take masked_spec_embed', () => {
    const c = { mask_time_prob: 0.3, mask_time_length: 4, mask_time_min_masks: 2, apply_spec_augment: true }
    const m = specAugmentMask(c, [40, 9, 2], 40, new Rng(3))!
    const row = (b: number) => Array.from(m.subarray(b * 40, (b + 1) * 40))
    // clip 0: int(0.3 * 40 / 4 + eps) = 3 spans of 4 frames (overlaps allowed): 4..12 masked frames
    const n0 = row(0).reduce((a, v) => a + v, 0)
    expect(n0).toBeGreaterThanOrEqual(4)
    expect(n0).toBeLessThanOrEqual(12)
    // clip 1: 9 frames, min 2 spans, starts in 0..5: nothing past frame 8
    expect(row(1).slice(9).every((v) => v === 0)).toBe(true)
    expect(row(1).reduce((a, v) => a + v, 0)).toBeGreaterThanOrEqual(4)
    // clip 2: shorter than one span: no mask
    expect(row(2).every((v) => v === 0)).toBe(true)
    expect(specAugmentMask({ ...c, apply_spec_augment: false }, [40], 40, new Rng(3))).toBeNull()
    expect(Array.from(specAugmentMask(c, [40, 9, 2], 40, new Rng(3))!)).toEqual(Array.from(m))

    const model = new Wav2Vec2ForCTC({ hidden_size: 8, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 16, conv_dim: [4], conv_kernel: [4], conv_stride: [4], num_conv_pos_embeddings: 2, num_conv_pos_embedding_groups: 2, vocab_size: 5, hidden_dropout: 0, activation_dropout: 0, attention_dropout: 0, final_dropout: 0 })
    const g = new Graph()
    const [a, b] = withGraph(g, () => {
      const x = g.input('x', [1, 16])
      const tm = g.input('tm', [1, 4])
      return [model.logits(x, null, tm), model.logits(x)]
    })
    const x = nd([1, 16], Array.from({ length: 16 }, (_, i) => Math.sin(i)))
    const none = evaluate([a!], { x, tm: nd([1, 4], [0, 0, 0, 0]) })[0]!
    expect(Array.from(none.data)).toEqual(Array.from(evaluate([b!], { x })[0]!.data))
    const some = evaluate([a!], { x, tm: nd([1, 4], [0, 1, 0, 0]) })[0]!
    expect(Array.from(some.data)).not.toEqual(Array.from(none.data))
    expect(model.wav2vec2.masked_spec_embed!.requiresGrad).toBe(true)
  })
})
