import { describe, expect, it } from 'vitest'
import { rleArea, rleDecode, rleEncode, rleFromPolygon, rleFromPolygons, rleFromString, rleIou, rleMerge, rleToBbox, rleToString } from './rle.js'

/** Even-odd test of the point (px, py) against a polygon [x0, y0, ...]. */
function inside(poly: number[], px: number, py: number): boolean {
  let c = false
  for (let i = 0, j = poly.length / 2 - 1; i < poly.length / 2; j = i++) {
    const [xi, yi, xj, yj] = [poly[2 * i]!, poly[2 * i + 1]!, poly[2 * j]!, poly[2 * j + 1]!]
    if (yi > py !== yj > py && px < ((xj - xi) * (py - yi)) / (yj - yi) + xi) c = !c
  }
  return c
}

function distanceToEdges(poly: number[], px: number, py: number): number {
  let best = Infinity
  const n = poly.length / 2
  for (let i = 0; i < n; i++) {
    const [ax, ay, bx, by] = [poly[2 * i]!, poly[2 * i + 1]!, poly[(2 * i + 2) % (2 * n)]!, poly[(2 * i + 3) % (2 * n)]!]
    const t = Math.max(0, Math.min(1, ((px - ax) * (bx - ax) + (py - ay) * (by - ay)) / ((bx - ax) ** 2 + (by - ay) ** 2)))
    best = Math.min(best, Math.hypot(px - ax - t * (bx - ax), py - ay - t * (by - ay)))
  }
  return best
}

describe('RLE masks (pycocotools maskApi)', () => {
  it('encodes column-major, starting with a 0-run, and decodes back', () => {
    // 3x4, rows top to bottom
    const m = Uint8Array.from([0, 1, 1, 0, 0, 1, 0, 0, 1, 1, 0, 0])
    const r = rleEncode(m, 3, 4)
    // columns: [0,0,1], [1,1,1], [1,0,0], [0,0,0]
    expect([...r.counts]).toEqual([2, 5, 5])
    expect([...rleDecode(r)]).toEqual([...m])
    expect(rleArea(r)).toBe(5)
    expect(rleToBbox(r)).toEqual([0, 0, 3, 3])
  })

  it('an axis-aligned square polygon covers the pixels whose centres are inside', () => {
    const r = rleFromPolygon([0, 0, 4, 0, 4, 4, 0, 4], 6, 6)
    expect(rleArea(r)).toBe(16)
    expect(rleToBbox(r)).toEqual([0, 0, 4, 4])
    const r2 = rleFromPolygon([1.2, 2.4, 3.6, 2.4, 3.6, 5, 1.2, 5], 8, 8)
    // centres 1.5, 2.5, 3.5 in x; 2.5, 3.5, 4.5 in y
    expect(rleArea(r2)).toBe(9)
    expect(rleToBbox(r2)).toEqual([1, 2, 3, 3])
  })

  it('a triangle follows the even-odd pixel-centre rule away from its edges', () => {
    const poly = [2.2, 1.4, 17.8, 6.2, 6.6, 14.8]
    const [h, w] = [16, 20]
    const mask = rleDecode(rleFromPolygon(poly, h, w))
    let disagree = 0
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
      const want = inside(poly, x + 0.5, y + 0.5)
      if (!!mask[y * w + x] !== want) {
        disagree++
        // pycocotools snaps the traced outline to 1/5 pixel: only centres next to an edge may differ
        expect(distanceToEdges(poly, x + 0.5, y + 0.5)).toBeLessThan(0.2)
      }
    }
    expect(disagree).toBeLessThanOrEqual(3)
  })

  it('merges the polygons of one object by union', () => {
    const a = [0, 0, 2, 0, 2, 2, 0, 2]
    const b = [1, 1, 3, 1, 3, 3, 1, 3]
    const u = rleFromPolygons([a, b], 4, 4)
    expect(rleArea(u)).toBe(7)
    const i = rleMerge([rleFromPolygon(a, 4, 4), rleFromPolygon(b, 4, 4)], true)
    expect(rleArea(i)).toBe(1)
  })

  it('mask IoU, and crowd IoU over the detection area alone', () => {
    const d = rleFromPolygon([0, 0, 2, 0, 2, 2, 0, 2], 4, 4)
    const g = rleFromPolygon([1, 0, 4, 0, 4, 2, 1, 2], 4, 4)
    expect(rleIou(d, g)).toBeCloseTo(2 / 8, 12)
    expect(rleIou(d, g, true)).toBeCloseTo(2 / 4, 12)
  })

  it('compressed strings round-trip and decode as pycocotools writes them', () => {
    const m = new Uint8Array(40 * 30)
    for (let y = 5; y < 25; y++) for (let x = 3; x < 37; x++) if ((x * 7 + y * 3) % 11 < 6) m[y * 40 + x] = 1
    const r = rleEncode(m, 30, 40)
    const s = rleToString(r)
    expect([...rleFromString(s, 30, 40).counts]).toEqual([...r.counts])
    // counts [1, 2, 300, 4] -> '1' (1), '2' (2), 300 as two 5-bit groups '\\9', 4 - 2 = 2 -> '2'
    expect(rleToString({ height: 1, width: 307, counts: Uint32Array.from([1, 2, 300, 4]) })).toBe('12\\92')
    expect([...rleFromString('12\\92', 1, 307).counts]).toEqual([1, 2, 300, 4])
    expect(() => rleFromString('1 2', 1, 3)).toThrow(/not an RLE digit/)
  })
})
