/**
 * What a model expects of its input images (size, interpolation, normalisation), and Hugging Face's
 * `preprocessor_config.json` read into it and written back from it.
 *
 * The processors read here: ViTImageProcessor (`size` {height,width}, no crop), DeiT (`size`
 * {height,width} + `crop_size`), ConvNextImageProcessor (`size` {shortest_edge} + `crop_pct`: below
 * 384 the image is resized to shortest_edge/crop_pct and centre-cropped to shortest_edge, from 384 up
 * it is warped to a square), and the generic shortest-edge + centre-crop kind (BitImageProcessor,
 * CLIPImageProcessor, and older `*FeatureExtractor` files with an integer `size`).
 */
import { ConfigError, IssueList } from '../errors.js'

/** PIL's resampling filters (torchvision's InterpolationMode), in PIL's numbering for HF's `resample`. */
export type Interpolation = 'nearest' | 'lanczos' | 'bilinear' | 'bicubic' | 'box' | 'hamming'
export const INTERPOLATIONS: readonly Interpolation[] = ['nearest', 'lanczos', 'bilinear', 'bicubic', 'box', 'hamming']

/** Resize the shorter side to `shortestEdge` (keeping the aspect ratio), or to exactly height x width. */
export type ResizeSpec = { shortestEdge: number } | { height: number; width: number }

export interface Size {
  height: number
  width: number
}

/** The eval-time pipeline: resize, centre crop, scale to [0,1] (`rescaleFactor`), normalise per channel. */
export interface Preprocessing {
  /** null: no resize (every image must then have the output size, as IDX images do). */
  resize: ResizeSpec | null
  /** null: no crop. */
  crop: Size | null
  mean: readonly [number, number, number]
  std: readonly [number, number, number]
  interpolation: Interpolation
  /** 8-bit values are multiplied by this before normalising; 1/255 (torchvision's ToTensor) by default. */
  rescaleFactor: number
}

export const IMAGENET_MEAN = [0.485, 0.456, 0.406] as const
export const IMAGENET_STD = [0.229, 0.224, 0.225] as const

/** torchvision's ImageNet evaluation recipe: Resize(256) + CenterCrop(224), bilinear, ImageNet mean/std. */
export const defaultPreprocessing = {
  resize: { shortestEdge: 256 },
  crop: { height: 224, width: 224 },
  mean: IMAGENET_MEAN,
  std: IMAGENET_STD,
  interpolation: 'bilinear',
  rescaleFactor: 1 / 255,
} as const satisfies Preprocessing

/** The height x width of every tensor `p` makes, or undefined when it depends on the image (no resize to a fixed size, no crop). */
export function outputSize(p: Preprocessing): Size | undefined {
  if (p.crop) return { ...p.crop }
  if (p.resize && 'height' in p.resize) return { height: p.resize.height, width: p.resize.width }
  return undefined
}

/** Checks a Preprocessing built by hand (sizes positive integers, std non-zero); throws ConfigError listing every problem. */
export function checkPreprocessing(p: Preprocessing, what = 'preprocessing'): Preprocessing {
  const issues = new IssueList()
  const posInt = (path: string, v: unknown): void => {
    if (!(typeof v === 'number' && Number.isInteger(v) && v > 0)) issues.add(path, `must be a positive integer, got ${JSON.stringify(v)}`)
  }
  if (p.resize) {
    if ('shortestEdge' in p.resize) posInt('resize.shortestEdge', p.resize.shortestEdge)
    else {
      posInt('resize.height', p.resize.height)
      posInt('resize.width', p.resize.width)
    }
  }
  if (p.crop) {
    posInt('crop.height', p.crop.height)
    posInt('crop.width', p.crop.width)
  }
  for (const key of ['mean', 'std'] as const) {
    const v = p[key] as unknown
    if (!Array.isArray(v) || v.length !== 3 || v.some((x) => typeof x !== 'number' || !Number.isFinite(x))) issues.add(key, `must be 3 numbers (one per RGB channel), got ${JSON.stringify(v)}`)
  }
  if (Array.isArray(p.std) && p.std.some((s) => s === 0)) issues.add('std', 'must not be 0')
  if (!INTERPOLATIONS.includes(p.interpolation)) issues.add('interpolation', `must be one of ${INTERPOLATIONS.join(', ')}, got ${JSON.stringify(p.interpolation)}`)
  if (!(typeof p.rescaleFactor === 'number' && p.rescaleFactor > 0)) issues.add('rescaleFactor', `must be a positive number, got ${JSON.stringify(p.rescaleFactor)}`)
  issues.throwIfAny('CONFIG_PREPROCESSING', what, 'fix the listed fields')
  return p
}

// PIL's filter numbers, as HF stores them in `resample`
const PIL_RESAMPLE: readonly Interpolation[] = ['nearest', 'lanczos', 'bilinear', 'bicubic', 'box', 'hamming']

const IMAGENET_STANDARD = [0.5, 0.5, 0.5] as const

/**
 * A Preprocessing from the contents of HF's `preprocessor_config.json`. `file` names it in errors.
 * Every problem is collected before one ConfigError is thrown.
 */
export function preprocessingFromHf(json: unknown, file = 'preprocessor_config.json'): Preprocessing {
  const issues = new IssueList()
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new ConfigError('CONFIG_PREPROCESSING', `${file}: expected a JSON object, got ${Array.isArray(json) ? 'a list' : typeof json}`, 'point at a Hugging Face preprocessor_config.json')
  }
  const c = json as Record<string, unknown>
  const type = String(c.image_processor_type ?? c.feature_extractor_type ?? '')
  const isConvNext = type.startsWith('ConvNext')
  const bool = (key: string, dflt: boolean): boolean => {
    const v = c[key]
    if (v === undefined || v === null) return dflt
    if (typeof v !== 'boolean') issues.add(key, `must be true or false, got ${JSON.stringify(v)}`)
    return v === true
  }
  const posInt = (path: string, v: unknown): number => {
    if (typeof v === 'number' && Number.isInteger(v) && v > 0) return v
    issues.add(path, `must be a positive integer, got ${JSON.stringify(v)}`)
    return 1
  }
  const triple = (key: string, dflt: readonly [number, number, number]): [number, number, number] => {
    const v = c[key]
    if (v === undefined || v === null) return [...dflt]
    if (typeof v === 'number') return [v, v, v]
    if (Array.isArray(v) && v.length === 3 && v.every((x) => typeof x === 'number')) return [v[0] as number, v[1] as number, v[2] as number]
    if (Array.isArray(v) && v.length === 1 && typeof v[0] === 'number') return [v[0], v[0], v[0]]
    issues.add(key, `must be 3 numbers (one per RGB channel), got ${JSON.stringify(v)}`)
    return [...dflt]
  }
  const hwSize = (path: string, v: unknown): Size | undefined => {
    if (typeof v === 'number') return { height: posInt(path, v), width: posInt(path, v) }
    if (typeof v === 'object' && v !== null && 'height' in v && 'width' in v) {
      const o = v as { height: unknown; width: unknown }
      return { height: posInt(`${path}.height`, o.height), width: posInt(`${path}.width`, o.width) }
    }
    issues.add(path, `must be {"height": H, "width": W} or an integer, got ${JSON.stringify(v)}`)
    return undefined
  }

  const doResize = bool('do_resize', true)
  const doCrop = bool('do_center_crop', c.crop_size !== undefined && c.crop_size !== null)
  const doNormalize = bool('do_normalize', true)
  const doRescale = bool('do_rescale', true)
  const cropPct = c.crop_pct
  // an integer `size` means a square for ViT-like processors, the shorter side for the others
  const squareByDefault = !isConvNext && !doCrop && cropPct === undefined
  let resize: ResizeSpec | null = null
  let crop: Size | null = null
  if (doResize) {
    const s = c.size
    if (typeof s === 'number') resize = squareByDefault ? { height: posInt('size', s), width: posInt('size', s) } : { shortestEdge: posInt('size', s) }
    else if (typeof s === 'object' && s !== null && 'shortest_edge' in s) {
      if ('longest_edge' in s && (s as { longest_edge: unknown }).longest_edge !== null) issues.add('size.longest_edge', 'a longest edge is not supported for image classification; use shortest_edge or height/width')
      resize = { shortestEdge: posInt('size.shortest_edge', (s as { shortest_edge: unknown }).shortest_edge) }
    } else if (s !== undefined) {
      const hw = hwSize('size', s)
      if (hw) resize = hw
    } else issues.add('size', 'is missing while do_resize is true')
  }
  if (doCrop) {
    if (c.crop_size === undefined || c.crop_size === null) issues.add('crop_size', 'is missing while do_center_crop is true')
    else crop = hwSize('crop_size', c.crop_size) ?? null
  }
  if (isConvNext && resize && 'shortestEdge' in resize) {
    // ConvNextImageProcessor.resize: below 384, resize to shortest_edge / crop_pct and crop back
    const edge = resize.shortestEdge
    const pct = cropPct === undefined || cropPct === null ? 224 / 256 : cropPct
    if (typeof pct !== 'number' || !(pct > 0 && pct <= 1)) issues.add('crop_pct', `must be a number in (0, 1], got ${JSON.stringify(pct)}`)
    else if (edge < 384) {
      resize = { shortestEdge: Math.trunc(edge / pct) }
      crop = { height: edge, width: edge }
    } else {
      resize = { height: edge, width: edge }
      crop = null
    }
  }
  let interpolation: Interpolation = 'bilinear'
  const r = c.resample
  if (r !== undefined && r !== null) {
    const name = typeof r === 'number' ? PIL_RESAMPLE[r] : typeof r === 'string' && INTERPOLATIONS.includes(r.toLowerCase() as Interpolation) ? (r.toLowerCase() as Interpolation) : undefined
    if (name === undefined) issues.add('resample', `must be a PIL filter number 0-5 (0 nearest, 1 lanczos, 2 bilinear, 3 bicubic, 4 box, 5 hamming), got ${JSON.stringify(r)}`)
    else interpolation = name
  }
  let rescaleFactor = 1
  if (doRescale) {
    const f = c.rescale_factor ?? 1 / 255
    if (typeof f !== 'number' || !(f > 0)) issues.add('rescale_factor', `must be a positive number, got ${JSON.stringify(f)}`)
    else rescaleFactor = f
  }
  const defaultMean = type.startsWith('ViT') ? IMAGENET_STANDARD : IMAGENET_MEAN
  const defaultStd = type.startsWith('ViT') ? IMAGENET_STANDARD : IMAGENET_STD
  const mean = doNormalize ? triple('image_mean', defaultMean) : ([0, 0, 0] as [number, number, number])
  const std = doNormalize ? triple('image_std', defaultStd) : ([1, 1, 1] as [number, number, number])
  if (std.some((s) => s === 0)) issues.add('image_std', 'must not be 0')
  issues.throwIfAny('CONFIG_PREPROCESSING', file, 'fix the listed fields of the preprocessor config')
  return { resize, crop, mean, std, interpolation, rescaleFactor }
}

const KEEPS_TYPE: Record<string, (p: Preprocessing) => boolean> = {
  ViTImageProcessor: (p) => p.crop === null && (p.resize === null || 'height' in p.resize),
  DeiTImageProcessor: (p) => p.resize === null || 'height' in p.resize,
  BitImageProcessor: () => true,
  CLIPImageProcessor: () => true,
  MobileNetV2ImageProcessor: () => true,
  ConvNextImageProcessor: () => true,
}

/**
 * `p` as a `preprocessor_config.json` object. Fields of `base` (the file the model came with) that
 * `p` does not describe are kept; its processor type is kept when it can express `p` (ConvNext's
 * crop_pct form included), else BitImageProcessor (shortest edge and/or crop) or ViTImageProcessor
 * (a fixed size without crop) is named.
 */
export function preprocessingToHf(p: Preprocessing, base: Record<string, unknown> = {}): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base }
  const baseType = String(base.image_processor_type ?? base.feature_extractor_type ?? '')
  const resample = PIL_RESAMPLE.indexOf(p.interpolation)
  let type: string
  const size = (s: ResizeSpec): Record<string, number> => ('shortestEdge' in s ? { shortest_edge: s.shortestEdge } : { height: s.height, width: s.width })
  delete out.crop_pct
  const convNext = baseType.startsWith('ConvNext') ? convNextForm(p) : undefined
  if (convNext) {
    type = 'ConvNextImageProcessor'
    out.do_resize = true
    out.size = { shortest_edge: convNext.edge }
    if (convNext.cropPct !== undefined) out.crop_pct = convNext.cropPct
    delete out.do_center_crop
    delete out.crop_size
  } else {
    type = KEEPS_TYPE[baseType]?.(p) ? baseType : p.crop === null && (p.resize === null || 'height' in p.resize) ? 'ViTImageProcessor' : 'BitImageProcessor'
    out.do_resize = p.resize !== null
    if (p.resize) out.size = size(p.resize)
    else delete out.size
    if (type !== 'ViTImageProcessor') {
      out.do_center_crop = p.crop !== null
      if (p.crop) out.crop_size = { height: p.crop.height, width: p.crop.width }
      else delete out.crop_size
    } else {
      delete out.do_center_crop
      delete out.crop_size
    }
  }
  if (type !== baseType) delete out.feature_extractor_type
  out.image_processor_type = type
  out.resample = resample
  out.do_rescale = true
  out.rescale_factor = p.rescaleFactor
  out.do_normalize = true
  out.image_mean = [...p.mean]
  out.image_std = [...p.std]
  return out
}

/** ConvNext's encoding of `p`, when it has one: edge < 384 with crop_pct, or a square warp from 384 up. */
function convNextForm(p: Preprocessing): { edge: number; cropPct?: number } | undefined {
  if (p.resize && 'shortestEdge' in p.resize && p.crop && p.crop.height === p.crop.width && p.crop.height < 384) {
    const edge = p.crop.height
    const cropPct = edge / p.resize.shortestEdge
    if (Math.trunc(edge / cropPct) === p.resize.shortestEdge && cropPct <= 1) return { edge, cropPct }
  }
  if (p.resize && 'height' in p.resize && p.resize.height === p.resize.width && p.resize.height >= 384 && p.crop === null) return { edge: p.resize.height }
  return undefined
}
