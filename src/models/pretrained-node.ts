/**
 * Node-only: Hugging Face checkpoint folders in and out for the text families. A folder holds
 * config.json, model.safetensors (or a sharded index) and tokenizer files; what finetune writes
 * loads back with transformers' from_pretrained.
 */
import { existsSync, statSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { totalmem } from 'node:os'
import { join } from 'node:path'
import { CheckpointError, ConfigError } from '../errors.js'
import { readJsonFile, writeFileAtomic, writeSafetensorsFile } from '../checkpoint/io-node.js'
import { openSafetensorsFile, openShardedSafetensors, SHARD_INDEX } from '../checkpoint/safetensors-node.js'
import type { SafetensorsFile, TensorToWrite } from '../checkpoint/safetensors.js'
import { loadTokenizer, type Tokenizer, type TokenizerFiles, type TokenizerKind } from '../tokenizers/index.js'
import { checkConfigSizes } from './config-sizes.js'
import { readLabels, type HfConfig, type ProblemType, type TextModel, type TextTask } from './hf.js'
import { loadWeights, type LoadReport } from './load.js'
import { TEXT_FAMILIES, textFamily } from './registry.js'

export interface LabelSpec {
  names: readonly string[]
  problemType: ProblemType
}

export interface LoadTextOptions {
  task: TextTask
  /** Labels from the training data; the head is kept when the checkpoint's labels are the same. */
  labels?: LabelSpec
  /** Overrides config.json's model_type. */
  family?: string
  /** Start a new head even when the checkpoint has one (HF's ignore_mismatched_sizes, and more). */
  reinitHead?: boolean
  seed?: number
}

export interface LoadedText {
  dir: string
  family: string
  model: TextModel
  tokenizer: Tokenizer
  config: HfConfig
  report: LoadReport
  /** Label names in id order (empty for LM and base). */
  labels: string[]
  problemType: ProblemType | null
  /** Whether the head came from the checkpoint (false: initialised fresh). */
  headFromCheckpoint: boolean
}

export function assertModelDir(dir: string): void {
  if (!existsSync(dir)) throw new CheckpointError('MODEL_NOT_FOUND', `model folder ${dir} does not exist`, 'pass --model with a folder holding config.json and model.safetensors')
  if (!statSync(dir).isDirectory()) throw new CheckpointError('MODEL_NOT_A_DIR', `${dir} is a file, not a model folder`, 'pass the folder that holds config.json and model.safetensors')
  if (!existsSync(join(dir, 'config.json'))) throw new CheckpointError('MODEL_NO_CONFIG', `${dir} has no config.json`, 'is this a Hugging Face model folder? It needs config.json and model.safetensors')
}

export async function openWeights(dir: string): Promise<SafetensorsFile> {
  if (existsSync(join(dir, 'model.safetensors'))) return openSafetensorsFile(join(dir, 'model.safetensors'))
  if (existsSync(join(dir, SHARD_INDEX))) return openShardedSafetensors(dir)
  const other = ['pytorch_model.bin', 'tf_model.h5', 'flax_model.msgpack'].find((f) => existsSync(join(dir, f)))
  throw new CheckpointError(
    'MODEL_NO_WEIGHTS',
    `${dir} has no model.safetensors${other ? ` (it has ${other}, which finetune does not read)` : ''}`,
    other ? 'convert it once with Python: AutoModel.from_pretrained(dir).save_pretrained(dir, safe_serialization=True)' : 'the folder needs model.safetensors or model.safetensors.index.json with its shards',
  )
}

export async function readTokenizerFiles(dir: string): Promise<TokenizerFiles> {
  const f: TokenizerFiles = {}
  const read = async (name: string): Promise<string | undefined> => (existsSync(join(dir, name)) ? readFile(join(dir, name), 'utf8') : undefined)
  const map: [keyof TokenizerFiles, string][] = [
    ['tokenizerJson', 'tokenizer.json'],
    ['tokenizerConfigJson', 'tokenizer_config.json'],
    ['specialTokensMapJson', 'special_tokens_map.json'],
    ['vocabTxt', 'vocab.txt'],
    ['vocabJson', 'vocab.json'],
    ['mergesTxt', 'merges.txt'],
  ]
  for (const [k, name] of map) {
    const v = await read(name)
    if (v !== undefined) f[k] = v
  }
  return f
}

export async function loadFolderTokenizer(dir: string, family: string): Promise<Tokenizer> {
  const files = await readTokenizerFiles(dir)
  if (!files.tokenizerJson && !files.vocabTxt && !files.vocabJson)
    throw new CheckpointError('MODEL_NO_TOKENIZER', `${dir} has no tokenizer files (tokenizer.json, vocab.txt or vocab.json + merges.txt)`, 'copy the tokenizer files of the checkpoint you started from into this folder')
  const kind: TokenizerKind | undefined = family === 'gpt2' ? 'gpt2' : family === 'roberta' ? 'roberta' : family === 'bert' || family === 'distilbert' ? 'bert' : undefined
  return loadTokenizer(files, kind ? { kind } : {})
}

const sameLabels = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && [...a].sort().join('\u0000') === [...b].sort().join('\u0000')

export async function loadTextCheckpoint(dir: string, o: LoadTextOptions): Promise<LoadedText> {
  assertModelDir(dir)
  const configPath = join(dir, 'config.json')
  const raw = (await readJsonFile(configPath, 'model config')) as HfConfig
  const family = o.family ?? (typeof raw['model_type'] === 'string' ? (raw['model_type'] as string) : undefined)
  if (!family) throw new ConfigError('CONFIG_MODEL_TYPE', `${configPath} has no "model_type"`, `pass --family with one of ${TEXT_FAMILIES.join(', ')}`)
  const fam = textFamily(family, configPath)
  if (!fam.tasks.includes(o.task)) throw new ConfigError('MODEL_TASK', `${family} has no ${o.task} head in finetune`, `tasks for ${family}: ${fam.tasks.filter((t) => t !== 'base').join(', ')}`)
  const weights = await openWeights(dir)
  try {
    // sizes against the weights' header and this machine's memory, before anything is allocated
    checkConfigSizes(fam.sizes(raw, configPath), weights, { file: configPath, memoryBytes: totalmem() })
    const config: HfConfig = { ...raw, model_type: family }
    const ckptLabels = Object.values(readLabels(raw).id2label)
    let labels: string[] = o.task === 'sequence-classification' || o.task === 'token-classification' ? ckptLabels : []
    // does the checkpoint hold a head for this task?
    const probe = fam.build(raw, o.task, configPath, o.seed)
    probe.nameParameters()
    const headKeys = probe.namedParameters().filter(([n]) => probe.headPrefixes.some((p) => n.startsWith(`${p}.`)))
    const ckptHasHead = headKeys.length > 0 && headKeys.every(([n]) => weights.has(n))
    let reinit = o.reinitHead ?? false
    if (o.labels && (o.task === 'sequence-classification' || o.task === 'token-classification')) {
      const want = [...o.labels.names]
      if (ckptHasHead && !reinit) {
        const generic = ckptLabels.every((l, i) => l === `LABEL_${i}`)
        if (sameLabels(ckptLabels, want)) labels = ckptLabels
        else if (generic && ckptLabels.length === want.length) labels = want
        else
          throw new ConfigError(
            'MODEL_LABELS_DIFFER',
            `${dir} has a ${o.task} head for labels [${ckptLabels.join(', ')}] but the data has [${want.join(', ')}]`,
            'pass --reinit-head to train a new head for your labels',
          )
      } else labels = want
      config['id2label'] = Object.fromEntries(labels.map((l, i) => [String(i), l]))
      config['label2id'] = Object.fromEntries(labels.map((l, i) => [l, i]))
      config['num_labels'] = labels.length
      if (o.task === 'sequence-classification') config['problem_type'] = o.labels.problemType
      if (o.labels.problemType === 'regression') {
        config['id2label'] = { '0': 'LABEL_0' }
        config['label2id'] = { LABEL_0: 0 }
        config['num_labels'] = 1
        labels = ['LABEL_0']
      }
    }
    if (!ckptHasHead) reinit = false
    const model = fam.build(config, o.task, configPath, o.seed)
    model.nameParameters()
    const report = await loadWeights(model, reinit ? withoutPrefixes(weights, model.headPrefixes) : weights, {
      basePrefix: model.basePrefix,
      newOk: [...model.headPrefixes, `${model.basePrefix}.pooler`],
      ignorable: reinit ? orPrefixes(fam.ignorable, model.headPrefixes) : fam.ignorable,
      ignoreMismatchedSizes: o.reinitHead ?? false,
    })
    delete config['num_labels']
    const tokenizer = await loadFolderTokenizer(dir, family)
    const problemType = o.task === 'sequence-classification' ? ((config['problem_type'] as ProblemType | undefined) ?? (labels.length === 1 ? 'regression' : 'single_label_classification')) : null
    return { dir, family, model, tokenizer, config, report, labels, problemType, headFromCheckpoint: ckptHasHead && !reinit }
  } finally {
    await weights.close()
  }
}

function withoutPrefixes(f: SafetensorsFile, prefixes: readonly string[]): SafetensorsFile {
  const skip = (k: string): boolean => prefixes.some((p) => k === p || k.startsWith(`${p}.`))
  return new Proxy(f, {
    get(t, prop) {
      if (prop === 'keys') return () => t.keys().filter((k) => !skip(k))
      if (prop === 'has') return (k: string) => !skip(k) && t.has(k)
      const v = Reflect.get(t, prop, t) as unknown
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v
    },
  })
}

function orPrefixes(re: RegExp, prefixes: readonly string[]): RegExp {
  const extra = prefixes.map((p) => `^${p.replace(/\./g, '\\.')}\\.`).join('|')
  return new RegExp(`${re.source}|${extra}`)
}

/** The tensors of a model under their checkpoint names (tied weights appear once). */
export function modelTensors(model: TextModel | { namedParameters(): [string, { data: Float32Array; shape: readonly number[]; kind: string }][] }, stripPrefix?: string): [string, TensorToWrite][] {
  return model.namedParameters().map(([full, p]) => {
    const name = stripPrefix && full.startsWith(`${stripPrefix}.`) ? full.slice(stripPrefix.length + 1) : full
    if (p.kind === 'buffer' && name.endsWith('num_batches_tracked')) return [name, { dtype: 'I64' as const, shape: [...p.shape], data: BigInt64Array.from(Array.from(p.data, (v) => BigInt(Math.round(v)))) }]
    return [name, { dtype: 'F32' as const, shape: [...p.shape], data: p.data }]
  })
}

/**
 * Writes config.json, model.safetensors and the tokenizer files into `dir` (each file atomically).
 * The safetensors metadata says format "pt", which transformers requires.
 */
export async function saveTextCheckpoint(dir: string, model: TextModel, tokenizer: Tokenizer, config: HfConfig): Promise<void> {
  // every field with its resolved default, as save_pretrained writes a complete config
  const resolved = (model as unknown as { c?: Record<string, unknown> }).c ?? {}
  const out: HfConfig = { ...resolved, ...config, architectures: [model.architecture], model_type: model.family, torch_dtype: 'float32' }
  // a bare model is saved without its prefix, as transformers' BertModel.save_pretrained does
  await writeSafetensorsFile(join(dir, 'model.safetensors'), modelTensors(model, model.task === 'base' ? model.basePrefix : undefined), { format: 'pt' })
  for (const [name, text] of Object.entries(tokenizer.toFiles())) await writeFileAtomic(join(dir, name), text)
  await writeFileAtomic(join(dir, 'config.json'), `${JSON.stringify(out, null, 2)}\n`)
}
