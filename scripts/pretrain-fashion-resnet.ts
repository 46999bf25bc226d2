/**
 * Pre-trains the project's small image backbone: a Hugging Face ResNet (basic blocks, widths
 * 32/64/128/256, one block per stage, about 1.2M parameters) from random weights on all 60,000
 * Fashion-MNIST training images (Debian's dataset-fashion-mnist), 32x32, evaluated on its 10,000 test
 * images, then stored in float16. The result is the starting point of `finetune demo images`
 * (fine-tuned on MNIST digits vs the same network from scratch).
 *
 *   npx tsx scripts/pretrain-fashion-resnet.ts [OUT=pretrained/fashion-mnist-resnet] [EPOCHS=4]
 *
 * Writes OUT/{config.json, model.safetensors (F16), preprocessor_config.json, PRETRAINING.md}.
 */
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import '../src/runtime/ort-node.js'
import { writeSafetensorsFile } from '../src/checkpoint/io-node.js'
import { openSafetensorsFile } from '../src/checkpoint/safetensors-node.js'
import { FASHION_MNIST_LABELS } from '../src/data/image-idx.js'
import { IMAGENET_MEAN, IMAGENET_STD } from '../src/data/image-preprocessing.js'
import { buildHfVisionModel } from '../src/models/hf-vision.js'
import { saveHfVisionFolder } from '../src/models/hf-vision-node.js'
import { taskDefaults, train } from '../src/tasks/run-node.js'

const [out = 'pretrained/fashion-mnist-resnet', epochsArg = '4'] = process.argv.slice(2)
const epochs = Number(epochsArg)
const data = '/usr/share/datasets/fashion-mnist'
const labels = [...FASHION_MNIST_LABELS]
const config = {
  model_type: 'resnet',
  architectures: ['ResNetForImageClassification'],
  num_channels: 3,
  embedding_size: 32,
  hidden_sizes: [32, 64, 128, 256],
  depths: [1, 1, 1, 1],
  layer_type: 'basic',
  hidden_act: 'relu',
  downsample_in_first_stage: false,
  id2label: Object.fromEntries(labels.map((l, i) => [String(i), l])),
  label2id: Object.fromEntries(labels.map((l, i) => [l, i])),
}
const work = join(tmpdir(), `ft-pretrain-${process.pid}`)
const base = join(work, 'random')
const model = buildHfVisionModel(config, labels.length, { seed: 0 })
model.nameParameters()
const preprocessing = { resize: { height: 32, width: 32 }, crop: null, mean: IMAGENET_MEAN, std: IMAGENET_STD, interpolation: 'bilinear', rescaleFactor: 1 / 255 } as const
await saveHfVisionFolder(base, model, labels, preprocessing)
const t0 = performance.now()
const run = join(work, 'trained')
const r = await train({
  ...taskDefaults('image-classification'),
  task: 'image-classification',
  model: base,
  data: join(data, 'train-images-idx3-ubyte.gz'),
  validation: join(data, 't10k-images-idx3-ubyte.gz'),
  out: run,
  epochs,
  batchSize: 64,
  lr: 3e-3,
  weightDecay: 0.05,
  schedule: 'cosine',
  warmupRatio: 0.02,
  augment: true,
  saveEvery: 'none',
  seed: 0,
  callbacks: [{ onEval: (e) => console.error(`epoch ${e.epoch + 1}: accuracy ${e.metrics['accuracy']!.toFixed(4)}`), onStep: (e) => void (e.step % 200 === 0 && console.error(`step ${e.step} loss ${e.loss.toFixed(4)} ${e.examplesPerSec.toFixed(0)} img/s`)) }],
})
const minutes = (performance.now() - t0) / 60000
// float16 weights (BatchNorm counters stay int64): half the size, the same predictions to ~1e-3
rmSync(out, { recursive: true, force: true })
mkdirSync(out, { recursive: true })
for (const f of ['config.json', 'preprocessor_config.json']) cpSync(join(run, f), join(out, f))
const st = await openSafetensorsFile(join(run, 'model.safetensors'))
const tensors = []
for (const k of st.keys()) {
  const info = st.info(k)
  tensors.push([k, info.dtype === 'I64' ? { dtype: 'I64' as const, shape: info.shape, data: (await st.read(k)).data as BigInt64Array } : { dtype: 'F16' as const, shape: info.shape, data: await st.readAsFloat32(k) }] as const)
}
await st.close()
await writeSafetensorsFile(join(out, 'model.safetensors'), tensors, { format: 'pt' })
const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'))
delete cfg.finetune_task // a starting point for any image task, not a trained classifier of record
cfg.finetune_pretrained = { corpus: 'Fashion-MNIST, 60,000 training images (Debian dataset-fashion-mnist, MIT licence)', made_by: 'finetune (scripts/pretrain-fashion-resnet.ts)', epochs, steps: r.steps, test_accuracy: r.metrics['accuracy'], dtype: 'float16' }
writeFileSync(join(out, 'config.json'), `${JSON.stringify(cfg, null, 2)}\n`)
writeFileSync(
  join(out, 'PRETRAINING.md'),
  `# fashion-mnist-resnet\n\nA small Hugging Face ResNet (basic blocks, widths 32/64/128/256, one block per stage, ${model.countParameters().toLocaleString()} parameters) pre-trained by finetune from random weights on the 60,000 Fashion-MNIST training images (Debian's dataset-fashion-mnist, MIT licence), resized to 32x32, with random resized crops and flips; AdamW lr 3e-3, weight decay 0.05, cosine schedule, batch 64, ${epochs} epochs (${r.steps} steps, ${minutes.toFixed(0)} minutes on 2 cores when measured). Fashion-MNIST test accuracy: ${(r.metrics['accuracy']! * 100).toFixed(2)}%. Weights stored in float16.\n\nReproduce: \`npx tsx scripts/pretrain-fashion-resnet.ts ${out} ${epochs}\`\n`,
)
rmSync(work, { recursive: true, force: true })
console.log(JSON.stringify({ out, steps: r.steps, accuracy: r.metrics['accuracy'], minutes }))
