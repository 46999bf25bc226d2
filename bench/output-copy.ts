/**
 * What onnxruntime-node costs per fetched output: it copies every output tensor into a new
 * ArrayBuffer, also when the caller passes a preallocated one. Compares the wall time of
 * session.run with ONNX Runtime's own model_run time for a graph whose only output is `MB` large.
 * usage: npx tsx bench/output-copy.ts
 */
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import '../src/runtime/ort-node.js'
import { Graph, withGraph } from '../src/graph/graph.js'
import { lower } from '../src/onnx/lower.js'
import { Runtime, ortTensor } from '../src/runtime/session.js'

const median = (a: number[]): number => [...a].sort((x, y) => x - y)[a.length >> 1]!
const dir = '/tmp/finetune-output-copy'
for (const mb of [4, 16, 64]) {
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  const n = (mb * 1024 * 1024) / 4
  const g = new Graph()
  let out = null as unknown as ReturnType<typeof g.input>
  withGraph(g, () => {
    out = g.input('x', [1]).expand([n]).mul(2)
  })
  const lowered = lower({ outputs: [{ name: 'y', tensor: out }] })
  const rt = new Runtime({ profilePrefix: `${dir}/p` })
  const session = await rt.session(`copy${mb}`, () => lowered.bytes())
  const x = ortTensor({ data: new Float32Array([1]), shape: [1], dtype: 'float32' })
  const spare = [0, 1].map(() => ortTensor({ data: new Float32Array(n), shape: [n], dtype: 'float32' }))
  const wall: number[] = []
  const pre: number[] = []
  for (let i = 0; i < 30; i++) {
    let t = performance.now()
    await session.run({ x })
    wall.push(performance.now() - t)
    t = performance.now()
    const r = await session.run({ x }, { y: spare[i & 1]! })
    pre.push(performance.now() - t)
    if (i === 0 && r['y']!.data === spare[0]!.data) console.error('note: this onnxruntime-node returns preallocated outputs without a copy')
  }
  await rt.endProfiling()
  const f = readdirSync(dir).find((x) => x.endsWith('.json'))!
  const ev = JSON.parse(readFileSync(`${dir}/${f}`, 'utf8')) as { name: string; dur: number }[]
  const runs = ev.filter((e) => e.name === 'model_run').map((e) => e.dur / 1000)
  console.log(JSON.stringify({ case: 'output-copy', output_mb: mb, model_run_ms: Math.round(median(runs.slice(10)) * 100) / 100, run_ms: Math.round(median(wall.slice(5)) * 100) / 100, run_preallocated_ms: Math.round(median(pre.slice(5)) * 100) / 100 }))
}
