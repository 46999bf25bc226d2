/**
 * Hugging Face image classifiers (config.json `model_type` resnet, vit, mobilenet_v2): the
 * HfVisionModel interface, the families by model_type, config-field helpers the family files share,
 * HF's default preprocessing per family, and loading a checkpoint's tensors by HF's names.
 * Browser-safe; reading and writing folders is in hf-vision-node.ts.
 */
import { ConfigError } from '../errors.js'
import type { Parameter } from '../graph/graph.js'
import type { Rng } from '../runtime/rng.js'
import { IMAGENET_MEAN, IMAGENET_STD, type Preprocessing } from '../data/image-preprocessing.js'
import { guardAllocation, type ConfigSizes } from './config-sizes.js'
import type { HfConfig } from './hf.js'
import { HfMobileNetV2, hfMobileNetV2Sizes, parseHfMobileNetV2Config } from './hf-mobilenet-v2.js'
import { HfResNet, hfResNetSizes, parseHfResNetConfig } from './hf-resnet.js'
import { HfViT, hfViTSizes, parseHfViTConfig } from './hf-vit.js'
import type { ImageModel } from './image-model.js'
import { loadWeights, type LoadReport, type WeightSource } from './load.js'

export type HfVisionType = 'resnet' | 'vit' | 'mobilenet_v2'
export const HF_VISION_TYPES: readonly HfVisionType[] = ['resnet', 'vit', 'mobilenet_v2']

/** An image classifier whose parameter paths are the state_dict keys of an HF *ForImageClassification class. */
export interface HfVisionModel extends ImageModel {
  readonly modelType: HfVisionType
  /** The HF class, written to config.json's `architectures`. */
  readonly architecture: string
  /** The backbone's attribute ("resnet", "vit", "mobilenet_v2"); checkpoints of the bare model lack it. */
  readonly basePrefix: string
  /** Label names in class order (config.json's id2label). */
  readonly labels: readonly string[]
  readonly id2label: Readonly<Record<string, string>>
  readonly label2id: Readonly<Record<string, number>>
  /** The smallest square input side the network accepts. */
  readonly minImageSize: number
  /** A new classifier for `numClasses`, initialised as the HF class initialises it; labels LABEL_i unless given. */
  replaceHead(numClasses: number, rng: Rng, labels?: readonly string[]): void
  /** Renames the classes of the current head (as many names as classes). */
  setLabels(labels: readonly string[]): void
  /** config.json as save_pretrained writes it: the source's fields, every resolved field, architectures and labels. */
  toConfig(): HfConfig
  /** Converts a checkpoint tensor of another shape (ViT position embeddings for another image size), or returns null. */
  adaptWeight?(name: string, shape: readonly number[], data: Float32Array): Float32Array | null
}

export interface HfVisionOptions {
  /** Seed of the initial weights (0). */
  seed?: number
  /** Initialise as HF's _init_weights does (true); false is quicker before loading a checkpoint. */
  init?: boolean
  /** ViT: the square image side to build for (config.json's image_size by default); position embeddings are resampled when loading. */
  imageSize?: number
  /** Names config.json in errors. */
  file?: string
}

export interface HfVisionFamily {
  /** The HF class name of the classifier. */
  architecture: string
  basePrefix: string
  build(raw: HfConfig, numClasses: number | undefined, o: HfVisionOptions): HfVisionModel
  /** What the config's sizes imply (checkpoint shapes, block counts, parameters); parses without allocating. */
  sizes(raw: HfConfig, file?: string, imageSize?: number): ConfigSizes
  /** Keys of other HF heads of the family that a classifier does not read (ViTModel's pooler, ...). */
  ignorable: RegExp
  /** The preprocessing of HF's image processor for the family, when a folder has no preprocessor_config.json. */
  preprocessing(imageSize: number): Preprocessing
  /** The image processor class written to preprocessor_config.json. */
  imageProcessor: string
}

const HALF = [0.5, 0.5, 0.5] as const

/** The families by config.json `model_type`. Adding one is one entry here. */
export const hfVisionFamilies: Readonly<Record<HfVisionType, HfVisionFamily>> = {
  resnet: {
    architecture: 'ResNetForImageClassification',
    basePrefix: 'resnet',
    build: (raw, n, o) => new HfResNet(raw, n, o),
    sizes: (raw, file) => hfResNetSizes(parseHfResNetConfig(raw, file)),
    ignorable: /^$/,
    // ConvNextImageProcessor (microsoft/resnet-50): shortest edge 224 / crop_pct 0.875 = 256, crop 224, bicubic
    preprocessing: (s) => ({ resize: { shortestEdge: Math.trunc(s / 0.875) }, crop: { height: s, width: s }, mean: IMAGENET_MEAN, std: IMAGENET_STD, interpolation: 'bicubic', rescaleFactor: 1 / 255 }),
    imageProcessor: 'ConvNextImageProcessor',
  },
  vit: {
    architecture: 'ViTForImageClassification',
    basePrefix: 'vit',
    build: (raw, n, o) => new HfViT(raw, n, o),
    sizes: (raw, file, imageSize) => {
      const c = parseHfViTConfig(raw, file)
      return hfViTSizes(c, imageSize ?? c.image_size)
    },
    // ViTModel's pooler, ViTForMaskedImageModeling's mask token and decoder
    ignorable: /^((vit\.)?pooler\.|(vit\.)?embeddings\.mask_token$|decoder\.)/,
    // ViTImageProcessor: a square resize, no crop, mean and std 0.5
    preprocessing: (s) => ({ resize: { height: s, width: s }, crop: null, mean: HALF, std: HALF, interpolation: 'bilinear', rescaleFactor: 1 / 255 }),
    imageProcessor: 'ViTImageProcessor',
  },
  mobilenet_v2: {
    architecture: 'MobileNetV2ForImageClassification',
    basePrefix: 'mobilenet_v2',
    build: (raw, n, o) => new HfMobileNetV2(raw, n, o),
    sizes: (raw, file) => hfMobileNetV2Sizes(parseHfMobileNetV2Config(raw, file)),
    // MobileNetV2ForSemanticSegmentation's head
    ignorable: /^segmentation_head\./,
    // MobileNetV2ImageProcessor: shortest edge 256, crop 224, bilinear, mean and std 0.5
    preprocessing: (s) => ({ resize: { shortestEdge: Math.round((s * 256) / 224) }, crop: { height: s, width: s }, mean: HALF, std: HALF, interpolation: 'bilinear', rescaleFactor: 1 / 255 }),
    imageProcessor: 'MobileNetV2ImageProcessor',
  },
}

export function isHfVisionType(t: unknown): t is HfVisionType {
  return typeof t === 'string' && (HF_VISION_TYPES as readonly string[]).includes(t)
}

/** The family of a config.json object, with an error naming the supported ones. */
export function hfVisionFamily(raw: HfConfig, file = 'config.json'): HfVisionFamily {
  const t = raw['model_type']
  if (!isHfVisionType(t))
    throw new ConfigError(
      'MODEL_UNKNOWN_FAMILY',
      t === undefined ? `${file} has no "model_type"` : `${file}: model_type ${JSON.stringify(t)} is not an image family finetune supports`,
      `supported image model types: ${HF_VISION_TYPES.join(', ')}`,
    )
  return hfVisionFamilies[t]
}

/**
 * Builds the *ForImageClassification model a config.json describes. `numClasses` overrides the
 * config's labels (the head gets LABEL_i names, as HF's num_labels does).
 */
export function buildHfVisionModel(raw: HfConfig, numClasses?: number, o: HfVisionOptions = {}): HfVisionModel {
  const fam = hfVisionFamily(raw, o.file)
  const m = guardAllocation(() => fam.build(raw, numClasses, o), o.file ?? 'config.json', () => fam.sizes(raw, o.file, o.imageSize))
  m.nameParameters()
  return m
}

export interface LoadHfVisionOptions {
  /** Leave the model's fresh classifier in place where the checkpoint's has another shape (HF's ignore_mismatched_sizes). */
  reinitHead?: boolean
}

/**
 * Loads a checkpoint's tensors by HF's names: every parameter and BatchNorm buffer must be there
 * (CHECKPOINT_MISSING_KEYS), with the model's shape (CHECKPOINT_SHAPE_MISMATCH), and every tensor
 * must be used (CHECKPOINT_UNEXPECTED_KEYS) except other HF heads of the family. A checkpoint of
 * the bare backbone (ResNetModel, ViTModel: keys without the prefix, no classifier) loads with the
 * model's fresh classifier; a ViT checkpoint for another image size gets its position embeddings
 * resampled as HF's interpolate_pos_encoding does.
 */
export function loadHfVisionWeights(model: HfVisionModel, src: WeightSource, o: LoadHfVisionOptions = {}): Promise<LoadReport> {
  const fam = hfVisionFamilies[model.modelType]
  return loadWeights(model, adaptedSource(model, src), { basePrefix: model.basePrefix, newOk: model.headPrefixes, ignorable: fam.ignorable, ignoreMismatchedSizes: o.reinitHead ?? false })
}

/** `src` with tensors the model adapts (ViT position embeddings) reported and read in the model's shape. */
function adaptedSource(model: HfVisionModel, src: WeightSource): WeightSource {
  const adapt = model.adaptWeight?.bind(model)
  if (!adapt) return src
  const params = new Map<string, Parameter>(model.namedParameters())
  // checkpoints of the bare backbone name tensors without the prefix
  const full = (k: string): string => (params.has(k) ? k : `${model.basePrefix}.${k}`)
  const adaptable = new Set<string>()
  for (const k of src.keys()) {
    const p = params.get(full(k))
    const shape = src.info(k).shape
    if (!p || shape.join() === p.shape.join()) continue
    // shapes are reported synchronously, so find the tensors that convert from their shapes up front
    if (adapt(full(k), shape, new Float32Array(shape.reduce((a, b) => a * b, 1)))?.length === p.data.length) adaptable.add(k)
  }
  if (adaptable.size === 0) return src
  return {
    name: src.name,
    keys: () => src.keys(),
    info: (k) => (adaptable.has(k) ? { shape: [...params.get(full(k))!.shape] } : src.info(k)),
    readAsFloat32: async (k) => (adaptable.has(k) ? adapt(full(k), src.info(k).shape, await src.readAsFloat32(k))! : src.readAsFloat32(k)),
    ...(src.fileOf ? { fileOf: (k: string) => src.fileOf!(k) } : {}),
  }
}

// the helpers the family files share live in hf-vision-base.ts (no import cycle with the families)
export { readBool, readIntList, readPositive, readProb, truncNormal, hfActivation, readActivation, readImageSize, makeLabels, configLabels, hfConfigOut } from './hf-vision-base.js'
export type { Labels } from './hf-vision-base.js'
