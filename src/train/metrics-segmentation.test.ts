import { describe, expect, it } from 'vitest'
import { SegmentationMeter, segmentationMetrics } from './metrics-segmentation.js'

describe('segmentation metrics (mmseg IoUMetric)', () => {
  it('per-class IoU and accuracy, ignore pixels left out, hand-computed', () => {
    // 3 classes; label 255 is ignored whatever is predicted there
    const label = [0, 0, 1, 1, 1, 2, 255, 255]
    const pred = [0, 1, 1, 1, 0, 0, 2, 1]
    const r = segmentationMetrics(pred, label, 3)
    // class 0: inter 1, pred 2 (pixels 0, 4... and 5) -> pred 3, label 2 -> union 4
    // class 1: inter 2, pred 3, label 3 -> union 4; class 2: inter 0, pred 0, label 1 -> union 1
    expect(r.iou).toEqual([1 / 4, 2 / 4, 0])
    expect(r.acc).toEqual([1 / 2, 2 / 3, 0])
    expect(r.mIoU).toBeCloseTo((0.25 + 0.5 + 0) / 3, 12)
    expect(r.aAcc).toBeCloseTo(3 / 6, 12)
  })

  it('sums over images (not a mean of per-image IoUs); an absent class is NaN and left out', () => {
    const m = new SegmentationMeter(3)
    m.update([0, 0], [0, 0])
    m.update([1, 0], [1, 1])
    const r = m.compute()
    // class 0: inter 2, pred 3, label 2 -> 2/3; class 1: inter 1, pred 1, label 2 -> 1/2; class 2: NaN
    expect(r.iou[0]).toBeCloseTo(2 / 3, 12)
    expect(r.iou[1]).toBeCloseTo(1 / 2, 12)
    expect(r.iou[2]).toBeNaN()
    expect(r.mIoU).toBeCloseTo((2 / 3 + 1 / 2) / 2, 12)
  })

  it('a label outside the classes is an error naming the mask', () => {
    expect(() => new SegmentationMeter(2).update([0], [7], 'masks/a.png')).toThrow(/masks\/a.png: pixel 0 has label 7/)
  })
})
