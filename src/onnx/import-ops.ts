/**
 * ONNX ops as traced IR: elementwise math, shapes, indexing, reductions, matrix products. Each
 * entry reads its node through OpCtx and returns its outputs; an op whose inputs are all known at
 * trace time is folded by the importer (run on constants and evaluated), so shape arithmetic such
 * as Shape -> Gather -> Concat -> Reshape never reaches the graph. nn-style ops live in import-nn.ts.
 */
import { concat, Tensor, where } from '../graph/graph.js'
import { broadcastShapes, normAxes, normAxis, size } from '../graph/shape.js'
import { isTensor, type OpCtx, type Value } from './import-context.js'
import { elemType, hostValue, irDType, type HostValue } from './import-tensor.js'

export type OpImpl = (c: OpCtx) => Value[]

const one = (f: (c: OpCtx) => Value): OpImpl => (c) => [f(c)]
const unary = (f: (x: Tensor) => Tensor): OpImpl => one((c) => f(c.t(0)))
const binary = (f: (a: Tensor, b: Tensor) => Tensor): OpImpl => one((c) => f(c.t(0), c.t(1)))

/** An op that only ever runs on values known at trace time (rounding, modulo, NonZero on shapes). */
const hostOnly = (f: (xs: HostValue[], c: OpCtx) => HostValue): OpImpl => (c) => {
  if (c.inputs.some((v) => v && (isTensor(v) || v.param)))
    c.fail('ONNX_UNSUPPORTED_OP', 'is only supported on values known while tracing (shape arithmetic), not on tensors computed from the inputs or weights', 'it has no gradient; remove it from the trainable path')
  const xs = c.inputs.map((_, i) => c.c(i))
  return [f(xs, c)]
}
const hostMap = (f: (...v: number[]) => number): ((xs: HostValue[]) => HostValue) => (xs) => {
  const shape = broadcastShapes('host', xs.map((x) => x.shape))
  const n = size(shape)
  const out = new Array<number>(n)
  const idx = xs.map((x) => {
    const off = shape.length - x.shape.length
    return (i: number): number => {
      let src = 0
      let rem = i
      let stride = n
      for (let k = 0; k < shape.length; k++) {
        stride /= shape[k]!
        const cidx = Math.floor(rem / stride)
        rem -= cidx * stride
        const fk = k - off
        if (fk >= 0) src = src * x.shape[fk]! + (x.shape[fk] === 1 ? 0 : cidx)
      }
      return src
    }
  })
  for (let i = 0; i < n; i++) out[i] = f(...xs.map((x, k) => Number(x.data[idx[k]!(i)])))
  return hostValue(xs[0]!.dtype, shape, out)
}

/** Variadic broadcasting op (Max, Min, Sum, Mean). */
const variadic = (f: (a: Tensor, b: Tensor) => Tensor, mean = false): OpImpl =>
  one((c) => {
    let acc = c.t(0)
    for (let i = 1; i < c.count; i++) acc = f(acc, c.t(i))
    return mean ? acc.mul(1 / c.count) : acc
  })

function axesOf(c: OpCtx, inputFrom: number, index = 1): number[] | undefined {
  return c.opset >= inputFrom ? c.nums(index) : c.ints('axes')
}

/** A Gather with constant indices (used for reversal, reflection and nearest resizing). */
export function gatherConst(x: Tensor, axis: number, idx: readonly number[]): Tensor {
  if (idx.length === x.shape[axis] && idx.every((v, i) => v === i)) return x
  return x.gather(x.graph.constant(idx, [idx.length], 'int64'), axis)
}

function reduce(kind: 'sum' | 'mean' | 'max' | 'min' | 'sumsq' | 'l1' | 'l2' | 'logsum' | 'logsumexp'): OpImpl {
  return one((c) => {
    const x = c.t(0)
    const inputFrom = kind === 'sum' ? 13 : 18
    const axes = axesOf(c, inputFrom)
    const keep = c.int('keepdims', 1) === 1
    const noop = c.int('noop_with_empty_axes', 0) === 1
    if ((axes === undefined || axes.length === 0) && noop) return x
    const ax = axes && axes.length ? normAxes(c.node.opType, axes, x.rank) : undefined
    switch (kind) {
      case 'sum': return x.sum(ax, keep)
      case 'mean': return x.mean(ax, keep)
      case 'max': return x.max(ax, keep)
      case 'min': return x.neg().max(ax, keep).neg()
      case 'sumsq': return x.sumSquares(ax, keep)
      case 'l1': return x.abs().sum(ax, keep)
      case 'l2': return x.sumSquares(ax, keep).sqrt()
      case 'logsum': return x.sum(ax, keep).log()
      case 'logsumexp': {
        const m = x.max(ax, true)
        const s = x.sub(m).exp().sum(ax, true).log().add(m)
        return keep ? s : s.reshape(x.shape.filter((_, i) => !(ax ?? x.shape.map((_, k) => k)).includes(i)))
      }
    }
  })
}

function softmax(log: boolean): OpImpl {
  return one((c) => {
    const x = c.t(0)
    const f = (t: Tensor, a: number): Tensor => (log ? t.logSoftmax(a) : t.softmax(a))
    if (c.opset >= 13) return f(x, normAxis(c.node.opType, c.int('axis', -1), x.rank))
    // before opset 13 the input is coerced to 2-D at `axis` and normalised over the flattened tail
    const a = normAxis(c.node.opType, c.int('axis', 1), x.rank)
    if (a === x.rank - 1) return f(x, a)
    const lead = size(x.shape.slice(0, a))
    return f(x.reshape([lead, size(x.shape.slice(a))]), 1).reshape(x.shape)
  })
}

function reshapeTarget(c: OpCtx, from: readonly number[], to: readonly number[], allowZero: boolean): number[] {
  const s = to.map((d, i) => (d === 0 && !allowZero ? from[i]! : d))
  const known = s.reduce((a, d) => (d === -1 ? a : a * d), 1)
  const n = size(from)
  const out = s.map((d) => (d === -1 ? (known === 0 ? 0 : n / known) : d))
  if (size(out) !== n || out.some((d) => !Number.isInteger(d) || d < 0)) c.fail('ONNX_SHAPE', `cannot reshape [${from.join(', ')}] to [${to.join(', ')}]`)
  return out
}

function slice(c: OpCtx): Value {
  let x = c.t(0)
  let starts: number[], ends: number[], axes: number[] | undefined, steps: number[] | undefined
  if (c.opset < 10) {
    starts = c.ints('starts') ?? []
    ends = c.ints('ends') ?? []
    axes = c.ints('axes')
  } else {
    starts = c.nums(1) ?? []
    ends = c.nums(2) ?? []
    axes = c.nums(3)
    steps = c.nums(4)
  }
  const ax = (axes ?? starts.map((_, i) => i)).map((a) => normAxis('Slice', a, x.rank))
  ax.forEach((a, k) => {
    const n = x.shape[a]!
    const st = steps?.[k] ?? 1
    if (st === 0) c.fail('ONNX_SLICE', 'a step of 0')
    let s = starts[k]!
    let e = ends[k]!
    if (s < 0) s += n
    if (e < 0) e += n
    if (st > 0) {
      x = x.slice(a, Math.min(Math.max(s, 0), n), Math.min(Math.max(e, 0), n), st)
    } else {
      s = Math.min(Math.max(s, 0), n - 1)
      e = Math.min(Math.max(e, -1), n - 1)
      const idx: number[] = []
      for (let i = s; i > e; i += st) idx.push(i)
      x = gatherConst(x, a, idx)
    }
  })
  return x
}

function split(c: OpCtx): Value[] {
  const x = c.t(0)
  const a = normAxis('Split', c.int('axis', 0), x.rank)
  const n = x.shape[a]!
  let sizes = c.opset >= 13 ? c.nums(1) : c.ints('split')
  const parts = c.opset >= 18 && c.hasAttr('num_outputs') ? c.int('num_outputs', 0) : c.node.output.length
  if (!sizes || sizes.length === 0) {
    const each = Math.ceil(n / parts)
    sizes = Array.from({ length: parts }, (_, i) => Math.max(Math.min(each, n - i * each), 0))
  }
  if (sizes.reduce((s, v) => s + v, 0) !== n) c.fail('ONNX_SHAPE', `split sizes [${sizes.join(', ')}] do not add up to ${n}`)
  if (sizes.length === 1) return [x]
  return x.graph.emit('Split', [x], { axis: a, sizes })
}

function pad(c: OpCtx): Value {
  let x = c.t(0)
  const mode = c.str('mode', 'constant')
  let pads = (c.opset >= 11 ? c.nums(1) : c.ints('pads')) ?? []
  const value = c.opset >= 11 ? (c.nums(2)?.[0] ?? 0) : c.float('value', 0)
  const axes = c.opset >= 18 ? c.nums(3) : undefined
  const r = x.rank
  if (axes) {
    const full = new Array<number>(2 * r).fill(0)
    axes.forEach((a, k) => {
      const ax = normAxis('Pad', a, r)
      full[ax] = pads[k]!
      full[ax + r] = pads[k + axes.length]!
    })
    pads = full
  }
  if (pads.length !== 2 * r) c.fail('ONNX_SHAPE', `pads has ${pads.length} entries for a rank-${r} input`)
  // negative pads crop
  for (let i = 0; i < r; i++) {
    const b = pads[i]!
    const e = pads[i + r]!
    if (b < 0 || e < 0) x = x.slice(i, Math.max(-b, 0), x.shape[i]! - Math.max(-e, 0))
  }
  const pos = pads.map((p) => Math.max(p, 0))
  if (mode === 'constant') return x.pad(Array.from({ length: r }, (_, i) => [pos[i]!, pos[i + r]!] as [number, number]), value)
  if (mode !== 'reflect' && mode !== 'edge' && mode !== 'wrap') c.unsupported(`mode "${mode}"`, 'use constant, reflect, edge or wrap')
  for (let i = 0; i < r; i++) {
    const b = pos[i]!
    const e = pos[i + r]!
    if (!b && !e) continue
    const n = x.shape[i]!
    const idx: number[] = []
    for (let k = -b; k < n + e; k++) {
      let j = k
      if (mode === 'edge') j = Math.min(Math.max(j, 0), n - 1)
      else if (mode === 'wrap') j = ((j % n) + n) % n
      else if (n === 1) j = 0
      else while (j < 0 || j >= n) j = j < 0 ? -j : 2 * (n - 1) - j
      idx.push(j)
    }
    x = gatherConst(x, i, idx)
  }
  return x
}

function matmul(a: Tensor, b: Tensor): Tensor {
  const a2 = a.rank === 1 ? a.unsqueeze(0) : a
  const b2 = b.rank === 1 ? b.unsqueeze(-1) : b
  let y = a2.matmul(b2)
  if (a.rank === 1) y = y.squeeze(-2)
  if (b.rank === 1) y = y.squeeze(-1)
  return y
}

function expand(x: Tensor, shape: readonly number[]): Tensor {
  const out = broadcastShapes('Expand', [x.shape, shape])
  if (out.join() === x.shape.join()) return x
  return x.graph.emit('Expand', [x], { shape: out })[0]!
}

function clip(c: OpCtx): Value {
  const x = c.t(0)
  if (c.opset < 11) return x.clip(c.float('min', -Infinity), c.float('max', Infinity))
  let y = x
  let lo = -Infinity
  let hi = Infinity
  const bound = (i: number, f: (t: Tensor) => void, set: (v: number) => void): void => {
    if (!c.has(i)) return
    const v = c.value(i)
    if (isTensor(v) || v.param) f(c.t(i))
    else set(Number(v.data[0]))
  }
  bound(1, (t) => (y = y.maximum(t)), (v) => (lo = v))
  bound(2, (t) => (y = y.minimum(t)), (v) => (hi = v))
  return lo === -Infinity && hi === Infinity ? y : y.clip(lo, hi)
}

const cmp = (f: (a: Tensor, b: Tensor) => Tensor): OpImpl => binary(f)

/** ArgMax of `x` (ArgMin passes -x); select_last_index reverses the axis first. */
function argExtreme(c: OpCtx, x: Tensor): Tensor {
  const a = normAxis(c.node.opType, c.int('axis', 0), x.rank)
  const keep = c.int('keepdims', 1) === 1
  if (!c.int('select_last_index', 0)) return x.argmax(a, keep)
  const n = x.shape[a]!
  const rev = gatherConst(x, a, Array.from({ length: n }, (_, i) => n - 1 - i))
  return c.g.scalar(n - 1, 'int64').sub(rev.argmax(a, keep))
}

function scatter(c: OpCtx, op: 'ScatterElements' | 'ScatterND'): Tensor {
  const red = c.str('reduction', 'none')
  if (red !== 'none' && red !== 'add') c.unsupported(`reduction "${red}"`, 'use none or add')
  const x = c.t(0)
  const iv = c.value(1)
  const idx = isTensor(iv) ? c.t(1) : c.g.constant(Array.from(iv.data), iv.shape, 'int64')
  if (op === 'ScatterND') return c.g.emit('ScatterND', [x, idx, c.t(2)], { reduction: red })[0]!
  return c.g.emit('ScatterElements', [x, idx, c.t(2)], { axis: normAxis(op, c.int('axis', 0), x.rank), reduction: red })[0]!
}

export const basicOps: Record<string, OpImpl> = {
  Identity: unary((x) => x),
  Neg: unary((x) => x.neg()),
  Abs: unary((x) => x.abs()),
  Sign: unary((x) => x.sign()),
  Exp: unary((x) => x.exp()),
  Log: unary((x) => x.log()),
  Sqrt: unary((x) => x.sqrt()),
  Reciprocal: unary((x) => x.reciprocal()),
  Tanh: unary((x) => x.tanh()),
  Erf: unary((x) => x.erf()),
  Sigmoid: unary((x) => x.sigmoid()),
  Relu: unary((x) => x.relu()),
  Sin: unary((x) => x.sin()),
  Cos: unary((x) => x.cos()),
  Not: unary((x) => x.not()),
  Floor: hostOnly(([x]) => hostMap(Math.floor)([x!])),
  Ceil: hostOnly(([x]) => hostMap(Math.ceil)([x!])),
  // round half to even, as ONNX specifies
  Round: hostOnly(([x]) => hostMap((v) => (Math.abs(v % 1) === 0.5 ? 2 * Math.round(v / 2) : Math.round(v)))([x!])),
  Mod: hostOnly((xs, c) => hostMap(c.int('fmod', 0) ? (a, b) => a % b : (a, b) => a - b * Math.floor(a / b))(xs)),
  Add: binary((a, b) => a.add(b)),
  Sub: binary((a, b) => a.sub(b)),
  Mul: binary((a, b) => a.mul(b)),
  Div: binary((a, b) => a.div(b)),
  Pow: one((c) => {
    const a = c.t(0)
    const b = c.t(1)
    return a.pow(b.dtype === a.dtype ? b : b.cast(a.dtype))
  }),
  Equal: cmp((a, b) => a.eq(b)),
  Less: cmp((a, b) => a.lt(b)),
  Greater: cmp((a, b) => a.gt(b)),
  LessOrEqual: cmp((a, b) => a.le(b)),
  GreaterOrEqual: cmp((a, b) => a.ge(b)),
  And: cmp((a, b) => a.and(b)),
  Or: cmp((a, b) => a.or(b)),
  Xor: cmp((a, b) => a.eq(b).not()),
  Max: variadic((a, b) => a.maximum(b)),
  Min: variadic((a, b) => a.minimum(b)),
  Sum: variadic((a, b) => a.add(b)),
  Mean: variadic((a, b) => a.add(b), true),
  Where: one((c) => c.g.emit('Where', [c.t(0), c.t(1), c.t(2)], {})[0]!),
  Cast: one((c) => {
    const to = elemType(c.int('to', 1), c.where)
    const v = c.value(0)
    if (to === 'float16' || to === 'bfloat16') c.unsupported(`a cast to ${to} (imported graphs compute in float32)`)
    if (!isTensor(v) && !v.param) return hostValue(to, v.shape, Array.from(v.data))
    return c.t(0).cast(irDType(to))
  }),
  CastLike: one((c) => c.t(0).cast(c.dtype(1))),
  Clip: one(clip),
  ReduceSum: reduce('sum'),
  ReduceMean: reduce('mean'),
  ReduceMax: reduce('max'),
  ReduceMin: reduce('min'),
  ReduceSumSquare: reduce('sumsq'),
  ReduceL1: reduce('l1'),
  ReduceL2: reduce('l2'),
  ReduceLogSum: reduce('logsum'),
  ReduceLogSumExp: reduce('logsumexp'),
  ArgMax: one((c) => argExtreme(c, c.t(0))),
  ArgMin: one((c) => argExtreme(c, c.t(0).neg())),
  Hardmax: one((c) => {
    const x = c.t(0)
    if (c.opset < 13) c.unsupported('Hardmax before opset 13 (2-D coercion)')
    const a = normAxis('Hardmax', c.int('axis', -1), x.rank)
    const n = x.shape[a]!
    const idx = x.argmax(a, true)
    const shape = x.shape.map((d, i) => (i === a ? n : 1))
    return idx.eq(c.g.constant(Array.from({ length: n }, (_, i) => i), shape, 'int64')).cast(x.dtype)
  }),
  OneHot: one((c) => {
    const idx = c.t(0).cast('int64')
    const depth = Number(c.c(1).data[0])
    const [off, on] = Array.from(c.c(2).data, Number) as [number, number]
    const r = idx.rank + 1
    const a = normAxis('OneHot', c.int('axis', -1), r)
    const pos = where(idx.lt(0), idx.add(depth), idx).unsqueeze(a)
    const shape = new Array<number>(r).fill(1)
    shape[a] = depth
    const hit = pos.eq(c.g.constant(Array.from({ length: depth }, (_, i) => i), shape, 'int64'))
    const dt = c.dtype(2)
    return c.g.emit('Where', [hit, c.g.scalar(on, dt), c.g.scalar(off, dt)], {})[0]!
  }),
  Trilu: one((c) => {
    const x = c.t(0)
    const k = c.has(1) ? Number(c.c(1).data[0]) : 0
    const upper = c.int('upper', 1) === 1
    const [n, m] = x.shape.slice(-2) as [number, number]
    const keep = new Array<number>(n * m)
    for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) keep[i * m + j] = (upper ? j - i >= k : j - i <= k) ? 1 : 0
    return c.g.emit('Where', [c.g.constant(keep, [n, m], 'bool'), x, c.g.scalar(0, x.dtype)], {})[0]!
  }),
  Tan: unary((x) => x.sin().div(x.cos())),
  Sinh: unary((x) => x.exp().sub(x.neg().exp()).mul(0.5)),
  Cosh: unary((x) => x.exp().add(x.neg().exp()).mul(0.5)),
  ScatterElements: one((c) => scatter(c, 'ScatterElements')),
  ScatterND: one((c) => scatter(c, 'ScatterND')),
  CumSum: one((c) => c.t(0).cumsum(c.nums(1)![0]!, { reverse: c.int('reverse', 0) === 1, exclusive: c.int('exclusive', 0) === 1 })),
  Softmax: softmax(false),
  LogSoftmax: softmax(true),
  MatMul: binary(matmul),
  Gemm: one((c) => {
    const ins = [c.t(0), c.t(1)]
    if (c.has(2)) ins.push(c.t(2))
    const attrs = { transA: c.int('transA', 0) === 1, transB: c.int('transB', 0) === 1, alpha: c.float('alpha', 1), beta: c.float('beta', 1) }
    return c.g.emit('Gemm', ins, attrs)[0]!
  }),
  Shape: one((c) => {
    const s = c.shape(0)
    const r = s.length
    const norm = (v: number): number => Math.min(Math.max(v < 0 ? v + r : v, 0), r)
    const start = norm(c.int('start', 0))
    const end = norm(c.int('end', r))
    return hostValue('int64', [Math.max(end - start, 0)], s.slice(start, end))
  }),
  Size: one((c) => hostValue('int64', [], [size(c.shape(0))])),
  Reshape: one((c) => {
    const x = c.t(0)
    const to = c.opset >= 5 ? c.nums(1)! : c.ints('shape')!
    return x.reshape(reshapeTarget(c, x.shape, to, c.int('allowzero', 0) === 1))
  }),
  Flatten: one((c) => {
    const x = c.t(0)
    const a = c.int('axis', 1)
    const ax = a < 0 ? a + x.rank : a
    return x.reshape([size(x.shape.slice(0, ax)), size(x.shape.slice(ax))])
  }),
  Transpose: one((c) => c.t(0).transpose(c.ints('perm'))),
  Squeeze: one((c) => {
    const x = c.t(0)
    const axes = axesOf(c, 13)
    return x.squeeze(axes && axes.length ? axes : undefined)
  }),
  Unsqueeze: one((c) => {
    const x = c.t(0)
    const axes = axesOf(c, 13) ?? []
    const r = x.rank + axes.length
    const ax = normAxes('Unsqueeze', axes, r)
    const shape: number[] = []
    let k = 0
    for (let i = 0; i < r; i++) shape.push(ax.includes(i) ? 1 : x.shape[k++]!)
    return x.reshape(shape)
  }),
  Concat: one((c) => {
    const xs = c.inputs.map((_, i) => c.t(i))
    const a = normAxis('Concat', c.int('axis', 0), xs[0]!.rank)
    const dt = xs[0]!.dtype
    return concat(xs.map((t) => (t.dtype === dt ? t : t.cast(dt))), a)
  }),
  Split: split,
  Slice: one(slice),
  Gather: one((c) => {
    const x = c.t(0)
    const a = normAxis('Gather', c.int('axis', 0), x.rank)
    const iv = c.value(1)
    // constant negative indices are normalised here, so the gradient's scatter sees valid ones
    const idx = isTensor(iv) ? c.t(1) : c.g.constant(Array.from(iv.data, (v) => (v < 0 ? v + x.shape[a]! : v)), iv.shape, 'int64')
    return x.gather(idx, a)
  }),
  GatherElements: one((c) => c.t(0).gatherElements(c.t(1), c.int('axis', 0))),
  Expand: one((c) => expand(c.t(0), c.nums(1)!)),
  Tile: one((c) => {
    let x = c.t(0)
    const reps = c.nums(1)!
    reps.forEach((r, a) => {
      if (r === 1) return
      const s = [...x.shape]
      const e = [...s.slice(0, a), r, ...s.slice(a)]
      s[a] = s[a]! * r
      x = expand(x.unsqueeze(a), e).reshape(s)
    })
    return x
  }),
  Pad: one(pad),
  ConstantOfShape: one((c) => {
    const shape = c.nums(0)!
    const v = c.tensorAttr('value') ?? hostValue('float32', [1], [0])
    return hostValue(v.dtype, shape, new Array<number>(size(shape)).fill(Number(v.data[0] ?? 0)))
  }),
  Range: one((c) => {
    const [s, l, d] = [c.c(0), c.c(1), c.c(2)]
    const start = Number(s.data[0])
    const delta = Number(d.data[0])
    const n = Math.max(Math.ceil((Number(l.data[0]) - start) / delta), 0)
    return hostValue(s.dtype, [n], Array.from({ length: n }, (_, i) => start + i * delta))
  }),
  NonZero: hostOnly(([x]) => {
    const hits: number[][] = []
    const r = x!.shape.length
    for (let i = 0; i < x!.data.length; i++) {
      if (!x!.data[i]) continue
      const co: number[] = []
      let rem = i
      for (let k = r - 1; k >= 0; k--) {
        co.unshift(rem % x!.shape[k]!)
        rem = Math.floor(rem / x!.shape[k]!)
      }
      hits.push(co)
    }
    return hostValue('int64', [r, hits.length], Array.from({ length: r * hits.length }, (_, j) => hits[j % hits.length]![Math.floor(j / hits.length)]!))
  }),
  Dropout: (c) => {
    // inference: identity; the mask output (when asked for) is all true
    c.int('seed', 0)
    c.float('ratio', 0.5)
    if (c.has(2)) {
      const tm = c.value(2)
      if (isTensor(tm) || Number(tm.data[0])) c.unsupported('training_mode=true', 'imported graphs run Dropout in inference form')
    }
    const x = c.t(0)
    return [x, c.g.constant(new Array<number>(x.size).fill(1), x.shape, 'bool')]
  },
  Constant: one((c) => {
    for (const k of ['value', 'value_float', 'value_floats', 'value_int', 'value_ints']) {
      if (!c.hasAttr(k)) continue
      if (k === 'value') return c.tensorAttr('value')!
      if (k === 'value_float') return hostValue('float32', [], [c.float(k, 0)])
      if (k === 'value_int') return hostValue('int64', [], [c.int(k, 0)])
      if (k === 'value_floats') { const v = c.floats(k)!; return hostValue('float32', [v.length], v) }
      const v = c.ints(k)!
      return hostValue('int64', [v.length], v)
    }
    return c.unsupported('a Constant without a numeric value (sparse or string)')
  }),
}
