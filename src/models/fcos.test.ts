// FCOS's host and loss pieces against torchvision 0.14 (scripts/gen_fcos_goldens.py -> test/golden/
// detection/fcos_loss.json), without the network: anchors of a 384x512 batch, head outputs from the
// deterministic formula (float32 on both sides, the reference then in float64), three images (one
// without boxes). Tolerances: matched indices and anchors exact; loss terms 1e-5 relative (float32
// sums of ~50k terms); gradients w.r.t. the head outputs 1e-4 of the largest |g|; detections: the
// same count, labels and order, boxes within 1e-3 px, scores within 1e-6 (the host runs in float64).
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { runGraph } from '../../test/graph-run.js'
import { expectClose } from '../../test/op-check.js'
import { grad } from '../autodiff/grad.js'
import { hostF32 } from '../train/step.js'
import { detUniform } from './vision-weights.js'
import { fcosAnchors, fcosLevels, fcosLoss, fcosMatch, fcosPostprocess, fcosTargets, giouLoss, rescaleBoxes, sigmoidFocalLoss } from './fcos.js'

interface Sampled { shape: number[]; indices: number[]; values: number[]; max_abs: number; l2: number }
interface Spec { name: string; scale: number; offset: number }
interface LossGolden {
  image_size: [number, number]
  num_classes: number
  levels: number[]
  targets: { boxes: number[][]; labels: number[] }[]
  head: { cls: Spec; reg: Spec; ctr: Spec }
  anchors_first: number[][]
  matched: number[][]
  losses: Record<'classification' | 'bbox_regression' | 'bbox_ctrness', number>
  grads: Record<'cls' | 'reg' | 'ctr', Sampled>
  postprocess: { score_thresh: number; topk_candidates: number; nms_thresh: number; detections_per_img: number; original_sizes: [number, number][] }
  detections: { boxes: number[][]; scores: number[]; labels: number[] }[]
}

const g = JSON.parse(readFileSync(new URL('../../test/golden/detection/fcos_loss.json', import.meta.url), 'utf8')) as LossGolden
const [H, W] = g.image_size
const K = g.num_classes
const B = g.targets.length
const levels = fcosLevels(H, W)
const A = g.levels.reduce((a, b) => a + b, 0)
const anchors = fcosAnchors(H, W, levels)
const head = (s: Spec, n: number): Float32Array => detUniform(s.name, new Float32Array(n), s.scale, s.offset)
const cls = head(g.head.cls, B * A * K)
const reg = head(g.head.reg, B * A * 4)
const ctr = head(g.head.ctr, B * A)
const images = g.targets.map((t) => ({ boxes: t.boxes.flat(), labels: t.labels }))

describe('FCOS matching, loss and post-processing match torchvision', () => {
  it('anchors per level: one square of the level size at (j * stride, i * stride)', () => {
    expect(levels.map(([h, w]) => h * w)).toEqual(g.levels)
    let start = 0
    g.levels.forEach((n, l) => {
      expect(Array.from(anchors.subarray(4 * start, 4 * start + 12)), `level ${l}`).toEqual(g.anchors_first[l])
      start += n
    })
  })

  it('center sampling and scale ranges give torchvision matched indices for every anchor point', () => {
    g.targets.forEach((_, b) => expect(Array.from(fcosMatch(anchors, g.levels, images[b]!.boxes))).toEqual(g.matched[b]))
    // every level except the last gets matches here, so the scale ranges are exercised
    let start = 0
    const perLevel = g.levels.map((n) => {
      const m = g.matched.flatMap((mm) => mm.slice(start, start + n)).filter((v) => v >= 0).length
      start += n
      return m
    })
    expect(perLevel.slice(0, 4).every((m) => m > 0)).toBe(true)
  })

  it('the loss dict (focal, GIoU, centerness BCE) and its gradients w.r.t. the head outputs', async () => {
    const t = fcosTargets(anchors, g.levels, K, images)
    const r = await runGraph((gr) => {
      const out = { cls_logits: gr.input('cls', [B, A, K]), bbox_regression: gr.input('reg', [B, A, 4]), bbox_ctrness: gr.input('ctr', [B, A, 1]) }
      const tt = { cls: gr.input('tc', [B, A, K]), boxes: gr.input('tb', [B, A, 4]), fg: gr.input('fg', [B, A]), ctr: gr.input('tctr', [B, A]), norm: gr.input('norm', []) }
      const l = fcosLoss(out, anchors, tt)
      const total = l.classification.add(l.bbox_regression).add(l.bbox_ctrness)
      const [dc, dr, dt] = grad(total, [out.cls_logits, out.bbox_regression, out.bbox_ctrness])
      return { ...l, dcls: dc!, dreg: dr!, dctr: dt! }
    }, {
      cls: hostF32(cls, [B, A, K]), reg: hostF32(reg, [B, A, 4]), ctr: hostF32(ctr, [B, A, 1]),
      tc: hostF32(t.cls, [B, A, K]), tb: hostF32(t.boxes, [B, A, 4]), fg: hostF32(t.fg, [B, A]), tctr: hostF32(t.ctr, [B, A]), norm: hostF32(new Float32Array([t.norm]), []),
    })
    for (const k of ['classification', 'bbox_regression', 'bbox_ctrness'] as const) expect(Math.abs(r[k]![0]! - g.losses[k]) / g.losses[k], k).toBeLessThan(1e-5)
    for (const [k, want] of [['dcls', g.grads.cls], ['dreg', g.grads.reg], ['dctr', g.grads.ctr]] as const) {
      const got = r[k]!
      expect(got.length).toBe(want.shape.reduce((a, b) => a * b, 1))
      expectClose(want.indices.map((i) => got[i]!), want.values, 1e-4, k)
      expect(Math.abs(Math.sqrt(got.reduce((a, v) => a + v * v, 0)) - want.l2) / want.l2, `${k} L2`).toBeLessThan(1e-4)
    }
  })

  it('postprocess_detections (threshold, top-k per level, decode, clip, class-wise NMS) and the rescale to the original size', () => {
    const p = g.postprocess
    for (let b = 0; b < B; b++) {
      const d = fcosPostprocess({ cls: cls.subarray(b * A * K, (b + 1) * A * K), reg: reg.subarray(b * A * 4, (b + 1) * A * 4), ctr: ctr.subarray(b * A, (b + 1) * A) }, anchors, g.levels, [H, W], {
        scoreThresh: p.score_thresh, topkCandidates: p.topk_candidates, nmsThresh: p.nms_thresh, detectionsPerImg: p.detections_per_img,
      })
      const want = g.detections[b]!
      expect(Array.from(d.labels), `image ${b} labels`).toEqual(want.labels)
      expectClose(d.scores, want.scores, 1e-6, `image ${b} scores`)
      const boxes = rescaleBoxes(d.boxes, [H, W], p.original_sizes[b]!)
      const worst = Math.max(...Array.from(boxes, (v, i) => Math.abs(v - want.boxes.flat()[i]!)))
      expect(worst, `image ${b} boxes`).toBeLessThan(1e-3)
    }
  })
})

describe('FCOS loss pieces', () => {
  it('GIoU loss is 0 for identical boxes, 1 for touching ones, and above 1 for disjoint ones', async () => {
    const a = [0, 0, 2, 2, 0, 0, 2, 2, 0, 0, 1, 1]
    const b = [0, 0, 2, 2, 2, 0, 4, 2, 3, 3, 4, 4]
    const r = await runGraph((gr) => ({ l: giouLoss(gr.input('a', [3, 4]), gr.input('b', [3, 4])) }), { a: hostF32(Float32Array.from(a), [3, 4]), b: hostF32(Float32Array.from(b), [3, 4]) })
    expect(r['l']![0]).toBeCloseTo(0, 6)
    expect(r['l']![1]).toBeCloseTo(1, 6)
    // disjoint: IoU 0, enclosing box 16, union 2: 1 + 14/16
    expect(r['l']![2]).toBeCloseTo(1 + 14 / 16, 5)
  })
  it('focal loss down-weights confident correct points: a logit of 4 on its class costs far less than BCE', async () => {
    const r = await runGraph((gr) => ({ f: sigmoidFocalLoss(gr.input('x', [1]), gr.input('t', [1])) }), { x: hostF32(Float32Array.from([4]), [1]), t: hostF32(Float32Array.from([1]), [1]) })
    const bce = Math.log(1 + Math.exp(-4))
    const pt = 1 / (1 + Math.exp(-4))
    expect(r['f']![0]).toBeCloseTo(0.25 * (1 - pt) ** 2 * bce, 8)
  })
})
