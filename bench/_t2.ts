import ort from 'onnxruntime-node'
import { encodeModel } from '../src/onnx/proto.js'
import { valueInfo } from '../src/onnx/lower.js'
async function t(a: number[], b: number[]) {
  const bytes = encodeModel({ irVersion: 8, opsetImport: [{ domain: '', version: 17 }], producerName: 't',
    graph: { name: 'g', node: [{ opType: 'Mul', input: ['a', 'b'], output: ['c'] }], initializer: [], input: [valueInfo('a', { shape: a, dtype: 'float32' }), valueInfo('b', { shape: b, dtype: 'float32' })], output: [valueInfo('c', { shape: a, dtype: 'float32' })] } })
  const s = await ort.InferenceSession.create(bytes)
  const T = (sh: number[]) => new ort.Tensor('float32', new Float32Array(sh.reduce((x, y) => x * y, 1)).fill(0.5), sh)
  const f = { a: T(a), b: T(b) }
  for (let i = 0; i < 3; i++) await s.run(f)
  const t0 = performance.now(); for (let i = 0; i < 100; i++) await s.run(f)
  console.log(JSON.stringify(a), JSON.stringify(b), ((performance.now() - t0) / 100).toFixed(3), 'ms')
}
const N = 366912
for (let r = 0; r < 2; r++) { await t([N, 1], [1, 1]); await t([N], []); await t([N, 1], []); await t([N], [1]); await t([546, 672, 1, 1], [1, 1, 1, 1]); await t([546, 672, 1, 1], []); await t([546, 672], []) }
