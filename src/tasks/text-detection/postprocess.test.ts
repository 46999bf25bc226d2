import { describe, expect, it } from 'vitest'
import type { Point } from '../../data/polygon.js'
import { combineTextCounts, evaluateTextImage, isSimplePolygon } from '../../train/metrics-text-detection.js'
import { boxScoreFast, dbPostProcess, regions, unclip } from './postprocess.js'

const rect = (x0: number, y0: number, x1: number, y1: number): Point[] => [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]

function paint(W: number, H: number, spots: [number, number, number, number, number][]): Float32Array {
  const m = new Float32Array(W * H).fill(0.01)
  for (const [x0, y0, x1, y1, v] of spots) for (let y = y0; y <= y1; y++) for (let x = x0; x <= x1; x++) m[y * W + x] = v
  return m
}

describe('DB post-processing (PaddleOCR DBPostProcess, quad)', () => {
  const W = 80
  const H = 48
  // a text region, a blob too small to keep (shorter side 2 < 3) and a faint region (score 0.35 < 0.6)
  const pred = paint(W, H, [[10, 20, 49, 29, 0.9], [70, 5, 72, 7, 0.95], [60, 30, 75, 40, 0.35]])

  it('finds the 8-connected regions of the binarised map', () => {
    const bits = Uint8Array.from(pred, (v) => (v > 0.3 ? 1 : 0))
    expect(regions(bits, W, H).map((r) => r.length)).toEqual([9, 400, 176])
  })

  it('keeps the text region, unclipped by area * 1.5 / perimeter, scaled to the source image', () => {
    // pixels x 10..49, y 20..29: rectangle 39 x 9, D = 351 * 1.5 / 96 = 5.48 -> x 4.52..54.48, y 14.52..34.48, rounded by Clipper
    expect(dbPostProcess(pred, W, H, W, H)).toEqual([{ points: [[5, 15], [54, 15], [54, 34], [5, 34]], score: expect.closeTo(0.9, 6) }])
    const scaled = dbPostProcess(pred, W, H, 2 * W, 3 * H)
    expect(scaled[0]!.points).toEqual([[10, 45], [108, 45], [108, 102], [10, 102]])
  })

  it('lower box_thresh keeps the faint region; nothing above thresh gives nothing', () => {
    expect(dbPostProcess(pred, W, H, W, H, { thresh: 0.3, boxThresh: 0.3, unclipRatio: 1.5, maxCandidates: 1000, minSize: 3 }).length).toBe(2)
    expect(dbPostProcess(new Float32Array(W * H).fill(0.2), W, H, W, H)).toEqual([])
  })

  it('box score is the mean over the box pixels; unclip grows a box by its area-to-perimeter distance', () => {
    expect(boxScoreFast(pred, W, H, rect(10, 20, 49, 29))).toBeCloseTo(0.9, 6)
    expect(boxScoreFast(pred, W, H, rect(8, 20, 49, 29))).toBeCloseTo((0.9 * 400 + 0.01 * 20) / 420, 6)
    const u = unclip(rect(0, 0, 20, 10), 2)
    expect(Math.min(...u.map((p) => p[0]))).toBe(Math.round(-200 * 2 / 60))
  })
})

describe('hmean (PaddleOCR DetectionIoUEvaluator)', () => {
  it("reproduces eval_det_iou.py's own example: one of two boxes found", () => {
    const c = evaluateTextImage([{ points: rect(0, 0, 1, 1) }, { points: rect(2, 2, 3, 3) }], [{ points: [[0.1, 0.1], [1, 0], [1, 1], [0, 1]] }])
    expect(c).toEqual({ gtCare: 2, detCare: 1, matched: 1 })
    const m = combineTextCounts([c])
    expect(m.precision).toBe(1)
    expect(m.recall).toBe(0.5)
    expect(m.hmean).toBeCloseTo(2 / 3, 12)
  })

  it('IoU must exceed 0.5; matching is one to one', () => {
    const gt = [{ points: rect(0, 0, 10, 10) }]
    expect(evaluateTextImage(gt, [{ points: rect(0, 0, 10, 5) }]).matched).toBe(0) // IoU exactly 0.5
    expect(evaluateTextImage(gt, [{ points: rect(0, 0, 10, 6) }, { points: rect(0, 0, 10, 9) }])).toEqual({ gtCare: 1, detCare: 2, matched: 1 })
  })

  it("a detection on a don't-care region counts neither way; invalid polygons are dropped", () => {
    const c = evaluateTextImage([{ points: rect(0, 0, 10, 10), ignore: true }, { points: rect(20, 0, 30, 10) }], [{ points: rect(1, 1, 9, 9) }, { points: rect(20, 0, 30, 10) }, { points: [[0, 0], [10, 10], [10, 0], [0, 10]] }])
    expect(c).toEqual({ gtCare: 1, detCare: 1, matched: 1 })
    expect(isSimplePolygon([[0, 0], [10, 10], [10, 0], [0, 10]])).toBe(false)
    expect(combineTextCounts([c, { gtCare: 2, detCare: 0, matched: 0 }])).toEqual({ precision: 1, recall: 1 / 3, hmean: 0.5 })
  })
})
