// Unrolled GRU and LSTM: reference gradients against central finite differences and ORT against the
// float64 reference (test/op-check.ts tolerances: finite differences 1e-5, ORT 2e-5), forward and
// reverse, with and without a length mask; and torch 1.13's nn.GRU / nn.LSTM (two bidirectional
// layers over pack_padded_sequence; scripts/gen_deepspeech_goldens.py) in float32 ORT against float64
// torch: outputs 1e-5 and every weight's gradient 1e-4, relative to the largest magnitude.
import { readFileSync } from 'node:fs'
import { describe, it } from 'vitest'
import { grad } from '../autodiff/grad.js'
import { checkOp, expectClose, runOrt } from '../../test/op-check.js'
import { concat, Graph, withGraph, type Tensor } from './graph.js'
import { recurrence, RNN_GATES, type RnnKind } from './rnn.js'

const B = 2
const T = 4
const In = 3
const H = 2
const mask = { shape: [B, T], values: [1, 1, 1, 1, 1, 1, 0, 0], noGrad: true }

describe('recurrences (one Scan each way): gradients against finite differences', () => {
  for (const kind of ['gru', 'lstm'] as const) {
    const G = RNN_GATES[kind]
    const specs = [{ shape: [B, T, In] }, { shape: [G * H, In] }, { shape: [G * H, H] }, { shape: [G * H] }, { shape: [G * H] }]
    for (const reverse of [false, true]) {
      it(`${kind}${reverse ? ' reverse' : ''} with a length mask`, () =>
        checkOp(`${kind} masked`, [...specs, mask], (x, wi, wh, bi, bh, m) => recurrence(kind, x!, { weight_ih: wi!, weight_hh: wh!, bias_ih: bi!, bias_hh: bh! }, m!, reverse)))
    }
    it(`${kind} without a mask, no biases`, () =>
      checkOp(`${kind} plain`, specs.slice(0, 3), (x, wi, wh) => recurrence(kind, x!, { weight_ih: wi!, weight_hh: wh!, bias_ih: null, bias_hh: null }, null)))
  }
})

interface RnnGolden {
  kind: RnnKind
  input: number[]
  shape: [number, number, number]
  hidden: number
  lengths: number[]
  weight: number[]
  output: number[]
  params: Record<string, number[]>
  grads: Record<string, number[]>
}

describe('torch nn.GRU / nn.LSTM, two bidirectional layers over a packed batch', () => {
  for (const kind of ['gru', 'lstm'] as const) {
    it(`${kind}: outputs (zero on padding) and every weight's gradient`, async () => {
      const gd = JSON.parse(readFileSync(new URL(`../../test/golden/deepspeech/rnn-${kind}.json`, import.meta.url), 'utf8')) as RnnGolden
      const [b, t, inp] = gd.shape
      const g = new Graph()
      g.training = true
      const names = Object.keys(gd.params)
      // (G·H, In) for layer 0's weight_ih, (G·H, 2H) above it, (G·H, H) for weight_hh, (G·H) biases
      const shapeOf = (n: string): number[] => {
        const len = gd.params[n]!.length
        if (n.startsWith('bias')) return [len]
        const cols = n.startsWith('weight_hh') ? gd.hidden : n.includes('_l0') ? inp : 2 * gd.hidden
        return [len / cols, cols]
      }
      const outs = withGraph(g, () => {
        const w = Object.fromEntries(names.map((n) => [n, g.input(n, shapeOf(n))]))
        const m = g.input('mask', [b, t])
        let h: Tensor = g.input('x', [b, t, inp])
        for (const l of [0, 1]) {
          const dir = (sfx: string, rev: boolean): Tensor => recurrence(kind, h, { weight_ih: w[`weight_ih_l${l}${sfx}`]!, weight_hh: w[`weight_hh_l${l}${sfx}`]!, bias_ih: w[`bias_ih_l${l}${sfx}`]!, bias_hh: w[`bias_hh_l${l}${sfx}`]! }, m, rev)
          h = concat([dir('', false), dir('_reverse', true)], 2)
        }
        const loss = h.mul(g.constant(Float32Array.from(gd.weight), h.shape)).sum()
        return [h, ...(grad(loss, names.map((n) => w[n]!)) as Tensor[])]
      })
      const feeds = Object.fromEntries(names.map((n) => [n, { data: Float32Array.from(gd.params[n]!), shape: shapeOf(n), dtype: 'float32' as const }]))
      const [out, ...grads] = await runOrt(outs, {
        ...feeds,
        x: { data: Float32Array.from(gd.input), shape: [b, t, inp], dtype: 'float32' },
        mask: { data: Float32Array.from({ length: b * t }, (_, k) => (k % t < gd.lengths[Math.floor(k / t)]! ? 1 : 0)), shape: [b, t], dtype: 'float32' },
      })
      expectClose(out!, gd.output, 1e-5, `${kind} output`)
      names.forEach((n, i) => expectClose(grads[i]!, gd.grads[n]!, 1e-4, `${kind} d/d ${n}`))
    }, 30_000)
  }
})
