/**
 * Polygon geometry for text detection: the subset of Clipper (Angus Johnson's polygon clipping
 * library, which PaddleOCR reaches through pyclipper) that DB's targets and post-processing use, and
 * what OpenCV and Shapely give them (polygon fill, minimum-area rectangle, polygon IoU).
 *
 * - `offsetPolygon`: ClipperOffset with round joins on one closed path (JT_ROUND, ET_CLOSEDPOLYGON):
 *   the raw offset path as Clipper builds it (edges moved by delta along their normals, arcs of
 *   ArcTolerance 0.25 at the vertices the offset opens, the vertex itself between the two offset
 *   points where it closes), points rounded to integers as Clipper's are. Clipper then unions that
 *   path with the positive fill rule; here the union is left implicit: `fillPolygon(..., 'positive')`
 *   rasterises exactly the points of positive winding, and the convex hull (all that a minimum-area
 *   rectangle reads) of the raw path of an outward offset equals that of the union, because the extra
 *   points Clipper removes lie inside it.
 * - `fillPolygon`: cv2.fillPoly semantics for integer vertices: every pixel centre inside the polygon
 *   or on its boundary.
 * - `minAreaRect` / `miniBox`: cv2.minAreaRect by rotating calipers over the convex hull, and
 *   PaddleOCR's `get_mini_boxes` corner order.
 * - `polygonIou`: Shapely's intersection / union area for a simple polygon and a convex one
 *   (Sutherland-Hodgman clipping).
 *
 * Points are [x, y] pairs; y grows downwards (image coordinates).
 */

export type Point = readonly [number, number]
export type Polygon = readonly Point[]

/** Signed shoelace area: positive for polygons counter-clockwise in y-up axes (clockwise on screen). */
export function signedArea(p: Polygon): number {
  let s = 0
  for (let i = 0; i < p.length; i++) {
    const [x1, y1] = p[i]!
    const [x2, y2] = p[(i + 1) % p.length]!
    s += x1 * y2 - x2 * y1
  }
  return s / 2
}

export const polygonArea = (p: Polygon): number => Math.abs(signedArea(p))

export function perimeter(p: Polygon): number {
  let s = 0
  for (let i = 0; i < p.length; i++) {
    const [x1, y1] = p[i]!
    const [x2, y2] = p[(i + 1) % p.length]!
    s += Math.hypot(x2 - x1, y2 - y1)
  }
  return s
}

/** Clipper's default ArcTolerance: an arc deviates at most this far (pixels) from the true circle. */
export const ARC_TOLERANCE = 0.25

/**
 * The raw ClipperOffset path of a closed polygon moved by `delta` (positive: outwards, negative:
 * inwards) with round joins; see the module comment. Input points are truncated to integers, as
 * pyclipper does; repeated points are dropped. Fewer than 3 distinct points give [].
 */
export function offsetPolygon(poly: Polygon, delta: number, arcTolerance = ARC_TOLERANCE): Point[] {
  let src: Point[] = []
  for (const [x, y] of poly) {
    const q: Point = [Math.trunc(x), Math.trunc(y)]
    const last = src[src.length - 1]
    if (!last || last[0] !== q[0] || last[1] !== q[1]) src.push(q)
  }
  while (src.length > 1 && src[0]![0] === src[src.length - 1]![0] && src[0]![1] === src[src.length - 1]![1]) src.pop()
  if (src.length < 3) return []
  // Clipper offsets outwards for positive delta whatever the orientation
  if (signedArea(src) < 0) src = src.reverse()
  if (delta === 0) return src.map(([x, y]) => [x, y])
  const n = src.length
  const normals: Point[] = src.map(([x1, y1], i) => {
    const [x2, y2] = src[(i + 1) % n]!
    const L = Math.hypot(x2 - x1, y2 - y1)
    return [(y2 - y1) / L, -(x2 - x1) / L] // outward normal of edge i -> i+1
  })
  let steps = Math.PI / Math.acos(1 - Math.min(arcTolerance, Math.abs(delta) * 0.25) / Math.abs(delta))
  if (steps > Math.abs(delta) * Math.PI) steps = Math.abs(delta) * Math.PI
  const stepSin = Math.sin((2 * Math.PI) / steps) * (delta < 0 ? -1 : 1)
  const stepCos = Math.cos((2 * Math.PI) / steps)
  const stepsPerRad = steps / (2 * Math.PI)
  const out: Point[] = []
  const push = (x: number, y: number): void => void out.push([Math.round(x), Math.round(y)])
  for (let j = 0; j < n; j++) {
    const k = (j + n - 1) % n
    const [vx, vy] = src[j]!
    const [n1x, n1y] = normals[k]!
    const [n2x, n2y] = normals[j]!
    let sinA = n1x * n2y - n2x * n1y
    const cosA = n1x * n2x + n1y * n2y
    if (Math.abs(sinA * delta) < 1) {
      // nearly parallel edges: one point unless the path doubles back
      if (cosA > 0) {
        push(vx + n1x * delta, vy + n1y * delta)
        continue
      }
    }
    sinA = Math.max(-1, Math.min(1, sinA))
    if (sinA * delta < 0) {
      // the offset closes here: both offset points with the vertex between (removed by the union)
      push(vx + n1x * delta, vy + n1y * delta)
      push(vx, vy)
      push(vx + n2x * delta, vy + n2y * delta)
    } else {
      const a = Math.atan2(sinA, cosA)
      const count = Math.max(Math.round(stepsPerRad * Math.abs(a)), 1)
      let X = n1x
      let Y = n1y
      for (let i = 0; i < count; i++) {
        push(vx + X * delta, vy + Y * delta)
        const X2 = X
        X = X * stepCos - stepSin * Y
        Y = X2 * stepSin + Y * stepCos
      }
      push(vx + n2x * delta, vy + n2y * delta)
    }
  }
  return out
}

/**
 * Sets `value` at every pixel (x, y) of a width x height plane whose centre lies in the closure of
 * the region the path encloses: winding != 0 (`nonzero`) or > 0 (`positive`, Clipper's union of an
 * offset path; winding counted for the path in the orientation `offsetPolygon` gives). Vertices are
 * truncated to integers first, as PaddleOCR's `astype(np.int32)` before cv2.fillPoly.
 */
export function fillPolygon(plane: Float32Array | Uint8Array, width: number, height: number, poly: Polygon, value: number, rule: 'nonzero' | 'positive' = 'nonzero'): void {
  if (poly.length < 3) return
  const path: Point[] = poly.map(([x, y]) => [Math.trunc(x), Math.trunc(y)])
  let y0 = Infinity
  let y1 = -Infinity
  for (const [, y] of path) {
    y0 = Math.min(y0, y)
    y1 = Math.max(y1, y)
  }
  const inside = (w: number): boolean => (rule === 'positive' ? w > 0 : w !== 0)
  const eps = 1e-7
  for (let y = Math.max(0, y0); y <= Math.min(height - 1, y1); y++) {
    // spans just above and just below the row: their union is the closure of the region on the row
    for (const yy of [y - eps, y + eps]) {
      const xs: { x: number; d: number }[] = []
      for (let i = 0; i < path.length; i++) {
        const [xa, ya] = path[i]!
        const [xb, yb] = path[(i + 1) % path.length]!
        if ((ya <= yy && yb > yy) || (yb <= yy && ya > yy)) xs.push({ x: xa + ((yy - ya) * (xb - xa)) / (yb - ya), d: yb > ya ? 1 : -1 })
      }
      xs.sort((a, b) => a.x - b.x)
      // winding between crossings i and i+1: minus the directions crossed so far (+1 where y grows)
      let w = 0
      for (let i = 0; i + 1 < xs.length; i++) {
        w -= xs[i]!.d
        if (!inside(w)) continue
        const from = Math.max(0, Math.ceil(xs[i]!.x - 1e-6))
        const to = Math.min(width - 1, Math.floor(xs[i + 1]!.x + 1e-6))
        for (let x = from; x <= to; x++) plane[y * width + x] = value
      }
    }
  }
}

/** Convex hull (Andrew's monotone chain), counter-clockwise in y-up axes, collinear points dropped. */
export function convexHull(points: readonly Point[]): Point[] {
  const p = [...points].sort((a, b) => a[0] - b[0] || a[1] - b[1])
  if (p.length < 3) return p
  const cross = (o: Point, a: Point, b: Point): number => (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])
  const lower: Point[] = []
  for (const q of p) {
    while (lower.length >= 2 && cross(lower[lower.length - 2]!, lower[lower.length - 1]!, q) <= 0) lower.pop()
    lower.push(q)
  }
  const upper: Point[] = []
  for (let i = p.length - 1; i >= 0; i--) {
    const q = p[i]!
    while (upper.length >= 2 && cross(upper[upper.length - 2]!, upper[upper.length - 1]!, q) <= 0) upper.pop()
    upper.push(q)
  }
  return [...lower.slice(0, -1), ...upper.slice(0, -1)]
}

/** A rotated rectangle: its four corners (in hull order) and side lengths. */
export interface RotatedRect {
  corners: Point[]
  width: number
  height: number
}

/** The smallest-area rectangle around `points` (cv2.minAreaRect): rotating calipers on the hull. */
export function minAreaRect(points: readonly Point[]): RotatedRect {
  const h = convexHull(points)
  if (h.length === 0) return { corners: [], width: 0, height: 0 }
  if (h.length === 1) return { corners: [h[0]!, h[0]!, h[0]!, h[0]!], width: 0, height: 0 }
  let best: RotatedRect | null = null
  let bestArea = Infinity
  for (let i = 0; i < h.length; i++) {
    const [ax, ay] = h[i]!
    const [bx, by] = h[(i + 1) % h.length]!
    const L = Math.hypot(bx - ax, by - ay)
    if (L === 0) continue
    const ux = (bx - ax) / L
    const uy = (by - ay) / L
    let minU = Infinity
    let maxU = -Infinity
    let minV = Infinity
    let maxV = -Infinity
    for (const [x, y] of h) {
      const u = (x - ax) * ux + (y - ay) * uy
      const v = -(x - ax) * uy + (y - ay) * ux
      minU = Math.min(minU, u)
      maxU = Math.max(maxU, u)
      minV = Math.min(minV, v)
      maxV = Math.max(maxV, v)
    }
    const area = (maxU - minU) * (maxV - minV)
    if (area < bestArea - 1e-9) {
      bestArea = area
      const at = (u: number, v: number): Point => [ax + u * ux - v * uy, ay + u * uy + v * ux]
      best = { corners: [at(minU, minV), at(maxU, minV), at(maxU, maxV), at(minU, maxV)], width: maxU - minU, height: maxV - minV }
    }
  }
  return best!
}

/**
 * PaddleOCR's `get_mini_boxes`: the minimum-area rectangle's corners ordered top-left, top-right,
 * bottom-right, bottom-left (the two leftmost by x, the upper of them first), and its shorter side.
 */
export function miniBox(points: readonly Point[]): { box: Point[]; sside: number } {
  const r = minAreaRect(points)
  if (r.corners.length < 4) return { box: [], sside: 0 }
  const c = [...r.corners].sort((a, b) => a[0] - b[0])
  const [i1, i4] = c[1]![1] > c[0]![1] ? [0, 1] : [1, 0]
  const [i2, i3] = c[3]![1] > c[2]![1] ? [2, 3] : [3, 2]
  return { box: [c[i1]!, c[i2]!, c[i3]!, c[i4]!], sside: Math.min(r.width, r.height) }
}

/** Whether a polygon is convex (either orientation; collinear points allowed). */
export function isConvex(p: Polygon): boolean {
  let sign = 0
  for (let i = 0; i < p.length; i++) {
    const [ax, ay] = p[i]!
    const [bx, by] = p[(i + 1) % p.length]!
    const [cx, cy] = p[(i + 2) % p.length]!
    const z = (bx - ax) * (cy - by) - (by - ay) * (cx - bx)
    if (z === 0) continue
    if (sign === 0) sign = Math.sign(z)
    else if (Math.sign(z) !== sign) return false
  }
  return true
}

/** The part of `subject` inside the convex polygon `clip` (Sutherland-Hodgman). */
export function clipByConvex(subject: Polygon, clip: Polygon): Point[] {
  let c = [...clip]
  if (signedArea(c) < 0) c = c.reverse()
  let out: Point[] = [...subject]
  for (let i = 0; i < c.length && out.length; i++) {
    const [ax, ay] = c[i]!
    const [bx, by] = c[(i + 1) % c.length]!
    const side = ([x, y]: Point): number => (bx - ax) * (y - ay) - (by - ay) * (x - ax)
    const input = out
    out = []
    for (let j = 0; j < input.length; j++) {
      const p = input[j]!
      const q = input[(j + 1) % input.length]!
      const sp = side(p)
      const sq = side(q)
      if (sp >= 0) out.push(p)
      if ((sp >= 0) !== (sq >= 0)) {
        const t = sp / (sp - sq)
        out.push([p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])])
      }
    }
  }
  return out
}

/**
 * Intersection over union of two polygons, at least one of them convex (a detector's box); 0 when
 * the union is empty. Two non-convex polygons are refused (a caller passes the convex one second).
 */
export function polygonIou(a: Polygon, b: Polygon): number {
  const [s, c] = isConvex(b) ? [a, b] : isConvex(a) ? [b, a] : [null, null]
  if (!s || !c) throw new Error('polygonIou: one of the polygons must be convex')
  const inter = polygonArea(clipByConvex(s, c))
  const union = polygonArea(a) + polygonArea(b) - inter
  return union > 0 ? inter / union : 0
}

/** Area of the intersection of `a` with a convex `b`. */
export const intersectionArea = (a: Polygon, b: Polygon): number => polygonArea(clipByConvex(a, b))
