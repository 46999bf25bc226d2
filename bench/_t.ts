import ort from 'onnxruntime-node'
import { encodeModel } from '../src/onnx/proto.js'
import { valueInfo } from '../src/onnx/lower.js'
const shape = [64,1,3,3], n = [64,1,3,3].reduce((a,b)=>a*b)
// AdamW on one param: inputs w, g, M, V, scalars
const node = [
  { opType: 'Mul', input: ['M', 'b1'], output: ['m1'] }, { opType: 'Add', input: ['m1', 'g'], output: ['Mo'] },
  { opType: 'Mul', input: ['g', 'g'], output: ['g2'] }, { opType: 'Mul', input: ['V', 'b2'], output: ['v1'] }, { opType: 'Add', input: ['v1', 'g2'], output: ['Vo'] },
  { opType: 'Sqrt', input: ['Vo'], output: ['sq'] }, { opType: 'Add', input: ['sq', 'eps'], output: ['den'] }, { opType: 'Div', input: ['Mo', 'den'], output: ['q'] }, { opType: 'Mul', input: ['q', 'alpha'], output: ['st'] },
  { opType: 'Mul', input: ['w', 'dec'], output: ['wd'] }, { opType: 'Sub', input: ['wd', 'st'], output: ['wo'] },
]
const sc = ['b1', 'b2', 'eps', 'alpha', 'dec']
const bytes = encodeModel({ irVersion: 8, opsetImport: [{ domain: '', version: 17 }], producerName: 't',
  graph: { name: 'g', node, initializer: [], input: [...['w', 'g', 'M', 'V'].map((k) => valueInfo(k, { shape, dtype: 'float32' })), ...sc.map((k) => valueInfo(k, { shape: [], dtype: 'float32' }))], output: ['wo', 'Mo', 'Vo'].map((k) => valueInfo(k, { shape, dtype: 'float32' })) } })
const s = await ort.InferenceSession.create(bytes, { enableProfiling: !!process.env.PROF, profileFilePrefix: '/tmp/dn/p' })
const T = (v: number) => new ort.Tensor('float32', new Float32Array(n).fill(v), shape)
const feeds: Record<string, ort.Tensor> = { w: T(0.1), g: T(0.01), M: T(0.001), V: T(1e-6) }
for (const k of sc) feeds[k] = new ort.Tensor('float32', new Float32Array([0.9]), [])
for (let i = 0; i < 3; i++) await s.run(feeds)
const t = performance.now(); for (let i = 0; i < 50; i++) { const o = await s.run(feeds); feeds.w = o.wo!; feeds.M = o.Mo!; feeds.V = o.Vo! }
console.log(((performance.now() - t) / 50).toFixed(2), 'ms per AdamW on', n, 'params')
if (process.env.PROF) s.endProfiling()
