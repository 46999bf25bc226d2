/**
 * Node-only: image classifiers in and out. Sources: a torchvision state dict as .safetensors (with
 * --arch), a folder finetune wrote (config.json names the architecture), or a TF.js Layers model
 * (folder, model.json or a bundled model.min.js, e.g. nsfwjs's MobileNetV2).
 *
 * A trained folder holds config.json (`finetune_arch` or `finetune_source: "tfjs"`, `id2label`,
 * `label2id`), model.safetensors with torchvision's names (loads with `load_state_dict`) and
 * preprocessor_config.json; a TF.js model's folder also keeps its source files under base-tfjs/.
 */
import { existsSync, readdirSync, statSync } from 'node:fs'
import { copyFile, mkdir } from 'node:fs/promises'
import { basename, dirname, extname, join } from 'node:path'
import { CheckpointError, ConfigError } from '../errors.js'
import { readJsonFile, writeFileAtomic, writeSafetensorsFile } from '../checkpoint/io-node.js'
import { openSafetensorsFile } from '../checkpoint/safetensors-node.js'
import { readTfjsLayersModelFile } from '../checkpoint/tfjs-node.js'
import { readPreprocessorConfig, writePreprocessorConfig } from '../data/image-preprocessing-node.js'
import { IMAGENET_MEAN, IMAGENET_STD, type Preprocessing } from '../data/image-preprocessing.js'
import { Rng } from '../runtime/rng.js'
import { guardAllocation } from './config-sizes.js'
import type { ImageModel } from './image-model.js'
import { isHfVisionFolder, openHfVisionFolder, saveHfVisionFolder } from './hf-vision-node.js'
import type { HfVisionModel } from './hf-vision.js'
import { loadKerasModel, type KerasModel } from './keras.js'
import { loadWeights } from './load.js'
import { modelTensors } from './pretrained-node.js'
import { ARCHS, freezeBatchNorm, isArchName, loadVisionWeights, visionArch, type ArchName, type VisionModel } from './vision.js'

export interface ImageCheckpoint {
  source: 'torchvision' | 'tfjs' | 'hf'
  /** torchvision architecture, or the Keras model's name. */
  arch: string
  model: ImageModel
  /** Label names in the head's order; generic names when the checkpoint has none. */
  labels: string[]
  /** Whether the labels came from the checkpoint (a trained head) rather than being generic. */
  labelled: boolean
  preprocessing: Preprocessing
  /** TF.js: where the base model's files are (copied into trained folders). */
  tfjsDir?: string
  /** TF.js: how the head was replaced (recorded so a trained folder rebuilds the same model). */
  tfjsHead?: { numClasses: number; hidden: 'keep' | 'drop' } | null
  /** Hugging Face: the folder's preprocessor_config.json, written back on save. */
  preprocessorConfig?: Record<string, unknown>
}

export interface OpenImageOptions {
  arch?: string
  /** Square input side; defaults to the architecture's (torchvision) or the model's input (TF.js). */
  imageSize?: number
  seed?: number
}

const TFJS_FILES = ['model.json', 'model.min.js', 'model.js']

function isTfjs(path: string): boolean {
  if (!existsSync(path)) return false
  if (statSync(path).isFile()) return TFJS_FILES.includes(basename(path)) || (extname(path) === '.json' && !basename(path).startsWith('config'))
  return TFJS_FILES.some((f) => existsSync(join(path, f)))
}

/** torchvision's evaluation transform for an architecture, scaled to `size` when given (resize = size * 256/224). */
export function torchvisionPreprocessing(arch: ArchName, size?: number): Preprocessing {
  const p = visionArch(arch).preprocessing
  const crop = size ?? p.crop
  const resize = size ? Math.round((size * p.resize) / p.crop) : p.resize
  return { resize: { shortestEdge: resize }, crop: { height: crop, width: crop }, mean: p.mean, std: p.std, interpolation: p.interpolation, rescaleFactor: 1 / 255 }
}

async function openKeras(path: string, o: OpenImageOptions): Promise<{ model: KerasModel; labels: string[]; labelled: boolean; preprocessing: Preprocessing; dir: string }> {
  const src = await readTfjsLayersModelFile(path)
  const loaded = loadKerasModel(src)
  const [h, w] = loaded.model.imageSize ?? [o.imageSize ?? 224, o.imageSize ?? 224]
  const pp = loaded.preprocessing
  const size = o.imageSize ? { height: o.imageSize, width: o.imageSize } : { height: h, width: w }
  const preprocessing: Preprocessing = {
    resize: size,
    crop: null,
    mean: (pp?.mean as [number, number, number] | null) ?? [0, 0, 0],
    std: (pp?.std as [number, number, number] | null) ?? [1, 1, 1],
    interpolation: 'bilinear',
    rescaleFactor: pp ? pp.scale : 1 / 255,
  }
  const names = loaded.classNames ?? src.classNames
  const labels = names && names.length === loaded.model.numClasses ? names : Array.from({ length: loaded.model.numClasses }, (_, i) => `LABEL_${i}`)
  return { model: loaded.model, labels, labelled: !!names, preprocessing, dir: statSync(path).isDirectory() ? path : dirname(path) }
}

/** Opens an image classifier from any supported source. */
export async function openImageCheckpoint(path: string, o: OpenImageOptions = {}): Promise<ImageCheckpoint> {
  if (!existsSync(path)) throw new CheckpointError('MODEL_NOT_FOUND', `model ${path} does not exist`, 'pass --model with a .safetensors state dict (and --arch), a trained model folder, or a TF.js model.json')
  const dir = statSync(path).isDirectory() ? path : null
  // a folder finetune wrote
  if (dir && existsSync(join(dir, 'config.json'))) {
    const cfg = (await readJsonFile(join(dir, 'config.json'), 'model config')) as Record<string, unknown>
    const id2 = (cfg['id2label'] ?? {}) as Record<string, string>
    const labels = Object.keys(id2).sort((a, b) => Number(a) - Number(b)).map((k) => id2[k]!)
    const pre = (await readPreprocessorConfig(dir))?.preprocessing
    if (cfg['finetune_source'] === 'tfjs') {
      const base = join(dir, 'base-tfjs')
      const k = await openKeras(base, o)
      const head = cfg['tfjs_head'] as { numClasses: number; hidden: 'keep' | 'drop' } | null
      if (head) k.model.replaceHead(head.numClasses, new Rng(0), { hidden: head.hidden })
      const f = await openSafetensorsFile(join(dir, 'model.safetensors'))
      try {
        await loadWeights(k.model, f)
      } finally {
        await f.close()
      }
      return { source: 'tfjs', arch: k.model.modelName, model: k.model, labels, labelled: true, preprocessing: pre ?? k.preprocessing, tfjsDir: base, tfjsHead: head }
    }
    const arch = cfg['finetune_arch']
    if (typeof arch === 'string') {
      if (!isArchName(arch)) throw new ConfigError('MODEL_UNKNOWN_ARCH', `${join(dir, 'config.json')}: finetune_arch "${arch}" is not one of ${ARCHS.join(', ')}`)
      const imageSize = typeof cfg['image_size'] === 'number' ? (cfg['image_size'] as number) : undefined
      const model = guardAllocation(() => visionArch(arch).build(labels.length, { init: false, ...(arch === 'vit_b_16' && imageSize ? { imageSize } : {}), ...(o.seed !== undefined ? { seed: o.seed } : {}) }), join(dir, 'config.json'))
      model.nameParameters()
      const f = await openSafetensorsFile(join(dir, 'model.safetensors'))
      try {
        await loadVisionWeights(model, f)
      } finally {
        await f.close()
      }
      return { source: 'torchvision', arch, model, labels, labelled: true, preprocessing: pre ?? torchvisionPreprocessing(arch, imageSize) }
    }
    if (isHfVisionFolder(dir)) {
      const hf = await openHfVisionFolder(dir, { ...(o.imageSize ? { imageSize: o.imageSize } : {}), ...(o.seed !== undefined ? { seed: o.seed } : {}) })
      const generic = hf.labels.every((l, i) => l === `LABEL_${i}`)
      return { source: 'hf', arch: hf.model.architecture, model: hf.model, labels: hf.labels, labelled: hf.headFromCheckpoint && !generic, preprocessing: hf.preprocessing, ...(hf.preprocessorConfig ? { preprocessorConfig: hf.preprocessorConfig } : {}) }
    }
    if (typeof cfg['model_type'] === 'string')
      throw new CheckpointError('MODEL_HF_VISION', `${dir} is a Hugging Face "${String(cfg['model_type'])}" folder, not an image family finetune reads`, 'image families from Hugging Face: resnet, vit, mobilenet_v2; or pass a torchvision state dict with --arch')
  }
  if (isTfjs(path)) {
    const k = await openKeras(path, o)
    return { source: 'tfjs', arch: k.model.modelName, model: k.model, labels: k.labels, labelled: k.labelled, preprocessing: k.preprocessing, tfjsDir: k.dir, tfjsHead: null }
  }
  // a torchvision state dict
  const file = dir ? join(dir, 'model.safetensors') : path
  if (!existsSync(file) || extname(file) !== '.safetensors')
    throw new CheckpointError('MODEL_FORMAT', `${path} is neither a .safetensors state dict, a trained model folder, nor a TF.js model`, 'torchvision weights: torch.save(...) -> convert to .safetensors and pass --arch; TF.js: pass model.json')
  if (!o.arch) throw new ConfigError('MODEL_ARCH_REQUIRED', `${file} is a bare state dict: which architecture is it?`, `pass --arch with one of ${ARCHS.join(', ')}`)
  const arch = o.arch
  const a = visionArch(arch)
  const f = await openSafetensorsFile(file)
  try {
    const headKey = { resnet18: 'fc.weight', resnet34: 'fc.weight', resnet50: 'fc.weight', vgg11: 'classifier.6.weight', vgg16: 'classifier.6.weight', vgg16_bn: 'classifier.6.weight', inception_v3: 'fc.weight', mobilenet_v2: 'classifier.1.weight', vit_b_16: 'heads.head.weight' }[arch as ArchName]
    const classes = f.has(headKey) ? f.info(headKey).shape[0]! : 1000
    const model = guardAllocation(() => a.build(classes, { init: false, ...(arch === 'vit_b_16' && o.imageSize ? { imageSize: o.imageSize } : {}), ...(o.seed !== undefined ? { seed: o.seed } : {}) }), file)
    model.nameParameters()
    await loadVisionWeights(model, f)
    const labels = Array.from({ length: classes }, (_, i) => `LABEL_${i}`)
    return { source: 'torchvision', arch, model, labels, labelled: false, preprocessing: torchvisionPreprocessing(arch as ArchName, o.imageSize) }
  } finally {
    await f.close()
  }
}

/** Gives the model a fresh head for `labels` (torchvision's / Keras's initialisation). */
export function setHead(ck: ImageCheckpoint, labels: readonly string[], seed: number): void {
  if (ck.source === 'hf') (ck.model as HfVisionModel).replaceHead(labels.length, new Rng(seed), labels)
  else if (ck.source === 'tfjs') {
    ;(ck.model as KerasModel).replaceHead(labels.length, new Rng(seed))
    ck.tfjsHead = { numClasses: labels.length, hidden: 'keep' }
  } else ck.model.replaceHead(labels.length, new Rng(seed))
  ck.model.nameParameters()
  ck.labels = [...labels]
  ck.labelled = true
}

export function freezeImageBatchNorm(ck: ImageCheckpoint, flag = true): void {
  if (ck.source === 'tfjs') (ck.model as KerasModel).freezeBatchNormStats(flag)
  else freezeBatchNorm(ck.model as VisionModel, flag)
}

/** Writes a trained folder: config.json, model.safetensors (torchvision names), preprocessor_config.json. */
export async function saveImageCheckpoint(dir: string, ck: ImageCheckpoint, extra: Record<string, unknown> = {}): Promise<void> {
  await mkdir(dir, { recursive: true })
  if (ck.source === 'hf') {
    ;(ck.model as HfVisionModel).setLabels(ck.labels)
    await saveHfVisionFolder(dir, ck.model as HfVisionModel, ck.labels, ck.preprocessing, { ...(ck.preprocessorConfig ? { preprocessorConfig: ck.preprocessorConfig } : {}), extraConfig: extra })
    return
  }
  const id2label = Object.fromEntries(ck.labels.map((l, i) => [String(i), l]))
  const label2id = Object.fromEntries(ck.labels.map((l, i) => [l, i]))
  const size = ck.preprocessing.crop?.height ?? (ck.preprocessing.resize && 'height' in ck.preprocessing.resize ? ck.preprocessing.resize.height : ck.model.defaultImageSize)
  const config: Record<string, unknown> =
    ck.source === 'tfjs'
      ? { finetune_source: 'tfjs', keras_model: ck.arch, tfjs_head: ck.tfjsHead ?? null, num_classes: ck.labels.length, id2label, label2id, image_size: size, ...extra }
      : { finetune_arch: ck.arch, architectures: [ck.arch], num_classes: ck.labels.length, id2label, label2id, image_size: size, ...extra }
  if (ck.source === 'tfjs' && ck.tfjsDir && join(dir, 'base-tfjs') !== ck.tfjsDir) {
    await mkdir(join(dir, 'base-tfjs'), { recursive: true })
    for (const f of readdirSync(ck.tfjsDir)) if (statSync(join(ck.tfjsDir, f)).isFile() && (TFJS_FILES.includes(f) || /\.(bin|js|json)$/.test(f))) await copyFile(join(ck.tfjsDir, f), join(dir, 'base-tfjs', f))
  }
  await writeSafetensorsFile(join(dir, 'model.safetensors'), modelTensors(ck.model as never), { format: 'pt' })
  await writePreprocessorConfig(dir, ck.preprocessing, { image_processor_type: 'ViTImageProcessor' })
  await writeFileAtomic(join(dir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`)
}

export { IMAGENET_MEAN, IMAGENET_STD }
