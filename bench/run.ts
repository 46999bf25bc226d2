/**
 * Benchmarks: finetune against PyTorch on the same model and step, in the same run.
 * usage: npm run bench -- <case> [--steps N] [--warmup N] [--rounds N] [--steps-per-run K] [--no-torch] [--tfjs (transformer-block)]
 * --steps-per-run K|auto times K training steps per runtime call (a Scan), reported per step; auto
 * picks K by the trainer's rule (autoStepsPerRun) from the warm-up steps.
 * --rounds N alternates finetune and PyTorch N times (PyTorch in all its configurations in round 1,
 * then in round 1's fastest) and reports medians and the median of the per-round ratios.
 * --device webgpu|cuda runs finetune on that ONNX Runtime provider and PyTorch on CUDA (bench/device.sh).
 * Prints progress on stderr and one JSON line on stdout at the end.
 */
import { spawnSync } from 'node:child_process'
import { appendFileSync, mkdirSync } from 'node:fs'
import { loadavg } from 'node:os'
import { fileURLToPath } from 'node:url'
import { hugePagesEnv, systemFacts } from '../bin/relaunch.js'

// as the finetune command runs (bin/relaunch.js): with transparent huge pages where the machine has
// them, for both sides (PyTorch inherits the setting; its ResNet-18 step gained 1-8% from it too);
// the cases (and ONNX Runtime) load in the process that runs them
const relaunch = hugePagesEnv(process.env, systemFacts(['bench']))
if (relaunch) process.exit(spawnSync(process.execPath, [...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit', env: relaunch }).status ?? 1)
const { cases, releaseSessions } = await import('./cases.js')

const args = process.argv.slice(2)
const name = args.find((a) => !a.startsWith('--'))
const opt = (k: string, d: number): number => {
  const i = args.indexOf(`--${k}`)
  return i >= 0 ? Number(args[i + 1]) : d
}
if (!name || !(name in cases)) {
  console.error(`usage: npm run bench -- <case>\ncases: ${Object.keys(cases).join(', ')}`)
  process.exit(2)
}
const steps = opt('steps', 20)
const warmup = opt('warmup', 5)
const bench = cases[name]!
const device = args.includes('--device') ? args[args.indexOf('--device') + 1]! : 'cpu'
if (device !== 'cpu') process.env['FINETUNE_DEVICE'] = device
const stepsPerRunArg = args[args.indexOf('--steps-per-run') + 1]
const stepsPerRun: number | 'auto' = args.includes('--steps-per-run') && stepsPerRunArg === 'auto' ? 'auto' : opt('steps-per-run', 1)

/**
 * PyTorch at its best on this machine: OpenBLAS overrides unset, glibc allocator tuned, `threads`
 * intra-op threads and `blasThreads` OpenBLAS threads (Debian's torch does its GEMMs in OpenBLAS,
 * whose thread count is separate: one torch thread with two OpenBLAS threads is often the fastest).
 */
function torchMs(threads: number, blasThreads: number): { median_ms: number; peak_rss_mb: number } | { error: string } {
  const env: NodeJS.ProcessEnv = { ...process.env, MALLOC_MMAP_THRESHOLD_: '33554432', MALLOC_TRIM_THRESHOLD_: '67108864', MALLOC_TOP_PAD_: '67108864', OMP_NUM_THREADS: String(threads), OPENBLAS_NUM_THREADS: String(blasThreads) }
  if (device !== 'cpu') env['TORCH_DEVICE'] = 'cuda'
  delete env['OPENBLAS_CORETYPE']
  delete env['OPENBLAS_L2_SIZE']
  const script = fileURLToPath(new URL('./torch_bench.py', import.meta.url))
  const r = spawnSync('/usr/bin/python3', [script, bench.torchCase ?? name!, String(threads), String(steps), String(warmup)], { env, encoding: 'utf8', cwd: fileURLToPath(new URL('..', import.meta.url)) })
  const line = r.stdout?.trim().split('\n').pop()
  if (r.status !== 0 || !line) return { error: (r.stderr || r.error?.message || 'failed').trim().split('\n').slice(-3).join(' | ') }
  return JSON.parse(line) as { median_ms: number; peak_rss_mb: number }
}

const median = (a: number[]): number => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!

const result: Record<string, unknown> = { case: name, steps, warmup, hugepages: (process.env['GLIBC_TUNABLES'] ?? '').includes('hugetlb'), ...(device !== 'cpu' ? { device } : {}), ...(stepsPerRun !== 1 ? { steps_per_run_option: stepsPerRun } : {}) }
const rounds = Math.max(1, opt('rounds', 1))
const perRound: { finetune_ms: number; torch_ms?: number; ratio?: number }[] = []
let best: [number, number] | null = null
for (let r = 0; r < rounds; r++) {
  console.error(`[bench] ${name}: finetune, ${warmup} warm-up + ${steps} timed steps${rounds > 1 ? ` (round ${r + 1} of ${rounds})` : ''}`)
  const ft = await bench.run({ steps, warmup, median, stepsPerRun })
  await releaseSessions()
  if (r === 0) Object.assign(result, ft.extra ?? {})
  const row: (typeof perRound)[number] = { finetune_ms: round(ft.ms) }
  if (!args.includes('--no-torch')) {
    let fastest = Infinity
    const configs: [number, number][] = best ? [best] : [[1, 1], [1, 2], [2, 1], [2, 2]]
    for (const [th, blas] of configs) {
      const key = `torch_${th}t_blas${blas}`
      console.error(`[bench] ${name}: PyTorch, ${th} thread(s), ${blas} OpenBLAS thread(s)`)
      const t = torchMs(th, blas)
      if ('error' in t) result[`${key}_error`] = t.error
      else {
        if (r === 0) {
          result[`${key}_ms`] = round(t.median_ms)
          result[`${key}_peak_rss_mb`] = round(t.peak_rss_mb)
        }
        if (t.median_ms < fastest) {
          fastest = t.median_ms
          best = [th, blas]
        }
      }
    }
    if (Number.isFinite(fastest)) {
      row.torch_ms = round(fastest)
      row.ratio = round(ft.ms / fastest, 3)
    }
  }
  perRound.push(row)
}
result['finetune_ms'] = median(perRound.map((r) => r.finetune_ms))
result['finetune_peak_rss_mb'] = round(process.resourceUsage().maxRSS / 1024)
const torchRounds = perRound.filter((r) => r.ratio !== undefined)
if (torchRounds.length) {
  result['torch_ms'] = median(torchRounds.map((r) => r.torch_ms!))
  result['ratio'] = median(torchRounds.map((r) => r.ratio!))
}
if (rounds > 1) {
  result['rounds'] = perRound
  if (best) result['torch_config'] = `${best[0]} thread(s), ${best[1]} OpenBLAS thread(s)`
}
result['load_avg_1m'] = round(loadavg()[0]!)
result['date'] = new Date().toISOString()
if (args.includes('--tfjs') && name === 'transformer-block') {
  // TensorFlow.js's pure-JS CPU backend on the same step (slow: a few steps only)
  console.error('[bench] transformer-block: TensorFlow.js (cpu backend), 1 warm-up + 3 steps')
  const script = fileURLToPath(new URL('./tfjs-block.ts', import.meta.url))
  const r = spawnSync(process.execPath, ['--import', 'tsx', script, '3', '1'], { encoding: 'utf8', cwd: fileURLToPath(new URL('..', import.meta.url)) })
  const line = r.stdout?.trim().split('\n').pop()
  if (r.status === 0 && line) {
    result['tfjs_ms'] = round((JSON.parse(line) as { median_ms: number }).median_ms)
    result['tfjs_ratio'] = round((result['finetune_ms'] as number) / (result['tfjs_ms'] as number), 4)
  } else result['tfjs_error'] = (r.stderr || 'failed').trim().split('\n').slice(-2).join(' | ')
}
console.log(JSON.stringify(result))
// every run is also appended to .bench/results.jsonl (ignored by git) for BENCHMARKS.md
mkdirSync(new URL('../.bench/', import.meta.url), { recursive: true })
appendFileSync(new URL('../.bench/results.jsonl', import.meta.url), `${JSON.stringify(result)}\n`)

function round(v: number, d = 2): number {
  const f = 10 ** d
  return Math.round(v * f) / f
}
