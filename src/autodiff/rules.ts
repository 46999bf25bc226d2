/**
 * One vector-Jacobian product per op. A rule gets the node, the gradients of its outputs (null where
 * an output does not reach the loss) and which inputs need a gradient; it returns one gradient per
 * input (null for none). Rules only emit ops, so the backward pass is part of the same graph.
 */
import { GraphError } from '../errors.js'
import { concat, Tensor, where, type Node } from '../graph/graph.js'
import type { OpName } from '../graph/ops.js'
import { sumTo, zeros } from './util.js'

type Grads = (Tensor | null)[]
export type VjpRule<K extends OpName> = (node: Node<K>, dy: readonly (Tensor | null)[], needs: readonly boolean[]) => Grads

const first = (dy: readonly (Tensor | null)[]): Tensor => dy[0]!
const x0 = (n: Node): Tensor => n.inputs[0]!
const y0 = (n: Node): Tensor => n.outputs[0]!
const unary = <K extends OpName>(f: (g: Tensor, n: Node<K>) => Tensor): VjpRule<K> => (n, dy) => [f(first(dy), n)]
const none = <K extends OpName>(n: Node<K>): Grads => n.inputs.map(() => null)

function noRule(op: string, what: string): never {
  throw new GraphError('AUTODIFF_NO_RULE', `no gradient rule for ${op} with respect to ${what}`, 'mark the parameter frozen (requiresGrad=false) or avoid this op on the differentiated path')
}

/** The source of a broadcast (Expand) gradient, so elementwise rules broadcast instead of materialising it. */
function unexpanded(g: Tensor): Tensor {
  return g.source.kind === 'op' && g.source.node.op === 'Expand' ? g.source.node.inputs[0]! : g
}

/** Brings a gradient to `shape`: sums broadcast axes, expands axes a broadcast source left at 1. */
function fit(t: Tensor, shape: readonly number[]): Tensor {
  if (t.shape.join() === shape.join()) return t
  const off = Math.max(t.rank - shape.length, 0)
  const needSum = t.shape.some((d, i) => i < off || (d !== 1 && shape[i - off] === 1))
  const s = needSum ? sumTo(t.expand(broadcastTo(t.shape, shape)), shape) : t
  return s.shape.join() === shape.join() ? s : s.reshape(s.size === shape.reduce((a, b) => a * b, 1) ? shape : s.shape).expand(shape)
}

function broadcastTo(a: readonly number[], b: readonly number[]): number[] {
  const r = Math.max(a.length, b.length)
  return Array.from({ length: r }, (_, i) => Math.max(a[a.length - r + i] ?? 1, b[b.length - r + i] ?? 1))
}

function swapLast(t: Tensor): Tensor {
  return t.swap(-1, -2)
}

/** Gradient of a Slice with positive steps: scatter `g` back by padding (and interleaving for steps > 1). */
function unslice(g: Tensor, x: Tensor, attrs: Node<'Slice'>['attrs']): Tensor {
  let out = g
  attrs.axes.forEach((a, k) => {
    const n = x.shape[a]!
    const s = attrs.starts[k]!
    const step = attrs.steps[k]!
    const m = out.shape[a]!
    if (step > 1) {
      // (.., m, ..) -> (.., m, step, ..) with zeros after each value -> (.., m*step, ..)
      const sh = [...out.shape]
      const t = out.unsqueeze(a + 1)
      const pads = t.shape.map((_, i): [number, number] => (i === a + 1 ? [0, step - 1] : [0, 0]))
      sh[a] = m * step
      out = t.pad(pads).reshape(sh)
    }
    const len = out.shape[a]!
    const after = n - s - len
    if (after < 0) out = out.slice(a, 0, n - s)
    const pads = out.shape.map((_, i): [number, number] => (i === a ? [s, Math.max(after, 0)] : [0, 0]))
    out = out.pad(pads)
  })
  return out
}

/**
 * Flips the spatial axes of a conv weight (O, I, k..): reversing the flattened kernel window, done as a
 * MatMul with a reversal matrix (ONNX Runtime's Gather is slow on inner axes).
 */
function flipSpatial(w: Tensor): Tensor {
  const k = w.shape.slice(2)
  const kk = k.reduce((a, b) => a * b, 1)
  if (kk === 1) return w
  const r = new Float32Array(kk * kk)
  for (let i = 0; i < kk; i++) r[i * kk + (kk - 1 - i)] = 1
  return w.reshape([-1, kk]).matmul(w.graph.constant(r, [kk, kk])).reshape(w.shape)
}

function convInputGrad(n: Node<'Conv'>, g: Tensor): Tensor {
  const [x, w] = n.inputs as [Tensor, Tensor]
  const { strides, pads, dilations, group } = n.attrs
  const nd = x.rank - 2
  const k = w.shape.slice(2)
  if (strides.every((s) => s === 1)) {
    // stride 1: a plain Conv of the output gradient with the flipped, transposed kernel
    const O = w.shape[0]!
    const Cg = w.shape[1]!
    const Og = O / group
    // (O, Cg, k..) -> (g, Og, Cg, k..) -> (g, Cg, Og, k..) -> (C, Og, k..)
    let wt = w.reshape([group, Og, Cg, ...k]).transpose([0, 2, 1, ...k.map((_, i) => i + 3)]).reshape([group * Cg, Og, ...k])
    wt = flipSpatial(wt)
    const p: number[] = []
    for (let i = 0; i < nd; i++) p.push(dilations[i]! * (k[i]! - 1) - pads[i]!)
    for (let i = 0; i < nd; i++) p.push(dilations[i]! * (k[i]! - 1) - pads[i + nd]!)
    // Negative pads (padding wider than the kernel) are cropped afterwards.
    const pos = p.map((v) => Math.max(v, 0))
    let dx = g.graph.emit('Conv', [g, wt], { strides: strides.map(() => 1), pads: pos, dilations, group })[0]!
    for (let i = 0; i < nd; i++) {
      const lo = pos[i]! - p[i]!
      const hi = pos[i + nd]! - p[i + nd]!
      if (lo || hi) dx = dx.slice(i + 2, lo, dx.shape[i + 2]! - hi)
    }
    return dx
  }
  const outPad: number[] = []
  for (let i = 0; i < nd; i++) {
    const full = strides[i]! * (g.shape[i + 2]! - 1) + (k[i]! - 1) * dilations[i]! + 1 - pads[i]! - pads[i + nd]!
    outPad.push(x.shape[i + 2]! - full)
  }
  return g.graph.emit('ConvTranspose', [g, w], { strides, pads, dilations, group, outputPadding: outPad })[0]!
}

/**
 * Weight gradient of a 1-D convolution with a long kernel (Wav2Vec2's positional conv: 128 taps) as
 * one grouped Conv that correlates the padded input with the output gradient, the channels taking
 * the batch's place: dW[o, c, k] = sum over n, t of dY[n, o, t] · xpad[n, c, t·stride + k·dilation].
 * The patches of the general rule would cost K multiply-adds per copied value.
 */
function longConv1dWeightGrad(x: Tensor, w: Tensor, attrs: Node<'Conv'>['attrs'], g: Tensor): Tensor {
  const { strides, pads, dilations, group: G } = attrs
  const [N] = x.shape as [number]
  const [O, Cg, K] = w.shape as [number, number, number]
  const Og = O / G
  const T = g.shape[2]!
  const xp = x.pad([[0, 0], [0, 0], [pads[0]!, pads[1]!]])
  const Tp = xp.shape[2]!
  const xi = xp.reshape([N, G, Cg, Tp]).transpose([2, 1, 0, 3]).reshape([Cg, G * N, Tp])            // (Cg, G·N, Tp)
  const ki = g.reshape([N, G, Og, T]).transpose([1, 2, 0, 3]).reshape([G * Og, N, T])               // (G·Og, N, T)
  const out = g.graph.emit('Conv', [xi, ki], { strides: [dilations[0]!], pads: [0, 0], dilations: [strides[0]!], group: G })[0]! // (Cg, O, >= K)
  return out.slice(2, 0, K).transpose([1, 0, 2])                                                     // (O, Cg, K)
}

/**
 * Weight gradient as im2col + one batched GEMM: the input's patches come from a grouped Conv with
 * one-hot kernels (N, C*k, L), and dW = sum over the batch of dY (O, L) @ patches^T (L, C*k). This
 * keeps ONNX Runtime on its fast GEMM instead of a convolution whose kernel is the whole image.
 */
function convWeightGrad(x: Tensor, w: Tensor, attrs: Node<'Conv'>['attrs'], g: Tensor): Tensor {
  const { strides, pads, dilations, group } = attrs
  if (w.rank === 3 && w.shape[2]! >= 32) return longConv1dWeightGrad(x, w, attrs, g)
  const N = x.shape[0]!
  const C = x.shape[1]!
  const O = w.shape[0]!
  const ksp = w.shape.slice(2)
  const kk = ksp.reduce((a, b) => a * b, 1)
  const L = g.shape.slice(2).reduce((a, b) => a * b, 1)
  let patches: Tensor                                                                                     // (N, C*kk, L)
  if (kk === 1 && strides.every((v) => v === 1) && pads.every((v) => v === 0)) patches = x.reshape([N, C, L])
  else {
    const eye = new Float32Array(C * kk * kk)
    for (let c = 0; c < C; c++) for (let k = 0; k < kk; k++) eye[(c * kk + k) * kk + k] = 1
    const kernel = x.graph.constant(eye, [C * kk, 1, ...ksp])
    patches = x.graph.emit('Conv', [x, kernel], { strides, pads, dilations, group: C })[0]!.reshape([N, C * kk, L])
  }
  if (group === 1) {
    // one GEMM over the whole batch when the per-sample products (N, O, C*kk) would outweigh
    // transposing the operands (late layers: small images, many channels); else batched GEMMs + sum
    const batched = N * O * C * kk
    const transposed = N * C * kk * L + N * O * L
    if (transposed < batched) {
      const gy = g.reshape([N, O, L]).transpose([1, 0, 2]).reshape([O, N * L])                            // (O, N*L)
      const px = patches.transpose([1, 0, 2]).reshape([C * kk, N * L])                                      // (C*kk, N*L)
      return g.graph.emit('Gemm', [gy, px], { transA: false, transB: true, alpha: 1, beta: 1 })[0]!.reshape(w.shape)
    }
    // patches as the streamed left operand and the small output gradient transposed on the right:
    // ONNX Runtime packs the right operand, so this reads the large patches once (conv-block's
    // 64x576x4096 products: 27 ms instead of 32-36 ms)
    return patches.matmul(g.reshape([N, O, L]).swap(1, 2)).sum(0).swap(0, 1).reshape(w.shape)              // (C*kk, O) -> (O, C*kk)
  }
  const Og = O / group
  const Cg = C / group
  const gy = g.reshape([N, group, Og, L])
  const px = patches.reshape([N, group, Cg * kk, L])
  return gy.matmul(px.swap(2, 3)).sum(0).reshape(w.shape)                                                  // (group, Og, Cg*kk)
}

export const vjpRules: { [K in OpName]: VjpRule<K> } = {
  Identity: unary((g) => g),
  StopGradient: none,
  Neg: unary((g) => g.neg()),
  Exp: unary((g, n) => g.mul(y0(n))),
  Log: unary((g, n) => g.div(x0(n))),
  Sqrt: unary((g, n) => g.mul(0.5).div(y0(n))),
  Reciprocal: unary((g, n) => g.mul(y0(n).square()).neg()),
  Abs: unary((g, n) => g.mul(x0(n).sign())),
  Sign: none,
  Tanh: unary((g, n) => g.mul(y0(n).square().neg().add(1))),
  // d/dx x*phi(x) = phi + x * exp(-x^2/2) / sqrt(2 pi) = phi + u / (sqrt(pi) * exp(u^2)), u = x/sqrt(2)
  // (six passes; differentiating the Div-Erf-Add-Mul-Mul chain takes ten)
  Gelu: (n, dy) => {
    if (dy[1] || dy[2]) throw new GraphError('AUTODIFF_GELU', 'internal: Gelu\'s intermediate outputs are for its own backward pass and have no gradient rule')
    const [, u, phi] = n.outputs as [Tensor, Tensor, Tensor]
    return [first(dy).mul(phi.add(u.div(u.mul(u).exp()).mul(1 / Math.sqrt(Math.PI))))]
  },
  Erf: unary((g, n) => g.mul(x0(n).square().neg().exp().mul(2 / Math.sqrt(Math.PI)))),
  Sigmoid: unary((g, n) => { const y = y0(n); return g.mul(y.mul(y.neg().add(1))) }),
  // a multiply by the 0/1 mask runs faster in ONNX Runtime than Where; the mask has the full
  // shape, so a broadcast gradient (a mean's) meets it unexpanded, saving the Expand's pass
  Relu: unary((g, n) => unexpanded(g).mul(y0(n).gt(0).cast(g.dtype))),
  Sin: unary((g, n) => g.mul(x0(n).cos())),
  Cos: unary((g, n) => g.mul(x0(n).sin()).neg()),
  Not: none,
  Add: (n, dy, needs) => { const g = unexpanded(first(dy)); return [needs[0] ? fit(g, n.inputs[0]!.shape) : null, needs[1] ? fit(g, n.inputs[1]!.shape) : null] },
  Sub: (n, dy, needs) => { const g = unexpanded(first(dy)); return [needs[0] ? fit(g, n.inputs[0]!.shape) : null, needs[1] ? fit(g.neg(), n.inputs[1]!.shape) : null] },
  Mul: (n, dy, needs) => {
    const g = unexpanded(first(dy))
    const [a, b] = n.inputs as [Tensor, Tensor]
    // x*x: scale the (often broadcast, small) gradient before it meets x, not the full product
    if (a === b) return [fit(g.mul(2).mul(a), a.shape), null]
    return [needs[0] ? fit(g.mul(b), a.shape) : null, needs[1] ? fit(g.mul(a), b.shape) : null]
  },
  Div: (n, dy, needs) => {
    const g = unexpanded(first(dy))
    const [a, b] = n.inputs as [Tensor, Tensor]
    // negate after reducing to b's shape (small when b was broadcast)
    return [needs[0] ? fit(g.div(b), a.shape) : null, needs[1] ? fit(g.mul(y0(n)).div(b), b.shape).neg() : null]
  },
  Pow: (n, dy, needs) => {
    const g = first(dy)
    const [a, b] = n.inputs as [Tensor, Tensor]
    return [needs[0] ? sumTo(g.mul(b).mul(a.pow(b.sub(1))), a.shape) : null, needs[1] ? sumTo(g.mul(y0(n)).mul(a.log()), b.shape) : null]
  },
  Max: (n, dy, needs) => {
    const g = first(dy)
    const [a, b] = n.inputs as [Tensor, Tensor]
    // ties split the gradient evenly, as torch.maximum does
    const half = g.mul(0.5)
    const ga = where(a.gt(b), g, where(a.eq(b), half, 0))
    const gb = where(b.gt(a), g, where(a.eq(b), half, 0))
    return [needs[0] ? sumTo(ga, a.shape) : null, needs[1] ? sumTo(gb, b.shape) : null]
  },
  Min: (n, dy, needs) => {
    const g = first(dy)
    const [a, b] = n.inputs as [Tensor, Tensor]
    const half = g.mul(0.5)
    const ga = where(a.lt(b), g, where(a.eq(b), half, 0))
    const gb = where(b.lt(a), g, where(a.eq(b), half, 0))
    return [needs[0] ? sumTo(ga, a.shape) : null, needs[1] ? sumTo(gb, b.shape) : null]
  },
  Equal: none,
  Less: none,
  Greater: none,
  LessOrEqual: none,
  GreaterOrEqual: none,
  And: none,
  Or: none,
  Where: (n, dy, needs) => {
    const g = first(dy)
    const [c, a, b] = n.inputs as [Tensor, Tensor, Tensor]
    return [null, needs[1] ? sumTo(where(c, g, 0), a.shape) : null, needs[2] ? sumTo(where(c, 0, g), b.shape) : null]
  },
  Cast: (n, dy) => {
    const x = x0(n)
    const g = first(dy)
    return [x.dtype === 'float32' || x.dtype === 'float16' ? g.cast(x.dtype) : null]
  },
  Clip: unary((g, n) => {
    const x = x0(n)
    const { min, max } = n.attrs
    let keep: Tensor | null = null
    if (min > -Infinity) keep = x.ge(min)
    if (max < Infinity) keep = keep ? keep.and(x.le(max)) : x.le(max)
    return keep ? where(keep, g, 0) : g
  }),
  ReduceSum: unary((g, n) => {
    const x = x0(n)
    const keep = x.shape.map((d, i) => (n.attrs.axes.includes(i) ? 1 : d))
    return g.reshape(keep).expand(x.shape)
  }),
  ReduceSumSquare: unary((g, n) => {
    const x = x0(n)
    const keep = x.shape.map((d, i) => (n.attrs.axes.includes(i) ? 1 : d))
    return x.mul(g.reshape(keep).mul(2))
  }),
  ReduceMean: unary((g, n) => {
    const x = x0(n)
    const keep = x.shape.map((d, i) => (n.attrs.axes.includes(i) ? 1 : d))
    const cnt = n.attrs.axes.reduce((a, i) => a * x.shape[i]!, 1)
    return g.mul(1 / cnt).reshape(keep).expand(x.shape)
  }),
  ReduceMax: unary((g, n) => {
    const x = x0(n)
    const keep = x.shape.map((d, i) => (n.attrs.axes.includes(i) ? 1 : d))
    const mask = x.eq(y0(n).reshape(keep)).cast('float32')
    return mask.mul(g.reshape(keep).div(mask.sum(n.attrs.axes, true)))
  }),
  ArgMax: none,
  // the adjoint of a running sum is the running sum in the other direction
  CumSum: unary((g, n) => g.cumsum(n.attrs.axis, { reverse: !n.attrs.reverse, exclusive: n.attrs.exclusive })),
  MatMul: (n, dy, needs) => {
    const g = first(dy)
    const [a, b] = n.inputs as [Tensor, Tensor]
    let da: Tensor | null = null
    let db: Tensor | null = null
    if (b.rank === 2 && a.rank > 2) {
      // (.., M, K) @ (K, N): one GEMM over the flattened batch for each gradient
      const K = a.shape[a.rank - 1]!
      const N = b.shape[1]!
      const g2 = g.reshape([-1, N])
      if (needs[0]) da = g.graph.emit('Gemm', [g2, b], { transA: false, transB: true, alpha: 1, beta: 1 })[0]!.reshape(a.shape)
      if (needs[1]) db = g.graph.emit('Gemm', [a.reshape([-1, K]), g2], { transA: true, transB: false, alpha: 1, beta: 1 })[0]!
      return [da, db]
    }
    if (needs[0]) da = sumTo(g.matmul(swapLast(b)), a.shape)
    if (needs[1]) db = sumTo(swapLast(a).matmul(g), b.shape)
    return [da, db]
  },
  Gemm: (n, dy, needs) => {
    const g = first(dy)
    const [A, B, C] = n.inputs as [Tensor, Tensor, Tensor | undefined]
    const { transA: tA, transB: tB, alpha, beta } = n.attrs
    const gemm = (x: Tensor, y: Tensor, transA: boolean, transB: boolean): Tensor =>
      g.graph.emit('Gemm', [x, y], { transA, transB, alpha, beta: 1 })[0]!
    const dA = needs[0] ? (tA ? gemm(B, g, tB, true) : gemm(g, B, false, !tB)) : null
    const dB = needs[1] ? (tB ? gemm(g, A, true, tA) : gemm(A, g, !tA, false)) : null
    const dC = C && needs[2] ? sumTo(beta === 1 ? g : g.mul(beta), C.shape) : null
    return C ? [dA, dB, dC] : [dA, dB]
  },
  Reshape: unary((g, n) => g.reshape(x0(n).shape)),
  Transpose: unary((g, n) => {
    const inv = new Array<number>(n.attrs.perm.length)
    n.attrs.perm.forEach((p, i) => (inv[p] = i))
    return g.transpose(inv)
  }),
  Slice: unary((g, n) => unslice(g, x0(n), n.attrs)),
  Concat: (n, dy) => {
    const g = first(dy)
    return g.split(n.inputs.map((t) => t.shape[n.attrs.axis]!), n.attrs.axis)
  },
  Split: (n, dy) => [concat(n.outputs.map((o, i) => dy[i] ?? zeros(o)), n.attrs.axis)],
  Expand: unary((g, n) => sumTo(g, x0(n).shape)),
  Pad: unary((g, n) => {
    const x = x0(n)
    let out = g
    x.shape.forEach((d, i) => (out = out.slice(i, n.attrs.pads[i]!, n.attrs.pads[i]! + d)))
    return out
  }),
  Gather: (n, dy, needs) => {
    if (!needs[0]) return [null, null]
    const g = first(dy)
    const [x, idx] = n.inputs as [Tensor, Tensor]
    const a = n.attrs.axis
    if (a === 0) {
      return [g.graph.emit('ScatterND', [zeros(g, x.shape), idx.unsqueeze(-1), g], { reduction: 'add' })[0]!, null]
    }
    // move the gathered axis to the front, scatter, move it back
    const lead = x.shape.slice(0, a)
    const ir = idx.rank
    const r = (k: number, off = 0): number[] => Array.from({ length: k }, (_, i) => i + off)
    const gp = g.transpose([...r(ir, a), ...r(a), ...r(g.rank - a - ir, a + ir)])          // (I.., lead.., rest..)
    const xt = [x.shape[a]!, ...lead, ...x.shape.slice(a + 1)]
    const s = g.graph.emit('ScatterND', [zeros(g, xt), idx.unsqueeze(-1), gp], { reduction: 'add' })[0]!
    return [s.transpose([...r(a, 1), 0, ...r(x.rank - a - 1, a + 1)]), null]
  },
  GatherElements: (n, dy, needs) => {
    if (!needs[0]) return [null, null]
    const g = first(dy)
    const [x, idx] = n.inputs as [Tensor, Tensor]
    return [g.graph.emit('ScatterElements', [zeros(g, x.shape), idx, g], { axis: n.attrs.axis, reduction: 'add' })[0]!, null]
  },
  ScatterElements: (n, dy, needs) => {
    const g = first(dy)
    if (n.attrs.reduction !== 'add') noRule('ScatterElements', 'its inputs (only reduction=add is differentiable)')
    const idx = n.inputs[1]!
    return [needs[0] ? g : null, null, needs[2] ? g.gatherElements(idx, n.attrs.axis) : null]
  },
  ScatterND: (n, _dy, needs) => {
    if (needs[0] || needs[2]) noRule('ScatterND', 'its data or updates')
    return [null, null, null]
  },
  Softmax: unary((g, n) => {
    const y = y0(n)
    return y.mul(g.sub(g.mul(y).sum(n.attrs.axis, true)))
  }),
  LogSoftmax: unary((g, n) => g.sub(y0(n).exp().mul(g.sum(n.attrs.axis, true)))),
  LayerNormalization: (n, dy, needs) => {
    const g = first(dy)
    const [x, w, b] = n.inputs as [Tensor, Tensor, Tensor | undefined]
    const [, mean, inv] = n.outputs as [Tensor, Tensor, Tensor]
    const axes = x.shape.map((_, i) => i).slice(n.attrs.axis)
    const lead = x.shape.map((_, i) => i).slice(0, n.attrs.axis)
    const xhat = x.sub(mean).mul(inv)
    const dw = needs[1] ? g.mul(xhat).sum(lead) : null
    const db = b && needs[2] ? g.sum(lead) : null
    let dx: Tensor | null = null
    if (needs[0]) {
      const gx = g.mul(w)
      dx = inv.mul(gx.sub(gx.mean(axes, true)).sub(xhat.mul(gx.mul(xhat).mean(axes, true))))
    }
    return b ? [dx, dw, db] : [dx, dw]
  },
  BatchNormalization: (n, dy, needs) => {
    // y = (x - mean) * inv * w + b with inv = (var + eps)^-1/2; mean and var may be batch statistics
    const g = first(dy)
    const [x, w, , mean, v] = n.inputs as [Tensor, Tensor, Tensor, Tensor, Tensor]
    const bs = x.shape.map((d, i) => (i === 1 ? d : 1))
    const axes = x.shape.map((_, i) => i).filter((i) => i !== 1)
    const inv = v.add(n.attrs.epsilon).rsqrt()                                                  // (C)
    if (n.attrs.batchStats) {
      // mean and var are x's own batch statistics (nn.batchNorm in training): the gradient through
      // them folds into x's in closed form, dx = k1*g + k2*(x - mean) + k3 per channel, with
      // s1 = sum g, s2 = sum g (x - mean): k1 = w*inv, k2 = -k1*inv^2*s2/n, k3 = -k1*s1/n.
      // Five writing passes over x where the chain rule through the statistics' graphs takes about
      // ten; k2*xc + k3 is one BatchNormalization with mean 0, var 1 and epsilon 0. x - mean is
      // formed first: sum(g*x) - mean*sum(g) loses the small variances of late layers.
      const cnt = x.size / x.shape[1]!
      const xc = x.sub(mean.reshape(bs))
      const s1 = g.sum(axes)
      const s2 = g.mul(xc).sum(axes)
      let dx: Tensor | null = null
      if (needs[0]) {
        const C = x.shape[1]!
        const k1 = inv.mul(w)
        const k2 = k1.mul(inv.square()).mul(s2).mul(-1 / cnt)
        const k3 = k1.mul(s1).mul(-1 / cnt)
        const affine = g.graph.emit('BatchNormalization', [xc, k2, k3, g.graph.constant(new Float32Array(C), [C]), g.graph.constant(new Float32Array(C).fill(1), [C])], { epsilon: 0 })[0]!
        dx = g.mul(k1.reshape(bs)).add(affine)
      }
      return [dx, needs[1] ? s2.mul(inv) : null, needs[2] ? s1 : null, null, null]
    }
    const dx = needs[0] ? g.mul(inv.mul(w).reshape(bs)) : null
    const s1 = needs[2] || needs[3] ? g.sum(axes) : null                                        // sum g
    const s2 = needs[1] || needs[4] ? g.mul(x.sub(mean.reshape(bs))).sum(axes) : null          // sum g (x - mean)
    const dw = needs[1] ? s2!.mul(inv) : null
    const db = needs[2] ? s1 : null
    const dmean = needs[3] ? s1!.mul(inv.mul(w)).neg() : null
    const dvar = needs[4] ? s2!.mul(w).mul(inv.mul(inv).mul(inv)).mul(-0.5) : null
    return [dx, dw, db, dmean, dvar]
  },
  Conv: (n, dy, needs) => {
    const g = first(dy)
    const dx = needs[0] ? convInputGrad(n, g) : null
    const dw = needs[1] ? convWeightGrad(n.inputs[0]!, n.inputs[1]!, n.attrs, g) : null
    if (n.inputs.length === 3) return [dx, dw, needs[2] ? g.sum(g.shape.map((_, i) => i).filter((i) => i !== 1)) : null]
    return [dx, dw]
  },
  ConvTranspose: (n, dy, needs) => {
    const g = first(dy)
    const [x, w, b] = n.inputs as [Tensor, Tensor, Tensor | undefined]
    const { strides, pads, dilations, group } = n.attrs
    const conv = { strides, pads, dilations, group }
    const dx = needs[0] ? g.graph.emit('Conv', [g, w], conv)[0]! : null
    // <ConvTranspose(x, w), g> = <x, Conv(g, w)>: the weight gradient is Conv's, with input g and
    // output gradient x (output_padding < stride, so Conv(g, w) has x's spatial size)
    const dw = needs[1] ? convWeightGrad(g, w, conv, x) : null
    if (!b) return [dx, dw]
    return [dx, dw, needs[2] ? g.sum(g.shape.map((_, i) => i).filter((i) => i !== 1)) : null]
  },
  MaxPool: (n, dy) => {
    const g = first(dy)
    const x = x0(n)
    const idx = n.outputs[1]!
    const flat = g.graph.emit('ScatterElements', [zeros(g, [x.size]), idx.reshape([-1]), g.reshape([-1])], { axis: 0, reduction: 'add' })[0]!
    return [flat.reshape(x.shape)]
  },
  AveragePool: unary((g, n) => {
    const x = x0(n)
    const { kernel, strides, pads, countIncludePad } = n.attrs
    const C = x.shape[1]!
    const nd = kernel.length
    const kk = kernel.reduce((a, b) => a * b, 1)
    let scaled: Tensor
    if (countIncludePad || pads.every((p) => p === 0)) scaled = g.mul(1 / kk)
    else {
      // divisor per output position: the number of window cells inside the unpadded input
      const osp = g.shape.slice(2)
      const cnt = new Float32Array(osp.reduce((a, b) => a * b, 1))
      const idx = new Array<number>(nd).fill(0)
      for (let o = 0; o < cnt.length; o++) {
        let c = 1
        for (let i = 0; i < nd; i++) {
          const s = idx[i]! * strides[i]! - pads[i]!
          const e = Math.min(s + kernel[i]!, x.shape[i + 2]!)
          c *= e - Math.max(s, 0)
        }
        cnt[o] = 1 / c
        for (let i = nd - 1; i >= 0; i--) if (++idx[i]! < osp[i]!) break; else idx[i] = 0
      }
      scaled = g.mul(g.graph.constant(cnt, osp))
    }
    const ones = g.graph.scalar(1).expand([C, 1, ...kernel])
    const outPad: number[] = []
    for (let i = 0; i < nd; i++) {
      const full = strides[i]! * (g.shape[i + 2]! - 1) + kernel[i]! - pads[i]! - pads[i + nd]!
      outPad.push(x.shape[i + 2]! - full)
    }
    return g.graph.emit('ConvTranspose', [scaled, ones], { strides, pads, dilations: kernel.map(() => 1), group: C, outputPadding: outPad })[0]!
  }),
  // CTC in closed form (Graves et al. 2006, eq. 14-16): d ll / d emit[t, s] = exp(alpha + beta - emit - ll)
  // on each clip's own frames, beta from the backward recursion; no gradient through the recursions' graphs
  CtcAlpha: (n, dy, needs) => {
    if (dy[1]) noRule('CtcAlpha', 'its alphas (only the log-likelihood is differentiable)')
    if (!needs[0] || !dy[0]) return [null, null, null, null]
    const [emit, skip, live, ends] = n.inputs as [Tensor, Tensor, Tensor, Tensor]
    const alphas = n.outputs[1]!
    const [B, T] = emit.shape as [number, number, number]
    // a clip's last frame: live, and the next frame is not (or there is none)
    const nextLive = T > 1 ? concat([live.slice(1, 1, T), live.graph.constant(new Float32Array(B), [B, 1])], 1) : live.mul(0)
    const last = live.mul(nextLive.neg().add(1))
    const betas = live.graph.emit('CtcBeta', [emit, skip, live, last, ends], {})[0]!
    // log of each state's share of the paths through frame t; every live frame's shares sum to 1, so
    // dividing by the frame's own sum instead of exp(ll) cancels most of the rounding both recursions
    // accumulate over long inputs (torch's 60 peaked frames in ctc.test.ts: 2.7e-4 off with ll, <1e-5 so)
    const gamma = alphas.add(betas).sub(emit)
    const m = gamma.max(2, true)
    const share = gamma.sub(m).sub(gamma.sub(m).exp().sum(2, true).log())
    return [share.exp().mul(live.unsqueeze(2)).mul(dy[0].reshape([B, 1, 1])), null, null, null]
  },
  CtcBeta: none,
  // backpropagation through time in one reverse Scan (RecurrenceGrad); weight_hh's and bias_hh's
  // gradients are then one product and one sum over every frame
  Recurrence: (n, dy, needs) => {
    if (dy[1] || dy[2]) noRule('Recurrence', 'its saved states (only the hidden states are differentiable)')
    if (!dy[0] || !needs.slice(0, 3).some(Boolean)) return [null, null, null, null]
    const [, whh, , mask] = n.inputs as [Tensor, Tensor, Tensor, Tensor]
    const [, hprev, saved] = n.outputs as [Tensor, Tensor, Tensor]
    const [B, T, H] = hprev.shape as [number, number, number]
    const GH = whh.shape[0]!
    const [dgi, dhh] = whh.graph.emit('RecurrenceGrad', [dy[0], whh, mask, hprev, saved], n.attrs) as [Tensor, Tensor]
    const flat = dhh.reshape([B * T, GH])
    return [needs[0] ? dgi : null, needs[1] ? flat.transpose([1, 0]).matmul(hprev.reshape([B * T, H])) : null, needs[2] ? flat.sum(0) : null, null]
  },
  RecurrenceGrad: none,
}
