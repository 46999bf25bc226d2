/**
 * Rewrites a lowered graph into the operators ONNX Runtime's WebGPU provider has kernels for, with
 * the same results. Measured on its 1.30 build: it has no kernels that read int64 data (Equal, Where,
 * Reshape, Concat, Mul, and even Cast from int64 fall back to the CPU), only int64 indices; and no
 * LogSoftmax. So int64 values become int32 (graph inputs and outputs included: the runtime converts
 * feeds and fetches), a Cast back to int64 precedes the inputs that ONNX requires to be int64 (shapes,
 * axes, ScatterND's indices), and LogSoftmax becomes its stable decomposition.
 */
import type { AttributeProtoObj, ModelProtoObj, NodeProtoObj, TensorProtoObj } from './proto.js'

const FLOAT = 1
const INT32 = 6
const INT64 = 7
const BOOL = 9

/** Inputs ONNX requires to be int64 (shapes, axes, pads; ScatterND's and GatherND's indices). */
const INT64_INPUTS: Readonly<Record<string, readonly number[]>> = {
  Reshape: [1],
  Expand: [1],
  Slice: [1, 2, 3, 4],
  Pad: [1],
  Split: [1],
  CumSum: [1],
  ReduceSum: [1],
  Unsqueeze: [1],
  Squeeze: [1],
  Tile: [1],
  ConstantOfShape: [0],
  ScatterND: [1],
  GatherND: [1],
  TopK: [1],
}

/** Outputs ONNX defines as int64 whatever the inputs (kept so, read back as int64). */
const INT64_OUTPUTS: Readonly<Record<string, readonly number[]>> = { ArgMax: [0], ArgMin: [0], MaxPool: [1], Shape: [0], NonZero: [0], TopK: [1] }

const COMPARISONS = new Set(['Equal', 'Less', 'LessOrEqual', 'Greater', 'GreaterOrEqual', 'And', 'Or', 'Not', 'Xor', 'IsNaN', 'IsInf'])

/** Element type of each output of `n`, given its inputs' types. */
function outputTypes(n: NodeProtoObj, typeOf: (name: string) => number | undefined): number[] {
  const fixed = INT64_OUTPUTS[n.opType] ?? []
  const data = n.opType === 'Where' ? typeOf(n.input[1]!) : typeOf(n.input[0]!)
  return n.output.map((_, k) => {
    if (fixed.includes(k)) return INT64
    if (n.opType === 'Cast') return Number(n.attribute?.find((a) => a.name === 'to')?.i ?? FLOAT)
    if (COMPARISONS.has(n.opType)) return BOOL
    return data ?? FLOAT
  })
}

function int64ToInt32(t: TensorProtoObj, name: string): TensorProtoObj {
  const out = t.rawData ? Int32Array.from(new BigInt64Array(new Uint8Array(t.rawData).buffer), Number) : Int32Array.from(t.int64Data ?? [], Number)
  return { name, dims: [...t.dims], dataType: INT32, rawData: new Uint8Array(out.buffer) }
}

const aInt = (name: string, i: number): AttributeProtoObj => ({ name, type: 2, i })
const aInts = (name: string, ints: number[]): AttributeProtoObj => ({ name, type: 7, ints })

export function forWebGpu(model: ModelProtoObj): ModelProtoObj {
  const g = model.graph
  // control flow (a Scan of several steps) has no WebGPU kernels: left as it is, to be named as such
  if (g.node.some((n) => n.attribute?.some((a) => a.g))) return model
  const type = new Map<string, number>()
  for (const i of g.input) type.set(i.name, i.type.tensorType.elemType)
  const inits = new Map(g.initializer.map((t) => [t.name ?? '', t]))
  for (const t of g.initializer) type.set(t.name ?? '', t.dataType)
  for (const n of g.node) outputTypes(n, (x) => type.get(x)).forEach((t, k) => type.set(n.output[k]!, t))
  // which int64 values become int32: all but those ONNX defines as int64
  const keep64 = new Set<string>()
  for (const n of g.node) for (const k of INT64_OUTPUTS[n.opType] ?? []) if (n.output[k]) keep64.add(n.output[k]!)
  const converts = (name: string): boolean => type.get(name) === INT64 && !keep64.has(name) && !inits.has(name)

  const nodes: NodeProtoObj[] = []
  const newInits: TensorProtoObj[] = []
  const int32Init = new Map<string, string>()
  const back64 = new Map<string, string>()
  let k = 0
  const fresh = (base: string): string => `${base}:wg${k++}`
  for (const n of g.node) {
    const need64 = INT64_INPUTS[n.opType] ?? []
    const input = n.input.map((x, pos) => {
      if (!x) return x
      if (need64.includes(pos)) {
        if (!converts(x)) return x
        let c = back64.get(x)
        if (!c) {
          c = fresh(x)
          nodes.push({ opType: 'Cast', input: [x], output: [c], attribute: [aInt('to', INT64)], name: fresh('cast') })
          back64.set(x, c)
        }
        return c
      }
      const init = inits.get(x)
      if (init && init.dataType === INT64) {
        let c = int32Init.get(x)
        if (!c) {
          c = fresh(x)
          newInits.push(int64ToInt32(init, c))
          int32Init.set(x, c)
        }
        return c
      }
      return x
    })
    if (n.opType === 'Cast' && n.output.some(converts)) {
      nodes.push({ ...n, input, attribute: (n.attribute ?? []).map((a) => (a.name === 'to' ? aInt('to', INT32) : a)) })
    } else if (n.opType === 'LogSoftmax') {
      // x - max - log(sum(exp(x - max))), over the one axis
      const axis = Number(n.attribute?.find((a) => a.name === 'axis')?.i ?? -1)
      const [m, d, e, s, l, ax] = [fresh('max'), fresh('shifted'), fresh('exp'), fresh('sum'), fresh('logsum'), fresh('axes')]
      newInits.push({ name: ax, dims: [1], dataType: INT64, rawData: new Uint8Array(BigInt64Array.of(BigInt(axis)).buffer) })
      nodes.push({ opType: 'ReduceMax', input: [input[0]!], output: [m], attribute: [aInts('axes', [axis]), aInt('keepdims', 1)], name: fresh('n') })
      nodes.push({ opType: 'Sub', input: [input[0]!, m], output: [d], name: fresh('n') })
      nodes.push({ opType: 'Exp', input: [d], output: [e], name: fresh('n') })
      nodes.push({ opType: 'ReduceSum', input: [e, ax], output: [s], attribute: [aInt('keepdims', 1)], name: fresh('n') })
      nodes.push({ opType: 'Log', input: [s], output: [l], name: fresh('n') })
      nodes.push({ opType: 'Sub', input: [d, l], output: [n.output[0]!], name: n.name ?? fresh('n') })
    } else nodes.push({ ...n, input })
  }
  const retype = <T extends { name: string; type: { tensorType: { elemType: number } } }>(v: T): T =>
    converts(v.name) ? { ...v, type: { ...v.type, tensorType: { ...v.type.tensorType, elemType: INT32 } } } : v
  // initializers still read as int64 (shapes, axes) stay; those only read as data are replaced
  const still = new Set(nodes.flatMap((n) => n.input))
  return {
    ...model,
    graph: {
      ...g,
      node: nodes,
      initializer: [...g.initializer.filter((t) => still.has(t.name ?? '')), ...newInits],
      input: g.input.map(retype),
      output: g.output.map(retype),
    },
  }
}
