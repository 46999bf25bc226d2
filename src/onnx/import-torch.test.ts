// ONNX files exported by torch.onnx.export (opset 14, dynamic axes; scripts/gen_torch_onnx_fixtures.py
// with Debian's torch 1.13: a BERT classifier of the project's PyTorch text reference and a
// width-reduced torchvision ResNet-18): each imports, matches torch's outputs at shapes other than
// the export's example (1e-4 of the largest logit), trains (a few SGD steps lower the loss), its
// gradients agree with central finite differences (float64 reference), and the round trip
// import -> export -> plain onnxruntime reproduces the original file's outputs.
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import * as ort from 'onnxruntime-node'
import { describe, expect, it } from 'vitest'
import { grad } from '../autodiff/grad.js'
import { exportInferenceOnnx } from '../export/onnx.js'
import { Graph, withGraph, type Tensor } from '../graph/graph.js'
import * as nn from '../graph/nn.js'
import { nd, type NDArray } from '../runtime/ndarray.js'
import { evaluate } from '../runtime/reference.js'
import { Rng } from '../runtime/rng.js'
import { Runtime, type HostTensor } from '../runtime/session.js'
import { TrainSession } from '../train/step.js'
import { runGraph } from '../../test/graph-run.js'
import { expectClose } from '../../test/op-check.js'
import { importOnnx, type OnnxModel } from './import.js'

const fixture = (f: string): string => fileURLToPath(new URL(`../../test/fixtures/onnx-torch/${f}`, import.meta.url))
interface Golden {
  bert: { input_ids: number[]; attention_mask: number[]; token_type_ids: number[]; shape: [number, number]; logits: number[] }
  resnet18: { pixel_values: number[]; shape: number[]; logits: number[] }
}
const golden = JSON.parse(readFileSync(fixture('golden.json'), 'utf8')) as Golden

const ints = (v: number[], shape: number[]): HostTensor => ({ data: BigInt64Array.from(v, BigInt), shape, dtype: 'int64' })
const TEXT = ['input_ids', 'attention_mask', 'token_type_ids'] as const

interface Case {
  name: string
  file: string
  feeds: Record<string, HostTensor>
  want: number[]
  classes: number
}
const b = golden.bert
const r = golden.resnet18
const cases: Case[] = [
  { name: 'BERT classifier', file: 'bert-cls.onnx', feeds: Object.fromEntries(TEXT.map((k) => [k, ints(b[k], b.shape)])), want: b.logits, classes: 3 },
  { name: 'ResNet-18', file: 'resnet18.onnx', feeds: { pixel_values: { data: Float32Array.from(r.pixel_values), shape: r.shape, dtype: 'float32' } }, want: r.logits, classes: 5 },
]

const inputsOf = (g: Graph, feeds: Record<string, HostTensor>): Record<string, Tensor> =>
  Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, g.input(k, v.shape, v.dtype)]))
const ortFeeds = (feeds: Record<string, HostTensor>): Record<string, ort.Tensor> =>
  Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, new ort.Tensor(v.dtype, v.data as Float32Array, v.shape)]))
const maxAbs = (a: ArrayLike<number>): number => Math.max(...Array.from(a, Math.abs))
function closeTo(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  expect(got.length, what).toBe(want.length)
  const tol = 1e-4 * Math.max(1, maxAbs(want))
  for (let i = 0; i < want.length; i++) expect(Math.abs(got[i]! - want[i]!), `${what} [${i}]: ${got[i]} vs ${want[i]}`).toBeLessThanOrEqual(tol)
}

describe('ONNX files from torch.onnx.export (opset 14, dynamic axes)', () => {
  for (const c of cases) {
    it(`${c.name}: imports and matches torch at new shapes; export -> onnxruntime reproduces the file`, async () => {
      const bytes = readFileSync(fixture(c.file))
      const m = importOnnx(bytes)
      expect(m.opset).toBe(14)
      const got = await runGraph((g) => m.forward(inputsOf(g, c.feeds)), c.feeds)
      closeTo(got['logits']!, c.want, `${c.name} logits vs torch`)
      const exported = exportInferenceOnnx({ model: m, inputs: Object.fromEntries(Object.entries(c.feeds).map(([k, v]) => [k, { shape: v.shape, dtype: v.dtype }])), forward: (i) => ({ logits: m.forward(i)['logits']! }) })
      const [orig, round] = await Promise.all([ort.InferenceSession.create(bytes, { intraOpNumThreads: 1 }), ort.InferenceSession.create(exported, { intraOpNumThreads: 1 })])
      const a = (await orig.run(ortFeeds(c.feeds)))['logits']!.data as Float32Array
      const z = (await round.run(ortFeeds(c.feeds)))['logits']!.data as Float32Array
      await Promise.all([orig.release(), round.release()])
      closeTo(z, a, `${c.name} round trip vs the original file`)
    })

    it(`${c.name}: a few SGD steps lower the cross-entropy`, async () => {
      const m = importOnnx(readFileSync(fixture(c.file)))
      const B = c.feeds[Object.keys(c.feeds)[0]!]!.shape[0]!
      const labels: HostTensor = { data: BigInt64Array.from({ length: B }, (_, i) => BigInt(i % c.classes)), shape: [B], dtype: 'int64' }
      const s = new TrainSession({
        runtime: new Runtime({ threads: 1 }),
        model: m,
        optimizer: { kind: 'sgd', lr: 0.05 },
        forward: (i) => ({ loss: nn.crossEntropy(m.forward(Object.fromEntries(Object.keys(c.feeds).map((k) => [k, i[k]!])))['logits']!, i['labels']!) }),
      })
      const losses: number[] = []
      for (let k = 0; k < 4; k++) losses.push((await s.trainStep({ ...c.feeds, labels })).loss)
      expect(losses.every(Number.isFinite), `losses ${losses}`).toBe(true)
      expect(losses[3]!, `losses ${losses}`).toBeLessThan(losses[0]!)
    })
  }

  it('gradients through both imported graphs agree with finite differences (float64 reference)', () => {
    const rng = new Rng(5)
    const check = (m: OnnxModel, feeds: Record<string, NDArray>, shapes: Record<string, HostTensor>, names: string[]): void => {
      const g = new Graph()
      g.training = true
      const loss = withGraph(g, () => {
        const y = m.forward(inputsOf(g, shapes))['logits']!
        return y.mul(g.constant(Array.from({ length: y.shape.reduce((p, q) => p * q, 1) }, (_, i) => Math.sin(i + 1)), y.shape)).sum()
      })
      const byName = new Map(m.namedParameters())
      const params = names.map((n) => byName.get(n)!)
      const an = evaluate(withGraph(g, () => grad(loss, params.map((p) => g.param(p)))).map((d) => d!), feeds)
      const lossAt = (): number => evaluate([loss], feeds)[0]!.data[0]!
      params.forEach((p, k) => {
        const fd: number[] = []
        const got: number[] = []
        for (let s = 0; s < 4; s++) {
          const j = rng.int(p.data.length)
          const data64 = Float64Array.from(p.data)
          const at = (v: number): number => {
            data64[j] = v
            const saved = p.data
            p.data = data64 as unknown as Float32Array
            const l = lossAt()
            p.data = saved
            return l
          }
          fd.push((at(p.data[j]! + 1e-6) - at(p.data[j]! - 1e-6)) / 2e-6)
          got.push(an[k]!.data[j]!)
        }
        expectClose(got, fd, 1e-5, `d loss / d ${names[k]}`)
      })
    }
    const bert = importOnnx(readFileSync(fixture('bert-cls.onnx')))
    // LoRA names torch's anonymous MatMul weights by the module scope of the node that reads them
    const sites = bert.loraSites().map((x) => x.name)
    expect(sites).toContain('m.bert.layer.1.attention.self.query')
    expect(sites).toContain('m.classifier')
    const tf = Object.fromEntries(TEXT.map((k) => [k, ints(b[k].slice(0, 22), [2, 11])]))
    const bertNames = bert.namedParameters().map(([n]) => n)
    check(bert, Object.fromEntries(Object.entries(tf).map(([k, v]) => [k, nd(v.shape, Array.from(v.data as BigInt64Array, Number))])), tf, ['m.bert.embeddings.word_embeddings.weight', 'm.bert.encoder.layer.0.attention.output.LayerNorm.weight', bertNames.find((n) => n.startsWith('onnx::MatMul'))!, 'm.classifier.weight'])
    const res = importOnnx(readFileSync(fixture('resnet18.onnx')))
    const px = Float32Array.from(r.pixel_values.slice(0, 3 * 16 * 16))
    const resNames = res.namedParameters().filter(([, p]) => p.kind === 'param').map(([n]) => n)
    check(res, { pixel_values: nd([1, 3, 16, 16], Array.from(px)) }, { pixel_values: { data: px, shape: [1, 3, 16, 16], dtype: 'float32' } }, [resNames[0]!, resNames[Math.floor(resNames.length / 2)]!, resNames.at(-2)!, resNames.at(-1)!])
  })
})
