/**
 * RetinaNet, the one-stage detector with focal loss, as torchvision 0.14 builds `retinanet_resnet50_fpn` (v1).
 * Lin et al. 2017, Focal Loss for Dense Object Detection: https://arxiv.org/abs/1708.02002
 * torchvision/models/detection/retinanet.py · _utils.py (BoxCoder, Matcher) · anchor_utils.py · ops/focal_loss.py
 * Paths are torchvision's keys: backbone.* (detection-backbone.ts: ResNet-50, FPN on layer2..4,
 * LastLevelP6P7 from P5, as v1 has it), head.classification_head.{conv.{0..3}.0 (3x3 convs, each
 * followed by a ReLU: Conv2dNormActivation without norm), cls_logits}, head.regression_head.{conv.*, bbox_reg}.
 *
 * What runs where: the network and both loss terms (sigmoid focal loss over the anchors the matcher
 * does not ignore, L1 on BoxCoder-encoded offsets at foreground anchors) are in the graph; the IoU
 * matching (Matcher(0.5, 0.4, allow_low_quality_matches)), the encoded targets, and post-processing
 * (score threshold, top-k per level, decoding, class-wise NMS) run on the host. Labels are contiguous
 * 0..K-1 (sigmoid classes, no background).
 */
import { concat, type Tensor } from '../graph/graph.js'
import { markStructureChanged, Module } from '../graph/module.js'
import { batchedNms } from '../data/boxes.js'
import { Rng } from '../runtime/rng.js'
import { ResNetFpnBackbone } from './detection-backbone.js'
import { fcosLevels, sigmoidFocalLossTerms, type Detections } from './fcos.js'
import { Conv2d, normal } from './layers.js'

/** _default_anchorgen: per level P3..P7 the sizes (x, int(x 2^(1/3)), int(x 2^(2/3))), x = 32..512, each at aspect ratios 0.5, 1, 2. */
export const RETINANET_ANCHOR_SIZES = [32, 64, 128, 256, 512].map((x) => [x, Math.trunc(x * 2 ** (1 / 3)), Math.trunc(x * 2 ** (2 / 3))])
export const RETINANET_ASPECT_RATIOS = [0.5, 1, 2] as const
/** Anchors per feature-map location. */
export const RETINANET_NUM_ANCHORS = 9

/** torchvision's RetinaNet defaults for inference and matching. */
export interface RetinaNetSettings {
  scoreThresh: number
  nmsThresh: number
  detectionsPerImg: number
  topkCandidates: number
  fgIouThresh: number
  bgIouThresh: number
}
export const RETINANET_DEFAULTS = { scoreThresh: 0.05, nmsThresh: 0.5, detectionsPerImg: 300, topkCandidates: 1000, fgIouThresh: 0.5, bgIouThresh: 0.4 } satisfies RetinaNetSettings

/** BoxCoder's bbox_xform_clip: log(1000 / 16) caps dw and dh before exp. */
const XFORM_CLIP = Math.log(1000 / 16)

const conv3 = (i: number, o: number, rng: Rng, bias = 0): Conv2d => {
  const c = new Conv2d(i, o, 3, rng, { padding: 1 })
  normal(c.weight, rng, 0.01)
  c.bias!.data.fill(bias)
  return c
}
/** 4 x Conv2dNormActivation(norm_layer=None): [Conv3x3 + bias, ReLU], the ReLU holding slot 1. */
const towerOf = (c: number, rng: Rng): [Conv2d][] => Array.from({ length: 4 }, () => [conv3(c, c, rng)] as [Conv2d])
function runTower(tower: readonly [Conv2d][], x: Tensor): Tensor {
  let h = x
  for (const [conv] of tower) h = conv.forward(h).relu()
  return h
}
/** (B, A*D, H, W) -> (B, H*W*A, D), as torchvision's view/permute/reshape. */
function perLocation(x: Tensor, d: number): Tensor {
  const [b, ad, h, w] = x.shape as [number, number, number, number]
  return x.reshape([b, ad / d, d, h, w]).transpose([0, 3, 4, 1, 2]).reshape([b, h * w * (ad / d), d]) // (B, HWA, D)
}

export class RetinaNetClassificationHead extends Module {
  conv: [Conv2d][]
  cls_logits: Conv2d
  constructor(c: number, public numClasses: number, rng: Rng) {
    super()
    this.conv = towerOf(c, rng)
    this.cls_logits = RetinaNetClassificationHead.logitsConv(c, numClasses, rng)
  }
  /** cls_logits with the prior-probability bias -log((1 - 0.01) / 0.01): training starts with few confident anchors. */
  static logitsConv(c: number, k: number, rng: Rng): Conv2d {
    return conv3(c, RETINANET_NUM_ANCHORS * k, rng, -Math.log((1 - 0.01) / 0.01))
  }
  forward(xs: readonly Tensor[]): Tensor {
    return concat(xs.map((x) => perLocation(this.cls_logits.forward(runTower(this.conv, x)), this.numClasses)), 1) // (B, HWA, K)
  }
}

export class RetinaNetRegressionHead extends Module {
  conv: [Conv2d][]
  bbox_reg: Conv2d
  constructor(c: number, rng: Rng) {
    super()
    this.conv = towerOf(c, rng)
    this.bbox_reg = conv3(c, RETINANET_NUM_ANCHORS * 4, rng)
  }
  forward(xs: readonly Tensor[]): Tensor {
    return concat(xs.map((x) => perLocation(this.bbox_reg.forward(runTower(this.conv, x)), 4)), 1) // (B, HWA, 4)
  }
}

export class RetinaNetHead extends Module {
  classification_head: RetinaNetClassificationHead
  regression_head: RetinaNetRegressionHead
  constructor(c: number, numClasses: number, rng: Rng) {
    super()
    this.classification_head = new RetinaNetClassificationHead(c, numClasses, rng)
    this.regression_head = new RetinaNetRegressionHead(c, rng)
  }
}

/** The head outputs over all anchors: level by level, location row-major, the 9 anchors of a location innermost. */
export interface RetinaNetOutputs {
  /** (B, A, K) */
  cls_logits: Tensor
  /** (B, A, 4): BoxCoder(1, 1, 1, 1) offsets dx, dy, dw, dh relative to the anchor. */
  bbox_regression: Tensor
  /** Feature map size [h, w] per level. */
  levels: [number, number][]
}

/** torchvision's retinanet_resnet50_fpn with `numClasses` sigmoid classes. Input: normalised images (B, 3, H, W), H and W multiples of 32. */
export class RetinaNet extends Module {
  backbone: ResNetFpnBackbone
  head: RetinaNetHead
  numClasses: number
  readonly headPrefixes = ['head.classification_head.cls_logits'] as const
  constructor(numClasses: number, o: { seed?: number } = {}) {
    super()
    const rng = new Rng(o.seed ?? 0)
    this.backbone = new ResNetFpnBackbone(rng)
    this.head = new RetinaNetHead(this.backbone.out_channels, numClasses, rng)
    this.numClasses = numClasses
  }
  forward(x: Tensor): RetinaNetOutputs {
    const feats = this.backbone.forward(x)
    return { cls_logits: this.head.classification_head.forward(feats), bbox_regression: this.head.regression_head.forward(feats), levels: feats.map((f) => [f.shape[2]!, f.shape[3]!]) }
  }
  /** From scratch: every weight re-drawn by torchvision's own rules (the head keeps std 0.01 and its prior bias). */
  reinitialise(rng: Rng): void {
    const fresh = new RetinaNet(this.numClasses, { seed: rng.nextU32() })
    const mine = new Map(this.namedParameters())
    for (const [n, p] of fresh.namedParameters()) mine.get(n)!.data.set(p.data)
  }
  /** A new cls_logits conv for `numClasses` (std 0.01, prior bias), as replacing it in torchvision's head gives. */
  replaceHead(numClasses: number, rng: Rng): void {
    this.head.classification_head.cls_logits = RetinaNetClassificationHead.logitsConv(this.backbone.out_channels, numClasses, rng)
    this.head.classification_head.numClasses = numClasses
    this.numClasses = numClasses
    markStructureChanged()
  }
}

/** P3..P7 sizes [h, w] for an H x W batch (the same pyramid as FCOS). */
export const retinanetLevels = fcosLevels

/** torch.round: halves to even. */
const roundHalfEven = (v: number): number => (Math.abs(v % 1) === 0.5 ? 2 * Math.round(v / 2) : Math.round(v))

/**
 * AnchorGenerator.generate_anchors for one level, in float32 as torchvision computes it: 9 anchors
 * (x1, y1, x2, y2) centred at 0, ratio-major (h = sqrt(r), w = 1 / h), rounded half to even.
 */
export function cellAnchors(sizes: readonly number[], ratios: readonly number[] = RETINANET_ASPECT_RATIOS): number[][] {
  const f = Math.fround
  const out: number[][] = []
  for (const r of ratios) {
    const h = f(Math.sqrt(f(r)))
    const w = f(1 / h)
    for (const s of sizes) {
      const [ws, hs] = [f(w * s), f(h * s)]
      out.push([-ws / 2, -hs / 2, ws / 2, hs / 2].map(roundHalfEven))
    }
  }
  return out
}

/** All anchors of an H x W batch (A, 4): level by level, location (i, j) shifted by (j * sx, i * sy) with integer strides floor(H / h), 9 per location. */
export function retinanetAnchors(height: number, width: number, levels: readonly (readonly [number, number])[]): Float32Array {
  const n = levels.reduce((a, [h, w]) => a + h * w, 0) * RETINANET_NUM_ANCHORS
  const out = new Float32Array(4 * n)
  let k = 0
  levels.forEach(([h, w], l) => {
    const cell = cellAnchors(RETINANET_ANCHOR_SIZES[l]!)
    const [sy, sx] = [Math.floor(height / h), Math.floor(width / w)]
    for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) for (const c of cell) out.set([j * sx + c[0]!, i * sy + c[1]!, j * sx + c[2]!, i * sy + c[3]!], 4 * k++)
  })
  return out
}

/** Anchors per level for levels of [h, w]. */
export const retinanetLevelCounts = (levels: readonly (readonly [number, number])[]): number[] => levels.map(([h, w]) => h * w * RETINANET_NUM_ANCHORS)

/** Matcher values: an anchor below the low threshold is background (-1); between the thresholds, ignored (-2). */
export const BELOW_LOW_THRESHOLD = -1
export const BETWEEN_THRESHOLDS = -2

/**
 * RetinaNet.compute_loss's matching for one image: box_iou(gt, anchors) in float64 as torch computes it,
 * then Matcher(fg, bg, allow_low_quality_matches=True): each anchor takes its best box (the first on
 * ties), -1 below `bg`, -2 in [bg, fg); then every anchor that is some box's best (ties included)
 * gets its own best box back, whatever its IoU.
 */
export function retinanetMatch(anchors: Float32Array, boxes: ArrayLike<number>, fg: number = RETINANET_DEFAULTS.fgIouThresh, bg: number = RETINANET_DEFAULTS.bgIouThresh): Int32Array {
  const A = anchors.length / 4
  const M = boxes.length / 4
  const matches = new Int32Array(A).fill(BELOW_LOW_THRESHOLD)
  if (M === 0) return matches
  // box_iou's arithmetic, so that the second pass recomputes bit-identical values (no M x A matrix kept)
  const iou = (m: number, a: number): number => {
    const [x1, y1, x2, y2] = [boxes[4 * m]!, boxes[4 * m + 1]!, boxes[4 * m + 2]!, boxes[4 * m + 3]!]
    const [ax1, ay1, ax2, ay2] = [anchors[4 * a]!, anchors[4 * a + 1]!, anchors[4 * a + 2]!, anchors[4 * a + 3]!]
    const inter = Math.max(Math.min(x2, ax2) - Math.max(x1, ax1), 0) * Math.max(Math.min(y2, ay2) - Math.max(y1, ay1), 0)
    return inter / ((x2 - x1) * (y2 - y1) + (ax2 - ax1) * (ay2 - ay1) - inter)
  }
  const highest = new Float64Array(M).fill(-Infinity)
  const bestVal = new Float64Array(A).fill(-Infinity)
  const best = new Int32Array(A)
  for (let m = 0; m < M; m++) {
    for (let a = 0; a < A; a++) {
      const v = iou(m, a)
      if (v > highest[m]!) highest[m] = v
      if (v > bestVal[a]!) { // strictly greater: the first box wins ties, as torch's max
        bestVal[a] = v
        best[a] = m
      }
    }
  }
  for (let a = 0; a < A; a++) {
    const v = bestVal[a]!
    matches[a] = v < bg ? BELOW_LOW_THRESHOLD : v < fg ? BETWEEN_THRESHOLDS : best[a]!
  }
  for (let m = 0; m < M; m++) for (let a = 0; a < A; a++) if (iou(m, a) === highest[m]) matches[a] = best[a]!
  return matches
}

/** BoxCoder(1, 1, 1, 1).encode_single of a box against an anchor: (dx, dy, dw, dh). */
export function encodeBox(box: ArrayLike<number>, anchor: ArrayLike<number>): [number, number, number, number] {
  const [ew, eh] = [anchor[2]! - anchor[0]!, anchor[3]! - anchor[1]!]
  const [ecx, ecy] = [anchor[0]! + 0.5 * ew, anchor[1]! + 0.5 * eh]
  const [gw, gh] = [box[2]! - box[0]!, box[3]! - box[1]!]
  const [gcx, gcy] = [box[0]! + 0.5 * gw, box[1]! + 0.5 * gh]
  return [(gcx - ecx) / ew, (gcy - ecy) / eh, Math.log(gw / ew), Math.log(gh / eh)]
}

/** BoxCoder(1, 1, 1, 1).decode_single of offsets against an anchor (dw, dh capped at log(1000 / 16)). */
export function decodeBox(d: ArrayLike<number>, anchor: ArrayLike<number>): [number, number, number, number] {
  const [w, h] = [anchor[2]! - anchor[0]!, anchor[3]! - anchor[1]!]
  const [cx, cy] = [anchor[0]! + 0.5 * w, anchor[1]! + 0.5 * h]
  const [px, py] = [d[0]! * w + cx, d[1]! * h + cy]
  const [pw, ph] = [Math.exp(Math.min(d[2]!, XFORM_CLIP)) * w, Math.exp(Math.min(d[3]!, XFORM_CLIP)) * h]
  return [px - 0.5 * pw, py - 0.5 * ph, px + 0.5 * pw, py + 0.5 * ph]
}

/** Host-side targets of one batch for retinanetLoss. */
export interface RetinaNetTargets {
  /** (B, A, K) one-hot of the matched box's label; zeros for background and ignored anchors. */
  cls: Float32Array
  /** (B, A) 1 / (max(1, foreground anchors of the image) x B) where the matcher does not ignore the anchor, else 0. */
  clsWeight: Float32Array
  /** (B, A, 4) the matched box encoded against its anchor; 0 elsewhere (masked out). */
  reg: Float32Array
  /** (B, A) as clsWeight, at foreground anchors only. */
  regWeight: Float32Array
  matched: Int32Array[]
}

/**
 * Matches every image's boxes (x1 y1 x2 y2) and labels (0..K-1) and builds the loss targets.
 * torchvision divides each image's sums by its own foreground count, then averages the images:
 * the weights carry both divisions.
 */
export function retinanetTargets(anchors: Float32Array, numClasses: number, images: readonly { boxes: ArrayLike<number>; labels: ArrayLike<number> }[], s: Pick<RetinaNetSettings, 'fgIouThresh' | 'bgIouThresh'> = RETINANET_DEFAULTS): RetinaNetTargets {
  const A = anchors.length / 4
  const B = images.length
  const t: RetinaNetTargets = { cls: new Float32Array(B * A * numClasses), clsWeight: new Float32Array(B * A), reg: new Float32Array(B * A * 4), regWeight: new Float32Array(B * A), matched: [] }
  images.forEach((img, b) => {
    const m = retinanetMatch(anchors, img.boxes, s.fgIouThresh, s.bgIouThresh)
    t.matched.push(m)
    let fg = 0
    for (const v of m) if (v >= 0) fg++
    const w = 1 / (Math.max(1, fg) * B)
    for (let a = 0; a < A; a++) {
      const r = b * A + a
      const j = m[a]!
      if (j === BETWEEN_THRESHOLDS) continue
      t.clsWeight[r] = w
      if (j < 0) continue
      t.cls[r * numClasses + img.labels[j]!] = 1
      t.regWeight[r] = w
      t.reg.set(encodeBox([img.boxes[4 * j]!, img.boxes[4 * j + 1]!, img.boxes[4 * j + 2]!, img.boxes[4 * j + 3]!], anchors.subarray(4 * a, 4 * a + 4)), 4 * r)
    }
  })
  return t
}

/** The loss targets as graph tensors, shaped as RetinaNetTargets documents. */
export interface RetinaNetTargetTensors {
  cls: Tensor
  clsWeight: Tensor
  reg: Tensor
  regWeight: Tensor
}

/**
 * RetinaNetHead.compute_loss: {classification: sigmoid focal loss (alpha 0.25, gamma 2) summed over
 * the anchors the matcher keeps, bbox_regression: L1 between the offsets and the encoded matched
 * boxes at foreground anchors}, each per image over max(1, its foreground anchors), averaged over images.
 */
export function retinanetLoss(out: Pick<RetinaNetOutputs, 'cls_logits' | 'bbox_regression'>, t: RetinaNetTargetTensors): { classification: Tensor; bbox_regression: Tensor } {
  const classification = sigmoidFocalLossTerms(out.cls_logits, t.cls).sum(-1).mul(t.clsWeight).sum()
  const bbox_regression = out.bbox_regression.sub(t.reg).abs().sum(-1).mul(t.regWeight).sum()
  return { classification, bbox_regression }
}

/** The boxes decoded in the graph (BoxCoder.decode_single) from offsets (B, A, 4) and the anchors (A, 4). */
export function retinanetDecode(reg: Tensor, anchors: Float32Array): Tensor {
  const g = reg.graph
  const A = anchors.length / 4
  const centre = new Float32Array(2 * A)
  const size = new Float32Array(2 * A)
  for (let a = 0; a < A; a++) {
    const [w, h] = [anchors[4 * a + 2]! - anchors[4 * a]!, anchors[4 * a + 3]! - anchors[4 * a + 1]!]
    size.set([w, h], 2 * a)
    centre.set([anchors[4 * a]! + 0.5 * w, anchors[4 * a + 1]! + 0.5 * h], 2 * a)
  }
  const [d, s] = reg.split([2, 2], -1) as [Tensor, Tensor]                          // (B, A, 2) each
  const sz = g.constant(size, [A, 2])
  const c = d.mul(sz).add(g.constant(centre, [A, 2]))
  const half = s.minimum(XFORM_CLIP).exp().mul(sz).mul(0.5)
  return concat([c.sub(half), c.add(half)], -1)                                    // (B, A, 4) x1 y1 x2 y2
}

const sigmoid = (v: number): number => 1 / (1 + Math.exp(-v))

/**
 * RetinaNet.postprocess_detections for one image from its host head outputs (cls (A, K), reg (A, 4)):
 * per level, sigmoid scores above `scoreThresh`, the best `topkCandidates`, decoded and clipped to
 * the (unpadded) image; then class-wise NMS and the first `detectionsPerImg`.
 */
export function retinanetPostprocess(
  head: { cls: ArrayLike<number>; reg: ArrayLike<number> },
  anchors: Float32Array,
  levelCounts: readonly number[],
  imageSize: readonly [number, number],
  s: Pick<RetinaNetSettings, 'scoreThresh' | 'nmsThresh' | 'detectionsPerImg' | 'topkCandidates'> = RETINANET_DEFAULTS,
): Detections {
  const K = head.cls.length / (anchors.length / 4)
  const boxes: number[] = []
  const scores: number[] = []
  const labels: number[] = []
  const [H, W] = imageSize
  const clip = (v: number, hi: number): number => Math.min(Math.max(v, 0), hi)
  let start = 0
  for (const count of levelCounts) {
    const cand: { score: number; idx: number }[] = []
    for (let i = start * K; i < (start + count) * K; i++) {
      const score = sigmoid(head.cls[i]!)
      if (score > s.scoreThresh) cand.push({ score, idx: i })
    }
    cand.sort((p, q) => q.score - p.score || p.idx - q.idx)
    for (const { score, idx } of cand.slice(0, s.topkCandidates)) {
      const a = Math.floor(idx / K)
      const [x1, y1, x2, y2] = decodeBox([head.reg[4 * a]!, head.reg[4 * a + 1]!, head.reg[4 * a + 2]!, head.reg[4 * a + 3]!], anchors.subarray(4 * a, 4 * a + 4))
      boxes.push(clip(x1, W), clip(y1, H), clip(x2, W), clip(y2, H))
      scores.push(score)
      labels.push(idx % K)
    }
    start += count
  }
  const keep = batchedNms(boxes, scores, labels, s.nmsThresh).subarray(0, s.detectionsPerImg)
  const out: Detections = { boxes: new Float32Array(4 * keep.length), scores: new Float32Array(keep.length), labels: new Int32Array(keep.length) }
  keep.forEach((k, i) => {
    out.boxes.set(boxes.slice(4 * k, 4 * k + 4), 4 * i)
    out.scores[i] = scores[k]!
    out.labels[i] = labels[k]!
  })
  return out
}
