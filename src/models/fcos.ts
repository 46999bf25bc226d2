/**
 * FCOS, the anchor-free one-stage detector, as torchvision 0.14 builds `fcos_resnet50_fpn`.
 * Tian et al. 2019/2020: https://arxiv.org/abs/1904.01355 · https://arxiv.org/abs/2006.09214
 * torchvision/models/detection/fcos.py · _utils.py (BoxLinearCoder) · anchor_utils.py · ops/giou_loss.py
 * Paths are torchvision's keys: backbone.* (detection-backbone.ts), head.classification_head.
 * {conv.{0,3,6,9} (3x3 convs), conv.{1,4,7,10} (GroupNorm(32)), cls_logits}, head.regression_head.
 * {conv.*, bbox_reg, bbox_ctrness}.
 *
 * What runs where: the network and the three loss terms (sigmoid focal loss, GIoU loss on decoded
 * boxes, centerness BCE) are in the graph, so they get gradients; the point-to-box matching (center
 * sampling, scale ranges per level), the targets it gives, and post-processing (score threshold,
 * top-k per level, box decoding, class-wise NMS) run on the host, where they are data-dependent
 * loops ONNX has no fitting op for. Labels are contiguous 0..K-1 (sigmoid classes: no background).
 */
import { concat, type Tensor } from '../graph/graph.js'
import { markStructureChanged, Module } from '../graph/module.js'
import { batchedNms } from '../data/boxes.js'
import { Rng } from '../runtime/rng.js'
import { HfResNetFpnBackbone, ResNetFpnBackbone } from './detection-backbone.js'
import type { HfResNetConfig } from './hf-resnet.js'
import { Conv2d, GroupNorm, normal } from './layers.js'

/** Anchor size per level (P3..P7); FCOS uses one square anchor per location, its size the level's nominal stride. */
export const FCOS_ANCHOR_SIZES = [8, 16, 32, 64, 128] as const

/** torchvision's FCOS defaults for inference and matching. */
export interface FcosSettings {
  scoreThresh: number
  nmsThresh: number
  detectionsPerImg: number
  topkCandidates: number
  centerSamplingRadius: number
}
export const FCOS_DEFAULTS = { scoreThresh: 0.2, nmsThresh: 0.6, detectionsPerImg: 100, topkCandidates: 1000, centerSamplingRadius: 1.5 } satisfies FcosSettings

const conv3 = (i: number, o: number, rng: Rng): Conv2d => {
  const c = new Conv2d(i, o, 3, rng, { padding: 1 })
  normal(c.weight, rng, 0.01)
  c.bias!.data.fill(0)
  return c
}

/** num_convs x [Conv3x3, GroupNorm(32), ReLU] as nn.Sequential (the ReLUs hold the null slots). */
function towerOf(c: number, n: number, rng: Rng): (Conv2d | GroupNorm | null)[] {
  return Array.from({ length: n }, () => [conv3(c, c, rng), new GroupNorm(32, c), null]).flat()
}
function runTower(tower: readonly (Conv2d | GroupNorm | null)[], x: Tensor): Tensor {
  let h = x
  for (let i = 0; i < tower.length; i += 3) h = (tower[i + 1] as GroupNorm).forward((tower[i] as Conv2d).forward(h)).relu()
  return h
}
/** (B, A*D, H, W) -> (B, H*W*A, D), as torchvision's view/permute/reshape. */
function perLocation(x: Tensor, d: number): Tensor {
  const [b, ad, h, w] = x.shape as [number, number, number, number]
  return x.reshape([b, ad / d, d, h, w]).transpose([0, 3, 4, 1, 2]).reshape([b, h * w * (ad / d), d]) // (B, HWA, D)
}

export class FCOSClassificationHead extends Module {
  conv: (Conv2d | GroupNorm | null)[]
  cls_logits: Conv2d
  constructor(c: number, public numClasses: number, rng: Rng, numConvs = 4) {
    super()
    this.conv = towerOf(c, numConvs, rng)
    this.cls_logits = FCOSClassificationHead.logitsConv(c, numClasses, rng)
  }
  /** cls_logits with the prior-probability bias -log((1 - 0.01) / 0.01), so training starts with few confident points. */
  static logitsConv(c: number, k: number, rng: Rng): Conv2d {
    const conv = conv3(c, k, rng)
    conv.bias!.data.fill(-Math.log((1 - 0.01) / 0.01))
    return conv
  }
  forward(xs: readonly Tensor[]): Tensor {
    return concat(xs.map((x) => perLocation(this.cls_logits.forward(runTower(this.conv, x)), this.numClasses)), 1) // (B, A, K)
  }
}

export class FCOSRegressionHead extends Module {
  conv: (Conv2d | GroupNorm | null)[]
  bbox_reg: Conv2d
  bbox_ctrness: Conv2d
  constructor(c: number, rng: Rng, numConvs = 4) {
    super()
    this.conv = towerOf(c, numConvs, rng)
    this.bbox_reg = conv3(c, 4, rng)
    this.bbox_ctrness = conv3(c, 1, rng)
  }
  forward(xs: readonly Tensor[]): { reg: Tensor; ctr: Tensor } {
    const reg: Tensor[] = []
    const ctr: Tensor[] = []
    for (const x of xs) {
      const f = runTower(this.conv, x)
      reg.push(perLocation(this.bbox_reg.forward(f).relu(), 4))
      ctr.push(perLocation(this.bbox_ctrness.forward(f), 1))
    }
    return { reg: concat(reg, 1), ctr: concat(ctr, 1) } // (B, A, 4), (B, A, 1)
  }
}

export class FCOSHead extends Module {
  classification_head: FCOSClassificationHead
  regression_head: FCOSRegressionHead
  constructor(c: number, numClasses: number, rng: Rng) {
    super()
    this.classification_head = new FCOSClassificationHead(c, numClasses, rng)
    this.regression_head = new FCOSRegressionHead(c, rng)
  }
}

/** The head outputs over all levels, locations row-major within a level, levels P3..P7 in order. */
export interface FcosOutputs {
  /** (B, A, K) */
  cls_logits: Tensor
  /** (B, A, 4): distances to the box's left, top, right, bottom edges over the anchor size (after ReLU). */
  bbox_regression: Tensor
  /** (B, A, 1) */
  bbox_ctrness: Tensor
  /** Feature map size [h, w] per level. */
  levels: [number, number][]
}

export interface FcosOptions {
  seed?: number
  /** A Hugging Face ResNet's config for the body (HfResNetFpnBackbone) instead of torchvision's ResNet-50. */
  hfResNet?: HfResNetConfig | undefined
}

/** torchvision's FCOS(ResNet-50 FPN) with `numClasses` sigmoid classes. Input: normalised images (B, 3, H, W), H and W multiples of 32. */
export class FCOS extends Module {
  backbone: ResNetFpnBackbone | HfResNetFpnBackbone
  head: FCOSHead
  numClasses: number
  readonly headPrefixes = ['head.classification_head.cls_logits'] as const
  constructor(numClasses: number, o: FcosOptions = {}) {
    super()
    const rng = new Rng(o.seed ?? 0)
    this.backbone = o.hfResNet ? new HfResNetFpnBackbone(o.hfResNet, rng) : new ResNetFpnBackbone(rng)
    this.head = new FCOSHead(this.backbone.out_channels, numClasses, rng)
    this.numClasses = numClasses
  }
  forward(x: Tensor): FcosOutputs {
    const feats = this.backbone.forward(x)
    const r = this.head.regression_head.forward(feats)
    return { cls_logits: this.head.classification_head.forward(feats), bbox_regression: r.reg, bbox_ctrness: r.ctr, levels: feats.map((f) => [f.shape[2]!, f.shape[3]!]) }
  }
  /**
   * From scratch: every weight and buffer re-drawn as this constructor draws them (torchvision's
   * FCOS init: kaiming-normal body convs, the FPN's kaiming-uniform(a=1), head convs N(0, 0.01) and
   * cls_logits' prior bias -log(99)), not PyTorch's layer defaults, which leave the focal loss
   * without its prior.
   */
  reinitialise(rng: Rng): void {
    const fresh = new FCOS(this.numClasses, { seed: rng.nextU32(), hfResNet: this.backbone instanceof HfResNetFpnBackbone ? this.backbone.config : undefined })
    const mine = new Map(this.namedParameters())
    for (const [n, p] of fresh.namedParameters()) mine.get(n)!.data.set(p.data)
  }
  /** A new cls_logits conv for `numClasses` (std 0.01, prior bias), as replacing it in torchvision's head gives. */
  replaceHead(numClasses: number, rng: Rng): void {
    this.head.classification_head.cls_logits = FCOSClassificationHead.logitsConv(this.backbone.out_channels, numClasses, rng)
    this.head.classification_head.numClasses = numClasses
    this.numClasses = numClasses
    markStructureChanged()
  }
}

/** The feature map sizes [h, w] of P3..P7 for a padded batch of H x W (conv3x3/2 with padding 1 rounds up). */
export function fcosLevels(height: number, width: number): [number, number][] {
  const out: [number, number][] = [[Math.ceil(height / 8), Math.ceil(width / 8)]]
  while (out.length < 5) {
    const [h, w] = out.at(-1)!
    out.push([Math.ceil(h / 2), Math.ceil(w / 2)])
  }
  return out
}

/**
 * AnchorGenerator(sizes 8..128, aspect 1) for an H x W batch: (A, 4) x1 y1 x2 y2, level by level,
 * location (i, j) centred at (j * sx, i * sy) with torchvision's integer strides floor(H / h).
 */
export function fcosAnchors(height: number, width: number, levels: readonly (readonly [number, number])[]): Float32Array {
  const n = levels.reduce((a, [h, w]) => a + h * w, 0)
  const out = new Float32Array(4 * n)
  let k = 0
  levels.forEach(([h, w], l) => {
    const half = FCOS_ANCHOR_SIZES[l]! / 2
    const [sy, sx] = [Math.floor(height / h), Math.floor(width / w)]
    for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) out.set([j * sx - half, i * sy - half, j * sx + half, i * sy + half], 4 * k++)
  })
  return out
}

/**
 * FCOS.compute_loss's matching of anchor points to ground-truth boxes (N, 4) for one image: a
 * point matches a box when it lies inside it, within `radius` x its anchor size of the box centre
 * (center sampling), and the farthest edge distance falls in its level's range (4s, 8s) (first level
 * from 0, last level to infinity); among matches the smallest box wins. -1: background.
 */
export function fcosMatch(anchors: Float32Array, levelCounts: readonly number[], boxes: ArrayLike<number>, radius = FCOS_DEFAULTS.centerSamplingRadius): Int32Array {
  const A = anchors.length / 4
  const M = boxes.length / 4
  const matched = new Int32Array(A).fill(-1)
  if (M === 0) return matched
  const firstEnd = levelCounts[0]!
  const lastStart = A - levelCounts.at(-1)!
  for (let a = 0; a < A; a++) {
    const [ax1, ay1, ax2, ay2] = [anchors[4 * a]!, anchors[4 * a + 1]!, anchors[4 * a + 2]!, anchors[4 * a + 3]!]
    const [cx, cy, s] = [(ax1 + ax2) / 2, (ay1 + ay2) / 2, ax2 - ax1]
    const lower = a < firstEnd ? 0 : 4 * s
    const upper = a >= lastStart ? Infinity : 8 * s
    let best = 0
    for (let m = 0; m < M; m++) {
      const [x0, y0, x1, y1] = [boxes[4 * m]!, boxes[4 * m + 1]!, boxes[4 * m + 2]!, boxes[4 * m + 3]!]
      if (!(Math.max(Math.abs(cx - (x0 + x1) / 2), Math.abs(cy - (y0 + y1) / 2)) < radius * s)) continue
      const d = [cx - x0, cy - y0, x1 - cx, y1 - cy]
      if (!(Math.min(...d) > 0)) continue
      const far = Math.max(...d)
      if (!(far > lower && far < upper)) continue
      const v = 1e8 - (x1 - x0) * (y1 - y0)
      if (v > best) {
        best = v
        matched[a] = m
      }
    }
    if (best < 1e-5) matched[a] = -1
  }
  return matched
}

/** Host-side targets of one batch for fcosLoss (see there). */
export interface FcosTargets {
  /** (B, A, K) one-hot of the matched box's label; zeros for background. */
  cls: Float32Array
  /** (B, A, 4) the matched box; the anchor itself for background (finite, masked out). */
  boxes: Float32Array
  /** (B, A) 1 for foreground points. */
  fg: Float32Array
  /** (B, A) centerness target sqrt(min(l,r)/max(l,r) * min(t,b)/max(t,b)); 0 for background. */
  ctr: Float32Array
  /** max(1, foreground points in the batch): every term is a sum over the batch divided by this. */
  norm: number
  matched: Int32Array[]
}

/** Matches every image's boxes (x1 y1 x2 y2) and labels (0..K-1) and builds the loss targets. */
export function fcosTargets(anchors: Float32Array, levelCounts: readonly number[], numClasses: number, images: readonly { boxes: ArrayLike<number>; labels: ArrayLike<number> }[], radius: number = FCOS_DEFAULTS.centerSamplingRadius): FcosTargets {
  const A = anchors.length / 4
  const B = images.length
  const t: FcosTargets = { cls: new Float32Array(B * A * numClasses), boxes: new Float32Array(B * A * 4), fg: new Float32Array(B * A), ctr: new Float32Array(B * A), norm: 0, matched: [] }
  let fg = 0
  images.forEach((img, b) => {
    const m = fcosMatch(anchors, levelCounts, img.boxes, radius)
    t.matched.push(m)
    for (let a = 0; a < A; a++) {
      const r = b * A + a
      const j = m[a]!
      if (j < 0) {
        t.boxes.set(anchors.subarray(4 * a, 4 * a + 4), 4 * r)
        continue
      }
      fg++
      const box = [img.boxes[4 * j]!, img.boxes[4 * j + 1]!, img.boxes[4 * j + 2]!, img.boxes[4 * j + 3]!]
      t.boxes.set(box, 4 * r)
      t.fg[r] = 1
      t.cls[r * numClasses + img.labels[j]!] = 1
      const cx = (anchors[4 * a]! + anchors[4 * a + 2]!) / 2
      const cy = (anchors[4 * a + 1]! + anchors[4 * a + 3]!) / 2
      const [l, tp, rt, bt] = [cx - box[0]!, cy - box[1]!, box[2]! - cx, box[3]! - cy]
      t.ctr[r] = Math.sqrt((Math.min(l, rt) / Math.max(l, rt)) * (Math.min(tp, bt) / Math.max(tp, bt)))
    }
  })
  t.norm = Math.max(1, fg)
  return t
}

/** The loss targets as graph tensors (inputs or constants), shaped as FcosTargets documents. */
export interface FcosTargetTensors {
  cls: Tensor
  boxes: Tensor
  fg: Tensor
  ctr: Tensor
  /** () or (1,) */
  norm: Tensor
}

/** BCE with logits per element: max(x, 0) - x t + log(1 + exp(-|x|)). */
function bceElementwise(x: Tensor, t: Tensor): Tensor {
  return x.relu().sub(x.mul(t)).add(x.abs().neg().exp().add(1).log())
}

/** torchvision's sigmoid_focal_loss per element (reduction "none"; alpha 0.25, gamma 2). */
export function sigmoidFocalLossTerms(logits: Tensor, target: Tensor, alpha = 0.25, gamma = 2): Tensor {
  const p = logits.sigmoid()
  const ce = bceElementwise(logits, target)
  const pt = p.mul(target).add(p.neg().add(1).mul(target.neg().add(1)))
  const mod = gamma === 2 ? pt.neg().add(1).square() : pt.neg().add(1).pow(gamma)
  const at = target.mul(alpha).add(target.neg().add(1).mul(1 - alpha))
  return ce.mul(mod).mul(at)
}

/** torchvision's sigmoid_focal_loss summed (alpha 0.25, gamma 2). */
export function sigmoidFocalLoss(logits: Tensor, target: Tensor, alpha = 0.25, gamma = 2): Tensor {
  return sigmoidFocalLossTerms(logits, target, alpha, gamma).sum()
}

/** torchvision's generalized_box_iou_loss per box pair (eps 1e-7) over (..., 4) x1 y1 x2 y2. */
export function giouLoss(a: Tensor, b: Tensor, eps = 1e-7): Tensor {
  const [x1, y1, x2, y2] = a.split([1, 1, 1, 1], -1)
  const [gx1, gy1, gx2, gy2] = b.split([1, 1, 1, 1], -1)
  // the intersection is 0 unless both sides are positive: the product of the clamped sides
  const inter = x2!.minimum(gx2!).sub(x1!.maximum(gx1!)).relu().mul(y2!.minimum(gy2!).sub(y1!.maximum(gy1!)).relu())
  const union = x2!.sub(x1!).mul(y2!.sub(y1!)).add(gx2!.sub(gx1!).mul(gy2!.sub(gy1!))).sub(inter)
  const iou = inter.div(union.add(eps))
  const areaC = x2!.maximum(gx2!).sub(x1!.minimum(gx1!)).mul(y2!.maximum(gy2!).sub(y1!.minimum(gy1!)))
  return iou.sub(areaC.sub(union).div(areaC.add(eps))).neg().add(1).squeeze(-1)
}

/**
 * FCOSHead.compute_loss: {classification: focal loss over every point and class, bbox_regression:
 * GIoU loss of the decoded boxes (BoxLinearCoder, normalize_by_size) at foreground points,
 * bbox_ctrness: BCE of the centerness logits at foreground points}, each summed over the batch and
 * divided by max(1, foreground points). `anchors` (A, 4) as fcosAnchors gives.
 */
export function fcosLoss(out: Pick<FcosOutputs, 'cls_logits' | 'bbox_regression' | 'bbox_ctrness'>, anchors: Float32Array, t: FcosTargetTensors): { classification: Tensor; bbox_regression: Tensor; bbox_ctrness: Tensor } {
  const g = out.cls_logits.graph
  const A = anchors.length / 4
  const centre = new Float32Array(4 * A)
  const scale = new Float32Array(4 * A)
  for (let a = 0; a < A; a++) {
    const [x1, y1, x2, y2] = [anchors[4 * a]!, anchors[4 * a + 1]!, anchors[4 * a + 2]!, anchors[4 * a + 3]!]
    centre.set([(x1 + x2) / 2, (y1 + y2) / 2, (x1 + x2) / 2, (y1 + y2) / 2], 4 * a)
    scale.set([-(x2 - x1), -(y2 - y1), x2 - x1, y2 - y1], 4 * a)
  }
  // decode: centre -+ distance x anchor size, as one multiply-add over (B, A, 4)
  const pred = out.bbox_regression.mul(g.constant(scale, [A, 4])).add(g.constant(centre, [A, 4]))
  const norm = t.norm.reshape([])
  const classification = sigmoidFocalLoss(out.cls_logits, t.cls).div(norm)
  const bbox_regression = giouLoss(pred, t.boxes).mul(t.fg).sum().div(norm)
  const bbox_ctrness = bceElementwise(out.bbox_ctrness.squeeze(-1), t.ctr).mul(t.fg).sum().div(norm)
  return { classification, bbox_regression, bbox_ctrness }
}

/** One image's detections: boxes (N, 4) x1 y1 x2 y2, scores and labels, best first. */
export interface Detections {
  boxes: Float32Array
  scores: Float32Array
  labels: Int32Array
}

const sigmoid = (v: number): number => 1 / (1 + Math.exp(-v))

/**
 * FCOS.postprocess_detections for one image from its host head outputs (cls (A, K), reg (A, 4),
 * ctr (A)): per level, score sqrt(sigmoid(cls) sigmoid(ctr)) above `scoreThresh`, the best
 * `topkCandidates`, boxes decoded and clipped to the (unpadded) image; then class-wise NMS and the
 * first `detectionsPerImg`.
 */
export function fcosPostprocess(
  head: { cls: ArrayLike<number>; reg: ArrayLike<number>; ctr: ArrayLike<number> },
  anchors: Float32Array,
  levelCounts: readonly number[],
  imageSize: readonly [number, number],
  s: Omit<FcosSettings, 'centerSamplingRadius'> = FCOS_DEFAULTS,
): Detections {
  const K = head.cls.length / (anchors.length / 4)
  const boxes: number[] = []
  const scores: number[] = []
  const labels: number[] = []
  const [H, W] = imageSize
  let start = 0
  for (const count of levelCounts) {
    const cand: { score: number; idx: number }[] = []
    for (let i = start * K; i < (start + count) * K; i++) {
      const score = Math.sqrt(sigmoid(head.cls[i]!) * sigmoid(head.ctr[Math.floor(i / K)]!))
      if (score > s.scoreThresh) cand.push({ score, idx: i })
    }
    cand.sort((p, q) => q.score - p.score || p.idx - q.idx)
    for (const { score, idx } of cand.slice(0, s.topkCandidates)) {
      const a = Math.floor(idx / K)
      const [x1, y1, x2, y2] = [anchors[4 * a]!, anchors[4 * a + 1]!, anchors[4 * a + 2]!, anchors[4 * a + 3]!]
      const [cx, cy, w, h] = [(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1]
      const clip = (v: number, hi: number): number => Math.min(Math.max(v, 0), hi)
      boxes.push(clip(cx - head.reg[4 * a]! * w, W), clip(cy - head.reg[4 * a + 1]! * h, H), clip(cx + head.reg[4 * a + 2]! * w, W), clip(cy + head.reg[4 * a + 3]! * h, H))
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

/** GeneralizedRCNNTransform.postprocess: boxes from the resized image back to the original size (float32 ratios, as torch). */
export function rescaleBoxes(boxes: Float32Array, from: readonly [number, number], to: readonly [number, number]): Float32Array {
  const rh = Math.fround(Math.fround(to[0]) / Math.fround(from[0]))
  const rw = Math.fround(Math.fround(to[1]) / Math.fround(from[1]))
  return boxes.map((v, i) => v * (i % 2 === 0 ? rw : rh))
}
