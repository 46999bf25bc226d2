// SSDlite's host and loss pieces against torchvision 0.14 (scripts/gen_ssdlite_goldens.py -> test/golden/
// detection/ssdlite_loss.json), without the network: default boxes of a 320x320 input, head outputs from
// the deterministic formula (float32 on both sides, the reference then in float64), three images (one
// without boxes), 5 classes with background. Tolerances: default boxes and matched indices exact (both
// float32 arithmetic); loss terms 1e-5 relative; gradients w.r.t. the head outputs 1e-5 of the largest
// |g|; detections at the builder's defaults (score 0.001, top-k 300, NMS 0.55, 300 per image): the same
// count, labels and order, boxes within 1e-3 px, scores within 1e-6. The state dict's keys and shapes
// equal torchvision's for both tails (ssdlite_keys.json).
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { runGraph } from '../../test/graph-run.js'
import { expectClose } from '../../test/op-check.js'
import { grad } from '../autodiff/grad.js'
import { hostF32 } from '../train/step.js'
import { rescaleBoxes } from './fcos.js'
import { detUniform } from './vision-weights.js'
import { decodeBox, encodeBox, SSDLite, SSDLITE_DEFAULTS, ssdDefaultBoxes, ssdLevels, ssdLoss, ssdMatch, ssdPostprocess, ssdTargets } from './ssdlite.js'

interface Sampled { shape: number[]; indices: number[]; values: number[]; max_abs: number; l2: number }
interface Spec { name: string; scale: number; offset: number }
interface LossGolden {
  image_size: number
  num_classes: number
  levels: [number, number][]
  default_boxes: Sampled & { first: number[][]; last: number[][] }
  targets: { boxes: number[][]; labels: number[] }[]
  head: { cls: Spec; reg: Spec }
  matched: number[][]
  losses: Record<'classification' | 'bbox_regression', number>
  grads: Record<'cls' | 'reg', Sampled>
  postprocess: { score_thresh: number; topk_candidates: number; nms_thresh: number; detections_per_img: number; original_sizes: [number, number][] }
  detections: { boxes: number[][]; scores: number[]; labels: number[] }[]
}

const g = JSON.parse(readFileSync(new URL('../../test/golden/detection/ssdlite_loss.json', import.meta.url), 'utf8')) as LossGolden
const S = g.image_size
const C = g.num_classes
const B = g.targets.length
const levels = ssdLevels(S)
const anchors = ssdDefaultBoxes(S, S, levels)
const A = anchors.length / 4
const cls = detUniform(g.head.cls.name, new Float32Array(B * A * C), g.head.cls.scale, g.head.cls.offset)
const reg = detUniform(g.head.reg.name, new Float32Array(B * A * 4), g.head.reg.scale, g.head.reg.offset)
// torchvision's labels count background as 0; the task's start at 0 for the first class
const images = g.targets.map((t) => ({ boxes: t.boxes.flat(), labels: t.labels.map((l) => l - 1) }))

describe('SSDlite default boxes, matching, loss and post-processing match torchvision', () => {
  it('DefaultBoxGenerator([[2, 3]] * 6, 0.2, 0.95) at 320x320: six maps 20..1, 6 boxes per location, float32-exact', () => {
    expect(levels).toEqual(g.levels)
    expect(A).toBe(g.default_boxes.shape[0])
    expect(g.default_boxes.indices.map((i) => anchors[i]!)).toEqual(g.default_boxes.values)
    expect(Array.from(anchors.subarray(0, 32))).toEqual(g.default_boxes.first.flat())
    expect(Array.from(anchors.subarray(anchors.length - 24))).toEqual(g.default_boxes.last.flat())
  })

  it("SSDMatcher: IoU >= 0.5 to the best box, and every box's best default box, for every default box", () => {
    g.targets.forEach((_, b) => expect(Array.from(ssdMatch(anchors, images[b]!.boxes))).toEqual(g.matched[b]))
    expect(g.matched[0]!.filter((m) => m >= 0).length).toBeGreaterThan(5)
    expect(g.matched[2]!.every((m) => m === -1)).toBe(true)
  })

  it('the loss dict (smooth L1 on codes, cross entropy with 3:1 hard negative mining) and its gradients w.r.t. the head outputs', async () => {
    const t = ssdTargets(anchors, C, images)
    const r = await runGraph((gr) => {
      const out = { cls_logits: gr.input('cls', [B, A, C]), bbox_regression: gr.input('reg', [B, A, 4]) }
      const l = ssdLoss(out, { cls: gr.input('tc', [B, A, C]), reg: gr.input('tr', [B, A, 4]), fg: gr.input('fg', [B, A]), norm: gr.input('norm', []) })
      const [dc, dr] = grad(l.classification.add(l.bbox_regression), [out.cls_logits, out.bbox_regression])
      return { ...l, dcls: dc!, dreg: dr! }
    }, {
      cls: hostF32(cls, [B, A, C]), reg: hostF32(reg, [B, A, 4]),
      tc: hostF32(t.cls, [B, A, C]), tr: hostF32(t.reg, [B, A, 4]), fg: hostF32(t.fg, [B, A]), norm: hostF32(new Float32Array([t.norm]), []),
    })
    for (const k of ['classification', 'bbox_regression'] as const) expect(Math.abs(r[k]![0]! - g.losses[k]) / g.losses[k], k).toBeLessThan(1e-5)
    for (const [k, want] of [['dcls', g.grads.cls], ['dreg', g.grads.reg]] as const) {
      const got = r[k]!
      expect(got.length).toBe(want.shape.reduce((a, b) => a * b, 1))
      expectClose(want.indices.map((i) => got[i]!), want.values, 1e-5 * want.max_abs, k)
      expect(Math.abs(Math.sqrt(got.reduce((a, v) => a + v * v, 0)) - want.l2) / want.l2, `${k} L2`).toBeLessThan(1e-5)
    }
  })

  it('postprocess_detections (softmax, threshold, top-k per class, decode, clip, class-wise NMS) and the rescale to the original size', () => {
    const p = g.postprocess
    expect({ scoreThresh: p.score_thresh, topkCandidates: p.topk_candidates, nmsThresh: p.nms_thresh, detectionsPerImg: p.detections_per_img }).toEqual({ scoreThresh: SSDLITE_DEFAULTS.scoreThresh, topkCandidates: SSDLITE_DEFAULTS.topkCandidates, nmsThresh: SSDLITE_DEFAULTS.nmsThresh, detectionsPerImg: SSDLITE_DEFAULTS.detectionsPerImg })
    for (let b = 0; b < B; b++) {
      const d = ssdPostprocess({ cls: cls.subarray(b * A * C, (b + 1) * A * C), reg: reg.subarray(b * A * 4, (b + 1) * A * 4) }, anchors, [S, S])
      const want = g.detections[b]!
      expect(Array.from(d.labels), `image ${b} labels`).toEqual(want.labels.map((l) => l - 1))
      expectClose(d.scores, want.scores, 1e-6, `image ${b} scores`)
      const boxes = rescaleBoxes(d.boxes, [S, S], p.original_sizes[b]!)
      const worst = Math.max(...Array.from(boxes, (v, i) => Math.abs(v - want.boxes.flat()[i]!)))
      expect(worst, `image ${b} boxes`).toBeLessThan(1e-3)
    }
  })

  it('BoxCoder (10, 10, 5, 5): decoding an encoded box gives the box back', () => {
    const anchor = Float32Array.from([10, 20, 50, 80])
    const box = [12, 15, 70, 90]
    const code = encodeBox(box, anchor)
    expectClose(decodeBox(code, 0, anchor, 0), box, 1e-9, 'round trip')
  })
})

describe('SSDlite state dict', () => {
  const keys = JSON.parse(readFileSync(new URL('../../test/golden/detection/ssdlite_keys.json', import.meta.url), 'utf8')) as Record<'reduced_tail' | 'full_tail', Record<string, number[]>>
  it("has exactly torchvision's keys and shapes at 91 classes, with the reduced tail (COCO weights) and the full one", () => {
    for (const reducedTail of [true, false]) {
      const m = new SSDLite(91, { reducedTail })
      const got = Object.fromEntries(m.namedParameters().map(([n, p]) => [n, [...p.shape]]))
      expect(got).toEqual(keys[reducedTail ? 'reduced_tail' : 'full_tail'])
    }
  })
})

describe('hard negative mining', () => {
  it('takes the 3 x matched highest background losses, ties in index order, none without matches, and matched boxes too when background runs out (as torch)', async () => {
    // 3 images x 6 default boxes, 2 classes; background logits 0, class-1 logits set each box's loss
    const A = 6
    const l1 = [
      [5, 2, 1, 1, 1, -3], // box 0 matched (class 1): k = 3 -> box 1, then boxes 2 and 3 of the tied 1s
      [4, 3, 2, 1, 0, -1], // nothing matched: k = 0
      [0, 0, 2, 1, 3, -2], // boxes 0 and 1 matched: k = 6 > 4 background boxes -> all, and the matched twice
    ]
    const fg = [[1, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0], [1, 1, 0, 0, 0, 0]]
    const cls = Float32Array.from(l1.flatMap((r) => r.flatMap((v) => [0, v])))
    const tc = Float32Array.from(fg.flatMap((r) => r.flatMap((f) => (f ? [0, 1] : [1, 0]))))
    const ce = (v: number, f: number): number => Math.log(1 + Math.exp(v)) - (f ? v : 0)
    const L = l1.map((r, b) => r.map((v, a) => ce(v, fg[b]![a]!)))
    const want = (L[0]![0]! + L[0]![1]! + L[0]![2]! + L[0]![3]!) + 0 + (2 * (L[2]![0]! + L[2]![1]!) + L[2]![2]! + L[2]![3]! + L[2]![4]! + L[2]![5]!)
    const r = await runGraph((gr) => ssdLoss({ cls_logits: gr.input('c', [3, A, 2]), bbox_regression: gr.input('r', [3, A, 4]) }, { cls: gr.input('tc', [3, A, 2]), reg: gr.input('tr', [3, A, 4]), fg: gr.input('fg', [3, A]), norm: gr.input('n', []) }), {
      c: hostF32(cls, [3, A, 2]), r: hostF32(new Float32Array(3 * A * 4), [3, A, 4]), tr: hostF32(new Float32Array(3 * A * 4), [3, A, 4]), tc: hostF32(tc, [3, A, 2]), fg: hostF32(Float32Array.from(fg.flat()), [3, A]), n: hostF32(Float32Array.from([3]), []),
    })
    expect(r['classification']![0]!).toBeCloseTo(want / 3, 5)
    expect(r['bbox_regression']![0]!).toBe(0)
  })
})
