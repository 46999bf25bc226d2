/** Runs a traced graph once in ONNX Runtime with parameters fed from their current values. */
import { Graph, withGraph, type Tensor } from '../src/graph/graph.js'
import { lower } from '../src/onnx/lower.js'
import { Runtime, ortTensor, type HostTensor } from '../src/runtime/session.js'

let rt: Runtime | null = null

export async function runGraph(build: (g: Graph) => Record<string, Tensor>, feeds: Record<string, HostTensor>, opts: { training?: boolean } = {}): Promise<Record<string, Float32Array>> {
  const g = new Graph()
  g.training = opts.training ?? false
  const outs = withGraph(g, () => build(g))
  const names = Object.keys(outs)
  const lowered = lower({ outputs: names.map((n) => ({ name: n, tensor: outs[n]! })) })
  rt ??= new Runtime({ threads: 1 })
  const key = `graph-run-${Math.random()}`
  const session = await rt.session(key, () => lowered.bytes())
  const byTensor = new Map<Tensor, Float32Array>()
  for (const [p, t] of g.params) byTensor.set(t, p.data)
  const inp: Record<string, ReturnType<typeof ortTensor>> = {}
  for (const t of lowered.inputs) {
    const name = (t.source as { name: string }).name
    const pd = byTensor.get(t)
    inp[name] = ortTensor(pd ? { data: pd, shape: t.shape, dtype: 'float32' } : feeds[name]!)
  }
  const r = await session.run(inp)
  await rt.release(key) // another check may build the same graph: it then gets a session of its own
  const out: Record<string, Float32Array> = {}
  for (const n of names) out[n] = Float32Array.from(r[n]!.data as ArrayLike<number>, Number)
  return out
}
