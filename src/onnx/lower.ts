/**
 * IR graph -> ONNX ModelProto (opset 17, standard domain only). Static attributes that ONNX takes
 * as inputs (Reshape's shape, Slice's bounds, ReduceSum's axes, ...) become small initializers.
 */
import { RuntimeError } from '../errors.js'
import { onnxDType, type DType } from '../graph/dtype.js'
import type { ConstData, Node, Tensor } from '../graph/graph.js'
import type { OpAttrs, OpName } from '../graph/ops.js'
import { lowerCtcAlpha, lowerCtcBeta, lowerRecurrence, lowerRecurrenceGrad } from './scan-ops.js'
import { AttrType, encodeModel, type AttributeProtoObj, type ModelProtoObj, type NodeProtoObj, type TensorProtoObj, type ValueInfoObj } from './proto.js'

export const OPSET = 17
export const IR_VERSION = 8

const aInt = (name: string, i: number): AttributeProtoObj => ({ name, type: AttrType.INT, i })
const aInts = (name: string, ints: readonly number[]): AttributeProtoObj => ({ name, type: AttrType.INTS, ints: [...ints] })
const aFloat = (name: string, f: number): AttributeProtoObj => ({ name, type: AttrType.FLOAT, f })
const aStr = (name: string, s: string): AttributeProtoObj => ({ name, type: AttrType.STRING, s: new TextEncoder().encode(s) })

/** Raw little-endian bytes of values in a dtype. */
export function rawBytes(data: ConstData, dtype: DType): Uint8Array {
  const n = data.length
  switch (dtype) {
    case 'float32': {
      const a = data instanceof Float32Array ? data : Float32Array.from(data as ArrayLike<number>)
      return new Uint8Array(a.buffer, a.byteOffset, a.byteLength)
    }
    case 'int64': {
      const a = new BigInt64Array(n)
      for (let i = 0; i < n; i++) a[i] = BigInt(Math.trunc(Number(data[i])))
      return new Uint8Array(a.buffer)
    }
    case 'bool':
    case 'uint8': {
      const a = new Uint8Array(n)
      for (let i = 0; i < n; i++) a[i] = Number(data[i])
      return a
    }
    case 'float16':
      throw new RuntimeError('ONNX_DTYPE', 'float16 constants are not supported in graphs yet', 'keep graph constants float32')
  }
}

export function tensorProto(name: string, data: ConstData, shape: readonly number[], dtype: DType): TensorProtoObj {
  return { name, dims: [...shape], dataType: onnxDType[dtype], rawData: rawBytes(data, dtype) }
}

export function valueInfo(name: string, t: { shape: readonly number[]; dtype: DType }): ValueInfoObj {
  return { name, type: { tensorType: { elemType: onnxDType[t.dtype], shape: { dim: t.shape.map((d) => ({ dimValue: d })) } } } }
}

export interface LowerOptions {
  /** Named outputs, in order. */
  outputs: readonly { name: string; tensor: Tensor }[]
  /** Inputs that become initializers with these values instead of graph inputs (export). */
  initializers?: Map<Tensor, ConstData>
  /** Graph inputs that stay inputs even if no output needs them (keeps a stable signature). */
  keepInputs?: readonly Tensor[]
  graphName?: string
  metadata?: Record<string, string>
}

export interface Lowered {
  model: ModelProtoObj
  /** Graph inputs of the ONNX model, in order (the runtime feeds these). */
  inputs: Tensor[]
  bytes(): Uint8Array
}

class Builder {
  readonly nodes: NodeProtoObj[] = []
  readonly inits: TensorProtoObj[] = []
  #k = 0
  #names = new Map<number, string>()
  constructor(readonly outNames: Map<number, string>) {}
  name(t: Tensor): string {
    let n = this.#names.get(t.id)
    if (n) return n
    if (t.source.kind === 'input') n = t.source.name
    else if (t.source.kind === 'const') {
      n = `c${t.id}`
      this.inits.push(tensorProto(n, t.source.data, t.shape, t.dtype))
    } else n = this.outNames.get(t.id) ?? `t${t.id}`
    this.#names.set(t.id, n)
    return n
  }
  const(data: readonly number[], dtype: DType = 'int64', shape: readonly number[] = [data.length]): string {
    const n = `k${this.#k++}`
    this.inits.push(tensorProto(n, data, shape, dtype))
    return n
  }
  /** A named constant that is not added to the graph (a Scan body's own). */
  tensor(name: string, data: readonly number[], dtype: DType, shape: readonly number[]): TensorProtoObj {
    return tensorProto(name, data, shape, dtype)
  }
  /** A fresh name for an intermediate value inside one op's lowering. */
  tmp(): string {
    return `v${this.#k++}`
  }
  node(opType: string, input: string[], output: string[], attribute: AttributeProtoObj[] = []): void {
    this.nodes.push({ opType, input, output, attribute, name: `n${this.nodes.length}` })
  }
  #ones = new Map<number, string>()
  /** A (1, n) row of float ones, one initializer per length. */
  ones(n: number): string {
    let name = this.#ones.get(n)
    if (!name) {
      name = this.const(new Array<number>(n).fill(1), 'float32', [1, n])
      this.#ones.set(n, name)
    }
    return name
  }
  #ranked = new Map<string, string>()
  /** `t` (one element) as a tensor of `rank` ones: a constant re-emitted, anything else reshaped once. */
  ranked(t: Tensor, name: string, rank: number): string {
    const key = `${name}/${rank}`
    let n = this.#ranked.get(key)
    if (n) return n
    const ones = new Array<number>(rank).fill(1)
    if (t.source.kind === 'const') {
      n = `c${t.id}r${rank}`
      this.inits.push(tensorProto(n, t.source.data, ones, t.dtype))
    } else {
      n = this.tmp()
      this.node('Reshape', [name, this.const(ones)], [n])
    }
    this.#ranked.set(key, n)
    return n
  }
}

type Lowering<K extends OpName> = (b: Builder, n: Node<K>, ins: string[], outs: string[], used: (t: Tensor) => boolean) => void

const same = <K extends OpName>(op: string): Lowering<K> => (b, _n, ins, outs) => b.node(op, ins, outs)
/**
 * A broadcasting binary op. ONNX Runtime's CPU kernels take a slow element-by-element path when a
 * one-element operand of lower rank meets a tensor with an axis of 1 (a scalar times a 1x1 conv weight
 * [O, I, 1, 1] or a depthwise one [C, 1, 3, 3]: 4-10x slower than the same product on [O, I]); giving
 * the scalar the full rank keeps the fast path. Same values, same output shape.
 */
const binary = <K extends OpName>(op: string): Lowering<K> => (b, n, ins, outs) => {
  const [x, y] = n.inputs as [Tensor, Tensor]
  const rank = n.outputs[0]!.shape.length
  const slow = (a: Tensor, other: Tensor) => a.shape.length < rank && a.shape.every((d) => d === 1) && other.shape.length === rank && other.shape.includes(1)
  if (slow(y, x)) b.node(op, [ins[0]!, b.ranked(y, ins[1]!, rank)], outs)
  else if (slow(x, y)) b.node(op, [b.ranked(x, ins[0]!, rank), ins[1]!], outs)
  else b.node(op, ins, outs)
}
const axis = <K extends 'Softmax' | 'LogSoftmax'>(op: string): Lowering<K> => (b, n, ins, outs) => b.node(op, ins, outs, [aInt('axis', n.attrs.axis)])

const lowerings: { [K in OpName]: Lowering<K> } = {
  Identity: same('Identity'),
  StopGradient: same('Identity'),
  Neg: same('Neg'),
  Exp: same('Exp'),
  Log: same('Log'),
  Sqrt: same('Sqrt'),
  Reciprocal: same('Reciprocal'),
  Abs: same('Abs'),
  Sign: same('Sign'),
  Tanh: same('Tanh'),
  Erf: same('Erf'),
  Gelu: (b, n, ins, outs, used) => {
    const [x] = ins as [string]
    const [y, u, phi] = outs as [string, string, string]
    const e = b.tmp()
    const a = b.tmp()
    b.node('Div', [x, b.const([Math.SQRT2], 'float32', [])], [u])
    b.node('Erf', [u], [e])
    b.node('Add', [e, b.const([1], 'float32', [])], [a])
    if (used(n.outputs[1]!) || used(n.outputs[2]!)) {
      b.node('Mul', [a, b.const([0.5], 'float32', [])], [phi])
      b.node('Mul', [x, phi], [y])
    } else {
      // no backward reads the intermediates: the order ONNX Runtime fuses into one Gelu kernel
      const m = b.tmp()
      b.node('Mul', [a, x], [m])
      b.node('Mul', [m, b.const([0.5], 'float32', [])], [y])
    }
  },
  Sigmoid: same('Sigmoid'),
  Relu: same('Relu'),
  Sin: same('Sin'),
  Cos: same('Cos'),
  Not: same('Not'),
  Add: binary('Add'),
  Sub: binary('Sub'),
  Mul: binary('Mul'),
  Div: binary('Div'),
  Pow: binary('Pow'),
  Max: binary('Max'),
  Min: binary('Min'),
  Equal: binary('Equal'),
  Less: binary('Less'),
  Greater: binary('Greater'),
  LessOrEqual: binary('LessOrEqual'),
  GreaterOrEqual: binary('GreaterOrEqual'),
  And: binary('And'),
  Or: binary('Or'),
  Where: same('Where'),
  Cast: (b, n, ins, outs) => b.node('Cast', ins, outs, [aInt('to', onnxDType[n.attrs.to])]),
  Clip: (b, n, ins, outs) => {
    const dt = n.inputs[0]!.dtype
    const lo = n.attrs.min > -Infinity ? b.const([n.attrs.min], dt, []) : ''
    const hi = n.attrs.max < Infinity ? b.const([n.attrs.max], dt, []) : ''
    b.node('Clip', hi ? [ins[0]!, lo, hi] : lo ? [ins[0]!, lo] : [ins[0]!], outs)
  },
  ReduceSum: (b, n, ins, outs) => {
    const x = n.inputs[0]!
    const { axes, keepdims } = n.attrs
    const k = axes.length
    const R = x.shape.slice(0, k).reduce((a, d) => a * d, 1)
    const C = x.size / R
    // A sum over leading axes (a bias's or a norm's gradient, a sum over the batch) as a row of ones
    // times the matrix (R, C): ONNX Runtime's ReduceSum over a leading axis took 1.3-5x the time of
    // its GEMV (`npx tsx bench/reduce-sum.ts`; BENCHMARKS.md, "Slow paths ...", item 6). Trailing
    // and mixed axes, where ReduceSum was as fast or faster, stay ReduceSum.
    if (x.dtype === 'float32' && k < x.rank && axes.every((a, i) => a === i) && R >= 2 && R <= 1 << 20 && C >= 16) {
      const flat = b.tmp()
      const row = b.tmp()
      b.node('Reshape', [ins[0]!, b.const([R, C])], [flat])
      b.node('MatMul', [b.ones(R), flat], [row])
      b.node('Reshape', [row, b.const(n.outputs[0]!.shape)], outs)
    } else b.node('ReduceSum', [ins[0]!, b.const(axes)], outs, [aInt('keepdims', keepdims ? 1 : 0)])
  },
  ReduceSumSquare: (b, n, ins, outs) => b.node('ReduceSumSquare', ins, outs, [aInts('axes', n.attrs.axes), aInt('keepdims', n.attrs.keepdims ? 1 : 0)]),
  ReduceMean: (b, n, ins, outs) => b.node('ReduceMean', ins, outs, [aInts('axes', n.attrs.axes), aInt('keepdims', n.attrs.keepdims ? 1 : 0)]),
  ReduceMax: (b, n, ins, outs) => b.node('ReduceMax', ins, outs, [aInts('axes', n.attrs.axes), aInt('keepdims', n.attrs.keepdims ? 1 : 0)]),
  ArgMax: (b, n, ins, outs) => b.node('ArgMax', ins, outs, [aInt('axis', n.attrs.axis), aInt('keepdims', n.attrs.keepdims ? 1 : 0)]),
  CumSum: (b, n, ins, outs) => b.node('CumSum', [ins[0]!, b.const([n.attrs.axis], 'int64', [])], outs, [aInt('exclusive', n.attrs.exclusive ? 1 : 0), aInt('reverse', n.attrs.reverse ? 1 : 0)]),
  MatMul: same('MatMul'),
  Gemm: (b, n, ins, outs) =>
    b.node('Gemm', ins, outs, [aInt('transA', n.attrs.transA ? 1 : 0), aInt('transB', n.attrs.transB ? 1 : 0), aFloat('alpha', n.attrs.alpha), aFloat('beta', n.attrs.beta)]),
  // a 0 in the target is a real zero-size axis, not ONNX's "copy this dimension"
  Reshape: (b, n, ins, outs) => b.node('Reshape', [ins[0]!, b.const(n.attrs.shape)], outs, n.attrs.shape.includes(0) ? [aInt('allowzero', 1)] : []),
  Transpose: (b, n, ins, outs) => {
    const c = canonicalTranspose(n.inputs[0]!.shape, n.attrs.perm)
    if (c.perm.length === n.attrs.perm.length) return b.node('Transpose', ins, outs, [aInts('perm', n.attrs.perm)])
    const shape = n.outputs[0]!.shape
    // the same element order with fewer axes: ONNX Runtime's Transpose is 3-5x faster on the merged
    // form ([4,10,10,6,91] -> [4,6,91,10,10] is [4,100,546] -> [4,546,100]); reshapes are free
    if (c.perm.every((p, i) => p === i)) return b.node('Reshape', [ins[0]!, b.const(shape)], outs, shape.includes(0) ? [aInt('allowzero', 1)] : [])
    const a = b.tmp()
    const t = b.tmp()
    b.node('Reshape', [ins[0]!, b.const(c.shape)], [a])
    b.node('Transpose', [a], [t], [aInts('perm', c.perm)])
    b.node('Reshape', [t, b.const(shape)], outs)
  },
  Slice: (b, n, ins, outs) => {
    const { starts, ends, axes, steps } = n.attrs
    const s = [ins[0]!, b.const(starts), b.const(ends), b.const(axes)]
    if (steps.some((v) => v !== 1)) s.push(b.const(steps))
    b.node('Slice', s, outs)
  },
  Concat: (b, n, ins, outs) => b.node('Concat', ins, outs, [aInt('axis', n.attrs.axis)]),
  Split: (b, n, ins, outs) => b.node('Split', [ins[0]!, b.const(n.attrs.sizes)], outs, [aInt('axis', n.attrs.axis)]),
  Expand: (b, n, ins, outs) => b.node('Expand', [ins[0]!, b.const(n.attrs.shape)], outs),
  Pad: (b, n, ins, outs) => b.node('Pad', [ins[0]!, b.const(n.attrs.pads), b.const([n.attrs.value], n.inputs[0]!.dtype, [])], outs, [aStr('mode', 'constant')]),
  Gather: (b, n, ins, outs) => b.node('Gather', ins, outs, [aInt('axis', n.attrs.axis)]),
  GatherElements: (b, n, ins, outs) => b.node('GatherElements', ins, outs, [aInt('axis', n.attrs.axis)]),
  ScatterElements: (b, n, ins, outs) =>
    b.node('ScatterElements', ins, outs, [aInt('axis', n.attrs.axis), ...(n.attrs.reduction === 'none' ? [] : [aStr('reduction', n.attrs.reduction)])]),
  ScatterND: (b, n, ins, outs) => b.node('ScatterND', ins, outs, n.attrs.reduction === 'none' ? [] : [aStr('reduction', n.attrs.reduction)]),
  Softmax: axis('Softmax'),
  LogSoftmax: axis('LogSoftmax'),
  LayerNormalization: (b, n, ins, outs, used) => {
    // Mean and InvStdDev are only produced when the backward pass reads them.
    const o = [outs[0]!, used(n.outputs[1]!) ? outs[1]! : '', used(n.outputs[2]!) ? outs[2]! : '']
    while (o.length > 1 && o[o.length - 1] === '') o.pop()
    b.node('LayerNormalization', ins, o, [aInt('axis', n.attrs.axis), aFloat('epsilon', n.attrs.epsilon)])
  },
  BatchNormalization: (b, n, ins, outs) => b.node('BatchNormalization', ins, outs, [aFloat('epsilon', n.attrs.epsilon)]),
  Conv: (b, n, ins, outs) =>
    b.node('Conv', ins, outs, [
      aInts('kernel_shape', n.inputs[1]!.shape.slice(2)),
      aInts('strides', n.attrs.strides),
      aInts('pads', n.attrs.pads),
      aInts('dilations', n.attrs.dilations),
      aInt('group', n.attrs.group),
    ]),
  ConvTranspose: (b, n, ins, outs) =>
    b.node('ConvTranspose', ins, outs, [
      aInts('kernel_shape', n.inputs[1]!.shape.slice(2)),
      aInts('strides', n.attrs.strides),
      aInts('pads', n.attrs.pads),
      aInts('dilations', n.attrs.dilations),
      aInt('group', n.attrs.group),
      aInts('output_padding', n.attrs.outputPadding),
    ]),
  MaxPool: (b, n, ins, outs, used) =>
    b.node('MaxPool', ins, used(n.outputs[1]!) ? outs : [outs[0]!], [aInts('kernel_shape', n.attrs.kernel), aInts('strides', n.attrs.strides), aInts('pads', n.attrs.pads)]),
  AveragePool: (b, n, ins, outs) =>
    b.node('AveragePool', ins, outs, [
      aInts('kernel_shape', n.attrs.kernel),
      aInts('strides', n.attrs.strides),
      aInts('pads', n.attrs.pads),
      aInt('count_include_pad', n.attrs.countIncludePad ? 1 : 0),
    ]),
  CtcAlpha: (b, n, ins, outs) => lowerCtcAlpha(b, ins, outs, n.inputs[0]!.shape),
  CtcBeta: (b, n, ins, outs) => lowerCtcBeta(b, ins, outs, n.inputs[0]!.shape),
  Recurrence: (b, n, ins, outs) => lowerRecurrence(b, n.attrs, ins, outs, n.inputs[0]!.shape, n.inputs[1]!.shape),
  RecurrenceGrad: (b, n, ins, outs) => lowerRecurrenceGrad(b, n.attrs, ins, outs, n.inputs[0]!.shape, n.inputs[1]!.shape),
}

/**
 * The smallest transpose with the same element order: axes of size 1 dropped, and input axes that
 * stay next to each other, in order, merged into one. Returns the merged input shape and its perm.
 */
export function canonicalTranspose(shape: readonly number[], perm: readonly number[]): { shape: number[]; perm: number[] } {
  if (shape.includes(0)) return { shape: [...shape], perm: [...perm] }
  const kept = perm.filter((a) => shape[a] !== 1)
  // runs of output positions whose input axes are consecutive
  const runs: number[][] = []
  for (const a of kept) {
    const last = runs[runs.length - 1]
    if (last && last[last.length - 1] === a - 1 - countOnesBetween(shape, last[last.length - 1]!, a)) last.push(a)
    else runs.push([a])
  }
  const byInput = [...runs].sort((x, y) => x[0]! - y[0]!)
  return {
    shape: byInput.map((r) => r.reduce((p, a) => p * shape[a]!, 1)),
    perm: runs.map((r) => byInput.indexOf(r)),
  }
}

/** How many axes strictly between `from` and `to` have size 1 (they vanish when merging). */
function countOnesBetween(shape: readonly number[], from: number, to: number): number {
  let k = 0
  for (let a = from + 1; a < to; a++) if (shape[a] === 1) k++
  return k
}

/** Lowers the part of a graph that the requested outputs need. */
export function lower(opts: LowerOptions): Lowered {
  const outs = opts.outputs
  if (outs.length === 0) throw new RuntimeError('ONNX_NO_OUTPUTS', 'a graph needs at least one output')
  const g = outs[0]!.tensor.graph
  // live nodes and inputs
  const live = new Set<number>()
  const usedTensors = new Set<number>()
  const inputsUsed = new Set<Tensor>()
  const stack = outs.map((o) => o.tensor)
  while (stack.length) {
    const t = stack.pop()!
    if (usedTensors.has(t.id)) continue
    usedTensors.add(t.id)
    if (t.source.kind === 'input') inputsUsed.add(t)
    if (t.source.kind === 'op' && !live.has(t.source.node.id)) {
      live.add(t.source.node.id)
      stack.push(...t.source.node.inputs)
    }
  }
  for (const t of opts.keepInputs ?? []) inputsUsed.add(t)
  // name op outputs directly after the first requested output name; the rest get Identity nodes
  const outNames = new Map<number, string>()
  const aliases: { from: Tensor; name: string }[] = []
  for (const o of outs) {
    if (o.tensor.source.kind === 'op' && !outNames.has(o.tensor.id)) outNames.set(o.tensor.id, o.name)
    else aliases.push({ from: o.tensor, name: o.name })
  }
  const b = new Builder(outNames)
  const inits = opts.initializers ?? new Map<Tensor, ConstData>()
  const inputs: Tensor[] = []
  for (const t of g.inputs) {
    if (!inputsUsed.has(t)) continue
    const data = inits.get(t)
    if (data) b.inits.push(tensorProto(b.name(t), data, t.shape, t.dtype))
    else inputs.push(t)
  }
  for (const n of g.nodes) {
    if (!live.has(n.id)) continue
    const ins = n.inputs.map((t) => b.name(t))
    const os = n.outputs.map((t) => b.name(t))
    ;(lowerings[n.op] as Lowering<OpName>)(b, n, ins, os, (t) => usedTensors.has(t.id))
  }
  for (const a of aliases) b.node('Identity', [b.name(a.from)], [a.name])
  // shapes forWebGpu needs: the inputs of max pools whose indices are used (it computes them), the
  // outputs of grouped convolutions (it splits some) and what the Scans of scan-ops.ts scan (it unrolls them)
  const shapesFor = g.nodes.filter((n) => live.has(n.id)).flatMap((n) => {
    if (n.op === 'MaxPool' && usedTensors.has(n.outputs[1]!.id)) return [n.inputs[0]!]
    if (n.op === 'Conv' && (n.attrs as OpAttrs['Conv']).group > 1) return [n.outputs[0]!]
    if (n.op === 'CtcAlpha' || n.op === 'CtcBeta' || n.op === 'Recurrence' || n.op === 'RecurrenceGrad') return [n.inputs[0]!]
    return []
  })
  const shaped = shapesFor.map((t) => valueInfo(b.name(t), t))
  // a constant an op's lowering replaced (binary's full-rank scalars) is left unread: ONNX Runtime
  // warns about each such initializer when a user loads the file
  const read = new Set<string>(outs.map((o) => o.name))
  const walk = (nodes: readonly NodeProtoObj[]): void => {
    for (const n of nodes) {
      for (const i of n.input) read.add(i)
      for (const a of n.attribute ?? []) if (a.g) walk(a.g.node)
    }
  }
  walk(b.nodes)
  const model: ModelProtoObj = {
    irVersion: IR_VERSION,
    opsetImport: [{ domain: '', version: OPSET }],
    producerName: 'finetune',
    producerVersion: '0.1.0',
    graph: {
      name: opts.graphName ?? 'finetune',
      node: b.nodes,
      initializer: b.inits.filter((t) => read.has(t.name ?? '')),
      input: inputs.map((t) => valueInfo(b.name(t), t)),
      output: outs.map((o) => valueInfo(o.name, o.tensor)),
      ...(shaped.length ? { valueInfo: shaped } : {}),
    },
    metadataProps: Object.entries(opts.metadata ?? {}).map(([key, value]) => ({ key, value })),
  }
  return { model, inputs, bytes: () => encodeModel(model) }
}
