/**
 * Semantic segmentation data: images with index masks (one class index per pixel, 255 = ignore),
 * from any of
 * - a folder with `images/` and `masks/` (masks paired by file stem, `<stem>.png`), or `--data
 *   IMAGES --masks MASKS`;
 * - a Pascal VOC year folder (JPEGImages/, SegmentationClass/, ImageSets/Segmentation/<split>.txt);
 * - a COCO instances JSON, whose polygons and RLEs are rasterised into masks as torchvision's
 *   segmentation reference does (label + 1 per object, 0 background, 255 where objects overlap).
 * Class names: `--labels`, else classes.txt / labels.txt in the data folder, VOC's 21 (background
 * first), COCO's categories after "background"; else the masks are scanned and classes named by index.
 *
 * Every image becomes a static S x S example, as the graphs have static shapes:
 * - training (torchvision's reference recipe at side S): the shorter side resized to U(0.5, 2) x S,
 *   a random S x S crop (padded right and bottom with 0 pixels and 255 = ignore), a horizontal flip
 *   with p = 0.5; images bilinear (PIL's), masks nearest; seeded per (seed, epoch, image);
 * - evaluation and prediction: resized to S x S (masks nearest).
 * Pixels are scaled to [0, 1] and normalised with ImageNet's mean and std.
 */
import { existsSync, statSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { ConfigError } from '../../errors.js'
import { BadRows, DataRowError, fileError, mergeReports, type BadRowReport, type OnBadRow } from '../../data/errors.js'
import { loadCocoDetection, loadSegmentationPairs, loadVocSegmentation, readIndexMask } from '../../data/detection-data-node.js'
import { semanticMaskFromInstances, VOC_CLASSES } from '../../data/detection-annotations.js'
import { hflipDetection, randomCropDetection, resizeDetection, type DetectionSample } from '../../data/detection-transforms.js'
import { decodeImageFile } from '../../data/image-decode-node.js'
import { IMAGENET_MEAN, IMAGENET_STD } from '../../data/image-preprocessing.js'
import { augmentRng } from '../../data/image-transforms.js'
import type { RawImage } from '../../data/image.js'
import { epochOrder } from '../../data/order.js'
import { rleDecode } from '../../data/rle.js'
import { Rng } from '../../runtime/rng.js'

/** One image and where its mask comes from (a file, or rasterised annotations). */
export interface SegExample {
  image: string
  mask: string | (() => Uint8Array)
  width: number
  height: number
}

export interface SegBatch {
  /** (B, 3, S, S) normalised pixels. */
  pixels: Float32Array
  /** (B, S, S) class indices, 255 = ignore. */
  masks: BigInt64Array
  /** Example positions in the split. */
  indices: number[]
  shape: [number, number, number, number]
}

export class SegSplit {
  constructor(readonly examples: readonly SegExample[], readonly numClasses: number, readonly size: number, readonly seed: number, readonly augment: boolean) {}
  get length(): number {
    return this.examples.length
  }
  subset(positions: ArrayLike<number>): SegSplit {
    return new SegSplit(Array.from(positions, (p) => this.examples[p]!), this.numClasses, this.size, this.seed, this.augment)
  }
  /** Training batches drop the last incomplete one (torchvision's reference: drop_last=True); others keep it. */
  batchCount(batchSize: number, train: boolean): number {
    return train ? Math.floor(this.length / batchSize) : Math.ceil(this.length / batchSize)
  }

  /** One example as a normalised (3, S, S) tensor and its (S, S) mask. */
  async example(i: number, train: boolean, epoch: number): Promise<{ pixels: Float32Array; mask: Uint8Array }> {
    const e = this.examples[i]!
    const img = await decodeImageFile(e.image)
    const mask = typeof e.mask === 'string' ? (await readIndexMask(e.mask)).data : e.mask()
    if (img.width * img.height !== mask.length) throw new DataRowError('DATA_MASK_SIZE', { file: typeof e.mask === 'string' ? e.mask : e.image }, `the mask has ${mask.length} pixels but its image ${e.image} is ${img.width}x${img.height}`, "masks have their image's size; fix or remove it, or skip such images (--on-bad-row skip)")
    for (let p = 0; p < mask.length; p++) {
      const v = mask[p]!
      if (v >= this.numClasses && v !== 255)
        throw new DataRowError('DATA_MASK_VALUE', { file: typeof e.mask === 'string' ? e.mask : e.image }, `pixel (${p % img.width}, ${Math.floor(p / img.width)}) has class ${v}, but there are ${this.numClasses} classes (0..${this.numClasses - 1}; 255 = ignore)`, 'list every class with --labels (or classes.txt), or set such pixels to 255')
    }
    const S = this.size
    let s: DetectionSample = { image: rgb(img), boxes: new Float32Array(0), labels: new Int32Array(0), semantic: mask }
    if (train && this.augment) {
      const rng: Rng = augmentRng(this.seed, epoch, i)
      // RandomResize(0.5 S, 2 S) of the shorter side, RandomCrop(S) padded with 0 / 255, RandomHorizontalFlip(0.5)
      const short = Math.round(S * (0.5 + 1.5 * rng.next()))
      const r = short / Math.min(img.width, img.height)
      s = resizeDetection(s, Math.max(1, Math.round(img.width * r)), Math.max(1, Math.round(img.height * r)))
      s = randomCropDetection(s, { height: S, width: S }, rng)
      if (rng.next() < 0.5) s = hflipDetection(s)
    } else if (img.width !== S || img.height !== S) s = resizeDetection(s, S, S)
    return { pixels: normalise(s.image), mask: s.semantic! }
  }

  /** Batches of `epoch` from batch `start` on; training batches in the seeded epoch order, augmented. */
  async *batches(epoch: number, start: number, o: { batchSize: number; train: boolean }): AsyncGenerator<SegBatch> {
    const order = o.train ? epochOrder(this.length, this.seed, epoch) : Uint32Array.from({ length: this.length }, (_, i) => i)
    const n = this.batchCount(o.batchSize, o.train)
    const load = (b: number): Promise<SegBatch> => this.#batch(Array.from(order.subarray(b * o.batchSize, Math.min(order.length, (b + 1) * o.batchSize))), o.train, epoch)
    let next = start < n ? load(start) : null
    for (let b = start; b < n; b++) {
      const cur = await next!
      next = b + 1 < n ? load(b + 1) : null // decode the next batch while this one trains
      yield cur
    }
  }

  async #batch(ix: number[], train: boolean, epoch: number): Promise<SegBatch> {
    const S = this.size
    const items = await Promise.all(ix.map((i) => this.example(i, train, epoch)))
    const pixels = new Float32Array(ix.length * 3 * S * S)
    const masks = new BigInt64Array(ix.length * S * S)
    items.forEach((it, k) => {
      pixels.set(it.pixels, k * 3 * S * S)
      for (let p = 0; p < S * S; p++) masks[k * S * S + p] = BigInt(it.mask[p]!)
    })
    return { pixels, masks, indices: ix, shape: [ix.length, 3, S, S] }
  }
}

const rgb = (img: RawImage): RawImage => {
  if (img.channels === 3) return img
  const data = new Uint8Array(img.width * img.height * 3)
  for (let i = 0; i < img.width * img.height; i++) data[3 * i] = data[3 * i + 1] = data[3 * i + 2] = img.data[i]!
  return { width: img.width, height: img.height, channels: 3, data }
}

/** HWC uint8 -> CHW float, (v / 255 - mean) / std with ImageNet's statistics. */
export function normalise(img: RawImage): Float32Array {
  const n = img.width * img.height
  const out = new Float32Array(3 * n)
  for (let c = 0; c < 3; c++) {
    const m = IMAGENET_MEAN[c]!
    const s = IMAGENET_STD[c]!
    for (let i = 0; i < n; i++) out[c * n + i] = (img.data[3 * i + c]! / 255 - m) / s
  }
  return out
}

export interface SegDataOptions {
  data: string
  /** An images folder given as --data pairs with this masks folder. */
  masks?: string | undefined
  /** COCO: the images folder (default: beside the JSON, or its images/ sub-folder). */
  images?: string | undefined
  /** Class names in index order (a trained model's, or --labels). */
  labels?: readonly string[] | undefined
  /** VOC: the split list to read. */
  split?: string
  onBadRow: OnBadRow
}

export interface SegSource {
  examples: SegExample[]
  /** Class names, or null when the source does not name them. */
  labels: string[] | null
  skipped: BadRowReport
}

const isDir = (p: string): boolean => existsSync(p) && statSync(p).isDirectory()

/** Reads a data source (see the module comment) without decoding any image. */
export async function readSegmentationSource(o: SegDataOptions): Promise<SegSource> {
  const d = o.data
  if (!existsSync(d)) throw fileError('DATA_MISSING_FILE', d, 'does not exist', 'pass --data with a folder holding images/ and masks/, a VOC year folder, or a COCO instances .json')
  if (d.endsWith('.json')) {
    const images = o.images ?? (isDir(join(dirname(d), 'images')) ? join(dirname(d), 'images') : dirname(d))
    const coco = await loadCocoDetection({ annotations: d, images, masks: true, onBadRow: o.onBadRow, ...(o.labels ? { categories: o.labels.slice(1) } : {}) })
    const examples = coco.images.map((img): SegExample => ({ image: img.file, width: img.width, height: img.height, mask: () => semanticMaskFromInstances(img, rleDecode) }))
    return { examples, labels: ['background', ...coco.categories.map((c) => c.name)], skipped: coco.skipped }
  }
  if (!isDir(d)) throw fileError('DATA_FORMAT', d, 'is neither a folder nor a COCO .json file', 'pass --data with a folder holding images/ and masks/, a VOC year folder, or a COCO instances .json')
  if (isDir(join(d, 'ImageSets', 'Segmentation'))) {
    const r = await loadVocSegmentation({ root: d, split: o.split ?? 'train', onBadRow: o.onBadRow })
    return { examples: r.pairs, labels: ['background', ...VOC_CLASSES], skipped: r.skipped }
  }
  const [images, masks] = o.masks ? [d, o.masks] : [join(d, 'images'), join(d, 'masks')]
  if (!isDir(images) || !isDir(masks))
    throw fileError('DATA_SEGMENTATION_LAYOUT', d, o.masks ? `or ${o.masks} is not a folder` : 'has no images/ and masks/ sub-folders', 'lay out images/<name>.jpg with masks/<name>.png (class index per pixel, 255 = ignore), or pass --masks DIR')
  const r = await loadSegmentationPairs({ images, masks, onBadRow: o.onBadRow })
  let labels: string[] | null = null
  for (const f of [join(d, 'classes.txt'), join(d, 'labels.txt'), join(masks, '..', 'classes.txt')]) {
    if (existsSync(f)) {
      labels = (await readFile(f, 'utf8')).split(/\r?\n/).map((l) => l.trim()).filter((l) => l)
      break
    }
  }
  return { examples: r.pairs, labels, skipped: r.skipped }
}

/** The largest class index (not 255) in the masks of `examples` (to name classes when nothing else does). */
export async function scanClasses(examples: readonly SegExample[], onBadRow: OnBadRow): Promise<{ numClasses: number; skipped: BadRowReport }> {
  let max = -1
  const bad = new BadRows(onBadRow)
  for (const e of examples) {
    try {
      const m = typeof e.mask === 'string' ? (await readIndexMask(e.mask)).data : e.mask()
      for (const v of m) if (v !== 255 && v > max) max = v
    } catch (err) {
      bad.handle(err)
    }
  }
  if (max < 0) throw new ConfigError('DATA_NO_CLASSES', 'every mask pixel is 255 (ignore): there is nothing to learn', 'check the masks: they hold class indices 0..K-1 per pixel, 255 where a pixel is ignored')
  return { numClasses: max + 1, skipped: bad.report() }
}

/** Splits examples into train and a seeded validation fraction. */
export function splitExamples(examples: readonly SegExample[], fraction: number, seed: number): { train: SegExample[]; validation: SegExample[] } {
  if (!(fraction > 0) || examples.length < 2) return { train: [...examples], validation: [] }
  const order = Array.from({ length: examples.length }, (_, i) => i)
  const rng = new Rng(seed, 7)
  for (let i = order.length - 1; i > 0; i--) {
    const j = rng.int(i + 1)
    ;[order[i], order[j]] = [order[j]!, order[i]!]
  }
  const nVal = Math.min(examples.length - 1, Math.max(1, Math.round(examples.length * fraction)))
  const val = new Set(order.slice(0, nVal))
  return { train: examples.filter((_, i) => !val.has(i)), validation: examples.filter((_, i) => val.has(i)) }
}

export { mergeReports }
