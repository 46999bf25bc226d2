/**
 * A float64 interpreter over the graph IR: the ground truth the tests hold ONNX Runtime and the
 * gradient rules to. Written for clarity, not speed; use it on small shapes.
 */
import { GraphError } from '../errors.js'
import type { Node, Tensor } from '../graph/graph.js'
import type { OpAttrs, OpName } from '../graph/ops.js'
import { size, strides } from '../graph/shape.js'
import { broadcastIndex, nd, unravel, type NDArray } from './ndarray.js'

type Kernel<K extends OpName> = (inputs: readonly NDArray[], attrs: OpAttrs[K], node: Node<K>) => NDArray[]

const map1 = <K extends OpName>(f: (x: number) => number): Kernel<K> => ([x]) => {
  const out = nd(x!.shape)
  for (let i = 0; i < out.data.length; i++) out.data[i] = f(x!.data[i]!)
  return [out]
}

function broadcastMap(inputs: readonly NDArray[], outShape: readonly number[], f: (...v: number[]) => number): NDArray {
  const out = nd(outShape)
  const idx = inputs.map((t) => broadcastIndex(t.shape, outShape))
  const vals = new Array<number>(inputs.length)
  for (let i = 0; i < out.data.length; i++) {
    for (let k = 0; k < inputs.length; k++) vals[k] = inputs[k]!.data[idx[k]![i]!]!
    out.data[i] = f(...vals)
  }
  return out
}

const map2 = <K extends OpName>(f: (a: number, b: number) => number): Kernel<K> => (inputs, _a, node) => [broadcastMap(inputs, node.outputs[0]!.shape, f)]

function erf(x: number): number {
  // Abramowitz-Stegun 7.1.26 is too coarse for gradient checks; use a series / continued fraction.
  const t = Math.abs(x)
  if (t < 2.5) {
    let sum = t
    let term = t
    const t2 = t * t
    for (let n = 1; n < 80; n++) {
      term *= -t2 / n
      const add = term / (2 * n + 1)
      sum += add
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum
  }
  // erfc continued fraction (Lentz)
  const z = t
  let f = z
  let C = z
  let D = 0
  for (let n = 1; n < 200; n++) {
    const a = n / 2
    D = z + a * D
    C = z + a / C
    D = 1 / D
    const delta = C * D
    f *= delta
    if (Math.abs(delta - 1) < 1e-16) break
  }
  const erfc = Math.exp(-z * z) / (f * Math.sqrt(Math.PI))
  return Math.sign(x) * (1 - erfc)
}

function reduce(x: NDArray, axes: readonly number[], keepdims: boolean, init: number, f: (acc: number, v: number) => number): { out: NDArray; count: number } {
  const outShapeKeep = x.shape.map((d, i) => (axes.includes(i) ? 1 : d))
  const out = nd(outShapeKeep)
  out.data.fill(init)
  const idx = broadcastIndex(outShapeKeep, x.shape)
  for (let i = 0; i < x.data.length; i++) out.data[idx[i]!] = f(out.data[idx[i]!]!, x.data[i]!)
  const shape = keepdims ? outShapeKeep : x.shape.filter((_, i) => !axes.includes(i))
  return { out: { shape, data: out.data }, count: axes.reduce((a, i) => a * x.shape[i]!, 1) }
}

function transpose(x: NDArray, perm: readonly number[]): NDArray {
  const shape = perm.map((p) => x.shape[p]!)
  const out = nd(shape)
  const xs = strides(x.shape)
  const os = strides(shape)
  for (let i = 0; i < out.data.length; i++) {
    const c = unravel(i, shape, os)
    let src = 0
    for (let k = 0; k < perm.length; k++) src += c[k]! * xs[perm[k]!]!
    out.data[i] = x.data[src]!
  }
  return out
}

function matmul2(a: Float64Array, ao: number, b: Float64Array, bo: number, out: Float64Array, oo: number, m: number, k: number, n: number): void {
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0
      for (let p = 0; p < k; p++) s += a[ao + i * k + p]! * b[bo + p * n + j]!
      out[oo + i * n + j] = s
    }
}

function softmaxAxis(x: NDArray, axis: number, log: boolean): NDArray {
  const out = nd(x.shape)
  const n = x.shape[axis]!
  const inner = size(x.shape.slice(axis + 1))
  const outer = size(x.shape.slice(0, axis))
  for (let o = 0; o < outer; o++)
    for (let i = 0; i < inner; i++) {
      const at = (k: number): number => o * n * inner + k * inner + i
      let m = -Infinity
      for (let k = 0; k < n; k++) m = Math.max(m, x.data[at(k)]!)
      let s = 0
      for (let k = 0; k < n; k++) s += Math.exp(x.data[at(k)]! - m)
      for (let k = 0; k < n; k++) out.data[at(k)] = log ? x.data[at(k)]! - m - Math.log(s) : Math.exp(x.data[at(k)]! - m) / s
    }
  return out
}

/** Generic N-d convolution (NCHW...), grouped, with strides, pads, dilations. */
function conv(x: NDArray, w: NDArray, b: NDArray | undefined, a: OpAttrs['Conv'], outShape: readonly number[]): NDArray {
  const out = nd(outShape)
  const nd_ = x.shape.length - 2
  const [N, C] = x.shape as [number, number]
  const O = w.shape[0]!
  const Cg = C / a.group
  const Og = O / a.group
  const ksp = w.shape.slice(2)
  const kn = size(ksp)
  const osp = outShape.slice(2)
  const on = size(osp)
  const xs = strides(x.shape)
  const ws = strides(w.shape)
  for (let n = 0; n < N; n++)
    for (let o = 0; o < O; o++) {
      const grp = Math.floor(o / Og)
      for (let p = 0; p < on; p++) {
        const oc = unravel(p, osp)
        let s = b ? b.data[o]! : 0
        for (let c = 0; c < Cg; c++)
          for (let q = 0; q < kn; q++) {
            const kc = unravel(q, ksp)
            let src = n * xs[0]! + (grp * Cg + c) * xs[1]!
            let inside = true
            for (let d = 0; d < nd_; d++) {
              const pos = oc[d]! * a.strides[d]! + kc[d]! * a.dilations[d]! - a.pads[d]!
              if (pos < 0 || pos >= x.shape[d + 2]!) { inside = false; break }
              src += pos * xs[d + 2]!
            }
            if (!inside) continue
            let wi = o * ws[0]! + c * ws[1]!
            for (let d = 0; d < nd_; d++) wi += kc[d]! * ws[d + 2]!
            s += x.data[src]! * w.data[wi]!
          }
        out.data[(n * O + o) * on + p] = s
      }
    }
  return out
}

function convTranspose(x: NDArray, w: NDArray, b: NDArray | undefined, a: OpAttrs['ConvTranspose'], outShape: readonly number[]): NDArray {
  const out = nd(outShape)
  const nd_ = x.shape.length - 2
  const [N, C] = x.shape as [number, number]
  const Og = w.shape[1]!
  const O = Og * a.group
  const Cg = C / a.group
  const ksp = w.shape.slice(2)
  const kn = size(ksp)
  const isp = x.shape.slice(2)
  const inn = size(isp)
  const osp = outShape.slice(2)
  const os = strides(outShape)
  const ws = strides(w.shape)
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++) {
      const grp = Math.floor(c / Cg)
      for (let p = 0; p < inn; p++) {
        const ic = unravel(p, isp)
        const v = x.data[(n * C + c) * inn + p]!
        for (let og = 0; og < Og; og++)
          for (let q = 0; q < kn; q++) {
            const kc = unravel(q, ksp)
            let dst = n * os[0]! + (grp * Og + og) * os[1]!
            let inside = true
            for (let d = 0; d < nd_; d++) {
              const pos = ic[d]! * a.strides[d]! + kc[d]! * a.dilations[d]! - a.pads[d]!
              if (pos < 0 || pos >= osp[d]!) { inside = false; break }
              dst += pos * os[d + 2]!
            }
            if (!inside) continue
            let wi = c * ws[0]! + og * ws[1]!
            for (let d = 0; d < nd_; d++) wi += kc[d]! * ws[d + 2]!
            out.data[dst] = out.data[dst]! + v * w.data[wi]!
          }
      }
    }
  if (b) for (let i = 0; i < out.data.length; i++) out.data[i] = out.data[i]! + b.data[Math.floor(i / size(osp)) % O]!
  return out
}

function pool(x: NDArray, kernel: readonly number[], st: readonly number[], pads: readonly number[], outShape: readonly number[], mode: 'max' | 'avg', includePad: boolean): NDArray[] {
  const out = nd(outShape)
  const idxOut = nd(outShape)
  const nd_ = kernel.length
  const [N, C] = x.shape as [number, number]
  const isp = x.shape.slice(2)
  const inn = size(isp)
  const osp = outShape.slice(2)
  const on = size(osp)
  const kn = size(kernel)
  for (let nc = 0; nc < N * C; nc++)
    for (let p = 0; p < on; p++) {
      const oc = unravel(p, osp)
      let best = -Infinity
      let bestIdx = -1
      let sum = 0
      let count = 0
      for (let q = 0; q < kn; q++) {
        const kc = unravel(q, kernel)
        let src = 0
        let inside = true
        let inPadded = true
        for (let d = 0; d < nd_; d++) {
          const pos = oc[d]! * st[d]! + kc[d]! - pads[d]!
          if (pos < -pads[d]! || pos >= isp[d]! + pads[d + nd_]!) inPadded = false
          if (pos < 0 || pos >= isp[d]!) inside = false
          src = src * isp[d]! + pos
        }
        if (inside) {
          const v = x.data[nc * inn + src]!
          if (v > best) { best = v; bestIdx = nc * inn + src }
          sum += v
          count++
        } else if (includePad && inPadded) count++
      }
      out.data[nc * on + p] = mode === 'max' ? best : sum / count
      idxOut.data[nc * on + p] = bestIdx
    }
  return mode === 'max' ? [out, idxOut] : [out]
}

const cmp = <K extends OpName>(f: (a: number, b: number) => boolean): Kernel<K> => map2((a, b) => (f(a, b) ? 1 : 0))

export const referenceKernels: { [K in OpName]: Kernel<K> } = {
  Identity: ([x]) => [x!],
  StopGradient: ([x]) => [x!],
  Neg: map1((x) => -x),
  Exp: map1(Math.exp),
  Log: map1(Math.log),
  Sqrt: map1(Math.sqrt),
  Reciprocal: map1((x) => 1 / x),
  Abs: map1(Math.abs),
  Sign: map1((x) => Math.sign(x)),
  Tanh: map1(Math.tanh),
  Erf: map1(erf),
  Gelu: ([x]) => {
    const u = map1((v) => v / Math.SQRT2)([x!], {} as never, undefined as never)[0]!
    const phi = map1((v) => 0.5 * (1 + erf(v)))([u], {} as never, undefined as never)[0]!
    const y = nd(x!.shape)
    for (let i = 0; i < y.data.length; i++) y.data[i] = x!.data[i]! * phi.data[i]!
    return [y, u, phi]
  },
  Sigmoid: map1((x) => 1 / (1 + Math.exp(-x))),
  Relu: map1((x) => Math.max(x, 0)),
  Sin: map1(Math.sin),
  Cos: map1(Math.cos),
  Not: map1((x) => (x ? 0 : 1)),
  Add: map2((a, b) => a + b),
  Sub: map2((a, b) => a - b),
  Mul: map2((a, b) => a * b),
  Div: (inputs, _a, node) => [broadcastMap(inputs, node.outputs[0]!.shape, node.outputs[0]!.dtype === 'int64' ? (a, b) => Math.trunc(a / b) : (a, b) => a / b)],
  Pow: map2((a, b) => Math.pow(a, b)),
  Max: map2((a, b) => Math.max(a, b)),
  Min: map2((a, b) => Math.min(a, b)),
  Equal: cmp((a, b) => a === b),
  Less: cmp((a, b) => a < b),
  Greater: cmp((a, b) => a > b),
  LessOrEqual: cmp((a, b) => a <= b),
  GreaterOrEqual: cmp((a, b) => a >= b),
  And: cmp((a, b) => !!a && !!b),
  Or: cmp((a, b) => !!a || !!b),
  Where: (inputs, _a, node) => [broadcastMap(inputs, node.outputs[0]!.shape, (c, a, b) => (c ? a : b))],
  Cast: ([x], { to }) => {
    const f = to === 'bool' ? (v: number) => (v ? 1 : 0) : to === 'int64' || to === 'uint8' ? Math.trunc : (v: number) => v
    return map1(f)([x!], {} as never, undefined as never)
  },
  Clip: ([x], { min, max }) => map1((v) => Math.min(Math.max(v, min), max))([x!], {} as never, undefined as never),
  ReduceSum: ([x], { axes, keepdims }) => [reduce(x!, axes, keepdims, 0, (a, v) => a + v).out],
  ReduceSumSquare: ([x], { axes, keepdims }) => [reduce(x!, axes, keepdims, 0, (a, v) => a + v * v).out],
  ReduceMean: ([x], { axes, keepdims }) => {
    const { out, count } = reduce(x!, axes, keepdims, 0, (a, v) => a + v)
    for (let i = 0; i < out.data.length; i++) out.data[i] = out.data[i]! / count
    return [out]
  },
  ReduceMax: ([x], { axes, keepdims }) => [reduce(x!, axes, keepdims, -Infinity, Math.max).out],
  ArgMax: ([x], { axis, keepdims }, node) => {
    const out = nd(node.outputs[0]!.shape)
    const n = x!.shape[axis]!
    const inner = size(x!.shape.slice(axis + 1))
    const outer = size(x!.shape.slice(0, axis))
    for (let o = 0; o < outer; o++)
      for (let i = 0; i < inner; i++) {
        let best = -Infinity
        let bi = 0
        for (let k = 0; k < n; k++) {
          const v = x!.data[o * n * inner + k * inner + i]!
          if (v > best) { best = v; bi = k }
        }
        out.data[o * inner + i] = bi
      }
    void keepdims
    return [out]
  },
  CumSum: ([x], { axis, reverse, exclusive }) => {
    const out = nd(x!.shape)
    const n = x!.shape[axis]!
    const inner = size(x!.shape.slice(axis + 1))
    const outer = size(x!.shape.slice(0, axis))
    for (let o = 0; o < outer; o++)
      for (let i = 0; i < inner; i++) {
        let acc = 0
        for (let k0 = 0; k0 < n; k0++) {
          const k = reverse ? n - 1 - k0 : k0
          const at = o * n * inner + k * inner + i
          if (exclusive) { out.data[at] = acc; acc += x!.data[at]! } else { acc += x!.data[at]!; out.data[at] = acc }
        }
      }
    return [out]
  },
  MatMul: ([a, b], _attrs, node) => {
    const outShape = node.outputs[0]!.shape
    const batch = outShape.slice(0, -2)
    const [m, k] = a!.shape.slice(-2) as [number, number]
    const n = b!.shape[b!.shape.length - 1]!
    const out = nd(outShape)
    const ab = broadcastIndex(a!.shape.slice(0, -2), batch)
    const bb = broadcastIndex(b!.shape.slice(0, -2), batch)
    for (let i = 0; i < size(batch); i++) matmul2(a!.data, ab[i]! * m * k, b!.data, bb[i]! * k * n, out.data, i * m * n, m, k, n)
    return [out]
  },
  Gemm: ([a, b, c], { transA, transB, alpha, beta }, node) => {
    const A = transA ? transpose(a!, [1, 0]) : a!
    const B = transB ? transpose(b!, [1, 0]) : b!
    const [m, k] = A.shape as [number, number]
    const n = B.shape[1]!
    const out = nd([m, n])
    matmul2(A.data, 0, B.data, 0, out.data, 0, m, k, n)
    const cb = c ? broadcastIndex(c.shape, node.outputs[0]!.shape) : null
    for (let i = 0; i < out.data.length; i++) out.data[i] = alpha * out.data[i]! + (c ? beta * c.data[cb![i]!]! : 0)
    return [out]
  },
  Reshape: ([x], { shape }) => [{ shape: [...shape], data: x!.data }],
  Transpose: ([x], { perm }) => [transpose(x!, perm)],
  Slice: ([x], { starts, axes, steps }, node) => {
    const shape = node.outputs[0]!.shape
    const out = nd(shape)
    const xs = strides(x!.shape)
    const os = strides(shape)
    for (let i = 0; i < out.data.length; i++) {
      const c = unravel(i, shape, os)
      let src = 0
      for (let d = 0; d < c.length; d++) {
        const k = axes.indexOf(d)
        src += (k < 0 ? c[d]! : starts[k]! + c[d]! * steps[k]!) * xs[d]!
      }
      out.data[i] = x!.data[src]!
    }
    return [out]
  },
  Concat: (inputs, { axis }, node) => {
    const shape = node.outputs[0]!.shape
    const out = nd(shape)
    const outer = size(shape.slice(0, axis))
    const inner = size(shape.slice(axis + 1))
    let off = 0
    for (const t of inputs) {
      const n = t.shape[axis]!
      for (let o = 0; o < outer; o++)
        for (let k = 0; k < n * inner; k++) out.data[o * shape[axis]! * inner + off * inner + k] = t.data[o * n * inner + k]!
      off += n
    }
    return [out]
  },
  Split: ([x], { axis, sizes }) => {
    const outer = size(x!.shape.slice(0, axis))
    const inner = size(x!.shape.slice(axis + 1))
    const total = x!.shape[axis]!
    let off = 0
    return sizes.map((n) => {
      const out = nd(x!.shape.map((d, i) => (i === axis ? n : d)))
      for (let o = 0; o < outer; o++) for (let k = 0; k < n * inner; k++) out.data[o * n * inner + k] = x!.data[o * total * inner + off * inner + k]!
      off += n
      return out
    })
  },
  Expand: ([x], _a, node) => [broadcastMap([x!], node.outputs[0]!.shape, (v) => v)],
  Pad: ([x], { pads, value }, node) => {
    const shape = node.outputs[0]!.shape
    const out = nd(shape)
    out.data.fill(value)
    const xs = x!.shape
    const os = strides(shape)
    for (let i = 0; i < x!.data.length; i++) {
      const c = unravel(i, xs)
      let dst = 0
      for (let d = 0; d < c.length; d++) dst += (c[d]! + pads[d]!) * os[d]!
      out.data[dst] = x!.data[i]!
    }
    return [out]
  },
  Gather: ([x, idx], { axis }, node) => {
    const shape = node.outputs[0]!.shape
    const out = nd(shape)
    const outer = size(x!.shape.slice(0, axis))
    const inner = size(x!.shape.slice(axis + 1))
    const n = x!.shape[axis]!
    const ni = idx!.data.length
    for (let o = 0; o < outer; o++)
      for (let j = 0; j < ni; j++) {
        let k = idx!.data[j]!
        if (k < 0) k += n
        if (k < 0 || k >= n) throw new GraphError('RUNTIME_INDEX', `Gather: index ${idx!.data[j]} out of range for axis of size ${n}`)
        for (let i = 0; i < inner; i++) out.data[(o * ni + j) * inner + i] = x!.data[(o * n + k) * inner + i]!
      }
    return [out]
  },
  GatherElements: ([x, idx], { axis }) => {
    const out = nd(idx!.shape)
    const xs = strides(x!.shape)
    for (let i = 0; i < out.data.length; i++) {
      const c = unravel(i, idx!.shape)
      let k = idx!.data[i]!
      if (k < 0) k += x!.shape[axis]!
      c[axis] = k
      out.data[i] = x!.data[c.reduce((a, v, d) => a + v * xs[d]!, 0)]!
    }
    return [out]
  },
  ScatterElements: ([x, idx, upd], { axis, reduction }) => {
    const out = nd(x!.shape, x!.data)
    const xs = strides(x!.shape)
    for (let i = 0; i < upd!.data.length; i++) {
      const c = unravel(i, idx!.shape)
      let k = idx!.data[i]!
      if (k < 0) k += x!.shape[axis]!
      c[axis] = k
      const dst = c.reduce((a, v, d) => a + v * xs[d]!, 0)
      out.data[dst] = reduction === 'add' ? out.data[dst]! + upd!.data[i]! : upd!.data[i]!
    }
    return [out]
  },
  ScatterND: ([x, idx, upd], { reduction }) => {
    const out = nd(x!.shape, x!.data)
    const k = idx!.shape[idx!.shape.length - 1]!
    const xs = strides(x!.shape)
    const inner = size(x!.shape.slice(k))
    const m = idx!.data.length / k
    for (let j = 0; j < m; j++) {
      let base = 0
      for (let d = 0; d < k; d++) {
        let v = idx!.data[j * k + d]!
        if (v < 0) v += x!.shape[d]!
        base += v * xs[d]!
      }
      for (let i = 0; i < inner; i++) out.data[base + i] = reduction === 'add' ? out.data[base + i]! + upd!.data[j * inner + i]! : upd!.data[j * inner + i]!
    }
    return [out]
  },
  Softmax: ([x], { axis }) => [softmaxAxis(x!, axis, false)],
  LogSoftmax: ([x], { axis }) => [softmaxAxis(x!, axis, true)],
  LayerNormalization: ([x, w, b], { axis, epsilon }, node) => {
    const inner = size(x!.shape.slice(axis))
    const outer = size(x!.shape.slice(0, axis))
    const out = nd(x!.shape)
    const mean = nd(node.outputs[1]!.shape)
    const inv = nd(node.outputs[2]!.shape)
    for (let o = 0; o < outer; o++) {
      let m = 0
      for (let i = 0; i < inner; i++) m += x!.data[o * inner + i]!
      m /= inner
      let v = 0
      for (let i = 0; i < inner; i++) v += (x!.data[o * inner + i]! - m) ** 2
      v /= inner
      const r = 1 / Math.sqrt(v + epsilon)
      mean.data[o] = m
      inv.data[o] = r
      for (let i = 0; i < inner; i++) out.data[o * inner + i] = (x!.data[o * inner + i]! - m) * r * w!.data[i]! + (b ? b.data[i]! : 0)
    }
    return [out, mean, inv]
  },
  BatchNormalization: ([x, w, b, m, v], { epsilon }) => {
    const out = nd(x!.shape)
    const C = x!.shape[1]!
    const inner = size(x!.shape.slice(2))
    for (let i = 0; i < out.data.length; i++) {
      const c = Math.floor(i / inner) % C
      out.data[i] = ((x!.data[i]! - m!.data[c]!) / Math.sqrt(v!.data[c]! + epsilon)) * w!.data[c]! + b!.data[c]!
    }
    return [out]
  },
  Conv: ([x, w, b], attrs, node) => [conv(x!, w!, b, attrs, node.outputs[0]!.shape)],
  ConvTranspose: ([x, w, b], attrs, node) => [convTranspose(x!, w!, b, attrs, node.outputs[0]!.shape)],
  MaxPool: ([x], { kernel, strides: st, pads }, node) => pool(x!, kernel, st, pads, node.outputs[0]!.shape, 'max', false),
  AveragePool: ([x], { kernel, strides: st, pads, countIncludePad }, node) => pool(x!, kernel, st, pads, node.outputs[0]!.shape, 'avg', countIncludePad),
  CtcAlpha: ([emit, skip, live, ends]) => ctcAlpha(emit!, skip!, live!, ends!),
  CtcBeta: ([emit, skip, live, last, ends]) => [ctcBeta(emit!, skip!, live!, last!, ends!)],
  Recurrence: ([gi, whh, bhh, mask], { kind, reverse }) => recurrence(kind, reverse, gi!, whh!, bhh!, mask!),
  RecurrenceGrad: ([dout, whh, mask, hprev, saved], { kind, reverse }) => recurrenceGrad(kind, reverse, dout!, whh!, mask!, hprev!, saved!),
}

/** Feeds for `evaluate`: by tensor, or by input name; parameters default to their current data. */
export type Feeds = Map<Tensor, NDArray> | Record<string, NDArray>

/** Evaluates `outputs` in float64. Inputs come from `feeds`; parameter inputs default to their data. */
export function evaluate(outputs: readonly Tensor[], feeds: Feeds = {}): NDArray[] {
  if (outputs.length === 0) return []
  const g = outputs[0]!.graph
  const paramByTensor = new Map<number, Float32Array>()
  for (const [p, t] of g.params) paramByTensor.set(t.id, p.data)
  const values = new Map<number, NDArray>()
  const value = (t: Tensor): NDArray => {
    const v = values.get(t.id)
    if (v) return v
    const s = t.source
    let out: NDArray
    if (s.kind === 'const') out = nd(t.shape, s.data as ArrayLike<number>)
    else if (s.kind === 'input') {
      const fed = feeds instanceof Map ? feeds.get(t) : feeds[s.name]
      const pd = paramByTensor.get(t.id)
      if (fed) out = fed
      else if (pd) out = nd(t.shape, pd)
      else throw new GraphError('RUNTIME_FEED', `no value fed for graph input "${s.name}"`)
      if (out.shape.join() !== t.shape.join()) throw new GraphError('RUNTIME_FEED', `input "${s.name}" fed with shape [${out.shape}], graph expects [${t.shape}]`)
    } else throw new Error('unreachable')
    values.set(t.id, out)
    return out
  }
  // compute only the nodes the outputs need
  const needed = new Set<number>()
  const stack = outputs.map((t) => t)
  const maxNode = Math.max(...outputs.map((t) => (t.source.kind === 'op' ? t.source.node.id : -1)))
  while (stack.length) {
    const t = stack.pop()!
    if (t.source.kind !== 'op' || needed.has(t.source.node.id)) continue
    needed.add(t.source.node.id)
    stack.push(...t.source.node.inputs)
  }
  for (let i = 0; i <= maxNode; i++) {
    if (!needed.has(i)) continue
    const n = g.nodes[i]!
    const ins = n.inputs.map((t) => (t.source.kind === 'op' ? values.get(t.id)! : value(t)))
    const kernel = referenceKernels[n.op] as Kernel<OpName>
    const outs = kernel(ins, n.attrs, n)
    n.outputs.forEach((o, k) => values.set(o.id, { shape: o.shape, data: outs[k]!.data }))
  }
  return outputs.map((t) => value(t))
}

// CTC's recursions (graph/ctc.ts), in float64: log(exp(a) + exp(b) + exp(c)) with the largest taken out
const CTC_NEG = -1e30
function lse3(a: number, b: number, c: number): number {
  const m = Math.max(a, b, c)
  return Math.log(Math.exp(a - m) + Math.exp(b - m) + Math.exp(c - m)) + m
}

function ctcAlpha(emit: NDArray, skip: NDArray, live: NDArray, ends: NDArray): NDArray[] {
  const [B, T, S] = emit.shape as [number, number, number]
  const alphas = nd([B, T, S])
  const ll = nd([B])
  for (let b = 0; b < B; b++) {
    let prev = new Float64Array(S).fill(CTC_NEG)
    prev[0] = 0
    for (let t = 0; t < T; t++) {
      const cur = new Float64Array(S)
      for (let s = 0; s < S; s++) {
        if (!live.data[b * T + t]) {
          cur[s] = prev[s]!
          continue
        }
        const a1 = s >= 1 ? prev[s - 1]! : CTC_NEG
        const a2 = s >= 2 ? prev[s - 2]! + skip.data[b * S + s]! : CTC_NEG
        cur[s] = lse3(prev[s]!, a1, a2) + emit.data[(b * T + t) * S + s]!
      }
      alphas.data.set(cur, (b * T + t) * S)
      prev = cur
    }
    let m = -Infinity
    for (let s = 0; s < S; s++) m = Math.max(m, prev[s]! + ends.data[b * S + s]!)
    let sum = 0
    for (let s = 0; s < S; s++) sum += Math.exp(prev[s]! + ends.data[b * S + s]! - m)
    ll.data[b] = Math.log(sum) + m
  }
  return [ll, alphas]
}

function ctcBeta(emit: NDArray, skip: NDArray, live: NDArray, last: NDArray, ends: NDArray): NDArray {
  const [B, T, S] = emit.shape as [number, number, number]
  const betas = nd([B, T, S])
  for (let b = 0; b < B; b++) {
    let next = new Float64Array(S).fill(CTC_NEG)
    for (let t = T - 1; t >= 0; t--) {
      const cur = new Float64Array(S)
      for (let s = 0; s < S; s++) {
        if (!live.data[b * T + t]) {
          cur[s] = CTC_NEG
          continue
        }
        const b1 = s + 1 < S ? next[s + 1]! : CTC_NEG
        const b2 = s + 2 < S ? next[s + 2]! + skip.data[b * S + s + 2]! : CTC_NEG
        const r = last.data[b * T + t] ? ends.data[b * S + s]! : lse3(next[s]!, b1, b2)
        cur[s] = r + emit.data[(b * T + t) * S + s]!
      }
      betas.data.set(cur, (b * T + t) * S)
      next = cur
    }
  }
  return betas
}

// GRU / LSTM directions (graph/rnn.ts) and their backpropagation through time, in float64
const sigmoid = (v: number): number => 1 / (1 + Math.exp(-v))

function recurrence(kind: 'gru' | 'lstm', reverse: boolean, gi: NDArray, whh: NDArray, bhh: NDArray, mask: NDArray): NDArray[] {
  const [B, T, GH] = gi.shape as [number, number, number]
  const H = whh.shape[1]!
  const S = (kind === 'gru' ? 4 : 6) * H
  const out = nd([B, T, H])
  const hprev = nd([B, T, H])
  const saved = nd([B, T, S])
  for (let b = 0; b < B; b++) {
    const h = new Float64Array(H)
    const c = new Float64Array(H)
    for (let k = 0; k < T; k++) {
      const t = reverse ? T - 1 - k : k
      const bt = b * T + t
      hprev.data.set(h, bt * H)
      const hh = new Float64Array(GH)
      for (let j = 0; j < GH; j++) {
        let v = bhh.data[j]!
        for (let q = 0; q < H; q++) v += whh.data[j * H + q]! * h[q]!
        hh[j] = v
      }
      const x = (j: number): number => gi.data[bt * GH + j]!
      const m = mask.data[bt]!
      const sv = bt * S
      for (let q = 0; q < H; q++) {
        let hNew: number
        if (kind === 'gru') {
          const r = sigmoid(x(q) + hh[q]!)
          const z = sigmoid(x(H + q) + hh[H + q]!)
          const hn = hh[2 * H + q]!
          const n = Math.tanh(x(2 * H + q) + r * hn)
          hNew = (1 - z) * n + z * h[q]!
          saved.data[sv + q] = r
          saved.data[sv + H + q] = z
          saved.data[sv + 2 * H + q] = n
          saved.data[sv + 3 * H + q] = hn
        } else {
          const i = sigmoid(x(q) + hh[q]!)
          const f = sigmoid(x(H + q) + hh[H + q]!)
          const g = Math.tanh(x(2 * H + q) + hh[2 * H + q]!)
          const o = sigmoid(x(3 * H + q) + hh[3 * H + q]!)
          const cNew = f * c[q]! + i * g
          const tc = Math.tanh(cNew)
          hNew = o * tc
          for (const [a, v] of [i, f, g, o, c[q]!, tc].entries()) saved.data[sv + a * H + q] = v
          c[q] = c[q]! + m * (cNew - c[q]!)
        }
        out.data[bt * H + q] = hNew * m
        h[q] = h[q]! + m * (hNew - h[q]!)
      }
    }
  }
  return [out, hprev, saved]
}

function recurrenceGrad(kind: 'gru' | 'lstm', reverse: boolean, dout: NDArray, whh: NDArray, mask: NDArray, hprev: NDArray, saved: NDArray): NDArray[] {
  const [B, T, H] = dout.shape as [number, number, number]
  const GH = whh.shape[0]!
  const S = saved.shape[2]!
  const dgi = nd([B, T, GH])
  const dhh = nd([B, T, GH])
  for (let b = 0; b < B; b++) {
    let dh = new Float64Array(H)
    const dc = new Float64Array(H)
    for (let k = 0; k < T; k++) {
      const t = reverse ? k : T - 1 - k
      const bt = b * T + t
      const m = mask.data[bt]!
      const sv = (a: number, q: number): number => saved.data[bt * S + a * H + q]!
      const next = new Float64Array(H)
      for (let q = 0; q < H; q++) {
        const dhN = (dout.data[bt * H + q]! + dh[q]!) * m
        if (kind === 'gru') {
          const [r, z, n, hn] = [sv(0, q), sv(1, q), sv(2, q), sv(3, q)]
          const dnp = dhN * (1 - z) * (1 - n * n)
          const drp = dnp * hn * r * (1 - r)
          const dzp = dhN * (hprev.data[bt * H + q]! - n) * z * (1 - z)
          for (const [a, v] of [drp, dzp, dnp].entries()) dgi.data[bt * GH + a * H + q] = v
          for (const [a, v] of [drp, dzp, dnp * r].entries()) dhh.data[bt * GH + a * H + q] = v
          next[q] = dh[q]! * (1 - m) + dhN * z
        } else {
          const [i, f, g, o, cPrev, tc] = [sv(0, q), sv(1, q), sv(2, q), sv(3, q), sv(4, q), sv(5, q)]
          const dcN = dc[q]! * m + dhN * o * (1 - tc * tc)
          const pre = [dcN * g * i * (1 - i), dcN * cPrev * f * (1 - f), dcN * i * (1 - g * g), dhN * tc * o * (1 - o)]
          for (const [a, v] of pre.entries()) {
            dgi.data[bt * GH + a * H + q] = v
            dhh.data[bt * GH + a * H + q] = v
          }
          dc[q] = dc[q]! * (1 - m) + dcN * f
          next[q] = dh[q]! * (1 - m)
        }
      }
      // through weight_hh into the state before the frame
      for (let q = 0; q < H; q++) {
        let v = next[q]!
        for (let j = 0; j < GH; j++) v += dhh.data[bt * GH + j]! * whh.data[j * H + q]!
        next[q] = v
      }
      dh = next
    }
  }
  return [dgi, dhh]
}
