/**
 * Node-only library functions behind `finetune eval`, `predict`, `export` and `inspect` for text
 * models saved in Hugging Face layout.
 */
import { existsSync, readdirSync, statSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { ConfigError } from '../errors.js'
import { readJsonFile, writeFileAtomic } from '../checkpoint/io-node.js'
import { labelNames } from '../data/text.js'
import { exportInferenceOnnx } from '../export/onnx.js'
import type { HfConfig, TextInputs, TextTask } from '../models/hf.js'
import { assertModelDir, loadTextCheckpoint, saveTextCheckpoint, type LoadedText } from '../models/pretrained-node.js'
import { textFamily } from '../models/registry.js'
import { Runtime, type Provider } from '../runtime/session.js'
import { predictTexts, TextTaskRunner, type Prediction, type TextExample } from '../train/text.js'
import { loadData, type TextTrainOptions } from './text-train.js'

/** The task a saved model was trained for, from config.json's architectures. */
export function taskOfConfig(raw: HfConfig): TextTask {
  const arch = Array.isArray(raw['architectures']) ? String((raw['architectures'] as unknown[])[0] ?? '') : ''
  if (arch.endsWith('ForSequenceClassification')) return 'sequence-classification'
  if (arch.endsWith('ForTokenClassification')) return 'token-classification'
  if (arch.endsWith('LMHeadModel') || arch.endsWith('ForCausalLM')) return 'causal-lm'
  return 'base'
}

export interface OpenOptions {
  device?: Provider
  threads?: number
  family?: string
}

export interface OpenedModel extends LoadedText {
  task: TextTask
  runtime: Runtime
  runner: TextTaskRunner | null
}

/** Opens a trained (or any) model folder for inference with its own head and labels. */
export async function openTextModel(dir: string, o: OpenOptions = {}): Promise<OpenedModel> {
  assertModelDir(dir)
  const raw = (await readJsonFile(join(dir, 'config.json'), 'model config')) as HfConfig
  const task = taskOfConfig(raw)
  const loaded = await loadTextCheckpoint(dir, { task, ...(o.family ? { family: o.family } : {}) })
  const runtime = new Runtime({ provider: o.device ?? 'cpu', ...(o.threads ? { threads: o.threads } : {}) })
  return { ...loaded, task, runtime, runner: null }
}

function runnerFor(m: OpenedModel, data: { train: LoadedData['train']; validation?: LoadedData['validation'] } | null, dataLabels: string[], maxLength: number, batchSize: number): TextTaskRunner {
  if (m.task === 'base') throw new ConfigError('MODEL_NO_HEAD', `${m.dir} is a bare ${m.family} model without a task head`, 'train it first with finetune train')
  return new TextTaskRunner({
    task: m.task,
    model: m.model,
    tokenizer: m.tokenizer,
    labels: m.labels,
    dataLabels: dataLabels.length ? dataLabels : m.labels,
    problemType: m.problemType,
    train: data?.train ?? (emptySplit() as never),
    validation: data?.validation,
    batchSize,
    maxLength: Math.min(maxLength, m.tokenizer.modelMaxLength ?? maxLength, m.model.maxPositions),
    seed: 0,
    method: 'full',
    runtime: m.runtime,
    optimizer: { kind: 'sgd', lr: 0 },
  })
}

type LoadedData = Awaited<ReturnType<typeof loadData>>
const emptySplit = () => ({ length: 0, getMany: async () => [], iterate: async function* () {} })

export type EvalOptions = OpenOptions & Partial<Pick<TextTrainOptions, 'textColumn' | 'textPairColumn' | 'labelColumn' | 'tokensColumn' | 'tagsColumn' | 'format' | 'onBadRow'>> & { data: string; batchSize?: number; maxLength?: number }

/** Metrics of a saved model on a labelled file (every row evaluated; unknown labels are errors). */
export async function evalText(dir: string, o: EvalOptions): Promise<{ metrics: Record<string, number>; examples: number; skipped: number }> {
  const m = await openTextModel(dir, o)
  const dataTask = m.task === 'sequence-classification' ? 'text-classification' : m.task === 'token-classification' ? 'token-classification' : 'causal-lm'
  const data = await loadData({ ...o, task: dataTask, onBadRow: o.onBadRow ?? 'error', validationSplit: 0, seed: 0 }, m.problemType === 'regression' || m.task === 'causal-lm' ? undefined : m.labels)
  try {
    const dataLabels = data.labels ? labelNames(data.labels.labelMap) : []
    const r = runnerFor(m, data, dataLabels, o.maxLength ?? 512, o.batchSize ?? 16)
    const metrics = await r.evaluate(data.train as never)
    return { metrics, examples: data.train.length, skipped: data.badRows.total }
  } finally {
    await data.close()
    await m.runtime.dispose()
  }
}

/** Predictions for raw texts (sequence classification). */
export async function predictText(dir: string, texts: readonly string[], o: OpenOptions & { maxLength?: number; batchSize?: number } = {}): Promise<Prediction[]> {
  const m = await openTextModel(dir, o)
  try {
    if (m.task !== 'sequence-classification') throw new ConfigError('PREDICT_TASK', `predict works on text-classification models; ${m.dir} is a ${m.task} model`, m.task === 'token-classification' ? 'use finetune eval on labelled data' : undefined)
    const r = runnerFor(m, null, [], o.maxLength ?? 512, o.batchSize ?? 16)
    return await predictTexts(r.session, m.model, m.tokenizer, m.labels, m.problemType, texts, Math.min(o.maxLength ?? 512, m.tokenizer.modelMaxLength ?? 512, m.model.maxPositions), o.batchSize ?? 16)
  } finally {
    await m.runtime.dispose()
  }
}

export interface ExportOptions extends OpenOptions {
  format: 'onnx' | 'safetensors'
  out: string
  /** Static input shape of the ONNX graph. */
  batchSize?: number
  seqLength?: number
}

/** Writes the model as a standalone ONNX file (static shapes) or as a Hugging Face safetensors folder. */
export async function exportText(dir: string, o: ExportOptions): Promise<{ path: string; inputs: Record<string, number[]> }> {
  const m = await openTextModel(dir, o)
  try {
    if (o.format === 'safetensors') {
      if (existsSync(o.out) && !statSync(o.out).isDirectory()) throw new ConfigError('EXPORT_OUT', `${o.out} is a file; safetensors export writes a folder`, 'pass a folder path as --out')
      await mkdir(o.out, { recursive: true })
      await saveTextCheckpoint(o.out, m.model, m.tokenizer, m.config)
      return { path: o.out, inputs: {} }
    }
    const B = o.batchSize ?? 1
    const T = Math.min(o.seqLength ?? 128, m.tokenizer.modelMaxLength ?? 512, m.model.maxPositions)
    const inputs: Record<string, { shape: number[]; dtype: 'int64' }> = { input_ids: { shape: [B, T], dtype: 'int64' }, attention_mask: { shape: [B, T], dtype: 'int64' } }
    if (m.model.usesTokenTypes) inputs['token_type_ids'] = { shape: [B, T], dtype: 'int64' }
    const bytes = exportInferenceOnnx({
      model: m.model,
      inputs,
      forward: (i) => {
        const x: TextInputs = { input_ids: i['input_ids']!, attention_mask: i['attention_mask']! }
        if (i['token_type_ids']) x.token_type_ids = i['token_type_ids']
        return { logits: m.model.logits(x) }
      },
      metadata: { family: m.family, task: m.task, id2label: JSON.stringify(m.config['id2label'] ?? {}), problem_type: String(m.problemType ?? '') },
    })
    await mkdir(dirname(o.out) || '.', { recursive: true })
    await writeFileAtomic(o.out, [bytes])
    return { path: o.out, inputs: Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, v.shape])) }
  } finally {
    await m.runtime.dispose()
  }
}

export interface Inspection {
  dir: string
  family: string
  task: TextTask
  architecture: string
  sizes: Record<string, number>
  parameters: number
  byModule: Record<string, number>
  head: string[]
  labels: string[]
  problemType: string | null
  tokenizer: { type: string; vocabSize: number; maxLength: number | undefined }
  files: string[]
}

export async function inspectText(dir: string, o: OpenOptions = {}): Promise<Inspection> {
  const m = await openTextModel(dir, o)
  await m.runtime.dispose()
  const byModule: Record<string, number> = {}
  for (const [n, p] of m.model.namedParameters()) {
    if (p.kind !== 'param') continue
    const parts = n.split('.')
    const key = parts[0] === m.model.basePrefix ? parts.slice(0, 2).join('.') : parts[0]!
    byModule[key] = (byModule[key] ?? 0) + p.data.length
  }
  const c = m.config
  const pick = (...ks: string[]): Record<string, number> => Object.fromEntries(ks.filter((k) => typeof c[k] === 'number').map((k) => [k, c[k] as number]))
  return {
    dir,
    family: m.family,
    task: m.task,
    architecture: m.model.architecture,
    sizes: pick('vocab_size', 'hidden_size', 'num_hidden_layers', 'num_attention_heads', 'intermediate_size', 'max_position_embeddings', 'dim', 'n_layers', 'n_heads', 'hidden_dim', 'n_embd', 'n_layer', 'n_head', 'n_positions'),
    parameters: m.model.countParameters(),
    byModule,
    head: m.model.headPrefixes.slice(),
    labels: m.labels,
    problemType: m.problemType,
    tokenizer: { type: m.tokenizer.modelType, vocabSize: m.tokenizer.vocabSize, maxLength: m.tokenizer.modelMaxLength },
    files: readdirSync(dir).sort(),
  }
}

export { textFamily }
export type { TextExample }
