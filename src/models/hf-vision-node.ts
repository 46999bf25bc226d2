/**
 * Node-only: Hugging Face image-classification folders in and out (model_type resnet, vit,
 * mobilenet_v2). A folder holds config.json, model.safetensors (or a sharded index) and usually
 * preprocessor_config.json; what saveHfVisionFolder writes loads back with transformers'
 * AutoModelForImageClassification / AutoImageProcessor.from_pretrained.
 */
import { existsSync, readFileSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { totalmem } from 'node:os'
import { join } from 'node:path'
import { ConfigError } from '../errors.js'
import { readJsonFile, writeFileAtomic, writeSafetensorsFile } from '../checkpoint/io-node.js'
import { readPreprocessorConfig, writePreprocessorConfig } from '../data/image-preprocessing-node.js'
import type { Preprocessing } from '../data/image-preprocessing.js'
import { checkConfigSizes } from './config-sizes.js'
import { Rng } from '../runtime/rng.js'
import type { HfConfig } from './hf.js'
import { buildHfVisionModel, hfVisionFamilies, hfVisionFamily, isHfVisionType, loadHfVisionWeights, type HfVisionModel, type HfVisionType } from './hf-vision.js'
import type { LoadReport } from './load.js'
import { assertModelDir, modelTensors, openWeights } from './pretrained-node.js'

export interface OpenHfVisionOptions {
  /** Number of classes of the head to build; the checkpoint's classifier must fit unless `reinitHead`. Default: config.json's labels. */
  numClasses?: number
  /** ViT: the square image side to build for; position embeddings are resampled (default: config.json's image_size). */
  imageSize?: number
  /** Keep a fresh classifier where the checkpoint's has another shape (HF's ignore_mismatched_sizes). */
  reinitHead?: boolean
  /** Seed of the fresh weights (a new head). */
  seed?: number
}

export interface HfVisionFolder {
  dir: string
  modelType: HfVisionType
  model: HfVisionModel
  /** Label names in class order (config.json's id2label, or LABEL_i). */
  labels: string[]
  /** Whether the classifier came from the checkpoint (false: the folder held a bare backbone, or reinitHead). */
  headFromCheckpoint: boolean
  /** preprocessor_config.json, or the family's HF default at the model's image size when the folder has none. */
  preprocessing: Preprocessing
  /** preprocessor_config.json as read (fields Preprocessing does not describe are written back from it); null when absent. */
  preprocessorConfig: Record<string, unknown> | null
  /** config.json as read. */
  config: HfConfig
  report: LoadReport
}

/** Whether `dir` holds a config.json whose model_type is an HF image family finetune reads. */
export function isHfVisionFolder(dir: string): boolean {
  const file = join(dir, 'config.json')
  if (!existsSync(file)) return false
  try {
    return isHfVisionType((JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>)['model_type'])
  } catch {
    return false
  }
}

/** Opens an HF image-classification folder: builds the model from config.json and loads its weights strictly. */
export async function openHfVisionFolder(dir: string, o: OpenHfVisionOptions = {}): Promise<HfVisionFolder> {
  assertModelDir(dir)
  const configPath = join(dir, 'config.json')
  const config = (await readJsonFile(configPath, 'model config')) as HfConfig
  if (typeof config !== 'object' || config === null || Array.isArray(config)) throw new ConfigError('CONFIG_INVALID', `${configPath}: expected a JSON object`, 'point at a Hugging Face model folder')
  const fam = hfVisionFamily(config, configPath)
  const weights = await openWeights(dir)
  let model: HfVisionModel
  let report: LoadReport
  try {
    // sizes against the weights' header and this machine's memory, before anything is allocated
    checkConfigSizes(fam.sizes(config, configPath, o.imageSize), weights, { file: configPath, memoryBytes: totalmem() })
    model = buildHfVisionModel(config, o.numClasses, { init: false, file: configPath, ...(o.imageSize !== undefined ? { imageSize: o.imageSize } : {}), ...(o.seed !== undefined ? { seed: o.seed } : {}) })
    // the fresh head a load may keep gets HF's initialisation rather than the quick default
    model.replaceHead(model.numClasses, new Rng(o.seed ?? 0), model.labels)
    model.nameParameters()
    report = await loadHfVisionWeights(model, weights, { reinitHead: o.reinitHead ?? false })
  } finally {
    await weights.close()
  }
  const head = model.namedParameters().filter(([n]) => model.headPrefixes.some((p) => n.startsWith(`${p}.`))).map(([n]) => n)
  const fresh = new Set([...report.initialised, ...report.reinitialised.map((r) => r.name)])
  const pre = await readPreprocessorConfig(dir)
  return {
    dir,
    modelType: model.modelType,
    model,
    labels: [...model.labels],
    headFromCheckpoint: head.every((n) => !fresh.has(n)),
    preprocessing: pre?.preprocessing ?? fam.preprocessing(model.defaultImageSize),
    preprocessorConfig: pre?.raw ?? null,
    config,
    report,
  }
}

export interface SaveHfVisionOptions {
  /** The preprocessor_config.json the model came with: its other fields are kept. */
  preprocessorConfig?: Record<string, unknown> | null
  /** Extra config.json fields (finetune's training record, ...). */
  extraConfig?: Record<string, unknown>
}

/**
 * Writes `dir/config.json` (the model's config with architectures, id2label and label2id),
 * `dir/model.safetensors` (HF's names, metadata format "pt"; BatchNorm num_batches_tracked as int64)
 * and `dir/preprocessor_config.json`.
 */
export async function saveHfVisionFolder(dir: string, model: HfVisionModel, labels: readonly string[], preprocessing: Preprocessing, o: SaveHfVisionOptions = {}): Promise<void> {
  if (labels.length !== model.numClasses)
    throw new ConfigError('MODEL_LABELS', `${labels.length} label names for a head of ${model.numClasses} classes`, 'give one name per class of the model\'s head')
  model.setLabels(labels)
  await mkdir(dir, { recursive: true })
  await writeSafetensorsFile(join(dir, 'model.safetensors'), modelTensors(model), { format: 'pt' })
  const base = o.preprocessorConfig ?? { image_processor_type: hfVisionFamilies[model.modelType].imageProcessor }
  await writePreprocessorConfig(dir, preprocessing, base)
  const config = { ...model.toConfig(), ...(o.extraConfig ?? {}) }
  await writeFileAtomic(join(dir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`)
}
