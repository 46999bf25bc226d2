/**
 * Composite functions built from primitive ops: activations, normalisation, attention, losses.
 * They need no gradient rules of their own; autodiff differentiates their parts.
 */
import { GraphError } from '../errors.js'
import { asTensor, currentGraph, Parameter, Tensor, where, type TensorLike } from './graph.js'
import { fmt } from './shape.js'

const t = (x: TensorLike, like?: Tensor): Tensor => asTensor(x, like)

/** y = x Wᵀ + b with W stored (out, in) as PyTorch does. Lowered to one Gemm over the flattened batch. */
export function linear(x: Tensor, weight: TensorLike, bias?: TensorLike | null): Tensor {
  const w = t(weight, x)
  const [out, inp] = w.shape as [number, number]
  if (x.shape[x.rank - 1] !== inp) throw new GraphError('GRAPH_SHAPE', `linear: input ${fmt(x.shape)} has ${x.shape[x.rank - 1]} features, weight ${fmt(w.shape)} expects ${inp}`)
  const lead = x.shape.slice(0, -1)
  const x2 = x.rank === 2 ? x : x.reshape([-1, inp])                             // (N, in)
  const inputs = [x2, w]
  if (bias !== undefined && bias !== null) inputs.push(t(bias, x))
  const y = x.graph.emit('Gemm', inputs, { transA: false, transB: true, alpha: 1, beta: 1 })[0]!
  return x.rank === 2 ? y : y.reshape([...lead, out])
}

export const relu = (x: Tensor): Tensor => x.relu()
export const sigmoid = (x: Tensor): Tensor => x.sigmoid()
export const tanh = (x: Tensor): Tensor => x.tanh()
export const silu = (x: Tensor): Tensor => x.mul(x.sigmoid())

/** GELU: exact (erf) by default, or the tanh approximation GPT-2 uses ("gelu_new"). */
export function gelu(x: Tensor, approximate: 'none' | 'tanh' = 'none'): Tensor {
  if (approximate === 'tanh') {
    const inner = x.add(x.mul(x).mul(x).mul(0.044715)).mul(Math.sqrt(2 / Math.PI))
    return x.mul(0.5).mul(inner.tanh().add(1))
  }
  // Training graphs use the Gelu op (it keeps what its six-pass backward reads); inference graphs the
  // chain ONNX Runtime fuses into one kernel: Div(√2) -> Erf -> Add(1) -> Mul(x) -> Mul(0.5).
  if (x.graph.training) return x.graph.emit('Gelu', [x], {})[0]!
  return x.div(Math.SQRT2).erf().add(1).mul(x).mul(0.5)
}

/** The activations model configs name (`hidden_act`), by their Hugging Face spelling. */
export function activation(name: string): (x: Tensor) => Tensor {
  switch (name) {
    case 'gelu':
      return (x) => gelu(x)
    case 'gelu_new':
    case 'gelu_pytorch_tanh':
    case 'gelu_fast':
      return (x) => gelu(x, 'tanh')
    case 'relu':
      return relu
    case 'silu':
    case 'swish':
      return silu
    case 'tanh':
      return tanh
    case 'sigmoid':
      return sigmoid
    default:
      throw new GraphError('CONFIG_ACTIVATION', `unknown activation "${name}"`, 'use one of gelu, gelu_new, gelu_pytorch_tanh, relu, silu, tanh, sigmoid')
  }
}

/** Layer norm over the trailing axes matching `weight`'s shape (ONNX LayerNormalization). */
export function layerNorm(x: Tensor, weight: TensorLike, bias: TensorLike | null, eps = 1e-5): Tensor {
  const w = t(weight, x)
  const inputs = [x, w]
  if (bias !== null) inputs.push(t(bias, x))
  return x.graph.emit('LayerNormalization', inputs, { axis: x.rank - w.rank, epsilon: eps })[0]!
}

export interface BatchNormState {
  weight: TensorLike | null
  bias: TensorLike | null
  runningMean: Parameter
  runningVar: Parameter
  momentum: number
  eps: number
}

/**
 * Batch norm over axis 1. In training graphs (unless `useRunningStats`) it normalises with batch
 * statistics and updates the running ones as PyTorch does (unbiased variance for the running value);
 * otherwise it uses the running statistics.
 */
export function batchNorm(x: Tensor, s: BatchNormState, useRunningStats = false): Tensor {
  const g = x.graph
  const c = x.shape[1]!
  const ones = (): Tensor => g.scalar(1).expand([c])
  const zeros = (): Tensor => g.scalar(0).expand([c])
  const w = s.weight === null ? ones() : t(s.weight, x)
  const b = s.bias === null ? zeros() : t(s.bias, x)
  if (!g.training || useRunningStats) {
    return g.emit('BatchNormalization', [x, w, b, g.param(s.runningMean), g.param(s.runningVar)], { epsilon: s.eps })[0]!
  }
  const axes = x.shape.map((_, i) => i).filter((i) => i !== 1)
  const n = axes.reduce((a, i) => a * x.shape[i]!, 1)
  // batch statistics; the variance as E[x^2] - E[x]^2 (two reading passes), then ONNX's
  // BatchNormalization normalises in one pass. batchStats lets its backward give x the whole
  // gradient in closed form (autodiff skips the statistics' own graphs). ReduceSumSquare in place
  // of square + mean is one pass fewer but less accurate in ONNX Runtime (train logits 4e-4 off
  // torchvision's for ResNet-50, against 1e-4 allowed).
  const mean = x.mean(axes)                                                        // (C)
  const v = x.square().mean(axes).sub(mean.square()).maximum(0)                   // (C), biased
  const y = g.emit('BatchNormalization', [x, w, b, mean, v], { epsilon: s.eps, batchStats: true })[0]!
  const m = s.momentum
  const rm = g.param(s.runningMean)
  const rv = g.param(s.runningVar)
  g.setState(s.runningMean, rm.mul(1 - m).add(mean.mul(m)))
  g.setState(s.runningVar, rv.mul(1 - m).add(v.mul((m * n) / Math.max(n - 1, 1))))
  return y
}

/**
 * Inverted dropout with a mask drawn from a per-run random byte input, so masks are reproducible
 * from (seed, step) and a resumed run sees the same masks. Byte resolution rounds p to k/256.
 */
export function dropout(x: Tensor, p: number): Tensor {
  if (!x.graph.training || p <= 0) return x
  if (p >= 1) throw new GraphError('CONFIG_DROPOUT', `dropout probability must be below 1, got ${p}`)
  const k = Math.round(p * 256)
  if (k === 0) return x
  const bytes = x.graph.randomBytes(x.shape)
  const keep = bytes.cast('float32').ge(k).cast('float32')
  return x.mul(keep.mul(256 / (256 - k)))
}

export function embedding(ids: Tensor, table: TensorLike): Tensor {
  const w = t(table, ids)
  return w.gather(ids, 0)
}

export interface Conv2dOptions {
  stride?: number | readonly [number, number]
  padding?: number | readonly [number, number]
  dilation?: number | readonly [number, number]
  groups?: number
}
const pair = (v: number | readonly [number, number] | undefined, d: number): [number, number] =>
  v === undefined ? [d, d] : typeof v === 'number' ? [v, v] : [v[0], v[1]]

export function conv2d(x: Tensor, weight: TensorLike, bias: TensorLike | null, o: Conv2dOptions = {}): Tensor {
  const w = t(weight, x)
  const [sh, sw] = pair(o.stride, 1)
  const [ph, pw] = pair(o.padding, 0)
  const [dh, dw] = pair(o.dilation, 1)
  const inputs = [x, w]
  if (bias !== null) inputs.push(t(bias, x))
  return x.graph.emit('Conv', inputs, { strides: [sh, sw], pads: [ph, pw, ph, pw], dilations: [dh, dw], group: o.groups ?? 1 })[0]!
}

export interface PoolOptions {
  stride?: number | readonly [number, number]
  padding?: number | readonly [number, number]
  /** Average pool only: count padded zeros in the divisor (PyTorch's default). */
  countIncludePad?: boolean
  /** PyTorch's ceil_mode: extra windows that start inside the padded input. */
  ceilMode?: boolean
}

function poolPads(x: Tensor, k: [number, number], s: [number, number], p: [number, number], ceil: boolean): number[] {
  const pads = [p[0], p[1], p[0], p[1]]
  if (!ceil) return pads
  for (let i = 0; i < 2; i++) {
    const n = x.shape[i + 2]! + 2 * p[i]!
    let out = Math.ceil((n - k[i]!) / s[i]!) + 1
    if ((out - 1) * s[i]! >= x.shape[i + 2]! + p[i]!) out-- // PyTorch: the last window must start inside the input
    const need = (out - 1) * s[i]! + k[i]! - n
    if (need > 0) pads[i + 2] = pads[i + 2]! + need
  }
  return pads
}

export function maxPool2d(x: Tensor, kernel: number | readonly [number, number], o: PoolOptions = {}): Tensor {
  const k = pair(kernel, 1)
  const s = pair(o.stride ?? kernel, 1)
  const pads = poolPads(x, k, s, pair(o.padding, 0), o.ceilMode ?? false)
  return x.graph.emit('MaxPool', [x], { kernel: k, strides: s, pads })[0]!
}

export function avgPool2d(x: Tensor, kernel: number | readonly [number, number], o: PoolOptions = {}): Tensor {
  const k = pair(kernel, 1)
  const s = pair(o.stride ?? kernel, 1)
  const p = pair(o.padding, 0)
  const pads = poolPads(x, k, s, p, o.ceilMode ?? false)
  // Extra ceil-mode padding never counts towards the divisor, as in PyTorch.
  const include = (o.countIncludePad ?? true) && pads.every((v, i) => v === p[i % 2])
  if (!include && (o.countIncludePad ?? true) && (p[0] > 0 || p[1] > 0)) {
    // PyTorch counts the symmetric padding but not the ceil-mode extension: pad explicitly first.
    const xp = x.pad([[0, 0], [0, 0], [p[0], p[0]], [p[1], p[1]]])
    return xp.graph.emit('AveragePool', [xp], { kernel: k, strides: s, pads: [0, 0, pads[2]! - p[0], pads[3]! - p[1]], countIncludePad: false })[0]!
  }
  return x.graph.emit('AveragePool', [x], { kernel: k, strides: s, pads, countIncludePad: include })[0]!
}

/** Mean over all spatial axes, keeping (N, C). */
export function globalAvgPool(x: Tensor): Tensor {
  return x.mean(x.shape.map((_, i) => i).slice(2))
}

export interface CrossEntropyOptions {
  /** Targets equal to this are left out of the loss and of the mean (PyTorch default -100). */
  ignoreIndex?: number
  labelSmoothing?: number
  reduction?: 'mean' | 'sum' | 'none'
}

/**
 * Cross entropy between logits (..., C) and int64 class targets (...), as torch.nn.functional.cross_entropy
 * with class-last layout: ignored targets contribute nothing and the mean is over the rest.
 */
export function crossEntropy(logits: Tensor, target: Tensor, o: CrossEntropyOptions = {}): Tensor {
  if (target.dtype !== 'int64') throw new GraphError('GRAPH_DTYPE', `crossEntropy: targets must be int64, got ${target.dtype}`)
  if (target.shape.join() !== logits.shape.slice(0, -1).join())
    throw new GraphError('GRAPH_SHAPE', `crossEntropy: targets ${fmt(target.shape)} must match logits ${fmt(logits.shape)} without the class axis`)
  const ignore = o.ignoreIndex ?? -100
  const eps = o.labelSmoothing ?? 0
  const logp = logits.logSoftmax(-1)
  const valid = target.ne(ignore)
  const safe = where(valid, target, 0).unsqueeze(-1)                              // (..., 1)
  let loss = logp.gatherElements(safe, -1).squeeze(-1).neg()                       // (...)
  if (eps > 0) loss = loss.mul(1 - eps).add(logp.mean(-1).neg().mul(eps))
  const w = valid.cast('float32')
  loss = loss.mul(w)
  if (o.reduction === 'none') return loss
  if (o.reduction === 'sum') return loss.sum()
  return loss.sum().div(w.sum().maximum(1))
}

/** Binary cross entropy with logits (multi-label classification), mean over all elements. */
export function bceWithLogits(logits: Tensor, target: Tensor): Tensor {
  // max(x,0) - x*t + log(1 + exp(-|x|)), the stable form
  const x = logits
  return x.relu().sub(x.mul(target)).add(x.abs().neg().exp().add(1).log()).mean()
}

export function mse(a: Tensor, b: TensorLike, reduction: 'mean' | 'sum' = 'mean'): Tensor {
  const d = a.sub(t(b, a)).square()
  return reduction === 'sum' ? d.sum() : d.mean()
}

export interface AttentionOptions {
  /** (B, T_k) with 1 for real tokens and 0 for padding (float32 or int64), as HF's attention_mask. */
  paddingMask?: Tensor | null
  causal?: boolean
  /** Defaults to 1/sqrt(headDim). */
  scale?: number
  dropout?: number
}

/**
 * Scaled dot-product attention over (B, heads, T, headDim) tensors with padding and causal masks.
 * Masked scores get the float32 minimum added, as Hugging Face models do, so a fully masked row
 * gives a uniform distribution rather than NaN.
 */
export function attention(q: Tensor, k: Tensor, v: Tensor, o: AttentionOptions = {}): Tensor {
  const [B, , Tq, D] = q.shape as [number, number, number, number]
  const Tk = k.shape[2]!
  const g = q.graph
  const scale = o.scale ?? 1 / Math.sqrt(D)
  let scores = q.matmul(k.swap(-1, -2)).mul(scale)                                // (B, nh, Tq, Tk)
  const NEG = -3.4028234663852886e38
  let bias: Tensor | null = null
  if (o.paddingMask) {
    const m = o.paddingMask.cast('float32').reshape([B, 1, 1, Tk])
    bias = m.sub(1).mul(-NEG)                                                     // 0 or float32 min
  }
  if (o.causal) {
    const c = new Float32Array(Tq * Tk)
    for (let i = 0; i < Tq; i++) for (let j = 0; j < Tk; j++) if (j > i + (Tk - Tq)) c[i * Tk + j] = NEG
    const cb = g.constant(c, [Tq, Tk])
    bias = bias ? bias.add(cb).maximum(NEG) : cb                                  // never -inf: no NaN rows
  }
  if (bias) scores = scores.add(bias)
  const p = dropout(scores.softmax(-1), o.dropout ?? 0)
  return p.matmul(v)                                                              // (B, nh, Tq, D)
}

export { currentGraph }

/** ReLU6 (MobileNet): min(max(x, 0), 6). */
export const relu6 = (x: Tensor): Tensor => x.clip(0, 6)

/**
 * torch.nn.AdaptiveAvgPool2d: output cell i along an axis of input size I and output size O averages
 * input rows floor(i·I/O) .. ceil((i+1)·I/O) - 1, so windows may overlap or repeat (O > I). Built from
 * standard ops, so autodiff gives the gradient: a global mean for 1x1, an AveragePool when I is a
 * multiple of O on both axes, otherwise constant pooling matrices, y = P_h · x · P_wᵀ.
 */
export function adaptiveAvgPool2d(x: Tensor, outSize: number | readonly [number, number]): Tensor {
  if (x.rank !== 4) throw new GraphError('GRAPH_SHAPE', `adaptiveAvgPool2d: expects (N, C, H, W), got ${fmt(x.shape)}`)
  const [oh, ow] = pair(outSize, 1)
  const [ih, iw] = [x.shape[2]!, x.shape[3]!]
  if (!(oh >= 1 && ow >= 1 && Number.isInteger(oh) && Number.isInteger(ow))) throw new GraphError('GRAPH_SHAPE', `adaptiveAvgPool2d: output size ${oh}x${ow} must be positive integers`)
  if (ih === 0 || iw === 0) throw new GraphError('GRAPH_SHAPE', `adaptiveAvgPool2d: input ${fmt(x.shape)} has an empty spatial axis`)
  if (oh === ih && ow === iw) return x
  if (oh === 1 && ow === 1) return x.mean([2, 3], true)                             // (N, C, 1, 1)
  if (ih % oh === 0 && iw % ow === 0) return avgPool2d(x, [ih / oh, iw / ow])
  // (O, I) matrix whose row i holds 1/count over the input cells of output cell i
  const pool = (o: number, i: number): Float32Array => {
    const m = new Float32Array(o * i)
    for (let r = 0; r < o; r++) {
      const s = Math.floor((r * i) / o)
      const e = Math.ceil(((r + 1) * i) / o)
      for (let c = s; c < e; c++) m[r * i + c] = 1 / (e - s)
    }
    return m
  }
  const g = x.graph
  let y = x
  if (ow !== iw) {
    const p = pool(ow, iw)
    const pt = new Float32Array(iw * ow)                                            // Pᵀ: (I_w, O_w)
    for (let r = 0; r < ow; r++) for (let c = 0; c < iw; c++) pt[c * ow + r] = p[r * iw + c]!
    y = y.matmul(g.constant(pt, [iw, ow]))                                          // (N, C, H, O_w)
  }
  if (oh !== ih) y = g.constant(pool(oh, ih), [oh, ih]).matmul(y)                  // (N, C, O_h, O_w)
  return y
}

/** Hardsigmoid as torch.nn.Hardsigmoid: relu6(x + 3) / 6 (MobileNetV3's squeeze-excitation gate). */
export const hardsigmoid = (x: Tensor): Tensor => x.add(3).clip(0, 6).div(6)

/** Hardswish as torch.nn.Hardswish: x · relu6(x + 3) / 6 (MobileNetV3). */
export const hardswish = (x: Tensor): Tensor => x.mul(hardsigmoid(x))

/**
 * The (out, in) matrix of 1-D linear interpolation as torch.nn.functional.interpolate computes it for
 * `size=` with align_corners=False: output cell i reads source position s = (i + 0.5)·in/out - 0.5,
 * clamped below at 0, from rows floor(s) and floor(s) + 1 (the last row repeated at the edge).
 */
export function linearResizeMatrix(inSize: number, outSize: number): Float32Array {
  const m = new Float32Array(outSize * inSize)
  const scale = inSize / outSize
  for (let i = 0; i < outSize; i++) {
    const s = Math.max((i + 0.5) * scale - 0.5, 0)
    const i0 = Math.min(Math.floor(s), inSize - 1)
    const i1 = i0 < inSize - 1 ? i0 + 1 : i0
    const l1 = s - i0
    m[i * inSize + i0] = m[i * inSize + i0]! + (1 - l1)
    m[i * inSize + i1] = m[i * inSize + i1]! + l1
  }
  return m
}

/**
 * F.interpolate(x, size=[oh, ow], mode="bilinear", align_corners=False) on (N, C, H, W): bilinear
 * interpolation is separable, so it is two MatMuls with constant interpolation matrices,
 * y = R_h · x · R_wᵀ. Built from standard ops: autodiff gives the gradient (the transposed matrices)
 * and any ONNX runtime runs the export.
 */
export function interpolateBilinear(x: Tensor, size: readonly [number, number]): Tensor {
  if (x.rank !== 4) throw new GraphError('GRAPH_SHAPE', `interpolateBilinear: expects (N, C, H, W), got ${fmt(x.shape)}`)
  const [oh, ow] = size
  if (!(Number.isInteger(oh) && Number.isInteger(ow) && oh >= 1 && ow >= 1)) throw new GraphError('GRAPH_SHAPE', `interpolateBilinear: output size ${oh}x${ow} must be positive integers`)
  const [ih, iw] = [x.shape[2]!, x.shape[3]!]
  const g = x.graph
  let y = x
  if (ow !== iw) {
    const r = linearResizeMatrix(iw, ow)
    const rt = new Float32Array(iw * ow)                                            // R_wᵀ: (W, O_w)
    for (let o = 0; o < ow; o++) for (let i = 0; i < iw; i++) rt[i * ow + o] = r[o * iw + i]!
    y = y.matmul(g.constant(rt, [iw, ow]))                                          // (N, C, H, O_w)
  }
  if (oh !== ih) y = g.constant(linearResizeMatrix(ih, oh), [oh, ih]).matmul(y)    // (N, C, O_h, O_w)
  return y
}

/**
 * GroupNorm (Wu & He 2018) over (N, C, ...): channels split into `groups`, each group normalised
 * over its channels and positions with biased variance, then a per-channel affine. One ONNX
 * LayerNormalization over the flattened group (unit scale) and the affine after it.
 */
export function groupNorm(x: Tensor, groups: number, weight: TensorLike | null, bias: TensorLike | null, eps = 1e-5): Tensor {
  const [n, c] = [x.shape[0]!, x.shape[1]!]
  if (x.rank < 2 || c % groups !== 0) throw new GraphError('GRAPH_SHAPE', `groupNorm: ${c} channels of ${fmt(x.shape)} do not split into ${groups} groups`, 'use a group count that divides the channels (torchvision: 32 of 256)')
  const g = x.graph
  const per = x.shape.slice(1).reduce((a, b) => a * b, 1) / groups
  const h = layerNorm(x.reshape([n, groups, per]), g.constant(new Float32Array(per).fill(1), [per]), null, eps).reshape([...x.shape]) // (N, C, ...)
  const affine = [1, c, ...x.shape.slice(2).map(() => 1)]
  let y = weight === null ? h : h.mul(t(weight, x).reshape(affine))
  if (bias !== null) y = y.add(t(bias, x).reshape(affine))
  return y
}

/** Nearest-neighbour upsampling of (N, C, H, W) by an integer factor (F.interpolate(mode="nearest") when the size is an exact multiple). */
export function upsampleNearest(x: Tensor, factor: number): Tensor {
  if (x.rank !== 4 || !Number.isInteger(factor) || factor < 1) throw new GraphError('GRAPH_SHAPE', `upsampleNearest: expects (N, C, H, W) and an integer factor, got ${fmt(x.shape)} and ${factor}`)
  if (factor === 1) return x
  const [n, c, h, w] = x.shape as [number, number, number, number]
  return x.reshape([n, c, h, 1, w, 1]).expand([n, c, h, factor, w, factor]).reshape([n, c, h * factor, w * factor]) // (N, C, fH, fW)
}
