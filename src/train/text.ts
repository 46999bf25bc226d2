/**
 * What every text task shares on top of the trainer: padding tokenised examples into length buckets,
 * the forward pass, evaluation batches, and the frozen-backbone method with cached features. What
 * differs between tasks (how an example is tokenised, its labels, loss and metrics) comes from the
 * task's TextHead (src/tasks/<task>/).
 */
import { ConfigError, DataError } from '../errors.js'
import type { Tensor } from '../graph/graph.js'
import type { ProblemType, TextInputs, TextModel } from '../models/hf.js'
import type { OptimizerConfig } from '../optim/optimizers.js'
import { Rng } from '../runtime/rng.js'
import type { HostTensor, Runtime } from '../runtime/session.js'
import type { Tokenizer } from '../tokenizers/index.js'
import { bucketBatches, type TextSplit } from '../data/text.js'
import type { CausalLmExample, TextClassificationExample, TokenClassificationExample } from '../data/dataset.js'
import { TrainSession } from './step.js'
import type { TrainBatch, TrainingJob } from './trainer.js'

export type TextExample = TextClassificationExample | TokenClassificationExample | CausalLmExample
export type TextTaskName = 'sequence-classification' | 'token-classification' | 'causal-lm' | 'masked-lm'
export type Method = 'full' | 'frozen'

/** What the runner gives a head: the tokenizer, the length limit and the label mapping. */
export interface TextHeadContext {
  readonly tokenizer: Tokenizer
  readonly maxLength: number
  /** Label names in the model's id order. */
  readonly labels: readonly string[]
  readonly problemType: ProblemType | null
  /** Data label id -> model label id (by name). */
  readonly remap: readonly number[]
}

/** Accumulates one evaluation's outputs into metrics. */
export interface TextMetrics {
  add(outputs: Record<string, HostTensor>, feeds: Record<string, HostTensor>, indices: readonly number[], len: number): void
  result(evalLoss: number, examples: number): Record<string, number>
}

/**
 * The parts of a text task: tokenising an example, its label tensor, the loss, the outputs kept at
 * evaluation and the metrics made of them.
 */
export interface TextHead {
  /** The model head this task trains. */
  readonly modelTask: TextTaskName
  /** Whether a frozen backbone's cached features are per token ((T, F)) rather than per example. */
  readonly perToken: boolean
  /** Why `--method frozen` does not apply, when it does not. */
  readonly frozenUnsupported?: string
  /** Frozen features of padded positions are constant: bucket to multiples of maxLength then. */
  readonly frozenFixedLength?: boolean
  encode(ctx: TextHeadContext, e: TextExample): Encoded
  labels(ctx: TextHeadContext, encs: readonly Encoded[], len: number): HostTensor
  loss(ctx: TextHeadContext, logits: Tensor, labels: Tensor): Tensor
  evalOutputs(logits: Tensor): Record<string, Tensor>
  metrics(ctx: TextHeadContext, examples: number): TextMetrics
  /**
   * Per-batch random changes to encoded examples before collation (masked-LM masking). `rng` is
   * addressed by (seed, epoch, batch) in training and by the batch alone at evaluation, so a resumed
   * run sees the masks it would have seen and every evaluation scores the same masks.
   */
  corrupt?(ctx: TextHeadContext, encs: readonly Encoded[], rng: Rng): Encoded[]
}

export interface TextJobConfig {
  head: TextHead
  model: TextModel
  tokenizer: Tokenizer
  /** Label names in the model's id order (empty for causal-lm). */
  labels: readonly string[]
  /** Label names in the data's id order (the data's ids are mapped onto the model's by name). */
  dataLabels: readonly string[]
  problemType: ProblemType | null
  train: TextSplit<TextExample>
  validation?: TextSplit<TextExample> | undefined
  batchSize: number
  evalBatchSize?: number
  maxLength: number
  seed: number
  method: Method
  runtime: Runtime
  optimizer: OptimizerConfig
  clipNorm?: number
  accumulation?: number
  /** Bytes the frozen method may spend caching features in memory (default 1 GiB). */
  featureCacheBytes?: number
  /**
   * Bytes of tokenised examples kept for the epochs and evaluations that read them again (default
   * 256 MiB); beyond it, examples are tokenised on every use.
   */
  encodedCacheBytes?: number
  /** Called with progress while features are computed (frozen method): examples of both splits. */
  onFeatureProgress?: ((done: number, total: number) => void) | undefined
}

/** One tokenised example: ids, segment ids, and per-token labels (token classification, LM). */
export interface Encoded {
  ids: number[]
  typeIds: number[]
  /** Per-token targets (-100 = ignored), for token classification and causal LM. */
  tokenLabels?: number[]
  /** Sequence target: class id, multi-hot vector or regression value (in the model's label order). */
  label?: number | number[]
  /** 1 where a token is special ([CLS], [SEP]): never masked (masked LM). */
  specialTokensMask?: number[]
  /** The word each token belongs to (null for special tokens), for whole-word masking. */
  wordIds?: (number | null)[]
}

// random streams of masked-LM masking: training batches use stream 1 + epoch, evaluation this one
const EVAL_STREAM = 0x65766131

export class TextTaskRunner {
  readonly session: TrainSession
  readonly c: TextJobConfig
  readonly padId: number
  readonly ctx: TextHeadContext
  readonly #encoded: EncodedCache
  #featureSession: TrainSession | null = null
  #features: { train: FeatureCache; validation: FeatureCache | null } | null = null

  constructor(c: TextJobConfig) {
    this.c = c
    const pad = c.tokenizer.padId ?? c.tokenizer.eosId
    if (pad === undefined) throw new ConfigError('TOKENIZER_NO_PAD', 'the tokenizer has neither a pad nor an end-of-sequence token to pad batches with', 'add a pad_token to tokenizer_config.json')
    this.padId = pad
    this.#encoded = new EncodedCache(c.encodedCacheBytes ?? 256 * 2 ** 20, (e) => this.encode(e))
    const remap = c.dataLabels.map((name) => {
      const i = c.labels.indexOf(name)
      if (i < 0 && c.problemType !== 'regression') throw new DataError('DATA_UNKNOWN_LABEL', `label "${name}" of the data is not one of the model's labels (${c.labels.join(', ')})`, 'pass --reinit-head to train a new head for these labels')
      return i
    })
    const ctx: TextHeadContext = { tokenizer: c.tokenizer, maxLength: c.maxLength, labels: c.labels, problemType: c.problemType, remap }
    this.ctx = ctx
    const head = c.head
    if (c.method === 'frozen') {
      if (head.frozenUnsupported) throw new ConfigError('METHOD_FROZEN_UNSUPPORTED', head.frozenUnsupported, 'use --method full')
      c.model.requiresGrad(false)
      for (const [n, p] of c.model.namedParameters()) if (c.model.headPrefixes.some((h) => n.startsWith(`${h}.`)) && p.kind === 'param') p.requiresGrad = true
    }
    const m = c.model
    const common = { runtime: c.runtime, optimizer: c.optimizer, seed: c.seed, ...(c.clipNorm !== undefined ? { clipNorm: c.clipNorm } : {}), ...(c.accumulation !== undefined ? { accumulation: c.accumulation } : {}) }
    const frozen = c.method === 'frozen'
    this.session = new TrainSession({
      ...common,
      model: m,
      forward: (i, g) => {
        const logits = frozen ? m.head(i['features']!) : m.logits(inputsOf(i))
        return { ...(i['labels'] ? { loss: head.loss(ctx, logits, i['labels']) } : {}), ...(g.training ? {} : { outputs: head.evalOutputs(logits) }) }
      },
    })
  }

  /** Tokenises one example for this task. */
  encode(e: TextExample): Encoded {
    return this.c.head.encode(this.ctx, e)
  }

  /** Pads encoded examples to `len` and builds the feeds of one batch. */
  collate(encs: readonly Encoded[], len: number): Record<string, HostTensor> {
    const feeds = padTokens(encs, len, this.padId, this.c.model.usesTokenTypes)
    feeds['labels'] = this.c.head.labels(this.ctx, encs, len)
    return feeds
  }

  /** Token counts of the training examples (computed once, for bucketing). */
  trainLengths(): Promise<Uint16Array> {
    return this.#encoded.lengths(this.c.train)
  }

  /** The TrainingJob the Trainer runs. */
  async job(): Promise<TrainingJob> {
    const c = this.c
    if (c.method === 'frozen') await this.#cacheFeatures()
    const lengths = c.method === 'frozen' ? this.#features!.train.lengths : await this.trainLengths()
    const plan = (epoch: number) => bucketBatches(lengths, { batchSize: c.batchSize, maxLength: c.maxLength, seed: c.seed, epoch, ...(c.method === 'frozen' && c.head.frozenFixedLength ? { scheme: { kind: 'multiple' as const, step: c.maxLength } } : {}) })
    const batchesPerEpoch = plan(0).length
    const self = this
    return {
      session: this.session,
      trainExamples: c.train.length,
      evalExamples: c.validation?.length ?? 0,
      batchesPerEpoch,
      async *batches(epoch: number, start: number): AsyncIterable<TrainBatch> {
        const batches = plan(epoch)
        for (let i = start; i < batches.length; i++) {
          const b = batches[i]!
          yield { feeds: await self.#batchFeeds('train', b.indices, b.length, new Rng(c.seed, 1 + epoch, i)), examples: b.indices.length }
        }
      },
      ...(c.validation ? { evaluate: () => this.evaluate() } : {}),
    }
  }

  async #batchFeeds(split: 'train' | 'validation', indices: readonly number[], len: number, rng: Rng): Promise<Record<string, HostTensor>> {
    if (this.c.method === 'frozen') return this.#features![split === 'train' ? 'train' : 'validation']!.batch(indices, len, this)
    const data = split === 'train' ? this.c.train : this.c.validation!
    return this.collate(this.#corrupt(await this.#encoded.many(data, indices), rng), len)
  }

  #corrupt(encs: Encoded[], rng: Rng): Encoded[] {
    return this.c.head.corrupt ? this.c.head.corrupt(this.ctx, encs, rng) : encs
  }

  /** Metrics on the validation split (eval mode), with eval_loss. */
  async evaluate(split?: TextSplit<TextExample>): Promise<Record<string, number>> {
    const data = split ?? this.c.validation
    if (!data) return {}
    const c = this.c
    const useCache = c.method === 'frozen' && !split && this.#features?.validation
    const lengths = useCache ? this.#features!.validation!.lengths : await this.#encoded.lengths(data)
    const batches = bucketBatches(lengths, { batchSize: c.evalBatchSize ?? c.batchSize, maxLength: c.maxLength, seed: 0, epoch: 0 })
    let lossSum = 0
    let n = 0
    const acc = c.head.metrics(this.ctx, data.length)
    for (const [i, b] of batches.entries()) {
      const rng = new Rng(c.seed, EVAL_STREAM, i)
      const feeds = useCache ? await this.#batchFeeds('validation', b.indices, b.length, rng) : this.collate(this.#corrupt(await this.#encoded.many(data, b.indices), rng), b.length)
      const r = await this.session.evaluate(feeds)
      lossSum += (r.loss ?? 0) * b.indices.length
      n += b.indices.length
      acc.add(r.outputs, feeds, b.indices, b.length)
    }
    return acc.result(lossSum / Math.max(n, 1), n)
  }

  async #cacheFeatures(): Promise<void> {
    if (this.#features) return
    const c = this.c
    const m = c.model
    this.#featureSession ??= new TrainSession({ runtime: c.runtime, model: m, optimizer: c.optimizer, forward: (i) => ({ outputs: { features: m.features(inputsOf(i)) } }) })
    // progress counts both splits: the training examples, then the validation ones
    const total = c.train.length + (c.validation?.length ?? 0)
    let done = 0
    const build = async (data: TextSplit<TextExample>): Promise<FeatureCache> => {
      const lengths = await this.#encoded.lengths(data)
      const cache = new FeatureCache(c.head.perToken, data.length, lengths, c.featureCacheBytes ?? 1 << 30)
      const batches = bucketBatches(lengths, { batchSize: c.evalBatchSize ?? c.batchSize, maxLength: c.maxLength, seed: 0, epoch: 0 })
      for (const b of batches) {
        const encs = await this.#encoded.many(data, b.indices)
        const r = await this.#featureSession!.evaluate(this.collate(encs, b.length))
        cache.put(b.indices, b.length, r.outputs['features']!.data as Float32Array, encs)
        done += b.indices.length
        c.onFeatureProgress?.(done, total)
      }
      return cache
    }
    this.#features = { train: await build(c.train), validation: c.validation ? await build(c.validation) : null }
  }
}

/** The model inputs among a batch's feeds. */
export function inputsOf(i: Record<string, Tensor>): TextInputs {
  const x: TextInputs = { input_ids: i['input_ids']!, attention_mask: i['attention_mask']! }
  if (i['token_type_ids']) x.token_type_ids = i['token_type_ids']
  return x
}

/** input_ids (padded with `padId`), attention_mask and token_type_ids of a batch padded to `len`. */
export function padTokens(encs: readonly { ids: readonly number[]; typeIds: readonly number[] }[], len: number, padId: number, usesTokenTypes: boolean): Record<string, HostTensor> {
  const B = encs.length
  const ids = new BigInt64Array(B * len).fill(BigInt(padId))
  const mask = new BigInt64Array(B * len)
  const types = new BigInt64Array(B * len)
  encs.forEach((e, b) => {
    const n = Math.min(e.ids.length, len)
    for (let i = 0; i < n; i++) {
      ids[b * len + i] = BigInt(e.ids[i]!)
      mask[b * len + i] = 1n
      types[b * len + i] = BigInt(e.typeIds[i] ?? 0)
    }
  })
  const feeds: Record<string, HostTensor> = {
    input_ids: { data: ids, shape: [B, len], dtype: 'int64' },
    attention_mask: { data: mask, shape: [B, len], dtype: 'int64' },
  }
  if (usesTokenTypes) feeds['token_type_ids'] = { data: types, shape: [B, len], dtype: 'int64' }
  return feeds
}

/**
 * Tokenised examples of each split, so that epochs and evaluations do not read and tokenise the
 * same rows again (the text demo's 20-label runs tokenised each e-mail 80 times). Bounded: once
 * `budget` bytes are held, the rest are tokenised on every use. Consumers never mutate an Encoded
 * (masking copies it).
 */
class EncodedCache {
  readonly #splits = new WeakMap<TextSplit<TextExample>, Kept>()
  #bytes = 0
  constructor(readonly budget: number, readonly encode: (e: TextExample) => Encoded) {}

  #of(data: TextSplit<TextExample>): Kept {
    let s = this.#splits.get(data)
    if (!s) this.#splits.set(data, (s = { encs: new Array<Encoded | undefined>(data.length), kept: 0, lengths: null }))
    return s
  }

  #keep(s: Kept, i: number, e: Encoded): void {
    const b = encodedBytes(e)
    if (s.encs[i] || this.#bytes + b > this.budget) return
    s.encs[i] = e
    s.kept++
    this.#bytes += b
  }

  /** The examples at `indices`, in that order. */
  async many(data: TextSplit<TextExample>, indices: readonly number[]): Promise<Encoded[]> {
    const s = this.#of(data)
    const missing = indices.filter((i) => !s.encs[i])
    const fresh = new Map<number, Encoded>()
    if (missing.length) (await data.getMany(missing)).forEach((e, k) => fresh.set(missing[k]!, this.encode(e)))
    for (const [i, e] of fresh) this.#keep(s, i, e)
    return indices.map((i) => s.encs[i] ?? fresh.get(i)!)
  }

  /** Token counts of every example of the split (tokenising those not kept yet). */
  async lengths(data: TextSplit<TextExample>): Promise<Uint16Array> {
    const s = this.#of(data)
    if (s.lengths) return s.lengths
    const out = new Uint16Array(data.length)
    if (s.kept === data.length) {
      s.encs.forEach((e, k) => (out[k] = Math.min(e!.ids.length, 65535)))
      return (s.lengths = out)
    }
    let i = 0
    for await (const e of data.iterate()) {
      const enc = s.encs[i] ?? this.encode(e)
      this.#keep(s, i, enc)
      out[i++] = Math.min(enc.ids.length, 65535)
    }
    s.lengths = out
    return out
  }
}

interface Kept {
  encs: (Encoded | undefined)[]
  kept: number
  lengths: Uint16Array | null
}

/** What an Encoded holds, roughly: 8 bytes per array element plus the objects. */
function encodedBytes(e: Encoded): number {
  const n = e.ids.length + e.typeIds.length + (e.tokenLabels?.length ?? 0) + (e.specialTokensMask?.length ?? 0) + (e.wordIds?.length ?? 0) + (Array.isArray(e.label) ? e.label.length : 1)
  return 96 + 8 * n
}

/**
 * Backbone features of every example, computed once in inference mode: (F) per example for sequence
 * heads, (T, F) plus token labels for token heads. Bounded: exceeding the byte budget is an error.
 */
class FeatureCache {
  readonly #rows: (Float32Array | undefined)[]
  readonly #encs: (Encoded | undefined)[]
  #bytes = 0
  #dim = 0
  constructor(readonly perToken: boolean, n: number, readonly lengths: Uint16Array, readonly budget: number) {
    this.#rows = new Array(n)
    this.#encs = new Array(n)
  }
  put(indices: readonly number[], len: number, feats: Float32Array, encs: readonly Encoded[]): void {
    const B = indices.length
    const per = feats.length / B
    this.#dim = this.perToken ? per / len : per
    indices.forEach((ix, k) => {
      const rows = this.perToken ? Math.min(this.lengths[ix]!, len) : 1
      const f = feats.slice(k * per, k * per + rows * this.#dim)
      this.#bytes += f.byteLength
      if (this.#bytes > this.budget)
        throw new ConfigError('FEATURE_CACHE_FULL', `cached features would exceed ${(this.budget / 2 ** 20).toFixed(0)} MiB`, 'use --method full, a smaller data set, or raise the budget (featureCacheBytes)')
      this.#rows[ix] = f
      const e = encs[k]!
      this.#encs[ix] = { ids: [], typeIds: [], ...(e.label !== undefined ? { label: e.label } : {}), ...(e.tokenLabels ? { tokenLabels: e.tokenLabels } : {}) }
    })
  }
  batch(indices: readonly number[], len: number, r: TextTaskRunner): Record<string, HostTensor> {
    const B = indices.length
    const D = this.#dim
    if (!this.perToken) {
      const f = new Float32Array(B * D)
      indices.forEach((ix, k) => f.set(this.#rows[ix]!, k * D))
      const feeds = r.collate(indices.map((ix) => this.#encs[ix]!), 1)
      return { features: { data: f, shape: [B, D], dtype: 'float32' }, labels: feeds['labels']! }
    }
    const f = new Float32Array(B * len * D)
    indices.forEach((ix, k) => f.set(this.#rows[ix]!.subarray(0, len * D), k * len * D))
    const feeds = r.collate(indices.map((ix) => this.#encs[ix]!), len)
    return { features: { data: f, shape: [B, len, D], dtype: 'float32' }, labels: feeds['labels']! }
  }
}

