// The DB loss against a torch rendering of PaddleOCR's formulas (scripts/gen_db_loss_golden.py, float64)
// and its gradient against central finite differences. Tolerances: loss terms 1e-9 relative and
// gradients 1e-7 of the largest in the float64 reference interpreter; ONNX Runtime (float32) 1e-4.
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { grad } from '../../autodiff/grad.js'
import { Graph, withGraph, type Tensor } from '../../graph/graph.js'
import { nd } from '../../runtime/ndarray.js'
import { evaluate } from '../../runtime/reference.js'
import { checkOp, expectClose, runOrt, toHost } from '../../../test/op-check.js'
import { dbLoss, dbLossProbabilityOnly, topKSum } from './loss.js'

interface Case {
  name: string
  shape: number[]
  shrink_logits: number[]
  threshold_logits: number[]
  shrink_map: number[]
  shrink_mask: number[]
  threshold_map: number[]
  threshold_mask: number[]
  loss: number
  loss_shrink_maps: number
  loss_threshold_maps: number
  loss_binary_maps: number
  grad_shrink_logits: number[]
  grad_threshold_logits: number[]
  prob_only_loss: number
  prob_only_grad_shrink_logits: number[]
}
const golden = JSON.parse(readFileSync(new URL('../../../test/golden/text-detection/db-loss.json', import.meta.url), 'utf8')) as { cases: Case[] }

const NAMES = ['shrink_logits', 'threshold_logits', 'shrink_map', 'shrink_mask', 'threshold_map', 'threshold_mask'] as const

function build(c: Case, f: (x: Record<(typeof NAMES)[number], Tensor>) => Record<string, Tensor>, wrt: (typeof NAMES)[number][]) {
  const g = new Graph()
  g.training = true
  const inputs = Object.fromEntries(NAMES.map((n) => [n, g.input(n, c.shape)])) as Record<(typeof NAMES)[number], Tensor>
  const out = withGraph(g, () => f(inputs))
  const grads = withGraph(g, () => grad(out['loss']!, wrt.map((n) => inputs[n])))
  const feeds = Object.fromEntries(NAMES.map((n) => [n, nd(c.shape, c[n])]))
  return { out, grads: grads.map((x) => x!), feeds }
}

describe('DB loss', () => {
  for (const c of golden.cases) {
    it(`matches the PaddleOCR formulas in torch: ${c.name}`, async () => {
      const { out, grads, feeds } = build(c, (x) => {
        const t = dbLoss({ shrink: x.shrink_logits.sigmoid(), threshold: x.threshold_logits.sigmoid() }, { shrinkMap: x.shrink_map, shrinkMask: x.shrink_mask, thresholdMap: x.threshold_map, thresholdMask: x.threshold_mask })
        return { loss: t.loss, shrink: t.shrink, threshold: t.threshold!, binary: t.binary }
      }, ['shrink_logits', 'threshold_logits'])
      const [loss, s, th, b, gs, gt] = evaluate([out['loss']!, out['shrink']!, out['threshold']!, out['binary']!, ...grads], feeds).map((a) => a.data)
      expect(loss![0]).toBeCloseTo(c.loss, 8)
      expect(s![0]).toBeCloseTo(c.loss_shrink_maps, 9)
      expect(th![0]).toBeCloseTo(c.loss_threshold_maps, 9)
      expect(b![0]).toBeCloseTo(c.loss_binary_maps, 9)
      expectClose(gs!, c.grad_shrink_logits, 1e-7, 'd loss / d shrink logits')
      expectClose(gt!, c.grad_threshold_logits, 1e-7, 'd loss / d threshold logits')
      const host = Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, toHost(v, 'float32')]))
      const [ortLoss, ortGs] = await runOrt([out['loss']!, grads[0]!], host)
      expect(Math.abs(ortLoss![0]! - c.loss) / c.loss).toBeLessThan(1e-4)
      expectClose(ortGs!, c.grad_shrink_logits, 1e-4, 'ORT d loss / d shrink logits')
    })

    it(`probability-only form (no threshold branch) matches torch, from probabilities and from logits: ${c.name}`, () => {
      for (const fromLogits of [false, true]) {
        const { out, grads, feeds } = build(c, (x) => ({ loss: dbLossProbabilityOnly({ shrink: x.shrink_logits.sigmoid(), ...(fromLogits ? { shrinkLogits: x.shrink_logits } : {}) }, { shrinkMap: x.shrink_map, shrinkMask: x.shrink_mask }).loss }), ['shrink_logits'])
        const [loss, gs] = evaluate([out['loss']!, grads[0]!], feeds).map((a) => a.data)
        expect(loss![0]).toBeCloseTo(c.prob_only_loss, 8)
        expectClose(gs!, c.prob_only_grad_shrink_logits, 1e-7, `d loss / d shrink logits (${fromLogits ? 'logits' : 'probabilities'})`)
      }
    })
  }

  it('gradient of the full loss matches central finite differences', async () => {
    const H = 6
    const W = 8
    const gt = Array.from({ length: H * W }, (_, i) => (i % W >= 2 && i % W < 5 && i >= W && i < 3 * W ? 1 : 0))
    const mask = Array.from({ length: H * W }, (_, i) => (i === 40 ? 0 : 1))
    const tmap = Array.from({ length: H * W }, (_, i) => 0.3 + 0.4 * ((i * 7) % 11) / 10)
    const tmask = Array.from({ length: H * W }, (_, i) => (i % 3 ? 1 : 0))
    const m = (v: number[]) => ({ shape: [1, H, W], values: v, noGrad: true })
    await checkOp('db loss', [{ shape: [1, H, W] }, { shape: [1, H, W] }, m(gt), m(mask), m(tmap), m(tmask)], (zs, zt, g, ms, tm, tk) =>
      dbLoss({ shrink: zs!.sigmoid(), shrinkLogits: zs!, threshold: zt!.sigmoid() }, { shrinkMap: g!, shrinkMask: ms!, thresholdMap: tm!, thresholdMask: tk! }).loss, { fdSamples: 48, ortTol: 1e-4 })
  })

  it('top-k sum by bisection: exact on ties, zero for k = 0, the whole sum for k = n', async () => {
    const v = [0.5, 3, 3, 3, 1, 0, 2.25, 7]
    const cases: [number, number][] = [[0, 0], [1, 7], [2, 10], [3, 13], [5, 18.25], [8, 19.75]]
    for (const [k, want] of cases) {
      const g = new Graph()
      const out = withGraph(g, () => topKSum(g.input('v', [8]), g.input('k', [])))
      const feeds = { v: nd([8], v), k: nd([], [k]) }
      expect(evaluate([out], feeds)[0]!.data[0]).toBeCloseTo(want, 5)
      const [ort] = await runOrt([out], { v: toHost(feeds.v, 'float32'), k: toHost(feeds.k, 'float32') })
      expect(ort![0]).toBeCloseTo(want, 4)
    }
  })
})
