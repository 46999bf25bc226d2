/**
 * What the torchvision image-classification families share: the VisionModel interface, build
 * options, the registry of architectures with torchvision's preprocessing defaults, and loading a
 * torchvision state_dict (as safetensors) by name.
 */
import { ConfigError } from '../errors.js'
import type { Tensor } from '../graph/graph.js'
import { markStructureChanged, Module } from '../graph/module.js'
import type { Rng } from '../runtime/rng.js'
import { Inception3 } from './inception.js'
import { BatchNorm2d } from './layers.js'
import { loadWeights, type LoadReport, type WeightSource } from './load.js'
import { MobileNetV2 } from './mobilenet.js'
import { ResNet } from './resnet.js'
import { VGG } from './vgg.js'
import { VisionTransformer } from './vit.js'

export const ARCHS = ['resnet18', 'resnet34', 'resnet50', 'vgg11', 'vgg16', 'vgg16_bn', 'inception_v3', 'mobilenet_v2', 'vit_b_16'] as const
export type ArchName = (typeof ARCHS)[number]

/** An image classifier whose parameter paths are torchvision's state_dict keys. */
export interface VisionModel extends Module {
  readonly arch: ArchName
  readonly numClasses: number
  /** (B, 3, H, W) normalised images -> (B, numClasses) logits. */
  logits(x: Tensor): Tensor
  /**
   * The pooled backbone output the head reads, (B, featureSize), so a frozen backbone's features can
   * be cached. (Named `backbone`, not `features`: torchvision calls VGG's and MobileNet's conv stack
   * `features`, and property paths are checkpoint keys.)
   */
  backbone(x: Tensor): Tensor
  /** The head alone: logits from `backbone`'s output. */
  head(features: Tensor): Tensor
  /** Width of `backbone`'s output. */
  readonly featureSize: number
  /** Dotted-name prefixes of the classifier, initialised fresh when a checkpoint's head does not fit. */
  readonly headPrefixes: readonly string[]
  /** Puts a new classifier for `numClasses` in place, initialised as torchvision initialises it. */
  replaceHead(numClasses: number, rng: Rng): void
  /** The side of the crop torchvision's pretrained weights were evaluated at. */
  readonly defaultImageSize: number
  /** The smallest input side the architecture accepts. */
  readonly minImageSize: number
  /**
   * Logits and the training loss from one forward pass. `loss(logits)` for most models; Inception v3
   * in training graphs adds `auxWeight * loss(auxLogits)` from its auxiliary classifier.
   */
  forwardLoss(x: Tensor, loss: (logits: Tensor) => Tensor): { logits: Tensor; loss: Tensor; auxLogits?: Tensor }
  /** Weight of the auxiliary classifier's loss (Inception v3 only; 0.4 by default). */
  readonly auxWeight?: number
  /** Converts a checkpoint tensor of a different shape (ViT position embeddings), or returns null. */
  adaptWeight?(name: string, shape: readonly number[], data: Float32Array): Float32Array | null
}

export interface VisionOptions {
  /** Seed of the initial weights (0). */
  seed?: number
  /** Initialise as torchvision does (true); false keeps torch.nn layer defaults, quicker before loading a checkpoint. */
  init?: boolean
  /** Dropout probability in the classifier: VGG 0.5, MobileNet 0.2, Inception 0.5, ViT 0 (also in the encoder). */
  dropout?: number
  /** vit_b_16: the square image side the position embeddings cover (224). */
  imageSize?: number
  /** inception_v3: map ImageNet-normalised inputs to [-1, 1] as Google's weights expect (torchvision's pretrained default). False by default. */
  transformInput?: boolean
  /** inception_v3: build the auxiliary classifier (true). */
  auxLogits?: boolean
  /** inception_v3: weight of the auxiliary loss in training (0.4). */
  auxWeight?: number
}

export interface Preprocessing {
  /** Shorter image side after resizing. */
  resize: number
  /** Side of the centre crop fed to the model. */
  crop: number
  mean: readonly [number, number, number]
  std: readonly [number, number, number]
  interpolation: 'bilinear' | 'bicubic'
}

export interface VisionArch {
  build(numClasses: number, opts?: VisionOptions): VisionModel
  /** torchvision's evaluation transform for the architecture's default weights. */
  preprocessing: Preprocessing
  /** Learnable parameters at 1000 classes, as torchvision's weight metadata lists them. */
  numParams: number
}

const IMAGENET = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], interpolation: 'bilinear' } as const
const pre = (resize: number, crop: number): Preprocessing => ({ resize, crop, ...IMAGENET })

/**
 * The architectures, by torchvision's builder names. Preprocessing follows each one's DEFAULT weights:
 * ResNet-50 and MobileNetV2 default to their IMAGENET1K_V2 weights (resize 232); their V1 weights
 * used 256.
 */
export const visionArchs: Readonly<Record<ArchName, VisionArch>> = {
  resnet18: { build: (n, o) => new ResNet('resnet18', n, o), preprocessing: pre(256, 224), numParams: 11689512 },
  resnet34: { build: (n, o) => new ResNet('resnet34', n, o), preprocessing: pre(256, 224), numParams: 21797672 },
  resnet50: { build: (n, o) => new ResNet('resnet50', n, o), preprocessing: pre(232, 224), numParams: 25557032 },
  vgg11: { build: (n, o) => new VGG('vgg11', n, o), preprocessing: pre(256, 224), numParams: 132863336 },
  vgg16: { build: (n, o) => new VGG('vgg16', n, o), preprocessing: pre(256, 224), numParams: 138357544 },
  vgg16_bn: { build: (n, o) => new VGG('vgg16_bn', n, o), preprocessing: pre(256, 224), numParams: 138365992 },
  inception_v3: { build: (n, o) => new Inception3(n, o), preprocessing: pre(342, 299), numParams: 27161264 },
  mobilenet_v2: { build: (n, o) => new MobileNetV2(n, o), preprocessing: pre(232, 224), numParams: 3504872 },
  vit_b_16: { build: (n, o) => new VisionTransformer(n, o), preprocessing: pre(256, 224), numParams: 86567656 },
}

export function isArchName(name: string): name is ArchName {
  return (ARCHS as readonly string[]).includes(name)
}

export function visionArch(name: string): VisionArch {
  if (!isArchName(name)) throw new ConfigError('MODEL_UNKNOWN_ARCH', `"${name}" is not a vision architecture finetune supports`, `supported: ${ARCHS.join(', ')}`)
  return visionArchs[name]
}

/** Every BatchNorm2d under `m`, e.g. to keep them in inference mode while the rest trains. */
export function batchNorms(m: Module): BatchNorm2d[] {
  const out: BatchNorm2d[] = []
  const seen = new Set<unknown>()
  const walk = (v: unknown): void => {
    if (v === null || typeof v !== 'object' || seen.has(v)) return
    seen.add(v)
    if (v instanceof BatchNorm2d) out.push(v)
    if (Array.isArray(v)) v.forEach(walk)
    else if (v instanceof Module) for (const [k, c] of Object.entries(v)) if (!k.startsWith('_')) walk(c)
  }
  walk(m)
  return out
}

/** Freezes (or unfreezes) the running statistics of every BatchNorm in the model. */
export function freezeBatchNorm(m: Module, flag = true): void {
  for (const bn of batchNorms(m)) bn.freezeStats(flag)
  markStructureChanged()
}

/**
 * A view of a weights file in which tensors the model adapts (ViT position embeddings for another
 * image size) already have the model's shape, so loading stays a lookup by name.
 */
export function adaptedSource(model: VisionModel, src: WeightSource): WeightSource {
  const adapt = model.adaptWeight?.bind(model)
  if (!adapt) return src
  const params = new Map(model.namedParameters())
  const size = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1)
  // Shapes are reported synchronously, so find the names that convert from their shapes up front.
  const adaptable = new Set<string>()
  for (const k of src.keys()) {
    const p = params.get(k)
    const shape = src.info(k).shape
    if (!p || shape.join() === p.shape.join()) continue
    if (adapt(k, shape, new Float32Array(size(shape)))?.length === p.data.length) adaptable.add(k)
  }
  return {
    name: src.name,
    keys: () => src.keys(),
    info: (k) => (adaptable.has(k) ? { shape: [...params.get(k)!.shape] } : src.info(k)),
    readAsFloat32: async (k) => (adaptable.has(k) ? adapt(k, src.info(k).shape, await src.readAsFloat32(k))! : src.readAsFloat32(k)),
    ...(src.fileOf ? { fileOf: (k: string) => src.fileOf!(k) } : {}),
  }
}

export interface LoadVisionOptions {
  /** Keep the model's fresh classifier when the checkpoint's has another number of classes. */
  reinitHead?: boolean
}

/**
 * Loads a torchvision state_dict (converted to safetensors, keys unchanged) into `model`: every
 * parameter and BatchNorm buffer by name; a classifier the checkpoint lacks (or, with `reinitHead`,
 * one of another size) stays freshly initialised; an Inception checkpoint's AuxLogits are skipped
 * when the model has none.
 */
export function loadVisionWeights(model: VisionModel, src: WeightSource, o: LoadVisionOptions = {}): Promise<LoadReport> {
  const noAux = model.arch === 'inception_v3' && !model.namedParameters().some(([n]) => n.startsWith('AuxLogits.'))
  return loadWeights(model, adaptedSource(model, src), { newOk: model.headPrefixes, ignoreMismatchedSizes: o.reinitHead ?? false, ...(noAux ? { ignorable: /^AuxLogits\./ } : {}) })
}
