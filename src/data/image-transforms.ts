/**
 * torchvision's image transforms, for images decoded as torchvision's loader decodes them (8-bit RGB).
 *
 * Resizing reproduces PIL's `Image.resize` (what torchvision's `Resize` calls on PIL images): the same
 * antialiased filters (support widened by the scale factor when shrinking), the same coefficient
 * rounding to 22-bit fixed point, horizontal pass first, 8-bit results after each pass. Its output is
 * bit-identical to Pillow 9.4 (checked against goldens), and so are crops and `ToTensor + Normalize`
 * in float32. Colour jitter follows torchvision's tensor functions on CHW float32 in [0, 1].
 *
 * Training augmentation is a pure function of (seed, epoch, example id): the same id in the same
 * epoch gets the same crop, flip and jitter on any machine and after a resume.
 */
import { mix32, Rng } from '../runtime/rng.js'
import type { RawImage } from './image.js'
import type { Interpolation, Preprocessing, ResizeSpec, Size } from './image-preprocessing.js'

// ---------------------------------------------------------------------------------------------
// PIL resampling (Pillow src/libImaging/Resample.c)

interface Filter {
  support: number
  fn: (x: number) => number
}

const sinc = (x: number): number => {
  if (x === 0) return 1
  x *= Math.PI
  return Math.sin(x) / x
}

const FILTERS: Record<Exclude<Interpolation, 'nearest'>, Filter> = {
  box: { support: 0.5, fn: (x) => (x > -0.5 && x <= 0.5 ? 1 : 0) },
  bilinear: { support: 1, fn: (x) => ((x = Math.abs(x)) < 1 ? 1 - x : 0) },
  hamming: {
    support: 1,
    fn: (x) => {
      x = Math.abs(x)
      if (x === 0) return 1
      if (x >= 1) return 0
      x *= Math.PI
      return (Math.sin(x) / x) * (0.54 + 0.46 * Math.cos(x))
    },
  },
  bicubic: {
    support: 2,
    fn: (x) => {
      const a = -0.5
      x = Math.abs(x)
      if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1
      if (x < 2) return (((x - 5) * x + 8) * x - 4) * a
      return 0
    },
  },
  lanczos: { support: 3, fn: (x) => (x > -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0) },
}

const PRECISION_BITS = 32 - 8 - 2
const ONE = 2 ** PRECISION_BITS
const HALF = 2 ** (PRECISION_BITS - 1)

/** Per output pixel: first input pixel, count, and fixed-point weights (ksize per pixel). */
interface Coeffs {
  ksize: number
  bounds: Int32Array
  weights: Float64Array
}

function precomputeCoeffs(inSize: number, outSize: number, filter: Filter): Coeffs {
  const scale = inSize / outSize
  const filterscale = scale < 1 ? 1 : scale
  const support = filter.support * filterscale
  const ksize = Math.ceil(support) * 2 + 1
  const bounds = new Int32Array(outSize * 2)
  const weights = new Float64Array(outSize * ksize)
  const k = new Float64Array(ksize)
  const ss = 1 / filterscale
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale
    let xmin = Math.trunc(center - support + 0.5)
    if (xmin < 0) xmin = 0
    let xmax = Math.trunc(center + support + 0.5)
    if (xmax > inSize) xmax = inSize
    xmax -= xmin
    let ww = 0
    for (let x = 0; x < xmax; x++) {
      const w = filter.fn((x + xmin - center + 0.5) * ss)
      k[x] = w
      ww += w
    }
    for (let x = 0; x < xmax; x++) {
      const w = ww !== 0 ? k[x]! / ww : k[x]!
      // normalize_coeffs_8bpc: round half away from zero to 22-bit fixed point
      weights[xx * ksize + x] = w < 0 ? Math.trunc(-0.5 + w * ONE) : Math.trunc(0.5 + w * ONE)
    }
    bounds[2 * xx] = xmin
    bounds[2 * xx + 1] = xmax
  }
  return { ksize, bounds, weights }
}

// ss is an exact integer (8-bit values times 22-bit weights); ss >> 22 clamped to 0..255, as PIL's clip8
const INV_ONE = 1 / ONE
const clip8 = (ss: number): number => {
  const v = ss * INV_ONE
  return v <= 0 ? 0 : v >= 255 ? 255 : v | 0
}

function resampleHorizontal(src: RawImage, outWidth: number, rowFirst: number, rows: number, c: Coeffs): RawImage {
  const C = src.channels
  const out = new Uint8Array(outWidth * rows * C)
  const { ksize, bounds, weights } = c
  const data = src.data
  const inRow = src.width * C
  for (let y = 0; y < rows; y++) {
    const rowBase = (y + rowFirst) * inRow
    let o = y * outWidth * C
    for (let xx = 0; xx < outWidth; xx++) {
      const xmin = bounds[2 * xx]!
      const xmax = bounds[2 * xx + 1]!
      const kb = xx * ksize
      let p = rowBase + xmin * C
      if (C === 3) {
        let s0 = HALF
        let s1 = HALF
        let s2 = HALF
        for (let x = 0; x < xmax; x++, p += 3) {
          const w = weights[kb + x]!
          s0 += data[p]! * w
          s1 += data[p + 1]! * w
          s2 += data[p + 2]! * w
        }
        out[o++] = clip8(s0)
        out[o++] = clip8(s1)
        out[o++] = clip8(s2)
      } else {
        let s0 = HALF
        for (let x = 0; x < xmax; x++, p++) s0 += data[p]! * weights[kb + x]!
        out[o++] = clip8(s0)
      }
    }
  }
  return { width: outWidth, height: rows, channels: C, data: out }
}

function resampleVertical(src: RawImage, outHeight: number, c: Coeffs, shift: number): RawImage {
  const C = src.channels
  const rowLen = src.width * C
  const data = src.data
  const out = new Uint8Array(rowLen * outHeight)
  const acc = new Float64Array(rowLen)
  const { ksize, bounds, weights } = c
  for (let yy = 0; yy < outHeight; yy++) {
    const ymin = bounds[2 * yy]! - shift
    const ymax = bounds[2 * yy + 1]!
    const kb = yy * ksize
    acc.fill(HALF)
    // whole rows at a time: the sums are exact integers, so the order of adding is free
    for (let y = 0; y < ymax; y++) {
      const w = weights[kb + y]!
      const base = (ymin + y) * rowLen
      for (let i = 0; i < rowLen; i++) acc[i] = acc[i]! + data[base + i]! * w
    }
    const o = yy * rowLen
    for (let i = 0; i < rowLen; i++) out[o + i] = clip8(acc[i]!)
  }
  return { width: src.width, height: outHeight, channels: C, data: out }
}

/** PIL's NEAREST resize: an affine map sampled at pixel centres, positions accumulated in doubles as ImagingScaleAffine does. */
function resizeNearest(src: RawImage, width: number, height: number): RawImage {
  const C = src.channels
  const out = new Uint8Array(width * height * C)
  const ax = src.width / width
  const ay = src.height / height
  const xin = new Int32Array(width)
  let xo = ax * 0.5
  for (let x = 0; x < width; x++, xo += ax) xin[x] = Math.min(src.width - 1, Math.trunc(xo))
  let yo = ay * 0.5
  for (let y = 0; y < height; y++, yo += ay) {
    const yi = Math.min(src.height - 1, Math.trunc(yo))
    for (let x = 0; x < width; x++) {
      const s = (yi * src.width + xin[x]!) * C
      const d = (y * width + x) * C
      for (let ch = 0; ch < C; ch++) out[d + ch] = src.data[s + ch]!
    }
  }
  return { width, height, channels: C, data: out }
}

/** `img` resized to width x height as PIL's `Image.resize((width, height), filter)` does it (antialiased when shrinking). */
export function resizeImage(img: RawImage, width: number, height: number, interpolation: Interpolation = 'bilinear'): RawImage {
  if (!(width >= 1 && height >= 1)) throw new RangeError(`cannot resize to ${width}x${height}`)
  if (width === img.width && height === img.height) return img
  if (interpolation === 'nearest') return resizeNearest(img, width, height)
  const filter = FILTERS[interpolation]
  const needH = width !== img.width
  const needV = height !== img.height
  const horiz = precomputeCoeffs(img.width, width, filter)
  const vert = precomputeCoeffs(img.height, height, filter)
  // only the input rows the vertical pass reads go through the horizontal pass
  const first = vert.bounds[0]!
  const last = vert.bounds[2 * height - 2]! + vert.bounds[2 * height - 1]!
  let cur = img
  let shift = 0
  if (needH) {
    cur = needV ? resampleHorizontal(img, width, first, last - first, horiz) : resampleHorizontal(img, width, 0, img.height, horiz)
    shift = needV ? first : 0
  }
  if (needV) cur = resampleVertical(cur, height, vert, shift)
  return cur
}

// ---------------------------------------------------------------------------------------------
// Geometry

/** Python's round(): halves go to the even neighbour, as torchvision's crop arithmetic rounds. */
export function roundHalfEven(x: number): number {
  const f = Math.floor(x)
  const d = x - f
  if (d > 0.5) return f + 1
  if (d < 0.5) return f
  return f % 2 === 0 ? f : f + 1
}

/** The size torchvision's `Resize(spec)` gives an image of width x height (shorter side to N, the longer one truncated). */
export function resizedSize(width: number, height: number, spec: ResizeSpec): Size {
  if ('height' in spec) return { height: spec.height, width: spec.width }
  const n = spec.shortestEdge
  if (width <= height) return { width: n, height: Math.trunc((n * height) / width) }
  return { height: n, width: Math.trunc((n * width) / height) }
}

/** A crop box (may reach outside the image: that part is zero, as torchvision pads before cropping). */
export interface Box {
  top: number
  left: number
  height: number
  width: number
}

/** torchvision's `center_crop` box: centred with Python rounding, or zero-padded (left/top pad the floor of half) when the crop is larger. */
export function centerCropBox(width: number, height: number, crop: Size): Box {
  const top = crop.height > height ? -Math.floor((crop.height - height) / 2) : roundHalfEven((height - crop.height) / 2)
  const left = crop.width > width ? -Math.floor((crop.width - width) / 2) : roundHalfEven((width - crop.width) / 2)
  return { top, left, height: crop.height, width: crop.width }
}

/** The pixels of `box`; outside the image they are 0 (PIL's `crop` fills so too). */
export function cropImage(img: RawImage, box: Box): RawImage {
  const { top, left, height, width } = box
  const C = img.channels
  if (top === 0 && left === 0 && height === img.height && width === img.width) return img
  const out = new Uint8Array(width * height * C)
  const x0 = Math.max(0, left)
  const x1 = Math.min(img.width, left + width)
  for (let y = 0; y < height; y++) {
    const sy = y + top
    if (sy < 0 || sy >= img.height || x1 <= x0) continue
    out.set(img.data.subarray((sy * img.width + x0) * C, (sy * img.width + x1) * C), (y * width + (x0 - left)) * C)
  }
  return { width, height, channels: C, data: out }
}

/** torchvision's `Resize(resize) + CenterCrop(crop)` on 8-bit pixels (either step may be absent). */
export function resizeAndCrop(img: RawImage, p: Pick<Preprocessing, 'resize' | 'crop' | 'interpolation'>): RawImage {
  let im = img
  if (p.resize) {
    const s = resizedSize(im.width, im.height, p.resize)
    im = resizeImage(im, s.width, s.height, p.interpolation)
  }
  if (p.crop) im = cropImage(im, centerCropBox(im.width, im.height, p.crop))
  return im
}

// ---------------------------------------------------------------------------------------------
// Tensors

/** 8-bit value -> normalised float32 per channel, computed as torchvision does in float32: (v/255 - mean) / std. */
export function normalizeTable(p: Pick<Preprocessing, 'mean' | 'std' | 'rescaleFactor'>): Float32Array {
  const lut = new Float32Array(3 * 256)
  for (let c = 0; c < 3; c++) {
    const m = Math.fround(p.mean[c]!)
    const s = Math.fround(p.std[c]!)
    for (let v = 0; v < 256; v++) lut[c * 256 + v] = Math.fround(Math.fround(scaled(v, p.rescaleFactor) - m) / s)
  }
  return lut
}

/** ToTensor's v/255 when the factor is 1/255 (division, as torchvision does), else v * factor (as HF does). */
const scaled = (v: number, factor: number): number => (factor === 1 / 255 ? Math.fround(v / 255) : Math.fround(v * factor))

/**
 * Writes `img` as a CHW float32 tensor (3 channels; one gray channel is repeated) into `out` at
 * `offset`, scaled by `rescaleFactor` (ToTensor) and, when `lut` is given, normalised. `flip` mirrors
 * left-right.
 */
export function writeTensor(img: RawImage, out: Float32Array, offset: number, opts: { lut?: Float32Array; rescaleFactor: number; flip?: boolean }): void {
  const { width: W, height: H, channels: C, data } = img
  const plane = W * H
  const lut = opts.lut
  const table = lut ?? Float32Array.from({ length: 3 * 256 }, (_, i) => scaled(i & 255, opts.rescaleFactor))
  for (let c = 0; c < 3; c++) {
    const base = offset + c * plane
    const t = c * 256
    const sc = C === 1 ? 0 : c
    for (let y = 0; y < H; y++) {
      const row = y * W
      for (let x = 0; x < W; x++) {
        const sx = opts.flip ? W - 1 - x : x
        out[base + row + x] = table[t + data[(row + sx) * C + sc]!]!
      }
    }
  }
}

/** In place on a CHW float32 tensor at `offset`: (x - mean) / std per channel, in float32 as torchvision's Normalize. */
export function normalizeTensor(t: Float32Array, offset: number, plane: number, mean: readonly number[], std: readonly number[]): void {
  for (let c = 0; c < 3; c++) {
    const m = Math.fround(mean[c]!)
    const s = Math.fround(std[c]!)
    const b = offset + c * plane
    for (let i = 0; i < plane; i++) t[b + i] = Math.fround(Math.fround(t[b + i]! - m) / s)
  }
}

// ---------------------------------------------------------------------------------------------
// Colour (torchvision.transforms.functional_tensor, float32 images in [0, 1])

const f32 = Math.fround
const clamp01 = (x: number): number => (x < 0 ? 0 : x > 1 ? 1 : x)

/** _blend(img1, img2, ratio) = clamp(ratio * img1 + (1 - ratio) * img2, 0, 1), each op rounded to float32. */
function blend(a: number, b: number, r: number, r1: number): number {
  return clamp01(f32(f32(r * a) + f32(r1 * b)))
}

const gray = (r: number, g: number, b: number): number => f32(f32(f32(f32(0.2989) * r) + f32(f32(0.587) * g)) + f32(f32(0.114) * b))

/** F.adjust_brightness on a (3, H, W) tensor at `offset`, in place. */
export function adjustBrightness(t: Float32Array, offset: number, plane: number, factor: number): void {
  const r = f32(factor)
  for (let i = offset; i < offset + 3 * plane; i++) t[i] = clamp01(f32(r * t[i]!))
}

/** F.adjust_contrast: blend with the mean of the grayscale image. */
export function adjustContrast(t: Float32Array, offset: number, plane: number, factor: number): void {
  let sum = 0
  for (let i = 0; i < plane; i++) sum += gray(t[offset + i]!, t[offset + plane + i]!, t[offset + 2 * plane + i]!)
  const mean = f32(sum / plane)
  const r = f32(factor)
  const r1 = f32(1 - factor)
  for (let i = offset; i < offset + 3 * plane; i++) t[i] = blend(t[i]!, mean, r, r1)
}

/** F.adjust_saturation: blend with the grayscale image. */
export function adjustSaturation(t: Float32Array, offset: number, plane: number, factor: number): void {
  const r = f32(factor)
  const r1 = f32(1 - factor)
  for (let i = 0; i < plane; i++) {
    const a = offset + i
    const g = gray(t[a]!, t[a + plane]!, t[a + 2 * plane]!)
    t[a] = blend(t[a]!, g, r, r1)
    t[a + plane] = blend(t[a + plane]!, g, r, r1)
    t[a + 2 * plane] = blend(t[a + 2 * plane]!, g, r, r1)
  }
}

/** F.adjust_hue: RGB -> HSV, hue shifted by `factor` (in [-0.5, 0.5]) modulo 1, back to RGB. */
export function adjustHue(t: Float32Array, offset: number, plane: number, factor: number): void {
  const hf = f32(factor)
  for (let i = 0; i < plane; i++) {
    const a = offset + i
    const r = t[a]!
    const g = t[a + plane]!
    const b = t[a + 2 * plane]!
    // _rgb2hsv
    const maxc = Math.max(r, g, b)
    const minc = Math.min(r, g, b)
    const eqc = maxc === minc
    const cr = f32(maxc - minc)
    const s = f32(cr / (eqc ? 1 : maxc))
    const div = eqc ? 1 : cr
    const rc = f32(f32(maxc - r) / div)
    const gc = f32(f32(maxc - g) / div)
    const bc = f32(f32(maxc - b) / div)
    const hr = maxc === r ? f32(bc - gc) : 0
    const hg = maxc === g && maxc !== r ? f32(f32(2 + rc) - bc) : 0
    const hb = maxc !== g && maxc !== r ? f32(f32(4 + gc) - rc) : 0
    let h = f32(f32(hr + hg) + hb)
    h = f32(f32(f32(h / 6) + 1) % 1)
    // (h + hue_factor) % 1.0, Python's modulo (non-negative)
    h = f32(h + hf)
    h = f32(h - Math.floor(h))
    if (h >= 1) h = 0
    // _hsv2rgb
    const h6 = f32(h * 6)
    const fi = Math.floor(h6)
    const f = f32(h6 - fi)
    const v = maxc
    const p = clamp01(f32(v * f32(1 - s)))
    const q = clamp01(f32(v * f32(1 - f32(s * f))))
    const tt = clamp01(f32(v * f32(1 - f32(s * f32(1 - f)))))
    // sector of the hue circle: (R, G, B) = (v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)
    const sector = ((fi % 6) + 6) % 6
    const R = sector === 0 || sector === 5 ? v : sector === 1 ? q : sector === 4 ? tt : p
    const G = sector === 1 || sector === 2 ? v : sector === 0 ? tt : sector === 3 ? q : p
    const B = sector === 3 || sector === 4 ? v : sector === 2 ? tt : sector === 5 ? q : p
    t[a] = R
    t[a + plane] = G
    t[a + 2 * plane] = B
  }
}

// ---------------------------------------------------------------------------------------------
// Augmentation

/** Training augmentation in torchvision's terms; each part can be turned off. */
export interface Augmentation {
  /** RandomResizedCrop to the output size (null: the evaluation resize + centre crop instead). */
  randomResizedCrop: { scale: readonly [number, number]; ratio: readonly [number, number] } | null
  /** RandomHorizontalFlip probability (0: never). */
  horizontalFlip: number
  /** ColorJitter strengths (brightness/contrast/saturation factors drawn from [max(0, 1-x), 1+x], hue from [-h, h]); null: none. */
  colorJitter: { brightness: number; contrast: number; saturation: number; hue: number } | null
}

/** The ImageNet training recipe: RandomResizedCrop(scale (0.08, 1), ratio (3/4, 4/3)) + horizontal flip 0.5, no jitter. */
export const defaultAugmentation = {
  randomResizedCrop: { scale: [0.08, 1], ratio: [3 / 4, 4 / 3] },
  horizontalFlip: 0.5,
  colorJitter: null,
} as const satisfies Augmentation

const AUGMENT_STREAM = 0xa06e

/**
 * The random stream of one example's augmentation: a pure function of (seed, epoch, example id).
 * All three are mixed into the first state word, since xoshiro's first output depends on it alone.
 */
export function augmentRng(seed: number, epoch: number, id: number): Rng {
  return new Rng(mix32(seed ^ mix32(id ^ mix32(epoch ^ AUGMENT_STREAM))), id, epoch)
}

/**
 * torchvision's RandomResizedCrop.get_params: up to 10 tries at an area share in `scale` and a
 * log-uniform aspect ratio in `ratio` that fits; else the centre crop of the ratio-clamped whole image.
 */
export function randomResizedCropBox(width: number, height: number, scale: readonly [number, number], ratio: readonly [number, number], rng: Rng): Box {
  const area = width * height
  const logLo = Math.log(ratio[0])
  const logHi = Math.log(ratio[1])
  for (let attempt = 0; attempt < 10; attempt++) {
    const targetArea = area * (scale[0] + (scale[1] - scale[0]) * rng.next())
    const aspect = Math.exp(logLo + (logHi - logLo) * rng.next())
    const w = roundHalfEven(Math.sqrt(targetArea * aspect))
    const h = roundHalfEven(Math.sqrt(targetArea / aspect))
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const top = rng.int(height - h + 1)
      const left = rng.int(width - w + 1)
      return { top, left, height: h, width: w }
    }
  }
  const inRatio = width / height
  let w: number
  let h: number
  if (inRatio < Math.min(ratio[0], ratio[1])) {
    w = width
    h = roundHalfEven(w / Math.min(ratio[0], ratio[1]))
  } else if (inRatio > Math.max(ratio[0], ratio[1])) {
    h = height
    w = roundHalfEven(h * Math.max(ratio[0], ratio[1]))
  } else {
    w = width
    h = height
  }
  return { top: Math.floor((height - h) / 2), left: Math.floor((width - w) / 2), height: h, width: w }
}

/** ColorJitter.get_params: a random order of the four adjustments and a factor for each enabled one. */
export function colorJitterParams(j: NonNullable<Augmentation['colorJitter']>, rng: Rng): { order: number[]; factors: (number | undefined)[] } {
  const order = rng.shuffle([0, 1, 2, 3])
  const range = (x: number): number | undefined => (x > 0 ? Math.max(0, 1 - x) + (1 + x - Math.max(0, 1 - x)) * rng.next() : undefined)
  const b = range(j.brightness)
  const c = range(j.contrast)
  const s = range(j.saturation)
  const h = j.hue > 0 ? -j.hue + 2 * j.hue * rng.next() : undefined
  return { order, factors: [b, c, s, h] }
}

// ---------------------------------------------------------------------------------------------
// The whole per-image pipeline

/** What turns a decoded image into a model input; plain data, so it can be sent to worker threads. */
export interface TransformSpec {
  preprocessing: Preprocessing
  /** Height x width of every output tensor. */
  size: Size
  /** Training augmentation, or null for the evaluation pipeline. */
  augmentation: Augmentation | null
}

/** Which random draws an example gets (training): (seed, epoch, example id). */
export interface AugmentKey {
  seed: number
  epoch: number
  id: number
}

/** An image whose size does not fit the pipeline (no resize or crop, and not the output size). */
export class ImageSizeError extends Error {}

/**
 * One image through the pipeline into `out` (3*H*W floats at `offset`; a new array by default):
 * - evaluation: Resize -> CenterCrop -> ToTensor -> Normalize;
 * - training: RandomResizedCrop (or Resize -> CenterCrop) -> RandomHorizontalFlip -> ToTensor ->
 *   ColorJitter -> Normalize, random draws from `augmentRng(key)` in that order.
 */
export function transformImage(img: RawImage, spec: TransformSpec, key?: AugmentKey, out?: Float32Array, offset = 0, lut?: Float32Array): Float32Array {
  const { preprocessing: p, size, augmentation: aug } = spec
  const plane = size.height * size.width
  const dst = out ?? new Float32Array(3 * plane)
  let im: RawImage
  let flip = false
  let jitter: ReturnType<typeof colorJitterParams> | undefined
  if (aug) {
    if (!key) throw new RangeError('training augmentation needs an AugmentKey')
    const rng = augmentRng(key.seed, key.epoch, key.id)
    if (aug.randomResizedCrop) {
      const box = randomResizedCropBox(img.width, img.height, aug.randomResizedCrop.scale, aug.randomResizedCrop.ratio, rng)
      im = resizeImage(cropImage(img, box), size.width, size.height, p.interpolation)
    } else im = resizeAndCrop(img, p)
    flip = aug.horizontalFlip > 0 && rng.next() < aug.horizontalFlip
    if (aug.colorJitter) jitter = colorJitterParams(aug.colorJitter, rng)
  } else im = resizeAndCrop(img, p)
  if (im.width !== size.width || im.height !== size.height) {
    throw new ImageSizeError(`is ${img.width}x${img.height} and comes out ${im.width}x${im.height} where ${size.width}x${size.height} is needed (no resize or crop brings it there)`)
  }
  if (!jitter) {
    writeTensor(im, dst, offset, { lut: lut ?? normalizeTable(p), rescaleFactor: p.rescaleFactor, flip })
    return dst
  }
  writeTensor(im, dst, offset, { rescaleFactor: p.rescaleFactor, flip })
  for (const op of jitter.order) {
    const f = jitter.factors[op]
    if (f === undefined) continue
    if (op === 0) adjustBrightness(dst, offset, plane, f)
    else if (op === 1) adjustContrast(dst, offset, plane, f)
    else if (op === 2) adjustSaturation(dst, offset, plane, f)
    else adjustHue(dst, offset, plane, f)
  }
  normalizeTensor(dst, offset, plane, p.mean, p.std)
  return dst
}
