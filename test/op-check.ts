/**
 * Checks one op (or a composite) three ways: ONNX Runtime forward against the float64 reference
 * interpreter, reference gradients against central finite differences, and ONNX Runtime gradients
 * against reference gradients.
 */
import { expect } from 'vitest'
import { grad } from '../src/autodiff/grad.js'
import type { DType } from '../src/graph/dtype.js'
import { Graph, withGraph, type Tensor } from '../src/graph/graph.js'
import { lower } from '../src/onnx/lower.js'
import { nd, type NDArray } from '../src/runtime/ndarray.js'
import { evaluate } from '../src/runtime/reference.js'
import { Rng } from '../src/runtime/rng.js'
import { Runtime, ortTensor, type HostTensor } from '../src/runtime/session.js'

export const testRuntime = (): Runtime => new Runtime({ threads: 1 })
let shared: Runtime | null = null
const runtime = (): Runtime => (shared ??= testRuntime())

export interface InputSpec {
  shape: readonly number[]
  dtype?: DType
  /** Explicit values (required for int64/bool inputs). */
  values?: readonly number[]
  /** Draw values from this range instead of a standard normal. */
  range?: [number, number]
  /** Leave out of the gradient check (e.g. an integer or a mask). */
  noGrad?: boolean
}

export interface CheckOptions {
  /** Relative tolerance of ORT vs reference (forward and gradients), relative to max |value|. */
  ortTol?: number
  /** Tolerance of analytic vs finite-difference gradients (relative to max |gradient|). */
  fdTol?: number
  /** Finite-difference step. */
  eps?: number
  /** Largest number of elements per input checked by finite differences. */
  fdSamples?: number
  skipGrad?: boolean
  seed?: number
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!))
  return m
}

export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  expect(actual.length, `${what}: length`).toBe(expected.length)
  const scale = Math.max(maxAbs(expected), 1e-3)
  let worst = 0
  let at = -1
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(Number(actual[i]) - Number(expected[i]))
    if (!(d <= worst)) {
      worst = d
      at = i
    }
  }
  const rel = worst / scale
  expect(rel, `${what}: max |diff| ${worst.toExponential(3)} at ${at} (actual ${actual[at]}, expected ${expected[at]}), scale ${scale.toExponential(3)}`).toBeLessThanOrEqual(tol)
}

export async function runOrt(outputs: readonly Tensor[], feeds: Record<string, HostTensor>): Promise<Float64Array[]> {
  const lowered = lower({ outputs: outputs.map((t, i) => ({ name: `o${i}`, tensor: t })) })
  const rt = runtime()
  const key = `check-${Math.random()}`
  const session = await rt.session(key, () => lowered.bytes())
  const inp: Record<string, ReturnType<typeof ortTensor>> = {}
  const params = new Map<Tensor, Float32Array>()
  for (const [p, t] of outputs[0]!.graph.params) params.set(t, p.data)
  for (const t of lowered.inputs) {
    const name = (t.source as { name: string }).name
    const pd = params.get(t)
    inp[name] = ortTensor(pd ? { data: pd, shape: t.shape, dtype: 'float32' } : feeds[name]!)
  }
  const res = await session.run(inp)
  await rt.release(key) // another check may build the same graph: it then gets a session of its own
  return outputs.map((_, i) => Float64Array.from(res[`o${i}`]!.data as ArrayLike<number>, Number))
}

export function toHost(a: NDArray, dtype: DType): HostTensor {
  if (dtype === 'float32') return { data: Float32Array.from(a.data), shape: a.shape, dtype }
  if (dtype === 'int64') return { data: BigInt64Array.from(Array.from(a.data, (v) => BigInt(v))), shape: a.shape, dtype }
  return { data: Uint8Array.from(a.data), shape: a.shape, dtype }
}

/** Builds inputs, runs every check, returns the reference output for extra assertions. */
export async function checkOp(name: string, specs: readonly InputSpec[], build: (...xs: Tensor[]) => Tensor, o: CheckOptions = {}): Promise<NDArray> {
  const rng = new Rng(o.seed ?? 7)
  const g = new Graph()
  g.training = true
  const values: NDArray[] = specs.map((s) => {
    if (s.values) return nd(s.shape, s.values)
    const a = nd(s.shape)
    for (let i = 0; i < a.data.length; i++) {
      const r = s.range
      // round through float32 so ORT and the reference see the same numbers
      a.data[i] = Math.fround(r ? r[0] + (r[1] - r[0]) * rng.next() : rng.normal())
    }
    return a
  })
  let out!: Tensor
  let loss!: Tensor
  const inputs = specs.map((s, i) => g.input(`x${i}`, s.shape, s.dtype ?? 'float32'))
  const wvals = { v: null as NDArray | null }
  withGraph(g, () => {
    out = build(...inputs)
    const w = nd(out.shape)
    for (let i = 0; i < w.data.length; i++) w.data[i] = Math.fround(rng.normal())
    wvals.v = w
    loss = out.dtype === 'float32' ? out.mul(g.constant(Float32Array.from(w.data), out.shape)).sum() : out
  })
  const feeds: Record<string, NDArray> = {}
  const host: Record<string, HostTensor> = {}
  specs.forEach((s, i) => {
    feeds[`x${i}`] = values[i]!
    host[`x${i}`] = toHost(values[i]!, s.dtype ?? 'float32')
  })
  const [ref] = evaluate([out], feeds)
  const [ort] = await runOrt([out], host)
  expectClose(ort!, ref!.data, o.ortTol ?? 2e-5, `${name} forward (ORT vs reference)`)
  if (o.skipGrad || out.dtype !== 'float32') return ref!
  const diffIdx = specs.map((s, i) => (!s.noGrad && (s.dtype ?? 'float32') === 'float32' ? i : -1)).filter((i) => i >= 0)
  if (diffIdx.length === 0) return ref!
  const grads = withGraph(g, () => grad(loss, diffIdx.map((i) => inputs[i]!)))
  const gradTensors = grads.map((d, k) => d ?? g.scalar(0).expand(inputs[diffIdx[k]!]!.shape))
  const refGrads = evaluate(gradTensors, feeds)
  const ortGrads = await runOrt(gradTensors, host)
  const lossAt = (f: Record<string, NDArray>): number => evaluate([loss], f)[0]!.data[0]!
  const eps = o.eps ?? 1e-6
  diffIdx.forEach((i, k) => {
    const x = values[i]!
    const n = x.data.length
    const samples = Math.min(n, o.fdSamples ?? 24)
    const idx = samples === n ? Array.from({ length: n }, (_, j) => j) : Array.from({ length: samples }, () => rng.int(n))
    const fd: number[] = []
    const an: number[] = []
    for (const j of idx) {
      const orig = x.data[j]!
      x.data[j] = orig + eps
      const up = lossAt(feeds)
      x.data[j] = orig - eps
      const dn = lossAt(feeds)
      x.data[j] = orig
      fd.push((up - dn) / (2 * eps))
      an.push(refGrads[k]!.data[j]!)
    }
    expectClose(an, fd, o.fdTol ?? 1e-5, `${name} d/dx${i} (reference vs finite differences)`)
    expectClose(ortGrads[k]!, refGrads[k]!.data, o.ortTol ?? 2e-5, `${name} d/dx${i} (ORT vs reference)`)
  })
  return ref!
}
