/** Terminal output: a progress bar with ETA and throughput, and plain aligned tables. */

export interface ProgressOptions {
  total: number
  label: string
  unit?: string
  stream?: NodeJS.WriteStream
}

export class ProgressBar {
  readonly #o: Required<ProgressOptions>
  #start = performance.now()
  #last = 0
  #done = 0
  #tty: boolean
  constructor(o: ProgressOptions) {
    this.#o = { unit: 'it', stream: process.stderr, ...o }
    this.#tty = Boolean(this.#o.stream.isTTY)
  }
  /** Advances by `n` and redraws (at most ~10 times a second, or every 10% when not a terminal). */
  tick(n = 1, info = ''): void {
    this.#done += n
    const now = performance.now()
    const final = this.#done >= this.#o.total
    const step = this.#tty ? 100 : 10_000
    if (!final && now - this.#last < step) return
    this.#last = now
    this.#o.stream.write(this.#tty ? `\r${this.line(info)}\x1b[K` : `${this.line(info)}\n`)
    if (final && this.#tty) this.#o.stream.write('\n')
  }
  line(info = ''): string {
    const { total, label, unit } = this.#o
    const el = (performance.now() - this.#start) / 1000
    const rate = this.#done / Math.max(el, 1e-9)
    const frac = Math.min(this.#done / Math.max(total, 1), 1)
    const w = 24
    const bar = '█'.repeat(Math.round(frac * w)).padEnd(w, '░')
    const eta = rate > 0 ? (total - this.#done) / rate : 0
    return `${label} ${bar} ${this.#done}/${total} ${formatDuration(el)}<${formatDuration(eta)} ${rate.toFixed(rate < 10 ? 2 : 1)} ${unit}/s ${info}`.trimEnd()
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
