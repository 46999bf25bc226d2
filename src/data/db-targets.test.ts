import { describe, expect, it } from 'vitest'
import { makeDbTargets } from './db-targets.js'
import type { Point } from './polygon.js'

const rect = (x0: number, y0: number, x1: number, y1: number): Point[] => [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]
const sum = (a: Float32Array): number => a.reduce((s, v) => s + v, 0)

describe('DB targets (PaddleOCR MakeShrinkMap / MakeBorderMap)', () => {
  // a 100 x 40 text box: D = A (1 - 0.4^2) / L = 4000 * 0.84 / 280 = 12
  const W = 128
  const H = 96
  const t = makeDbTargets(W, H, [rect(10, 20, 110, 60)], [false])
  const at = (a: Float32Array, x: number, y: number): number => a[y * W + x]!

  it('the shrink map is the box shrunk by D on every side; the shrink mask is all ones', () => {
    expect(sum(t.shrinkMap)).toBe((98 - 22 + 1) * (48 - 32 + 1))
    expect([at(t.shrinkMap, 22, 32), at(t.shrinkMap, 98, 48), at(t.shrinkMap, 21, 32), at(t.shrinkMap, 22, 49)]).toEqual([1, 1, 0, 0])
    expect(sum(t.shrinkMask)).toBe(W * H)
  })

  it('the threshold map is 0.7 on the edges, falls linearly to 0.3 at distance D, and the mask covers the outward offset', () => {
    expect(at(t.thresholdMap, 60, 20)).toBeCloseTo(0.7, 6)
    expect(at(t.thresholdMap, 60, 14)).toBeCloseTo(0.3 + 0.4 * (1 - 6 / 12), 6)
    expect(at(t.thresholdMap, 60, 26)).toBeCloseTo(0.3 + 0.4 * (1 - 6 / 12), 6)
    expect(at(t.thresholdMap, 60, 40)).toBeCloseTo(0.3, 6)
    expect(at(t.thresholdMap, 5, 5)).toBeCloseTo(0.3, 6)
    expect([at(t.thresholdMask, 60, 8), at(t.thresholdMask, 60, 7), at(t.thresholdMask, 60, 40), at(t.thresholdMask, 122, 40), at(t.thresholdMask, 123, 40)]).toEqual([1, 0, 1, 1, 0])
  })

  it('ignored ("###") and too small polygons are masked out and add no text', () => {
    const u = makeDbTargets(64, 64, [rect(2, 2, 40, 20), rect(5, 40, 60, 45)], [true, false])
    expect(sum(u.shrinkMap)).toBe(0)
    expect(sum(u.shrinkMask)).toBe(64 * 64 - 39 * 19 - 56 * 6)
    expect(sum(u.thresholdMask)).toBeGreaterThan(0) // the small box still gets a border (PaddleOCR's order)
    expect(u.thresholdMask[10 * 64 + 20]).toBe(0) // the ignored one does not
  })

  it('polygons are clipped into the image first', () => {
    const u = makeDbTargets(50, 50, [rect(-30, 10, 40, 40)], [false])
    // clipped to x 0..40: D = 1200 * 0.84 / 140 = 7.2 -> x 7..32, y 17..32 (vertices truncated before the offset)
    expect(u.shrinkMap[25 * 50 + 7]).toBe(1)
    expect(u.shrinkMap[25 * 50 + 5]).toBe(0)
    expect(sum(u.shrinkMask)).toBe(2500)
  })
})
