/**
 * SSDlite320 with a MobileNetV3-Large backbone, as torchvision 0.14 builds `ssdlite320_mobilenet_v3_large`.
 * Liu et al. 2016, SSD: https://arxiv.org/abs/1512.02325 · SSDlite: MobileNetV2 §6.2 https://arxiv.org/abs/1801.04381
 * · MobileNetV3 §6.3 https://arxiv.org/abs/1905.02244
 * torchvision/models/detection/ssdlite.py · ssd.py · anchor_utils.py (DefaultBoxGenerator) · _utils.py
 * (BoxCoder, SSDMatcher)
 * Paths are torchvision's keys: backbone.features.0 (MobileNetV3 `features` up to and including C4's
 * expansion conv: .0-.12 as in mobilenet-v3.ts, .13 = C4's block.0), backbone.features.1 (.0 = C4's
 * depthwise, SE and projection as .0.{1,2,3}: a slice of its block keeps the indices, .1-.2 the last blocks, .3 the last 1x1 conv),
 * backbone.extra.{0-3}.{0,1,2} (1x1 / depthwise 3x3 stride 2 / 1x1, each conv + BatchNorm + ReLU6),
 * head.{classification,regression}_head.module_list.{0-5}.{0 (depthwise 3x3 + BN + ReLU6), 1 (1x1 conv)}.
 * BatchNorm eps 0.001, momentum 0.03 throughout; every BatchNorm trains (no frozen layers).
 *
 * What runs where: the network and both loss terms (smooth L1 on the encoded boxes of matched default
 * boxes, cross entropy with hard negative mining) are in the graph; the matching (IoU >= 0.5, plus each
 * ground-truth box's best default box), the encoded regression targets, and post-processing (softmax,
 * score threshold, top-k per class, decoding, class-wise NMS) run on the host. Class 0 is background:
 * the head has K + 1 outputs per default box and data label l is class l + 1.
 */
import { concat, where, type Tensor } from '../graph/graph.js'
import { markStructureChanged, Module } from '../graph/module.js'
import { batchedNms } from '../data/boxes.js'
import { Rng } from '../runtime/rng.js'
import { Conv2d, normal } from './layers.js'
import { ConvBnAct, InvertedResidualV3, mobilenetV3LargeFeatures, SqueezeExcitation } from './mobilenet-v3.js'

/** torchvision's fixed input size for ssdlite320 (width = height). */
export const SSDLITE_SIZE = 320
/** SSD's BatchNorm momentum in the SSDlite builder. */
const MOMENTUM = 0.03
/** DefaultBoxGenerator([[2, 3]] * 6): 2 squares + 2 per aspect ratio at every location. */
export const SSDLITE_ANCHORS_PER_LOCATION = 6
/** The mean and std of SSDlite's transform (pixels from [0, 1] to [-1, 1]). */
export const SSDLITE_MEAN = [0.5, 0.5, 0.5] as const
export const SSDLITE_STD = [0.5, 0.5, 0.5] as const
const BOX_WEIGHTS = [10, 10, 5, 5] as const
const BBOX_XFORM_CLIP = Math.log(1000 / 16)

/** torchvision's SSDlite defaults for inference and matching. */
export interface SsdSettings {
  scoreThresh: number
  nmsThresh: number
  detectionsPerImg: number
  topkCandidates: number
  iouThresh: number
  /** (1 - positive_fraction) / positive_fraction with positive_fraction 0.25. */
  negToPos: number
}
export const SSDLITE_DEFAULTS = { scoreThresh: 0.001, nmsThresh: 0.55, detectionsPerImg: 300, topkCandidates: 300, iouThresh: 0.5, negToPos: 3 } satisfies SsdSettings

type Layer = { forward(x: Tensor): Tensor } | Layer[]
const run = (layers: readonly Layer[], x: Tensor): Tensor => layers.reduce<Tensor>((h, l) => (Array.isArray(l) ? run(l, h) : l.forward(h)), x)

/** torchvision's _normal_init: every Conv2d under `root` N(0, 0.03), its bias 0. */
function normalInit(root: Module, rng: Rng): void {
  const seen = new Set<unknown>()
  const walk = (v: unknown): void => {
    if (v === null || typeof v !== 'object' || seen.has(v)) return
    seen.add(v)
    if (v instanceof Conv2d) {
      normal(v.weight, rng, 0.03)
      v.bias?.data.fill(0)
    } else if (Array.isArray(v)) v.forEach(walk)
    else if (v instanceof Module) Object.values(v).forEach(walk)
  }
  walk(root)
}

/** _extra_block: 1x1 to out/2, depthwise 3x3 stride 2, 1x1 to out; each Conv + BN + ReLU6. */
function extraBlock(i: number, o: number, rng: Rng): ConvBnAct[] {
  const mid = Math.floor(o / 2)
  return [
    new ConvBnAct(i, mid, 1, rng, { act: 'R6', momentum: MOMENTUM }),
    new ConvBnAct(mid, mid, 3, rng, { stride: 2, groups: mid, act: 'R6', momentum: MOMENTUM }),
    new ConvBnAct(mid, o, 1, rng, { act: 'R6', momentum: MOMENTUM }),
  ]
}

/** _prediction_block: depthwise 3x3 + BN + ReLU6, then a 1x1 conv with bias to `o` channels. */
function predictionBlock(c: number, o: number, rng: Rng): [ConvBnAct, Conv2d] {
  return [new ConvBnAct(c, c, 3, rng, { groups: c, act: 'R6', momentum: MOMENTUM }), new Conv2d(c, o, 1, rng)]
}

/** (B, A*D, H, W) -> (B, H*W*A, D), as SSDScoringHead's view/permute/reshape. */
function perLocation(x: Tensor, d: number): Tensor {
  const [b, ad, h, w] = x.shape as [number, number, number, number]
  return x.reshape([b, ad / d, d, h, w]).transpose([0, 3, 4, 1, 2]).reshape([b, h * w * (ad / d), d]) // (B, HWA, D)
}

/** C4's block after its expansion: `block[1:]` of an nn.Sequential keeps the indices 1, 2, 3. */
class C4Rest extends Module {
  1: ConvBnAct
  2: SqueezeExcitation
  3: ConvBnAct
  constructor(block: readonly (ConvBnAct | SqueezeExcitation)[]) {
    super()
    this[1] = block[1] as ConvBnAct
    this[2] = block[2] as SqueezeExcitation
    this[3] = block[3] as ConvBnAct
  }
  forward(x: Tensor): Tensor {
    return this[3].forward(this[2].forward(this[1].forward(x)))
  }
}

/** SSDLiteFeatureExtractorMobileNet: MobileNetV3-Large split at C4's expansion, then four extra blocks. */
export class SSDLiteFeatureExtractor extends Module {
  features: [Layer[], Layer[]]
  extra: ConvBnAct[][]
  readonly out_channels: number[]
  constructor(rng: Rng, reducedTail: boolean) {
    super()
    const f = mobilenetV3LargeFeatures(rng, false, { reducedTail, momentum: MOMENTUM })
    // c4_pos: the stride-2 block that begins the last stage (stage_indices[-2] = 13)
    const c4 = f[13] as InvertedResidualV3
    this.features = [[...f.slice(0, 13), c4.block[0]!], [new C4Rest(c4.block), ...f.slice(14)]]
    const last = reducedTail ? 480 : 960
    this.extra = [extraBlock(last, 512, rng), extraBlock(512, 256, rng), extraBlock(256, 256, rng), extraBlock(256, 128, rng)]
    this.out_channels = [672, last, 512, 256, 256, 128]
  }
  /** (B, 3, S, S) -> six feature maps, strides 16, 32, 64, ... */
  forward(x: Tensor): Tensor[] {
    const out: Tensor[] = []
    let h = x
    for (const block of [...this.features, ...this.extra]) out.push((h = run(block, h)))
    return out
  }
}

export class SSDLiteScoringHead extends Module {
  module_list: [ConvBnAct, Conv2d][]
  constructor(inChannels: readonly number[], readonly columns: number, rng: Rng) {
    super()
    this.module_list = inChannels.map((c) => predictionBlock(c, columns * SSDLITE_ANCHORS_PER_LOCATION, rng))
    normalInit(this, rng)
  }
  forward(xs: readonly Tensor[]): Tensor {
    const parts = xs.map((x, i) => perLocation(run(this.module_list[i]!, x), this.columns))
    return concat(parts, 1) // (B, A, D)
  }
}

export class SSDLiteHead extends Module {
  classification_head: SSDLiteScoringHead
  regression_head: SSDLiteScoringHead
  constructor(inChannels: readonly number[], numClasses: number, rng: Rng) {
    super()
    this.classification_head = new SSDLiteScoringHead(inChannels, numClasses, rng)
    this.regression_head = new SSDLiteScoringHead(inChannels, 4, rng)
  }
}

export interface SsdOutputs {
  /** (B, A, C): class logits, C = K + 1 with background at 0. */
  cls_logits: Tensor
  /** (B, A, 4): box codes (dx, dy, dw, dh) against the default boxes, weights (10, 10, 5, 5). */
  bbox_regression: Tensor
  /** Feature map size [h, w] per level. */
  levels: [number, number][]
}

export interface SsdOptions {
  seed?: number
  /** torchvision's reduced_tail (true without an ImageNet backbone, as for its COCO weights; default true). */
  reducedTail?: boolean
}

/** torchvision's ssdlite320_mobilenet_v3_large with `numClasses` classes including background. Input: (B, 3, S, S) normalised to [-1, 1]. */
export class SSDLite extends Module {
  backbone: SSDLiteFeatureExtractor
  head: SSDLiteHead
  numClasses: number
  readonly reducedTail: boolean
  readonly headPrefixes = ['head.classification_head.module_list'] as const
  constructor(numClasses: number, o: SsdOptions = {}) {
    super()
    const rng = new Rng(o.seed ?? 0)
    this.reducedTail = o.reducedTail ?? true
    this.backbone = new SSDLiteFeatureExtractor(rng, this.reducedTail)
    // the builder without an ImageNet backbone re-initialises the whole backbone N(0, 0.03)
    normalInit(this.backbone, rng)
    this.head = new SSDLiteHead(this.backbone.out_channels, numClasses, rng)
    this.numClasses = numClasses
  }
  forward(x: Tensor): SsdOutputs {
    const feats = this.backbone.forward(x)
    return { cls_logits: this.head.classification_head.forward(feats), bbox_regression: this.head.regression_head.forward(feats), levels: feats.map((f) => [f.shape[2]!, f.shape[3]!]) }
  }
  /** A new classification head for `numClasses` (background included), initialised as torchvision's. */
  replaceHead(numClasses: number, rng: Rng): void {
    this.head.classification_head = new SSDLiteScoringHead(this.backbone.out_channels, numClasses, rng)
    this.numClasses = numClasses
    markStructureChanged()
  }
}

/** The six feature map sizes for an S x S input (stride-2 convs with padding k / 2 round up). */
export function ssdLevels(size: number): [number, number][] {
  let n = size
  for (let i = 0; i < 4; i++) n = Math.ceil(n / 2)
  const out: [number, number][] = []
  for (let i = 0; i < 6; i++) {
    out.push([n, n])
    n = Math.ceil(n / 2)
  }
  return out
}

/** DefaultBoxGenerator's scales for 6 maps: min_ratio + (max_ratio - min_ratio) k / 5, then 1. */
function scales(minRatio = 0.2, maxRatio = 0.95): number[] {
  const s = Array.from({ length: 6 }, (_, k) => minRatio + ((maxRatio - minRatio) * k) / 5)
  return [...s, 1]
}

/**
 * DefaultBoxGenerator([[2, 3]] * 6, min_ratio 0.2, max_ratio 0.95) for an H x W input: (A, 4) x1 y1 x2 y2
 * in pixels, level by level, location row-major, 6 boxes per location ([s, s], [s', s'], then [w, h],
 * [h, w] for ratios 2 and 3; clipped to 1 as (cx, cy, w, h)). float32 arithmetic step by step as torch's.
 */
export function ssdDefaultBoxes(height: number, width: number, levels: readonly (readonly [number, number])[]): Float32Array {
  const f = Math.fround
  const sc = scales()
  const n = levels.reduce((a, [h, w]) => a + h * w, 0) * SSDLITE_ANCHORS_PER_LOCATION
  const out = new Float32Array(4 * n)
  let k = 0
  levels.forEach(([fh, fw], l) => {
    const s = sc[l]!
    const sp = Math.sqrt(sc[l]! * sc[l + 1]!)
    const wh: [number, number][] = [[s, s], [sp, sp]]
    for (const ar of [2, 3]) {
      const q = Math.sqrt(ar)
      wh.push([s * q, s / q], [s / q, s * q])
    }
    const pairs = wh.map(([w, h]) => [Math.min(Math.max(f(w), 0), 1), Math.min(Math.max(f(h), 0), 1)] as const)
    for (let i = 0; i < fh; i++) for (let j = 0; j < fw; j++) {
      const cx = f(f(j + 0.5) / fw)
      const cy = f(f(i + 0.5) / fh)
      for (const [w, h] of pairs) out.set([f(f(cx - f(0.5 * w)) * width), f(f(cy - f(0.5 * h)) * height), f(f(cx + f(0.5 * w)) * width), f(f(cy + f(0.5 * h)) * height)], 4 * k++)
    }
  })
  return out
}

/** box_iou in float32 as torch computes it: inter / (area1 + area2 - inter). */
function iou32(b: ArrayLike<number>, m: number, a: ArrayLike<number>, i: number): number {
  const f = Math.fround
  const [x1, y1, x2, y2] = [b[4 * m]!, b[4 * m + 1]!, b[4 * m + 2]!, b[4 * m + 3]!]
  const [ax1, ay1, ax2, ay2] = [a[4 * i]!, a[4 * i + 1]!, a[4 * i + 2]!, a[4 * i + 3]!]
  const w = Math.max(f(Math.min(x2, ax2) - Math.max(x1, ax1)), 0)
  const h = Math.max(f(Math.min(y2, ay2) - Math.max(y1, ay1)), 0)
  const inter = f(w * h)
  const area1 = f(f(x2 - x1) * f(y2 - y1))
  const area2 = f(f(ax2 - ax1) * f(ay2 - ay1))
  return f(inter / f(f(area1 + area2) - inter))
}

/**
 * SSDMatcher(iou_thresh) for one image: each default box takes the ground-truth box of highest IoU
 * when that IoU >= `thresh` (first box on ties), and every ground-truth box then claims its best
 * default box (first on ties; a later box wins a shared one). -1: background. No boxes: all -1.
 */
export function ssdMatch(anchors: Float32Array, boxes: ArrayLike<number>, thresh = SSDLITE_DEFAULTS.iouThresh): Int32Array {
  const A = anchors.length / 4
  const M = boxes.length / 4
  const matched = new Int32Array(A).fill(-1)
  if (M === 0) return matched
  const bestAnchor = new Int32Array(M)
  const bestAnchorIou = new Float64Array(M).fill(-Infinity)
  for (let a = 0; a < A; a++) {
    let best = -Infinity
    let arg = -1
    for (let m = 0; m < M; m++) {
      const v = iou32(boxes, m, anchors, a)
      if (v > best) {
        best = v
        arg = m
      }
      if (v > bestAnchorIou[m]!) {
        bestAnchorIou[m] = v
        bestAnchor[m] = a
      }
    }
    matched[a] = best >= thresh ? arg : -1
  }
  for (let m = 0; m < M; m++) matched[bestAnchor[m]!] = m
  return matched
}

/** BoxCoder((10, 10, 5, 5)).encode_single: the codes of box x1 y1 x2 y2 against an anchor. */
export function encodeBox(box: ArrayLike<number>, anchor: ArrayLike<number>): [number, number, number, number] {
  const [ew, eh] = [anchor[2]! - anchor[0]!, anchor[3]! - anchor[1]!]
  const [ex, ey] = [anchor[0]! + 0.5 * ew, anchor[1]! + 0.5 * eh]
  const [gw, gh] = [box[2]! - box[0]!, box[3]! - box[1]!]
  const [gx, gy] = [box[0]! + 0.5 * gw, box[1]! + 0.5 * gh]
  return [(BOX_WEIGHTS[0] * (gx - ex)) / ew, (BOX_WEIGHTS[1] * (gy - ey)) / eh, BOX_WEIGHTS[2] * Math.log(gw / ew), BOX_WEIGHTS[3] * Math.log(gh / eh)]
}

/** BoxCoder.decode_single for one anchor (dw, dh clamped at log(1000 / 16)). */
export function decodeBox(code: ArrayLike<number>, o: number, anchor: ArrayLike<number>, a: number): [number, number, number, number] {
  const [w, h] = [anchor[4 * a + 2]! - anchor[4 * a]!, anchor[4 * a + 3]! - anchor[4 * a + 1]!]
  const [cx, cy] = [anchor[4 * a]! + 0.5 * w, anchor[4 * a + 1]! + 0.5 * h]
  const px = (code[o]! / BOX_WEIGHTS[0]) * w + cx
  const py = (code[o + 1]! / BOX_WEIGHTS[1]) * h + cy
  const pw = Math.exp(Math.min(code[o + 2]! / BOX_WEIGHTS[2], BBOX_XFORM_CLIP)) * w
  const ph = Math.exp(Math.min(code[o + 3]! / BOX_WEIGHTS[3], BBOX_XFORM_CLIP)) * h
  return [px - 0.5 * pw, py - 0.5 * ph, px + 0.5 * pw, py + 0.5 * ph]
}

/** Host-side targets of one batch for ssdLoss. */
export interface SsdTargets {
  /** (B, A, C) one-hot class (0 = background). */
  cls: Float32Array
  /** (B, A, 4) encoded matched box; zeros for background (masked out). */
  reg: Float32Array
  /** (B, A) 1 for matched default boxes. */
  fg: Float32Array
  /** max(1, matched default boxes in the batch). */
  norm: number
  matched: Int32Array[]
}

/** Matches every image's boxes (x1 y1 x2 y2) and labels (0..K-1, class = label + 1) and builds the loss targets. */
export function ssdTargets(anchors: Float32Array, numClasses: number, images: readonly { boxes: ArrayLike<number>; labels: ArrayLike<number> }[], iouThresh: number = SSDLITE_DEFAULTS.iouThresh): SsdTargets {
  const A = anchors.length / 4
  const B = images.length
  const C = numClasses
  const t: SsdTargets = { cls: new Float32Array(B * A * C), reg: new Float32Array(B * A * 4), fg: new Float32Array(B * A), norm: 0, matched: [] }
  let fg = 0
  images.forEach((img, b) => {
    const m = ssdMatch(anchors, img.boxes, iouThresh)
    t.matched.push(m)
    for (let a = 0; a < A; a++) {
      const r = b * A + a
      const j = m[a]!
      if (j < 0) {
        t.cls[r * C] = 1
        continue
      }
      fg++
      t.fg[r] = 1
      t.cls[r * C + img.labels[j]! + 1] = 1
      t.reg.set(encodeBox(Array.from({ length: 4 }, (_, k) => img.boxes[4 * j + k]!), anchors.subarray(4 * a, 4 * a + 4)), 4 * r)
    }
  })
  t.norm = Math.max(1, fg)
  return t
}

/** The loss targets as graph tensors, shaped as SsdTargets documents; norm () or (1,). */
export interface SsdTargetTensors {
  cls: Tensor
  reg: Tensor
  fg: Tensor
  norm: Tensor
}

/**
 * SSD.compute_loss: {bbox_regression: smooth L1 (beta 1, summed) of matched default boxes' codes,
 * classification: cross entropy of the matched boxes plus the 3 x matched (per image) background boxes
 * of highest loss (hard negative mining)}, each over max(1, matched boxes in the batch). The mining
 * takes each image's k = 3 x matched highest losses, matched boxes last and ties by index (a stable
 * sort), without gradient. ONNX has no sort with a data-dependent count, so the k-th largest value
 * is found by bisection (48 halvings of [-2, max + 1] in float32: adjacent values unless it is below
 * ~1e-13, a background box scored near-perfectly, where a few more such boxes may join), O(48 B A).
 */
export function ssdLoss(out: Pick<SsdOutputs, 'cls_logits' | 'bbox_regression'>, t: SsdTargetTensors, negToPos: number = SSDLITE_DEFAULTS.negToPos): { bbox_regression: Tensor; classification: Tensor } {
  const g = out.cls_logits.graph
  const [B] = out.cls_logits.shape as [number, number, number]
  const norm = t.norm.reshape([])
  const d = out.bbox_regression.sub(t.reg).abs()
  const m = d.minimum(1)
  const bbox_regression = m.square().mul(0.5).add(d.sub(m)).sum(-1).mul(t.fg).sum().div(norm)
  const ce = out.cls_logits.logSoftmax(-1).mul(t.cls).sum(-1).neg()                                   // (B, A)
  // matched boxes rank after every background box (cross entropy >= 0), as torchvision's -inf
  const nl = where(t.fg.gt(0), -1, ce.stopGradient())
  const k = t.fg.sum(1, true).mul(negToPos)                                                            // (B, 1)
  // count(nl >= lo) >= k > count(nl >= hi) throughout, so lo ends at the k-th largest value
  let lo = g.constant(new Float32Array(B).fill(-2), [B, 1])
  let hi = nl.max(1, true).add(1)
  for (let i = 0; i < 48; i++) {
    const mid = lo.add(hi).mul(0.5)
    const enough = nl.ge(mid).cast('float32').sum(1, true).ge(k)
    lo = where(enough, mid, lo)
    hi = where(enough, hi, mid)
  }
  const above = nl.gt(lo).cast('float32')
  const tie = nl.eq(lo).cast('float32')
  // ties at the k-th value in index order, as many as the k places left
  const neg = above.add(tie.mul(above.sum(1, true).add(tie.cumsum(1, { exclusive: true })).lt(k).cast('float32')))
  const classification = ce.mul(t.fg.add(neg)).sum().div(norm)
  return { bbox_regression, classification }
}

/** One image's detections: boxes (N, 4) x1 y1 x2 y2, scores and labels (0..K-1, background dropped), best first. */
export interface SsdDetections {
  boxes: Float32Array
  scores: Float32Array
  labels: Int32Array
}

/**
 * SSD.postprocess_detections for one image from its host head outputs (cls (A, C) logits, reg (A, 4)
 * codes): softmax scores; boxes decoded and clipped to the image; per class above background, scores
 * above `scoreThresh`, the best `topkCandidates`; then class-wise NMS and the first `detectionsPerImg`.
 */
export function ssdPostprocess(head: { cls: ArrayLike<number>; reg: ArrayLike<number> }, anchors: Float32Array, imageSize: readonly [number, number], s: Pick<SsdSettings, 'scoreThresh' | 'nmsThresh' | 'detectionsPerImg' | 'topkCandidates'> = SSDLITE_DEFAULTS): SsdDetections {
  const A = anchors.length / 4
  const C = head.cls.length / A
  const [H, W] = imageSize
  const probs = new Float64Array(A * C)
  for (let a = 0; a < A; a++) {
    let mx = -Infinity
    for (let c = 0; c < C; c++) mx = Math.max(mx, head.cls[a * C + c]!)
    let z = 0
    for (let c = 0; c < C; c++) z += (probs[a * C + c] = Math.exp(head.cls[a * C + c]! - mx))
    for (let c = 0; c < C; c++) probs[a * C + c]! /= z
  }
  const clip = (v: number, hi: number): number => Math.min(Math.max(v, 0), hi)
  const decoded = new Float64Array(4 * A)
  for (let a = 0; a < A; a++) {
    const [x1, y1, x2, y2] = decodeBox(head.reg, 4 * a, anchors, a)
    decoded.set([clip(x1, W), clip(y1, H), clip(x2, W), clip(y2, H)], 4 * a)
  }
  const boxes: number[] = []
  const scores: number[] = []
  const labels: number[] = []
  for (let c = 1; c < C; c++) {
    const cand: { score: number; a: number }[] = []
    for (let a = 0; a < A; a++) if (probs[a * C + c]! > s.scoreThresh) cand.push({ score: probs[a * C + c]!, a })
    cand.sort((p, q) => q.score - p.score || p.a - q.a)
    for (const { score, a } of cand.slice(0, s.topkCandidates)) {
      boxes.push(...decoded.subarray(4 * a, 4 * a + 4))
      scores.push(score)
      labels.push(c - 1)
    }
  }
  const keep = batchedNms(boxes, scores, labels, s.nmsThresh).subarray(0, s.detectionsPerImg)
  const out: SsdDetections = { boxes: new Float32Array(4 * keep.length), scores: new Float32Array(keep.length), labels: new Int32Array(keep.length) }
  keep.forEach((k, i) => {
    out.boxes.set(boxes.slice(4 * k, 4 * k + 4), 4 * i)
    out.scores[i] = scores[k]!
    out.labels[i] = labels[k]!
  })
  return out
}
