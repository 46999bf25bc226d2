/**
 * Object-detection data (readDetectionSource), in one of three layouts, found from the path or
 * named by `--format`:
 * - COCO: an instances JSON (`--data instances.json`, images beside it, in images/ or `--images DIR`);
 *   category ids map to contiguous labels 0..K-1 in id order. Crowd annotations (`iscrowd: 1`) are
 *   left out of the training targets, as torchvision's reference (coco_utils.ConvertCocoPolysToMask)
 *   does, and kept for evaluation, where COCOeval ignores them;
 * - Pascal VOC: a folder with Annotations/*.xml and JPEGImages/ (ImageSets/Main/{train,val}.txt
 *   pick the splits where present); labels in VOC's 20-class order when every name is a VOC class,
 *   else the names found, sorted;
 * - YOLO: a folder with images/ and labels/ (or images/{train,val} and labels/{train,val}), or its
 *   data.yaml; labels are the class indices of data.yaml's `names:` or classes.txt, in that order.
 * A trained model's labels fix the order instead. Errors name the file and the object (a box outside
 * the image, an unknown class, a missing image; src/data/detection-annotations.ts and
 * detection-data-node.ts); `--on-bad-row skip` skips and counts them.
 *
 * torchvision's GeneralizedRCNNTransform, host-side: pixels to [0, 1], normalised with ImageNet's
 * mean and std, resized bilinearly (F.interpolate, align_corners=False, no antialias) by
 * min(min_size / shorter side, max_size / longer side), boxes scaled by the float32 size ratios.
 * The graphs have static shapes, so every image is padded (zeros, bottom and right, as torchvision's
 * batch_images) to one square canvas: max_size rounded up to a multiple of 32 (torchvision pads each
 * batch to its largest image instead). Training adds the `--augment` steps (augmentDetectionSample),
 * by default RandomHorizontalFlip(0.5), the reference's default policy, seeded per (seed, epoch, image).
 */
import { ConfigError } from '../../errors.js'
import { loadCocoDetection, loadVocDetection, loadYoloDetection } from '../../data/detection-data-node.js'
import { parseYoloDataYaml, type AnnotatedImage, type Category } from '../../data/detection-annotations.js'
import type { BadRowReport, OnBadRow } from '../../data/errors.js'
import { cocoEvaluate, type DetectionGroundTruth, type DetectionPrediction } from '../../train/metrics-detection.js'
import { decodeImageFile } from '../../data/image-decode-node.js'
import { IMAGENET_MEAN, IMAGENET_STD } from '../../data/image-preprocessing.js'
import { augmentRng } from '../../data/image-transforms.js'
import type { RawImage } from '../../data/image.js'
import { cropDetection, hflipDetection, type DetectionSample } from '../../data/detection-transforms.js'
import type { Rng } from '../../runtime/rng.js'
import type { TaskTrainOptions } from '../task.js'
import { epochOrder } from '../../data/order.js'
import { linearResizeMatrix } from '../../graph/nn.js'
import { existsSync, readFileSync, statSync } from 'node:fs'
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
export function transformImage(chw: Float32Array, height: number, width: number, t: DetTransform, canvas = canvasSize(t), size?: readonly [number, number]): { pixels: Float32Array; size: [number, number] } {
  // `size`: another resized size than the transform's (scale jitter)
  const [oh, ow] = size ?? resizedSize(height, width, t)
  if (oh > canvas || ow > canvas) throw new ConfigError('CONFIG_IMAGE_SIZE', `a ${width}x${height} image resizes to ${ow}x${oh}, larger than the ${canvas}x${canvas} canvas`, 'raise --max-size')
  const rh = linearResizeMatrix(height, oh)                                       // (oh, H)
  const rw = linearResizeMatrix(width, ow)                                        // (ow, W)
  const out = new Float32Array(3 * canvas * canvas)
  const tmp = new Float64Array(oh * width)
  // per output column, the range of source columns whose weight is not zero
  const cols = new Int32Array(2 * ow)
  for (let x = 0; x < ow; x++) {
    let lo = 0
    let hi = width
    while (lo < width && rw[x * width + lo] === 0) lo++
    while (hi > lo && rw[x * width + hi - 1] === 0) hi--
    cols[2 * x] = lo
    cols[2 * x + 1] = hi
  }
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
      // only the few source columns with a weight (skipping zero terms leaves the sum as it was)
      for (let j = cols[2 * x]!; j < cols[2 * x + 1]!; j++) v += rw[x * width + j]! * tmp[y * width + j]!
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

/** `--augment`: training augmentations that move the boxes with the pixels. */
export const DET_AUGMENTATIONS = ['flip', 'scale', 'crop'] as const
export type DetAugmentation = (typeof DET_AUGMENTATIONS)[number]
/** Scale jitter's factor range, on top of the transform's own resize (LSJ-style, narrower than torchvision's (0.1, 2)). */
export const SCALE_JITTER_RANGE: readonly [number, number] = [0.5, 1.5]
/** The random crop's side, as a fraction of the image's (one factor for both sides: the aspect ratio stays). */
export const CROP_FRACTION_RANGE: readonly [number, number] = [0.5, 1]

/** `--augment A,B`: the named steps (default flip); `none` (or --no-augment) for none. */
export function augmentationsFrom(v: unknown): DetAugmentation[] {
  const names = Array.isArray(v) ? v.flatMap((x) => String(x).split(',')).map((x) => x.trim()).filter((x) => x) : []
  if (names.length === 0) return ['flip']
  if (names.length === 1 && names[0] === 'none') return []
  const bad = names.filter((n) => !(DET_AUGMENTATIONS as readonly string[]).includes(n))
  if (bad.length) throw new ConfigError('CLI_USAGE', `--augment ${bad.map((b) => `"${b}"`).join(', ')} is not an augmentation of object-detection`, `pass a list of ${DET_AUGMENTATIONS.join(', ')} (e.g. --augment flip,scale,crop), or none`)
  return [...new Set(names)] as DetAugmentation[]
}

const uniform = (rng: Rng, [lo, hi]: readonly [number, number]): number => lo + rng.next() * (hi - lo)
const place = (rng: Rng, size: number, window: number): number => (size > window ? rng.int(size - window + 1) : 0)

/**
 * The `--augment` steps on one decoded training image, drawing from `rng` in this order:
 * - flip: horizontal, with probability 0.5 (x1' = W - x2, x2' = W - x1); the first draw, so that
 *   runs with the default `--augment flip` see the flips they always did;
 * - crop: a window of f x the image's width and height, f ~ U(CROP_FRACTION_RANGE), placed
 *   uniformly; a box is kept when its centre lies strictly inside the window and is clipped to it,
 *   otherwise dropped (cropDetection, SSD's rule); the transform then resizes the window as an image;
 * - scale: the transform's resized size times s ~ U(SCALE_JITTER_RANGE); where that exceeds the
 *   canvas, a uniformly placed window of the image that fits the canvas at that scale is cropped
 *   first (LSJ's fixed-size crop, same box rule).
 * Returns the sample and, with scale, the resized size the transform should give it.
 */
export function augmentDetectionSample(s: DetectionSample, kinds: readonly DetAugmentation[], rng: Rng, t: DetTransform): { sample: DetectionSample; size: [number, number] | undefined } {
  let out = s
  if (kinds.includes('flip') && rng.next() < 0.5) out = hflipDetection(out)
  if (kinds.includes('crop')) {
    const { width: W, height: H } = out.image
    const f = uniform(rng, CROP_FRACTION_RANGE)
    const [w, h] = [Math.max(1, Math.round(W * f)), Math.max(1, Math.round(H * f))]
    out = cropDetection(out, { left: place(rng, W, w), top: place(rng, H, h), width: w, height: h })
  }
  if (!kinds.includes('scale')) return { sample: out, size: undefined }
  const C = canvasSize(t)
  const { width: W, height: H } = out.image
  const k = uniform(rng, SCALE_JITTER_RANGE)
  const [oh, ow] = resizedSize(H, W, t)
  const [ry, rx] = [Math.max(1, Math.floor(oh * k)) / H, Math.max(1, Math.floor(ow * k)) / W]
  // the part of the image that lands on the canvas
  const [wh, ww] = [Math.min(H, Math.floor(C / ry)), Math.min(W, Math.floor(C / rx))]
  if (wh < H || ww < W) out = cropDetection(out, { top: place(rng, H, wh), left: place(rng, W, ww), height: wh, width: ww })
  return { sample: out, size: [Math.min(C, Math.max(1, Math.floor(wh * ry))), Math.min(C, Math.max(1, Math.floor(ww * rx)))] }
}

/**
 * One image through the transform, its boxes moved with it; in training `augment` is `true` (a
 * flip) or the `--augment` steps with their seeded rng (augmentDetectionSample), which may drop
 * objects: the labels that remain come back with the boxes.
 */
export async function loadDetectionImage(
  file: string,
  t: DetTransform,
  boxes: Float32Array = new Float32Array(0),
  augment: boolean | { kinds: readonly DetAugmentation[]; rng: Rng } = false,
  labels: Int32Array = new Int32Array(boxes.length / 4),
): Promise<{ pixels: Float32Array; size: [number, number]; original: [number, number]; boxes: Float32Array; labels: Int32Array }> {
  const img = await decodeImageFile(file)
  let sample: DetectionSample = { image: img, boxes, labels }
  let size: [number, number] | undefined
  if (augment === true) sample = hflipDetection(sample)
  else if (augment) ({ sample, size } = augmentDetectionSample(sample, augment.kinds, augment.rng, t))
  const { width: W, height: H } = sample.image
  const r = transformImage(toChw(sample.image), H, W, t, canvasSize(t), size)
  return { ...r, original: [H, W], boxes: resizeBoxes(sample.boxes, [H, W], r.size), labels: sample.labels }
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
  /** `augment`: the `--augment` steps of training batches (true: a flip, torchvision's default policy). */
  constructor(readonly images: readonly AnnotatedImage[], readonly transform: DetTransform, readonly seed: number, readonly augment: boolean | readonly DetAugmentation[]) {}
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
      const kinds = !train || this.augment === false ? [] : this.augment === true ? (['flip'] as const) : this.augment
      return loadDetectionImage(img.file, this.transform, boxes, kinds.length ? { kinds, rng: augmentRng(this.seed, epoch, i) } : false, Int32Array.from(keep, (k) => img.labels[k]!))
    }))
    const pixels = new Float32Array(ix.length * 3 * C * C)
    items.forEach((it, k) => pixels.set(it.pixels, k * 3 * C * C))
    return { pixels, shape: [ix.length, 3, C, C], indices: ix, sizes: items.map((it) => it.size), originals: items.map((it) => it.original), targets: items.map((it) => ({ boxes: it.boxes, labels: it.labels })) }
  }
}

/** What the COCO evaluation compares a split's detections with: crowd regions and VOC's difficult objects ignored. */
export function groundTruthOf(img: AnnotatedImage): DetectionGroundTruth {
  return { boxes: img.boxes, labels: img.labels, iscrowd: img.iscrowd, ...(img.difficult ? { ignore: img.difficult } : {}), ...(img.areas ? { areas: img.areas } : {}) }
}

/**
 * COCO mAP (pycocotools' algorithm), per-class AP and eval_loss over a split; `run` gives one
 * batch's detections (in the original image frame) and its mean loss.
 */
export async function evaluateDetectionSplit(
  split: DetSplit,
  batchSize: number,
  labels: readonly string[],
  run: (b: DetBatch) => Promise<{ detections: DetectionPrediction[]; loss: number }>,
): Promise<Record<string, number>> {
  const gts: DetectionGroundTruth[] = []
  const preds: DetectionPrediction[] = []
  let lossSum = 0
  let n = 0
  for await (const b of split.batches(0, 0, { batchSize, train: false })) {
    const r = await run(b)
    preds.push(...r.detections)
    for (const i of b.indices) gts.push(groundTruthOf(split.images[i]!))
    lossSum += r.loss * b.indices.length
    n += b.indices.length
  }
  const m = cocoEvaluate(gts, preds, { categories: labels.map((_, i) => i) })
  const perClass: Record<string, number> = {}
  m.classes.forEach((c, k) => {
    if (m.map_per_class[k]! >= 0) perClass[`ap_${labels[c]}`] = m.map_per_class[k]!
  })
  return { eval_loss: lossSum / Math.max(n, 1), map: m.map, map_50: m.map_50, map_75: m.map_75, map_small: m.map_small, map_medium: m.map_medium, map_large: m.map_large, mar_100: m.mar_100, ...perClass }
}

export interface DetSource {
  images: AnnotatedImage[]
  categories: Category[]
  skipped: BadRowReport
  format: DetFormat
  /** The named split read ('train', 'val'), or undefined for every image. */
  split: DetSplitName | undefined
  /** YOLO: images without a label file (background images). */
  unlabelled?: number
}

/** The annotation formats `--data` takes. */
export const DET_FORMATS = ['coco', 'voc', 'yolo'] as const
export type DetFormat = (typeof DET_FORMATS)[number]
export type DetSplitName = 'train' | 'val'

const isDir = (p: string): boolean => existsSync(p) && statSync(p).isDirectory()
const isFile = (p: string): boolean => existsSync(p) && statSync(p).isFile()
const isYaml = (p: string): boolean => /\.ya?ml$/i.test(p)
const LAYOUTS = 'a COCO instances .json; a Pascal VOC folder (Annotations/*.xml, JPEGImages/, optional ImageSets/Main/{train,val}.txt); a YOLO folder (images/, labels/*.txt, class names in data.yaml or classes.txt) or its data.yaml'

/** The format of `--data PATH`: `format` when given (checked against the path), else from the layout. */
export function detectDetectionFormat(path: string, format?: DetFormat): DetFormat {
  if (!existsSync(path)) throw new ConfigError('DATA_MISSING_FILE', `--data ${path} does not exist`, `pass ${LAYOUTS}`)
  const dir = isDir(path)
  const found: DetFormat | undefined = !dir
    ? path.endsWith('.json') ? 'coco' : isYaml(path) ? 'yolo' : undefined
    : isDir(join(path, 'Annotations')) ? 'voc' : isDir(join(path, 'images')) || isDir(join(path, 'labels')) || ['data.yaml', 'dataset.yaml', 'classes.txt'].some((n) => isFile(join(path, n))) ? 'yolo' : undefined
  if (format === undefined) {
    if (!found) throw new ConfigError('DATA_FORMAT', `--data ${path} is none of the detection layouts`, `pass ${LAYOUTS}, or name the format with --format coco|voc|yolo`)
    return found
  }
  const fits = format === 'coco' ? !dir : format === 'voc' ? dir && isDir(join(path, 'Annotations')) : dir || isYaml(path)
  if (!fits) throw new ConfigError('DATA_FORMAT', `--format ${format}: ${path} is not ${format === 'coco' ? 'a COCO instances JSON file' : format === 'voc' ? 'a folder holding Annotations/' : 'a YOLO folder or data.yaml'}`, `pass ${LAYOUTS}${found ? ` (this path looks like ${found}: drop --format)` : ''}`)
  return format
}

/** The YOLO images folder of a split: images/<split> when present, else images/, else the folder itself. */
function yoloImages(root: string, split: DetSplitName | undefined): string {
  if (split && isDir(join(root, 'images', split))) return join(root, 'images', split)
  return isDir(join(root, 'images')) ? join(root, 'images') : root
}

/**
 * The named splits the data holds: VOC's ImageSets/Main/<split>.txt, YOLO's images/<split>/ or
 * data.yaml's `train:` / `val:`. COCO files have none (a file is one split).
 */
export function detectionSplits(path: string, format: DetFormat): Set<DetSplitName> {
  const out = new Set<DetSplitName>()
  for (const s of ['train', 'val'] as const) {
    if (format === 'voc' && isFile(join(path, 'ImageSets', 'Main', `${s}.txt`))) out.add(s)
    if (format === 'yolo' && isDir(path) && isDir(join(path, 'images', s))) out.add(s)
    if (format === 'yolo' && isYaml(path)) {
      const y = parseYoloDataYaml(readFileSync(path, 'utf8'), path)
      if (y[s]) out.add(s)
    }
  }
  return out
}

/** YOLO labels are class indices into the names list; a trained model's labels reorder them by name. */
function relabel(src: { categories: Category[]; images: AnnotatedImage[] }, labels: readonly string[], where: string): void {
  const names = src.categories.map((c) => c.name)
  const missing = names.filter((n) => !labels.includes(n))
  if (missing.length) throw new ConfigError('MODEL_LABELS_DIFFER', `${where}: the class names [${names.join(', ')}] include ${missing.map((m) => `"${m}"`).join(', ')}, which the model's labels [${labels.join(', ')}] lack`, 'use data with the classes the model was trained on, or train with --reinit-head')
  const map = names.map((n) => labels.indexOf(n))
  for (const img of src.images) img.labels = img.labels.map((l) => map[l]!)
  src.categories = labels.map((name, id) => ({ id, name }))
}

/**
 * Reads detection data in any of DET_FORMATS (see detectDetectionFormat): `split` picks VOC's
 * ImageSets/Main/<split>.txt or YOLO's images/<split>/ (data.yaml's `<split>:`) where the data has
 * it, else every image; `labels` fixes the label order (a trained model's).
 */
export async function readDetectionSource(o: { data: string; format?: DetFormat | undefined; split?: DetSplitName | undefined; images?: string | undefined; labels?: readonly string[] | undefined; onBadRow: OnBadRow }): Promise<DetSource> {
  const format = detectDetectionFormat(o.data, o.format)
  if (o.images !== undefined && format !== 'coco') throw new ConfigError('CLI_USAGE', `--images applies to a COCO instances JSON; ${o.data} is a ${format.toUpperCase()} dataset, whose images are found in its own layout`, 'drop --images')
  const split = o.split && detectionSplits(o.data, format).has(o.split) ? o.split : undefined
  if (format === 'coco') {
    const images = o.images ?? (isDir(join(dirname(o.data), 'images')) ? join(dirname(o.data), 'images') : dirname(o.data))
    const coco = await loadCocoDetection({ annotations: o.data, images, onBadRow: o.onBadRow, ...(o.labels ? { categories: o.labels } : {}) })
    return { images: coco.images, categories: coco.categories, skipped: coco.skipped, format, split }
  }
  if (format === 'voc') {
    const voc = await loadVocDetection({ root: o.data, onBadRow: o.onBadRow, ...(split ? { split } : {}), ...(o.labels ? { categories: o.labels } : {}) })
    return { images: voc.images, categories: voc.categories, skipped: voc.skipped, format, split }
  }
  const yaml = isYaml(o.data)
  const yolo = await loadYoloDetection({ data: yaml ? o.data : yoloImages(o.data, split), onBadRow: o.onBadRow, ...(yaml && split ? { split } : {}) })
  if (o.labels) relabel(yolo, o.labels, o.data)
  return { images: yolo.images, categories: yolo.categories, skipped: yolo.skipped, format, split, unlabelled: yolo.unlabelled }
}

/** The training side of `--data` as `finetune train` reads it (`labels`: a trained head's order). */
export function readDetectionTrainSource(o: TaskTrainOptions, labels?: readonly string[]): Promise<DetSource> {
  return readDetectionSource({ data: o.data, format: formatOption(o), split: 'train', images: typeof o['images'] === 'string' ? o['images'] : undefined, onBadRow: o.onBadRow, labels })
}

const formatOption = (o: TaskTrainOptions): DetFormat | undefined => (typeof o['format'] === 'string' ? (o['format'] as DetFormat) : undefined)

/**
 * What every detector trains and validates on, from `first` (readDetectionTrainSource's result,
 * read before the checkpoint so that the data's mistakes come first): a trained head keeps its
 * label order when the data has the same names; a VOC or YOLO folder with its own train and val
 * splits validates on val unless --validation says otherwise; else the last --validation-split of
 * the training images.
 */
export async function detectionTrainingData(o: TaskTrainOptions, first: DetSource, head: { labelled: boolean; labels: readonly string[] }, transform: DetTransform): Promise<{ labels: string[]; train: DetSplit; validation: DetSplit | undefined; format: DetFormat; augment: DetAugmentation[]; skipped: number }> {
  const sameNames = (a: readonly string[], b: readonly string[]): boolean => [...a].sort().join('\u0000') === [...b].sort().join('\u0000')
  const src = head.labelled && !o.reinitHead && sameNames(head.labels, first.categories.map((c) => c.name)) ? await readDetectionTrainSource(o, head.labels) : first
  const labels = src.categories.map((c) => c.name)
  let trainImgs = src.images
  const ownVal = !o.validation && src.split === 'train' && detectionSplits(o.data, src.format).has('val')
  const valSrc = o.validation || ownVal ? await readDetectionSource({ data: o.validation ?? o.data, format: o.validation ? undefined : formatOption(o), split: 'val', images: undefined, onBadRow: o.onBadRow, labels }) : undefined
  let valImgs = valSrc?.images ?? []
  if (ownVal) o.log?.(`${src.format.toUpperCase()} data: training on its train split (${trainImgs.length} images), validating on its val split (${valImgs.length})`)
  if (src.unlabelled) o.log?.(`${src.unlabelled} image(s) without a label file train as background`)
  if (!o.validation && !ownVal && o.validationSplit > 0 && trainImgs.length > 1) {
    const nVal = Math.min(trainImgs.length - 1, Math.max(1, Math.round(trainImgs.length * o.validationSplit)))
    valImgs = trainImgs.slice(trainImgs.length - nVal)
    trainImgs = trainImgs.slice(0, trainImgs.length - nVal)
  }
  const augment = augmentationsFrom(o['augment'])
  const train = new DetSplit(trainImgs, transform, o.seed, augment)
  const validation = valImgs.length ? new DetSplit(valImgs, transform, o.seed, false) : undefined
  if (train.batchCount(o.batchSize, true) === 0) throw new ConfigError('DATA_TOO_FEW', `${trainImgs.length} training image(s), fewer than one batch of ${o.batchSize}`, 'lower --batch-size or add images')
  return { labels, train, validation, format: src.format, augment, skipped: src.skipped.total + (valSrc?.skipped.total ?? 0) }
}
