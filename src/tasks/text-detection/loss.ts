/**
 * The DB loss (Liao et al. 2020, https://arxiv.org/abs/1911.08947) with PaddleOCR's definitions
 * (ppocr/losses/det_db_loss.py, det_basic_loss.py):
 *   loss = alpha * L_s + beta * L_t + L_b,  alpha = 5, beta = 10
 * - L_s: balanced binary cross-entropy on the shrink (probability) map over the shrink mask: every
 *   positive pixel and the `negativeRatio` (3) x #positives hardest negatives (online hard example
 *   mining), summed and divided by their count (+ eps 1e-6). log is clamped at -100 as torch's BCE.
 * - L_t: L1 between the threshold map and its target over the threshold mask, / (mask sum + eps).
 * - L_b: Dice on the approximate binary map B = 1 / (1 + exp(-k (P - T))), k = 50, over the shrink mask.
 *
 * The graph has static shapes, so the hardest negatives are not sorted: their k-th largest loss is
 * found by bisection on the count of losses above a bound (32 halvings, to float32 resolution), and
 * the losses at or above it are summed, those tied within the last interval sharing what is left of
 * the k. The selection is a mask made of comparisons, through which no gradient flows, so the
 * gradient is the loss's on the chosen pixels, as a sort's is.
 *
 * PaddleOCR's shipped configs set `main_loss_type: DiceLoss`, which makes its "bce_loss" a Dice loss
 * (BalanceLoss wraps whatever main loss is named); this follows the paper and DBNet.pytorch instead:
 * balanced BCE, as stated above.
 *
 * An inference export of DBNet (PP-OCRv4's ch_PP-OCRv4_det_infer.onnx) keeps only the probability
 * map: its threshold branch is cut away. `probabilityOnly` trains such a graph with the two terms its
 * output supports: alpha * L_s + Dice on the probability map itself.
 */
import { type Tensor } from '../../graph/graph.js'

export interface DbLossOptions {
  alpha: number
  beta: number
  negativeRatio: number
  /** Steepness of the approximate binarisation. */
  k: number
  eps: number
}

export const DB_LOSS_DEFAULTS = { alpha: 5, beta: 10, negativeRatio: 3, k: 50, eps: 1e-6 } as const satisfies DbLossOptions

/** Target planes, each (B, H, W) float 0/1 (threshold map: values in [0.3, 0.7]). */
export interface DbLossTargets {
  shrinkMap: Tensor
  shrinkMask: Tensor
  thresholdMap?: Tensor
  thresholdMask?: Tensor
}

export interface DbLossTerms {
  loss: Tensor
  shrink: Tensor
  threshold?: Tensor
  binary: Tensor
}

const BISECTIONS = 32

/** log(sigmoid(z)) = -softplus(-z), stable for any z. */
const logSigmoid = (z: Tensor): Tensor => z.neg().relu().add(z.abs().neg().exp().add(1).log()).neg()

/** Element-wise BCE, from logits (stable) or from probabilities (log clamped at -100, as torch). */
function bce(gt: Tensor, p: { logits?: Tensor; probs?: Tensor }): Tensor {
  const [logP, log1mP] = p.logits ? [logSigmoid(p.logits).maximum(-100), logSigmoid(p.logits.neg()).maximum(-100)] : [p.probs!.log().maximum(-100), p.probs!.neg().add(1).log().maximum(-100)]
  return gt.mul(logP).add(gt.neg().add(1).mul(log1mP)).neg()
}

/**
 * Sum of the `k` largest of `v` (non-negative, flat); `k` a scalar tensor of whole numbers. See the
 * module comment for the bisection and for why no gradient flows through the selection.
 */
export function topKSum(v: Tensor, k: Tensor): Tensor {
  let lo = v.mul(0).sum() // 0 (as a graph value)
  let hi = v.max().mul(1 + 1e-6).add(1e-30)
  const count = (t: Tensor): Tensor => v.ge(t).cast('float32').sum()
  for (let i = 0; i < BISECTIONS; i++) {
    const mid = lo.add(hi).mul(0.5)
    const enough = count(mid).ge(k)
    lo = lo.mul(enough.not().cast('float32')).add(mid.mul(enough.cast('float32')))
    hi = hi.mul(enough.cast('float32')).add(mid.mul(enough.not().cast('float32')))
  }
  const above = v.ge(hi).cast('float32')
  const cAbove = above.sum()
  const band = v.ge(lo).cast('float32').sub(above)
  const share = k.sub(cAbove).maximum(0).div(band.sum().maximum(1))
  return v.mul(above.add(band.mul(share))).sum()
}

function balancedBce(gt: Tensor, mask: Tensor, p: { logits?: Tensor; probs?: Tensor }, o: DbLossOptions): Tensor {
  const positive = gt.mul(mask)
  const negative = gt.neg().add(1).mul(mask)
  const posCount = positive.sum()
  const negCount = negative.sum().minimum(posCount.mul(o.negativeRatio))
  const loss = bce(gt, p)
  const posLoss = positive.mul(loss).sum()
  const negLoss = topKSum(negative.mul(loss).reshape([-1]), negCount)
  return posLoss.add(negLoss).div(posCount.add(negCount).add(o.eps))
}

function dice(pred: Tensor, gt: Tensor, mask: Tensor, eps: number): Tensor {
  const inter = pred.mul(gt).mul(mask).sum()
  const union = pred.mul(mask).sum().add(gt.mul(mask).sum()).add(eps)
  return inter.mul(2).div(union).neg().add(1)
}

function maskedL1(pred: Tensor, gt: Tensor, mask: Tensor, eps: number): Tensor {
  return pred.sub(gt).abs().mul(mask).sum().div(mask.sum().add(eps))
}

/**
 * The full DB loss: shrink map `P` (probabilities, or `shrinkLogits` whose sigmoid it is) and
 * threshold map `T`, each (B, H, W); the binary map is made from them.
 */
export function dbLoss(maps: { shrink: Tensor; shrinkLogits?: Tensor; threshold: Tensor }, t: DbLossTargets, o: DbLossOptions = DB_LOSS_DEFAULTS): DbLossTerms {
  if (!t.thresholdMap || !t.thresholdMask) throw new Error('dbLoss: the threshold targets are required')
  const P = maps.shrink
  const shrink = balancedBce(t.shrinkMap, t.shrinkMask, maps.shrinkLogits ? { logits: maps.shrinkLogits } : { probs: P }, o)
  const threshold = maskedL1(maps.threshold, t.thresholdMap, t.thresholdMask, o.eps)
  const B = P.sub(maps.threshold).mul(o.k).sigmoid()
  const binary = dice(B, t.shrinkMap, t.shrinkMask, o.eps)
  return { loss: shrink.mul(o.alpha).add(threshold.mul(o.beta)).add(binary), shrink, threshold, binary }
}

/** The loss for a graph that outputs only the probability map: alpha * L_s + Dice(P). */
export function dbLossProbabilityOnly(maps: { shrink: Tensor; shrinkLogits?: Tensor }, t: DbLossTargets, o: DbLossOptions = DB_LOSS_DEFAULTS): DbLossTerms {
  const shrink = balancedBce(t.shrinkMap, t.shrinkMask, maps.shrinkLogits ? { logits: maps.shrinkLogits } : { probs: maps.shrink }, o)
  const binary = dice(maps.shrink, t.shrinkMap, t.shrinkMask, o.eps)
  return { loss: shrink.mul(o.alpha).add(binary), shrink, binary }
}
