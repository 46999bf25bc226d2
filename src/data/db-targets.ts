/**
 * Training targets of Differentiable Binarization (Liao et al. 2020, https://arxiv.org/abs/1911.08947)
 * as PaddleOCR makes them (ppocr/data/imaug/make_border_map.py, make_shrink_map.py, after
 * DBNet.pytorch):
 * - shrink map: each text polygon shrunk by the Vatti clipping offset D = A (1 - r^2) / L (r = 0.4)
 *   and filled with 1; the shrink mask is 0 over polygons marked ignore ("###"), too small (shorter
 *   side < 8 px) or shrunk to nothing. When the shrink splits a polygon in pieces, r = 0.8 is tried
 *   (PaddleOCR's `np.arange(r, 1, r)`); pieces are kept if it still splits.
 * - threshold (border) map: around each polygon, out to its outward offset by D, 1 - d / D with d the
 *   distance to the nearest edge (PaddleOCR's point-to-edge formula, which takes the nearer endpoint
 *   where the angle the edge subtends at the pixel is acute), max over polygons, then scaled to
 *   [thresh_min, thresh_max] = [0.3, 0.7]; the threshold mask is the outward offsets filled.
 * Ignored polygons add nothing to the border map (it runs before the shrink map marks small ones,
 * as in PaddleOCR's pipeline order).
 */
import { fillPolygon, offsetPolygon, perimeter, polygonArea, signedArea, type Point, type Polygon } from './polygon.js'

export interface DbTargetOptions {
  shrinkRatio: number
  minTextSize: number
  threshMin: number
  threshMax: number
}

export const DB_TARGET_DEFAULTS = { shrinkRatio: 0.4, minTextSize: 8, threshMin: 0.3, threshMax: 0.7 } as const satisfies DbTargetOptions

/** The four target planes of one image, each height x width, row-major. */
export interface DbTargets {
  shrinkMap: Float32Array
  shrinkMask: Float32Array
  thresholdMap: Float32Array
  thresholdMask: Float32Array
}

/** Pixels set in a 0/1 plane, counted by 8-connected component. */
function components(plane: Float32Array, width: number, height: number): number {
  const seen = new Uint8Array(plane.length)
  let n = 0
  const stack: number[] = []
  for (let i = 0; i < plane.length; i++) {
    if (!plane[i] || seen[i]) continue
    n++
    seen[i] = 1
    stack.push(i)
    while (stack.length) {
      const j = stack.pop()!
      const x = j % width
      const y = (j - x) / width
      for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) {
        const xx = x + dx
        const yy = y + dy
        if (xx < 0 || yy < 0 || xx >= width || yy >= height) continue
        const k = yy * width + xx
        if (plane[k] && !seen[k]) {
          seen[k] = 1
          stack.push(k)
        }
      }
    }
  }
  return n
}

/** PaddleOCR's point-to-edge distance for the border map (see the module comment). */
function edgeDistance(x: number, y: number, a: Point, b: Point): number {
  const d1 = (x - a[0]) ** 2 + (y - a[1]) ** 2
  const d2 = (x - b[0]) ** 2 + (y - b[1]) ** 2
  const d = (a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2
  if (d1 === 0 || d2 === 0) return 0
  const cosin = (d - d1 - d2) / (2 * Math.sqrt(d1 * d2))
  if (cosin < 0) return Math.sqrt(Math.min(d1, d2))
  const sin2 = Math.max(0, 1 - cosin * cosin)
  return Math.sqrt((d1 * d2 * sin2) / d)
}

function drawBorder(poly: Polygon, canvas: Float32Array, mask: Float32Array, width: number, height: number, r: number): void {
  const area = polygonArea(poly)
  if (area <= 0) return
  const D = (area * (1 - r * r)) / perimeter(poly)
  const padded = offsetPolygon(poly, D)
  if (padded.length < 3) return
  fillPolygon(mask, width, height, padded, 1, 'positive')
  const xs = padded.map((p) => p[0])
  const ys = padded.map((p) => p[1])
  const [xmin, xmax, ymin, ymax] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)]
  for (let y = Math.max(0, ymin); y <= Math.min(height - 1, ymax); y++)
    for (let x = Math.max(0, xmin); x <= Math.min(width - 1, xmax); x++) {
      let d = 1
      for (let i = 0; i < poly.length; i++) d = Math.min(d, Math.min(1, Math.max(0, edgeDistance(x, y, poly[i]!, poly[(i + 1) % poly.length]!) / D)))
      const k = y * width + x
      canvas[k] = Math.max(canvas[k]!, 1 - d)
    }
}

/**
 * DB targets for one image of width x height with text `polygons` (pixels); `ignore[i]` marks
 * polygons that only mask out their area (PaddleOCR's "###" transcriptions).
 */
export function makeDbTargets(width: number, height: number, polygons: readonly Polygon[], ignore: readonly boolean[], o: DbTargetOptions = DB_TARGET_DEFAULTS): DbTargets {
  const n = width * height
  const thresholdMap = new Float32Array(n)
  const thresholdMask = new Float32Array(n)
  polygons.forEach((p, i) => {
    if (!ignore[i]) drawBorder(p, thresholdMap, thresholdMask, width, height, o.shrinkRatio)
  })
  for (let i = 0; i < n; i++) thresholdMap[i] = thresholdMap[i]! * (o.threshMax - o.threshMin) + o.threshMin

  const shrinkMap = new Float32Array(n)
  const shrinkMask = new Float32Array(n).fill(1)
  const piece = new Float32Array(n)
  polygons.forEach((p0, i) => {
    // PaddleOCR clips the points into the image first; polygons under 1 px^2 are ignored
    const p: Point[] = p0.map(([x, y]) => [Math.min(Math.max(x, 0), width - 1), Math.min(Math.max(y, 0), height - 1)])
    const xs = p.map((q) => q[0])
    const ys = p.map((q) => q[1])
    const small = Math.min(Math.max(...ys) - Math.min(...ys), Math.max(...xs) - Math.min(...xs)) < o.minTextSize
    if (ignore[i] || small || Math.abs(signedArea(p)) < 1) {
      fillPolygon(shrinkMask, width, height, p, 0)
      return
    }
    const area = polygonArea(p)
    const L = perimeter(p)
    let done = false
    for (let r = o.shrinkRatio; r < 1 - 1e-9 && !done; r += o.shrinkRatio) {
      const D = (area * (1 - r * r)) / L
      piece.fill(0)
      const path = offsetPolygon(p, -D)
      if (path.length >= 3) fillPolygon(piece, width, height, path, 1, 'positive')
      const parts = components(piece, width, height)
      if (parts === 1 || (parts > 0 && r + o.shrinkRatio >= 1 - 1e-9)) done = true
      else if (parts === 0 && r + o.shrinkRatio >= 1 - 1e-9) break
    }
    if (!done) {
      fillPolygon(shrinkMask, width, height, p, 0)
      return
    }
    for (let k = 0; k < n; k++) if (piece[k]) shrinkMap[k] = 1
  })
  return { shrinkMap, shrinkMask, thresholdMap, thresholdMask }
}
