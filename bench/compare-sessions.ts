/**
 * The text demo's comparison with its runs sharing compiled graphs (the default) or with every
 * session released before each run (how each run used to start its own runtime): sessions started,
 * their start time, wall and CPU time, peak RSS.
 * usage: npx tsx bench/compare-sessions.ts shared|per-run [--budgets 20,100,1000] [--seeds 2]
 */
import type { Io } from '../src/cli/command.js'
import { textDemo } from '../src/cli/demo-text.js'
import { Runtime } from '../src/runtime/session.js'

const mode = process.argv[2] ?? 'shared'
if (mode !== 'shared' && mode !== 'per-run') throw new Error('usage: npx tsx bench/compare-sessions.ts shared|per-run [--budgets N,N] [--seeds N]')
const opt = (name: string, d: string): string => {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 ? process.argv[i + 1]! : d
}
let runtime: Runtime | null = null
const next = Runtime.prototype.nextGeneration
Runtime.prototype.nextGeneration = function (this: Runtime, keep: number): void {
  runtime = this
  next.call(this, mode === 'per-run' ? 0 : keep)
}
const t0 = performance.now()
const quiet: Io = { out: () => {}, err: () => {} }
await textDemo({ out: `/tmp/finetune-compare-sessions-${mode}`, budgets: opt('budgets', '20,100,1000').split(',').map(Number), seeds: Number(opt('seeds', '2')), steps: 100, testSize: 500, maxLength: 64, batchSize: 16, json: false }, quiet)
const rt = runtime as Runtime | null
if (!rt) throw new Error('the comparison made no runs')
console.log(JSON.stringify({ mode, wall_s: +((performance.now() - t0) / 1000).toFixed(1), sessions_started: rt.sessionsStarted, session_start_s: +(rt.compileMs / 1000).toFixed(1), user_cpu_s: Math.round(process.cpuUsage().user / 1e6), peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024) }))
