/**
 * The result of `finetune compare` (report.json): a pre-trained model fine-tuned against the same
 * architecture (or `scratch_model`) trained from random weights, at several label budgets and seeds.
 * `parseCompareReport` checks a parsed report.json; `compareTable` prints its numbers for a terminal.
 */
import { ConfigError, IssueList } from '../errors.js'

/** The two sides of a comparison. */
export type CompareSideName = 'pretrained' | 'scratch'
export const COMPARE_SIDES = ['pretrained', 'scratch'] as const satisfies readonly CompareSideName[]

/** One training run of one side at one budget and seed. */
export interface CompareRun {
  seed: number
  /** The metric on the test data at the end of the run. */
  value: number
  steps: number
  wall_s: number
  /** Wall time until the run first reached the budget's target (the best value the scratch side reached); null: never. */
  time_to_target_s: number | null
  /** The learning rate the run used (picked for this side). */
  lr: number
}

/** One side at one budget: the mean and standard deviation of the metric over its seeds, and each run. */
export interface CompareSide {
  mean: number
  std: number
  runs: CompareRun[]
}

export interface CompareBudget {
  /** As asked for on the command line: examples (per class with --per-class), or 'all'. */
  budget: number | 'all'
  /** Labelled examples the budget used. */
  labels: number
  pretrained: CompareSide
  scratch: CompareSide
  /** More sides trained from scratch (the report's `extra_scratch`), by key. */
  extra?: Record<string, CompareSide>
}

/** A further scratch side: its key in `budgets[].extra` and `curves`, and what it trained. */
export interface ExtraScratch {
  key: string
  model: string
}

/** A point of a learning curve: the metric after `step` updates, `wall_s` seconds into the run. */
export interface CurvePoint {
  step: number
  wall_s: number
  value: number
}

export interface CompareReport {
  task: string
  /** 'accuracy', 'wer', ... */
  metric: string
  higher_is_better: boolean
  /** The pre-trained starting point. */
  model: string
  /** What the scratch side trained: the same architecture from random weights, or another model. */
  scratch_model: string
  budgets: CompareBudget[]
  /** How the comparison was kept fair (step budget, learning-rate choice), in words. */
  fairness: string
  /** ISO time the report was made. */
  created: string
  /** Learning curves per side (pretrained, scratch and the extra keys), keyed by the budget as a string (`String(budget)`). */
  curves?: Partial<Record<string, Record<string, CurvePoint[]>>>
  /** Further scratch sides (e.g. the same network from random weights and a small CNN), in table order. */
  extra_scratch?: ExtraScratch[]
}

/** Every side of a report in display order: pretrained, scratch, then the extra scratch sides. */
export function reportSides(r: Pick<CompareReport, 'extra_scratch'>): string[] {
  return [...COMPARE_SIDES, ...(r.extra_scratch ?? []).map((e) => e.key)]
}

/** One side of a budget by key (undefined where a budget lacks an extra side). */
export function sideOf(b: CompareBudget, key: string): CompareSide | undefined {
  return key === 'pretrained' || key === 'scratch' ? b[key] : b.extra?.[key]
}

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x)
const isNum = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x)

/**
 * Checks that `json` (a parsed report.json) has the shape of a CompareReport and returns it typed.
 * Every problem is reported at once with its path (`budgets[1].scratch.runs[0].value`).
 */
export function parseCompareReport(json: unknown, source = 'report.json'): CompareReport {
  const issues = new IssueList()
  const need = (o: Record<string, unknown>, path: string, key: string, ok: (v: unknown) => boolean, what: string): void => {
    if (!ok(o[key])) issues.add(`${path}${key}`, `expected ${what}, got ${JSON.stringify(o[key]) ?? 'nothing'}`)
  }
  if (!isObj(json)) throw new ConfigError('REPORT_INVALID', `${source} is not a JSON object`, 'report.json is written by "finetune compare"')
  const str = (v: unknown): boolean => typeof v === 'string'
  for (const k of ['task', 'metric', 'model', 'scratch_model', 'fairness', 'created']) need(json, '', k, str, 'a string')
  need(json, '', 'higher_is_better', (v) => typeof v === 'boolean', 'true or false')
  const side = (s: unknown, path: string): void => {
    if (!isObj(s)) return issues.add(path, 'expected { mean, std, runs }')
    need(s, `${path}.`, 'mean', isNum, 'a number')
    need(s, `${path}.`, 'std', (v) => isNum(v) && v >= 0, 'a number >= 0')
    if (!Array.isArray(s['runs'])) return issues.add(`${path}.runs`, 'expected a list of runs')
    s['runs'].forEach((r: unknown, i) => {
      const p = `${path}.runs[${i}].`
      if (!isObj(r)) return issues.add(p.slice(0, -1), 'expected { seed, value, steps, wall_s, time_to_target_s, lr }')
      for (const k of ['seed', 'value', 'steps', 'wall_s', 'lr']) need(r, p, k, isNum, 'a number')
      need(r, p, 'time_to_target_s', (v) => v === null || (isNum(v) && v >= 0), 'a number of seconds or null')
    })
  }
  const extraKeys: string[] = []
  if (json['extra_scratch'] !== undefined) {
    if (!Array.isArray(json['extra_scratch'])) issues.add('extra_scratch', 'expected a list of { key, model }')
    else
      json['extra_scratch'].forEach((e: unknown, i) => {
        if (!isObj(e) || typeof e['key'] !== 'string' || typeof e['model'] !== 'string') return issues.add(`extra_scratch[${i}]`, 'expected { key, model } (strings)')
        if ((COMPARE_SIDES as readonly string[]).includes(e['key']) || extraKeys.includes(e['key'])) return issues.add(`extra_scratch[${i}].key`, `"${e['key']}" is already a side`)
        extraKeys.push(e['key'])
      })
  }
  if (!Array.isArray(json['budgets']) || json['budgets'].length === 0) issues.add('budgets', 'expected a non-empty list')
  else
    json['budgets'].forEach((b: unknown, i) => {
      const p = `budgets[${i}]`
      if (!isObj(b)) return issues.add(p, 'expected { budget, labels, pretrained, scratch }')
      need(b, `${p}.`, 'budget', (v) => v === 'all' || (isNum(v) && v > 0), 'a positive number or "all"')
      need(b, `${p}.`, 'labels', (v) => isNum(v) && v >= 1, 'a number >= 1 (the x axis is logarithmic)')
      for (const s of COMPARE_SIDES) side(b[s], `${p}.${s}`)
      for (const e of extraKeys) side(isObj(b['extra']) ? b['extra'][e] : undefined, `${p}.extra.${e}`)
    })
  if (json['curves'] !== undefined) {
    if (!isObj(json['curves'])) issues.add('curves', 'expected { pretrained?, scratch? }')
    else
      for (const [s, byBudget] of Object.entries(json['curves'])) {
        if (![...COMPARE_SIDES, ...extraKeys].includes(s)) issues.add(`curves.${s}`, `unknown side; expected ${[...COMPARE_SIDES, ...extraKeys].join(' or ')}`)
        else if (!isObj(byBudget)) issues.add(`curves.${s}`, 'expected { [budget]: [{ step, wall_s, value }] }')
        else
          for (const [b, pts] of Object.entries(byBudget)) {
            if (!Array.isArray(pts)) issues.add(`curves.${s}.${b}`, 'expected a list of { step, wall_s, value }')
            else pts.forEach((pt: unknown, i) => (isObj(pt) ? ['step', 'wall_s', 'value'].forEach((k) => need(pt, `curves.${s}.${b}[${i}].`, k, isNum, 'a number')) : issues.add(`curves.${s}.${b}[${i}]`, 'expected { step, wall_s, value }')))
          }
      }
  }
  issues.throwIfAny('REPORT_INVALID', source, 'report.json is written by "finetune compare"; re-run it, or fix the fields listed')
  return json as unknown as CompareReport
}

/** A metric value for people: 4 decimals for values like accuracy or WER, 5 significant digits otherwise. */
export function formatMetric(v: number): string {
  return !Number.isFinite(v) ? String(v) : Math.abs(v) < 10 ? v.toFixed(4) : v.toPrecision(5)
}

/** Seconds for people: 0.42, 3.1, 125. */
export function formatSeconds(s: number): string {
  return s < 1 ? s.toFixed(2) : s < 100 ? s.toFixed(1) : s.toFixed(0)
}

/** The time-to-target summary of one side: the mean over the runs that reached it, and how many did. */
export function timeToTarget(side: CompareSide): { mean: number | null; reached: number; runs: number } {
  const t = side.runs.map((r) => r.time_to_target_s).filter((x): x is number => x !== null)
  return { mean: t.length ? t.reduce((a, b) => a + b, 0) / t.length : null, reached: t.length, runs: side.runs.length }
}

/** How much sooner the pre-trained side reached the target (scratch time / pre-trained time), or null. */
export function speedup(b: CompareBudget): number | null {
  const p = timeToTarget(b.pretrained).mean
  const s = timeToTarget(b.scratch).mean
  return p !== null && s !== null && p > 0 ? s / p : null
}

/** The table's rows: a header and one row per budget; shared by the terminal and the HTML table. */
export function compareRows(r: CompareReport): string[][] {
  const ttt = (s: CompareSide): string => {
    const t = timeToTarget(s)
    return t.mean === null ? `never (0/${t.runs})` : `${formatSeconds(t.mean)} s (${t.reached}/${t.runs})`
  }
  const extra = (r.extra_scratch ?? []).map((e) => e.key)
  const head = ['budget', 'labels', `pretrained ${r.metric}`, `scratch ${r.metric}`, ...extra.map((k) => `${k} ${r.metric}`), 'difference', 'pretrained time to target', 'scratch time to target', ...extra.map((k) => `${k} time to target`), 'speed-up']
  const ms = (s: CompareSide | undefined): string => (s ? `${formatMetric(s.mean)} ± ${formatMetric(s.std)}` : '-')
  const rows = r.budgets.map((b) => {
    // the difference is to the best scratch side at this budget
    const best = [b.scratch, ...extra.map((k) => b.extra?.[k])].filter((x): x is CompareSide => !!x).reduce((a, x) => ((r.higher_is_better ? x.mean > a.mean : x.mean < a.mean) ? x : a))
    const d = b.pretrained.mean - best.mean
    const su = speedup(b)
    return [
      String(b.budget),
      String(b.labels),
      ms(b.pretrained),
      ms(b.scratch),
      ...extra.map((k) => ms(b.extra?.[k])),
      `${d >= 0 ? '+' : ''}${formatMetric(d)}`,
      ttt(b.pretrained),
      ttt(b.scratch),
      ...extra.map((k) => (b.extra?.[k] ? ttt(b.extra[k]!) : '-')),
      su === null ? '-' : `${su.toFixed(1)}x`,
    ]
  })
  return [head, ...rows]
}

/** The report's numbers as a fixed-width text table for a terminal (mean ± std over seeds). */
export function compareTable(r: CompareReport): string {
  const rows = compareRows(r)
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)))
  // numbers right-aligned, the budget left-aligned
  const line = (row: string[]): string => row.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ').trimEnd()
  const seeds = Math.max(...r.budgets.map((b) => b.pretrained.runs.length))
  return [
    `${r.task}: ${r.metric} (${r.higher_is_better ? 'higher' : 'lower'} is better), mean ± std over ${seeds} seed${seeds === 1 ? '' : 's'}`,
    `pretrained: ${r.model}`,
    `scratch:    ${r.scratch_model}`,
    ...(r.extra_scratch ?? []).map((e) => `${e.key}: ${e.model}`),
    '',
    line(rows[0]!),
    line(w.map((n) => '-'.repeat(n))),
    ...rows.slice(1).map(line),
    '',
    `target: the best ${r.metric} the scratch side${r.extra_scratch?.length ? 's' : ''} reached at that budget; time to target: mean over the runs that reached it${r.extra_scratch?.length ? '; difference: pre-trained minus the best scratch side' : ''}`,
    `fairness: ${r.fairness}`,
  ].join('\n')
}
