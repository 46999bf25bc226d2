/**
 * Text-detection hmean as PaddleOCR's DetMetric computes it (ppocr/metrics/eval_det_iou.py, after
 * the ICDAR 2015 protocol in MhLiao/DB): per image, polygons that are not simple are dropped; a
 * detection covering a "don't care" ground truth by more than half of its own area is itself not
 * counted; then ground truths and detections are matched one to one, greedily in input order, when
 * their IoU exceeds 0.5 (neither being don't care). Over all images: recall = matched / care
 * ground truths, precision = matched / care detections, hmean their harmonic mean.
 */
import { intersectionArea, isConvex, polygonArea, polygonIou, type Polygon } from '../data/polygon.js'

export interface TextRegion {
  points: Polygon
  /** Don't care ("###" transcriptions): neither a miss nor a hit. */
  ignore?: boolean
}

export interface DetCounts {
  gtCare: number
  detCare: number
  matched: number
}

export interface HmeanOptions {
  iouConstraint: number
  areaPrecisionConstraint: number
}

export const HMEAN_DEFAULTS = { iouConstraint: 0.5, areaPrecisionConstraint: 0.5 } as const satisfies HmeanOptions

const cross = (a: readonly number[], b: readonly number[], c: readonly number[]): number => (b[0]! - a[0]!) * (c[1]! - a[1]!) - (b[1]! - a[1]!) * (c[0]! - a[0]!)

/** Whether two closed segments intersect. */
function segmentsMeet(p: readonly number[], q: readonly number[], r: readonly number[], s: readonly number[]): boolean {
  const d1 = cross(r, s, p)
  const d2 = cross(r, s, q)
  const d3 = cross(p, q, r)
  const d4 = cross(p, q, s)
  if (((d1 > 0 && d2 < 0) || (d1 < 0 && d2 > 0)) && ((d3 > 0 && d4 < 0) || (d3 < 0 && d4 > 0))) return true
  const on = (a: readonly number[], b: readonly number[], c: readonly number[]): boolean => cross(a, b, c) === 0 && Math.min(a[0]!, b[0]!) <= c[0]! && c[0]! <= Math.max(a[0]!, b[0]!) && Math.min(a[1]!, b[1]!) <= c[1]! && c[1]! <= Math.max(a[1]!, b[1]!)
  return on(r, s, p) || on(r, s, q) || on(p, q, r) || on(p, q, s)
}

/** Shapely's `is_valid and is_simple` for a ring: 3+ points, non-zero area, no edge meeting a non-adjacent one. */
export function isSimplePolygon(p: Polygon): boolean {
  const n = p.length
  if (n < 3 || polygonArea(p) === 0) return false
  for (let i = 0; i < n; i++)
    for (let j = i + 1; j < n; j++) {
      if (j === i + 1 || (i === 0 && j === n - 1)) continue
      if (segmentsMeet(p[i]!, p[(i + 1) % n]!, p[j]!, p[(j + 1) % n]!)) return false
    }
  return true
}

/** Counts for one image (see the module comment). */
export function evaluateTextImage(gt: readonly TextRegion[], det: readonly TextRegion[], o: HmeanOptions = HMEAN_DEFAULTS): DetCounts {
  const gts = gt.filter((g) => isSimplePolygon(g.points))
  const dets = det.filter((d) => isSimplePolygon(d.points))
  const gtIgnore = gts.map((g) => !!g.ignore)
  const detIgnore = dets.map((d) => {
    const area = polygonArea(d.points)
    return gts.some((g, i) => gtIgnore[i] && area > 0 && overlap(g.points, d.points) / area > o.areaPrecisionConstraint)
  })
  const gtUsed = new Uint8Array(gts.length)
  const detUsed = new Uint8Array(dets.length)
  let matched = 0
  for (let i = 0; i < gts.length; i++)
    for (let j = 0; j < dets.length; j++) {
      if (gtUsed[i] || detUsed[j] || gtIgnore[i] || detIgnore[j]) continue
      if (iou(gts[i]!.points, dets[j]!.points) > o.iouConstraint) {
        gtUsed[i] = 1
        detUsed[j] = 1
        matched++
      }
    }
  return { gtCare: gtIgnore.filter((x) => !x).length, detCare: detIgnore.filter((x) => !x).length, matched }
}

// intersections need one convex side (detector boxes are); two concave polygons are refused
function overlap(a: Polygon, b: Polygon): number {
  if (isConvex(b)) return intersectionArea(a, b)
  if (isConvex(a)) return intersectionArea(b, a)
  throw new Error('text-detection metric: two non-convex polygons cannot be intersected here (detections are quadrilaterals)')
}
const iou = (a: Polygon, b: Polygon): number => polygonIou(a, b)

/** Precision, recall and hmean over images (DetectionIoUEvaluator.combine_results). */
export function combineTextCounts(counts: readonly DetCounts[]): { precision: number; recall: number; hmean: number } {
  let gt = 0
  let det = 0
  let m = 0
  for (const c of counts) {
    gt += c.gtCare
    det += c.detCare
    m += c.matched
  }
  const recall = gt === 0 ? 0 : m / gt
  const precision = det === 0 ? 0 : m / det
  return { precision, recall, hmean: recall + precision === 0 ? 0 : (2 * recall * precision) / (recall + precision) }
}
