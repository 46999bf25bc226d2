/**
 * DB post-processing as PaddleOCR's DBPostProcess (ppocr/postprocess/db_postprocess.py, box_type
 * 'quad', score_mode 'fast', PP-OCRv4's inference settings thresh 0.3, box_thresh 0.6, unclip_ratio
 * 1.5):
 * 1. binarise the probability map at `thresh`;
 * 2. for each 8-connected region (cv2.findContours' outer contours; the hole contours RETR_LIST
 *    also lists are not candidates here), the minimum-area rectangle of its pixels, dropped if its
 *    shorter side is under 3;
 * 3. its score: the mean probability over the rectangle's pixels (box_score_fast); dropped under
 *    `boxThresh`;
 * 4. unclip: the rectangle offset outwards by area * ratio / perimeter (Clipper, round joins), and
 *    the minimum-area rectangle of that, dropped if its shorter side is under 5;
 * 5. corners scaled from the map's size to the source image's, rounded and clipped.
 */
import { roundHalfEven } from '../../data/image-transforms.js'
import { fillPolygon, miniBox, offsetPolygon, perimeter, polygonArea, type Point } from '../../data/polygon.js'

export interface DbPostProcessOptions {
  thresh: number
  boxThresh: number
  unclipRatio: number
  maxCandidates: number
  minSize: number
}

export const DB_POSTPROCESS_DEFAULTS = { thresh: 0.3, boxThresh: 0.6, unclipRatio: 1.5, maxCandidates: 1000, minSize: 3 } as const satisfies DbPostProcessOptions

export interface TextBox {
  /** Four corners, clockwise on screen from the top-left, in source-image pixels. */
  points: Point[]
  score: number
}

/** 8-connected regions of a 0/1 plane, each as its pixel coordinates, in raster order of their first pixel. */
export function regions(bitmap: Uint8Array, width: number, height: number): Point[][] {
  const label = new Int32Array(bitmap.length).fill(-1)
  const out: Point[][] = []
  const stack: number[] = []
  for (let i = 0; i < bitmap.length; i++) {
    if (!bitmap[i] || label[i]! >= 0) continue
    const id = out.length
    const pts: Point[] = []
    label[i] = id
    stack.push(i)
    while (stack.length) {
      const j = stack.pop()!
      const x = j % width
      const y = (j - x) / width
      pts.push([x, y])
      for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) {
        const xx = x + dx
        const yy = y + dy
        if (xx < 0 || yy < 0 || xx >= width || yy >= height) continue
        const k = yy * width + xx
        if (bitmap[k] && label[k]! < 0) {
          label[k] = id
          stack.push(k)
        }
      }
    }
    out.push(pts)
  }
  return out
}

/** Mean of `pred` over the pixels of the polygon `box` (PaddleOCR's box_score_fast). */
export function boxScoreFast(pred: Float32Array, width: number, height: number, box: readonly Point[]): number {
  const xs = box.map((p) => p[0])
  const ys = box.map((p) => p[1])
  const clip = (v: number, hi: number): number => Math.min(Math.max(v, 0), hi)
  const xmin = clip(Math.floor(Math.min(...xs)), width - 1)
  const xmax = clip(Math.ceil(Math.max(...xs)), width - 1)
  const ymin = clip(Math.floor(Math.min(...ys)), height - 1)
  const ymax = clip(Math.ceil(Math.max(...ys)), height - 1)
  const w = xmax - xmin + 1
  const h = ymax - ymin + 1
  const mask = new Uint8Array(w * h)
  fillPolygon(mask, w, h, box.map(([x, y]) => [x - xmin, y - ymin]), 1)
  let s = 0
  let n = 0
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) if (mask[y * w + x]) {
    s += pred[(y + ymin) * width + x + xmin]!
    n++
  }
  return n ? s / n : 0
}

/** The polygon offset outwards by area * ratio / perimeter (PaddleOCR's unclip). */
export function unclip(box: readonly Point[], ratio: number): Point[] {
  const L = perimeter(box)
  return L > 0 ? offsetPolygon(box, (polygonArea(box) * ratio) / L) : []
}

/**
 * Text boxes from one probability map (height x width, row-major) of an image whose source size was
 * srcWidth x srcHeight (see the module comment).
 */
export function dbPostProcess(pred: Float32Array, width: number, height: number, srcWidth: number, srcHeight: number, o: DbPostProcessOptions = DB_POSTPROCESS_DEFAULTS): TextBox[] {
  const bitmap = new Uint8Array(pred.length)
  for (let i = 0; i < pred.length; i++) bitmap[i] = pred[i]! > o.thresh ? 1 : 0
  const out: TextBox[] = []
  for (const pts of regions(bitmap, width, height).slice(0, o.maxCandidates)) {
    const { box, sside } = miniBox(pts)
    if (sside < o.minSize) continue
    const score = boxScoreFast(pred, width, height, box)
    if (o.boxThresh > score) continue
    const grown = miniBox(unclip(box, o.unclipRatio))
    if (grown.sside < o.minSize + 2) continue
    const points = grown.box.map(([x, y]): Point => [Math.min(Math.max(roundHalfEven((x / width) * srcWidth), 0), srcWidth), Math.min(Math.max(roundHalfEven((y / height) * srcHeight), 0), srcHeight)])
    out.push({ points, score })
  }
  return out
}
