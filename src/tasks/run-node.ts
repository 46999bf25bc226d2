/**
 * The library's entry points for every task: train, evaluate, predict, export, inspect. Training is
 * one shared pipeline (output folder, events, trainer, best weights, resume, metrics.json); what
 * differs comes from the task (src/tasks/<task>/).
 */
import { existsSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { ConfigError } from '../errors.js'
import { writeFileAtomic } from '../checkpoint/io-node.js'
import { Runtime } from '../runtime/session.js'
import { checkOutputFolder, optimizerOf, runDefaults, runTraining, type RunOptions } from '../train/run-node.js'
import type { TrainingJob, TrainResult } from '../train/trainer.js'
import { applyMethod, mergeLora, methodDefaults, type MethodOptions } from '../methods/index.js'
import { reinitialise } from '../methods/reinit.js'
import { Rng } from '../runtime/rng.js'
import { attachAdapters, saveWithAdapter } from './adapter-node.js'
import { getTask, TASK_NAMES, taskOfConfig } from './registry.js'
import type { EvalResult, ExportResult, Inspection, OpenOptions, PredictRecord, Task, TaskTrainOptions } from './task.js'

export interface TrainOutcome extends TrainResult {
  task: string
  out: string
  labels: string[]
  headFromCheckpoint: boolean
  trainExamples: number
  evalExamples: number
  /** Training rows skipped as bad (--on-bad-row skip). */
  skipped: number
  /** Training examples per second of step time. */
  examplesPerSecond: number
  /** Task-specific facts (an image model's source and architecture...). */
  record: Record<string, unknown>
}

/** Default run options for a task: the shared ones with the task's overrides, then its own options' defaults. */
export function taskDefaults(task: Task | string): RunOptions & MethodOptions & { merge: boolean } & Record<string, unknown> {
  const t = typeof task === 'string' ? getTask(task) : task
  const own = Object.fromEntries(Object.entries(t.options).filter(([, s]) => 'default' in s && s.default !== undefined).map(([k, s]) => [k, (s as { default: unknown }).default]))
  return { ...runDefaults, ...methodDefaults, merge: false, ...t.defaults, ...own } as RunOptions & MethodOptions & { merge: boolean } & Record<string, unknown>
}

/** Fine-tunes `o.model` on `o.data` for `o.task`; everything is checked before `o.out` is touched. */
export async function train(opts: TaskTrainOptions): Promise<TrainOutcome> {
  let o = opts
  const task = getTask(o.task)
  if (!(o.batchSize >= 1)) throw new ConfigError('CONFIG_BATCH', `batch size must be at least 1, got ${o.batchSize}`)
  if (typeof o.stepsPerRun === 'number' && o.stepsPerRun > 1 && o.gradAccum > 1)
    throw new ConfigError('CONFIG_STEPS_PER_RUN', `--steps-per-run ${o.stepsPerRun} runs one micro-batch per update, but --grad-accum is ${o.gradAccum}`, 'use --steps-per-run 1 (or auto) with --grad-accum')
  if (o.runtime && o.runtime.provider !== o.device) throw new ConfigError('CONFIG_RUNTIME', `the runtime given runs on ${o.runtime.provider}, but the device asked for is ${o.device}`, 'pass a Runtime made for that device, or no runtime')
  checkOutputFolder(o)
  const runtime = o.runtime ?? new Runtime({ provider: o.device, ...(o.threads ? { threads: o.threads } : {}) })
  try {
    const p = await task.prepare(o, runtime)
    try {
      if (o.plan) o = { ...o, ...o.plan(p.trainExamples) }
      if (o.init === 'random') reinitialise(p.model, new Rng(o.seed + 101))
      // a folder trained with --method lora carries its adapter; --adapter names one to train on
      let existing = await attachAdapters(p.model, o.model, o.adapter)
      if (existing && o.method !== 'lora') {
        mergeLora(p.model) // full or frozen training of an adapted model starts from the merged weights
        existing = null
      }
      let job: TrainingJob | null = null
      const m = applyMethod(p.model, p.headPrefixes, o, optimizerOf(o), () => Math.ceil(job!.batchesPerEpoch / o.gradAccum), existing ?? undefined)
      job = await p.job(m.optimizer)
      const record = { ...p.record, ...(m.lora ? { lora_adapted_modules: m.lora.adapted.length, trainable_parameters: m.lora.trainable, total_parameters: m.lora.total } : {}), layer_groups: m.groups.length }
      const args = { ...o, ...record, runtime: undefined }
      const { result, metrics, trainMs } = await runTraining(job, p.model, { ...o, callbacks: [...m.callbacks, ...(o.callbacks ?? [])] }, p.defaultMetric, args)
      const saved = await saveWithAdapter(o.out, p.model, m.lora?.config ?? null, p.save, { merge: o.merge, baseModel: o.model, task: task.name })
      const examplesPerSecond = trainMs > 0 ? (job.session.step * o.batchSize * o.gradAccum) / (trainMs / 1000) : 0
      const summary = {
        ...metrics,
        task: task.name,
        train_steps: result.steps,
        train_runtime_s: result.elapsedMs / 1000,
        train_examples_per_s: examplesPerSecond,
        train_examples: p.trainExamples,
        eval_examples: p.evalExamples,
        best_step: result.bestStep,
        stop_reason: result.reason,
        steps_per_run: result.stepsPerRun,
        method: o.method,
        skipped_rows: p.skipped,
        saved,
        ...record,
        peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
      }
      await writeFileAtomic(join(o.out, 'metrics.json'), `${JSON.stringify(summary, null, 2)}\n`)
      return { ...result, metrics, task: task.name, out: o.out, labels: p.labels, headFromCheckpoint: p.headFromCheckpoint, trainExamples: p.trainExamples, evalExamples: p.evalExamples, skipped: p.skipped, examplesPerSecond, record: { ...record, saved } }
    } finally {
      await p.close()
    }
  } finally {
    if (!o.runtime) await runtime.dispose()
  }
}

/**
 * The task to open `model` with: `task` when given, else the one its config.json records. Never
 * guessed from file names: a bare weights file or a folder without config.json needs `task`.
 */
export function resolveTask(model: string, task?: string | undefined): Task {
  if (task) return getTask(task)
  const config = existsSync(model) && statSync(model).isDirectory() ? join(model, 'config.json') : null
  if (config && existsSync(config)) {
    let raw: unknown
    try {
      raw = JSON.parse(readFileSync(config, 'utf8'))
    } catch (e) {
      throw new ConfigError('MODEL_CONFIG_JSON', `${config} is not valid JSON: ${(e as Error).message}`, 'repair the file, or pass --task')
    }
    const t = raw && typeof raw === 'object' ? taskOfConfig(raw as Record<string, unknown>) : null
    if (t) return t
    throw new ConfigError('TASK_UNKNOWN_FOR_MODEL', `${config} does not say which task the model is for (no finetune_task, no task head in "architectures")`, `pass --task with one of ${TASK_NAMES.join(', ')}`)
  }
  if (!existsSync(model)) throw new ConfigError('MODEL_NOT_FOUND', `model ${model} does not exist`, 'pass --model with a model folder or file')
  throw new ConfigError('TASK_REQUIRED', `${model} has no config.json that records a task`, `pass --task with one of ${TASK_NAMES.join(', ')}`)
}

async function withModel<T>(model: string, o: OpenOptions & { task?: string | undefined }, f: (m: Awaited<ReturnType<Task['open']>>) => Promise<T>): Promise<T> {
  const m = await resolveTask(model, o.task).open(model, o)
  try {
    return await f(m)
  } finally {
    await m.close()
  }
}

/** Metrics of a model on a labelled data file (every row evaluated). */
export function evaluateModel(model: string, data: string, o: OpenOptions & { task?: string | undefined; batchSize?: number | undefined; onBadRow?: 'error' | 'skip' | undefined } = {}): Promise<EvalResult> {
  return withModel(model, o, (m) => m.evaluate(data, { ...o, batchSize: o.batchSize ?? 16, onBadRow: o.onBadRow ?? 'error' }))
}

/** One record per input (text or image path): what the task predicts, and the raw logits. */
export function predict(model: string, inputs: readonly string[], o: OpenOptions & { task?: string | undefined; batchSize?: number | undefined } = {}): Promise<PredictRecord[]> {
  return withModel(model, o, (m) => m.predict(inputs, { ...o, batchSize: o.batchSize ?? 16 }))
}

/**
 * A standalone ONNX file, a safetensors folder, or one .safetensors file. The ONNX graph takes any
 * batch size (one example traced, run per example in a Scan) unless `batchSize` fixes it.
 */
export async function exportModel(model: string, o: OpenOptions & { task?: string | undefined; format: 'onnx' | 'safetensors'; out: string; batchSize?: number | undefined }): Promise<ExportResult> {
  const dynamicBatch = o.batchSize === undefined
  const r = await withModel(model, o, (m) => m.export({ ...o, batchSize: o.batchSize ?? 1, dynamicBatch }))
  if (!dynamicBatch || o.format !== 'onnx') return r
  return { ...r, inputs: Object.fromEntries(Object.entries(r.inputs).map(([k, s]) => [k, s.map((d, i) => (i === 0 ? -1 : d))])) }
}

/** What a model holds: task, family, sizes, parameters by module, head, labels. */
export function inspectModel(model: string, o: OpenOptions & { task?: string | undefined } = {}): Promise<Inspection> {
  return withModel(model, o, (m) => m.inspect())
}
