/**
 * Object-detection data: a COCO instances JSON (`--data instances.json`, images beside it or in
 * `--images DIR`). Boxes are COCO's [x, y, w, h] read as x1 y1 x2 y2; category ids map to
 * contiguous labels 0..K-1 in id order (or a trained model's label order); an annotation error
 * names the file, the image id and the annotation id (src/data/detection-annotations.ts).
 * Crowd annotations (`iscrowd: 1`) are left out of the training targets, as torchvision's reference
 * (coco_utils.ConvertCocoPolysToMask) does, and kept for evaluation, where COCOeval ignores them.
 *
 * torchvision's GeneralizedRCNNTransform, host-side: pixels to [0, 1], normalised with ImageNet's
 * mean and std, resized bilinearly (F.interpolate, align_corners=False, no antialias) by
 * min(min_size / shorter side, max_size / longer side), boxes scaled by the float32 size ratios.
 * The graphs have static shapes, so every image is padded (zeros, bottom and right, as torchvision's
 * batch_images) to one square canvas: max_size rounded up to a multiple of 32 (torchvision pads each
 * batch to its largest image instead). Training adds RandomHorizontalFlip(0.5), the reference's
 * default policy, seeded per (seed, epoch, image).
 */
import { ConfigError } from '../../errors.js'
import { loadCocoDetection } from '../../data/detection-data-node.js'
import type { AnnotatedImage, Category } from '../../data/detection-annotations.js'
import type { BadRowReport, OnBadRow } from '../../data/errors.js'
import { decodeImageFile } from '../../data/image-decode-node.js'
import { IMAGENET_MEAN, IMAGENET_STD } from '../../data/image-preprocessing.js'
import { augmentRng } from '../../data/image-transforms.js'
import type { RawImage } from '../../data/image.js'
import { epochOrder } from '../../data/order.js'
import { linearResizeMatrix } from '../../graph/nn.js'
import { existsSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'

/** The transform's settings, recorded in the output folder. */
export interface DetTransform {
  minSize: number
  maxSize: number
  /**
   * SSD's fixed_size: every image resized to this square, the aspect ratio not kept (no padding);
   * min/max size are then unused.
   */
  fixedSize?: number
  /** Normalisation (default ImageNet's; SSDlite's is 0.5, 0.5). */
  mean?: readonly number[]
  std?: readonly number[]
}

/** The square canvas every batch is padded to. */
export const canvasSize = (t: DetTransform): number => t.fixedSize ?? Math.ceil(t.maxSize / 32) * 32

/** The resized [height, width] of an H x W image, as GeneralizedRCNNTransform.resize and F.interpolate compute it (float32 scale and product, floored). */
export function resizedSize(height: number, width: number, t: DetTransform): [number, number] {
  if (t.fixedSize) return [t.fixedSize, t.fixedSize]
  const scale = Math.fround(Math.min(Math.fround(t.minSize / Math.min(height, width)), Math.fround(t.maxSize / Math.max(height, width))))
  // 480 x fround(800 / 480) is 799.99998 in float64 but 800 in float32, and torch gives 800
  return [Math.floor(Math.fround(height * scale)), Math.floor(Math.fround(width * scale))]
}

/**
 * CHW float [0, 1] pixels -> normalised, resized and padded to canvas x canvas (3, C, C), with the
 * resized size. F.interpolate's bilinear resize is separable: rows then columns by the same
 * matrices the graph's interpolateBilinear uses.
 */
export function transformImage(chw: Float32Array, height: number, width: number, t: DetTransform, canvas = canvasSize(t)): { pixels: Float32Array; size: [number, number] } {
  const [oh, ow] = resizedSize(height, width, t)
  if (oh > canvas || ow > canvas) throw new ConfigError('CONFIG_IMAGE_SIZE', `a ${width}x${height} image resizes to ${ow}x${oh}, larger than the ${canvas}x${canvas} canvas`, 'raise --max-size')
  const rh = linearResizeMatrix(height, oh)                                       // (oh, H)
  const rw = linearResizeMatrix(width, ow)                                        // (ow, W)
  const out = new Float32Array(3 * canvas * canvas)
  const tmp = new Float64Array(oh * width)
  for (let c = 0; c < 3; c++) {
    const m = (t.mean ?? IMAGENET_MEAN)[c]!
    const s = (t.std ?? IMAGENET_STD)[c]!
    const src = chw.subarray(c * height * width, (c + 1) * height * width)
    tmp.fill(0)
    for (let y = 0; y < oh; y++) for (let i = 0; i < height; i++) {
      const wgt = rh[y * height + i]!
      if (wgt !== 0) for (let x = 0; x < width; x++) tmp[y * width + x]! += wgt * ((src[i * width + x]! - m) / s)
    }
    for (let y = 0; y < oh; y++) for (let x = 0; x < ow; x++) {
      let v = 0
      for (let j = 0; j < width; j++) v += rw[x * width + j]! * tmp[y * width + j]!
      out[c * canvas * canvas + y * canvas + x] = v
    }
  }
  return { pixels: out, size: [oh, ow] }
}

/** Boxes scaled from an H x W image to its resized size, with torch's float32 ratios. */
export function resizeBoxes(boxes: ArrayLike<number>, from: readonly [number, number], to: readonly [number, number]): Float32Array {
  const rh = Math.fround(Math.fround(to[0]) / Math.fround(from[0]))
  const rw = Math.fround(Math.fround(to[1]) / Math.fround(from[1]))
  return Float32Array.from(boxes, (v, i) => v * (i % 2 === 0 ? rw : rh))
}

const toChw = (img: RawImage): Float32Array => {
  const n = img.width * img.height
  const out = new Float32Array(3 * n)
  const C = img.channels
  for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) out[c * n + i] = img.data[i * C + (C === 3 ? c : 0)]! / 255
  return out
}

/** One image through the transform (and a seeded flip in training), its boxes moved with it. */
export async function loadDetectionImage(file: string, t: DetTransform, boxes: Float32Array = new Float32Array(0), flip = false): Promise<{ pixels: Float32Array; size: [number, number]; original: [number, number]; boxes: Float32Array }> {
  const img = await decodeImageFile(file)
  let chw = toChw(img)
  const [H, W] = [img.height, img.width]
  let b = boxes
  if (flip) {
    const f = new Float32Array(chw.length)
    for (let c = 0; c < 3; c++) for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) f[c * H * W + y * W + x] = chw[c * H * W + y * W + (W - 1 - x)]!
    chw = f
    b = new Float32Array(boxes.length)
    for (let k = 0; k < boxes.length; k += 4) b.set([W - boxes[k + 2]!, boxes[k + 1]!, W - boxes[k]!, boxes[k + 3]!], k)
  }
  const r = transformImage(chw, H, W, t)
  return { ...r, original: [H, W], boxes: resizeBoxes(b, [H, W], r.size) }
}

export interface DetBatch {
  /** (B, 3, C, C) */
  pixels: Float32Array
  shape: [number, number, number, number]
  indices: number[]
  /** Per image: resized [h, w] (where boxes are clipped), original [h, w] (where predictions go back). */
  sizes: [number, number][]
  originals: [number, number][]
  /** Per image, training targets in the resized frame (crowd left out). */
  targets: { boxes: Float32Array; labels: Int32Array }[]
}

export class DetSplit {
  constructor(readonly images: readonly AnnotatedImage[], readonly transform: DetTransform, readonly seed: number, readonly augment: boolean) {}
  get length(): number {
    return this.images.length
  }
  batchCount(batchSize: number, train: boolean): number {
    return train ? Math.floor(this.length / batchSize) : Math.ceil(this.length / batchSize)
  }
  async *batches(epoch: number, start: number, o: { batchSize: number; train: boolean }): AsyncGenerator<DetBatch> {
    const order = o.train ? epochOrder(this.length, this.seed, epoch) : Uint32Array.from({ length: this.length }, (_, i) => i)
    const n = this.batchCount(o.batchSize, o.train)
    const load = (b: number): Promise<DetBatch> => this.#batch(Array.from(order.subarray(b * o.batchSize, Math.min(order.length, (b + 1) * o.batchSize))), o.train, epoch)
    let next = start < n ? load(start) : null
    for (let b = start; b < n; b++) {
      const cur = await next!
      next = b + 1 < n ? load(b + 1) : null
      yield cur
    }
  }
  async #batch(ix: number[], train: boolean, epoch: number): Promise<DetBatch> {
    const C = canvasSize(this.transform)
    const items = await Promise.all(ix.map(async (i) => {
      const img = this.images[i]!
      const keep = Array.from(img.iscrowd, (c, k) => (train && c ? -1 : k)).filter((k) => k >= 0)
      const boxes = Float32Array.from(keep.flatMap((k) => Array.from(img.boxes.subarray(4 * k, 4 * k + 4))))
      const flip = train && this.augment && augmentRng(this.seed, epoch, i).next() < 0.5
      const r = await loadDetectionImage(img.file, this.transform, boxes, flip)
      return { ...r, labels: Int32Array.from(keep, (k) => img.labels[k]!) }
    }))
    const pixels = new Float32Array(ix.length * 3 * C * C)
    items.forEach((it, k) => pixels.set(it.pixels, k * 3 * C * C))
    return { pixels, shape: [ix.length, 3, C, C], indices: ix, sizes: items.map((it) => it.size), originals: items.map((it) => it.original), targets: items.map((it) => ({ boxes: it.boxes, labels: it.labels })) }
  }
}

export interface DetSource {
  images: AnnotatedImage[]
  categories: Category[]
  skipped: BadRowReport
}

const isDir = (p: string): boolean => existsSync(p) && statSync(p).isDirectory()

/** Reads a COCO instances JSON (see the module comment); `labels` fixes the label order (a trained model's). */
export async function readDetectionSource(o: { data: string; images?: string | undefined; labels?: readonly string[] | undefined; onBadRow: OnBadRow }): Promise<DetSource> {
  if (!o.data.endsWith('.json')) throw new ConfigError('DATA_FORMAT', `--data ${o.data} is not a COCO instances .json file`, 'pass --data with a COCO instances JSON (images beside it, in images/ next to it, or in --images DIR)')
  const images = o.images ?? (isDir(join(dirname(o.data), 'images')) ? join(dirname(o.data), 'images') : dirname(o.data))
  const coco = await loadCocoDetection({ annotations: o.data, images, onBadRow: o.onBadRow, ...(o.labels ? { categories: o.labels } : {}) })
  return { images: coco.images, categories: coco.categories, skipped: coco.skipped }
}
