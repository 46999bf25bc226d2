/**
 * Text-detection data: PaddleOCR's detection label file, one image per line,
 *   `path<TAB>[{"transcription": "text", "points": [[x1, y1], [x2, y2], ...]}, ...]`
 * image paths relative to the label file's folder; transcriptions "###" and "*" mark regions that
 * are neither text nor background ("don't care", as PaddleOCR's DetLabelEncode).
 *
 * Preprocessing as PaddleOCR's detector: images decoded to BGR (cv2's order, which the weights
 * expect), scaled to [0, 1] and normalised with ImageNet's mean and std per channel in that order;
 * for evaluation and prediction DetResizeForTest (the longer side limited to `limitSideLen`, both
 * sides rounded to multiples of 32). Resizing is PIL-style bilinear (cv2's INTER_LINEAR differs on
 * downscaling: it does not antialias). Training crops: the image at the scale evaluation sees it
 * (DetResizeForTest's, before rounding), times a random factor in [0.5, 1.5] when augmenting, and a
 * random (else the centre) window of `size` x `size`, padded with zeros on the right and bottom;
 * polygons move with the pixels; one the crop cuts is marked don't care, so it is masked out rather
 * than taught as background.
 */
import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { DataRowError, fileError, type OnBadRow } from '../../data/errors.js'
import { decodeImageFile } from '../../data/image-decode-node.js'
import { IMAGENET_MEAN, IMAGENET_STD } from '../../data/image-preprocessing.js'
import { augmentRng, resizeImage } from '../../data/image-transforms.js'
import type { RawImage } from '../../data/image.js'
import type { Point } from '../../data/polygon.js'
import { Rng } from '../../runtime/rng.js'

/** One labelled image. */
export interface TextImage {
  path: string
  polygons: Point[][]
  ignore: boolean[]
  /** Where it is defined (file:line) for errors. */
  file: string
  line: number
}

const IGNORED_TEXT = new Set(['###', '*'])

/** Parses one label-file line; errors name file, line and field. */
export function parseLabelLine(text: string, file: string, line: number): TextImage {
  const tab = text.indexOf('\t')
  if (tab < 0) throw new DataRowError('DATA_TEXT_LABEL', { file, line }, 'has no tab between the image path and its JSON annotations', 'write `image.jpg<TAB>[{"transcription": "...", "points": [[x, y], ...]}]` (PaddleOCR\'s label format)')
  const path = text.slice(0, tab).trim()
  let anns: unknown
  try {
    anns = JSON.parse(text.slice(tab + 1))
  } catch (e) {
    throw new DataRowError('DATA_TEXT_LABEL', { file, line, column: tab + 2 }, `the annotations are not valid JSON: ${(e as Error).message}`, 'write a JSON list of {"transcription", "points"} objects after the tab')
  }
  if (!Array.isArray(anns)) throw new DataRowError('DATA_TEXT_LABEL', { file, line }, 'the annotations are not a JSON list', 'write [{"transcription": "...", "points": [[x, y], ...]}, ...] (an image without text: [])')
  const polygons: Point[][] = []
  const ignore: boolean[] = []
  anns.forEach((a: unknown, i) => {
    const o = (a ?? {}) as { transcription?: unknown; points?: unknown }
    const pts = o.points
    const ok = Array.isArray(pts) && pts.length >= 3 && pts.every((p) => Array.isArray(p) && p.length === 2 && p.every((v) => typeof v === 'number' && Number.isFinite(v)))
    if (!ok) throw new DataRowError('DATA_TEXT_POINTS', { file, line, field: `[${i}].points` }, `[${i}].points is ${JSON.stringify(pts)?.slice(0, 80)}, not a list of 3 or more [x, y] number pairs`, 'give each region its corner points in pixels, e.g. [[10, 5], [90, 5], [90, 30], [10, 30]]')
    polygons.push((pts as number[][]).map(([x, y]) => [x!, y!]))
    ignore.push(typeof o.transcription === 'string' && IGNORED_TEXT.has(o.transcription))
  })
  return { path, polygons, ignore, file, line }
}

/** Reads a label file; bad lines throw or are skipped and counted (`onBadRow`). */
export function readLabelFile(file: string, onBadRow: OnBadRow): { images: TextImage[]; skipped: number } {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch {
    throw fileError('DATA_NOT_FOUND', file, 'cannot be read', 'pass --data with a PaddleOCR detection label file (image path, a tab, JSON annotations per line)')
  }
  const dir = dirname(resolve(file))
  const images: TextImage[] = []
  let skipped = 0
  text.split(/\r?\n/).forEach((l, i) => {
    if (!l.trim()) return
    try {
      const im = parseLabelLine(l, file, i + 1)
      images.push({ ...im, path: resolve(dir, im.path) })
    } catch (e) {
      if (onBadRow === 'skip' && e instanceof DataRowError) skipped++
      else throw e
    }
  })
  if (images.length === 0) throw fileError('DATA_EMPTY', file, 'has no annotated images', 'each line: image path, a tab, the JSON list of regions')
  return { images, skipped }
}

/** DetResizeForTest (limit_type 'max'): the size the detector sees an image of width x height at. */
export function testSize(width: number, height: number, limitSideLen: number): { width: number; height: number } {
  const ratio = Math.max(width, height) > limitSideLen ? limitSideLen / Math.max(width, height) : 1
  const r32 = (v: number): number => Math.max(Math.round(Math.trunc(v * ratio) / 32) * 32, 32)
  return { width: r32(width), height: r32(height) }
}

/** Writes `img` (RGB or gray) as a normalised BGR CHW tensor at `offset`. */
export function writeBgr(img: RawImage, out: Float32Array, offset: number): void {
  const plane = img.width * img.height
  const C = img.channels
  for (let c = 0; c < 3; c++) {
    const src = C === 1 ? 0 : 2 - c // tensor channel 0 is blue
    const m = IMAGENET_MEAN[c]!
    const s = IMAGENET_STD[c]!
    for (let i = 0; i < plane; i++) out[offset + c * plane + i] = (img.data[i * C + src]! / 255 - m) / s
  }
}

/** Decoded images, kept in memory (text-detection sets for fine-tuning are small). */
export class ImageCache {
  #m = new Map<string, Promise<RawImage>>()
  get(im: TextImage): Promise<RawImage> {
    let p = this.#m.get(im.path)
    if (!p) {
      p = decodeImageFile(im.path).catch((e: unknown) => {
        if (e instanceof DataRowError) throw new DataRowError(e.code, { file: im.file, line: im.line }, `image ${im.path}: ${e.message}`, e.hint)
        throw e
      })
      this.#m.set(im.path, p)
    }
    return p
  }
}

/** The image resized for evaluation, its polygons scaled alike. */
export function forTest(img: RawImage, im: Pick<TextImage, 'polygons'>, limitSideLen: number): { image: RawImage; polygons: Point[][] } {
  const s = testSize(img.width, img.height, limitSideLen)
  const rx = s.width / img.width
  const ry = s.height / img.height
  return { image: resizeImage(img, s.width, s.height), polygons: im.polygons.map((p) => p.map(([x, y]): Point => [x * rx, y * ry])) }
}

export interface TrainCropOptions {
  size: number
  /** Random scale factor range, times the scale evaluation sees the image at (DetResizeForTest's). */
  scale: readonly [number, number]
  /** DetResizeForTest's limit: training sees text at the scale evaluation does. */
  limitSideLen: number
}

/** A training crop (see the module comment); deterministic in (seed, epoch, id). */
export function trainCrop(img: RawImage, im: Pick<TextImage, 'polygons' | 'ignore'>, o: TrainCropOptions, rng: Rng | null): { image: RawImage; polygons: Point[][]; ignore: boolean[] } {
  const base = Math.min(1, o.limitSideLen / Math.max(img.width, img.height))
  const f = rng ? base * (o.scale[0] + rng.next() * (o.scale[1] - o.scale[0])) : base
  const w = Math.max(1, Math.round(img.width * f))
  const h = Math.max(1, Math.round(img.height * f))
  const scaled = resizeImage(img, w, h)
  // a uniform window; without augmentation the centre one
  const left = w > o.size ? (rng ? rng.int(w - o.size + 1) : Math.floor((w - o.size) / 2)) : 0
  const top = h > o.size ? (rng ? rng.int(h - o.size + 1) : Math.floor((h - o.size) / 2)) : 0
  const S = o.size
  const C = scaled.channels
  const data = new Uint8Array(S * S * C)
  for (let y = 0; y < S; y++) {
    const sy = y + top
    if (sy >= h) break
    const n = Math.min(S, w - left)
    data.set(scaled.data.subarray((sy * w + left) * C, (sy * w + left + n) * C), y * S * C)
  }
  const rx = w / img.width
  const ry = h / img.height
  const polygons = im.polygons.map((p) => p.map(([x, y]): Point => [x * rx - left, y * ry - top]))
  const inside = (p: Point[]): boolean => p.every(([x, y]) => x >= 0 && y >= 0 && x <= Math.min(S, w - left) && y <= Math.min(S, h - top))
  const outside = (p: Point[]): boolean => p.every(([x]) => x < 0) || p.every(([x]) => x > S) || p.every(([, y]) => y < 0) || p.every(([, y]) => y > S)
  const keep = polygons.map((p) => !outside(p))
  return {
    image: { width: S, height: S, channels: C, data },
    polygons: polygons.filter((_, i) => keep[i]),
    ignore: im.ignore.map((g, i) => g || !inside(polygons[i]!)).filter((_, i) => keep[i]),
  }
}

export const cropRng = (seed: number, epoch: number, id: number): Rng => augmentRng(seed, epoch, id)

/** A seeded split of `images` into training and validation (at least one of each when both are asked for). */
export function splitImages(images: TextImage[], fraction: number, seed: number): { train: TextImage[]; validation: TextImage[] } {
  if (!(fraction > 0) || images.length < 2) return { train: images, validation: [] }
  const order = images.map((_, i) => i)
  const rng = new Rng(seed + 17)
  for (let i = order.length - 1; i > 0; i--) {
    const j = rng.int(i + 1)
    ;[order[i], order[j]] = [order[j]!, order[i]!]
  }
  const n = Math.min(images.length - 1, Math.max(1, Math.round(images.length * fraction)))
  const val = new Set(order.slice(0, n))
  return { train: images.filter((_, i) => !val.has(i)), validation: images.filter((_, i) => val.has(i)) }
}
