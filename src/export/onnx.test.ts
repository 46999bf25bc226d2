import { describe, expect, it } from 'vitest'
import * as ort from 'onnxruntime-node'
import * as nn from '../graph/nn.js'
import { MLP, Rng } from '../models/layers.js'
import { TransformerBlock } from '../models/transformer-block.js'
import { decodeModel } from '../onnx/proto.js'
import { Runtime } from '../runtime/session.js'
import { TrainSession, hostF32, hostI64 } from '../train/step.js'
import { exportInferenceOnnx } from './onnx.js'

describe('inference export', () => {
  it('a trained model exported to ONNX gives the same outputs in plain onnxruntime', async () => {
    const rng = new Rng(2)
    const m = new TransformerBlock({ hidden: 8, heads: 2, ffn: 16, dropout: 0.1 }, rng)
    const x = hostF32(new Float32Array(2 * 3 * 8).map(() => rng.normal()), [2, 3, 8])
    const mask = hostI64([1, 1, 1, 1, 1, 0], [2, 3])
    const s = new TrainSession({
      runtime: new Runtime({ threads: 1 }),
      model: m,
      optimizer: { kind: 'adamw', lr: 0.01 },
      forward: (i) => {
        const y = m.forward(i['x']!, i['mask']!)
        return { loss: y.square().mean(), outputs: { y } }
      },
    })
    for (let i = 0; i < 3; i++) await s.trainStep({ x, mask })
    const want = (await s.evaluate({ x, mask })).outputs['y']!.data as Float32Array
    const bytes = exportInferenceOnnx({ model: m, inputs: { x: { shape: [2, 3, 8], dtype: 'float32' }, mask: { shape: [2, 3], dtype: 'int64' } }, forward: (i) => ({ y: m.forward(i['x']!, i['mask']!) }) })
    const model = decodeModel(bytes)
    expect(model.graph.input.map((v) => v.name)).toEqual(['x', 'mask'])
    expect(model.graph.initializer.some((t) => t.name === 'ln_1.weight')).toBe(true)
    expect(model.opsetImport[0]!.version).toBe(17)
    const sess = await ort.InferenceSession.create(bytes)
    const r = await sess.run({ x: new ort.Tensor('float32', x.data as Float32Array, [2, 3, 8]), mask: new ort.Tensor('int64', mask.data as BigInt64Array, [2, 3]) })
    const got = r['y']!.data as Float32Array
    got.forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 6))
  })

  it('an inference graph has no dropout and no training-only ops', () => {
    const m = new MLP([4, 8, 2], new Rng(1))
    const bytes = exportInferenceOnnx({ model: m, inputs: { x: { shape: [1, 4], dtype: 'float32' } }, forward: (i) => ({ logits: nn.dropout(m.forward(i['x']!), 0.5) }) })
    const ops = decodeModel(bytes).graph.node.map((n) => n.opType)
    expect(ops).toEqual(['Gemm', 'Relu', 'Gemm'])
  })

  it('dynamicBatch: one traced example in a Scan over the batch takes any batch size and matches the static export', async () => {
    const rng = new Rng(4)
    const m = new TransformerBlock({ hidden: 8, heads: 2, ffn: 16, dropout: 0 }, rng)
    const fwd = (i: Record<string, import('../graph/graph.js').Tensor>) => ({ y: m.forward(i['x']!, i['mask']!), pooled: m.forward(i['x']!, i['mask']!).mean([1]) })
    const dyn = exportInferenceOnnx({ model: m, inputs: { x: { shape: [1, 3, 8], dtype: 'float32' }, mask: { shape: [1, 3], dtype: 'int64' } }, forward: fwd, dynamicBatch: true })
    const g = decodeModel(dyn).graph
    expect(g.node.map((n) => n.opType)).toEqual(['Scan'])
    expect(g.input.map((v) => v.type.tensorType.shape.dim[0]!.dimParam)).toEqual(['batch', 'batch'])
    const fixed = exportInferenceOnnx({ model: m, inputs: { x: { shape: [5, 3, 8], dtype: 'float32' }, mask: { shape: [5, 3], dtype: 'int64' } }, forward: fwd })
    const x = new Float32Array(5 * 3 * 8).map(() => rng.normal())
    const mask = BigInt64Array.from([1, 1, 1, 1, 1, 0, 1, 0, 0, 1, 1, 1, 1, 1, 0], BigInt)
    const [a, b] = [await ort.InferenceSession.create(dyn), await ort.InferenceSession.create(fixed)]
    const feeds = (n: number) => ({ x: new ort.Tensor('float32', x.subarray(0, n * 24), [n, 3, 8]), mask: new ort.Tensor('int64', mask.subarray(0, n * 3), [n, 3]) })
    const want = await b.run(feeds(5))
    for (const n of [5, 2]) {
      const got = await a.run(feeds(n))
      expect(got['y']!.dims).toEqual([n, 3, 8])
      expect(got['pooled']!.dims).toEqual([n, 8])
      const gy = got['y']!.data as Float32Array
      gy.forEach((v, i) => expect(Math.abs(v - (want['y']!.data as Float32Array)[i]!)).toBeLessThan(1e-5))
    }
    expect(() => exportInferenceOnnx({ model: m, inputs: { x: { shape: [2, 3, 8], dtype: 'float32' }, mask: { shape: [2, 3], dtype: 'int64' } }, forward: fwd, dynamicBatch: true })).toThrow(/traces one example/)
  })
})
