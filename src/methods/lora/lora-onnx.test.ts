// LoRA on an imported ONNX graph: the weights MatMul and Gemm read are adapted by their initializer
// names (PEFT-style module names without `.weight`); with B = 0 the graph computes what the file
// computes; merged == unmerged for MatMul, Gemm with transB and Gemm with alpha; the gradient of
// the adapter agrees with central finite differences (float64 reference); the base stays unchanged.
import { describe, expect, it } from 'vitest'
import { grad } from '../../autodiff/grad.js'
import { Graph, trace, withGraph } from '../../graph/graph.js'
import { importOnnx, type OnnxModel } from '../../onnx/import.js'
import { nd } from '../../runtime/ndarray.js'
import { expectClose } from '../../../test/op-check.js'
import { evaluate } from '../../runtime/reference.js'
import { Rng } from '../../runtime/rng.js'
import { aFloat, aInt, aInts, buildModel, init, node, vi } from '../../../test/onnx-build.js'
import { adapterParameters, applyLora, hasLora, loraTargets, mergeLora, withoutLora, type LoraConfig } from './lora.js'

const rng = new Rng(11)
const randn = (n: number): number[] => Array.from({ length: n }, () => Math.fround(rng.normal() * 0.5))

/** x (B, T, 4) -> MatMul by enc.query.weight (4, 6) -> Relu -> mean over T -> Gemm(transB, alpha 0.5) by head.dense.weight (3, 6) -> Gemm by out.weight (3, 2). */
function mlp(): Uint8Array {
  return buildModel({
    opset: 14,
    inputs: [vi('x', ['batch', 5, 4])],
    outputs: [vi('y', ['batch', 2])],
    inits: [
      init('enc.query.weight', randn(24), [4, 6]),
      init('head.dense.weight', randn(18), [3, 6]),
      init('head.dense.bias', randn(3), [3]),
      init('out.weight', randn(6), [3, 2]),
    ],
    nodes: [
      node('MatMul', ['x', 'enc.query.weight'], ['h']),
      node('Relu', ['h'], ['r']),
      node('ReduceMean', ['r'], ['p'], [aInts('axes', [1]), aInt('keepdims', 0)]),
      node('Gemm', ['p', 'head.dense.weight', 'head.dense.bias'], ['d'], [aInt('transB', 1), aFloat('alpha', 0.5)]),
      node('Gemm', ['d', 'out.weight'], ['y']),
    ],
  })
}

const x = nd([2, 5, 4], randn(2 * 5 * 4))
function run(m: OnnxModel): Float64Array {
  const { result } = trace((g) => evaluate([m.forward({ x: g.input('x', [2, 5, 4]) })['y']!], { x })[0]!)
  return Float64Array.from(result.data)
}
const cfg = (o: Partial<LoraConfig> = {}): LoraConfig => ({ r: 2, alpha: 4, dropout: 0, targets: ['query', 'dense', 'out'], bias: 'none', rslora: false, modulesToSave: [], ...o })
const randomiseB = (m: OnnxModel): void => {
  for (const [n, p] of m.namedParameters()) if (n.endsWith('lora_B.weight')) p.data = Float32Array.from(randn(p.data.length))
}

describe('LoRA on an imported ONNX graph', () => {
  it('finds MatMul and Gemm weights under PEFT-style names and adapts the ones targeted', () => {
    const m = importOnnx(mlp())
    expect(m.loraSites()).toEqual([
      { name: 'enc.query', inF: 4, outF: 6 },
      { name: 'head.dense', inF: 6, outF: 3 },
      { name: 'out', inF: 3, outF: 2 },
    ])
    expect(loraTargets(m, ['query'])).toEqual(['enc.query'])
    expect(() => loraTargets(m, ['key'])).toThrow(expect.objectContaining({ code: 'LORA_NO_TARGETS', hint: 'layers LoRA can adapt here end in: query, dense, out' }))
    const base = run(m)
    const r = applyLora(m, cfg(), new Rng(1))
    expect(r.adapted).toEqual(['enc.query', 'head.dense', 'out'])
    // PEFT's count: r * (in + out) per adapted weight
    expect(r.trainable).toBe(2 * (4 + 6) + 2 * (6 + 3) + 2 * (3 + 2))
    expect(hasLora(m)).toBe(true)
    expect(adapterParameters(m, cfg()).map(([n]) => n)).toEqual(['enc.query.lora_A.weight', 'enc.query.lora_B.weight', 'head.dense.lora_A.weight', 'head.dense.lora_B.weight', 'out.lora_A.weight', 'out.lora_B.weight'])
    // B starts at zero: the graph computes what the file computes
    expect(Array.from(run(m))).toEqual(Array.from(base))
  })

  it('merged == unmerged (MatMul, Gemm transB with alpha, Gemm), and merging takes the adapter off', async () => {
    const m = importOnnx(mlp())
    applyLora(m, cfg({ rslora: true }), new Rng(2))
    randomiseB(m)
    const before = run(m)
    const w = Float32Array.from(m._params.get('head.dense.weight')!.data)
    await withoutLora(m, async () => expect(m.namedParameters().some(([n]) => n.includes('lora'))).toBe(false))
    expect(m.namedParameters().filter(([n]) => n.includes('lora')).length).toBe(6)
    expect(mergeLora(m).sort()).toEqual(['enc.query', 'head.dense', 'out'])
    expect(hasLora(m)).toBe(false)
    expect(Array.from(m._params.get('head.dense.weight')!.data)).not.toEqual(Array.from(w))
    const after = run(m)
    before.forEach((v, i) => expect(Math.abs(v - after[i]!)).toBeLessThan(1e-5 * (1 + Math.abs(v))))
  })

  it('the adapter gradient agrees with finite differences; base weights do not train', () => {
    const m = importOnnx(mlp())
    applyLora(m, cfg(), new Rng(3))
    randomiseB(m)
    const params = m.namedParameters().filter(([, p]) => p.requiresGrad).map(([, p]) => p)
    expect(params.map((p) => p.name)).toEqual(['enc.query.lora_A.weight', 'enc.query.lora_B.weight', 'head.dense.lora_A.weight', 'head.dense.lora_B.weight', 'out.lora_A.weight', 'out.lora_B.weight'])
    const g = new Graph()
    g.training = true
    const loss = withGraph(g, () => m.forward({ x: g.input('x', x.shape) })['y']!.square().sum())
    const grads = withGraph(g, () => grad(loss, params.map((p) => g.param(p))))
    const an = evaluate(grads.map((d) => d!), { x })
    const lossAt = (): number => evaluate([loss], { x })[0]!.data[0]!
    const eps = 1e-6
    params.forEach((p, k) => {
      const fd: number[] = []
      const got: number[] = []
      for (let j = 0; j < p.data.length; j += Math.max(1, Math.floor(p.data.length / 5))) {
        const orig = p.data[j]!
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
})
