/**
 * Rewrites a lowered graph into the operators ONNX Runtime's WebGPU provider has kernels for, with
 * the same results. Measured on its 1.30 build:
 * - no kernels read int64 data (Equal, Where, Reshape, Concat, Mul, even Cast from int64), only int64
 *   indices: int64 values become int32 (graph inputs and outputs too: the runtime converts feeds and
 *   fetches), with a Cast back before the inputs ONNX requires to be int64 (shapes, axes, ScatterND);
 * - no LogSoftmax, Sign, Or, Sum or int32 and bool Slice kernels: decompositions,
 *   Adds, or a float32 Slice;
 * - no Scan: those of a known length (CTC's recursions, the recurrent layers) are unrolled;
 * - MaxPool computes no Indices: they are computed from standard operators;
 * - grouped convolutions with over 4 outputs per group give wrong values: they are split;
 * - a shader binds at most 8 tensors: Splits and Concats of more are split.
 */
import type { AttributeProtoObj, GraphProtoObj, ModelProtoObj, NodeProtoObj, TensorProtoObj } from './proto.js'

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

const aInt = (name: string, i: number): AttributeProtoObj => ({ name, type: 2, i })
const aInts = (name: string, ints: number[]): AttributeProtoObj => ({ name, type: 7, ints })
const ints = (n: NodeProtoObj, name: string): number[] | undefined => n.attribute?.find((a) => a.name === name)?.ints?.map(Number)
const int = (n: NodeProtoObj, name: string, d: number): number => Number(n.attribute?.find((a) => a.name === name)?.i ?? d)

/** The rewritten graph's nodes and new initializers, with fresh names. */
class Emitter {
  readonly nodes: NodeProtoObj[] = []
  readonly inits: TensorProtoObj[] = []
  #k = 0
  /** `tag` keeps the names of two emitters over one graph apart. */
  constructor(readonly tag = 'wg') {}
  fresh(base: string): string {
    return `${base}:${this.tag}${this.#k++}`
  }
  constant(base: string, dataType: number, values: readonly number[], dims: readonly number[] = [values.length]): string {
    const name = this.fresh(base)
    const data = dataType === INT64 ? BigInt64Array.from(values, (v) => BigInt(v)) : dataType === INT32 ? Int32Array.from(values) : Float32Array.from(values)
    this.inits.push({ name, dims: [...dims], dataType, rawData: new Uint8Array(data.buffer) })
    return name
  }
  node(opType: string, input: string[], attribute: AttributeProtoObj[] = [], output = this.fresh(opType)): string {
    this.nodes.push({ opType, input, output: [output], attribute, name: this.fresh('n') })
    return output
  }
}

/** An int64 initializer's values, from raw bytes or the int64 field. */
function int64Values(t: TensorProtoObj): number[] {
  return t.rawData ? Array.from(new BigInt64Array(new Uint8Array(t.rawData).buffer), Number) : (t.int64Data ?? []).map(Number)
}

/**
 * A 2-D MaxPool's Indices output, which the WebGPU provider does not compute ("not supported yet"
 * at run time), from standard operators: each window offset's strided slice of the (padded) input
 * is compared with the pooled value, and the first offset in window order that equals it wins, as in
 * ONNX Runtime's CPU kernel. Indices are flat positions in the whole input, as ONNX defines them.
 * False (nothing emitted) for a pool this does not cover.
 */
function maxPoolWithIndices(e: Emitter, n: NodeProtoObj, x: string, shape: readonly number[]): boolean {
  const [kh, kw] = ints(n, 'kernel_shape') ?? []
  const [sh, sw] = ints(n, 'strides') ?? [1, 1]
  const [pt, pl, pb, pr] = ints(n, 'pads') ?? [0, 0, 0, 0]
  const dil = ints(n, 'dilations')
  if (shape.length !== 4 || kh === undefined || kw === undefined || (dil && dil.some((d) => d !== 1)) || int(n, 'ceil_mode', 0) || sh === undefined || sw === undefined || pr === undefined || pb === undefined || pl === undefined || pt === undefined) return false
  const [N, C, H, W] = shape as [number, number, number, number]
  const OH = Math.floor((H + pt + pb - kh) / sh) + 1
  const OW = Math.floor((W + pl + pr - kw) / sw) + 1
  const y = n.output[0]!
  e.nodes.push({ ...n, input: [x], output: [y] })
  const padded = pt || pl || pb || pr ? e.node('Pad', [x, e.constant('pads', INT64, [0, 0, pt, pl, 0, 0, pb, pr]), e.constant('lowest', FLOAT, [-3.4028234663852886e38], [])], [{ name: 'mode', type: 3, s: new TextEncoder().encode('constant') }]) : x
  // the window offset (row-major) of each output's maximum: the first offset whose value equals it
  const offsets: number[] = []
  for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) offsets.push(i * W + j)
  const equal = (k: number): string => {
    const [i, j] = [Math.floor(k / kw), k % kw]
    const s = e.node('Slice', [padded, e.constant('starts', INT64, [i, j]), e.constant('ends', INT64, [i + (OH - 1) * sh + 1, j + (OW - 1) * sw + 1]), e.constant('axes', INT64, [2, 3]), e.constant('steps', INT64, [sh, sw])])
    return e.node('Equal', [s, y])
  }
  let off = e.constant('offset', INT32, [offsets[offsets.length - 1]!], [])
  for (let k = offsets.length - 2; k >= 0; k--) off = e.node('Where', [equal(k), e.constant('offset', INT32, [offsets[k]!], []), off])
  // flat index of each window's first cell: (n*C + c)*H*W + (oh*sh - pt)*W + (ow*sw - pl)
  const base = e.constant('base', INT32, Array.from({ length: N * C }, (_, k) => k * H * W), [N, C, 1, 1])
  const grid = e.constant('grid', INT32, Array.from({ length: OH * OW }, (_, k) => (Math.floor(k / OW) * sh - pt) * W + ((k % OW) * sw - pl)), [OH, OW])
  e.node('Add', [e.node('Add', [base, grid]), off], [], n.output[1]!)
  return true
}

/**
 * Most tensors one node may read and write: a WebGPU shader binds each as a storage buffer, and
 * WebGPU guarantees 8 per shader stage (SwiftShader offers 12; wav2vec2's 16-way Split needed 17).
 */
const MAX_BUFFERS = 8

/**
 * Slices of `x` (`specs`: the Slice inputs after the data) into `outputs`. The provider has no int32
 * or bool Slice kernel: such data is sliced as float32, exact for the ids, labels and masks it slices
 * (|v| < 2^24).
 */
function slices(e: Emitter, x: string, dataType: number, specs: readonly string[][], outputs: readonly string[]): void {
  const asFloat = dataType === INT32 || dataType === BOOL
  const src = asFloat ? e.node('Cast', [x], [aInt('to', FLOAT)]) : x
  specs.forEach((spec, k) => {
    const y = e.node('Slice', [src, ...spec], [], asFloat ? e.fresh('sliced') : outputs[k]!)
    if (asFloat) e.node('Cast', [y], [aInt('to', dataType)], outputs[k]!)
  })
}

/** A Split into more outputs than a shader can bind, as one Slice per output (sizes from its constant). */
function splitAsSlices(e: Emitter, n: NodeProtoObj, x: string, dataType: number, sizes: readonly number[]): void {
  const axis = int(n, 'axis', 0)
  let at = 0
  const specs = sizes.map((size) => {
    const spec = [e.constant('slice', INT64, [at]), e.constant('slice', INT64, [at + size]), e.constant('slice', INT64, [axis])]
    at += size
    return spec
  })
  slices(e, x, dataType, specs, n.output)
}

/** A Concat of more inputs than a shader can bind, as a tree of Concats of at most MAX_BUFFERS - 1. */
function concatTree(e: Emitter, n: NodeProtoObj, input: string[]): void {
  let level = input
  while (level.length > MAX_BUFFERS - 1) {
    const next: string[] = []
    for (let i = 0; i < level.length; i += MAX_BUFFERS - 1) {
      const part = level.slice(i, i + MAX_BUFFERS - 1)
      next.push(part.length === 1 ? part[0]! : e.node('Concat', part, n.attribute ?? []))
    }
    level = next
  }
  e.nodes.push({ ...n, input: level })
}

/** Most outputs per group that the WebGPU provider's grouped convolution computes correctly. */
const GROUP_OUTPUTS = 4

/**
 * A grouped convolution with more than GROUP_OUTPUTS outputs per group, as several with at most that
 * many, whose outputs are interleaved back. ONNX Runtime 1.30's WebGPU grouped convolution returns
 * wrong values (20-75% relative error) for an even number of groups with 5 or more outputs per group
 * (measured on SwiftShader; 1 to 4 were exact): the weight gradient's patch extraction (9 outputs per
 * group) and wav2vec2's positional convolution are such convolutions. False (nothing emitted) for a
 * convolution that needs no split.
 */
function splitGroupedConv(e: Emitter, n: NodeProtoObj, input: string[], outShape: readonly number[]): boolean {
  const G = int(n, 'group', 1)
  const [N, O] = outShape as [number, number]
  const Og = O / G
  if (G <= 1 || Og <= GROUP_OUTPUTS || !Number.isInteger(Og)) return false
  const L = outShape.slice(2).reduce((a, b) => a * b, 1)
  const parts: string[] = []
  for (let from = 0; from < Og; from += GROUP_OUTPUTS) {
    const size = Math.min(GROUP_OUTPUTS, Og - from)
    const rows = e.constant('rows', INT32, Array.from({ length: G * size }, (_, k) => Math.floor(k / size) * Og + from + (k % size)))
    const w = e.node('Gather', [input[1]!, rows], [aInt('axis', 0)])
    const ins = [input[0]!, w, ...(input[2] ? [e.node('Gather', [input[2], rows], [aInt('axis', 0)])] : [])]
    const y = e.node('Conv', ins, n.attribute ?? [])                                           // (N, G*size, ...)
    parts.push(e.node('Reshape', [y, e.constant('shape', INT64, [N, G, size, L])]))             // (N, G, size, L)
  }
  const all = e.node('Concat', parts, [aInt('axis', 2)])                                        // (N, G, Og, L)
  e.node('Reshape', [all, e.constant('shape', INT64, outShape)], [], n.output[0]!)
  return true
}

export function forWebGpu(model: ModelProtoObj): ModelProtoObj {
  // control flow has no WebGPU kernels: Scans of a known length are unrolled (CTC's recursions);
  // anything else is left as it is, to be named as such
  const g = unrollScans(model.graph)
  if (!g) return model
  const type = new Map<string, number>()
  for (const i of g.input) type.set(i.name, i.type.tensorType.elemType)
  const inits = new Map(g.initializer.map((t) => [t.name ?? '', t]))
  for (const t of g.initializer) type.set(t.name ?? '', t.dataType)
  for (const n of g.node) outputTypes(n, (x) => type.get(x)).forEach((t, k) => type.set(n.output[k]!, t))
  // max pools whose indices are computed here, as int32 (lower() records their input shapes)
  const shapes = new Map((g.valueInfo ?? []).map((v) => [v.name, v.type.tensorType.shape.dim.map((d) => Number(d.dimValue))]))
  const pools = new Set(g.node.filter((n) => n.opType === 'MaxPool' && n.output[1] && shapes.has(n.input[0]!)))
  // which int64 values become int32: all but those ONNX defines as int64
  const keep64 = new Set<string>()
  for (const n of g.node) for (const k of INT64_OUTPUTS[n.opType] ?? []) if (n.output[k] && !(pools.has(n) && k === 1)) keep64.add(n.output[k]!)
  const converts = (name: string): boolean => type.get(name) === INT64 && !keep64.has(name) && !inits.has(name)
  /** The element type a value has in the rewritten graph. */
  const dataOf = (name: string): number => (converts(name) ? INT32 : (type.get(name) ?? FLOAT))

  const e = new Emitter()
  const int32Init = new Map<string, string>()
  const back64 = new Map<string, string>()
  for (const n of g.node) {
    const need64 = INT64_INPUTS[n.opType] ?? []
    const input = n.input.map((x, pos) => {
      if (!x) return x
      if (need64.includes(pos)) {
        if (!converts(x)) return x
        let c = back64.get(x)
        if (!c) back64.set(x, (c = e.node('Cast', [x], [aInt('to', INT64)])))
        return c
      }
      const init = inits.get(x)
      if (init && init.dataType === INT64) {
        let c = int32Init.get(x)
        if (!c) int32Init.set(x, (c = e.constant(x, INT32, int64Values(init), init.dims.map(Number))))
        return c
      }
      return x
    })
    if (pools.has(n) && maxPoolWithIndices(e, n, input[0]!, shapes.get(n.input[0]!)!)) continue
    if (n.opType === 'Conv' && shapes.has(n.output[0]!) && splitGroupedConv(e, n, input, shapes.get(n.output[0]!)!)) continue
    if (n.opType === 'Split' && n.output.length > MAX_BUFFERS - 1 && inits.has(n.input[1] ?? '')) splitAsSlices(e, n, input[0]!, dataOf(n.input[0]!), int64Values(inits.get(n.input[1]!)!))
    else if (n.opType === 'Concat' && input.length > MAX_BUFFERS - 1) concatTree(e, n, input)
    else if (n.opType === 'Sign') {
      // no Sign kernel: (x > 0) - (x < 0)
      const zero = e.constant('zero', FLOAT, [0], [])
      const gt = e.node('Cast', [e.node('Greater', [input[0]!, zero])], [aInt('to', FLOAT)])
      const lt = e.node('Cast', [e.node('Less', [input[0]!, zero])], [aInt('to', FLOAT)])
      e.node('Sub', [gt, lt], [], n.output[0]!)
    } else if (n.opType === 'Or') {
      // no Or kernel: not(not a and not b)
      e.node('Not', [e.node('And', [e.node('Not', [input[0]!]), e.node('Not', [input[1]!])])], [], n.output[0]!)
    } else if (n.opType === 'Sum') {
      // no Sum kernel: a chain of Adds (one input: a copy)
      if (input.length === 1) e.node('Identity', [input[0]!], [], n.output[0]!)
      else e.node('Add', [input.slice(1, -1).reduce((a, x) => e.node('Add', [a, x]), input[0]!), input.at(-1)!], [], n.output[0]!)
    } else if (n.opType === 'Slice') slices(e, input[0]!, dataOf(n.input[0]!), [input.slice(1)], n.output)
    else if (n.opType === 'Cast' && n.output.some(converts)) {
      e.nodes.push({ ...n, input, attribute: (n.attribute ?? []).map((a) => (a.name === 'to' ? aInt('to', INT32) : a)) })
    } else if (n.opType === 'LogSoftmax') {
      // x - max - log(sum(exp(x - max))), over the one axis
      const axis = int(n, 'axis', -1)
      const d = e.node('Sub', [input[0]!, e.node('ReduceMax', [input[0]!], [aInts('axes', [axis]), aInt('keepdims', 1)])])
      const sum = e.node('ReduceSum', [e.node('Exp', [d]), e.constant('axes', INT64, [axis])], [aInt('keepdims', 1)])
      e.node('Sub', [d, e.node('Log', [sum])], [], n.output[0]!)
    } else e.nodes.push({ ...n, input })
  }
  const retype = <T extends { name: string; type: { tensorType: { elemType: number } } }>(v: T): T =>
    converts(v.name) ? { ...v, type: { ...v.type, tensorType: { ...v.type.tensorType, elemType: INT32 } } } : v
  // initializers still read as int64 (shapes, axes) stay; those only read as data are replaced
  const still = new Set(e.nodes.flatMap((n) => n.input))
  return {
    ...model,
    graph: {
      ...g,
      node: e.nodes,
      initializer: [...g.initializer.filter((t) => still.has(t.name ?? '')), ...e.inits],
      input: g.input.map(retype),
      output: g.output.map(retype),
    },
  }
}

/**
 * The graph with each Scan written out iteration by iteration: slice t of each scanned input by a
 * Gather (bool ones through float32, which WebGPU gathers), the body's nodes under fresh names (its
 * constants once, outside), its carried outputs feeding the next copy, its scan outputs stacked by
 * Unsqueeze + Concat; directions and axes as the attributes say. The length comes from the first
 * scanned input's shape (lower() records it). Null where a Scan's length is unknown or a body holds
 * control flow itself.
 */
export function unrollScans(g: GraphProtoObj): GraphProtoObj | null {
  if (!g.node.some((n) => n.attribute?.some((a) => a.g))) return g
  const shapes = new Map([...(g.valueInfo ?? []), ...g.input].map((v) => [v.name, v.type.tensorType.shape.dim.map((d) => Number(d.dimValue))]))
  const e = new Emitter('scan')
  const inits = [...g.initializer]
  for (const n of g.node) {
    const body = n.attribute?.find((a) => a.name === 'body')?.g
    if (n.opType !== 'Scan' || !body) {
      if (n.attribute?.some((a) => a.g)) return null
      e.nodes.push(n)
      continue
    }
    if (body.node.some((b) => b.attribute?.some((a) => a.g))) return null
    const M = int(n, 'num_scan_inputs', 0)
    const N = n.input.length - M
    if (M < 1 || N < 0 || body.input.length !== N + M || body.output.length < N) return null
    const inAxes = ints(n, 'scan_input_axes') ?? new Array<number>(M).fill(0)
    const inDirs = ints(n, 'scan_input_directions') ?? new Array<number>(M).fill(0)
    const K = body.output.length - N
    const outAxes = ints(n, 'scan_output_axes') ?? new Array<number>(K).fill(0)
    const outDirs = ints(n, 'scan_output_directions') ?? new Array<number>(K).fill(0)
    const T = shapes.get(n.input[N]!)?.[inAxes[0]!]
    if (T === undefined || !Number.isInteger(T)) return null
    const hoisted = new Map<string, string>()
    for (const t of body.initializer) {
      const name = e.fresh(t.name ?? 'k')
      inits.push({ ...t, name })
      hoisted.set(t.name ?? '', name)
    }
    // bool scanned inputs are gathered as float32
    const sources = n.input.slice(N).map((x, j) => (body.input[N + j]!.type.tensorType.elemType === BOOL ? e.node('Cast', [x], [aInt('to', FLOAT)]) : x))
    let state = n.input.slice(0, N)
    const stacked: string[][] = Array.from({ length: K }, () => new Array<string>(T))
    const index: string[] = []
    for (let i = 0; i < T; i++) {
      const map = new Map(hoisted)
      body.input.slice(0, N).forEach((v, j) => map.set(v.name, state[j]!))
      body.input.slice(N).forEach((v, j) => {
        const t = inDirs[j] ? T - 1 - i : i
        const at = (index[t] ??= e.constant('t', INT64, [t], []))
        const slice = e.node('Gather', [sources[j]!, at], [aInt('axis', inAxes[j]!)])
        map.set(v.name, v.type.tensorType.elemType === BOOL ? e.node('Cast', [slice], [aInt('to', BOOL)]) : slice)
      })
      for (const b of body.node) {
        const output = b.output.map((o) => {
          const name = e.fresh(o)
          map.set(o, name)
          return name
        })
        e.nodes.push({ ...b, name: e.fresh('n'), input: b.input.map((x) => (x ? (map.get(x) ?? x) : x)), output })
      }
      state = body.output.slice(0, N).map((v) => map.get(v.name) ?? v.name)
      body.output.slice(N).forEach((v, j) => (stacked[j]![outDirs[j] ? T - 1 - i : i] = map.get(v.name) ?? v.name))
    }
    n.output.slice(0, N).forEach((o, j) => o && e.node('Identity', [state[j]!], [], o))
    n.output.slice(N).forEach((o, j) => {
      if (!o) return
      const axes = e.constant('axes', INT64, [outAxes[j]!])
      e.node('Concat', stacked[j]!.map((x) => e.node('Unsqueeze', [x, axes])), [aInt('axis', outAxes[j]!)], o)
    })
  }
  return { ...g, node: e.nodes, initializer: [...inits, ...e.inits] }
}
