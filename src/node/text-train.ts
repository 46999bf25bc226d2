/**
 * Fine-tuning a Hugging Face text checkpoint on a CSV/TSV/JSONL file, end to end: the library
 * function behind `finetune train` for text tasks. Inputs are all checked before the output folder
 * is touched; checkpoints are atomic and a killed run resumes with the same data order.
 */
import { join } from 'node:path'
import { ConfigError } from '../errors.js'
import { writeFileAtomic } from '../checkpoint/io-node.js'
import { loadTextDataFiles } from '../data/source-node.js'
import { labelNames, type DataFormat } from '../data/text.js'
import type { TextDataset } from '../data/dataset.js'
import { loadTextCheckpoint, saveTextCheckpoint, type LoadedText } from '../models/pretrained-node.js'
import { checkOutputFolder, optimizerOf, runDefaults, runTraining, type RunOptions } from './run-training.js'
import { Runtime } from '../runtime/session.js'
import { TextTaskRunner, type Method, type TextExample, type TextTaskName } from '../train/text.js'
import type { TrainResult } from '../train/trainer.js'

export type DataTask = 'text-classification' | 'token-classification' | 'causal-lm'

export interface TextTrainOptions extends RunOptions {
  model: string
  data: string
  task: DataTask
  validation?: string
  method: Method
  maxLength: number
  textColumn?: string
  textPairColumn?: string
  labelColumn?: string
  tokensColumn?: string
  tagsColumn?: string
  format?: DataFormat
  family?: string
}

/** HF Trainer's defaults where it has them (lr 5e-5, 3 epochs, batch 8, linear schedule, clip 1.0, seed 42). */
export const textTrainDefaults = {
  ...runDefaults,
  method: 'full',
  batchSize: 8,
  lr: 5e-5,
  weightDecay: 0,
  schedule: 'linear',
  maxLength: 128,
} satisfies Partial<TextTrainOptions>

export const modelTask = (t: DataTask): TextTaskName => (t === 'text-classification' ? 'sequence-classification' : t)

export interface TextTrainResult extends TrainResult {
  out: string
  labels: string[]
  badRows: TextDataset<TextExample>['badRows']
  headFromCheckpoint: boolean
  trainExamples: number
  evalExamples: number
}

/** Loads the data with the options' column choices. */
export async function loadData(o: Pick<TextTrainOptions, 'data' | 'task' | 'validation' | 'textColumn' | 'textPairColumn' | 'labelColumn' | 'tokensColumn' | 'tagsColumn' | 'format' | 'onBadRow' | 'validationSplit' | 'seed'>, labels?: readonly string[]): Promise<TextDataset<TextExample>> {
  const opts: Record<string, unknown> = { task: o.task, onBadRow: o.onBadRow, validationFraction: o.validation ? 0 : o.validationSplit, seed: o.seed }
  for (const k of ['textColumn', 'textPairColumn', 'labelColumn', 'tokensColumn', 'tagsColumn', 'format'] as const) if (o[k] !== undefined) opts[k] = o[k]
  if (labels) opts['labels'] = labels
  return (await loadTextDataFiles(o.data, o.validation, opts as never)) as TextDataset<TextExample>
}

export async function trainText(opts: TextTrainOptions): Promise<TextTrainResult> {
  const o = opts
  if (!(o.batchSize >= 1)) throw new ConfigError('CONFIG_BATCH', `batch size must be at least 1, got ${o.batchSize}`)
  // Everything is checked before the output folder is touched.
  checkOutputFolder(o)
  const data = await loadData(o)
  const task = modelTask(o.task)
  const dataLabels = data.labels ? labelNames(data.labels.labelMap) : []
  let loaded: LoadedText
  try {
    loaded = await loadTextCheckpoint(o.model, {
      task,
      ...(data.labels ? { labels: { names: dataLabels, problemType: data.labels.problemType } } : {}),
      ...(o.family ? { family: o.family } : {}),
      reinitHead: o.reinitHead,
      seed: o.seed,
    })
  } catch (e) {
    await data.close()
    throw e
  }
  const runtime = new Runtime({ provider: o.device, ...(o.threads ? { threads: o.threads } : {}) })
  const runner = new TextTaskRunner({
    task,
    model: loaded.model,
    tokenizer: loaded.tokenizer,
    labels: loaded.labels,
    dataLabels,
    problemType: loaded.problemType,
    train: data.train,
    validation: data.validation,
    batchSize: o.batchSize,
    ...(o.evalBatchSize ? { evalBatchSize: o.evalBatchSize } : {}),
    maxLength: Math.min(o.maxLength, loaded.tokenizer.modelMaxLength ?? o.maxLength, loaded.model.maxPositions),
    seed: o.seed,
    method: o.method,
    runtime,
    optimizer: optimizerOf(o),
    clipNorm: o.clipNorm > 0 ? o.clipNorm : Infinity,
    accumulation: o.gradAccum,
  })
  const job = await runner.job()
  const defaultMetric = task === 'sequence-classification' && loaded.problemType === 'single_label_classification' ? 'accuracy' : task === 'token-classification' ? 'f1' : 'eval_loss'
  const { result, metrics: finalMetrics } = await runTraining(job, loaded.model, o, defaultMetric, { ...o })
  await saveTextCheckpoint(o.out, loaded.model, loaded.tokenizer, loaded.config)
  const summary = {
    ...finalMetrics,
    train_steps: result.steps,
    train_runtime_s: result.elapsedMs / 1000,
    train_examples: data.train.length,
    eval_examples: data.validation?.length ?? 0,
    best_step: result.bestStep,
    stop_reason: result.reason,
    method: o.method,
    skipped_rows: data.badRows.total,
    peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
  }
  await writeFileAtomic(join(o.out, 'metrics.json'), `${JSON.stringify(summary, null, 2)}\n`)
  await data.close()
  await runtime.dispose()
  return { ...result, metrics: finalMetrics, out: o.out, labels: loaded.labels, badRows: data.badRows, headFromCheckpoint: loaded.headFromCheckpoint, trainExamples: data.train.length, evalExamples: data.validation?.length ?? 0 }
}
