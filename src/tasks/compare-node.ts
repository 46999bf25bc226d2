/**
 * `finetune compare`: does starting from pre-trained weights help, on this data, at these label
 * budgets? For every budget and seed, the pre-trained model fine-tuned and the same architecture
 * from random weights (or another model from scratch) train on the same class-balanced subset for
 * the same number of steps, each with its own learning rate chosen by the same rule, and are
 * evaluated on the same test data; evaluations during training give learning curves and the time
 * each side needs to reach the accuracy the scratch side reached.
 */
import { existsSync, readdirSync } from 'node:fs'
import { mkdir, rm } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { ConfigError } from '../errors.js'
import { writeFileAtomic } from '../checkpoint/io-node.js'
import type { TrainEvent } from '../train/events.js'
import { Runtime } from '../runtime/session.js'
import { getTask } from './registry.js'
import { taskDefaults, train } from './run-node.js'
import type { TaskTrainOptions } from './task.js'
import type { CompareReport, CompareRun, CompareSide, CurvePoint } from '../report/compare.js'
import { renderCompareReport } from '../report/assets-node.js'
import { renderCompareSvg } from '../report/compare-svg.js'

export type Budget = number | 'all'

/** A scratch model that means `model` itself from random weights. */
export const RANDOM = 'random'
/** 'pretrained', 'scratch', or the key of a further scratch side. */
type Side = string

/** One run as report.json records it (with the examples its subset held). */
export interface CompareRunRecord extends CompareRun {
  examples: number
}

/**
 * report.json: the report's schema (src/report/compare.ts) plus the steps per budget, the budget
 * kind and the seeds. `curves` holds, per side and budget, the mean over seeds at each evaluation.
 */
export interface CompareResult extends CompareReport {
  budgets: (CompareReport['budgets'][number] & { steps: number; pretrained: CompareSide & { runs: CompareRunRecord[] }; scratch: CompareSide & { runs: CompareRunRecord[] }; extra?: Record<string, CompareSide & { runs: CompareRunRecord[] }> })[]
  per_class: boolean
  seeds: number
  curves: { pretrained: Record<string, CurvePoint[]>; scratch: Record<string, CurvePoint[]> } & Record<string, Record<string, CurvePoint[]>>
}

export interface CompareOptions {
  task: string
  model: string
  data: string
  test: string
  budgets: Budget[]
  perClass: boolean
  seeds: number
  out: string
  /** Another model trained from scratch as it is (e.g. a small CNN), instead of the same architecture re-initialised. */
  scratchModel?: string | undefined
  /**
   * Further scratch sides in the same report, each a model trained as it is or `random` for
   * `model` re-initialised (e.g. `scratchModel: undefined, moreScratch: ['keyword-cnn']`: the same
   * network from random weights and a small CNN from scratch).
   */
  moreScratch?: string[] | undefined
  /** Learning rates tried per side (default: the task's learning rate x 0.1, 1, 10). */
  lrGrid?: number[] | undefined
  /** A learning rate per side ('pretrained', 'scratch', extra keys) chosen beforehand: no search. */
  lrs?: Record<string, number> | undefined
  /** How `lrs` were chosen, for the report's fairness note. */
  lrsWhy?: string | undefined
  /** Steps of every run (default: 10 epochs of the subset, at least 30 and at most 300). */
  steps?: number | undefined
  /** Evaluations on the test data per run (learning curves and time-to-target). */
  evalPoints: number
  overwrite: boolean
  /** Task and shared training options (batch size, the task's own flags...). */
  train: Partial<TaskTrainOptions>
  /** The runtime every run shares (left open); by default compare starts and disposes its own. */
  runtime?: Runtime | undefined
  log?: (line: string) => void
}

const mean = (a: number[]): number => a.reduce((s, v) => s + v, 0) / Math.max(a.length, 1)
const std = (a: number[]): number => {
  if (a.length < 2) return 0
  const m = mean(a)
  return Math.sqrt(a.reduce((s, v) => s + (v - m) ** 2, 0) / (a.length - 1))
}
const metricOf = (task: string): { metric: string; higher: boolean } =>
  task === 'token-classification' ? { metric: 'f1', higher: true } : task === 'causal-lm' ? { metric: 'eval_loss', higher: false } : { metric: 'accuracy', higher: true }

/** Runs the comparison and writes report.json, report.html, report.svg (and the runs' folders) into `o.out`. */
export async function compare(o: CompareOptions): Promise<CompareResult> {
  const task = getTask(o.task)
  const log = o.log ?? (() => {})
  if (!o.budgets.length) throw new ConfigError('COMPARE_BUDGETS', 'no label budgets given', 'pass --budgets, e.g. 1,3,10,all')
  if (existsSync(o.out) && readdirSync(o.out).length > 0 && !o.overwrite) throw new ConfigError('OUT_NOT_EMPTY', `output folder ${o.out} is not empty`, 'pass --overwrite to replace it, or choose another --out')
  if (o.overwrite) await rm(o.out, { recursive: true, force: true })
  await mkdir(o.out, { recursive: true })
  const { metric, higher } = metricOf(task.name)
  const base: TaskTrainOptions = { ...taskDefaults(task), ...o.train, task: task.name, model: o.model, data: o.data, out: '', saveEvery: 'none', keepBest: false, overwrite: true, resume: false } as TaskTrainOptions
  const better = (a: number, b: number): boolean => (higher ? a > b : a < b)
  const scratchSide = (side: Side, m: string | undefined): { side: Side; model: string; init: 'pretrained' | 'random'; describe: string } =>
    m === undefined || m === RANDOM ? { side, model: o.model, init: 'random', describe: `${o.model} (random weights)` } : { side, model: m, init: 'pretrained', describe: `${m} (from scratch)` }
  const extra = (o.moreScratch ?? []).map((m) => scratchSide(m === RANDOM ? 'random-init' : basename(m), m))
  const keys = new Set(['pretrained', 'scratch'])
  for (const e of extra) {
    if (keys.has(e.side)) throw new ConfigError('COMPARE_SIDES', `two scratch sides would both be called "${e.side}"`, 'name each scratch model once (and "random" at most once)')
    keys.add(e.side)
  }
  const sides = [{ side: 'pretrained', model: o.model, init: 'pretrained' as const, describe: o.model }, scratchSide('scratch', o.scratchModel), ...extra]
  const scratchSides = sides.slice(1)
  const stepsFor = (examples: number): number => o.steps ?? Math.min(300, Math.max(30, Math.ceil((10 * examples) / base.batchSize)))
  type Result = { value: number; steps: number; wall_s: number; examples: number; points: { step: number; wall_s: number; value: number }[] }
  // every run shares one runtime, so a graph compiled once (the same network and batch shape on
  // either side and at every budget) is not compiled again
  const runtime = o.runtime ?? new Runtime({ provider: base.device, ...(base.threads ? { threads: base.threads } : {}) })
  const run = async (side: (typeof sides)[number], budget: Budget, seed: number, lr: number, dir: string, validation: { holdout: number } | { test: string }): Promise<Result> => {
    // time-to-target counts training time only: evaluations, and compiling the graphs (which
    // only the first run of a shape pays), are timed and taken out
    const points: Result['points'] = []
    let evalMs = 0
    let compileMs = 0
    let compileMark = 0
    let lastStepAt = 0
    let lastElapsed = 0
    const trainMs = (): number => Math.max(0, lastElapsed - evalMs - compileMs)
    const cb = {
      onEvent(e: TrainEvent) {
        if (e.type === 'start') compileMark = runtime.compileMs // what preparing the data compiled is not in elapsedMs
        else if (e.type === 'step') {
          lastStepAt = performance.now()
          lastElapsed = e.elapsedMs
          compileMs += runtime.compileMs - compileMark
          compileMark = runtime.compileMs
        } else if (e.type === 'eval') {
          const v = e.metrics[metric]
          if (v !== undefined) points.push({ step: e.step, wall_s: trainMs() / 1000, value: v })
          evalMs += lastStepAt ? performance.now() - lastStepAt : 0
          lastStepAt = performance.now()
          compileMark = runtime.compileMs // an evaluation's compiling is inside evalMs
        }
      },
    }
    // sessions none of the last round of sides used (another budget's batch shapes) are released
    runtime.nextGeneration(sides.length)
    const subset = 'test' in validation ? { size: budget, perClass: o.perClass, seed } : { size: budget, perClass: o.perClass, seed, holdout: validation.holdout }
    const r = await train({
      ...base,
      // the scratch side trains every weight: freezing random features would not be a baseline
      ...(side.side !== 'pretrained' ? { method: 'full' as const } : {}),
      model: side.model,
      init: side.init,
      out: dir,
      lr,
      seed,
      subset,
      ...('test' in validation ? { validation: validation.test } : {}),
      plan: (n) => {
        const maxSteps = stepsFor(n)
        return { maxSteps, evalEvery: Math.max(1, Math.ceil(maxSteps / Math.max(1, o.evalPoints))) }
      },
      metric,
      runtime,
      callbacks: [cb, ...(o.train.callbacks ?? [])],
    })
    return { value: r.metrics[metric] ?? NaN, steps: r.steps, wall_s: trainMs() / 1000, examples: r.trainExamples, points }
  }

  try {
    // 1. learning rates: per side, the best of the grid on a held-out fifth of the largest budget
    const largest = o.budgets.includes('all') ? 'all' : Math.max(...(o.budgets as number[]))
    const grid = o.lrGrid ?? [base.lr * 0.1, base.lr, base.lr * 10]
    const chosen: Record<Side, number> = Object.fromEntries(sides.map((x) => [x.side, base.lr]))
    let fairness = `Both sides train on the same class-balanced subsets (seeded, nested across budgets) for the same number of steps and are evaluated on the same test data (${o.test}). `
    if (o.lrs) {
      const missing = sides.filter((x) => !(o.lrs![x.side]! > 0)).map((x) => x.side)
      if (missing.length) throw new ConfigError('COMPARE_LRS', `no learning rate given for ${missing.join(', ')}`, `give one per side: ${sides.map((x) => x.side).join(', ')}`)
      for (const x of sides) chosen[x.side] = o.lrs[x.side]!
      fairness += `Each side's learning rate was fixed beforehand${o.lrsWhy ? ` (${o.lrsWhy})` : ''}: ${sides.map((x) => `${x.side === 'pretrained' ? 'pre-trained' : x.side} ${chosen[x.side]!.toPrecision(2)}`).join(', ')}.`
    } else if (grid.length > 1) {
      for (const side of sides) {
        let best: { lr: number; value: number } | null = null
        for (const lr of grid) {
          const dir = join(o.out, 'lr-search', `${side.side}-lr${lr}`)
          log(`lr search: ${side.side} lr ${lr} (budget ${largest}, a fifth held out)`)
          const r = await run(side, largest, 0, lr, dir, { holdout: 0.2 })
          if (Number.isFinite(r.value) && (!best || better(r.value, best.value))) best = { lr, value: r.value }
          await rm(dir, { recursive: true, force: true })
        }
        if (best) chosen[side.side] = best.lr
      }
      fairness += `Each side's learning rate was chosen from ${grid.map((x) => x.toPrecision(2)).join(', ')} by ${metric} on a held-out fifth of the largest budget's subset (seed 0), the same rule for every side: ${sides.map((x) => `${x.side === 'pretrained' ? 'pre-trained' : x.side} ${chosen[x.side]!.toPrecision(2)}`).join(', ')}.`
    } else {
      for (const x of sides) chosen[x.side] = grid[0]!
      fairness += `Every side uses the learning rate ${grid[0]}.`
    }
    fairness += scratchSides.map((x) => (x.init === 'random' ? ` The ${x.side === 'scratch' ? 'scratch side' : `side "${x.side}"`} is the same architecture with every weight re-drawn (PyTorch default initialisers, or the family's own rule where it has one).` : ` The ${x.side === 'scratch' ? 'scratch side' : `side "${x.side}"`} is ${x.model}, trained from its own (random) weights.`)).join('')

    // 2. every budget, seed and side
    const report: CompareResult = { task: task.name, metric, higher_is_better: higher, model: o.model, scratch_model: o.scratchModel && o.scratchModel !== RANDOM ? o.scratchModel : `${o.model} (random weights)`, budgets: [], fairness, per_class: o.perClass, seeds: o.seeds, created: new Date().toISOString(), curves: Object.fromEntries(sides.map((x) => [x.side, {}])) as CompareResult['curves'], ...(extra.length ? { extra_scratch: extra.map((x) => ({ key: x.side, model: x.describe })) } : {}) }
    for (const budget of o.budgets) {
      const results: Record<Side, (Result & { seed: number; lr: number })[]> = Object.fromEntries(sides.map((x) => [x.side, []]))
      let steps = 0
      for (let seed = 0; seed < o.seeds; seed++) {
        for (const side of sides) {
          const dir = join(o.out, 'runs', `${budget}-seed${seed}-${side.side}`)
          log(`budget ${budget}, seed ${seed}: ${side.side} (lr ${chosen[side.side]})`)
          const r = await run(side, budget, seed, chosen[side.side]!, dir, { test: o.test })
          steps = r.steps
          results[side.side]!.push({ ...r, seed, lr: chosen[side.side]! })
          log(`  ${r.examples} examples, ${r.steps} steps: ${metric} ${r.value.toFixed(4)}, ${r.wall_s.toFixed(1)} s of training`)
        }
      }
      // time to target: per seed, the best value any scratch side reached
      const ttt = (r: Result, seed: number): number | null => {
        const points = scratchSides.flatMap((x) => results[x.side]!.find((y) => y.seed === seed)!.points)
        const target = points.reduce((b, p) => (better(p.value, b) ? p.value : b), higher ? -Infinity : Infinity)
        const hit = r.points.find((p) => (higher ? p.value >= target : p.value <= target))
        return hit ? hit.wall_s : null
      }
      const sideOf = (side: Side): CompareSide & { runs: CompareRunRecord[] } => {
        const runs = results[side]!.map((r) => ({ seed: r.seed, value: r.value, steps: r.steps, wall_s: r.wall_s, time_to_target_s: ttt(r, r.seed), lr: r.lr, examples: r.examples }))
        return { mean: mean(runs.map((r) => r.value)), std: std(runs.map((r) => r.value)), runs }
      }
      report.budgets.push({ budget, labels: results['pretrained']![0]?.examples ?? 0, steps, pretrained: sideOf('pretrained'), scratch: sideOf('scratch'), ...(extra.length ? { extra: Object.fromEntries(extra.map((x) => [x.side, sideOf(x.side)])) } : {}) })
      // learning curves: the mean over seeds at each evaluation (the runs of a side share their steps)
      for (const { side } of sides) {
        const runs = results[side]!.map((r) => r.points)
        const n = Math.min(...runs.map((p) => p.length))
        report.curves[side]![String(budget)] = Array.from({ length: n }, (_, k) => ({ step: runs[0]![k]!.step, wall_s: mean(runs.map((p) => p[k]!.wall_s)), value: mean(runs.map((p) => p[k]!.value)) }))
      }
      await writeFileAtomic(join(o.out, 'report.json'), `${JSON.stringify(report, null, 2)}\n`)
      await writeFileAtomic(join(o.out, 'report.html'), renderCompareReport(report))
      await writeFileAtomic(join(o.out, 'report.svg'), renderCompareSvg(report))
    }
    return report
  } finally {
    if (!o.runtime) await runtime.dispose()
  }
}
