/**
 * Semantic segmentation metrics as mmsegmentation's IoUMetric computes them: per class, the
 * intersection, union, predicted and labelled pixel counts are summed over the whole data set
 * (not averaged per image, as torchmetrics' MeanIoU does), pixels whose label is the ignore index
 * are left out, and predictions outside 0..numClasses-1 count for no class. Then
 * - IoU_c = intersection_c / union_c, Acc_c = intersection_c / labelled_c (NaN when the
 *   denominator is 0: a class absent from both labels and predictions has no IoU);
 * - mIoU and mAcc are the means over the classes that are not NaN;
 * - aAcc (pixel accuracy) = correctly labelled pixels / labelled pixels.
 */
import { DataError } from '../errors.js'

export interface SegmentationMetrics {
  mIoU: number
  mAcc: number
  aAcc: number
  /** Per class, in class order; NaN where undefined (see the module comment). */
  iou: number[]
  acc: number[]
}

/** Accumulates pixel counts over images; `compute()` gives the metrics at any point. */
export class SegmentationMeter {
  readonly numClasses: number
  readonly ignoreIndex: number
  readonly #inter: Float64Array
  readonly #pred: Float64Array
  readonly #label: Float64Array
  constructor(numClasses: number, ignoreIndex = 255) {
    if (!(Number.isInteger(numClasses) && numClasses >= 1)) throw new RangeError(`numClasses must be a positive integer, got ${numClasses}`)
    this.numClasses = numClasses
    this.ignoreIndex = ignoreIndex
    this.#inter = new Float64Array(numClasses)
    this.#pred = new Float64Array(numClasses)
    this.#label = new Float64Array(numClasses)
  }

  /** Adds one image (or a batch, flattened): predicted and true class per pixel. `where` names it in errors. */
  update(pred: ArrayLike<number>, label: ArrayLike<number>, where = 'mask'): void {
    if (pred.length !== label.length) throw new RangeError(`${where}: ${pred.length} predicted pixels but ${label.length} labelled`)
    const K = this.numClasses
    for (let i = 0; i < label.length; i++) {
      const l = label[i]!
      if (l === this.ignoreIndex) continue
      if (!(l >= 0 && l < K)) {
        throw new DataError('DATA_MASK_VALUE', `${where}: pixel ${i} has label ${l}, outside 0..${K - 1} and not the ignore index ${this.ignoreIndex}`, `masks hold class indices below ${K}, or ${this.ignoreIndex} for pixels to ignore`)
      }
      this.#label[l]!++
      const p = pred[i]!
      if (p >= 0 && p < K && Number.isInteger(p)) {
        this.#pred[p]!++
        if (p === l) this.#inter[l]!++
      }
    }
  }

  compute(): SegmentationMetrics {
    const iou: number[] = []
    const acc: number[] = []
    let inter = 0
    let labelled = 0
    for (let c = 0; c < this.numClasses; c++) {
      const i = this.#inter[c]!
      const union = this.#pred[c]! + this.#label[c]! - i
      iou.push(union > 0 ? i / union : NaN)
      acc.push(this.#label[c]! > 0 ? i / this.#label[c]! : NaN)
      inter += i
      labelled += this.#label[c]!
    }
    return { mIoU: nanMean(iou), mAcc: nanMean(acc), aAcc: labelled > 0 ? inter / labelled : NaN, iou, acc }
  }
}

function nanMean(xs: readonly number[]): number {
  let s = 0
  let n = 0
  for (const x of xs) if (!Number.isNaN(x)) {
    s += x
    n++
  }
  return n ? s / n : NaN
}

/** mIoU, mAcc and pixel accuracy of one set of predictions (see SegmentationMeter). */
export function segmentationMetrics(pred: ArrayLike<number>, label: ArrayLike<number>, numClasses: number, ignoreIndex = 255): SegmentationMetrics {
  const m = new SegmentationMeter(numClasses, ignoreIndex)
  m.update(pred, label)
  return m.compute()
}
