/**
 * ONNX neural-network ops as traced IR: convolutions, pooling, normalisation, resizing and
 * activations. Activations and Resize are composed from primitive ops, so their gradients come
 * from the existing rules (Resize is a Gather per axis for nearest, a matrix product for linear).
 */
import { where, type Tensor } from '../graph/graph.js'
import * as nn from '../graph/nn.js'
import { normAxis } from '../graph/shape.js'
import { isTensor, type OpCtx, type Value } from './import-context.js'
import { gatherConst, type OpImpl } from './import-ops.js'

const one = (f: (c: OpCtx) => Value): OpImpl => (c) => [f(c)]
const ones = (n: number): number[] => new Array<number>(n).fill(1)

/** Explicit begin/end pads from `pads` or `auto_pad` (SAME_UPPER puts the odd cell at the end). */
function convPads(c: OpCtx, inSp: readonly number[], k: readonly number[], s: readonly number[], d: readonly number[]): number[] {
  const nd = inSp.length
  const auto = c.str('auto_pad', 'NOTSET')
  const pads = c.ints('pads')
  if (auto === 'NOTSET') return pads ?? new Array<number>(2 * nd).fill(0)
  if (auto === 'VALID') return new Array<number>(2 * nd).fill(0)
  if (auto !== 'SAME_UPPER' && auto !== 'SAME_LOWER') c.unsupported(`auto_pad "${auto}"`)
  const out = new Array<number>(2 * nd).fill(0)
  for (let i = 0; i < nd; i++) {
    const o = Math.ceil(inSp[i]! / s[i]!)
    const total = Math.max(0, (o - 1) * s[i]! + (k[i]! - 1) * d[i]! + 1 - inSp[i]!)
    const small = Math.floor(total / 2)
    out[i] = auto === 'SAME_UPPER' ? small : total - small
    out[i + nd] = total - out[i]!
  }
  return out
}

function conv(c: OpCtx): Value {
  const x = c.t(0)
  const w = c.t(1)
  const nd = x.rank - 2
  const k = c.ints('kernel_shape') ?? w.shape.slice(2)
  if (k.join() !== w.shape.slice(2).join()) c.fail('ONNX_SHAPE', `kernel_shape [${k}] does not match weight [${w.shape}]`)
  const strides = c.ints('strides') ?? ones(nd)
  const dilations = c.ints('dilations') ?? ones(nd)
  const pads = convPads(c, x.shape.slice(2), k, strides, dilations)
  const ins = [x, w]
  if (c.has(2)) ins.push(c.t(2))
  return c.g.emit('Conv', ins, { strides, pads, dilations, group: c.int('group', 1) })[0]!
}

function convTranspose(c: OpCtx): Value {
  const x = c.t(0)
  const w = c.t(1)
  const nd = x.rank - 2
  const k = c.ints('kernel_shape') ?? w.shape.slice(2)
  const strides = c.ints('strides') ?? ones(nd)
  const dilations = c.ints('dilations') ?? ones(nd)
  const outputPadding = c.ints('output_padding') ?? new Array<number>(nd).fill(0)
  const auto = c.str('auto_pad', 'NOTSET')
  let outShape = c.ints('output_shape')
  let pads = c.ints('pads') ?? new Array<number>(2 * nd).fill(0)
  if (auto === 'SAME_UPPER' || auto === 'SAME_LOWER') outShape ??= x.shape.slice(2).map((v, i) => v * strides[i]!)
  else if (auto === 'VALID') pads = new Array<number>(2 * nd).fill(0)
  else if (auto !== 'NOTSET') c.unsupported(`auto_pad "${auto}"`)
  if (outShape) {
    const os = outShape.slice(-nd)
    pads = new Array<number>(2 * nd).fill(0)
    for (let i = 0; i < nd; i++) {
      const total = strides[i]! * (x.shape[i + 2]! - 1) + outputPadding[i]! + (k[i]! - 1) * dilations[i]! + 1 - os[i]!
      if (total < 0) {
        // a larger output than the kernel reaches: the extra cells (zeros plus bias) go at the end
        outputPadding[i] = outputPadding[i]! - total
        continue
      }
      const half = Math.floor(total / 2)
      pads[i] = auto === 'SAME_UPPER' ? half : total - half
      pads[i + nd] = total - pads[i]!
    }
  }
  const ins = [x, w]
  if (c.has(2)) ins.push(c.t(2))
  return c.g.emit('ConvTranspose', ins, { strides, pads, dilations, group: c.int('group', 1), outputPadding })[0]!
}

/** kernel, strides and explicit pads of a pooling op, ceil_mode folded into extra end padding. */
function poolGeometry(c: OpCtx, x: Tensor): { kernel: number[]; strides: number[]; pads: number[]; declared: number[] } {
  const nd = x.rank - 2
  const kernel = c.ints('kernel_shape') ?? c.fail('ONNX_ATTR', 'kernel_shape is required')
  const strides = c.ints('strides') ?? ones(nd)
  const dil = c.ints('dilations') ?? ones(nd)
  if (dil.some((d) => d !== 1)) c.unsupported(`dilations [${dil}]`)
  if (c.int('storage_order', 0) !== 0) c.unsupported('storage_order=1')
  const sp = x.shape.slice(2)
  const declared = convPads(c, sp, kernel, strides, dil)
  const pads = [...declared]
  if (c.int('ceil_mode', 0) === 1) {
    for (let i = 0; i < nd; i++) {
      const n = sp[i]! + declared[i]! + declared[i + nd]!
      let out = Math.ceil((n - kernel[i]!) / strides[i]!) + 1
      // the last window must start inside the input or its left padding
      if ((out - 1) * strides[i]! >= sp[i]! + declared[i]!) out--
      const need = (out - 1) * strides[i]! + kernel[i]! - n
      if (need > 0) pads[i + nd] = pads[i + nd]! + need
    }
  }
  return { kernel, strides, pads, declared }
}

function maxPool(c: OpCtx): Value[] {
  const x = c.t(0)
  const { kernel, strides, pads } = poolGeometry(c, x)
  const e = c.elem(0)
  if (x.dtype === 'float32') return c.g.emit('MaxPool', [x], { kernel, strides, pads })
  // 8-bit integers are exact in float32; wider ones would not be
  if (e !== 'uint8' && e !== 'int8') c.unsupported(`MaxPool on ${e}`)
  const [y, idx] = c.g.emit('MaxPool', [x.cast('float32')], { kernel, strides, pads })
  return [y!.cast(x.dtype), idx!]
}

function averagePool(c: OpCtx): Value {
  let x = c.t(0)
  const include = c.int('count_include_pad', 0) === 1
  const { kernel, strides, pads, declared } = poolGeometry(c, x)
  const extended = pads.some((p, i) => p !== declared[i])
  if (include && extended && declared.some((p) => p > 0)) {
    // the declared padding counts, the ceil-mode extension does not: pad explicitly first
    const nd = kernel.length
    x = x.pad(x.shape.map((_, i) => (i < 2 ? [0, 0] : [declared[i - 2]!, declared[i - 2 + nd]!]) as [number, number]))
    const rest = pads.map((p, i) => p - declared[i]!)
    return c.g.emit('AveragePool', [x], { kernel, strides, pads: rest, countIncludePad: false })[0]!
  }
  return c.g.emit('AveragePool', [x], { kernel, strides, pads, countIncludePad: include && !extended })[0]!
}

function batchNorm(c: OpCtx): Value[] {
  if (c.int('training_mode', 0) === 1 || c.node.output.filter((o) => o).length > 1) c.unsupported('training-mode BatchNormalization (extra outputs)', 'export the model in eval mode')
  if (c.opset < 9 && c.int('spatial', 1) !== 1) c.unsupported('spatial=0')
  const momentum = c.float('momentum', 0.9)
  c.ints('consumed_inputs')
  const eps = c.float('epsilon', 1e-5)
  const [mean, variance] = [c.value(3), c.value(4)]
  if (c.m.o.trainBatchNorm && c.g.training && !isTensor(mean) && !isTensor(variance) && mean.param && variance.param) {
    // running = running * momentum + batch * (1 - momentum) in ONNX's terms; torch's momentum is 1 - that
    return [nn.batchNorm(c.t(0), { weight: c.t(1), bias: c.t(2), runningMean: mean.param, runningVar: variance.param, momentum: 1 - momentum, eps })]
  }
  const ins = [0, 1, 2, 3, 4].map((i) => c.t(i))
  return [c.g.emit('BatchNormalization', ins, { epsilon: eps })[0]!]
}

function instanceNorm(c: OpCtx): Value {
  const x = c.t(0)
  const eps = c.float('epsilon', 1e-5)
  const axes = x.shape.map((_, i) => i).slice(2)
  const bs = x.shape.map((d, i) => (i === 1 ? d : 1))
  const xc = x.sub(x.mean(axes, true))
  const y = xc.div(xc.square().mean(axes, true).add(eps).sqrt())
  return y.mul(c.t(1).reshape(bs)).add(c.t(2).reshape(bs))
}

function layerNorm(c: OpCtx): Value[] {
  const x = c.t(0)
  const axis = normAxis('LayerNormalization', c.int('axis', -1), x.rank)
  c.int('stash_type', 1)
  const norm = x.shape.slice(axis)
  const fit = (t: Tensor): Tensor => (t.shape.join() === norm.join() ? t : t.reshape(t.shape.slice(Math.max(t.rank - norm.length, 0))).expand(norm))
  const ins = [x, fit(c.t(1))]
  if (c.has(2)) ins.push(fit(c.t(2)))
  return c.g.emit('LayerNormalization', ins, { axis, epsilon: c.float('epsilon', 1e-5) })
}

/** Source coordinate of output cell `o` on an axis (ONNX Resize's coordinate_transformation_mode). */
function sourceCoord(c: OpCtx, mode: string, o: number, inN: number, outN: number, scale: number): number {
  switch (mode) {
    case 'half_pixel': return (o + 0.5) / scale - 0.5
    case 'pytorch_half_pixel': return outN > 1 ? (o + 0.5) / scale - 0.5 : 0
    // the resized length before flooring (inN * scale), as ONNX's reference and ONNX Runtime use
    case 'align_corners': return outN === 1 ? 0 : (o * (inN - 1)) / (inN * scale - 1)
    case 'asymmetric': return o / scale
    case 'tf_half_pixel_for_nn': return (o + 0.5) / scale
    default: return c.unsupported(`coordinate_transformation_mode "${mode}"`, 'use half_pixel, pytorch_half_pixel, align_corners, asymmetric or tf_half_pixel_for_nn')
  }
}

function nearestIndex(c: OpCtx, mode: string, x: number, n: number): number {
  let i: number
  if (mode === 'floor') i = Math.floor(x)
  else if (mode === 'ceil') i = Math.ceil(x)
  else if (mode === 'round_prefer_floor') i = x - Math.floor(x) === 0.5 ? Math.floor(x) : Math.round(x)
  else if (mode === 'round_prefer_ceil') i = Math.round(x)
  else c.unsupported(`nearest_mode "${mode}"`)
  return Math.min(Math.max(i, 0), n - 1)
}

/** Resize along one axis: nearest as a (repeat or) Gather, linear as a product with an interpolation matrix. */
function resizeAxis(c: OpCtx, x: Tensor, a: number, outN: number, scale: number, mode: string, coord: string, nearest: string): Tensor {
  const inN = x.shape[a]!
  if (mode === 'nearest') {
    const idx = Array.from({ length: outN }, (_, o) => nearestIndex(c, nearest, sourceCoord(c, coord, o, inN, outN, scale), inN))
    const r = outN / inN
    if (Number.isInteger(r) && r > 1 && idx.every((v, o) => v === Math.floor(o / r))) {
      const e = [...x.shape.slice(0, a + 1), r, ...x.shape.slice(a + 1)]
      const s = [...x.shape]
      s[a] = outN
      return x.unsqueeze(a + 1).expand(e).reshape(s)                                 // each cell repeated r times
    }
    return gatherConst(x, a, idx)
  }
  const m = new Float32Array(inN * outN)                                             // (in, out)
  for (let o = 0; o < outN; o++) {
    const p = Math.min(Math.max(sourceCoord(c, coord, o, inN, outN, scale), 0), inN - 1)
    const i0 = Math.floor(p)
    const i1 = Math.min(i0 + 1, inN - 1)
    const f = p - i0
    m[i0 * outN + o] = m[i0 * outN + o]! + 1 - f
    m[i1 * outN + o] = m[i1 * outN + o]! + f
  }
  if (inN === outN && m.every((v, k) => v === (Math.floor(k / outN) === k % outN ? 1 : 0))) return x
  const mt = x.graph.constant(m, [inN, outN])
  return x.swap(a, -1).matmul(mt).swap(a, -1)
}

function resize(c: OpCtx, upsample: boolean): Value {
  const x = c.t(0)
  const mode = c.str('mode', 'nearest')
  if (mode !== 'nearest' && mode !== 'linear' && mode !== 'bilinear') c.unsupported(`mode "${mode}"`, 'use nearest or linear')
  let coord = 'asymmetric'
  let nearest = 'floor'
  let scales: number[] | undefined
  let sizes: number[] | undefined
  if (upsample) scales = c.opset >= 9 ? c.nums(1) : c.floats('scales')
  else if (c.opset < 11) scales = c.nums(1)
  else {
    coord = c.str('coordinate_transformation_mode', 'half_pixel')
    nearest = c.str('nearest_mode', 'round_prefer_floor')
    c.float('cubic_coeff_a', -0.75)
    if (c.int('exclude_outside', 0) !== 0 && mode !== 'nearest' && mode !== 'linear') c.unsupported('exclude_outside=1')
    c.int('exclude_outside', 0)
    c.float('extrapolation_value', 0)
    if (c.int('antialias', 0) !== 0) c.unsupported('antialias=1')
    if (c.str('keep_aspect_ratio_policy', 'stretch') !== 'stretch') c.unsupported('keep_aspect_ratio_policy other than stretch')
    scales = c.has(2) ? c.nums(2) : undefined
    sizes = c.has(3) ? c.nums(3) : undefined
    if (scales && scales.length === 0) scales = undefined
    if (sizes && sizes.length === 0) sizes = undefined
  }
  const axes = (c.opset >= 18 ? c.ints('axes') : undefined)?.map((a) => normAxis('Resize', a, x.rank)) ?? x.shape.map((_, i) => i)
  if (!scales && !sizes) c.fail('ONNX_ATTR', 'needs scales or sizes')
  let y = x
  axes.forEach((a, k) => {
    const inN = x.shape[a]!
    const outN = sizes ? sizes[k]! : Math.floor(inN * scales![k]!)
    const scale = sizes ? outN / inN : scales![k]!
    if (outN === inN && scale === 1) return
    y = resizeAxis(c, y, a, outN, scale, mode === 'bilinear' ? 'linear' : mode, coord, nearest)
  })
  return y
}

const act = (f: (x: Tensor, c: OpCtx) => Tensor): OpImpl => one((c) => f(c.t(0), c))

export const nnOps: Record<string, OpImpl> = {
  Conv: one(conv),
  ConvTranspose: one(convTranspose),
  MaxPool: maxPool,
  AveragePool: one(averagePool),
  GlobalAveragePool: one((c) => { const x = c.t(0); return x.mean(x.shape.map((_, i) => i).slice(2), true) }),
  GlobalMaxPool: one((c) => { const x = c.t(0); return x.max(x.shape.map((_, i) => i).slice(2), true) }),
  BatchNormalization: batchNorm,
  InstanceNormalization: one(instanceNorm),
  LayerNormalization: layerNorm,
  Resize: one((c) => resize(c, false)),
  Upsample: one((c) => resize(c, true)),
  DepthToSpace: one((c) => {
    const x = c.t(0)
    const b = c.int('blocksize', 1)
    const [N, C, H, W] = x.shape as [number, number, number, number]
    const dcr = c.str('mode', 'DCR') === 'DCR'
    const y = dcr ? x.reshape([N, b, b, C / (b * b), H, W]).transpose([0, 3, 4, 1, 5, 2]) : x.reshape([N, C / (b * b), b, b, H, W]).transpose([0, 1, 4, 2, 5, 3])
    return y.reshape([N, C / (b * b), H * b, W * b])
  }),
  SpaceToDepth: one((c) => {
    const x = c.t(0)
    const b = c.int('blocksize', 1)
    const [N, C, H, W] = x.shape as [number, number, number, number]
    return x.reshape([N, C, H / b, b, W / b, b]).transpose([0, 3, 5, 1, 2, 4]).reshape([N, C * b * b, H / b, W / b])
  }),
  LRN: one((c) => {
    // y = x / (bias + alpha/size * sum of squares over a window of `size` channels)^beta
    const x = c.t(0)
    const size = c.int('size', 1)
    const [alpha, beta, bias] = [c.float('alpha', 1e-4), c.float('beta', 0.75), c.float('bias', 1)]
    const lo = Math.floor((size - 1) / 2)
    const sq = x.square().unsqueeze(1)                                                  // (N, 1, C, spatial..)
    const k = [size, ...x.shape.slice(2).map(() => 1)]
    const pads = [lo, ...k.slice(1).map(() => 0), size - 1 - lo, ...k.slice(1).map(() => 0)]
    const s = c.g.emit('AveragePool', [sq], { kernel: k, strides: k.map(() => 1), pads, countIncludePad: true })[0]!.squeeze(1)
    return x.div(s.mul(alpha).add(bias).pow(beta))
  }),
  HardSigmoid: act((x, c) => x.mul(c.float('alpha', 0.2)).add(c.float('beta', 0.5)).clip(0, 1)),
  HardSwish: act((x) => x.mul(x.mul(1 / 6).add(0.5).clip(0, 1))),
  LeakyRelu: act((x, c) => where(x.ge(0), x, x.mul(c.float('alpha', 0.01)))),
  PRelu: one((c) => { const x = c.t(0); return where(x.ge(0), x, x.mul(c.t(1))) }),
  // exp of the negative part only, so a large positive input cannot overflow into the gradient
  Elu: act((x, c) => where(x.gt(0), x, x.minimum(0).exp().sub(1).mul(c.float('alpha', 1)))),
  Selu: act((x, c) => where(x.gt(0), x, x.minimum(0).exp().sub(1).mul(c.float('alpha', 1.67326319217681884765625))).mul(c.float('gamma', 1.05070102214813232421875))),
  Celu: act((x, c) => { const a = c.float('alpha', 1); return x.relu().add(x.minimum(0).mul(1 / a).exp().sub(1).mul(a)) }),
  ThresholdedRelu: act((x, c) => where(x.gt(c.float('alpha', 1)), x, 0)),
  Softplus: act((x) => x.relu().add(x.abs().neg().exp().add(1).log())),
  Softsign: act((x) => x.div(x.abs().add(1))),
  Mish: act((x) => x.mul(x.relu().add(x.abs().neg().exp().add(1).log()).tanh())),
  Gelu: act((x, c) => nn.gelu(x, c.str('approximate', 'none') === 'tanh' ? 'tanh' : 'none')),
  Shrink: act((x, c) => {
    const l = c.float('lambd', 0.5)
    const b = c.float('bias', 0)
    return where(x.lt(-l), x.add(b), where(x.gt(l), x.sub(b), 0))
  }),
}
