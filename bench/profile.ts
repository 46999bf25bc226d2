/**
 * Profiles one benchmark case with ONNX Runtime's profiler and prints the time per op type.
 * usage: npx tsx bench/profile.ts <case> [--steps N] [--nodes N]
 * --nodes N also lists the N slowest nodes with their input shapes and nanoseconds per input element
 * (a kernel on a slow path stands out there: the scalar-broadcast case in src/onnx/lower.ts was found so).
 */
import { readdirSync, readFileSync, rmSync, mkdirSync, statSync } from 'node:fs'
import { Runtime } from '../src/runtime/session.js'
import { profileHooks } from './cases.js'

const name = process.argv[2] ?? 'transformer-block'
const si = process.argv.indexOf("--steps")
const steps = si > 0 ? Number(process.argv[si + 1]) : 10
const ni = process.argv.indexOf('--nodes')
const topNodes = ni > 0 ? Number(process.argv[ni + 1]) : 0
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
type Shapes = Record<string, number[]>[]
const events = JSON.parse(readFileSync(`${dir}/${file}`, 'utf8')) as { cat: string; name: string; dur: number; args?: { op_name?: string; input_type_shape?: Shapes } }[]
const perNode = new Map<string, { us: number; op: string; shapes: Shapes }>()
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
  const p = perNode.get(e.name) ?? { us: 0, op, shapes: e.args?.input_type_shape ?? [] }
  p.us += e.dur
  perNode.set(e.name, p)
}
const runs = events.filter((e) => e.name === 'model_run').length
console.log(`${runs} runs; kernel time per run ${(total / runs / 1000).toFixed(2)} ms`)
for (const [op, v] of [...byOp].sort((a, b) => b[1].us - a[1].us)) console.log(`${op.padEnd(24)} ${(v.us / runs / 1000).toFixed(2).padStart(8)} ms  ${String(v.n / runs).padStart(5)} nodes`)
if (topNodes > 0) {
  console.log(`\nslowest ${topNodes} nodes (ms per run, input shapes, ns per element of the largest input)`)
  const numel = (s: Record<string, number[]>) => (Object.values(s)[0] ?? []).reduce((a, b) => a * b, 1)
  for (const [name, v] of [...perNode].sort((a, b) => b[1].us - a[1].us).slice(0, topNodes)) {
    const big = Math.max(1, ...v.shapes.map(numel))
    const shapes = v.shapes.map((s) => JSON.stringify(Object.values(s)[0] ?? [])).join(' ')
    console.log(`${(v.us / runs / 1000).toFixed(2).padStart(8)} ms  ${v.op.padEnd(20)} ${((v.us / runs) * 1000 / big).toFixed(2).padStart(7)} ns/el  ${name.replace(/_kernel_time$/, '')}  ${shapes}`)
  }
}
