/**
 * Profiles one benchmark case with ONNX Runtime's profiler and prints the time per op type.
 * usage: npx tsx bench/profile.ts <case> [--steps N]
 */
import { readdirSync, readFileSync, rmSync, mkdirSync, statSync } from 'node:fs'
import { Runtime } from '../src/runtime/session.js'
import { profileHooks } from './cases.js'

const name = process.argv[2] ?? 'transformer-block'
const si = process.argv.indexOf("--steps")
const steps = si > 0 ? Number(process.argv[si + 1]) : 10
const dir = '/tmp/finetune-profile'
rmSync(dir, { recursive: true, force: true })
mkdirSync(dir, { recursive: true })
profileHooks.runtime = () => new Runtime({ profilePrefix: `${dir}/p` })
const { cases } = await import('./cases.js')
await cases[name]!.run({ steps, warmup: 3, median: (a) => [...a].sort((x, y) => x - y)[a.length >> 1]! })
await profileHooks.end?.()
// a case that builds several sessions writes several profiles; the training step's is the largest
const file = readdirSync(dir).filter((f) => f.endsWith('.json')).sort((a, b) => statSync(`${dir}/${b}`).size - statSync(`${dir}/${a}`).size)[0]
if (!file) throw new Error('no profile written')
const events = JSON.parse(readFileSync(`${dir}/${file}`, 'utf8')) as { cat: string; name: string; dur: number; args?: { op_name?: string } }[]
const byOp = new Map<string, { us: number; n: number }>()
let total = 0
for (const e of events) {
  if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue
  const op = e.args?.op_name ?? '?'
  const v = byOp.get(op) ?? { us: 0, n: 0 }
  v.us += e.dur
  v.n++
  byOp.set(op, v)
  total += e.dur
}
const runs = events.filter((e) => e.name === 'model_run').length
console.log(`${runs} runs; kernel time per run ${(total / runs / 1000).toFixed(2)} ms`)
for (const [op, v] of [...byOp].sort((a, b) => b[1].us - a[1].us)) console.log(`${op.padEnd(24)} ${(v.us / runs / 1000).toFixed(2).padStart(8)} ms  ${String(v.n / runs).padStart(5)} nodes`)
