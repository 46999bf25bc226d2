/**
 * The traced graph: symbolic tensors with static shapes, the nodes that produce them, and the
 * context that model code runs in. Model code calls ordinary methods (`x.matmul(w).add(b)`); each
 * call checks shapes at once and appends a node, so a mistake is reported at the line that made it.
 */
import { GraphError } from '../errors.js'
import type { DType } from './dtype.js'
import { opSpecs, type OpAttrs, type OpName, type TensorInfo } from './ops.js'
import { fmt, normAxes, normAxis, size, type Shape } from './shape.js'

export type InputRole = 'data' | 'param' | 'state' | 'scalar' | 'random'

/** A constant's values; int64 values are held as numbers (exact below 2^53). */
export type ConstData = Float32Array | Float64Array | Int32Array | Uint8Array | readonly number[]

export interface Node<K extends OpName = OpName> {
  readonly id: number
  readonly op: K
  readonly inputs: readonly Tensor[]
  readonly attrs: OpAttrs[K]
  readonly outputs: readonly Tensor[]
}

/** A learnable weight or a persistent buffer (BatchNorm running statistics) owned by a Module. */
export class Parameter {
  /** The dotted checkpoint key, set when the owning module tree is named. */
  name = ''
  #data: Float32Array
  #device: string | null = null
  /** Counts replacements of `data`, so a copy on an accelerator can tell it is outdated. */
  version = 0
  readonly shape: readonly number[]
  requiresGrad: boolean
  readonly kind: 'param' | 'buffer'
  /** False for biases and norm weights: AdamW skips weight decay on them by default. */
  decay: boolean
  constructor(shape: readonly number[], opts: { data?: Float32Array; requiresGrad?: boolean; kind?: 'param' | 'buffer'; decay?: boolean } = {}) {
    this.shape = [...shape]
    const n = size(shape)
    if (opts.data && opts.data.length !== n) throw new GraphError('PARAM_SIZE', `parameter data has ${opts.data.length} values, shape ${fmt(shape)} needs ${n}`)
    this.#data = opts.data ?? new Float32Array(n)
    this.kind = opts.kind ?? 'param'
    this.requiresGrad = opts.requiresGrad ?? this.kind === 'param'
    this.decay = opts.decay ?? shape.length > 1
  }

  /** The values on the host. Reading them while the current ones live on an accelerator is an error. */
  get data(): Float32Array {
    if (this.#device)
      throw new GraphError('PARAM_ON_DEVICE', `parameter "${this.name}" has its current value on the ${this.#device} device, not in host memory`, "await the training session's syncToHost() before reading parameters")
    return this.#data
  }

  /** Replaces the values (a device copy then counts as outdated). */
  set data(v: Float32Array) {
    this.#data = v
    this.#device = null
    this.version++
  }

  /** The device that holds the current value while the host copy is stale, else null. */
  get onDevice(): string | null {
    return this.#device
  }

  /** The runtime marks a value it updated on `device` (the host copy is then stale). */
  markOnDevice(device: string): void {
    this.#device = device
  }
}

export type TensorLike = Tensor | Parameter | number

let nextGraphId = 0

export class Graph {
  readonly id = nextGraphId++
  readonly nodes: Node[] = []
  readonly inputs: Tensor[] = []
  readonly params = new Map<Parameter, Tensor>()
  /** New values for buffers, set by layers in training mode (running statistics). */
  readonly stateUpdates = new Map<Parameter, Tensor>()
  /** Whether layers behave as in training (batch statistics, dropout). */
  training = false
  #nextTensor = 0
  #inputNames = new Set<string>()
  #random = 0

  newTensorId(): number {
    return this.#nextTensor++
  }

  /** Declares a graph input fed at run time. */
  input(name: string, shape: Shape, dtype: DType = 'float32', role: InputRole = 'data'): Tensor {
    if (this.#inputNames.has(name)) throw new GraphError('GRAPH_INPUT_DUP', `graph input "${name}" is declared twice`)
    for (const d of shape) if (!Number.isInteger(d) || d < 0) throw new GraphError('GRAPH_SHAPE', `input "${name}": shape ${fmt(shape)} must be non-negative integers (shapes are static)`)
    this.#inputNames.add(name)
    const t = new Tensor(this, shape, dtype, { kind: 'input', name, role })
    this.inputs.push(t)
    return t
  }

  /** The input standing for a parameter in this graph (created on first use). */
  param(p: Parameter): Tensor {
    let t = this.params.get(p)
    if (!t) {
      t = this.input(p.name || `param_${this.params.size}`, p.shape, 'float32', p.kind === 'param' ? 'param' : 'state')
      this.params.set(p, t)
    }
    return t
  }

  /** A uint8 input of uniform random bytes, refilled by the runtime on every run (dropout masks). */
  randomBytes(shape: Shape): Tensor {
    return this.input(`random.${this.#random++}`, shape, 'uint8', 'random')
  }

  constant(data: ConstData, shape: Shape, dtype: DType = 'float32'): Tensor {
    if (data.length !== size(shape)) throw new GraphError('GRAPH_CONST', `constant has ${data.length} values for shape ${fmt(shape)}`)
    return new Tensor(this, shape, dtype, { kind: 'const', data })
  }

  scalar(v: number, dtype: DType = 'float32'): Tensor {
    return this.constant([v], [], dtype)
  }

  setState(p: Parameter, value: Tensor): void {
    if (p.kind !== 'buffer') throw new GraphError('GRAPH_STATE', `setState needs a buffer, "${p.name}" is a parameter`)
    if (value.shape.join() !== p.shape.join()) throw new GraphError('GRAPH_STATE', `new value for "${p.name}" has shape ${fmt(value.shape)}, buffer is ${fmt(p.shape)}`)
    this.stateUpdates.set(p, value)
  }

  /** Appends a node after checking its inputs; returns its outputs. */
  emit<K extends OpName>(op: K, inputs: readonly Tensor[], attrs: OpAttrs[K]): Tensor[] {
    for (const t of inputs) if (t.graph !== this) throw new GraphError('GRAPH_MIXED', `${op}: an input belongs to a different graph`, 'do not keep tensors from one trace and use them in another')
    const infos: TensorInfo[] = opSpecs[op].infer(inputs, attrs)
    const node: { id: number; op: K; inputs: readonly Tensor[]; attrs: OpAttrs[K]; outputs: Tensor[] } = { id: this.nodes.length, op, inputs, attrs, outputs: [] }
    node.outputs = infos.map((info, i) => new Tensor(this, info.shape, info.dtype, { kind: 'op', node: node as Node, index: i }))
    this.nodes.push(node as Node)
    return node.outputs
  }
}

type TensorSource =
  | { kind: 'input'; name: string; role: InputRole }
  | { kind: 'const'; data: ConstData }
  | { kind: 'op'; node: Node; index: number }

// ---------------------------------------------------------------------------------------------
// Trace context

const stack: Graph[] = []

/** Runs `fn` with `g` as the current graph (so parameters and numbers resolve into it). */
export function withGraph<T>(g: Graph, fn: () => T): T {
  stack.push(g)
  try {
    return fn()
  } finally {
    stack.pop()
  }
}

export function currentGraph(): Graph {
  const g = stack[stack.length - 1]
  if (!g) throw new GraphError('GRAPH_NO_TRACE', 'a parameter or number was used outside a trace', 'run model code inside trace() or a compiled step')
  return g
}

/** Resolves a parameter, number or tensor to a tensor of the current graph. */
export function asTensor(x: TensorLike, like?: Tensor): Tensor {
  if (x instanceof Tensor) return x
  const g = like?.graph ?? currentGraph()
  if (x instanceof Parameter) return g.param(x)
  return g.scalar(x, like?.dtype ?? 'float32')
}

// ---------------------------------------------------------------------------------------------

export class Tensor {
  readonly id: number
  readonly graph: Graph
  readonly shape: readonly number[]
  readonly dtype: DType
  readonly source: TensorSource
  constructor(graph: Graph, shape: Shape, dtype: DType, source: TensorSource) {
    this.graph = graph
    this.id = graph.newTensorId()
    this.shape = [...shape]
    this.dtype = dtype
    this.source = source
  }
  get rank(): number {
    return this.shape.length
  }
  get size(): number {
    return size(this.shape)
  }
  toString(): string {
    return `Tensor(${this.dtype}${fmt(this.shape)})`
  }

  #un<K extends OpName>(op: K, attrs: OpAttrs[K]): Tensor {
    return this.graph.emit(op, [this], attrs)[0]!
  }
  #bin(op: OpName, other: TensorLike): Tensor {
    return this.graph.emit(op, [this, asTensor(other, this)], {} as never)[0]!
  }

  // elementwise
  add(o: TensorLike): Tensor { return this.#bin('Add', o) }
  sub(o: TensorLike): Tensor { return this.#bin('Sub', o) }
  mul(o: TensorLike): Tensor { return this.#bin('Mul', o) }
  div(o: TensorLike): Tensor { return this.#bin('Div', o) }
  pow(o: TensorLike): Tensor { return this.#bin('Pow', o) }
  maximum(o: TensorLike): Tensor { return this.#bin('Max', o) }
  minimum(o: TensorLike): Tensor { return this.#bin('Min', o) }
  eq(o: TensorLike): Tensor { return this.#bin('Equal', o) }
  ne(o: TensorLike): Tensor { return this.#bin('Equal', o).not() }
  lt(o: TensorLike): Tensor { return this.#bin('Less', o) }
  gt(o: TensorLike): Tensor { return this.#bin('Greater', o) }
  le(o: TensorLike): Tensor { return this.#bin('LessOrEqual', o) }
  ge(o: TensorLike): Tensor { return this.#bin('GreaterOrEqual', o) }
  and(o: TensorLike): Tensor { return this.#bin('And', o) }
  or(o: TensorLike): Tensor { return this.#bin('Or', o) }
  not(): Tensor { return this.#un('Not', {}) }
  neg(): Tensor { return this.#un('Neg', {}) }
  exp(): Tensor { return this.#un('Exp', {}) }
  log(): Tensor { return this.#un('Log', {}) }
  sqrt(): Tensor { return this.#un('Sqrt', {}) }
  reciprocal(): Tensor { return this.#un('Reciprocal', {}) }
  rsqrt(): Tensor { return this.sqrt().reciprocal() }
  abs(): Tensor { return this.#un('Abs', {}) }
  sign(): Tensor { return this.#un('Sign', {}) }
  /** The same values with no gradient flowing back (torch's detach). */
  stopGradient(): Tensor { return this.#un('StopGradient', {}) }
  tanh(): Tensor { return this.#un('Tanh', {}) }
  erf(): Tensor { return this.#un('Erf', {}) }
  sigmoid(): Tensor { return this.#un('Sigmoid', {}) }
  relu(): Tensor { return this.#un('Relu', {}) }
  sin(): Tensor { return this.#un('Sin', {}) }
  cos(): Tensor { return this.#un('Cos', {}) }
  square(): Tensor { return this.mul(this) }
  clip(min = -Infinity, max = Infinity): Tensor { return this.#un('Clip', { min, max }) }
  cast(to: DType): Tensor { return to === this.dtype ? this : this.#un('Cast', { to }) }

  // reductions
  #red(op: 'ReduceSum' | 'ReduceSumSquare' | 'ReduceMean' | 'ReduceMax', axes: number | readonly number[] | undefined, keepdims: boolean): Tensor {
    const ax = axes === undefined ? this.shape.map((_, i) => i) : normAxes(op, typeof axes === 'number' ? [axes] : axes, this.rank)
    if (ax.length === 0) return op === 'ReduceSumSquare' ? this.square() : this
    return this.#un(op, { axes: ax, keepdims })
  }
  sum(axes?: number | readonly number[], keepdims = false): Tensor { return this.#red('ReduceSum', axes, keepdims) }
  /** Sum of squares over `axes` (one pass; ONNX ReduceSumSquare). */
  sumSquares(axes?: number | readonly number[], keepdims = false): Tensor { return this.#red('ReduceSumSquare', axes, keepdims) }
  mean(axes?: number | readonly number[], keepdims = false): Tensor { return this.#red('ReduceMean', axes, keepdims) }
  max(axes?: number | readonly number[], keepdims = false): Tensor { return this.#red('ReduceMax', axes, keepdims) }
  /** Biased (population) variance, as LayerNorm and BatchNorm use; `correction: 1` for the sample variance. */
  variance(axes?: number | readonly number[], keepdims = false, correction = 0): Tensor {
    const ax = axes === undefined ? this.shape.map((_, i) => i) : normAxes('var', typeof axes === 'number' ? [axes] : axes, this.rank)
    const n = ax.reduce((a, k) => a * this.shape[k]!, 1)
    const d = this.sub(this.mean(ax, true))
    const v = d.square().sum(ax, keepdims)
    return v.mul(1 / Math.max(n - correction, 1))
  }
  argmax(axis = -1, keepdims = false): Tensor { return this.#un('ArgMax', { axis: normAxis('ArgMax', axis, this.rank), keepdims }) }
  cumsum(axis: number, o: { reverse?: boolean; exclusive?: boolean } = {}): Tensor {
    return this.#un('CumSum', { axis: normAxis('CumSum', axis, this.rank), reverse: o.reverse ?? false, exclusive: o.exclusive ?? false })
  }

  // linear algebra
  matmul(o: TensorLike): Tensor { return this.#bin('MatMul', o) }

  // shape
  reshape(shape: readonly number[]): Tensor {
    const s = resolveShape(this.shape, shape)
    if (s.join() === this.shape.join()) return this
    // collapse reshape-of-reshape so the graph stays small
    const src = this.source.kind === 'op' && this.source.node.op === 'Reshape' ? this.source.node.inputs[0]! : this
    if (s.join() === src.shape.join()) return src
    return src.#un('Reshape', { shape: s })
  }
  flatten(startAxis = 1): Tensor {
    const a = normAxis('flatten', startAxis, this.rank)
    return this.reshape([...this.shape.slice(0, a), this.shape.slice(a).reduce((x, y) => x * y, 1)])
  }
  transpose(perm?: readonly number[]): Tensor {
    const p = perm ?? this.shape.map((_, i) => this.rank - 1 - i)
    const np = p.map((a) => normAxis('Transpose', a, this.rank))
    if (np.every((a, i) => a === i)) return this
    return this.#un('Transpose', { perm: np })
  }
  /** Swaps two axes. */
  swap(a: number, b: number): Tensor {
    const p = this.shape.map((_, i) => i)
    const x = normAxis('swap', a, this.rank)
    const y = normAxis('swap', b, this.rank)
    ;[p[x], p[y]] = [p[y]!, p[x]!]
    return this.transpose(p)
  }
  /** Python-style slice on one axis: `end` exclusive, negatives count from the end. */
  slice(axis: number, start: number, end = Infinity, step = 1): Tensor {
    const a = normAxis('Slice', axis, this.rank)
    const n = this.shape[a]!
    if (step <= 0) throw new GraphError('GRAPH_SLICE', `Slice: step must be positive, got ${step}`)
    const clamp = (v: number): number => Math.min(Math.max(v < 0 ? v + n : v, 0), n)
    const s = clamp(start)
    const e = Math.max(clamp(end), s)
    if (s === 0 && e === n && step === 1) return this
    return this.#un('Slice', { starts: [s], ends: [e], axes: [a], steps: [step] })
  }
  split(sizes: readonly number[], axis = -1): Tensor[] {
    const a = normAxis('Split', axis, this.rank)
    if (sizes.length === 1) return [this]
    return this.graph.emit('Split', [this], { axis: a, sizes })
  }
  /** Splits into `n` equal chunks along `axis`. */
  chunk(n: number, axis = -1): Tensor[] {
    const a = normAxis('chunk', axis, this.rank)
    const d = this.shape[a]!
    if (d % n !== 0) throw new GraphError('GRAPH_SHAPE', `chunk: axis ${axis} of ${fmt(this.shape)} does not split into ${n} equal parts`)
    return this.split(new Array<number>(n).fill(d / n), a)
  }
  expand(shape: readonly number[]): Tensor {
    if (shape.join() === this.shape.join()) return this
    return this.#un('Expand', { shape })
  }
  squeeze(axes?: number | readonly number[]): Tensor {
    const ax = axes === undefined ? this.shape.flatMap((d, i) => (d === 1 ? [i] : [])) : normAxes('squeeze', typeof axes === 'number' ? [axes] : axes, this.rank)
    for (const a of ax) if (this.shape[a] !== 1) throw new GraphError('GRAPH_SHAPE', `squeeze: axis ${a} of ${fmt(this.shape)} is not 1`)
    return this.reshape(this.shape.filter((_, i) => !ax.includes(i)))
  }
  unsqueeze(axis: number): Tensor {
    const a = normAxis('unsqueeze', axis, this.rank + 1)
    const s = [...this.shape]
    s.splice(a, 0, 1)
    return this.reshape(s)
  }
  /** Constant padding; `pads` lists [before, after] per axis from the first axis. */
  pad(pads: readonly (readonly [number, number])[], value = 0): Tensor {
    if (pads.length !== this.rank) throw new GraphError('GRAPH_SHAPE', `pad: need ${this.rank} [before, after] pairs for ${fmt(this.shape)}, got ${pads.length}`)
    if (pads.every(([a, b]) => a === 0 && b === 0)) return this
    return this.#un('Pad', { pads: [...pads.map((p) => p[0]), ...pads.map((p) => p[1])], value })
  }
  /** Takes slices along `axis` at int64 `indices` (embedding lookup with axis 0). */
  gather(indices: Tensor, axis = 0): Tensor {
    return this.graph.emit('Gather', [this, indices], { axis: normAxis('Gather', axis, this.rank) })[0]!
  }
  gatherElements(indices: Tensor, axis: number): Tensor {
    return this.graph.emit('GatherElements', [this, indices], { axis: normAxis('GatherElements', axis, this.rank) })[0]!
  }
  softmax(axis = -1): Tensor { return this.#un('Softmax', { axis: normAxis('Softmax', axis, this.rank) }) }
  logSoftmax(axis = -1): Tensor { return this.#un('LogSoftmax', { axis: normAxis('LogSoftmax', axis, this.rank) }) }
}

/** Resolves -1 and 0-free target shapes against a source shape. */
export function resolveShape(from: Shape, to: readonly number[]): number[] {
  const n = size(from)
  const neg = to.filter((d) => d === -1).length
  if (neg > 1) throw new GraphError('GRAPH_SHAPE', `reshape: at most one -1 allowed in ${fmt(to)}`)
  const known = to.reduce((a, d) => (d === -1 ? a : a * d), 1)
  const out = to.map((d) => (d === -1 ? (known === 0 ? 0 : n / known) : d))
  if (!out.every((d) => Number.isInteger(d) && d >= 0) || size(out) !== n)
    throw new GraphError('GRAPH_SHAPE', `reshape: cannot view ${fmt(from)} (${n} elements) as ${fmt(to)}`)
  return out
}

/** Elementwise select: `cond ? a : b` with broadcasting. */
export function where(cond: Tensor, a: TensorLike, b: TensorLike): Tensor {
  const like = a instanceof Tensor ? a : b instanceof Tensor ? b : undefined
  const ta = asTensor(a, like ?? cond)
  const tb = asTensor(b, like ?? cond)
  return cond.graph.emit('Where', [cond, ta.dtype === tb.dtype ? ta : ta.cast(tb.dtype), tb], {})[0]!
}

export function concat(xs: readonly Tensor[], axis = 0): Tensor {
  if (xs.length === 0) throw new GraphError('GRAPH_SHAPE', 'concat: needs at least one tensor')
  if (xs.length === 1) return xs[0]!
  const first = xs[0]!
  return first.graph.emit('Concat', xs, { axis: normAxis('Concat', axis, first.rank) })[0]!
}

/** Runs `fn` in a fresh graph and returns the graph with whatever `fn` returned. */
export function trace<T>(fn: (g: Graph) => T, opts: { training?: boolean } = {}): { graph: Graph; result: T } {
  const g = new Graph()
  g.training = opts.training ?? false
  const result = withGraph(g, () => fn(g))
  return { graph: g, result }
}
