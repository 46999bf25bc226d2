/** Terminal output: a progress bar with ETA and throughput, and plain aligned tables. */
import type { PhaseProgress } from '../index.js'

export interface ProgressOptions {
  total: number
  label: string
  unit?: string
  stream?: NodeJS.WriteStream
  /** When the work began (on `now`'s clock), for a bar shown after it started; default now. */
  start?: number
  /** The clock (milliseconds; default performance.now). */
  now?: () => number
}

export class ProgressBar {
  readonly #o: Required<Omit<ProgressOptions, 'start' | 'now'>>
  readonly #now: () => number
  #start: number
  #last = -Infinity
  #done = 0
  #ended = false
  #tty: boolean
  constructor(o: ProgressOptions) {
    const { start, now, ...rest } = o
    this.#o = { unit: 'it', stream: process.stderr, ...rest }
    this.#now = now ?? (() => performance.now())
    this.#start = start ?? this.#now()
    this.#tty = Boolean(this.#o.stream.isTTY)
  }
  /** Advances by `n` and redraws (at most ~10 times a second, or every 10 s when not a terminal). */
  tick(n = 1, info = ''): void {
    this.#done += n
    const now = this.#now()
    const final = this.#done >= this.#o.total
    const step = this.#tty ? 100 : 10_000
    if (this.#ended || (!final && now - this.#last < step)) return
    this.#last = now
    this.#o.stream.write(this.#tty ? `\r${this.line(info)}\x1b[K` : `${this.line(info)}\n`)
    if (final) this.#end()
  }
  /** Draws the last state once more if it was not drawn, and leaves the bar's line (for work that ends short of the total). */
  end(): void {
    if (this.#ended) return
    this.#o.stream.write(this.#tty ? `\r${this.line()}\x1b[K` : `${this.line()}\n`)
    this.#end()
  }
  #end(): void {
    this.#ended = true
    if (this.#tty) this.#o.stream.write('\n')
  }
  line(info = ''): string {
    const { total, label, unit } = this.#o
    const el = (this.#now() - this.#start) / 1000
    const rate = this.#done / Math.max(el, 1e-9)
    const frac = Math.min(this.#done / Math.max(total, 1), 1)
    const w = 24
    const bar = '█'.repeat(Math.round(frac * w)).padEnd(w, '░')
    const eta = rate > 0 ? (total - this.#done) / rate : 0
    return `${label} ${bar} ${this.#done}/${total} ${formatDuration(el)}<${formatDuration(eta)} ${rate.toFixed(rate < 10 ? 2 : 1)} ${unit}/s ${info}`.trimEnd()
  }
}

/** Passes that are not training steps get a bar once they have run this long (quick evaluations print nothing more). */
export const SHOW_PASS_AFTER_MS = 1000

/**
 * Bars for the passes a training run makes besides its steps (features cached by the frozen method,
 * evaluations): a pass gets its own bar, on a line of its own, once it has taken SHOW_PASS_AFTER_MS;
 * `end` closes it (the CLI calls it at each event other than a step).
 */
export function passProgress(trainBar: () => ProgressBar | null, o: { stream?: NodeJS.WriteStream; now?: () => number } = {}): { progress: (p: PhaseProgress) => void; end: () => void } {
  const stream = o.stream ?? process.stderr
  const now = o.now ?? (() => performance.now())
  let cur: { phase: string; start: number; done: number; bar: ProgressBar | null } | null = null
  const end = (): void => {
    cur?.bar?.end()
    cur = null
  }
  return {
    end,
    progress(p) {
      const t = now()
      if (!cur || cur.phase !== p.phase || p.done < cur.done) {
        end()
        cur = { phase: p.phase, start: t, done: 0, bar: null }
      }
      const before = cur.bar ? cur.done : 0
      if (!cur.bar && t - cur.start >= SHOW_PASS_AFTER_MS && p.done < p.total) {
        // the training bar's line stays as it is (a terminal redraws it in place)
        if (trainBar() && stream.isTTY) stream.write('\n')
        cur.bar = new ProgressBar({ total: p.total, label: p.phase === 'eval' ? 'eval' : 'features', unit: 'ex', stream, start: cur.start, now })
      }
      cur.bar?.tick(p.done - before)
      cur.done = p.done
    },
  }
}

export function formatDuration(s: number): string {
  if (!Number.isFinite(s)) return '--:--'
  const m = Math.floor(s / 60)
  const r = Math.floor(s % 60)
  return m >= 60 ? `${Math.floor(m / 60)}:${String(m % 60).padStart(2, '0')}:${String(r).padStart(2, '0')}` : `${String(m).padStart(2, '0')}:${String(r).padStart(2, '0')}`
}

export function table(rows: readonly (readonly string[])[]): string {
  const w = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? []
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(w[i]!))).join('  ')).join('\n')
}
