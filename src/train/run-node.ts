/**
 * What every `finetune train` task shares once its job is built: the output folder (checked before
 * anything is written, replaced only with --overwrite), events.jsonl, the schedule, the Trainer with
 * evaluation, checkpoints and early stopping, and restoring the best weights at the end.
 */
import { existsSync, readdirSync } from 'node:fs'
import { appendFile, mkdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ConfigError } from '../errors.js'
import { writeFileAtomic } from '../checkpoint/io-node.js'
import type { Module } from '../graph/module.js'
import type { OptimizerConfig } from '../optim/optimizers.js'
import type { Schedule } from '../optim/schedules.js'
import type { OnBadRow } from '../data/errors.js'
import type { Provider } from '../runtime/session.js'
import { FolderCheckpointer } from './checkpoints-node.js'
import type { Callback, TrainEvent } from './events.js'
import { Trainer, type TrainingJob, type TrainResult } from './trainer.js'

/** The options every training task shares (CLI flags of the same names). */
export interface RunOptions {
  out: string
  epochs: number
  maxSteps?: number
  batchSize: number
  evalBatchSize?: number
  lr: number
  weightDecay: number
  optimizer: 'adamw' | 'adam' | 'sgd'
  gradAccum: number
  clipNorm: number
  schedule: Schedule['kind']
  warmupSteps: number
  warmupRatio: number
  seed: number
  onBadRow: OnBadRow
  validationSplit: number
  evalEvery: 'epoch' | number
  saveEvery: 'epoch' | number | 'none'
  earlyStopping?: number
  metric?: string
  keepBest: boolean
  resume: boolean
  overwrite: boolean
  reinitHead: boolean
  device: Provider
  threads?: number
  /** Optimizer updates per runtime call (a Scan over K batches of one shape), or 'auto' (the default). */
  stepsPerRun?: number | 'auto'
  callbacks?: Callback[]
}

/** Defaults every task shares; tasks override what differs (learning rate, batch size, schedule). */
export const runDefaults = {
  epochs: 3,
  optimizer: 'adamw',
  gradAccum: 1,
  clipNorm: 1,
  warmupSteps: 0,
  warmupRatio: 0,
  seed: 42,
  onBadRow: 'error',
  validationSplit: 0.1,
  evalEvery: 'epoch',
  saveEvery: 'epoch',
  keepBest: true,
  resume: false,
  overwrite: false,
  reinitHead: false,
  device: 'cpu',
  stepsPerRun: 'auto',
} as const satisfies Partial<RunOptions>

/** The optimizer the options describe (SGD with momentum 0.9). */
export function optimizerOf(o: Pick<RunOptions, 'optimizer' | 'lr' | 'weightDecay'>): OptimizerConfig {
  return o.optimizer === 'sgd' ? { kind: 'sgd', lr: o.lr, momentum: 0.9, weightDecay: o.weightDecay } : { kind: o.optimizer, lr: o.lr, weightDecay: o.weightDecay }
}

/** Refuses an output folder that would lose work; call before loading anything expensive. */
export function checkOutputFolder(o: Pick<RunOptions, 'out' | 'resume' | 'overwrite'>): void {
  if (existsSync(o.out) && !o.resume && !o.overwrite && readdirSync(o.out).length > 0)
    throw new ConfigError('OUT_NOT_EMPTY', `output folder ${o.out} is not empty`, 'pass --resume to continue its run, --overwrite to replace it, or choose another --out')
  if (o.resume && !existsSync(join(o.out, 'checkpoints'))) throw new ConfigError('RESUME_NOTHING', `${o.out} has no checkpoints to resume from`, 'start without --resume')
}

export interface RunResult {
  result: TrainResult
  /** Metrics of the weights left in the model: the best evaluation's when those were restored. */
  metrics: Record<string, number>
  /** Milliseconds spent in training steps up to the last one (for throughput). */
  trainMs: number
}

/**
 * Runs the trainer for `job`, writing events.jsonl, training_args.json and checkpoints into `o.out`
 * (created here, after every input has been checked). With keepBest, the best evaluated weights are
 * put back into `model` at the end.
 */
export async function runTraining(job: TrainingJob, model: Module, o: RunOptions, defaultMetric: string | undefined, args: Record<string, unknown>): Promise<RunResult> {
  await job.session.runtime.check() // a provider that cannot start fails before the folder is touched
  if (o.overwrite && existsSync(o.out) && !o.resume) await rm(o.out, { recursive: true, force: true })
  await mkdir(o.out, { recursive: true })
  const events = join(o.out, 'events.jsonl')
  if (!o.resume) await writeFile(events, '')
  let trainMs = 0
  const writer: Callback = { onEvent: (e: TrainEvent) => appendFile(events, `${JSON.stringify(e)}\n`), onStep: (e) => void (trainMs = e.elapsedMs) }
  const total = o.maxSteps ?? Math.ceil(job.batchesPerEpoch / o.gradAccum) * o.epochs
  const warmup = o.warmupSteps || Math.round(o.warmupRatio * total)
  const schedule: Schedule = o.schedule === 'one-cycle' ? { kind: 'one-cycle' } : { kind: o.schedule, warmupSteps: warmup }
  const hasEval = !!job.evaluate && job.evalExamples > 0
  const metric = o.metric ?? (hasEval ? defaultMetric : undefined)
  await writeFileAtomic(join(o.out, 'training_args.json'), `${JSON.stringify({ ...args, callbacks: undefined, schedule, metric }, null, 2)}\n`)
  const checkpointer = new FolderCheckpointer(o.out)
  const trainer = new Trainer(
    job,
    {
      epochs: o.epochs,
      ...(o.maxSteps ? { maxSteps: o.maxSteps } : {}),
      schedule,
      evalEvery: !hasEval ? { kind: 'none' } : o.evalEvery === 'epoch' ? { kind: 'epoch' } : { kind: 'steps', every: o.evalEvery },
      saveEvery: o.saveEvery === 'none' ? { kind: 'none' } : o.saveEvery === 'epoch' ? { kind: 'epoch' } : { kind: 'steps', every: o.saveEvery },
      ...(metric ? { metric } : {}),
      ...(o.earlyStopping ? { earlyStoppingPatience: o.earlyStopping } : {}),
      resume: o.resume,
      stepsPerRun: o.stepsPerRun ?? runDefaults.stepsPerRun,
    },
    [writer, ...(o.callbacks ?? [])],
    checkpointer,
  )
  const result = await trainer.run()
  let metrics = result.metrics
  if (o.keepBest && hasEval && result.bestStep !== null && result.bestStep !== job.session.step) {
    const best = await checkpointer.best()
    if (best) {
      for (const [n, p] of model.namedParameters()) {
        const t = best.state.tensors[n]
        if (t) p.data = t.data
      }
      metrics = best.metrics
    }
  }
  return { result, metrics, trainMs }
}
