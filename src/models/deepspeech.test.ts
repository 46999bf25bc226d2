// DeepSpeechForCTC against torch 1.13 / torchaudio 0.13 with the same weights (MelSpectrogram,
// Conv2d + Hardtanh, nn.GRU / nn.LSTM over pack_padded_sequence, Linear, F.ctc_loss;
// scripts/gen_deepspeech_goldens.py, test/golden/deepspeech). Float32 ONNX Runtime against float64
// torch. Tolerances: logits 1e-4 relative to the largest |logit|; loss 1e-5 relative; gradients
// (48 sampled entries, max |g|, L2 norm) 1e-3 relative to the largest |g|; mel filterbank 1e-5 (torchaudio computes it in float32).
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { grad } from '../autodiff/grad.js'
import { Graph, withGraph, type Tensor } from '../graph/graph.js'
import { expectClose, runOrt } from '../../test/op-check.js'
import type { HostTensor } from '../runtime/session.js'
import { DeepSpeechForCTC, melFilterbank, melFrames, parseDeepSpeechConfig } from './deepspeech.js'
import { openDeepSpeech } from './deepspeech-node.js'

interface Golden {
  name: string
  folder: string
  input_values: number[]
  shape: [number, number]
  lengths: number[]
  label_ids: number[][]
  logits: number[]
  logits_shape: [number, number, number]
  frame_lengths: number[]
  loss: number
  grads: Record<string, { index: number[]; value: number[]; max_abs: number; norm: number }>
  mel_fb?: number[]
}
const golden = (name: string): Golden => JSON.parse(readFileSync(new URL(`../../test/golden/deepspeech/${name}.json`, import.meta.url), 'utf8')) as Golden
const fixture = (name: string): string => fileURLToPath(new URL(`../../test/fixtures/models/${name}`, import.meta.url))
const i64 = (v: number[], shape: number[]): HostTensor => ({ data: BigInt64Array.from(v.map(BigInt)), shape, dtype: 'int64' })

describe('DeepSpeechForCTC against torch', () => {
  for (const name of ['gru', 'lstm']) {
    it(`${name === 'gru' ? 'GRU, sum reduction' : 'LSTM, mean reduction + zero_infinity, longest clip second'}: logits, loss and gradients over a padded batch`, async () => {
      const gd = golden(name)
      const { model } = await openDeepSpeech(fixture(gd.folder))
      const [B, N] = gd.shape
      const T = gd.logits_shape[1]
      expect(model.frames(N)).toBe(T)
      expect(gd.lengths.map((n) => model.frames(n))).toEqual(gd.frame_lengths)
      const L = Math.max(...gd.label_ids.map((l) => l.length))
      const g = new Graph()
      g.training = true
      const outs = withGraph(g, () => {
        const x = g.input('input_values', [B, N])
        const lengths = g.input('input_lengths', [B], 'int64')
        const labels = g.input('labels', [B, L], 'int64')
        const ll = g.input('label_lengths', [B], 'int64')
        const fl = g.input('frame_lengths', [B], 'int64')
        const logits = model.logits(x, null, null, lengths)
        const loss = model.loss(logits, labels, ll, fl)
        const named = new Map(model.namedParameters())
        const grads = grad(loss, Object.keys(gd.grads).map((k) => g.param(named.get(k)!))) as Tensor[]
        return [logits, loss, ...grads]
      })
      const [logits, loss, ...grads] = await runOrt(outs, {
        input_values: { data: Float32Array.from(gd.input_values), shape: [B, N], dtype: 'float32' },
        input_lengths: i64(gd.lengths, [B]),
        labels: i64(gd.label_ids.flatMap((l) => [...l, ...new Array<number>(L - l.length).fill(0)]), [B, L]),
        label_lengths: i64(gd.label_ids.map((l) => l.length), [B]),
        frame_lengths: i64(gd.frame_lengths, [B]),
      })
      // padded frames included: both sides give the head's bias there (zero recurrent output)
      expectClose(logits!, gd.logits, 1e-4, `${name} logits`)
      expect(Math.abs(loss![0]! - gd.loss) / Math.abs(gd.loss), `${name} loss ${loss![0]} vs ${gd.loss}`).toBeLessThan(1e-5)
      Object.entries(gd.grads).forEach(([k, want], i) => {
        const got = grads[i]!
        let worst = 0
        want.index.forEach((j, s) => (worst = Math.max(worst, Math.abs(got[j]! - want.value[s]!))))
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

  it("builds torchaudio's HTK mel filterbank", () => {
    const gd = golden('gru')
    const c = parseDeepSpeechConfig(JSON.parse(readFileSync(`${fixture(gd.folder)}/config.json`, 'utf8')) as Record<string, unknown>)
    // torchaudio builds it in float32, finetune in float64 (rounded once)
    expectClose(melFilterbank(c), gd.mel_fb!, 1e-5, 'mel filterbank')
  })
})

describe('DeepSpeech lengths, padding and config', () => {
  it('a padded clip gives the logits it gives alone (lengths respected by convs and recurrences)', async () => {
    const { model } = await openDeepSpeech(fixture('deepspeech-lstm-tiny'))
    const n = 2400
    const N = 4000
    const x = Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.05) + 0.3 * Math.sin(i * 0.31))
    const alone = new Graph()
    const a = withGraph(alone, () => model.logits(alone.input('x', [1, n])))
    const batch = new Graph()
    const b = withGraph(batch, () => model.logits(batch.input('x', [2, N]), null, null, batch.input('len', [2], 'int64')))
    const [la] = await runOrt([a], { x: { data: x, shape: [1, n], dtype: 'float32' } })
    const padded = new Float32Array(2 * N)
    padded.set(x)
    padded.set(Float32Array.from({ length: N }, (_, i) => Math.cos(i * 0.02)), N)
    const [lb] = await runOrt([b], { x: { data: padded, shape: [2, N], dtype: 'float32' }, len: i64([n, N], [2]) })
    const T = model.frames(n)
    const V = model.c.vocab_size
    expect(la!.length).toBe(T * V)
    expectClose(lb!.slice(0, T * V), la!, 1e-5, 'clip 0 padded vs alone')
  }, 60_000)

  it('counts frames: 25 ms windows every 10 ms, then the strided convs', () => {
    const c = parseDeepSpeechConfig({})
    expect(melFrames(c, 16000)).toBe(98)
    expect(melFrames(c, 399)).toBe(0)
    const m = new DeepSpeechForCTC({ rnn_hidden_size: 4, rnn_layers: 1, vocab_size: 6 })
    expect(m.frames(16000)).toBe(49)
    expect(m.frames(399)).toBe(0)
    expect(m.namedParameters().map(([k]) => k)).toEqual(['conv.0.weight', 'conv.0.bias', 'rnn.weight_ih_l0', 'rnn.weight_hh_l0', 'rnn.bias_ih_l0', 'rnn.bias_hh_l0', 'rnn.weight_ih_l0_reverse', 'rnn.weight_hh_l0_reverse', 'rnn.bias_ih_l0_reverse', 'rnn.bias_hh_l0_reverse', 'lm_head.weight', 'lm_head.bias'])
  })

  it('reports every bad config field at once', () => {
    expect(() => parseDeepSpeechConfig({ rnn_type: 'rnn', conv_channels: [4, 4], conv_kernel_freq: [3], f_max: 9000, pad_token_id: 40, vocab_size: 32 }))
      .toThrow(/rnn_type: must be "gru" or "lstm"[\s\S]*conv_kernel_freq: has 1 entries but conv_channels has 2[\s\S]*f_max[\s\S]*pad_token_id: 40/)
  })
})
