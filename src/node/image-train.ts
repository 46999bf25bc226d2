/**
 * Fine-tuning an image classifier end to end: the library function behind
 * `finetune train --task image-classification`. Everything is checked before the output folder is
 * touched; checkpoints are atomic and `resume` continues with the same batches.
 */
import { join } from 'node:path'
import { ConfigError, GraphError } from '../errors.js'
import { trace } from '../graph/graph.js'
import { writeFileAtomic } from '../checkpoint/io-node.js'
import { loadImageData, type ImageDataOptions } from '../data/image-data-node.js'
import type { ImageDataset } from '../data/image-dataset.js'
import { labelNames } from '../data/labels.js'
import { freezeImageBatchNorm, openImageCheckpoint, saveImageCheckpoint, setHead, type ImageCheckpoint } from '../models/image-checkpoint-node.js'
import { Runtime } from '../runtime/session.js'
import { checkOutputFolder, optimizerOf, runDefaults, runTraining, type RunOptions } from './run-training.js'
import { ImageTaskRunner } from '../train/image.js'
import type { TrainResult } from '../train/trainer.js'

export interface ImageTrainOptions extends RunOptions {
  model: string
  data: string
  arch?: string
  validation?: string
  method: 'full' | 'frozen'
  /** Square input side (default: the architecture's). */
  imageSize?: number
  /** RandomResizedCrop + horizontal flip on training images. */
  augment: boolean
  /** Keep BatchNorm in inference mode (running statistics frozen) while training. */
  freezeBn: boolean
  workers?: number
  imageColumn?: string
  labelColumn?: string
}

export const imageTrainDefaults = {
  ...runDefaults,
  method: 'full',
  batchSize: 16,
  lr: 1e-3,
  weightDecay: 0.01,
  schedule: 'cosine',
  augment: true,
  freezeBn: false,
} satisfies Partial<ImageTrainOptions>

export interface ImageTrainResult extends TrainResult {
  out: string
  labels: string[]
  headFromCheckpoint: boolean
  trainExamples: number
  evalExamples: number
  imagesPerSecond: number
  source: string
  arch: string
}

export async function trainImages(o: ImageTrainOptions): Promise<ImageTrainResult> {
  checkOutputFolder(o)
  const ck: ImageCheckpoint = await openImageCheckpoint(o.model, { ...(o.arch ? { arch: o.arch } : {}), ...(o.imageSize ? { imageSize: o.imageSize } : {}), seed: o.seed })
  const dataOpts: ImageDataOptions = {
    data: o.data,
    preprocessing: ck.preprocessing,
    augmentation: o.augment ? undefined as never : null,
    validationFraction: o.validation ? 0 : o.validationSplit,
    seed: o.seed,
    onBadRow: o.onBadRow,
    ...(o.validation ? { validation: o.validation } : {}),
    ...(o.workers !== undefined ? { workers: o.workers } : {}),
    ...(o.imageColumn ? { imageColumn: o.imageColumn } : {}),
    ...(o.labelColumn ? { labelColumn: o.labelColumn } : {}),
  }
  if (o.augment) delete (dataOpts as { augmentation?: unknown }).augmentation
  const data: ImageDataset = await loadImageData(dataOpts)
  const labels = labelNames(data.labels)
  // keep a trained head for the same labels; otherwise a new one
  const same = ck.labelled && ck.labels.length === labels.length && [...ck.labels].sort().join('\u0000') === [...labels].sort().join('\u0000')
  if (ck.labelled && !same && !o.reinitHead && ck.source !== 'tfjs' && !ck.labels.every((l, i) => l === `LABEL_${i}`))
    throw new ConfigError('MODEL_LABELS_DIFFER', `${o.model} has a head for [${ck.labels.join(', ')}] but the data has [${labels.join(', ')}]`, 'pass --reinit-head to train a new head for your labels')
  const headFromCheckpoint = same && !o.reinitHead
  if (!headFromCheckpoint) setHead(ck, labels, o.seed)
  else if (ck.labels.join('\u0000') !== labels.join('\u0000')) {
    await data.close()
    throw new ConfigError('MODEL_LABEL_ORDER', `${o.model}'s labels are in the order [${ck.labels.join(', ')}], the data's in [${labels.join(', ')}]`, 'pass --reinit-head, or name the classes so they sort in the model\'s order')
  }
  if (o.freezeBn) freezeImageBatchNorm(ck)
  // trace the model once on the input size, so a size it cannot take fails before anything is written
  const size = data.train.imageSize
  try {
    trace((g) => ck.model.logits(g.input('pixels', [1, 3, size.height, size.width])))
  } catch (e) {
    await data.close()
    if (e instanceof GraphError) throw new ConfigError('IMAGE_SIZE', `${ck.arch} cannot take ${size.height}x${size.width} images: ${e.message}`, ck.source === 'tfjs' ? `this TF.js model was built for ${ck.model.defaultImageSize}x${ck.model.defaultImageSize}; drop --image-size` : 'choose a larger --image-size')
    throw e
  }
  const runtime = new Runtime({ provider: o.device, ...(o.threads ? { threads: o.threads } : {}) })
  const runner = new ImageTaskRunner({
    model: ck.model,
    labels,
    train: data.train,
    validation: data.validation,
    batchSize: o.batchSize,
    ...(o.evalBatchSize ? { evalBatchSize: o.evalBatchSize } : {}),
    seed: o.seed,
    method: o.method,
    runtime,
    optimizer: optimizerOf(o),
    clipNorm: o.clipNorm > 0 ? o.clipNorm : Infinity,
    accumulation: o.gradAccum,
  })
  const job = await runner.job()
  const { result, metrics: finalMetrics, trainMs } = await runTraining(job, ck.model, o, 'accuracy', { ...o, source: ck.source, arch: ck.arch })
  ck.labels = labels
  await saveImageCheckpoint(o.out, ck)
  const imagesPerSecond = trainMs > 0 ? (runner.session.step * o.batchSize * o.gradAccum) / (trainMs / 1000) : 0
  const summary = { ...finalMetrics, train_steps: result.steps, train_runtime_s: result.elapsedMs / 1000, train_images_per_s: imagesPerSecond, train_examples: data.train.length, eval_examples: data.validation?.length ?? 0, best_step: result.bestStep, stop_reason: result.reason, method: o.method, source: ck.source, arch: ck.arch, skipped_images: data.badRows().total, peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024) }
  await writeFileAtomic(join(o.out, 'metrics.json'), `${JSON.stringify(summary, null, 2)}\n`)
  await data.close()
  await runtime.dispose()
  return { ...result, metrics: finalMetrics, out: o.out, labels, headFromCheckpoint, trainExamples: data.train.length, evalExamples: data.validation?.length ?? 0, imagesPerSecond, source: ck.source, arch: ck.arch }
}
