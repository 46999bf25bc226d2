/**
 * Node-only: imported ONNX models in and out. Sources: a bare .onnx file (preprocessing or tokenizer
 * from flags), a Transformers.js-layout folder (config.json, tokenizer.json or
 * preprocessor_config.json, onnx/model.onnx), or a folder finetune trained from one.
 *
 * A trained folder holds config.json (`finetune_source: "onnx"`, the task, the labels and the cut:
 * `onnx_features`), source.onnx (a copy of the graph it was trained from), model.safetensors (the
 * trained weights under their ONNX initializer names plus `finetune_head.*`), and the tokenizer files
 * or preprocessor_config.json. Reopening imports source.onnx and loads the weights by name.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { copyFile, mkdir } from 'node:fs/promises'
import { basename, dirname, extname, join, resolve } from 'node:path'
import { CheckpointError, ConfigError } from '../errors.js'
import { writeFileAtomic, writeSafetensorsFile } from '../checkpoint/io-node.js'
import { openSafetensorsFile } from '../checkpoint/safetensors-node.js'
import { readPreprocessorConfig, writePreprocessorConfig } from '../data/image-preprocessing-node.js'
import { IMAGENET_MEAN, IMAGENET_STD, type Preprocessing } from '../data/image-preprocessing.js'
import { loadOnnxFile } from '../onnx/import-node.js'
import type { OnnxModel } from '../onnx/import.js'
import { Rng } from '../runtime/rng.js'
import { loadTokenizer, type Tokenizer } from '../tokenizers/index.js'
import type { HfConfig, ProblemType } from './hf.js'
import { defaultCut, IMPORTED_HEAD, namedCut, type FeatureCut, type ImportedGraphModel, ImportedImageModel, ImportedTextModel } from './onnx-imported.js'
import { modelTensors, readTokenizerFiles } from './pretrained-node.js'

/** The file name of the graph copy in a trained folder. */
export const SOURCE_GRAPH = 'source.onnx'

const QUANTIZED_NAME = /_(quantized|int8|uint8|q4|q4f16|bnb4|fp16)\.onnx$/

const readConfig = (dir: string): HfConfig | null => {
  const f = join(dir, 'config.json')
  if (!existsSync(f)) return null
  try {
    return JSON.parse(readFileSync(f, 'utf8')) as HfConfig
  } catch {
    return null
  }
}

/**
 * Whether `path` is an ONNX model finetune imports: an .onnx file, a folder finetune trained from
 * one, or a folder with onnx/*.onnx (or model.onnx) and no model.safetensors (a folder with both
 * loads its safetensors weights with the native family).
 */
export function isOnnxModelPath(path: string): boolean {
  if (!existsSync(path)) return false
  if (statSync(path).isFile()) return extname(path) === '.onnx'
  if (readConfig(path)?.['finetune_source'] === 'onnx') return true
  if (existsSync(join(path, 'model.safetensors')) || existsSync(join(path, 'model.safetensors.index.json'))) return false
  const onnxDir = join(path, 'onnx')
  return (existsSync(onnxDir) && statSync(onnxDir).isDirectory() && readdirSync(onnxDir).some((f) => f.endsWith('.onnx'))) || readdirSync(path).some((f) => f.endsWith('.onnx'))
}

/** The float graph of a folder: onnx/model.onnx (Transformers.js) or model.onnx; quantized-only folders point to the float model. */
export function onnxFileOf(dir: string): string {
  for (const f of [join(dir, 'onnx', 'model.onnx'), join(dir, 'model.onnx')]) if (existsSync(f)) return f
  const sub = existsSync(join(dir, 'onnx')) ? join(dir, 'onnx') : dir
  const files = readdirSync(sub).filter((f) => f.endsWith('.onnx'))
  const float = files.filter((f) => !QUANTIZED_NAME.test(f))
  if (float.length === 1) return join(sub, float[0]!)
  if (files.length && float.length === 0)
    throw new CheckpointError('ONNX_QUANTIZED_ONLY', `${sub} holds only quantized graphs (${files.join(', ')}); quantized weights cannot be fine-tuned`, `download the float model into ${join(dir, 'onnx', 'model.onnx')} (Transformers.js repos ship onnx/model.onnx beside model_quantized.onnx)`)
  if (float.length > 1) throw new CheckpointError('ONNX_WHICH_FILE', `${sub} holds several graphs (${float.join(', ')}) and no model.onnx`, 'pass --model with the .onnx file to fine-tune')
  throw new CheckpointError('ONNX_NO_FILE', `${dir} has no onnx/model.onnx`, 'pass a Transformers.js-layout folder (config.json, onnx/model.onnx) or an .onnx file')
}

/** What a source gives before a head is chosen. */
export interface Source {
  /** The .onnx file imported. */
  file: string
  onnx: OnnxModel
  /** The folder's config.json (empty for a bare file). */
  config: HfConfig
  /** A folder finetune trained: its cut and whether model.safetensors has a head. */
  trained: { dir: string; cut: FeatureCut | null } | null
  folder: string | null
}

/** The graph a bare .onnx file, a Transformers.js-layout folder or a folder finetune trained holds. */
export function openSource(path: string): Source {
  if (!existsSync(path)) throw new CheckpointError('MODEL_NOT_FOUND', `model ${path} does not exist`, 'pass --model with an .onnx file or a Transformers.js-layout folder')
  if (statSync(path).isFile()) return { file: path, onnx: loadOnnxFile(path), config: {}, trained: null, folder: null }
  const config = readConfig(path) ?? {}
  if (config['finetune_source'] === 'onnx') {
    const file = join(path, SOURCE_GRAPH)
    if (!existsSync(file)) throw new CheckpointError('ONNX_NO_SOURCE', `${path} was trained from an ONNX graph but lacks its copy ${SOURCE_GRAPH}`, 'copy the .onnx file it was trained from into the folder as source.onnx')
    const f = config['onnx_features']
    const cut = typeof f === 'string' ? { name: f, reduce: (config['onnx_features_reduce'] as FeatureCut['reduce'] | undefined) ?? 'none', why: String(config['onnx_features_why'] ?? `--features ${f}`) } : null
    return { file, onnx: loadOnnxFile(file), config, trained: { dir: path, cut }, folder: path }
  }
  const file = onnxFileOf(path)
  return { file, onnx: loadOnnxFile(file), config, trained: null, folder: path }
}

/** Labels of an untrained graph's output: config.json's id2label when it has one per output, else LABEL_i. */
export function labelsOf(config: HfConfig, n: number): { labels: string[]; labelled: boolean } {
  const id2 = (config['id2label'] ?? null) as Record<string, string> | null
  const names = id2 ? Object.keys(id2).sort((a, b) => Number(a) - Number(b)).map((k) => id2[k]!) : []
  if (names.length === n && n > 0) return { labels: names, labelled: true }
  return { labels: Array.from({ length: n }, (_, i) => `LABEL_${i}`), labelled: false }
}

/** Loads a trained folder's model.safetensors onto the graph and its head (strict: every name must match). */
export async function loadTrainedWeights(model: ImportedGraphModel, dir: string, cut: FeatureCut | null, probe: () => Record<string, import('../graph/graph.js').Tensor>): Promise<void> {
  const f = await openSafetensorsFile(join(dir, 'model.safetensors'))
  try {
    if (cut && f.has(`${IMPORTED_HEAD}.weight`)) {
      const [classes] = f.info(`${IMPORTED_HEAD}.weight`).shape
      model.attachHead(cut, classes!, new Rng(0), probe)
    }
    const params = model.namedParameters()
    const missing = params.filter(([n]) => !f.has(n)).map(([n]) => n)
    const known = new Set(params.map(([n]) => n))
    const unexpected = f.keys().filter((k) => !known.has(k))
    if (missing.length || unexpected.length)
      throw new CheckpointError('CHECKPOINT_MISSING_KEYS', `${join(dir, 'model.safetensors')} does not match ${SOURCE_GRAPH}: ${missing.length ? `missing ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ` and ${missing.length - 5} more` : ''}` : ''}${missing.length && unexpected.length ? '; ' : ''}${unexpected.length ? `unexpected ${unexpected.slice(0, 5).join(', ')}` : ''}`, 'the weights belong to another graph: retrain, or restore the matching source.onnx')
    for (const [n, p] of params) {
      const shape = f.info(n).shape
      if (shape.join() !== p.shape.join()) throw new CheckpointError('CHECKPOINT_SHAPE', `${n} has shape [${shape.join(', ')}] in model.safetensors, [${p.shape.join(', ')}] in the graph`, 'the weights belong to another graph')
      p.data.set(await f.readAsFloat32(n))
    }
  } finally {
    await f.close()
  }
}

export interface OnnxImageOptions {
  /** Input height (and width unless `imageWidth`); the graph's fixed size wins. */
  imageSize?: number | undefined
  imageWidth?: number | undefined
  /** "0.5,0.5,0.5" */
  imageMean?: string | undefined
  imageStd?: string | undefined
}

/** The defaults for a bare .onnx file's preprocessing, stated in --help. */
export const ONNX_IMAGE_DEFAULTS = { size: 224, mean: IMAGENET_MEAN, std: IMAGENET_STD } as const

function triple(v: string | undefined, flag: string, dflt: readonly [number, number, number]): [number, number, number] {
  if (v === undefined) return [...dflt]
  const xs = v.split(',').map(Number)
  if (xs.length === 1 && Number.isFinite(xs[0])) return [xs[0]!, xs[0]!, xs[0]!]
  if (xs.length !== 3 || !xs.every(Number.isFinite)) throw new ConfigError('CLI_USAGE', `--${flag} must be one number or three (R,G,B), got "${v}"`, `e.g. --${flag} 0.5,0.5,0.5`)
  return xs as [number, number, number]
}

export interface OnnxImageCheckpoint {
  source: 'onnx'
  arch: string
  model: ImportedImageModel
  labels: string[]
  labelled: boolean
  preprocessing: Preprocessing
  /** The .onnx file the graph came from (copied into trained folders). */
  file: string
  config: HfConfig
  preprocessorConfig?: Record<string, unknown>
}

/** Opens an imported image classifier. */
export async function openOnnxImage(path: string, o: OnnxImageOptions = {}): Promise<OnnxImageCheckpoint> {
  const s = openSource(path)
  const model = new ImportedImageModel(s.onnx)
  const [fh, fw] = model.fixedSize
  const pre = s.folder ? await readPreprocessorConfig(s.folder) : undefined
  let preprocessing: Preprocessing
  if (pre) preprocessing = pre.preprocessing
  else {
    const h = fh ?? o.imageSize ?? ONNX_IMAGE_DEFAULTS.size
    const w = fw ?? o.imageWidth ?? o.imageSize ?? ONNX_IMAGE_DEFAULTS.size
    preprocessing = { resize: { height: h, width: w }, crop: null, mean: triple(o.imageMean, 'image-mean', ONNX_IMAGE_DEFAULTS.mean), std: triple(o.imageStd, 'image-std', ONNX_IMAGE_DEFAULTS.std), interpolation: 'bilinear', rescaleFactor: 1 / 255 }
  }
  const size = preprocessing.crop ?? (preprocessing.resize && 'height' in preprocessing.resize ? preprocessing.resize : { height: model.defaultImageSize, width: model.defaultImageSize })
  if (s.trained) await loadTrainedWeights(model, s.trained.dir, s.trained.cut, () => model.probe(size.height, size.width))
  const { labels, labelled } = labelsOf(s.config, model.numClasses)
  return { source: 'onnx', arch: `onnx:${typeof s.config['onnx_source_file'] === 'string' ? s.config['onnx_source_file'] : basename(s.file)}`, model, labels, labelled: model.headPrefixes.length > 0 && labelled, preprocessing, file: s.file, config: s.config, ...(pre ? { preprocessorConfig: pre.raw } : {}) }
}

/** The cut `--features` names (or the default), checked on one probe input. */
export function chooseCut(model: ImportedGraphModel, features: string | undefined, probe: () => Record<string, import('../graph/graph.js').Tensor>): FeatureCut {
  if (!features) return defaultCut(model.graph)
  const names = new Set([...model.graph.inputs.map((i) => i.name), ...model.graph._graph.node.flatMap((n) => n.output)])
  const rank = names.has(features) ? model.probeShape(features, probe).length : 0
  return namedCut(model.graph, features, rank)
}

export interface OnnxTextOptions {
  /** tokenizer.json (or a folder with tokenizer files) for a bare .onnx file. */
  tokenizer?: string | undefined
}

export interface OnnxText {
  model: ImportedTextModel
  tokenizer: Tokenizer
  config: HfConfig
  labels: string[]
  problemType: ProblemType | null
  file: string
  /** Whether the model has a head finetune trained. */
  trained: boolean
}

async function tokenizerOf(dir: string | null, flag: string | undefined, file: string): Promise<Tokenizer> {
  const from = flag ?? dir
  if (!from) throw new ConfigError('ONNX_TOKENIZER_REQUIRED', `${file} is a bare ONNX graph: which tokenizer does it take?`, 'pass --tokenizer with its tokenizer.json (or a folder holding it), or use a Transformers.js-layout folder')
  // a tokenizer.json file: its neighbours (tokenizer_config.json: pad token, max length) count too
  if (statSync(from).isFile()) return loadTokenizer({ ...(await readTokenizerFiles(dirname(from))), tokenizerJson: readFileSync(from, 'utf8') })
  const files = await readTokenizerFiles(from)
  if (!files.tokenizerJson && !files.vocabTxt && !files.vocabJson) throw new CheckpointError('MODEL_NO_TOKENIZER', `${from} has no tokenizer files (tokenizer.json, vocab.txt or vocab.json + merges.txt)`, 'pass --tokenizer with the tokenizer.json the model was trained with')
  return loadTokenizer(files)
}

/** Opens an imported text classifier. */
export async function openOnnxText(path: string, o: OnnxTextOptions = {}): Promise<OnnxText> {
  const s = openSource(path)
  const model = new ImportedTextModel(s.onnx, s.config)
  const tokenizer = await tokenizerOf(s.folder, o.tokenizer, s.file)
  if (s.trained) await loadTrainedWeights(model, s.trained.dir, s.trained.cut, () => model.probe())
  const { labels } = labelsOf(s.config, model.numClasses)
  const pt = s.config['problem_type']
  const problemType: ProblemType = pt === 'multi_label_classification' || pt === 'regression' ? pt : labels.length === 1 ? 'regression' : 'single_label_classification'
  return { model, tokenizer, config: s.config, labels, problemType, file: s.file, trained: model.headPrefixes.length > 0 }
}

/** config.json fields that record an imported model's labels and cut. */
export function importedConfig(base: HfConfig, file: string, model: ImportedGraphModel, labels: readonly string[], extra: Record<string, unknown>): HfConfig {
  const cut = model.cut
  return {
    ...base,
    ...extra,
    finetune_source: 'onnx',
    onnx_graph: SOURCE_GRAPH,
    onnx_source_file: base['onnx_source_file'] ?? basename(file),
    onnx_features: cut?.name ?? null,
    onnx_features_reduce: cut?.reduce ?? null,
    onnx_features_why: cut?.why ?? null,
    num_labels: labels.length,
    id2label: Object.fromEntries(labels.map((l, i) => [String(i), l])),
    label2id: Object.fromEntries(labels.map((l, i) => [l, i])),
  }
}

/** Writes source.onnx (a copy of the graph), model.safetensors and config.json. */
export async function writeImported(dir: string, file: string, model: ImportedGraphModel, config: HfConfig): Promise<void> {
  await mkdir(dir, { recursive: true })
  const dest = join(dir, SOURCE_GRAPH)
  if (resolve(file) !== resolve(dest)) await copyFile(file, dest)
  await writeSafetensorsFile(join(dir, 'model.safetensors'), modelTensors(model as never), { format: 'pt' })
  await writeFileAtomic(join(dir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`)
}

/** Writes a trained imported image classifier (see the file comment for the layout). */
export async function saveOnnxImage(dir: string, ck: OnnxImageCheckpoint, extra: Record<string, unknown> = {}): Promise<void> {
  await writeImported(dir, ck.file, ck.model, importedConfig(ck.config, ck.file, ck.model, ck.labels, extra))
  await writePreprocessorConfig(dir, ck.preprocessing, ck.preprocessorConfig ?? { image_processor_type: 'ViTImageProcessor' })
}

/** Writes a trained imported text classifier (see the file comment for the layout). */
export async function saveOnnxText(dir: string, m: OnnxText, extra: Record<string, unknown> = {}): Promise<void> {
  const config = importedConfig(m.config, m.file, m.model, m.labels, { ...extra, ...(m.problemType ? { problem_type: m.problemType } : {}) })
  await writeImported(dir, m.file, m.model, config)
  for (const [name, text] of Object.entries(m.tokenizer.toFiles())) await writeFileAtomic(join(dir, name), text)
}
