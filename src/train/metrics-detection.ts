/**
 * COCO detection metrics with pycocotools' COCOeval algorithm (cocoeval.py), for boxes ('bbox') or
 * instance masks ('segm'):
 * - per image and category, detections sorted by score (stable) and cut to the largest maxDets
 *   (100); for each IoU threshold 0.50:0.05:0.95 each detection in turn takes the unmatched ground
 *   truth of highest IoU >= the threshold, preferring regular ground truth over ignored;
 * - crowd ground truth (`iscrowd`) is ignored: a detection on it counts neither way, and it can
 *   absorb any number of detections; its IoU is intersection over the detection's area alone;
 * - ground truth flagged `ignore` (Pascal VOC's `difficult` objects) is ignored the same way, with
 *   the usual IoU: as VOC's devkit (and Detectron2's VOC evaluator) it counts neither as a miss nor,
 *   when a detection hits it, as a false positive, however many detections do;
 * - area ranges all / small (< 32²) / medium / large (> 96²) use the ground truth's `area` (the
 *   COCO annotation's, else the box or mask area); ground truth outside the range is ignored,
 *   and so are unmatched detections outside it;
 * - precision at the 101 recall points 0:0.01:1, after making precision monotone (the
 *   "interpolated" precision), averaged over thresholds and categories that have ground truth.
 * Categories are the labels in `categories`, else every label seen in the ground truth or the
 * detections (as torchmetrics' MeanAveragePrecision); a category without ground truth is -1 and
 * left out of the means, as COCOeval does.
 */
import { boxAreas } from '../data/boxes.js'
import { rleArea, rleIou, type Rle } from '../data/rle.js'

/** The ground truth of one image. Boxes are (N, 4) x1 y1 x2 y2. */
export interface DetectionGroundTruth {
  boxes: ArrayLike<number>
  labels: ArrayLike<number>
  /** 1 for crowd regions (default none). */
  iscrowd?: ArrayLike<number>
  /** 1 for objects a detector need not find (VOC's `difficult`; default none): see the module comment. */
  ignore?: ArrayLike<number>
  /** The areas the size ranges use (COCO's annotation `area`); default the box area ('bbox') or mask area ('segm'). */
  areas?: ArrayLike<number>
  /** Instance masks, needed for iouType 'segm'. */
  masks?: readonly Rle[]
}

/** The detections of one image. */
export interface DetectionPrediction {
  boxes: ArrayLike<number>
  scores: ArrayLike<number>
  labels: ArrayLike<number>
  masks?: readonly Rle[]
}

export interface CocoEvalOptions {
  iouType?: 'bbox' | 'segm'
  /** The category labels to evaluate (default: every label seen). */
  categories?: readonly number[]
  /** Default 0.50, 0.55, ..., 0.95. */
  iouThresholds?: readonly number[]
  /** Default 0, 0.01, ..., 1. */
  recallThresholds?: readonly number[]
  /** Three increasing limits (default 1, 10, 100); AP uses the last. */
  maxDets?: readonly [number, number, number]
}

/** The 12 numbers of COCOeval.summarize() under torchmetrics' names, plus per-category AP and AR@100. */
export interface CocoMetrics {
  map: number
  map_50: number
  map_75: number
  map_small: number
  map_medium: number
  map_large: number
  mar_1: number
  mar_10: number
  mar_100: number
  mar_small: number
  mar_medium: number
  mar_large: number
  /** The evaluated category labels, ascending. */
  classes: number[]
  /** AP@[.5:.95] and AR@100 of each category in `classes` (-1: no ground truth). */
  map_per_class: number[]
  mar_100_per_class: number[]
}

// numpy.linspace(.5, .95, 10) and linspace(0, 1, 101), element for element
const linspace = (a: number, b: number, n: number): number[] => {
  const step = (b - a) / (n - 1)
  return Array.from({ length: n }, (_, i) => (i === n - 1 ? b : i * step + a))
}
/** COCOeval's IoU thresholds, 0.50:0.05:0.95. */
export const COCO_IOU_THRESHOLDS: readonly number[] = linspace(0.5, 0.95, 10)
/** COCOeval's recall points, 0:0.01:1. */
export const COCO_RECALL_THRESHOLDS: readonly number[] = linspace(0, 1, 101)
const AREA_RANGES: readonly (readonly [number, number])[] = [
  [0, 1e5 ** 2],
  [0, 32 ** 2],
  [32 ** 2, 96 ** 2],
  [96 ** 2, 1e5 ** 2],
]

interface Instance {
  box: number[] // x y w h, as COCO stores it
  area: number
  crowd: boolean
  /** VOC's difficult: ignored like crowd, with the usual IoU. */
  ignore: boolean
  mask: Rle | undefined
  score: number
}

/** One image x category after matching at every threshold, for one area range (COCOeval.evaluateImg). */
interface ImageEval {
  scores: number[] // detections, score order
  matched: Uint8Array[] // [t][d]
  ignoredDt: Uint8Array[] // [t][d]
  gtIgnore: Uint8Array
}

function instances(
  boxes: ArrayLike<number>,
  labels: ArrayLike<number>,
  i: number,
  what: string,
  extra: { crowd?: ArrayLike<number> | undefined; ignore?: ArrayLike<number> | undefined; areas?: ArrayLike<number> | undefined; masks?: readonly Rle[] | undefined; scores?: ArrayLike<number> },
  segm: boolean,
): Map<number, Instance[]> {
  const n = labels.length
  if (boxes.length !== 4 * n && !(segm && boxes.length === 0)) throw new RangeError(`${what} ${i}: ${boxes.length / 4} boxes but ${n} labels`)
  if (segm && (extra.masks?.length ?? -1) !== n) throw new RangeError(`${what} ${i}: iouType 'segm' needs one mask per instance (${n} labels, ${extra.masks?.length ?? 0} masks)`)
  const boxAreasOf = boxes.length ? boxAreas(boxes) : new Float64Array(n)
  const out = new Map<number, Instance[]>()
  for (let k = 0; k < n; k++) {
    const mask = extra.masks?.[k]
    const box = boxes.length ? [boxes[4 * k]!, boxes[4 * k + 1]!, boxes[4 * k + 2]! - boxes[4 * k]!, boxes[4 * k + 3]! - boxes[4 * k + 1]!] : [0, 0, 0, 0]
    const own = segm ? rleArea(mask!) : boxAreasOf[k]!
    const inst: Instance = { box, area: extra.areas?.[k] ?? own, crowd: !!extra.crowd?.[k], ignore: !!extra.ignore?.[k], mask, score: extra.scores?.[k] ?? 0 }
    const l = labels[k]!
    const list = out.get(l)
    if (list) list.push(inst)
    else out.set(l, [inst])
  }
  return out
}

// maskApi.c bbIou on [x, y, w, h]
function bboxIou(d: number[], g: number[], crowd: boolean): number {
  const w = Math.min(d[2]! + d[0]!, g[2]! + g[0]!) - Math.max(d[0]!, g[0]!)
  if (w <= 0) return 0
  const h = Math.min(d[3]! + d[1]!, g[3]! + g[1]!) - Math.max(d[1]!, g[1]!)
  if (h <= 0) return 0
  const i = w * h
  const da = d[2]! * d[3]!
  return i / (crowd ? da : da + g[2]! * g[3]! - i)
}

function evaluateImage(gts: Instance[], dts: Instance[], ious: Float64Array, range: readonly [number, number], maxDet: number, thresholds: readonly number[]): ImageEval {
  const G = gts.length
  // ground truth: regular first, ignored last (stable)
  const gIgnore = gts.map((g) => (g.crowd || g.ignore || g.area < range[0] || g.area > range[1] ? 1 : 0))
  const order = Array.from({ length: G }, (_, i) => i).sort((a, b) => gIgnore[a]! - gIgnore[b]! || a - b)
  const gtIgnore = Uint8Array.from(order.map((i) => gIgnore[i]!))
  // crowd and difficult ground truth take any number of detections
  const absorbs = order.map((i) => gts[i]!.crowd || gts[i]!.ignore)
  const D = Math.min(dts.length, maxDet)
  const matched: Uint8Array[] = []
  const ignoredDt: Uint8Array[] = []
  for (const t of thresholds) {
    const gtm = new Uint8Array(G)
    const dtm = new Uint8Array(D)
    const dtIg = new Uint8Array(D)
    for (let d = 0; d < D; d++) {
      let best = Math.min(t, 1 - 1e-10)
      let m = -1
      for (let gi = 0; gi < G; gi++) {
        if (gtm[gi] && !absorbs[gi]) continue
        if (m > -1 && gtIgnore[m] === 0 && gtIgnore[gi] === 1) break
        const iou = ious[d * G + order[gi]!]!
        if (iou < best) continue
        best = iou
        m = gi
      }
      if (m === -1) continue
      dtIg[d] = gtIgnore[m]!
      dtm[d] = 1
      gtm[m] = 1
    }
    for (let d = 0; d < D; d++) {
      const a = dts[d]!.area
      if (!dtm[d] && (a < range[0] || a > range[1])) dtIg[d] = 1
    }
    matched.push(dtm)
    ignoredDt.push(dtIg)
  }
  return { scores: dts.slice(0, D).map((d) => d.score), matched, ignoredDt, gtIgnore }
}

/** Index of the first element of ascending `a` that is >= v (numpy.searchsorted side='left'). */
function searchLeft(a: Float64Array, v: number): number {
  let lo = 0
  let hi = a.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (a[mid]! < v) lo = mid + 1
    else hi = mid
  }
  return lo
}

/**
 * COCO mAP/mAR of `predictions` against `groundTruth` (one entry per image, in the same order),
 * as pycocotools' COCOeval evaluate() + accumulate() + summarize(). See the module comment.
 */
export function cocoEvaluate(groundTruth: readonly DetectionGroundTruth[], predictions: readonly DetectionPrediction[], opts: CocoEvalOptions = {}): CocoMetrics {
  if (groundTruth.length !== predictions.length) throw new RangeError(`cocoEvaluate: ${groundTruth.length} ground-truth images but ${predictions.length} prediction images`)
  const segm = opts.iouType === 'segm'
  const T = opts.iouThresholds ?? COCO_IOU_THRESHOLDS
  const R = opts.recallThresholds ?? COCO_RECALL_THRESHOLDS
  const maxDets = opts.maxDets ?? [1, 10, 100]
  const maxDet = maxDets[2]
  const gtBy = groundTruth.map((g, i) => instances(g.boxes, g.labels, i, 'ground truth', { crowd: g.iscrowd, ignore: g.ignore, areas: g.areas, masks: g.masks }, segm))
  const dtBy = predictions.map((p, i) => {
    if (p.scores.length !== p.labels.length) throw new RangeError(`predictions ${i}: ${p.scores.length} scores but ${p.labels.length} labels`)
    return instances(p.boxes, p.labels, i, 'predictions', { masks: p.masks, scores: p.scores }, segm)
  })
  let classes: number[]
  if (opts.categories) classes = [...new Set(opts.categories)].sort((a, b) => a - b)
  else {
    const seen = new Set<number>()
    for (const m of [...gtBy, ...dtBy]) for (const k of m.keys()) seen.add(k)
    classes = [...seen].sort((a, b) => a - b)
  }
  const K = classes.length
  const A = AREA_RANGES.length
  const M = maxDets.length
  // precision[t][r] per (k, a, m), recall[t] per (k, a, m); -1 where a category has no ground truth
  const precision = new Float64Array(T.length * R.length * K * A * M).fill(-1)
  const recall = new Float64Array(T.length * K * A * M).fill(-1)
  const pIdx = (t: number, r: number, k: number, a: number, m: number): number => (((t * R.length + r) * K + k) * A + a) * M + m
  const rIdx = (t: number, k: number, a: number, m: number): number => ((t * K + k) * A + a) * M + m

  for (let k = 0; k < K; k++) {
    const cat = classes[k]!
    // per image: sorted detections and IoUs (COCOeval.computeIoU)
    const perImage: { gts: Instance[]; dts: Instance[]; ious: Float64Array }[] = []
    for (let i = 0; i < groundTruth.length; i++) {
      const gts = gtBy[i]!.get(cat) ?? []
      const dtsAll = dtBy[i]!.get(cat) ?? []
      if (gts.length === 0 && dtsAll.length === 0) continue
      const dts = dtsAll
        .map((d, j) => ({ d, j }))
        .sort((p, q) => q.d.score - p.d.score || p.j - q.j)
        .slice(0, maxDet)
        .map((x) => x.d)
      const ious = new Float64Array(dts.length * gts.length)
      for (let d = 0; d < dts.length; d++) {
        for (let g = 0; g < gts.length; g++) {
          const gt = gts[g]!
          const dt = dts[d]!
          ious[d * gts.length + g] = segm ? rleIou(dt.mask!, gt.mask!, gt.crowd) : bboxIou(dt.box, gt.box, gt.crowd)
        }
      }
      perImage.push({ gts, dts, ious })
    }
    if (perImage.length === 0) continue
    for (let a = 0; a < A; a++) {
      const E = perImage.map((p) => evaluateImage(p.gts, p.dts, p.ious, AREA_RANGES[a]!, maxDet, T))
      let npig = 0
      for (const e of E) for (const g of e.gtIgnore) if (g === 0) npig++
      if (npig === 0) continue
      for (let m = 0; m < M; m++) {
        const lim = maxDets[m]!
        // every image's first `lim` detections, merged by score (stable, image order on ties)
        const refs: { e: number; d: number; s: number }[] = []
        E.forEach((e, ei) => {
          for (let d = 0; d < Math.min(lim, e.scores.length); d++) refs.push({ e: ei, d, s: e.scores[d]! })
        })
        refs.sort((p, q) => q.s - p.s)
        const nd = refs.length
        for (let t = 0; t < T.length; t++) {
          const rc = new Float64Array(nd)
          const pr = new Float64Array(nd)
          let tp = 0
          let fp = 0
          for (let j = 0; j < nd; j++) {
            const { e, d } = refs[j]!
            const ig = E[e]!.ignoredDt[t]![d]!
            const mt = E[e]!.matched[t]![d]!
            if (!ig) {
              if (mt) tp++
              else fp++
            }
            rc[j] = tp / npig
            pr[j] = tp / (fp + tp + Number.EPSILON)
          }
          recall[rIdx(t, k, a, m)] = nd ? rc[nd - 1]! : 0
          for (let j = nd - 1; j > 0; j--) if (pr[j]! > pr[j - 1]!) pr[j - 1] = pr[j]!
          for (let r = 0; r < R.length; r++) {
            const pi = searchLeft(rc, R[r]!)
            precision[pIdx(t, r, k, a, m)] = pi < nd ? pr[pi]! : 0
          }
        }
      }
    }
  }

  const tIndex = (v: number): number => T.findIndex((t) => Math.abs(t - v) < 1e-12)
  const meanAp = (ts: number[], ks: number[], a: number): number => {
    let s = 0
    let c = 0
    for (const t of ts) for (let r = 0; r < R.length; r++) for (const k of ks) {
      const v = precision[pIdx(t, r, k, a, M - 1)]!
      if (v > -1) {
        s += v
        c++
      }
    }
    return c ? s / c : -1
  }
  const meanAr = (ks: number[], a: number, m: number): number => {
    let s = 0
    let c = 0
    for (let t = 0; t < T.length; t++) for (const k of ks) {
      const v = recall[rIdx(t, k, a, m)]!
      if (v > -1) {
        s += v
        c++
      }
    }
    return c ? s / c : -1
  }
  const allT = T.map((_, i) => i)
  const allK = classes.map((_, i) => i)
  const at = (v: number): number => {
    const i = tIndex(v)
    return i < 0 ? -1 : meanAp([i], allK, 0)
  }
  return {
    map: meanAp(allT, allK, 0),
    map_50: at(0.5),
    map_75: at(0.75),
    map_small: meanAp(allT, allK, 1),
    map_medium: meanAp(allT, allK, 2),
    map_large: meanAp(allT, allK, 3),
    mar_1: meanAr(allK, 0, 0),
    mar_10: meanAr(allK, 0, 1),
    mar_100: meanAr(allK, 0, 2),
    mar_small: meanAr(allK, 1, 2),
    mar_medium: meanAr(allK, 2, 2),
    mar_large: meanAr(allK, 3, 2),
    classes,
    map_per_class: allK.map((k) => meanAp(allT, [k], 0)),
    mar_100_per_class: allK.map((k) => meanAr([k], 0, 2)),
  }
}
