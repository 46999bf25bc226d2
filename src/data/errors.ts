/**
 * Where a data problem is, and what to do with rows that have one. A `DataRowError` names the file,
 * the 1-based line and, where it applies, the column (a character position) or field (a column
 * name), so a user can open the file at the right place. Row errors can be skipped and counted
 * (`onBadRow: 'skip'`); file-level errors (missing file, unknown column) always throw.
 */
import { DataError } from '../errors.js'

/** A place in a data file. `column` is a 1-based character position on `line`; `field` a column name. */
export interface DataPosition {
  file: string
  line?: number
  column?: number
  field?: string
}

/** What to do with a row that cannot be used: stop with its error, or skip it and count the reason. */
export type OnBadRow = 'error' | 'skip'

/** A bad row in one data file. `code` is the reason, stable for programs and used to count skips. */
export class DataRowError extends DataError {
  readonly file: string
  readonly line: number | undefined
  readonly column: number | undefined
  readonly field: string | undefined
  constructor(code: string, where: DataPosition, message: string, hint?: string) {
    super(code, `${formatPosition(where)}: ${message}`, hint)
    this.file = where.file
    this.line = where.line
    this.column = where.column
    this.field = where.field
  }
}

/** `file:line:column`, the form editors and terminals turn into links. */
export function formatPosition(where: DataPosition): string {
  let s = where.file
  if (where.line !== undefined) s += `:${where.line}`
  if (where.line !== undefined && where.column !== undefined) s += `:${where.column}`
  return s
}

/** A DataError for a whole file (not skippable): missing, empty, a column that is not there. */
export function fileError(code: string, file: string, message: string, hint?: string): DataError {
  return new DataError(code, `${file}: ${message}`, hint)
}

/** One skipped row, kept for the report (the first few of each run). */
export interface SkippedRow {
  code: string
  file: string
  line: number | undefined
  message: string
}

/** Counts of skipped rows per reason code, plus the first few rows for a report. */
export interface BadRowReport {
  total: number
  counts: Record<string, number>
  examples: SkippedRow[]
}

/** Applies the `onBadRow` policy: rethrows, or counts the row and lets the caller skip it. */
export class BadRows {
  readonly mode: OnBadRow
  readonly #maxExamples: number
  readonly #counts = new Map<string, number>()
  readonly #examples: SkippedRow[] = []
  #total = 0
  constructor(mode: OnBadRow = 'error', maxExamples = 10) {
    this.mode = mode
    this.#maxExamples = maxExamples
  }
  /** Throws `err` in 'error' mode; otherwise records it. Non-row errors always throw. */
  handle(err: unknown): void {
    if (this.mode === 'error' || !(err instanceof DataRowError)) throw err
    this.#total++
    this.#counts.set(err.code, (this.#counts.get(err.code) ?? 0) + 1)
    if (this.#examples.length < this.#maxExamples) {
      this.#examples.push({ code: err.code, file: err.file, line: err.line, message: err.message })
    }
  }
  get total(): number {
    return this.#total
  }
  report(): BadRowReport {
    const counts: Record<string, number> = {}
    for (const [k, v] of [...this.#counts].sort((a, b) => (a[0] < b[0] ? -1 : 1))) counts[k] = v
    return { total: this.#total, counts, examples: [...this.#examples] }
  }
}

/**
 * Runs `check` on every path, 16 at a time; the row errors it throws are handed to `bad` in path
 * order (so the error reported, or the skip list, does not depend on timing). Returns which passed.
 */
export async function checkEach(paths: readonly string[], bad: BadRows, check: (path: string) => Promise<unknown>): Promise<boolean[]> {
  const ok = new Array<boolean>(paths.length).fill(true)
  const errors = new Array<DataRowError | undefined>(paths.length)
  let next = 0
  const lane = async (): Promise<void> => {
    while (next < paths.length) {
      const i = next++
      try {
        await check(paths[i]!)
      } catch (e) {
        if (!(e instanceof DataRowError)) throw e
        errors[i] = e
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(16, paths.length) }, lane))
  errors.forEach((e, i) => {
    if (!e) return
    bad.handle(e)
    ok[i] = false
  })
  return ok
}

/** Merges reports of several files (train and validation) into one. */
export function mergeReports(...reports: BadRowReport[]): BadRowReport {
  const counts: Record<string, number> = {}
  let total = 0
  const examples: SkippedRow[] = []
  for (const r of reports) {
    total += r.total
    for (const [k, v] of Object.entries(r.counts)) counts[k] = (counts[k] ?? 0) + v
    examples.push(...r.examples)
  }
  return { total, counts, examples }
}
