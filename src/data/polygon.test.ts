import { describe, expect, it } from 'vitest'
import { clipByConvex, convexHull, fillPolygon, isConvex, minAreaRect, miniBox, offsetPolygon, perimeter, polygonArea, polygonIou, signedArea, type Point } from './polygon.js'

const rect = (x0: number, y0: number, x1: number, y1: number): Point[] => [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]
const filled = (w: number, h: number, poly: Point[], rule: 'nonzero' | 'positive' = 'nonzero'): Uint8Array => {
  const m = new Uint8Array(w * h)
  fillPolygon(m, w, h, poly, 1, rule)
  return m
}
const count = (m: Uint8Array): number => m.reduce((a, b) => a + b, 0)

describe('polygon offset (Clipper subset, round joins)', () => {
  it('shrinks a rectangle by D on every side with sharp corners, in either orientation', () => {
    for (const p of [rect(10, 20, 110, 60), rect(10, 20, 110, 60).reverse()]) {
      // the raw path keeps Clipper's loops through the corners; its positive-winding region is the clean result
      const m = filled(128, 128, offsetPolygon(p, -8), 'positive')
      expect(count(m)).toBe((102 - 18 + 1) * (52 - 28 + 1))
      expect([m[28 * 128 + 18], m[52 * 128 + 102], m[27 * 128 + 18], m[28 * 128 + 17]]).toEqual([1, 1, 0, 0])
    }
  })

  it('grows a rectangle by D with rounded corners: area A + L D + pi D^2 within the arc tolerance', () => {
    const p = rect(0, 0, 100, 40)
    const D = 10
    const g = offsetPolygon(p, D)
    const want = 4000 + perimeter(p) * D + Math.PI * D * D
    // points are rounded to integers and arcs are chords within 0.25 px of the circle
    expect(Math.abs(polygonArea(g) - want)).toBeLessThan(perimeter(g) * 0.6)
    for (const [x, y] of g) {
      const dx = Math.max(0 - x, 0, x - 100)
      const dy = Math.max(0 - y, 0, y - 40)
      expect(Math.abs(Math.hypot(dx, dy) - D)).toBeLessThanOrEqual(0.75)
    }
    expect(signedArea(g)).toBeGreaterThan(0)
  })

  it('the positive-winding fill of an inward offset of a concave polygon is its erosion by a disc', () => {
    // an L shape: its reflex corner gets an arc, the raw path a loop at each convex corner
    const L: Point[] = [[0, 0], [60, 0], [60, 20], [20, 20], [20, 60], [0, 60]]
    const D = 5
    const m = filled(64, 64, offsetPolygon(L, -D), 'positive')
    // pixels whose distance to the L's boundary is >= D + 1 (well inside) must be set, those < D - 1 must not
    const inL = (x: number, y: number): boolean => (x >= 0 && x <= 60 && y >= 0 && y <= 20) || (x >= 0 && x <= 20 && y >= 0 && y <= 60)
    const segs: [Point, Point][] = L.map((p, i) => [p, L[(i + 1) % L.length]!])
    const dist = (x: number, y: number): number =>
      Math.min(...segs.map(([a, b]) => {
        const t = Math.max(0, Math.min(1, ((x - a[0]) * (b[0] - a[0]) + (y - a[1]) * (b[1] - a[1])) / ((b[0] - a[0]) ** 2 + (b[1] - a[1]) ** 2)))
        return Math.hypot(x - a[0] - t * (b[0] - a[0]), y - a[1] - t * (b[1] - a[1]))
      }))
    let checked = 0
    for (let y = 0; y < 64; y++) for (let x = 0; x < 64; x++) {
      const d = inL(x, y) ? dist(x, y) : -1
      if (d >= D + 1) expect(m[y * 64 + x], `(${x}, ${y}) at distance ${d}`).toBe(1)
      if (d < D - 1) expect(m[y * 64 + x], `(${x}, ${y}) at distance ${d}`).toBe(0)
      checked++
    }
    expect(checked).toBe(64 * 64)
  })

  it('a polygon shrunk past its inradius leaves nothing', () => {
    expect(count(filled(64, 64, offsetPolygon(rect(10, 10, 50, 20), -6), 'positive'))).toBe(0)
  })

  it('fewer than three distinct points give an empty path', () => {
    expect(offsetPolygon([[1, 1], [1.5, 1.2], [5, 5]], 2)).toEqual([])
  })
})

describe('polygon fill (cv2.fillPoly semantics)', () => {
  it('fills an integer rectangle including its boundary pixels', () => {
    const m = filled(20, 20, rect(2, 3, 7, 9))
    expect(count(m)).toBe(6 * 7)
    expect(m[3 * 20 + 2]).toBe(1)
    expect(m[9 * 20 + 7]).toBe(1)
    expect(m[10 * 20 + 7]).toBe(0)
  })
  it('clips to the plane and truncates vertices', () => {
    expect(count(filled(10, 10, rect(-5.7, -5, 4.9, 4.2)))).toBe(5 * 5)
  })
  it('fills a triangle as its pixel centres', () => {
    const m = filled(10, 10, [[0, 0], [8, 0], [0, 8]])
    expect(count(m)).toBe(45) // x + y <= 8
  })
})

describe('hull, minimum-area rectangle, IoU', () => {
  it('convex hull drops interior and collinear points', () => {
    expect(convexHull([[0, 0], [2, 0], [1, 0], [2, 2], [0, 2], [1, 1]]).length).toBe(4)
  })
  it('minAreaRect of a rotated rectangle recovers it; miniBox orders corners tl, tr, br, bl', () => {
    const a = Math.PI / 6
    const pts: Point[] = []
    for (let u = 0; u <= 40; u += 2) for (let v = 0; v <= 10; v += 2) pts.push([50 + u * Math.cos(a) - v * Math.sin(a), 20 + u * Math.sin(a) + v * Math.cos(a)])
    const r = minAreaRect(pts)
    expect(Math.max(r.width, r.height)).toBeCloseTo(40, 6)
    expect(Math.min(r.width, r.height)).toBeCloseTo(10, 6)
    const { box, sside } = miniBox(rect(5, 5, 25, 12))
    expect(box).toEqual([[5, 5], [25, 5], [25, 12], [5, 12]])
    expect(sside).toBe(7)
  })
  it('IoU of rectangles and of a concave polygon with a box', () => {
    expect(polygonIou(rect(0, 0, 10, 10), rect(5, 0, 15, 10))).toBeCloseTo(50 / 150, 12)
    expect(polygonIou(rect(0, 0, 10, 10), rect(20, 0, 30, 10))).toBe(0)
    const L: Point[] = [[0, 0], [20, 0], [20, 10], [10, 10], [10, 20], [0, 20]]
    expect(isConvex(L)).toBe(false)
    expect(polygonArea(clipByConvex(L, rect(5, 5, 15, 15)))).toBe(75)
    expect(polygonIou(L, rect(5, 5, 15, 15))).toBeCloseTo(75 / (300 + 100 - 75), 12)
  })
})
