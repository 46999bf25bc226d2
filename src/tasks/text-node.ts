/**
 * What the text tasks share: Hugging Face text folders (config.json, model.safetensors, tokenizer
 * files) in and out, CSV/TSV/JSONL/CoNLL data with column options, and the length-bucketed runner.
 * Each text task (text-classification, token-classification, causal-lm) is this plus its TextHead.
 */
import { progressReporter } from '../train/events.js'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { ConfigError } from '../errors.js'
import { readJsonFile, writeFileAtomic, writeSafetensorsFile } from '../checkpoint/io-node.js'
import { loadTextDataFiles } from '../data/source-node.js'
import { labelNames, type DataFormat } from '../data/text.js'
import type { TextDataset } from '../data/dataset.js'
import { exportInferenceOnnx } from '../export/onnx.js'
import type { HfConfig, ProblemType, TextInputs, TextModel, TextTask } from '../models/hf.js'
import { assertModelDir, loadTextCheckpoint, modelTensors, saveTextCheckpoint, type LoadedText } from '../models/pretrained-node.js'
import { Runtime } from '../runtime/session.js'
import type { Tokenizer } from '../tokenizers/index.js'
import { TrainSession } from '../train/step.js'
import { inputsOf, padTokens, TextTaskRunner, type TextExample, type TextHead } from '../train/text.js'
import { attachAdapters, saveWithAdapter, unmergedAdapter } from './adapter-node.js'
import { isOnnxModelPath } from '../models/onnx-imported-node.js'
import { openOnnxTextModel, prepareOnnxText } from './onnx-text-node.js'
import { followEvaluation, freezeByName, subsetSplits, TASK_FIELD, type Inspection, type OpenedModel, type OpenOptions, type PredictRecord, type Task, type TaskOption, type TaskTrainOptions } from './task.js'

export type TextTaskName = 'text-classification' | 'token-classification' | 'causal-lm' | 'masked-lm'

/** Column and format options every text task reads its data with. */
export interface TextDataOptions {
  textColumn?: string
  textPairColumn?: string
  labelColumn?: string
  tokensColumn?: string
  tagsColumn?: string
  format?: DataFormat
  /** Plain text files: one example per line (default) or per blank-line-separated paragraph. */
  textUnit?: 'line' | 'paragraph'
}

const all = ['train', 'eval'] as const
/** Options every text task has. */
export const textOptions = {
  maxLength: { type: 'int', describe: 'truncate sequences to N tokens', default: 128, min: 2, commands: ['train', 'eval', 'predict'], commandDefaults: { eval: 512, predict: 512 } },
  format: { type: 'enum', choices: ['csv', 'tsv', 'jsonl', 'conll', 'text'], describe: 'data format (default: from the file extension)', commands: all },
  family: { type: 'string', describe: 'model family, overriding config.json model_type (bert, roberta, distilbert, gpt2)', placeholder: 'NAME', commands: ['train', 'eval', 'predict', 'export', 'inspect'] },
  seqLength: { type: 'int', describe: 'ONNX: static sequence length (pad inputs to it)', default: 128, min: 1, commands: ['export'] },
} as const satisfies Record<string, TaskOption>

/** Loads a data file (and a validation file) for a text task with the options' column choices. */
export async function loadTextData(o: TextDataOptions & { data: string; task: TextTaskName; validation?: string | undefined; onBadRow: 'error' | 'skip'; validationSplit: number; seed: number }, labels?: readonly string[]): Promise<TextDataset<TextExample>> {
  const opts: Record<string, unknown> = { task: o.task, onBadRow: o.onBadRow, validationFraction: o.validation ? 0 : o.validationSplit, seed: o.seed }
  for (const k of ['textColumn', 'textPairColumn', 'labelColumn', 'tokensColumn', 'tagsColumn', 'format', 'textUnit'] as const) if (o[k] !== undefined) opts[k] = o[k]
  if (labels) opts['labels'] = labels
  return (await loadTextDataFiles(o.data, o.validation, opts as never)) as TextDataset<TextExample>
}

/** The head a Hugging Face folder was saved with, from config.json's architectures. */
export function headOfConfig(raw: HfConfig): TextTask {
  const arch = Array.isArray(raw['architectures']) ? String((raw['architectures'] as unknown[])[0] ?? '') : ''
  if (arch.endsWith('ForSequenceClassification')) return 'sequence-classification'
  if (arch.endsWith('ForTokenClassification')) return 'token-classification'
  if (arch.endsWith('LMHeadModel') || arch.endsWith('ForCausalLM')) return 'causal-lm'
  if (arch.endsWith('ForMaskedLM')) return 'masked-lm'
  return 'base'
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined)
/** The data options a command's flags give. */
export const dataOptionsOf = (o: Record<string, unknown>): TextDataOptions => {
  const d: Record<string, unknown> = {}
  for (const k of ['textColumn', 'textPairColumn', 'labelColumn', 'tokensColumn', 'tagsColumn', 'format', 'textUnit'] as const) if (o[k] !== undefined) d[k] = o[k]
  return d as TextDataOptions
}
const cap = (m: LoadedText, maxLength: number): number => Math.min(maxLength, m.tokenizer.modelMaxLength ?? maxLength, m.model.maxPositions)

/** The head's logits of raw texts, batch by batch (inference mode), whatever the task keeps at evaluation. */
export async function textLogits(runner: TextTaskRunner, texts: readonly string[], batchSize: number, each: (logits: Float32Array, shape: readonly number[], first: number, encs: { ids: number[]; offsets: [number, number][]; specialTokensMask: number[] }[]) => void): Promise<void> {
  const { tokenizer, model, runtime } = runner.c
  const session = new TrainSession({ runtime, model, optimizer: { kind: 'sgd', lr: 0 }, forward: (i) => ({ outputs: { logits: model.logits(inputsOf(i)) } }) })
  for (let s = 0; s < texts.length; s += batchSize) {
    const chunk = texts.slice(s, s + batchSize)
    const encs = chunk.map((t) => tokenizer.encode(t, null, { truncation: true, maxLength: runner.c.maxLength }))
    const len = Math.max(...encs.map((e) => e.ids.length), 1)
    const out = (await session.evaluate(padTokens(encs, len, runner.padId, model.usesTokenTypes))).outputs['logits']!
    each(out.data as Float32Array, out.shape, s, encs as never)
  }
}

export interface TextTaskSpec {
  name: TextTaskName
  summary: string
  head: TextHead
  /** The head for a command's options, where they change it (masked-lm's masking); default `head`. */
  headFor?(o: Record<string, unknown>): TextHead
  /** Options of this task beyond textOptions. */
  options: Readonly<Record<string, TaskOption>>
  examples: readonly string[]
  /** Default --metric for the best checkpoint, given the labels' problem type. */
  defaultMetric(problemType: string | null): string
  /** Predictions of one batch of texts (the runner's session outputs the head's logits); `o`: the command's options. */
  predict(m: OpenedText, texts: readonly string[], batchSize: number, o?: Record<string, unknown>): Promise<PredictRecord[]>
}

/** A text model opened for inference: the loaded checkpoint and a runner in eval mode. */
export interface OpenedText extends LoadedText {
  dir: string
  runner: TextTaskRunner
}

/** Builds a text task from its head and the parts that differ. */
export function textTask(spec: TextTaskSpec): Task {
  const options = { ...textOptions, ...spec.options }
  const headFor = (o: Record<string, unknown>): TextHead => spec.headFor?.(o) ?? spec.head
  const runnerFor = (m: LoadedText, runtime: Runtime, maxLength: number, batchSize: number, dataLabels: string[], data?: TextDataset<TextExample>, head = spec.head): TextTaskRunner =>
    new TextTaskRunner({
      head,
      model: m.model,
      tokenizer: m.tokenizer,
      labels: m.labels,
      dataLabels: dataLabels.length ? dataLabels : m.labels,
      problemType: m.problemType,
      train: data?.train ?? (emptySplit() as never),
      validation: data?.validation,
      batchSize,
      maxLength: cap(m, maxLength),
      seed: 0,
      method: 'full',
      runtime,
      optimizer: { kind: 'sgd', lr: 0 },
    })

  async function open(dir: string, o: OpenOptions): Promise<OpenedModel> {
    if (isOnnxModelPath(dir)) return openOnnxTextModel(spec, dir, o)
    assertModelDir(dir)
    const raw = (await readJsonFile(join(dir, 'config.json'), 'model config')) as HfConfig
    const saved = headOfConfig(raw)
    // a bare base model with --adapter: the adapter's folder says the labels, the adapter holds the head
    const adapterLabels = saved === 'base' && typeof o['adapter'] === 'string' ? await labelsOfFolder(o['adapter']) : null
    if (saved === 'base' && !adapterLabels) throw new ConfigError('MODEL_NO_HEAD', `${dir} is a bare ${String(raw['model_type'] ?? '')} model without a task head`, 'train it first with finetune train (or pass --adapter with a LoRA adapter folder that has the head)')
    if (saved !== 'base' && saved !== spec.head.modelTask) throw new ConfigError('MODEL_TASK_DIFFERS', `${dir} has a ${saved} head (${String((raw['architectures'] as unknown[])[0])}), not one for ${spec.name}`, 'drop --task to use the task the folder records')
    const m = await loadTextCheckpoint(dir, { task: spec.head.modelTask, ...(str(o['family']) ? { family: str(o['family'])! } : {}), ...(adapterLabels ? { labels: adapterLabels, reinitHead: true } : {}) })
    const lora = await attachAdapters(m.model, dir, o['adapter'])
    const runtime = new Runtime({ provider: o.device ?? 'cpu', ...(o.threads ? { threads: o.threads } : {}) })
    const maxLength = typeof o['maxLength'] === 'number' ? o['maxLength'] : 512
    const opened: OpenedText = { ...m, dir, runner: runnerFor(m, runtime, maxLength, 16, []) }
    return {
      async evaluate(data, eo) {
        const ds = await loadTextData({ ...dataOptionsOf(eo), data, task: spec.name, onBadRow: eo.onBadRow, validationSplit: 0, seed: 0 }, m.problemType === 'regression' || spec.name === 'causal-lm' || spec.name === 'masked-lm' ? undefined : m.labels)
        try {
          const r = runnerFor(m, runtime, typeof eo['maxLength'] === 'number' ? eo['maxLength'] : 512, eo.batchSize, ds.labels ? labelNames(ds.labels.labelMap) : [], ds, headFor(eo))
          followEvaluation(r.session, eo, ds.train.length)
          return { metrics: await r.evaluate(ds.train as never), examples: ds.train.length, skipped: ds.badRows.total }
        } finally {
          await ds.close()
        }
      },
      async predict(inputs, po) {
        return spec.predict(opened, await textsToPredict(inputs, po), po.batchSize, po)
      },
      async export(eo) {
        const adapter = unmergedAdapter(m.model, lora, eo)
        if (adapter && eo.out.endsWith('.safetensors')) throw new ConfigError('EXPORT_ADAPTER', `${dir} carries a LoRA adapter; one .safetensors file holds plain weights`, 'add --merge to fold the adapter in, or export to a folder (base weights + adapter)')
        if (eo.format === 'safetensors') {
          if (eo.out.endsWith('.safetensors')) {
            // one file with the Hugging Face names, as load_state_dict / safetensors.torch.load_file read it
            await mkdir(dirname(eo.out) || '.', { recursive: true })
            await writeSafetensorsFile(eo.out, modelTensors(m.model), { format: 'pt' })
            return { path: eo.out, inputs: {} }
          }
          if (existsSync(eo.out) && !statSync(eo.out).isDirectory()) throw new ConfigError('EXPORT_OUT', `${eo.out} is a file; safetensors export writes a folder (or one file when the path ends in .safetensors)`, 'pass a folder path as --out')
          await mkdir(eo.out, { recursive: true })
          await saveWithAdapter(eo.out, m.model, adapter, (d) => saveTextCheckpoint(d, m.model, m.tokenizer, m.config), { merge: false, baseModel: dir, task: spec.name })
          return { path: eo.out, inputs: {} }
        }
        const B = eo.batchSize
        const T = Math.min(typeof eo['seqLength'] === 'number' ? eo['seqLength'] : 128, m.tokenizer.modelMaxLength ?? 512, m.model.maxPositions)
        const inputs: Record<string, { shape: number[]; dtype: 'int64' }> = { input_ids: { shape: [B, T], dtype: 'int64' }, attention_mask: { shape: [B, T], dtype: 'int64' } }
        if (m.model.usesTokenTypes) inputs['token_type_ids'] = { shape: [B, T], dtype: 'int64' }
        const bytes = exportInferenceOnnx({
          dynamicBatch: eo.dynamicBatch,
          model: m.model,
          inputs,
          forward: (i) => {
            const x: TextInputs = { input_ids: i['input_ids']!, attention_mask: i['attention_mask']! }
            if (i['token_type_ids']) x.token_type_ids = i['token_type_ids']
            return { logits: m.model.logits(x) }
          },
          metadata: { family: m.family, task: spec.name, id2label: JSON.stringify(m.config['id2label'] ?? {}), problem_type: String(m.problemType ?? '') },
        })
        await mkdir(dirname(eo.out) || '.', { recursive: true })
        await writeFileAtomic(eo.out, [bytes])
        return { path: eo.out, inputs: Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, v.shape])) }
      },
      inspect: async () => inspectText(dir, spec.name, m),
      close: () => runtime.dispose(),
    }
  }

  return {
    name: spec.name,
    summary: spec.summary,
    modality: 'text',
    options,
    defaults: { batchSize: 8, lr: 5e-5, weightDecay: 0, schedule: 'linear' },
    examples: spec.examples,
    predictInputs: 'TEXT...',
    recognises: (config) => typeof config['model_type'] === 'string' && headOfConfig(config) === spec.head.modelTask,
    async prepare(o: TaskTrainOptions, runtime: Runtime) {
      if (isOnnxModelPath(o.model)) return prepareOnnxText(spec, o, runtime)
      const maxLength = typeof o['maxLength'] === 'number' ? o['maxLength'] : 128
      const loadedData = await loadTextData({ ...dataOptionsOf(o), data: o.data, task: spec.name, validation: o.validation, onBadRow: o.onBadRow, validationSplit: o.subset ? 0 : o.validationSplit, seed: o.seed })
      const data = o.subset ? { ...loadedData, ...subsetSplits(loadedData.train, loadedData.validation, await classesOf(loadedData.train), o.subset), close: () => loadedData.close() } : loadedData
      const dataLabels = data.labels ? labelNames(data.labels.labelMap) : []
      let loaded: LoadedText
      try {
        loaded = await loadTextCheckpoint(o.model, {
          task: spec.head.modelTask,
          ...(data.labels ? { labels: { names: dataLabels, problemType: data.labels.problemType } } : {}),
          ...(str(o['family']) ? { family: str(o['family'])! } : {}),
          reinitHead: o.reinitHead,
          seed: o.seed,
        })
      } catch (e) {
        await data.close()
        throw e
      }
      const l = loaded
      if (o['features'] !== undefined) {
        await data.close()
        throw new ConfigError('FEATURES_ONNX_ONLY', '--features names a value of an imported ONNX graph', `${o.model} is not an .onnx model; drop --features`)
      }
      const frozen = freezeByName(l.model, o['freeze'])
      if (frozen) o.log?.(`--freeze: ${frozen} parameters frozen`)
      return {
        model: l.model,
        headPrefixes: l.model.headPrefixes,
        job: (optimizer) =>
          new TextTaskRunner({
            head: headFor(o),
            model: l.model,
            tokenizer: l.tokenizer,
            labels: l.labels,
            dataLabels,
            problemType: l.problemType,
            train: data.train,
            validation: data.validation,
            batchSize: o.batchSize,
            ...(o.evalBatchSize ? { evalBatchSize: o.evalBatchSize } : {}),
            maxLength: cap(l, maxLength),
            seed: o.seed,
            method: o.method === 'frozen' ? 'frozen' : 'full',
            onFeatureProgress: progressReporter(o.callbacks, 'features'),
            runtime,
            optimizer,
            clipNorm: o.clipNorm > 0 ? o.clipNorm : Infinity,
            accumulation: o.gradAccum,
          }).job(),
        defaultMetric: spec.defaultMetric(l.problemType),
        labels: l.labels,
        headFromCheckpoint: l.headFromCheckpoint,
        trainExamples: data.train.length,
        evalExamples: data.validation?.length ?? 0,
        skipped: data.badRows.total,
        record: {},
        save: (dir) => saveTextCheckpoint(dir, l.model, l.tokenizer, { ...l.config, [TASK_FIELD]: spec.name }),
        close: () => data.close(),
      }
    },
    open,
  }
}

/** The texts `finetune predict` works on: the arguments, or the text column of `--data`. */
export async function textsToPredict(inputs: readonly string[], o: Record<string, unknown>): Promise<readonly string[]> {
  let texts = inputs
  if (typeof o['data'] === 'string') {
    const d = await loadTextData({ data: o['data'], task: 'causal-lm', onBadRow: 'error', validationSplit: 0, seed: 0, ...(str(o['textColumn']) ? { textColumn: str(o['textColumn'])! } : {}) })
    const read: string[] = []
    for await (const e of d.train.iterate()) read.push((e as { text: string }).text)
    await d.close()
    texts = read
  }
  if (texts.length === 0) throw new ConfigError('CLI_USAGE', 'finetune predict: give texts as arguments or --data FILE', 'run "finetune predict --help"')
  return texts
}

/** Class id of every example of a split (-1 where an example has no single class). */
export async function classesOf(split: TextDataset<TextExample>['train']): Promise<Int32Array> {
  const out = new Int32Array(split.length).fill(-1)
  let i = 0
  for await (const e of split.iterate()) {
    const l = (e as { label?: unknown }).label
    out[i++] = typeof l === 'number' && Number.isInteger(l) ? l : -1
  }
  return out
}

/** The labels a model folder's config.json records (for a head that comes with an adapter). */
async function labelsOfFolder(dir: string): Promise<{ names: string[]; problemType: ProblemType } | null> {
  const file = join(dir, 'config.json')
  if (!existsSync(file)) throw new ConfigError('ADAPTER_LABELS', `${dir} has no config.json naming the labels its head predicts`, 'use an adapter folder finetune trained, or add a config.json with id2label (and problem_type)')
  const c = (await readJsonFile(file, 'adapter labels')) as HfConfig
  const id2 = (c['id2label'] ?? {}) as Record<string, string>
  const names = Object.keys(id2).sort((a, b) => Number(a) - Number(b)).map((k) => id2[k]!)
  if (names.length === 0) return null
  return { names, problemType: (c['problem_type'] as ProblemType | undefined) ?? 'single_label_classification' }
}

const emptySplit = () => ({ length: 0, getMany: async () => [], iterate: async function* () {} })

function inspectText(dir: string, task: string, m: LoadedText & { tokenizer: Tokenizer; model: TextModel }): Inspection {
  const byModule: Record<string, number> = {}
  for (const [n, p] of m.model.namedParameters()) {
    if (p.kind !== 'param') continue
    const parts = n.split('.')
    const key = parts[0] === m.model.basePrefix ? parts.slice(0, 2).join('.') : parts[0]!
    byModule[key] = (byModule[key] ?? 0) + p.data.length
  }
  const c = m.config
  const sizes = Object.fromEntries(['vocab_size', 'hidden_size', 'num_hidden_layers', 'num_attention_heads', 'intermediate_size', 'max_position_embeddings', 'dim', 'n_layers', 'n_heads', 'hidden_dim', 'n_embd', 'n_layer', 'n_head', 'n_positions'].filter((k) => typeof c[k] === 'number').map((k) => [k, c[k] as number]))
  const files = readdirSync(dir).sort()
  const tokenizer = { type: m.tokenizer.modelType, vocabSize: m.tokenizer.vocabSize, maxLength: m.tokenizer.modelMaxLength }
  const json = { dir, task, family: m.family, architecture: m.model.architecture, sizes, parameters: m.model.countParameters(), byModule, head: m.model.headPrefixes.slice(), labels: m.labels, problemType: m.problemType, tokenizer, files }
  return {
    json,
    byModule,
    rows: [
      ['folder', dir],
      ['task', task],
      ['family', m.family],
      ['architecture', m.model.architecture],
      ['sizes', Object.entries(sizes).map(([k, v]) => `${k}=${v}`).join(' ')],
      ['parameters', json.parameters.toLocaleString()],
      ['head', json.head.join(', ') || '(none)'],
      ['labels', m.labels.length ? `${m.labels.length}: ${m.labels.join(', ')}` : '(none)'],
      ['problem type', m.problemType ?? '-'],
      ['tokenizer', `${tokenizer.type}, ${tokenizer.vocabSize} tokens, max length ${tokenizer.maxLength ?? '-'}`],
      ['files', files.join(', ')],
    ],
  }
}
