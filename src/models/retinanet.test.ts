// RetinaNet's host and loss pieces against torchvision 0.14 (scripts/gen_retinanet_goldens.py ->
// test/golden/detection/retinanet_loss.json), without the network: anchors of a 384x512 batch, head
// outputs from the deterministic formula (float32 on both sides, the reference then in float64), three
// images (one without boxes; one with a tiny box only a low-quality match reaches and two identical
// boxes). Tolerances: anchors and matched indices exact; loss terms 1e-5 relative (float32 sums of
// ~440k terms); gradients w.r.t. the head outputs 1e-4 of the largest |g|; detections: the same
// count, labels and order, boxes within 1e-3 px, scores within 1e-6 (the host runs in float64).
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { runGraph } from '../../test/graph-run.js'
import { expectClose } from '../../test/op-check.js'
import { grad } from '../autodiff/grad.js'
import { hostF32 } from '../train/step.js'
import { rescaleBoxes } from './fcos.js'
import { detUniform } from './vision-weights.js'
import { BETWEEN_THRESHOLDS, decodeBox, encodeBox, retinanetAnchors, retinanetDecode, retinanetLevelCounts, retinanetLevels, retinanetLoss, retinanetMatch, retinanetPostprocess, retinanetTargets } from './retinanet.js'

interface Sampled { shape: number[]; indices: number[]; values: number[]; max_abs: number; l2: number }
interface Spec { name: string; scale: number; offset: number }
interface LossGolden {
  image_size: [number, number]
  num_classes: number
  levels: number[]
  targets: { boxes: number[][]; labels: number[] }[]
  head: { cls: Spec; reg: Spec }
  anchors_count: number
  anchors_first: number[][]
  anchors_sampled: Sampled
  matched: [number, number][][]
  losses: Record<'classification' | 'bbox_regression', number>
  grads: Record<'cls' | 'reg', Sampled>
  postprocess: { score_thresh: number; topk_candidates: number; nms_thresh: number; detections_per_img: number; original_sizes: [number, number][] }
  detections: { boxes: number[][]; scores: number[]; labels: number[] }[]
}

const g = JSON.parse(readFileSync(new URL('../../test/golden/detection/retinanet_loss.json', import.meta.url), 'utf8')) as LossGolden
const [H, W] = g.image_size
const K = g.num_classes
const B = g.targets.length
const levels = retinanetLevels(H, W)
const counts = retinanetLevelCounts(levels)
const anchors = retinanetAnchors(H, W, levels)
const A = anchors.length / 4
const head = (s: Spec, n: number): Float32Array => detUniform(s.name, new Float32Array(n), s.scale, s.offset)
const cls = head(g.head.cls, B * A * K)
const reg = head(g.head.reg, B * A * 4)
const images = g.targets.map((t) => ({ boxes: t.boxes.flat(), labels: t.labels }))

describe('RetinaNet anchors, matching, loss and post-processing match torchvision', () => {
  it('anchors: 9 per location (3 scales x ratios 0.5, 1, 2, rounded half to even in float32) at (j * stride, i * stride)', () => {
    expect(counts).toEqual(g.levels)
    expect(A).toBe(g.anchors_count)
    let start = 0
    g.levels.forEach((n, l) => {
      expect(Array.from(anchors.subarray(4 * start, 4 * start + 72)), `level ${l}`).toEqual(g.anchors_first[l])
      start += n
    })
    expect(g.anchors_sampled.indices.map((i) => anchors[i]!)).toEqual(g.anchors_sampled.values)
  })

  it('Matcher(0.5, 0.4) with low-quality matches gives torchvision matched indices (foreground, ignored -2) for every anchor', () => {
    g.targets.forEach((_, b) => {
      const m = retinanetMatch(anchors, images[b]!.boxes)
      const got = Array.from(m).flatMap((v, i) => (v === -1 ? [] : [[i, v]]))
      expect(got, `image ${b}`).toEqual(g.matched[b])
    })
    // the cases the golden exists for: ignored anchors, and the tiny box 4 matched only by its best anchors
    const m0 = g.matched[0]!
    expect(m0.some(([, v]) => v === BETWEEN_THRESHOLDS)).toBe(true)
    expect(m0.some(([, v]) => v === 4)).toBe(true)
    expect(m0.some(([, v]) => v === 2)).toBe(false) // box 2 repeats box 1: ties go to the first
  })

  it('the loss dict (focal over kept anchors, L1 on encoded offsets, per image over its foreground count) and its gradients', async () => {
    const t = retinanetTargets(anchors, K, images)
    const r = await runGraph((gr) => {
      const out = { cls_logits: gr.input('cls', [B, A, K]), bbox_regression: gr.input('reg', [B, A, 4]) }
      const l = retinanetLoss(out, { cls: gr.input('tc', [B, A, K]), clsWeight: gr.input('wc', [B, A]), reg: gr.input('tr', [B, A, 4]), regWeight: gr.input('wr', [B, A]) })
      const [dc, dr] = grad(l.classification.add(l.bbox_regression), [out.cls_logits, out.bbox_regression])
      return { ...l, dcls: dc!, dreg: dr! }
    }, {
      cls: hostF32(cls, [B, A, K]), reg: hostF32(reg, [B, A, 4]),
      tc: hostF32(t.cls, [B, A, K]), wc: hostF32(t.clsWeight, [B, A]), tr: hostF32(t.reg, [B, A, 4]), wr: hostF32(t.regWeight, [B, A]),
    })
    for (const k of ['classification', 'bbox_regression'] as const) expect(Math.abs(r[k]![0]! - g.losses[k]) / g.losses[k], k).toBeLessThan(1e-5)
    for (const [k, want] of [['dcls', g.grads.cls], ['dreg', g.grads.reg]] as const) {
      const got = r[k]!
      expect(got.length).toBe(want.shape.reduce((a, b) => a * b, 1))
      expectClose(want.indices.map((i) => got[i]!), want.values, 1e-4, k)
      expect(Math.abs(Math.sqrt(got.reduce((a, v) => a + v * v, 0)) - want.l2) / want.l2, `${k} L2`).toBeLessThan(1e-4)
    }
  })

  it('postprocess_detections (threshold, top-k per level, decode, clip, class-wise NMS) and the rescale to the original size', () => {
    const p = g.postprocess
    for (let b = 0; b < B; b++) {
      const d = retinanetPostprocess({ cls: cls.subarray(b * A * K, (b + 1) * A * K), reg: reg.subarray(b * A * 4, (b + 1) * A * 4) }, anchors, counts, [H, W], {
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

describe('RetinaNet box coding', () => {
  it('decode inverts encode, on the host and in the graph (dw, dh capped at log(1000 / 16))', async () => {
    const anchor = [10, 20, 42, 36]
    const box = [5, 18, 60, 50]
    const d = encodeBox(box, anchor)
    expectClose(decodeBox(d, anchor), box, 1e-12, 'host round trip')
    const big = decodeBox([0, 0, 10, 0], anchor)
    expect(big[2] - big[0]).toBeCloseTo(1000 / 16 * 32, 6)
    const r = await runGraph((gr) => ({ b: retinanetDecode(gr.input('d', [1, 2, 4]), Float32Array.from([...anchor, ...anchor])) }), { d: hostF32(Float32Array.from([...d, 0, 0, 10, 0]), [1, 2, 4]) })
    expectClose(Array.from(r['b']!), [...box, ...big], 1e-3, 'graph decode')
  })
})
