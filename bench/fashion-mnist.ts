/**
 * Evidence on real data: fine-tuning on a Fashion-MNIST subset (Debian's dataset-fashion-mnist) from
 * the really pre-trained MobileNetV2 of npm nsfwjs, and from a randomly initialised ResNet-18 (no
 * pre-trained one can be had offline), with the full and frozen methods. Prints one JSON line per run.
 * usage: npx tsx bench/fashion-mnist.ts [TRAIN_PER_CLASS=200] [TEST_PER_CLASS=100]
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import '../src/runtime/ort-node.js'
import { taskDefaults, train, type TaskTrainOptions } from '../src/index.js'
import { torchvisionStateDict } from '../test/image-fixtures.js'

const [trainPer = '200', testPer = '100'] = process.argv.slice(2)
const dir = mkdtempSync(join(tmpdir(), 'ft-fmnist-'))
execFileSync('npx', ['tsx', 'scripts/fashion-mnist-subset.ts', dir, trainPer, testPer], { stdio: 'inherit' })
const nsfw = new URL('../node_modules/nsfwjs/dist/models/mobilenet_v2', import.meta.url).pathname
const resnet = await torchvisionStateDict(join(dir, 'resnet18-random.safetensors'), 'resnet18')
const runs: { name: string; o: Partial<TaskTrainOptions> }[] = [
  { name: 'mobilenet_v2 (nsfwjs, pre-trained) frozen', o: { model: nsfw, method: 'frozen', epochs: 10, lr: 3e-3, batchSize: 32 } },
  { name: 'mobilenet_v2 (nsfwjs, pre-trained) full, BatchNorm frozen', o: { model: nsfw, method: 'full', epochs: 2, lr: 3e-4, batchSize: 32, freezeBn: true } },
  { name: 'resnet18 (random init) frozen', o: { model: resnet, arch: 'resnet18', imageSize: 64, method: 'frozen', epochs: 10, lr: 3e-3, batchSize: 32 } },
  { name: 'resnet18 (random init) full', o: { model: resnet, arch: 'resnet18', imageSize: 64, method: 'full', epochs: 5, lr: 1e-3, batchSize: 32 } },
]
for (const r of runs) {
  const out = join(dir, r.name.replace(/\W+/g, '-'))
  const t0 = performance.now()
  const res = await train({ ...taskDefaults('image-classification'), task: 'image-classification', data: join(dir, 'train-images-idx3-ubyte'), validation: join(dir, 'test-images-idx3-ubyte'), out, augment: false, saveEvery: 'none', ...r.o } as TaskTrainOptions)
  const secs = (performance.now() - t0) / 1000
  const trainImagesTotal = res.trainExamples * ((r.o.epochs as number | undefined) ?? 1)
  console.log(JSON.stringify({ run: r.name, accuracy: res.metrics['accuracy'], macro_f1: res.metrics['macro_f1'], train_examples: res.trainExamples, test_examples: res.evalExamples, epochs: r.o.epochs, wall_s: Math.round(secs * 10) / 10, train_images_per_s: Math.round((trainImagesTotal / secs) * 10) / 10 }))
}
rmSync(dir, { recursive: true, force: true })
