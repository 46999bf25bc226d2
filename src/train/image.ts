/**
 * Image classification on top of the trainer: batches from an image data set, the forward and loss
 * (with Inception's auxiliary loss), evaluation metrics, and the frozen-backbone method with cached
 * pooled features.
 */
import { ConfigError } from '../errors.js'
import type { Tensor } from '../graph/graph.js'
import * as nn from '../graph/nn.js'
import type { OptimizerConfig } from '../optim/optimizers.js'
import type { HostTensor, Runtime } from '../runtime/session.js'
import type { ImageBatch, ImageSplit } from '../data/image-dataset.js'
import type { ImageModel } from '../models/image-model.js'
import { ClassificationTally, featureBatches, tallyBatches, tallyFeatureBatches, trainHeadOnly } from './classify-eval.js'
import { TrainSession } from './step.js'
import type { TrainBatch, TrainingJob } from './trainer.js'

export interface ImageJobConfig {
  model: ImageModel
  labels: readonly string[]
  train: ImageSplit
  validation?: ImageSplit | undefined
  batchSize: number
  evalBatchSize?: number
  seed: number
  method: 'full' | 'frozen'
  runtime: Runtime
  optimizer: OptimizerConfig
  clipNorm?: number
  accumulation?: number
  featureCacheBytes?: number
  /** Called with progress while features are computed (frozen method): images of both splits. */
  onFeatureProgress?: ((done: number, total: number) => void) | undefined
  /** The runner only evaluates and predicts (an opened model): its graphs take the weights as constants (TrainSession's constantWeights). */
  constantWeights?: boolean
}

const feedsOf = (b: ImageBatch): Record<string, HostTensor> => ({
  pixels: { data: b.pixels, shape: b.shape, dtype: 'float32' },
  labels: { data: b.labels, shape: [b.labels.length], dtype: 'int64' },
})

/** The inference forward: logits, and the loss where labels are given. */
function evalForward(m: ImageModel, i: Record<string, Tensor>): { loss?: Tensor; outputs: Record<string, Tensor> } {
  const logits = m.logits(i['pixels']!)
  return { ...(i['labels'] ? { loss: nn.crossEntropy(logits, i['labels']) } : {}), outputs: { logits } }
}

export class ImageTaskRunner {
  readonly session: TrainSession
  readonly c: ImageJobConfig
  #features: { train: Float32Array; trainLabels: BigInt64Array; val: Float32Array | null; valLabels: BigInt64Array | null } | null = null

  constructor(c: ImageJobConfig) {
    this.c = c
    const m = c.model
    if (m.numClasses !== c.labels.length) throw new ConfigError('MODEL_HEAD_SIZE', `the model's head has ${m.numClasses} outputs but there are ${c.labels.length} labels`, 'replace the head (--reinit-head)')
    const common = { runtime: c.runtime, optimizer: c.optimizer, seed: c.seed, constantWeights: c.constantWeights === true, ...(c.clipNorm !== undefined ? { clipNorm: c.clipNorm } : {}), ...(c.accumulation !== undefined ? { accumulation: c.accumulation } : {}) }
    const ce = (labels: Tensor | undefined) => (logits: Tensor): Tensor => (labels ? nn.crossEntropy(logits, labels) : logits.sum().mul(0))
    if (c.method === 'frozen') {
      trainHeadOnly(m)
      this.session = new TrainSession({
        ...common,
        model: m,
        forward: (i, g) => {
          const logits = m.head(i['features']!)
          return { ...(i['labels'] ? { loss: nn.crossEntropy(logits, i['labels']) } : {}), ...(g.training ? {} : { outputs: { logits } }) }
        },
      })
    } else {
      this.session = new TrainSession({
        ...common,
        model: m,
        forward: (i, g) => (g.training ? { loss: m.forwardLoss(i['pixels']!, ce(i['labels'])).loss } : evalForward(m, i)),
      })
    }
  }

  async job(): Promise<TrainingJob> {
    const c = this.c
    if (c.method === 'frozen') await this.#cacheFeatures()
    const batchesPerEpoch = c.method === 'frozen' ? Math.ceil(c.train.length / c.batchSize) : c.train.batchCount(c.batchSize)
    const self = this
    return {
      session: this.session,
      trainExamples: c.train.length,
      evalExamples: c.validation?.length ?? 0,
      batchesPerEpoch,
      async *batches(epoch: number, start: number): AsyncIterable<TrainBatch> {
        if (c.method === 'frozen') {
          const f = self.#features!
          yield* featureBatches(f.train, f.trainLabels, c.train.length, c.model.featureSize, c.batchSize, c.seed, epoch, start)
          return
        }
        for await (const b of c.train.batches(epoch, start, { batchSize: c.batchSize, train: true })) yield { feeds: feedsOf(b), examples: b.labels.length }
      },
      ...(c.validation ? { evaluate: () => this.evaluate() } : {}),
    }
  }

  /** Accuracy, macro F1, per-class F1 and eval_loss on a split (the validation split by default). */
  async evaluate(split?: ImageSplit): Promise<Record<string, number>> {
    const c = this.c
    const data = split ?? c.validation
    if (!data) return {}
    const tally = new ClassificationTally(c.labels)
    const bs = c.evalBatchSize ?? c.batchSize
    if (c.method === 'frozen' && !split && this.#features?.val) {
      await tallyFeatureBatches(this.session, tally, this.#features.val, this.#features.valLabels!, data.length, c.model.featureSize, bs)
    } else {
      // a long pass runs with today's weights as constants (1.4-3x on the nsfwjs models)
      await this.session.forwardPass(Math.ceil(data.length / bs), (s) => tallyBatches(s, tally, data.batches(0, 0, { batchSize: bs, train: false }), feedsOf))
    }
    return tally.result()
  }

  async #cacheFeatures(): Promise<void> {
    if (this.#features) return
    const c = this.c
    const m = c.model
    const F = m.featureSize
    const bytes = (c.train.length + (c.validation?.length ?? 0)) * F * 4
    if (bytes > (c.featureCacheBytes ?? 1 << 30)) throw new ConfigError('FEATURE_CACHE_FULL', `cached features would take ${(bytes / 2 ** 20).toFixed(0)} MiB`, 'use --method full or fewer images')
    // the backbone is frozen: its weights go into the graph as constants for the whole pass
    const fs = new TrainSession({ runtime: c.runtime, model: m, optimizer: c.optimizer, constantWeights: true, forward: (i) => ({ outputs: { f: m.backbone(i['pixels']!) } }) })
    let done = 0
    const total = c.train.length + (c.validation?.length ?? 0)
    const run = async (split: ImageSplit): Promise<{ f: Float32Array; l: BigInt64Array }> => {
      const f = new Float32Array(split.length * F)
      const l = new BigInt64Array(split.length)
      for await (const b of split.batches(0, 0, { batchSize: c.evalBatchSize ?? c.batchSize, train: false })) {
        const out = (await fs.evaluate({ pixels: { data: b.pixels, shape: b.shape, dtype: 'float32' } })).outputs['f']!.data as Float32Array
        b.indices.forEach((ix, k) => {
          f.set(out.subarray(k * F, (k + 1) * F), ix * F)
          l[ix] = b.labels[k]!
        })
        done += b.labels.length
        c.onFeatureProgress?.(done, total)
      }
      return { f, l }
    }
    try {
      const tr = await run(c.train)
      const va = c.validation ? await run(c.validation) : null
      this.#features = { train: tr.f, trainLabels: tr.l, val: va?.f ?? null, valLabels: va?.l ?? null }
    } finally {
      await fs.dispose()
    }
  }
}

export type { ImageModel }
