/**
 * The training loop: epochs or max steps over deterministic batch orders, accumulation, schedules,
 * periodic evaluation, early stopping, best-checkpoint tracking and resumable checkpoints. Everything
 * task-specific (data, metrics, files) comes through the TrainingJob and Checkpointer interfaces.
 */
import { ConfigError } from '../errors.js'
import { lrFactor, type Schedule } from '../optim/schedules.js'
import type { HostTensor } from '../runtime/session.js'
import type { Callback, CallbackContext, StopReason, TrainEvent } from './events.js'
import type { TrainSession, TrainState } from './step.js'

export interface TrainBatch {
  feeds: Record<string, HostTensor>
  examples: number
}

export interface TrainingJob {
  session: TrainSession
  trainExamples: number
  evalExamples: number
  /** Number of micro-batches in an epoch (the same for every epoch). */
  batchesPerEpoch: number
  /** Micro-batches of `epoch` from index `start` on, in a deterministic order. */
  batches(epoch: number, start: number): AsyncIterable<TrainBatch>
  /** Metrics on the evaluation split (the trainer adds nothing; include eval_loss). */
  evaluate?(): Promise<Record<string, number>>
}

export interface TrainerProgress {
  epoch: number
  /** Micro-batches of the current epoch already consumed. */
  batchInEpoch: number
  bestMetric: number | null
  bestStep: number | null
  badEvals: number
  lastMetrics: Record<string, number>
}

/** Saving and restoring checkpoints; the Node implementation writes folders atomically. */
export interface Checkpointer {
  save(step: number, state: TrainState, progress: TrainerProgress): Promise<string>
  /** Records the current weights as the best so far. */
  saveBest(step: number, state: TrainState, metrics: Record<string, number>): Promise<string>
  latest(): Promise<{ state: TrainState; progress: TrainerProgress } | null>
}

export interface TrainerOptions {
  epochs: number
  /** Stop after this many optimizer updates (overrides epochs when set). */
  maxSteps?: number
  schedule: Schedule
  evalEvery: { kind: 'epoch' } | { kind: 'steps'; every: number } | { kind: 'none' }
  saveEvery: { kind: 'epoch' } | { kind: 'steps'; every: number } | { kind: 'none' }
  /** Metric that decides "best" and early stopping (eval_loss by default, lower is better). */
  metric?: string
  greaterIsBetter?: boolean
  /** Stop when the metric has not improved for this many evaluations. */
  earlyStoppingPatience?: number
  /** Emit a step event every N updates (default 1). */
  logEvery?: number
  resume?: boolean
}

export interface TrainResult {
  steps: number
  reason: StopReason
  bestStep: number | null
  metrics: Record<string, number>
  elapsedMs: number
}

export class Trainer {
  constructor(
    readonly job: TrainingJob,
    readonly opts: TrainerOptions,
    readonly callbacks: readonly Callback[] = [],
    readonly checkpointer?: Checkpointer,
  ) {
    if (!(opts.epochs > 0) && !(opts.maxSteps && opts.maxSteps > 0)) throw new ConfigError('CONFIG_EPOCHS', `epochs must be positive, got ${opts.epochs}`, 'pass --epochs N or --max-steps N')
    if (job.batchesPerEpoch === 0) throw new ConfigError('DATA_EMPTY', 'the training data has no examples', 'check the data file and the column names')
  }

  /** Optimizer updates in the whole run. */
  get totalSteps(): number {
    const perEpoch = Math.ceil(this.job.batchesPerEpoch / this.job.session.accumulation)
    return this.opts.maxSteps ?? perEpoch * this.opts.epochs
  }

  async run(): Promise<TrainResult> {
    const s = this.job.session
    const t0 = performance.now()
    let stopReason: StopReason | null = null
    const ctx: CallbackContext = { stop: () => void (stopReason ??= 'stopped') }
    const emit = async (e: TrainEvent): Promise<void> => {
      for (const cb of this.callbacks) {
        await cb.onEvent?.(e, ctx)
        const m = ({ start: cb.onStart, step: cb.onStep, eval: cb.onEval, checkpoint: cb.onCheckpoint, end: cb.onEnd } as Record<string, ((e: never, c: CallbackContext) => void | Promise<void>) | undefined>)[e.type]
        await m?.call(cb, e as never, ctx)
      }
    }
    let p: TrainerProgress = { epoch: 0, batchInEpoch: 0, bestMetric: null, bestStep: null, badEvals: 0, lastMetrics: {} }
    let resumedFrom: number | null = null
    if (this.opts.resume && this.checkpointer) {
      const last = await this.checkpointer.latest()
      if (last) {
        s.importState(last.state)
        p = last.progress
        resumedFrom = s.step
      }
    }
    const total = this.totalSteps
    const params = s.model.countParameters()
    await emit({ type: 'start', time: new Date().toISOString(), totalSteps: total, epochs: this.opts.maxSteps ? Math.ceil(total / Math.ceil(this.job.batchesPerEpoch / s.accumulation)) : this.opts.epochs, trainExamples: this.job.trainExamples, evalExamples: this.job.evalExamples, parameters: params, trainable: s.model.countParameters(true), resumedFromStep: resumedFrom })
    const metricName = this.opts.metric ?? 'eval_loss'
    const greater = this.opts.greaterIsBetter ?? !/loss|perplexity|mse|mae|rmse|(^|_)[wc]er$/.test(metricName)
    const logEvery = this.opts.logEvery ?? 1

    let lastEvalStep = -1
    const evaluate = async (epoch: number): Promise<void> => {
      if (!this.job.evaluate) return
      lastEvalStep = s.step
      const m = await this.job.evaluate()
      p.lastMetrics = m
      await emit({ type: 'eval', step: s.step, epoch, metrics: m })
      const v = m[metricName]
      if (v === undefined) throw new ConfigError('CONFIG_METRIC', `metric "${metricName}" is not among the evaluation metrics (${Object.keys(m).join(', ')})`, 'choose one of those with --metric')
      const better = p.bestMetric === null || (greater ? v > p.bestMetric : v < p.bestMetric)
      if (better) {
        p.bestMetric = v
        p.bestStep = s.step
        p.badEvals = 0
        if (this.checkpointer) {
          const path = await this.checkpointer.saveBest(s.step, s.exportState(), m)
          await emit({ type: 'checkpoint', step: s.step, path, best: true })
        }
      } else {
        p.badEvals++
        if (this.opts.earlyStoppingPatience !== undefined && p.badEvals >= this.opts.earlyStoppingPatience) stopReason ??= 'early-stopping'
      }
    }
    const checkpoint = async (): Promise<void> => {
      if (!this.checkpointer) return
      const path = await this.checkpointer.save(s.step, s.exportState(), p)
      await emit({ type: 'checkpoint', step: s.step, path, best: false })
    }

    let windowLoss = 0
    let windowN = 0
    let windowExamples = 0
    let windowStart = performance.now()
    outer: while (s.step < total) {
      const epoch = p.epoch
      let i = p.batchInEpoch
      for await (const b of this.job.batches(epoch, i)) {
        const lr = lrFactor(this.opts.schedule, s.step, total)
        const r = await s.trainStep(b.feeds, lr)
        i++
        p.batchInEpoch = i
        windowLoss += r.loss
        windowN++
        windowExamples += b.examples
        if (!Number.isFinite(r.loss)) throw new ConfigError('TRAIN_DIVERGED', `the loss became ${r.loss} at step ${s.step}`, 'lower the learning rate (--lr) or enable gradient clipping (--clip-norm 1)')
        if (!r.updated) continue
        if (s.step % logEvery === 0 || s.step === total) {
          const now = performance.now()
          const lrNow = (s.groups()[0]?.lr ?? 0) * lr
          await emit({ type: 'step', step: s.step, epoch, loss: windowLoss / windowN, lr: lrNow, gradNorm: r.gradNorm ?? null, examplesPerSec: (windowExamples / (now - windowStart)) * 1000, elapsedMs: now - t0 })
          windowLoss = 0
          windowN = 0
          windowExamples = 0
          windowStart = now
        }
        const ev = this.opts.evalEvery
        if (ev.kind === 'steps' && s.step % ev.every === 0) await evaluate(epoch)
        const sv = this.opts.saveEvery
        if (sv.kind === 'steps' && s.step % sv.every === 0 && s.step < total) await checkpoint()
        if (stopReason || s.step >= total) break outer
      }
      // epoch finished
      p.epoch = epoch + 1
      p.batchInEpoch = 0
      if (this.opts.evalEvery.kind === 'epoch') await evaluate(epoch)
      if (this.opts.saveEvery.kind === 'epoch' && s.step < total && !stopReason) await checkpoint()
      if (stopReason) break
    }
    // a final evaluation when the last one is stale
    if (this.opts.evalEvery.kind !== 'none' && lastEvalStep !== s.step) await evaluate(p.epoch)
    const reason: StopReason = stopReason ?? 'completed'
    const elapsedMs = performance.now() - t0
    await emit({ type: 'end', step: s.step, reason, elapsedMs, bestStep: p.bestStep, metrics: p.lastMetrics })
    return { steps: s.step, reason, bestStep: p.bestStep, metrics: p.lastMetrics, elapsedMs }
  }
}
