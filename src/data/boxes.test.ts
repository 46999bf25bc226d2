import { describe, expect, it } from 'vitest'
import { batchedNms, boxAreas, boxIou, nms } from './boxes.js'

describe('boxes', () => {
  it('box IoU matches hand-computed overlaps', () => {
    const a = [0, 0, 10, 10, 5, 5, 15, 15]
    const b = [0, 0, 10, 10, 10, 10, 20, 20, 0, 5, 10, 15]
    const iou = boxIou(a, b)
    // identical; touching corner; half overlap (50 / 150)
    expect([...iou.subarray(0, 3)]).toEqual([1, 0, 50 / 150])
    // [5,5,15,15] vs [0,0,10,10]: 25 / 175; vs [10,10,20,20]: 25 / 175; vs [0,5,10,15]: 50 / 150
    expect(iou[3]).toBeCloseTo(25 / 175, 12)
    expect(iou[4]).toBeCloseTo(25 / 175, 12)
    expect(iou[5]).toBeCloseTo(50 / 150, 12)
    expect([...boxAreas([1, 2, 4, 6])]).toEqual([12])
  })

  it('nms keeps the best box of each overlapping group, strictly above the threshold suppresses', () => {
    const boxes = [0, 0, 10, 10, 1, 0, 11, 10, 20, 20, 30, 30, 0, 0, 10, 20]
    const scores = [0.9, 0.8, 0.7, 0.95]
    // IoU(0,1) = 90/110 = 0.818; IoU(3,0) = 100/200 = 0.5; IoU(3,1) = 90/210
    expect([...nms(boxes, scores, 0.5)]).toEqual([3, 0, 2]) // 0.5 is not > 0.5: box 0 survives box 3
    expect([...nms(boxes, scores, 0.49)]).toEqual([3, 1, 2]) // box 0 goes; box 1 (IoU 0.43 with 3) stays
    expect([...nms(boxes, scores, 0.9)]).toEqual([3, 0, 1, 2])
  })

  it('batched nms never suppresses across labels and returns indices by score', () => {
    const boxes = [0, 0, 10, 10, 0, 0, 10, 10, 0, 0, 10, 10, 50, 50, 60, 60]
    const scores = [0.5, 0.9, 0.7, 0.6]
    const labels = [1, 2, 1, 2]
    expect([...batchedNms(boxes, scores, labels, 0.5)]).toEqual([1, 2, 3])
  })
})
