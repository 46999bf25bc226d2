// CTC loss against torch.nn.functional.ctc_loss (test/golden/ctc, scripts/gen_ctc_goldens.py) and
// central finite differences. Tolerances: loss 1e-5 relative, d loss / d logits 1e-5 relative to the
// largest |gradient| (ONNX Runtime, float32); float64 reference interpreter 1e-9.
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { grad } from '../autodiff/grad.js'
import { checkOp, expectClose, runOrt, toHost } from '../../test/op-check.js'
import { nd, type NDArray } from '../runtime/ndarray.js'
import { evaluate } from '../runtime/reference.js'
import { ctcLoss, type CtcOptions } from './ctc.js'
import { Graph, withGraph, type Tensor } from './graph.js'

interface Case {
  name: string
  blank: number
  reduction: 'mean' | 'sum' | 'none'
  zero_infinity: boolean
  shape: [number, number, number]
  logits: number[]
  targets: number[]
  target_shape: [number, number]
  input_lengths: number[]
  target_lengths: number[]
  loss: (number | 'inf')[]
  grad: (number[] | null)[]
}
const golden = JSON.parse(readFileSync(new URL('../../test/golden/ctc/ctc.json', import.meta.url), 'utf8')) as { cases: Case[] }

type Feeds = { x0: NDArray; x1: NDArray; x2: NDArray; x3: NDArray }
function build(c: Case): { g: Graph; x: Tensor; loss: Tensor; feeds: Feeds } {
  const g = new Graph()
  g.training = true
  const [B] = c.shape
  let x!: Tensor
  let loss!: Tensor
  withGraph(g, () => {
    x = g.input('x0', c.shape)
    const t = g.input('x1', c.target_shape, 'int64')
    const il = g.input('x2', [B], 'int64')
    const tl = g.input('x3', [B], 'int64')
    const o: CtcOptions = { blank: c.blank, reduction: c.reduction, zeroInfinity: c.zero_infinity }
    loss = ctcLoss(x.logSoftmax(-1), t, il, tl, o)
  })
  const feeds = { x0: nd(c.shape, c.logits), x1: nd(c.target_shape, c.targets), x2: nd([B], c.input_lengths), x3: nd([B], c.target_lengths) }
  return { g, x, loss, feeds }
}

const host = (feeds: Feeds) => ({
  x0: toHost(feeds.x0, 'float32'), x1: toHost(feeds.x1, 'int64'), x2: toHost(feeds.x2, 'int64'), x3: toHost(feeds.x3, 'int64'),
})
const expected = (c: Case): number[] => c.loss.map((v) => (v === 'inf' ? Infinity : v))

describe('ctcLoss against torch.nn.functional.ctc_loss', () => {
  for (const c of golden.cases) {
    it(`${c.name}: loss and d/dlogits`, async () => {
      const { g, x, loss, feeds } = build(c)
      const want = expected(c)
      const [ortLoss] = await runOrt([loss], host(feeds))
      const [refLoss] = evaluate([loss], feeds)
      want.forEach((v, i) => {
        if (v === Infinity) {
          expect(ortLoss![i]).toBe(Infinity)
          expect(refLoss!.data[i]).toBe(Infinity)
        } else {
          expect(Math.abs(ortLoss![i]! - v) / Math.max(Math.abs(v), 1)).toBeLessThan(1e-5)
          expect(Math.abs(refLoss!.data[i]! - v) / Math.max(Math.abs(v), 1)).toBeLessThan(1e-9)
        }
      })
      // gradient of the summed loss (torch's backward of loss.sum()); rows torch leaves NaN are skipped
      const total = withGraph(g, () => (loss.rank === 0 ? loss : loss.sum()))
      const finite = withGraph(g, () => grad(total, [x])[0]!)
      const [ortGrad] = await runOrt([finite], host(feeds))
      const [refGrad] = evaluate([finite], feeds)
      const [B, T, C] = c.shape
      c.grad.forEach((row, b) => {
        if (row === null) return
        const sl = (a: ArrayLike<number>) => Array.from(a).slice(b * T * C, (b + 1) * T * C)
        expectClose(sl(ortGrad!), row, 1e-5, `${c.name}: row ${b} gradient (ORT)`)
        expectClose(sl(refGrad!.data), row, 1e-9, `${c.name}: row ${b} gradient (reference)`)
      })
      expect(B).toBe(c.grad.length)
    })
  }
})

describe('ctcLoss gradient', () => {
  it('matches central finite differences through log-softmax, with padding, repeats and a frozen tail', () =>
    checkOp('ctc', [
      { shape: [2, 7, 4] },
      { shape: [2, 3], dtype: 'int64', values: [1, 1, 2, 3, 0, 0], noGrad: true },
      { shape: [2], dtype: 'int64', values: [7, 5], noGrad: true },
      { shape: [2], dtype: 'int64', values: [3, 1], noGrad: true },
    ], (x, t, il, tl) => ctcLoss(x.logSoftmax(-1), t, il, tl, { reduction: 'none' }), { fdTol: 1e-6 }))

  it('gives zero loss and zero gradient to impossible alignments with zeroInfinity', async () => {
    const c = golden.cases.find((k) => k.zero_infinity)!
    const { g, x, feeds } = build(c)
    const perRow = withGraph(g, () => ctcLoss(x.logSoftmax(-1), g.inputs[1]!, g.inputs[2]!, g.inputs[3]!, { zeroInfinity: true, reduction: 'none' }))
    const [v] = evaluate([perRow], feeds)
    expect(v!.data[0]).toBe(0)
    const gr = withGraph(g, () => grad(perRow.sum(), [x])[0]!)
    const [d] = evaluate([gr], feeds)
    const [, T, C] = c.shape
    expect(Array.from(d!.data.slice(0, T * C)).every((k) => k === 0)).toBe(true)
    expect(Array.from(d!.data.slice(T * C, 2 * T * C)).some((k) => k !== 0)).toBe(true)
  })
})
