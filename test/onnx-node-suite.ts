/**
 * Runs the official ONNX backend node tests (Debian's libonnx-testdata: data/node/<test>/model.onnx
 * with test_data_set_N/input_K.pb and output_K.pb) through the importer: import, trace on the
 * test's input shapes, run the lowered graph in ONNX Runtime and in the float64 reference
 * interpreter, compare with the suite's tolerances (rtol 1e-3, atol 1e-7).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { OnnxImportError } from '../src/errors.js'
import { Graph, withGraph, type Tensor } from '../src/graph/graph.js'
import { importOnnx, type OnnxModel } from '../src/onnx/import.js'
import { decodeTensor, irDType, type HostValue } from '../src/onnx/import-tensor.js'
import { lower } from '../src/onnx/lower.js'
import { decodeModel, decodeTensorProto } from '../src/onnx/proto.js'
import { nd } from '../src/runtime/ndarray.js'
import { evaluate } from '../src/runtime/reference.js'
import { Runtime, ortTensor, type HostTensor } from '../src/runtime/session.js'

export const NODE_TEST_DIR = '/usr/share/libonnx-testdata/data/node'

export type Outcome = { status: 'pass' } | { status: 'unsupported'; reason: string } | { status: 'fail'; reason: string }

export interface NodeTest {
  name: string
  dir: string
  ops: string[]
}

export function listNodeTests(dir = NODE_TEST_DIR): NodeTest[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir)
    .sort()
    .filter((d) => existsSync(join(dir, d, 'model.onnx')))
    .map((d) => {
      const model = decodeModel(readFileSync(join(dir, d, 'model.onnx')))
      return { name: d, dir: join(dir, d), ops: [...new Set(model.graph.node.map((n) => n.opType))] }
    })
}

function toHost(v: HostValue): HostTensor {
  const dt = irDType(v.dtype)
  if (dt === 'float32') return { data: Float32Array.from(v.data), shape: v.shape, dtype: dt }
  if (dt === 'int64') return { data: BigInt64Array.from(Array.from(v.data, (x) => BigInt(x))), shape: v.shape, dtype: dt }
  return { data: Uint8Array.from(v.data), shape: v.shape, dtype: dt }
}

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): string | null {
  if (actual.length !== expected.length) return `${what}: ${actual.length} values, expected ${expected.length}`
  for (let i = 0; i < expected.length; i++) {
    const a = Number(actual[i])
    const e = Number(expected[i])
    if (Number.isNaN(e) && Number.isNaN(a)) continue
    if (a === e) continue
    if (!(Math.abs(a - e) <= 1e-7 + 1e-3 * Math.abs(e))) return `${what}[${i}] = ${a}, expected ${e}`
  }
  return null
}

const UNSUPPORTED = new Set(['ONNX_UNSUPPORTED_OP', 'ONNX_UNSUPPORTED_ATTR', 'ONNX_CUSTOM_DOMAIN', 'ONNX_QUANTIZED', 'ONNX_CONTROL_FLOW', 'ONNX_OPSET', 'ONNX_DTYPE', 'ONNX_VALUE_TYPE', 'ONNX_NOT_CONSTANT'])

let rt: Runtime | null = null

/**
 * Imports and runs one node test; the reference interpreter is skipped above `refLimit` output
 * values. Tests that feed a shape, axes, scales or sizes as a graph input run again with that input
 * specialised to a constant, as a traced graph specialises dynamic dimensions.
 */
export async function runNodeTest(t: NodeTest, refLimit = 20000): Promise<Outcome> {
  const constants = new Set<string>()
  for (;;) {
    const r = await runOnce(t, refLimit, constants)
    const m = r.status === 'unsupported' && r.reason.startsWith('ONNX_NOT_CONSTANT') ? /input \d+ \("([^"]+)"\)/.exec(r.reason) : null
    if (!m || constants.has(m[1]!) || constants.size > 4) return r
    constants.add(m[1]!)
  }
}

async function runOnce(t: NodeTest, refLimit: number, constants: ReadonlySet<string>): Promise<Outcome> {
  let m: OnnxModel
  const sets = readdirSync(t.dir).filter((d) => d.startsWith('test_data_set_')).sort()
  try {
    m = importOnnx(readFileSync(join(t.dir, 'model.onnx')))
    for (const set of sets) {
      const dir = join(t.dir, set)
      const read = (prefix: string): HostValue[] =>
        readdirSync(dir)
          .filter((f) => f.startsWith(prefix))
          .sort((a, b) => Number(a.replace(/\D/g, '')) - Number(b.replace(/\D/g, '')))
          .map((f) => decodeTensor(decodeTensorProto(readFileSync(join(dir, f))), f))
      const ins = read('input_')
      const want = read('output_')
      const g = new Graph()
      const named: { name: string; tensor: Tensor }[] = []
      withGraph(g, () => {
        const feeds: Record<string, Tensor | HostValue> = {}
        m.inputs.forEach((info, i) => {
          const asConst = constants.has(info.name)
          feeds[info.name] = asConst ? ins[i]! : g.input(info.name, ins[i]!.shape, irDType(info.dtype))
        })
        const outs = m.forward(feeds)
        m.outputs.forEach((o) => named.push({ name: o.name, tensor: outs[o.name]! }))
      })
      for (const [k, o] of named.entries()) {
        const w = want[k]!
        if (o.tensor.shape.join() !== w.shape.join()) return { status: 'fail', reason: `${set} output ${o.name}: shape [${o.tensor.shape}], expected [${w.shape}]` }
      }
      // ONNX Runtime on the lowered graph
      const lowered = lower({ outputs: named.map((o, i) => ({ name: `out${i}`, tensor: o.tensor })) })
      rt ??= new Runtime({ threads: 1 })
      const session = await rt.session(`node-test-${t.name}-${set}`, () => lowered.bytes())
      const params = new Map<Tensor, Float32Array>()
      for (const [p, tt] of g.params) params.set(tt, p.data)
      const feed: Record<string, ReturnType<typeof ortTensor>> = {}
      for (const tt of lowered.inputs) {
        const name = (tt.source as { name: string }).name
        const pd = params.get(tt)
        const idx = m.inputs.findIndex((i) => i.name === name)
        if (idx < 0 && !pd) throw new Error(`internal: no feed for ${name}`)
        feed[name] = ortTensor(pd ? { data: pd, shape: tt.shape, dtype: 'float32' } : toHost(ins[idx]!))
      }
      const res = await session.run(feed)
      for (const [k, o] of named.entries()) {
        const bad = close(res[`out${k}`]!.data as ArrayLike<number>, want[k]!.data, `${set} ${o.name} (onnxruntime)`)
        if (bad) return { status: 'fail', reason: bad }
      }
      // float64 reference interpreter
      if (named.every((o) => o.tensor.size <= refLimit)) {
        const refFeeds: Record<string, ReturnType<typeof nd>> = {}
        m.inputs.forEach((info, i) => (refFeeds[info.name] = nd(ins[i]!.shape, ins[i]!.data)))
        const ref = evaluate(named.map((o) => o.tensor), refFeeds)
        for (const [k, o] of named.entries()) {
          const bad = close(ref[k]!.data, want[k]!.data, `${set} ${o.name} (reference)`)
          if (bad) return { status: 'fail', reason: bad }
        }
      }
    }
    return { status: 'pass' }
  } catch (e) {
    if (e instanceof OnnxImportError && UNSUPPORTED.has(e.code)) return { status: 'unsupported', reason: `${e.code}: ${e.message}` }
    return { status: 'fail', reason: e instanceof Error ? `${e.name}: ${e.message}` : String(e) }
  }
}
