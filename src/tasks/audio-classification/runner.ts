/**
 * Audio classification on top of the trainer: batches of clips, the forward and loss, evaluation
 * metrics, and the frozen method (the backbone's pooled features computed once, without
 * augmentation, and cached; only the head trains on them). A new head whose model standardises its
 * input has the statistics adapted on the training clips' features before the first step.
 */
import { ConfigError } from '../../errors.js'
import * as nn from '../../graph/nn.js'
import type { OptimizerConfig } from '../../optim/optimizers.js'
import type { HostTensor, Runtime } from '../../runtime/session.js'
import type { AudioBatch, AudioSplit } from '../../data/audio-dataset.js'
import type { AudioClassifier } from '../../models/audio-classifier.js'
import { ClassificationTally, featureBatches, tallyBatches, tallyFeatureBatches, trainHeadOnly } from '../../train/classify-eval.js'
import { TrainSession } from '../../train/step.js'
import type { TrainBatch, TrainingJob } from '../../train/trainer.js'

export interface AudioJobConfig {
  model: AudioClassifier
  labels: readonly string[]
  train?: AudioSplit | undefined
  validation?: AudioSplit | undefined
  batchSize: number
  evalBatchSize?: number | undefined
  seed: number
  method: 'full' | 'frozen'
  /** Adapt the model's feature standardisation (if it has one) on the training features: a new head. */
  adaptFeatureNorm?: boolean | undefined
  runtime: Runtime
  optimizer: OptimizerConfig
  clipNorm?: number
  accumulation?: number
  /** Called with progress while features are computed (frozen method): clips of both splits. */
  onFeatureProgress?: ((done: number, total: number) => void) | undefined
  /** The runner only evaluates and predicts (an opened model): its graphs take the weights as constants (TrainSession's constantWeights). */
  constantWeights?: boolean
}

const feedsOf = (b: AudioBatch): Record<string, HostTensor> => ({
  audio: { data: b.samples, shape: b.shape, dtype: 'float32' },
  labels: { data: b.labels, shape: [b.labels.length], dtype: 'int64' },
})

/** Clips whose features standardise a new head in full training (Keras' Normalization.adapt on a sample). */
const ADAPT_CLIPS = 512

/** Cached features of one split: a row of F per clip, and the labels (clips of bad files skipped are left out). */
interface Cached {
  f: Float32Array
  l: BigInt64Array
  n: number
}

export class AudioTaskRunner {
  readonly session: TrainSession
  readonly c: AudioJobConfig
  #cache: { train: Cached; val: Cached | null } | null = null

  constructor(c: AudioJobConfig) {
    this.c = c
    const m = c.model
    if (m.numClasses !== c.labels.length) throw new ConfigError('MODEL_HEAD_SIZE', `the model's head has ${m.numClasses} outputs but there are ${c.labels.length} labels`, 'replace the head (--reinit-head)')
    const common = { runtime: c.runtime, optimizer: c.optimizer, seed: c.seed, constantWeights: c.constantWeights === true, ...(c.clipNorm !== undefined ? { clipNorm: c.clipNorm } : {}), ...(c.accumulation !== undefined ? { accumulation: c.accumulation } : {}) }
    if (c.method === 'frozen') {
      trainHeadOnly(m)
    }
    this.session = new TrainSession({
      ...common,
      model: m,
      forward: (i, g) => {
        const logits = c.method === 'frozen' ? m.head(i['features']!) : m.logits(i['audio']!)
        return { ...(i['labels'] ? { loss: nn.crossEntropy(logits, i['labels']) } : {}), ...(g.training ? {} : { outputs: { logits } }) }
      },
    })
  }

  async job(): Promise<TrainingJob> {
    const c = this.c
    const train = c.train!
    if (c.method === 'frozen') await this.#cacheFeatures()
    if (c.adaptFeatureNorm && c.model.adaptFeatureNorm) {
      // the cached features in frozen training; else those of the first clips, unaugmented, as the network starts
      const f = c.method === 'frozen' ? this.#cache!.train : await this.features(train, ADAPT_CLIPS)
      if (f.n > 0) c.model.adaptFeatureNorm(f.f, f.n)
    }
    const batchesPerEpoch = c.method === 'frozen' ? Math.ceil(this.#cache!.train.n / c.batchSize) : train.batchCount(c.batchSize)
    const self = this
    return {
      session: this.session,
      trainExamples: train.length,
      evalExamples: c.validation?.length ?? 0,
      batchesPerEpoch,
      async *batches(epoch: number, start: number): AsyncIterable<TrainBatch> {
        if (c.method === 'frozen') {
          const f = self.#cache!.train
          yield* featureBatches(f.f, f.l, f.n, c.model.featureSize, c.batchSize, c.seed, epoch, start)
          return
        }
        for await (const b of train.batches(epoch, start, { batchSize: c.batchSize, train: true })) yield { feeds: feedsOf(b), examples: b.labels.length }
      },
      ...(c.validation ? { evaluate: () => this.evaluate() } : {}),
    }
  }

  /** Accuracy, macro F1, per-class F1 and eval_loss on a split (the validation split by default). */
  async evaluate(split?: AudioSplit): Promise<Record<string, number>> {
    const c = this.c
    const data = split ?? c.validation
    if (!data) return {}
    const tally = new ClassificationTally(c.labels)
    const bs = c.evalBatchSize ?? c.batchSize
    const F = c.model.featureSize
    const cached = c.method === 'frozen' && !split ? this.#cache?.val : null
    if (cached) await tallyFeatureBatches(this.session, tally, cached.f, cached.l, cached.n, F, bs)
    else if (c.method === 'frozen') {
      // a split that was not cached: features first, then the head
      const f = await this.features(data)
      await tallyFeatureBatches(this.session, tally, f.f, f.l, f.n, F, bs)
    } else {
      await tallyBatches(this.session, tally, data.batches(0, 0, { batchSize: bs, train: false }), feedsOf)
    }
    return tally.result()
  }

  /** The backbone's pooled features of every clip of `split` (or its first `limit`; evaluation clips: no augmentation). */
  async features(split: AudioSplit, limit = Infinity, progress?: (clips: number) => void): Promise<Cached> {
    const c = this.c
    const m = c.model
    const F = m.featureSize
    // the weights do not change during the pass: they go into the graph as constants
    const fs = new TrainSession({ runtime: c.runtime, model: m, optimizer: c.optimizer, constantWeights: true, forward: (i) => ({ outputs: { f: m.features(i['audio']!) } }) })
    const f = new Float32Array(split.length * F)
    const l = new BigInt64Array(split.length)
    let n = 0
    try {
      for await (const b of split.batches(0, 0, { batchSize: c.evalBatchSize ?? c.batchSize, train: false })) {
        if (b.labels.length === 0) continue
        const out = (await fs.evaluate({ audio: { data: b.samples, shape: b.shape, dtype: 'float32' } })).outputs['f']!.data as Float32Array
        // batches come in file order, so rows stay in split order with skipped clips left out
        f.set(out, n * F)
        l.set(b.labels, n)
        n += b.labels.length
        progress?.(b.labels.length)
        if (n >= limit) break
      }
    } finally {
      await fs.dispose()
    }
    return { f: f.subarray(0, n * F), l: l.subarray(0, n), n }
  }

  async #cacheFeatures(): Promise<void> {
    if (this.#cache) return
    const c = this.c
    const total = c.train!.length + (c.validation?.length ?? 0)
    let done = 0
    const progress = c.onFeatureProgress && ((clips: number): void => c.onFeatureProgress!((done += clips), total))
    this.#cache = { train: await this.features(c.train!, Infinity, progress), val: c.validation ? await this.features(c.validation, Infinity, progress) : null }
  }
}
