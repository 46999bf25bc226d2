/**
 * The primitive ops of the graph IR and their shape/dtype inference. Each is close to the ONNX op of
 * the same name, with attributes normalised at trace time (axes non-negative, shapes concrete), so
 * lowering is nearly 1:1 and the reference interpreter and the vjp rules see one canonical form.
 * Adding an op: a spec here, a lowering in onnx/lower.ts, a kernel in runtime/reference.ts and a
 * rule in autodiff/rules.ts; the `satisfies` clauses there make a missing one a compile error.
 */
import { GraphError } from '../errors.js'
import type { DType } from './dtype.js'
import { isFloat } from './dtype.js'
import { broadcastShapes, fmt, size, type Shape } from './shape.js'

export interface TensorInfo {
  readonly shape: Shape
  readonly dtype: DType
}

type Empty = Record<string, never>
export type Reduction = 'none' | 'add'

export interface OpAttrs {
  Identity: Empty
  /** The identity whose gradient is zero (torch's detach; an Embedding's padding_idx row). */
  StopGradient: Empty
  Neg: Empty
  Exp: Empty
  Log: Empty
  Sqrt: Empty
  Reciprocal: Empty
  Abs: Empty
  Tanh: Empty
  Erf: Empty
  Gelu: Empty
  Sigmoid: Empty
  Relu: Empty
  Sign: Empty
  Sin: Empty
  Cos: Empty
  Not: Empty
  Add: Empty
  Sub: Empty
  Mul: Empty
  Div: Empty
  Pow: Empty
  Max: Empty
  Min: Empty
  Equal: Empty
  Less: Empty
  Greater: Empty
  LessOrEqual: Empty
  GreaterOrEqual: Empty
  And: Empty
  Or: Empty
  Where: Empty
  Cast: { to: DType }
  Clip: { min: number; max: number }
  ReduceSum: { axes: readonly number[]; keepdims: boolean }
  ReduceSumSquare: { axes: readonly number[]; keepdims: boolean }
  ReduceMean: { axes: readonly number[]; keepdims: boolean }
  ReduceMax: { axes: readonly number[]; keepdims: boolean }
  ArgMax: { axis: number; keepdims: boolean }
  CumSum: { axis: number; reverse: boolean; exclusive: boolean }
  MatMul: Empty
  Gemm: { transA: boolean; transB: boolean; alpha: number; beta: number }
  Reshape: { shape: readonly number[] }
  Transpose: { perm: readonly number[] }
  Slice: { starts: readonly number[]; ends: readonly number[]; axes: readonly number[]; steps: readonly number[] }
  Concat: { axis: number }
  Split: { axis: number; sizes: readonly number[] }
  Expand: { shape: readonly number[] }
  Pad: { pads: readonly number[]; value: number }
  Gather: { axis: number }
  GatherElements: { axis: number }
  ScatterElements: { axis: number; reduction: Reduction }
  ScatterND: { reduction: Reduction }
  Softmax: { axis: number }
  LogSoftmax: { axis: number }
  LayerNormalization: { axis: number; epsilon: number }
  /** batchStats: mean and var are x's own batch statistics (training); the gradient then covers them */
  BatchNormalization: { epsilon: number; batchStats?: boolean }
  Conv: { strides: readonly number[]; pads: readonly number[]; dilations: readonly number[]; group: number }
  ConvTranspose: {
    strides: readonly number[]
    pads: readonly number[]
    dilations: readonly number[]
    group: number
    outputPadding: readonly number[]
  }
  MaxPool: { kernel: readonly number[]; strides: readonly number[]; pads: readonly number[] }
  AveragePool: { kernel: readonly number[]; strides: readonly number[]; pads: readonly number[]; countIncludePad: boolean }
  /**
   * CTC's forward recursion in log space (graph/ctc.ts): inputs emit (B, T, S), skip (B, S), live
   * (B, T) and ends (B, S), all float; outputs the log-likelihood (B) and every alpha (B, T, S).
   */
  CtcAlpha: Empty
  /** CTC's backward recursion (the gradient of CtcAlpha): emit, skip, live, last (B, T), ends -> beta (B, T, S). */
  CtcBeta: Empty
  /**
   * A GRU or LSTM direction over the frames (graph/rnn.ts): inputs the input projection (B, T, G·H),
   * weight_hh (G·H, H), bias_hh (G·H) and mask (B, T); outputs the hidden states (B, T, H) (zero on
   * padded frames), the state before each frame (B, T, H) and what the backward pass reads
   * (B, T, 4H for a GRU: r, z, n, hn; 6H for an LSTM: i, f, g, o, c before, tanh c after).
   */
  Recurrence: { kind: 'gru' | 'lstm'; reverse: boolean }
  /** Backpropagation through a Recurrence: d hidden states, weight_hh, mask, states before, saved -> d input projection, d hidden projection (B, T, G·H). */
  RecurrenceGrad: { kind: 'gru' | 'lstm'; reverse: boolean }
}

export type OpName = keyof OpAttrs

export interface OpSpec<K extends OpName> {
  /** Number of outputs (fixed per op, or computed from attributes). */
  outputs?: (attrs: OpAttrs[K]) => number
  infer(inputs: readonly TensorInfo[], attrs: OpAttrs[K]): TensorInfo[]
}

const err = (op: string, msg: string, hint?: string): GraphError => new GraphError('GRAPH_SHAPE', `${op}: ${msg}`, hint)

function need(op: string, inputs: readonly TensorInfo[], n: number, m = n): void {
  if (inputs.length < n || inputs.length > m) throw err(op, `expects ${n === m ? n : `${n}-${m}`} inputs, got ${inputs.length}`)
}

function needFloat(op: string, t: TensorInfo, which = 'input'): void {
  if (!isFloat(t.dtype)) throw err(op, `${which} must be float32, got ${t.dtype}`, 'cast it with .cast("float32")')
}

const unaryFloat = <K extends OpName>(op: K): OpSpec<K> => ({
  infer(inputs) {
    need(op, inputs, 1)
    needFloat(op, inputs[0]!)
    return [inputs[0]!]
  },
})

function binary<K extends OpName>(op: K, out?: DType): OpSpec<K> {
  return {
    infer(inputs) {
      need(op, inputs, 2)
      const [a, b] = inputs as [TensorInfo, TensorInfo]
      if (a.dtype !== b.dtype) throw err(op, `dtypes differ: ${a.dtype} ${fmt(a.shape)} and ${b.dtype} ${fmt(b.shape)}`, 'cast one operand')
      return [{ shape: broadcastShapes(op, [a.shape, b.shape]), dtype: out ?? a.dtype }]
    },
  }
}

function reduce<K extends 'ReduceSum' | 'ReduceSumSquare' | 'ReduceMean' | 'ReduceMax'>(op: K): OpSpec<K> {
  return {
    infer(inputs, { axes, keepdims }) {
      need(op, inputs, 1)
      const x = inputs[0]!
      const shape: number[] = []
      x.shape.forEach((d, i) => {
        if (axes.includes(i)) {
          if (keepdims) shape.push(1)
        } else shape.push(d)
      })
      if (op === 'ReduceMax' && axes.some((a) => x.shape[a] === 0)) throw err(op, `cannot take the max over an empty axis of ${fmt(x.shape)}`)
      return [{ shape, dtype: x.dtype }]
    },
  }
}

function poolOut(op: string, x: Shape, kernel: readonly number[], strides: readonly number[], pads: readonly number[], dil?: readonly number[]): number[] {
  const nd = kernel.length
  if (x.length !== nd + 2) throw err(op, `expects input (N, C, ${'spatial'.repeat(1)}...) of rank ${nd + 2}, got ${fmt(x)}`)
  const out = [x[0]!, x[1]!]
  for (let i = 0; i < nd; i++) {
    const d = dil?.[i] ?? 1
    const eff = d * (kernel[i]! - 1) + 1
    const n = Math.floor((x[i + 2]! + pads[i]! + pads[i + nd]! - eff) / strides[i]!) + 1
    if (n < 1) throw err(op, `kernel ${fmt(kernel)} with pads ${fmt(pads)} does not fit input ${fmt(x)}`)
    out.push(n)
  }
  return out
}

export const opSpecs: { [K in OpName]: OpSpec<K> } = {
  Identity: { infer: (i) => (need('Identity', i, 1), [i[0]!]) },
  StopGradient: { infer: (i) => (need('StopGradient', i, 1), [i[0]!]) },
  Neg: { infer: (i) => (need('Neg', i, 1), [i[0]!]) },
  Abs: { infer: (i) => (need('Abs', i, 1), [i[0]!]) },
  Sign: { infer: (i) => (need('Sign', i, 1), [i[0]!]) },
  Exp: unaryFloat('Exp'),
  Log: unaryFloat('Log'),
  Sqrt: unaryFloat('Sqrt'),
  Reciprocal: unaryFloat('Reciprocal'),
  Tanh: unaryFloat('Tanh'),
  Erf: unaryFloat('Erf'),
  // exact GELU for training graphs: outputs y = x * phi, u = x / sqrt(2) and phi = (1 + erf(u)) / 2,
  // the last two kept for the backward pass (lowered to Div, Erf, Add, Mul, Mul)
  Gelu: {
    outputs: () => 3,
    infer(i) {
      need('Gelu', i, 1)
      needFloat('Gelu', i[0]!)
      return [i[0]!, i[0]!, i[0]!]
    },
  },
  Sigmoid: unaryFloat('Sigmoid'),
  Relu: unaryFloat('Relu'),
  Sin: unaryFloat('Sin'),
  Cos: unaryFloat('Cos'),
  Not: {
    infer(i) {
      need('Not', i, 1)
      if (i[0]!.dtype !== 'bool') throw err('Not', `input must be bool, got ${i[0]!.dtype}`)
      return [i[0]!]
    },
  },
  Add: binary('Add'),
  Sub: binary('Sub'),
  Mul: binary('Mul'),
  Div: binary('Div'),
  Pow: binary('Pow'),
  Max: binary('Max'),
  Min: binary('Min'),
  Equal: binary('Equal', 'bool'),
  Less: binary('Less', 'bool'),
  Greater: binary('Greater', 'bool'),
  LessOrEqual: binary('LessOrEqual', 'bool'),
  GreaterOrEqual: binary('GreaterOrEqual', 'bool'),
  And: binary('And', 'bool'),
  Or: binary('Or', 'bool'),
  Where: {
    infer(inputs) {
      need('Where', inputs, 3)
      const [c, a, b] = inputs as [TensorInfo, TensorInfo, TensorInfo]
      if (c.dtype !== 'bool') throw err('Where', `condition must be bool, got ${c.dtype}`)
      if (a.dtype !== b.dtype) throw err('Where', `branches differ in dtype: ${a.dtype} and ${b.dtype}`)
      return [{ shape: broadcastShapes('Where', [c.shape, a.shape, b.shape]), dtype: a.dtype }]
    },
  },
  Cast: { infer: (i, { to }) => (need('Cast', i, 1), [{ shape: i[0]!.shape, dtype: to }]) },
  Clip: { infer: (i) => (need('Clip', i, 1), [i[0]!]) },
  ReduceSum: reduce('ReduceSum'),
  ReduceSumSquare: reduce('ReduceSumSquare'),
  ReduceMean: reduce('ReduceMean'),
  ReduceMax: reduce('ReduceMax'),
  ArgMax: {
    infer(i, { axis, keepdims }) {
      need('ArgMax', i, 1)
      const shape = i[0]!.shape.flatMap((d, k) => (k === axis ? (keepdims ? [1] : []) : [d]))
      return [{ shape, dtype: 'int64' }]
    },
  },
  CumSum: { infer: (i) => (need('CumSum', i, 1), [i[0]!]) },
  MatMul: {
    infer(inputs) {
      need('MatMul', inputs, 2)
      const [a, b] = inputs as [TensorInfo, TensorInfo]
      needFloat('MatMul', a)
      if (a.dtype !== b.dtype) throw err('MatMul', `dtypes differ: ${a.dtype} and ${b.dtype}`)
      if (a.shape.length < 2 || b.shape.length < 2) throw err('MatMul', `operands need rank >= 2, got ${fmt(a.shape)} @ ${fmt(b.shape)}`, 'reshape vectors to matrices')
      const [m, k] = a.shape.slice(-2) as [number, number]
      const [k2, n] = b.shape.slice(-2) as [number, number]
      if (k !== k2) throw err('MatMul', `inner dimensions differ: ${fmt(a.shape)} @ ${fmt(b.shape)} (${k} vs ${k2})`)
      const batch = broadcastShapes('MatMul', [a.shape.slice(0, -2), b.shape.slice(0, -2)])
      return [{ shape: [...batch, m, n], dtype: a.dtype }]
    },
  },
  Gemm: {
    infer(inputs, { transA, transB }) {
      need('Gemm', inputs, 2, 3)
      const [a, b, c] = inputs as [TensorInfo, TensorInfo, TensorInfo | undefined]
      if (a.shape.length !== 2 || b.shape.length !== 2) throw err('Gemm', `operands must be matrices, got ${fmt(a.shape)} and ${fmt(b.shape)}`)
      const [m, k] = transA ? [a.shape[1]!, a.shape[0]!] : [a.shape[0]!, a.shape[1]!]
      const [k2, n] = transB ? [b.shape[1]!, b.shape[0]!] : [b.shape[0]!, b.shape[1]!]
      if (k !== k2) throw err('Gemm', `inner dimensions differ: ${fmt(a.shape)}${transA ? 'ᵀ' : ''} @ ${fmt(b.shape)}${transB ? 'ᵀ' : ''}`)
      if (c) broadcastShapes('Gemm', [c.shape, [m, n]])
      return [{ shape: [m, n], dtype: a.dtype }]
    },
  },
  Reshape: {
    infer(i, { shape }) {
      need('Reshape', i, 1)
      if (size(shape) !== size(i[0]!.shape)) throw err('Reshape', `cannot reshape ${fmt(i[0]!.shape)} (${size(i[0]!.shape)} elements) to ${fmt(shape)} (${size(shape)})`)
      return [{ shape, dtype: i[0]!.dtype }]
    },
  },
  Transpose: {
    infer(i, { perm }) {
      need('Transpose', i, 1)
      const s = i[0]!.shape
      if (perm.length !== s.length || [...perm].sort((a, b) => a - b).some((p, k) => p !== k)) throw err('Transpose', `perm [${perm.join(', ')}] is not a permutation of the axes of ${fmt(s)}`)
      return [{ shape: perm.map((p) => s[p]!), dtype: i[0]!.dtype }]
    },
  },
  Slice: {
    infer(i, { starts, ends, axes, steps }) {
      need('Slice', i, 1)
      const shape = [...i[0]!.shape]
      axes.forEach((a, k) => {
        const st = steps[k]!
        shape[a] = Math.max(0, Math.ceil((ends[k]! - starts[k]!) / st))
      })
      return [{ shape, dtype: i[0]!.dtype }]
    },
  },
  Concat: {
    infer(inputs, { axis }) {
      if (inputs.length === 0) throw err('Concat', 'needs at least one input')
      const first = inputs[0]!
      let total = 0
      for (const t of inputs) {
        if (t.dtype !== first.dtype || t.shape.length !== first.shape.length || t.shape.some((d, k) => k !== axis && d !== first.shape[k]))
          throw err('Concat', `inputs disagree off axis ${axis}: ${inputs.map((x) => `${x.dtype}${fmt(x.shape)}`).join(', ')}`)
        total += t.shape[axis]!
      }
      const shape = [...first.shape]
      shape[axis] = total
      return [{ shape, dtype: first.dtype }]
    },
  },
  Split: {
    outputs: ({ sizes }) => sizes.length,
    infer(i, { axis, sizes }) {
      need('Split', i, 1)
      const s = i[0]!.shape
      if (sizes.reduce((a, b) => a + b, 0) !== s[axis]) throw err('Split', `sizes [${sizes.join(', ')}] do not add up to axis ${axis} of ${fmt(s)}`)
      return sizes.map((n) => ({ shape: s.map((d, k) => (k === axis ? n : d)), dtype: i[0]!.dtype }))
    },
  },
  Expand: {
    infer(i, { shape }) {
      need('Expand', i, 1)
      const out = broadcastShapes('Expand', [i[0]!.shape, shape])
      return [{ shape: out, dtype: i[0]!.dtype }]
    },
  },
  Pad: {
    infer(i, { pads }) {
      need('Pad', i, 1)
      const s = i[0]!.shape
      if (pads.length !== 2 * s.length) throw err('Pad', `pads need ${2 * s.length} entries for ${fmt(s)}, got ${pads.length}`)
      return [{ shape: s.map((d, k) => d + pads[k]! + pads[k + s.length]!), dtype: i[0]!.dtype }]
    },
  },
  Gather: {
    infer(inputs, { axis }) {
      need('Gather', inputs, 2)
      const [x, idx] = inputs as [TensorInfo, TensorInfo]
      if (idx.dtype !== 'int64') throw err('Gather', `indices must be int64, got ${idx.dtype}`)
      return [{ shape: [...x.shape.slice(0, axis), ...idx.shape, ...x.shape.slice(axis + 1)], dtype: x.dtype }]
    },
  },
  GatherElements: {
    infer(inputs, { axis }) {
      need('GatherElements', inputs, 2)
      const [x, idx] = inputs as [TensorInfo, TensorInfo]
      if (idx.dtype !== 'int64') throw err('GatherElements', `indices must be int64, got ${idx.dtype}`)
      if (idx.shape.length !== x.shape.length || idx.shape.some((d, k) => k !== axis && d > x.shape[k]!))
        throw err('GatherElements', `indices ${fmt(idx.shape)} do not fit data ${fmt(x.shape)} on axis ${axis}`)
      return [{ shape: idx.shape, dtype: x.dtype }]
    },
  },
  ScatterElements: {
    infer(inputs) {
      need('ScatterElements', inputs, 3)
      const [x, idx, upd] = inputs as [TensorInfo, TensorInfo, TensorInfo]
      if (idx.dtype !== 'int64' || idx.shape.join() !== upd.shape.join()) throw err('ScatterElements', `indices ${idx.dtype}${fmt(idx.shape)} and updates ${fmt(upd.shape)} must be int64 of equal shape`)
      return [x]
    },
  },
  ScatterND: {
    infer(inputs) {
      need('ScatterND', inputs, 3)
      const [x, idx, upd] = inputs as [TensorInfo, TensorInfo, TensorInfo]
      const k = idx.shape[idx.shape.length - 1]!
      const want = [...idx.shape.slice(0, -1), ...x.shape.slice(k)]
      if (idx.dtype !== 'int64' || want.join() !== upd.shape.join()) throw err('ScatterND', `updates ${fmt(upd.shape)} must have shape ${fmt(want)} for indices ${fmt(idx.shape)} into ${fmt(x.shape)}`)
      return [x]
    },
  },
  Softmax: { infer: (i) => (need('Softmax', i, 1), needFloat('Softmax', i[0]!), [i[0]!]) },
  LogSoftmax: { infer: (i) => (need('LogSoftmax', i, 1), needFloat('LogSoftmax', i[0]!), [i[0]!]) },
  LayerNormalization: {
    outputs: () => 3,
    infer(inputs, { axis }) {
      need('LayerNormalization', inputs, 2, 3)
      const [x, w, b] = inputs as [TensorInfo, TensorInfo, TensorInfo | undefined]
      const norm = x.shape.slice(axis)
      if (w.shape.join() !== norm.join() || (b && b.shape.join() !== norm.join()))
        throw err('LayerNormalization', `weight ${fmt(w.shape)}${b ? ` and bias ${fmt(b.shape)}` : ''} must have the normalised shape ${fmt(norm)} of input ${fmt(x.shape)}`)
      const stat = x.shape.map((d, k) => (k < axis ? d : 1))
      return [x, { shape: stat, dtype: 'float32' }, { shape: stat, dtype: 'float32' }]
    },
  },
  BatchNormalization: {
    infer(inputs) {
      need('BatchNormalization', inputs, 5)
      const [x, ...rest] = inputs as [TensorInfo, ...TensorInfo[]]
      const c = x.shape[1]
      if (rest.some((t) => t.shape.length !== 1 || t.shape[0] !== c)) throw err('BatchNormalization', `scale, bias, mean and var must be [${c}] for input ${fmt(x.shape)}, got ${rest.map((t) => fmt(t.shape)).join(', ')}`)
      return [x]
    },
  },
  Conv: {
    infer(inputs, { strides, pads, dilations, group }) {
      need('Conv', inputs, 2, 3)
      const [x, w, b] = inputs as [TensorInfo, TensorInfo, TensorInfo | undefined]
      if (x.shape.length !== w.shape.length) throw err('Conv', `input ${fmt(x.shape)} and weight ${fmt(w.shape)} differ in rank`)
      if (x.shape[1] !== w.shape[1]! * group) throw err('Conv', `input has ${x.shape[1]} channels but weight ${fmt(w.shape)} with group=${group} expects ${w.shape[1]! * group}`)
      if (w.shape[0]! % group !== 0) throw err('Conv', `output channels ${w.shape[0]} are not divisible by group=${group}`)
      if (b && (b.shape.length !== 1 || b.shape[0] !== w.shape[0])) throw err('Conv', `bias ${fmt(b.shape)} must be [${w.shape[0]}]`)
      const out = poolOut('Conv', x.shape, w.shape.slice(2), strides, pads, dilations)
      out[1] = w.shape[0]!
      return [{ shape: out, dtype: x.dtype }]
    },
  },
  ConvTranspose: {
    infer(inputs, { strides, pads, dilations, group, outputPadding }) {
      need('ConvTranspose', inputs, 2, 3)
      const [x, w] = inputs as [TensorInfo, TensorInfo]
      if (x.shape[1] !== w.shape[0]) throw err('ConvTranspose', `input has ${x.shape[1]} channels, weight ${fmt(w.shape)} expects ${w.shape[0]}`)
      const nd = x.shape.length - 2
      const out = [x.shape[0]!, w.shape[1]! * group]
      for (let i = 0; i < nd; i++) {
        out.push(strides[i]! * (x.shape[i + 2]! - 1) + outputPadding[i]! + (w.shape[i + 2]! - 1) * dilations[i]! + 1 - pads[i]! - pads[i + nd]!)
      }
      return [{ shape: out, dtype: x.dtype }]
    },
  },
  MaxPool: {
    outputs: () => 2,
    infer(i, { kernel, strides, pads }) {
      need('MaxPool', i, 1)
      const out = poolOut('MaxPool', i[0]!.shape, kernel, strides, pads)
      return [{ shape: out, dtype: i[0]!.dtype }, { shape: out, dtype: 'int64' }]
    },
  },
  AveragePool: {
    infer(i, { kernel, strides, pads }) {
      need('AveragePool', i, 1)
      return [{ shape: poolOut('AveragePool', i[0]!.shape, kernel, strides, pads), dtype: i[0]!.dtype }]
    },
  },
  CtcAlpha: {
    outputs: () => 2,
    infer(i) {
      const [B] = ctcShapes('CtcAlpha', i, ['emit', 'skip', 'live', 'ends'])
      return [{ shape: [B], dtype: 'float32' }, { shape: i[0]!.shape, dtype: 'float32' }]
    },
  },
  CtcBeta: {
    infer(i) {
      ctcShapes('CtcBeta', i, ['emit', 'skip', 'live', 'last', 'ends'])
      return [{ shape: i[0]!.shape, dtype: 'float32' }]
    },
  },
  Recurrence: {
    outputs: () => 3,
    infer(i, { kind }) {
      need('Recurrence', i, 4)
      const [B, T, GH, H] = rnnShapes('Recurrence', i, kind, i[0]!, i[1]!, i[3]!)
      if (i[0]!.shape[2] !== GH || i[2]!.shape.join() !== String(GH)) throw err('Recurrence', `the projection's last axis and bias_hh must be ${GH}, got ${fmt(i[0]!.shape)} and ${fmt(i[2]!.shape)}`)
      const f = (d: number): TensorInfo => ({ shape: [B, T, d], dtype: 'float32' })
      return [f(H), f(H), f((kind === 'gru' ? 4 : 6) * H)]
    },
  },
  RecurrenceGrad: {
    outputs: () => 2,
    infer(i, { kind }) {
      need('RecurrenceGrad', i, 5)
      const [B, T, GH] = rnnShapes('RecurrenceGrad', i, kind, { shape: [i[0]!.shape[0]!, i[0]!.shape[1]!, 0], dtype: 'float32' }, i[1]!, i[2]!)
      return [{ shape: [B, T, GH], dtype: 'float32' }, { shape: [B, T, GH], dtype: 'float32' }]
    },
  },
}

/** (B, T, G·H, H) of a Recurrence's input projection and weight_hh, checked. */
function rnnShapes(op: string, i: readonly TensorInfo[], kind: 'gru' | 'lstm', projection: TensorInfo, whh: TensorInfo, mask: TensorInfo): [number, number, number, number] {
  for (const t of i) needFloat(op, t)
  if (projection.shape.length !== 3 || whh.shape.length !== 2) throw err(op, `want (B, T, G·H) and weight_hh (G·H, H), got ${fmt(projection.shape)} and ${fmt(whh.shape)}`)
  const [B, T] = projection.shape as [number, number, number]
  const [GH, H] = whh.shape as [number, number]
  if (GH !== (kind === 'gru' ? 3 : 4) * H) throw err(op, `a ${kind}'s weight_hh is (${kind === 'gru' ? 3 : 4}·H, H), got ${fmt(whh.shape)}`)
  if (mask.shape.join() !== `${B},${T}`) throw err(op, `mask must be [${B}, ${T}], got ${fmt(mask.shape)}`)
  return [B, T, GH, H]
}

/** Checks CtcAlpha/CtcBeta inputs: emit (B, T, S), then (B, S) skip/ends and (B, T) live/last, all float32. */
function ctcShapes(op: string, i: readonly TensorInfo[], names: readonly string[]): [number, number, number] {
  need(op, i, names.length)
  const e = i[0]!.shape
  if (e.length !== 3) throw err(op, `emit must be (batch, frames, states), got ${fmt(e)}`)
  const [B, T, S] = e as [number, number, number]
  names.forEach((n, k) => {
    needFloat(op, i[k]!, n)
    const want = k === 0 ? e : n === 'skip' || n === 'ends' ? [B, S] : [B, T]
    if (i[k]!.shape.join() !== want.join()) throw err(op, `${n} must be ${fmt(want)}, got ${fmt(i[k]!.shape)}`)
  })
  return [B, T, S]
}

/** Ops whose outputs are not differentiable (comparisons, casts to ints, index outputs). */
export const nonDifferentiable: ReadonlySet<OpName> = new Set<OpName>([
  'Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual', 'And', 'Or', 'Not', 'ArgMax', 'Sign',
])
