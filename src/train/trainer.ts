/**
 * The training loop: epochs or max steps over deterministic batch orders, accumulation, schedules,
 * periodic evaluation, early stopping, best-checkpoint tracking and resumable checkpoints. Everything
 * task-specific (data, metrics, files) comes through the TrainingJob and Checkpointer interfaces.
 */
import { ConfigError } from '../errors.js'
import { lrFactor, type Schedule } from '../optim/schedules.js'
import type { HostTensor } from '../runtime/session.js'
import { progressReporter, type Callback, type CallbackContext, type StopReason, type TrainEvent } from './events.js'
import type { StepResult, TrainSession, TrainState } from './step.js'

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

/** Batches with equal input shapes can share a run. */
const shapeKey = (b: TrainBatch): string => Object.keys(b.feeds).sort().map((k) => `${k}:${b.feeds[k]!.shape.join('x')}:${b.feeds[k]!.dtype}`).join(',')

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
  /**
   * Optimizer updates per runtime call (Keras' steps_per_execution): a run of K steps is one Scan
   * over K batches of one shape, bit-identical to K single steps. 'auto' times the first steps and
   * picks K (see autoStepsPerRun), and returns to 1 if the second K-step run was not faster per step
   * than a single step. Runs end at evaluation, checkpoint and unfreezing steps, at the
   * end of an epoch and where the batch shape changes, so events keep their per-step meaning.
   * Default 1.
   */
  stepsPerRun?: number | 'auto'
}

/** Largest K 'auto' picks: more saves little once the per-call cost is a few per cent of a step. */
export const MAX_STEPS_PER_RUN = 16

/**
 * The steps per run that keep the per-call cost under 2 % of a step: the smallest power of two K
 * (up to MAX_STEPS_PER_RUN and `limit`) with overhead / K <= 0.02 * stepMs. The per-call cost is
 * estimated as 0.2 ms plus 0.5 ms per MB of carried state (parameters and optimizer moments that the
 * runtime binding copies out of every call): bench/steps-per-run.ts, and the 3-5 ms (10 MB,
 * transformer block) and 45-50 ms (134 MB, ResNet-18) measured for issue 15, put it at 0.35-0.5
 * ms/MB on a quiet machine. A K-step graph is compiled once: when the time it would save over the
 * `remaining` steps is under twice `compileMs` (what the first step took beyond a later one), K is 1.
 */
export function autoStepsPerRun(stepMs: number, carriedBytes: number, limit = MAX_STEPS_PER_RUN, cost: { compileMs: number; remaining: number } = { compileMs: 0, remaining: Infinity }): number {
  const overhead = 0.2 + (0.5 * carriedBytes) / 2 ** 20
  let k = 1
  while (k < MAX_STEPS_PER_RUN && k * 2 <= limit && overhead / k > 0.02 * stepMs) k *= 2
  return k > 1 && overhead * (1 - 1 / k) * cost.remaining < 2 * cost.compileMs ? 1 : k
}

export interface TrainResult {
  steps: number
  reason: StopReason
  bestStep: number | null
  metrics: Record<string, number>
  elapsedMs: number
  /** Optimizer updates per runtime call that the run used (what 'auto' chose). */
  stepsPerRun: number
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
    const k = opts.stepsPerRun
    if (k !== undefined && k !== 'auto' && !(Number.isInteger(k) && k >= 1)) throw new ConfigError('CONFIG_STEPS_PER_RUN', `steps per run must be a positive integer or "auto", got ${k}`, 'pass --steps-per-run auto, or a number such as 8')
    if (typeof k === 'number' && k > 1 && job.session.runtime.resident)
      throw new ConfigError('CONFIG_STEPS_PER_RUN', `--steps-per-run ${k} runs a Scan, which the ${job.session.runtime.provider} provider has no kernel for`, 'use --steps-per-run 1 (or auto): with the state resident on the device there is no per-run copy to spread')
    if (typeof k === 'number' && k > 1 && job.session.accumulation > 1)
      throw new ConfigError('CONFIG_STEPS_PER_RUN', `--steps-per-run ${k} runs one micro-batch per update, but --grad-accum is ${job.session.accumulation}`, 'use --steps-per-run 1 (or auto) with --grad-accum')
  }

  /** Steps per run in effect (after 'auto' has decided; 1 before). */
  stepsPerRun = 1

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
      // an evaluation may read parameters on the host (generation builds its own graphs)
      await s.syncToHost()
      s.countEvaluations(this.job.evalExamples, progressReporter(this.callbacks, 'eval'))
      let m: Record<string, number>
      try {
        m = await this.job.evaluate()
      } finally {
        s.onEvaluate = null
      }
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
          const path = await this.checkpointer.saveBest(s.step, await s.exportState(), m)
          await emit({ type: 'checkpoint', step: s.step, path, best: true })
        }
      } else {
        p.badEvals++
        if (this.opts.earlyStoppingPatience !== undefined && p.badEvals >= this.opts.earlyStoppingPatience) stopReason ??= 'early-stopping'
      }
    }
    const checkpoint = async (): Promise<void> => {
      if (!this.checkpointer) return
      const path = await this.checkpointer.save(s.step, await s.exportState(), p)
      await emit({ type: 'checkpoint', step: s.step, path, best: false })
    }

    let windowLoss = 0
    let windowN = 0
    let windowExamples = 0
    let windowStart = performance.now()
    // 'auto' decides after timing a few single steps (the first compiles its graph, so it is not timed)
    const want = this.opts.stepsPerRun ?? 1
    // several steps per run spread the copy of parameters and state to and from the host; a resident
    // provider (WebGPU) has no such copy, and no Scan kernel
    let decided = want !== 'auto' || s.accumulation > 1 || s.runtime.resident
    if (decided && typeof want === 'number') this.stepsPerRun = s.accumulation > 1 ? 1 : want
    const timed: number[] = []
    let autoRuns = 0
    const sv = this.opts.saveEvery
    const ev = this.opts.evalEvery
    // steps that must end a run: evaluations, checkpoints, callbacks that change what trains
    const runLength = (from: number): number => {
      let n = Math.min(this.stepsPerRun, total - from)
      for (let k = 1; k < n; k++) {
        const at = from + k
        if ((ev.kind === 'steps' && at % ev.every === 0) || (sv.kind === 'steps' && at % sv.every === 0) || this.callbacks.some((cb) => cb.runBoundary?.(at))) n = k
      }
      return n
    }
    // per update: events, divergence check, periodic evaluation and checkpoints
    const afterStep = async (r: StepResult, lr: number, examples: number, epoch: number, now: number): Promise<boolean> => {
      windowLoss += r.loss
      windowN++
      windowExamples += examples
      if (!Number.isFinite(r.loss)) throw new ConfigError('TRAIN_DIVERGED', `the loss became ${r.loss} at step ${s.step}`, 'lower the learning rate (--lr) or enable gradient clipping (--clip-norm 1)')
      if (!r.updated) return false
      if (s.step % logEvery === 0 || s.step === total) {
        const lrNow = (s.groups()[0]?.lr ?? 0) * lr
        await emit({ type: 'step', step: s.step, epoch, loss: windowLoss / windowN, lr: lrNow, gradNorm: r.gradNorm ?? null, examplesPerSec: (windowExamples / (now - windowStart)) * 1000, elapsedMs: now - t0 })
        windowLoss = 0
        windowN = 0
        windowExamples = 0
        windowStart = now
      }
      if (ev.kind === 'steps' && s.step % ev.every === 0) await evaluate(epoch)
      if (sv.kind === 'steps' && s.step % sv.every === 0 && s.step < total) await checkpoint()
      return !!stopReason || s.step >= total
    }
    outer: while (s.step < total) {
      const epoch = p.epoch
      const it = this.job.batches(epoch, p.batchInEpoch)[Symbol.asyncIterator]()
      // batches read ahead to find a run of one shape, not yet trained on
      const ahead: TrainBatch[] = []
      const next = async (): Promise<TrainBatch | null> => {
        if (ahead.length) return ahead.shift()!
        const r = await it.next()
        return r.done ? null : r.value
      }
      for (let b = await next(); b; b = await next()) {
        const n = s.accumulation > 1 ? 1 : runLength(s.step)
        let run = [b]
        if (n > 1 && n === this.stepsPerRun) {
          // a full run of one batch shape, else single steps (one graph per K, not per remainder)
          const sig = shapeKey(b)
          for (let i = 0; run.length < n; i++) {
            const c = i < ahead.length ? ahead[i]! : await it.next().then((r) => (r.done ? null : (ahead.push(r.value), r.value)))
            if (!c || shapeKey(c) !== sig) break
            run.push(c)
          }
          if (run.length === n) ahead.splice(0, n - 1)
          else run = [b]
        }
        const from = s.step
        const lrs = run.map((_, k) => lrFactor(this.opts.schedule, from + k, total))
        const t = performance.now()
        const results = run.length === 1 ? [await s.trainStep(run[0]!.feeds, lrs[0])] : await s.trainSteps(run.map((x) => x.feeds), lrs)
        const dt = performance.now() - t
        if (results.length > 1 && want === 'auto' && ++autoRuns === 2 && dt / results.length >= Math.min(...timed.slice(1))) {
          // auto checks its choice on the second K-step run (the first compiles): no faster per step, back to 1
          this.stepsPerRun = 1
        }
        if (!decided && results[0]!.updated) {
          timed.push(dt)
          if (timed.length === 4) {
            decided = true
            // runs end at epochs, evaluations and checkpoints: K fits twice between them, and a short
            // remainder of the run compiles no Scan graph
            const gaps = [this.job.batchesPerEpoch, ev.kind === 'steps' ? ev.every : Infinity, sv.kind === 'steps' ? sv.every : Infinity]
            const stepMs = Math.min(...timed.slice(1))
            const remaining = total - s.step
            this.stepsPerRun = autoStepsPerRun(stepMs, s.carriedBytes(), Math.min(Math.min(...gaps) / 2, remaining / 4), { compileMs: timed[0]! - stepMs, remaining })
          }
        }
        for (let k = 0; k < results.length; k++) {
          p.batchInEpoch++
          // s.step counts this run's updates as they are reported, so events and checkpoints see their own step
          if (results.length > 1) s.step = from + k + 1
          if (await afterStep(results[k]!, lrs[k]!, run[k]!.examples, epoch, t + (dt * (k + 1)) / results.length)) {
            s.step = from + results.length
            p.batchInEpoch += results.length - 1 - k
            break outer
          }
        }
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
    // the model's parameters are read after training (export, predict): bring them back from a
    // device, and free its memory (a process may train several models, as compare does)
    await s.releaseDevice()
    const reason: StopReason = stopReason ?? 'completed'
    const elapsedMs = performance.now() - t0
    await emit({ type: 'end', step: s.step, reason, elapsedMs, bestStep: p.bestStep, metrics: p.lastMetrics })
    return { steps: s.step, reason, bestStep: p.bestStep, metrics: p.lastMetrics, elapsedMs, stepsPerRun: this.stepsPerRun }
  }
}
