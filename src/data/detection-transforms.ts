/**
 * Augmentations that move boxes and masks with the pixels: pure functions of a sample (and an Rng
 * for the random ones, e.g. `augmentRng(seed, epoch, id)` from image-transforms.ts), so a run is
 * reproducible and resumable.
 * - resize: pixels as PIL's resize (image-transforms.ts); boxes scaled by the size ratios, as
 *   torchvision's detection `resize_boxes`; masks with PIL's nearest neighbour, as torchvision's
 *   segmentation reference resizes its PIL targets;
 * - horizontal flip: x -> W - x for box corners;
 * - scale jitter: torchvision.transforms.v2.ScaleJitter (a factor drawn uniformly from the range,
 *   times the factor that fits the image in the target size; sizes truncated);
 * - random crop: a uniformly placed window; an object is kept when its box centre lies strictly
 *   inside the window (SSD's rule), and its box is clipped to the window. A window larger than the
 *   image pads on the right and bottom (pixels 0, semantic mask 255 = ignore, instance masks 0),
 *   as torchvision's segmentation reference pads before cropping.
 */
import type { Rng } from '../runtime/rng.js'
import type { RawImage } from './image.js'
import type { Interpolation, Size } from './image-preprocessing.js'
import { cropImage, resizeImage, type Box } from './image-transforms.js'

/** An image with its targets; all masks have the image's size. */
export interface DetectionSample {
  image: RawImage
  /** (N, 4) x1 y1 x2 y2, absolute pixels. */
  boxes: Float32Array
  labels: Int32Array
  iscrowd?: Uint8Array
  /** Instance masks, one per object, row-major 0/1. */
  masks?: Uint8Array[]
  /** A semantic index mask, row-major, 255 = ignore. */
  semantic?: Uint8Array
}

const plane = (data: Uint8Array, width: number, height: number): RawImage => ({ width, height, channels: 1, data })

function cropPlane(data: Uint8Array, width: number, height: number, box: Box, fill: number): Uint8Array {
  const out = cropImage(plane(data, width, height), box).data
  if (fill === 0) return out
  // cropImage fills outside the image with 0; the ignore value is wanted there instead
  const res = Uint8Array.from(out)
  for (let y = 0; y < box.height; y++) {
    const sy = y + box.top
    for (let x = 0; x < box.width; x++) {
      const sx = x + box.left
      if (sy < 0 || sy >= height || sx < 0 || sx >= width) res[y * box.width + x] = fill
    }
  }
  return res
}

function withTargets(s: DetectionSample, image: RawImage, boxes: Float32Array, keep: number[] | undefined, mapMask: (m: Uint8Array, fill: number) => Uint8Array): DetectionSample {
  const pick = <T extends Uint8Array | Int32Array>(a: T, make: (n: number) => T): T => {
    if (!keep) return a
    const out = make(keep.length)
    keep.forEach((k, i) => (out[i] = a[k]!))
    return out
  }
  const out: DetectionSample = { image, boxes, labels: pick(s.labels, (n) => new Int32Array(n)) }
  if (s.iscrowd) out.iscrowd = pick(s.iscrowd, (n) => new Uint8Array(n))
  if (s.masks) out.masks = (keep ? keep.map((k) => s.masks![k]!) : s.masks).map((m) => mapMask(m, 0))
  if (s.semantic) out.semantic = mapMask(s.semantic, 255)
  return out
}

/** Mirrors the sample left to right. */
export function hflipDetection(s: DetectionSample): DetectionSample {
  const { width: W, height: H, channels: C, data } = s.image
  const img = new Uint8Array(data.length)
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) for (let c = 0; c < C; c++) img[(y * W + x) * C + c] = data[(y * W + (W - 1 - x)) * C + c]!
  const boxes = new Float32Array(s.boxes.length)
  for (let i = 0; i < boxes.length; i += 4) {
    boxes[i] = W - s.boxes[i + 2]!
    boxes[i + 1] = s.boxes[i + 1]!
    boxes[i + 2] = W - s.boxes[i]!
    boxes[i + 3] = s.boxes[i + 3]!
  }
  const flip = (m: Uint8Array): Uint8Array => {
    const out = new Uint8Array(m.length)
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) out[y * W + x] = m[y * W + (W - 1 - x)]!
    return out
  }
  return withTargets(s, { width: W, height: H, channels: C, data: img }, boxes, undefined, flip)
}

/** Resizes the sample to width x height (see the module comment). */
export function resizeDetection(s: DetectionSample, width: number, height: number, interpolation: Interpolation = 'bilinear'): DetectionSample {
  const { width: W, height: H } = s.image
  const rx = width / W
  const ry = height / H
  const boxes = new Float32Array(s.boxes.length)
  for (let i = 0; i < boxes.length; i += 4) {
    boxes[i] = s.boxes[i]! * rx
    boxes[i + 1] = s.boxes[i + 1]! * ry
    boxes[i + 2] = s.boxes[i + 2]! * rx
    boxes[i + 3] = s.boxes[i + 3]! * ry
  }
  const image = resizeImage(s.image, width, height, interpolation)
  return withTargets(s, image, boxes, undefined, (m) => resizeImage(plane(m, W, H), width, height, 'nearest').data)
}

/** torchvision v2 ScaleJitter: resize by U(scaleRange) x min(target.height / H, target.width / W). */
export function scaleJitter(s: DetectionSample, target: Size, scaleRange: readonly [number, number], rng: Rng, interpolation: Interpolation = 'bilinear'): DetectionSample {
  const { width: W, height: H } = s.image
  const scale = scaleRange[0] + rng.next() * (scaleRange[1] - scaleRange[0])
  const r = Math.min(target.height / H, target.width / W) * scale
  return resizeDetection(s, Math.max(1, Math.trunc(W * r)), Math.max(1, Math.trunc(H * r)), interpolation)
}

/** Crops the window `box` (see the module comment for which objects are kept and how boxes are clipped). */
export function cropDetection(s: DetectionSample, box: Box): DetectionSample {
  const { width: W, height: H } = s.image
  const keep: number[] = []
  const boxes: number[] = []
  const [l, t, r, b] = [box.left, box.top, box.left + box.width, box.top + box.height]
  for (let i = 0; i < s.labels.length; i++) {
    const [x1, y1, x2, y2] = [s.boxes[4 * i]!, s.boxes[4 * i + 1]!, s.boxes[4 * i + 2]!, s.boxes[4 * i + 3]!]
    const cx = (x1 + x2) / 2
    const cy = (y1 + y2) / 2
    if (!(cx > l && cx < r && cy > t && cy < b)) continue
    keep.push(i)
    boxes.push(Math.max(x1, l) - l, Math.max(y1, t) - t, Math.min(x2, r) - l, Math.min(y2, b) - t)
  }
  return withTargets(s, cropImage(s.image, box), Float32Array.from(boxes), keep, (m, fill) => cropPlane(m, W, H, box, fill))
}

/** A uniformly placed crop of `size` (padded right and bottom where the image is smaller). */
export function randomCropDetection(s: DetectionSample, size: Size, rng: Rng): DetectionSample {
  const { width: W, height: H } = s.image
  const top = H > size.height ? rng.int(H - size.height + 1) : 0
  const left = W > size.width ? rng.int(W - size.width + 1) : 0
  return cropDetection(s, { top, left, height: size.height, width: size.width })
}

/** Training augmentation for detection and segmentation; each step can be turned off. */
export interface DetectionAugmentation {
  /** ScaleJitter to a target size (null: none). */
  scaleJitter: { target: Size; scaleRange: readonly [number, number] } | null
  /** A random crop of this size after the jitter (null: none). */
  randomCrop: Size | null
  /** Horizontal flip probability. */
  horizontalFlip: number
}

/** Applies jitter, then crop, then flip, drawing from `rng` in that order. */
export function augmentDetection(s: DetectionSample, aug: DetectionAugmentation, rng: Rng): DetectionSample {
  let out = s
  if (aug.scaleJitter) out = scaleJitter(out, aug.scaleJitter.target, aug.scaleJitter.scaleRange, rng)
  if (aug.randomCrop) out = randomCropDetection(out, aug.randomCrop, rng)
  if (aug.horizontalFlip > 0 && rng.next() < aug.horizontalFlip) out = hflipDetection(out)
  return out
}
