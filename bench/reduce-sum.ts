/**
 * ONNX Runtime's ReduceSum over leading axes against the GEMV the lowering emits instead (a row of
 * ones times the (R, C) matrix), one-op models built by hand, 60 runs of each in a block, median of the last 50.
 * usage: npx tsx bench/reduce-sum.ts
 */
import '../src/runtime/ort-node.js'
import { AttrType, encodeModel, type NodeProtoObj } from '../src/onnx/proto.js'
import { IR_VERSION, OPSET, tensorProto, valueInfo } from '../src/onnx/lower.js'
import { Runtime, ortTensor } from '../src/runtime/session.js'
import { Rng } from '../src/runtime/rng.js'

const median = (a: number[]): number => [...a].sort((x, y) => x - y)[a.length >> 1]!
// bias gradients of a transformer (tokens x features), a ResNet weight gradient summed over the batch
const shapes: [number, number][] = [[1024, 256], [1024, 768], [2048, 1024], [16, 36864], [16, 147456], [16384, 64]]
const rt = new Runtime()
const rng = new Rng(0)
const model = (R: number, C: number, gemv: boolean): Uint8Array => {
  const node: NodeProtoObj = gemv
    ? { opType: 'MatMul', input: ['ones', 'x'], output: ['y'], attribute: [], name: 'n0' }
    : { opType: 'ReduceSum', input: ['x', 'axes'], output: ['y'], attribute: [{ name: 'keepdims', type: AttrType.INT, i: 1 }], name: 'n0' }
  const init = gemv ? tensorProto('ones', new Float32Array(R).fill(1), [1, R], 'float32') : tensorProto('axes', [0], [1], 'int64')
  return encodeModel({
    irVersion: IR_VERSION,
    opsetImport: [{ domain: '', version: OPSET }],
    producerName: 'bench',
    producerVersion: '0',
    graph: { name: 'g', node: [node], initializer: [init], input: [valueInfo('x', { shape: [R, C], dtype: 'float32' })], output: [valueInfo('y', { shape: [1, C], dtype: 'float32' })] },
    metadataProps: [],
  })
}
for (const [R, C] of shapes) {
  const reduce = await rt.session(`reduce-${R}x${C}`, () => model(R, C, false))
  const gemv = await rt.session(`gemv-${R}x${C}`, () => model(R, C, true))
  const feeds = { x: ortTensor({ data: Float32Array.from({ length: R * C }, () => rng.normal()), shape: [R, C], dtype: 'float32' }) }
  const t: { reduce: number[]; gemv: number[] } = { reduce: [], gemv: [] }
  // each form's runs in one block: sessions alternating run by run on 2 cores each find the other's
  // thread pool still spinning, and both run 2-3x slower (BENCHMARKS.md, 2026-12-07)
  for (const [k, s] of [['reduce', reduce], ['gemv', gemv]] as const) {
    for (let i = 0; i < 60; i++) {
      const a = performance.now()
      await s.run(feeds)
      t[k].push(performance.now() - a)
    }
  }
  const r = median(t.reduce.slice(10))
  const g = median(t.gemv.slice(10))
  console.log(JSON.stringify({ shape: [R, C], reducesum_ms: +r.toFixed(3), gemv_ms: +g.toFixed(3), ratio: +(r / g).toFixed(2) }))
}
