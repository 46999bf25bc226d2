/**
 * The GEMM floor of the transformer-block step: its twelve matrix products (forward, input and
 * weight gradients of the QKV, output, and two FFN projections) alone, in ONNX Runtime and in
 * PyTorch/OpenBLAS at its best, same run. usage: npx tsx bench/gemm-floor.ts
 */
import { spawnSync } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import '../src/runtime/ort-node.js'
import { Graph, withGraph, type Tensor } from '../src/graph/graph.js'
import { lower } from '../src/onnx/lower.js'
import { Runtime, ortTensor } from '../src/runtime/session.js'
import { Rng } from '../src/runtime/rng.js'

type Mm = [number[], number[], boolean, boolean]
const T = 16 * 64
const shapes: Mm[] = [
  [[T, 256], [768, 256], false, true], [[T, 256], [256, 256], false, true], [[T, 256], [1024, 256], false, true], [[T, 1024], [256, 1024], false, true],
  [[T, 256], [256, 1024], false, false], [[T, 256], [T, 1024], true, false], [[T, 1024], [1024, 256], false, false], [[T, 1024], [T, 256], true, false],
  [[T, 256], [256, 256], false, false], [[T, 256], [T, 256], true, false], [[T, 768], [768, 256], false, false], [[T, 768], [T, 256], true, false],
]
const flops = shapes.reduce((s, [a, b, ta, tb]) => s + 2 * (ta ? a[1]! : a[0]!) * (ta ? a[0]! : a[1]!) * (tb ? b[0]! : b[1]!), 0)
const median = (a: number[]): number => [...a].sort((x, y) => x - y)[a.length >> 1]!

const g = new Graph()
const outs: { name: string; tensor: Tensor }[] = []
withGraph(g, () => {
  shapes.forEach(([a, b, ta, tb], i) => {
    const x = g.input(`a${i}`, a)
    const y = g.input(`b${i}`, b)
    // a scalar sum per product, so the timing is the GEMMs, not copying their outputs to JavaScript
    outs.push({ name: `y${i}`, tensor: g.emit('Gemm', [x, y], { transA: ta, transB: tb, alpha: 1, beta: 1 })[0]!.sum() })
  })
})
const lowered = lower({ outputs: outs })
const dir = '/tmp/finetune-gemm-floor'
rmSync(dir, { recursive: true, force: true })
mkdirSync(dir, { recursive: true })
const rt = new Runtime({ profilePrefix: `${dir}/p` })
const session = await rt.session('gemm-floor', () => lowered.bytes())
const rng = new Rng(0)
const feeds: Record<string, ReturnType<typeof ortTensor>> = {}
shapes.forEach(([a, b], i) => {
  for (const [n, s] of [[`a${i}`, a], [`b${i}`, b]] as const) feeds[n] = ortTensor({ data: Float32Array.from({ length: s[0]! * s[1]! }, () => rng.normal()), shape: s, dtype: 'float32' })
})
const ts: number[] = []
for (let i = 0; i < 35; i++) {
  const t = performance.now()
  await session.run(feeds)
  ts.push(performance.now() - t)
}
await rt.endProfiling()
// ONNX Runtime's own time in the Gemm kernels per run (without the sums and the run overhead)
const ev = JSON.parse(readFileSync(`${dir}/${readdirSync(dir).find((f) => f.endsWith('.json'))!}`, 'utf8')) as { cat: string; name: string; dur: number; args?: { op_name?: string } }[]
const perRun: number[] = []
let acc = 0
for (const e of ev) {
  if (e.cat === 'Node' && e.name.endsWith('_kernel_time') && e.args?.op_name === 'Gemm') acc += e.dur / 1000
  if (e.name === 'model_run') {
    perRun.push(acc)
    acc = 0
  }
}
const ortMs = median(perRun.slice(5))
const runMs = median(ts.slice(5))
const env: NodeJS.ProcessEnv = { ...process.env, OPENBLAS_NUM_THREADS: '2', MALLOC_MMAP_THRESHOLD_: '33554432', MALLOC_TRIM_THRESHOLD_: '67108864', MALLOC_TOP_PAD_: '67108864' }
delete env['OPENBLAS_CORETYPE']
delete env['OPENBLAS_L2_SIZE']
const script = fileURLToPath(new URL('./gemm_floor.py', import.meta.url))
const r = spawnSync('/usr/bin/python3', [script, '1', JSON.stringify(shapes)], { env, encoding: 'utf8' })
const torchMs = r.status === 0 ? (JSON.parse(r.stdout.trim().split('\n').pop()!) as { median_ms: number }).median_ms : NaN
const round = (v: number): number => Math.round(v * 100) / 100
console.log(JSON.stringify({ case: 'gemm-floor', gflop: round(flops / 1e9), ort_gemm_kernels_ms: round(ortMs), ort_gflops: round(flops / ortMs / 1e6), ort_run_ms: round(runMs), torch_ms: round(torchMs), torch_gflops: round(flops / torchMs / 1e6), ...(r.status === 0 ? {} : { torch_error: r.stderr.trim().split('\n').slice(-2).join(' | ') }) }))
