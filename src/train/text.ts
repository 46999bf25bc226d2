/**
 * Text tasks on top of the trainer: tokenising examples, padding them into length buckets, the
 * forward and loss per task, evaluation metrics, and the frozen-backbone method with cached features.
 */
import { ConfigError, DataError } from '../errors.js'
import type { Tensor } from '../graph/graph.js'
import { taskLoss } from '../heads/losses.js'
import type { ProblemType, TextInputs, TextModel } from '../models/hf.js'
import type { OptimizerConfig } from '../optim/optimizers.js'
import type { HostTensor, Runtime } from '../runtime/session.js'
import type { Tokenizer } from '../tokenizers/index.js'
import { bucketBatches, type TextSplit } from '../data/text.js'
import type { CausalLmExample, TextClassificationExample, TokenClassificationExample } from '../data/dataset.js'
import { classificationMetrics, entityMetrics, reportedClassificationMetrics, multiLabelMetrics, perplexity, regressionMetrics } from './metrics.js'
import { TrainSession } from './step.js'
import type { TrainBatch, TrainingJob } from './trainer.js'

export type TextExample = TextClassificationExample | TokenClassificationExample | CausalLmExample
export type TextTaskName = 'sequence-classification' | 'token-classification' | 'causal-lm'
export type Method = 'full' | 'frozen'

export interface TextJobConfig {
  task: TextTaskName
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
  /** Called with progress while features are computed (frozen method). */
  onFeatureProgress?: (done: number, total: number) => void
}

/** One tokenised example: ids, segment ids, and per-token labels (token classification, LM). */
interface Encoded {
  ids: number[]
  typeIds: number[]
  /** Per-token targets (-100 = ignored), for token classification and causal LM. */
  tokenLabels?: number[]
  /** Sequence target: class id, multi-hot vector or regression value (in the model's label order). */
  label?: number | number[]
}

export class TextTaskRunner {
  readonly session: TrainSession
  readonly c: TextJobConfig
  readonly padId: number
  readonly #remap: number[]
  #trainLengths: Uint16Array | null = null
  #featureSession: TrainSession | null = null
  #features: { train: FeatureCache; validation: FeatureCache | null } | null = null

  constructor(c: TextJobConfig) {
    this.c = c
    const pad = c.tokenizer.padId ?? c.tokenizer.eosId
    if (pad === undefined) throw new ConfigError('TOKENIZER_NO_PAD', 'the tokenizer has neither a pad nor an end-of-sequence token to pad batches with', 'add a pad_token to tokenizer_config.json')
    this.padId = pad
    this.#remap = c.dataLabels.map((name) => {
      const i = c.labels.indexOf(name)
      if (i < 0 && c.problemType !== 'regression') throw new DataError('DATA_UNKNOWN_LABEL', `label "${name}" of the data is not one of the model's labels (${c.labels.join(', ')})`, 'pass --reinit-head to train a new head for these labels')
      return i
    })
    if (c.method === 'frozen') {
      if (c.task === 'causal-lm') throw new ConfigError('METHOD_FROZEN_LM', 'the frozen method trains only a head on cached features; causal-lm has no separate head', 'use --method full for causal-lm')
      c.model.requiresGrad(false)
      for (const [n, p] of c.model.namedParameters()) if (c.model.headPrefixes.some((h) => n.startsWith(`${h}.`)) && p.kind === 'param') p.requiresGrad = true
    }
    const m = c.model
    const task = c.task
    const problem = (c.problemType ?? 'single_label_classification') as ProblemType
    const common = { runtime: c.runtime, optimizer: c.optimizer, seed: c.seed, ...(c.clipNorm !== undefined ? { clipNorm: c.clipNorm } : {}), ...(c.accumulation !== undefined ? { accumulation: c.accumulation } : {}) }
    if (c.method === 'frozen') {
      this.session = new TrainSession({
        ...common,
        model: m,
        forward: (i, g) => {
          const logits = m.head(i['features']!)
          return { ...(i['labels'] ? { loss: taskLoss(task, logits, i['labels'], problem) } : {}), ...(g.training ? {} : { outputs: this.#evalOutputs(logits) }) }
        },
      })
    } else {
      this.session = new TrainSession({
        ...common,
        model: m,
        forward: (i, g) => {
          const logits = m.logits(inputsOf(i))
          return { ...(i['labels'] ? { loss: taskLoss(task, logits, i['labels'], problem) } : {}), ...(g.training ? {} : { outputs: this.#evalOutputs(logits) }) }
        },
      })
    }
  }

  #evalOutputs(logits: Tensor): Record<string, Tensor> {
    if (this.c.task === 'token-classification') return { preds: logits.argmax(-1) }
    if (this.c.task === 'causal-lm') return {}
    return { logits }
  }

  /** Tokenises one example for this task. */
  encode(e: TextExample): Encoded {
    const t = this.c.tokenizer
    const max = this.c.maxLength
    if (this.c.task === 'sequence-classification') {
      const x = e as TextClassificationExample
      const enc = t.encode(x.text, x.textPair ?? null, { truncation: true, maxLength: max })
      return { ids: enc.ids, typeIds: enc.typeIds, label: this.#modelLabel(x.label) }
    }
    if (this.c.task === 'token-classification') {
      const x = e as TokenClassificationExample
      // join the words with spaces; the first sub-token of each word carries its tag (HF run_ner)
      const starts: number[] = []
      let text = ''
      x.tokens.forEach((w, i) => {
        if (i > 0) text += ' '
        starts.push(text.length)
        text += w
      })
      const enc = t.encode(text, null, { truncation: true, maxLength: max })
      const byStart = new Map(starts.map((s, i) => [s, i]))
      const tokenLabels = enc.offsets.map(([s, end], k) => {
        if (enc.specialTokensMask[k] || end <= s) return -100
        // byte-level BPE offsets may include the leading space
        const w = byStart.get(s) ?? (text[s] === ' ' ? byStart.get(s + 1) : undefined)
        return w === undefined ? -100 : this.#remap[x.tags[w]!]!
      })
      return { ids: enc.ids, typeIds: enc.typeIds, tokenLabels }
    }
    const x = e as CausalLmExample
    const enc = t.encode(x.text, null, { truncation: true, maxLength: max })
    return { ids: enc.ids, typeIds: enc.typeIds, tokenLabels: enc.ids.slice() }
  }

  #modelLabel(l: number | number[]): number | number[] {
    if (this.c.problemType === 'regression') return l
    if (Array.isArray(l)) {
      const out = new Array<number>(this.c.labels.length).fill(0)
      l.forEach((v, i) => {
        if (v) out[this.#remap[i]!] = 1
      })
      return out
    }
    return this.#remap[l]!
  }

  /** Pads encoded examples to `len` and builds the feeds of one batch. */
  collate(encs: readonly Encoded[], len: number): Record<string, HostTensor> {
    const B = encs.length
    const ids = new BigInt64Array(B * len).fill(BigInt(this.padId))
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
    if (this.c.model.usesTokenTypes) feeds['token_type_ids'] = { data: types, shape: [B, len], dtype: 'int64' }
    feeds['labels'] = this.#labels(encs, len)
    return feeds
  }

  #labels(encs: readonly Encoded[], len: number): HostTensor {
    const B = encs.length
    if (this.c.task !== 'sequence-classification') {
      const l = new BigInt64Array(B * len).fill(-100n)
      encs.forEach((e, b) => e.tokenLabels!.slice(0, len).forEach((v, i) => (l[b * len + i] = BigInt(v))))
      return { data: l, shape: [B, len], dtype: 'int64' }
    }
    if (this.c.problemType === 'multi_label_classification') {
      const L = this.c.labels.length
      const l = new Float32Array(B * L)
      encs.forEach((e, b) => (e.label as number[]).forEach((v, i) => (l[b * L + i] = v)))
      return { data: l, shape: [B, L], dtype: 'float32' }
    }
    if (this.c.problemType === 'regression') return { data: Float32Array.from(encs.map((e) => e.label as number)), shape: [B], dtype: 'float32' }
    return { data: BigInt64Array.from(encs.map((e) => BigInt(e.label as number))), shape: [B], dtype: 'int64' }
  }

  /** Token counts of the training examples (computed once, for bucketing). */
  async trainLengths(): Promise<Uint16Array> {
    if (this.#trainLengths) return this.#trainLengths
    this.#trainLengths = await lengthsOf(this, this.c.train)
    return this.#trainLengths
  }

  /** The TrainingJob the Trainer runs. */
  async job(): Promise<TrainingJob> {
    const c = this.c
    if (c.method === 'frozen') await this.#cacheFeatures()
    const lengths = c.method === 'frozen' ? this.#features!.train.lengths : await this.trainLengths()
    const plan = (epoch: number) => bucketBatches(lengths, { batchSize: c.batchSize, maxLength: c.maxLength, seed: c.seed, epoch, ...(c.method === 'frozen' && c.task === 'sequence-classification' ? { scheme: { kind: 'multiple' as const, step: c.maxLength } } : {}) })
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
          yield { feeds: await self.#batchFeeds('train', b.indices, b.length), examples: b.indices.length }
        }
      },
      ...(c.validation ? { evaluate: () => this.evaluate() } : {}),
    }
  }

  async #batchFeeds(split: 'train' | 'validation', indices: readonly number[], len: number): Promise<Record<string, HostTensor>> {
    if (this.c.method === 'frozen') return this.#features![split === 'train' ? 'train' : 'validation']!.batch(indices, len, this)
    const data = split === 'train' ? this.c.train : this.c.validation!
    const ex = await data.getMany(indices)
    return this.collate(ex.map((e) => this.encode(e)), len)
  }

  /** Metrics on the validation split (eval mode), with eval_loss. */
  async evaluate(split?: TextSplit<TextExample>): Promise<Record<string, number>> {
    const data = split ?? this.c.validation
    if (!data) return {}
    const c = this.c
    const useCache = c.method === 'frozen' && !split && this.#features?.validation
    const lengths = useCache ? this.#features!.validation!.lengths : await lengthsOf(this, data)
    const batches = bucketBatches(lengths, { batchSize: c.evalBatchSize ?? c.batchSize, maxLength: c.maxLength, seed: 0, epoch: 0 })
    let lossSum = 0
    let n = 0
    const L = c.labels.length
    const preds = new Float64Array(data.length * Math.max(L, 1))
    const gold = new Float64Array(data.length * Math.max(L, 1))
    const tagPred: string[][] = []
    const tagGold: string[][] = []
    let tokens = 0
    let tokensOk = 0
    for (const b of batches) {
      const feeds = useCache ? await this.#batchFeeds('validation', b.indices, b.length) : this.collate((await data.getMany(b.indices)).map((e) => this.encode(e)), b.length)
      const r = await this.session.evaluate(feeds)
      lossSum += (r.loss ?? 0) * b.indices.length
      n += b.indices.length
      const labels = feeds['labels']!
      if (c.task === 'sequence-classification') {
        const lg = r.outputs['logits']!.data as Float32Array
        b.indices.forEach((ix, k) => {
          if (c.problemType === 'multi_label_classification') for (let j = 0; j < L; j++) {
            preds[ix * L + j] = lg[k * L + j]! > 0 ? 1 : 0
            gold[ix * L + j] = (labels.data as Float32Array)[k * L + j]!
          }
          else if (c.problemType === 'regression') {
            preds[ix] = lg[k]!
            gold[ix] = (labels.data as Float32Array)[k]!
          } else {
            let best = 0
            for (let j = 1; j < L; j++) if (lg[k * L + j]! > lg[k * L + best]!) best = j
            preds[ix] = best
            gold[ix] = Number((labels.data as BigInt64Array)[k])
          }
        })
      } else if (c.task === 'token-classification') {
        const p = r.outputs['preds']!.data as BigInt64Array
        const g = labels.data as BigInt64Array
        b.indices.forEach((_, k) => {
          const ps: string[] = []
          const gs: string[] = []
          for (let t = 0; t < b.length; t++) {
            const gv = Number(g[k * b.length + t])
            if (gv === -100) continue
            const pv = Number(p[k * b.length + t])
            ps.push(c.labels[pv] ?? 'O')
            gs.push(c.labels[gv]!)
            tokens++
            if (pv === gv) tokensOk++
          }
          tagPred.push(ps)
          tagGold.push(gs)
        })
      }
    }
    const m: Record<string, number> = { eval_loss: lossSum / Math.max(n, 1) }
    if (c.task === 'causal-lm') m['perplexity'] = perplexity(m['eval_loss']!)
    else if (c.task === 'token-classification') {
      const e = entityMetrics(tagPred, tagGold)
      Object.assign(m, { f1: e.f1, precision: e.precision, recall: e.recall, accuracy: tokens ? tokensOk / tokens : 0 })
    } else if (c.problemType === 'regression') Object.assign(m, regressionMetrics(preds.subarray(0, n), gold.subarray(0, n)))
    else if (c.problemType === 'multi_label_classification') {
      const r = multiLabelMetrics(preds, gold, c.labels)
      Object.assign(m, { micro_f1: r.micro_f1, macro_f1: r.macro_f1, subset_accuracy: r.subset_accuracy, accuracy: r.subset_accuracy })
    } else {
      Object.assign(m, reportedClassificationMetrics(classificationMetrics(preds, gold, c.labels)))
    }
    return m
  }

  async #cacheFeatures(): Promise<void> {
    if (this.#features) return
    const c = this.c
    const m = c.model
    this.#featureSession ??= new TrainSession({ runtime: c.runtime, model: m, optimizer: c.optimizer, forward: (i) => ({ outputs: { features: m.features(inputsOf(i)) } }) })
    const build = async (data: TextSplit<TextExample>): Promise<FeatureCache> => {
      const lengths = await lengthsOf(this, data)
      const cache = new FeatureCache(c.task === 'token-classification', data.length, lengths, c.featureCacheBytes ?? 1 << 30)
      const batches = bucketBatches(lengths, { batchSize: c.evalBatchSize ?? c.batchSize, maxLength: c.maxLength, seed: 0, epoch: 0 })
      let done = 0
      for (const b of batches) {
        const encs = (await data.getMany(b.indices)).map((e) => this.encode(e))
        const r = await this.#featureSession!.evaluate(this.collate(encs, b.length))
        cache.put(b.indices, b.length, r.outputs['features']!.data as Float32Array, encs)
        done += b.indices.length
        c.onFeatureProgress?.(done, data.length)
      }
      return cache
    }
    this.#features = { train: await build(c.train), validation: c.validation ? await build(c.validation) : null }
  }
}

function inputsOf(i: Record<string, Tensor>): TextInputs {
  const x: TextInputs = { input_ids: i['input_ids']!, attention_mask: i['attention_mask']! }
  if (i['token_type_ids']) x.token_type_ids = i['token_type_ids']
  return x
}

async function lengthsOf(r: TextTaskRunner, data: TextSplit<TextExample>): Promise<Uint16Array> {
  const out = new Uint16Array(data.length)
  let i = 0
  for await (const e of data.iterate()) out[i++] = Math.min(r.encode(e).ids.length, 65535)
  return out
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

export interface Prediction {
  label: string
  score: number
  logits: number[]
  /** Token classification: one label per word. */
  tags?: { word: string; label: string; score: number }[]
}

function softmax(x: ArrayLike<number>): number[] {
  const m = Math.max(...Array.from(x))
  const e = Array.from(x, (v) => Math.exp(v - m))
  const s = e.reduce((a, b) => a + b, 0)
  return e.map((v) => v / s)
}

/** Predicts labels for raw texts with a sequence-classification model (inference mode). */
export async function predictTexts(session: TrainSession, model: TextModel, tokenizer: Tokenizer, labels: readonly string[], problemType: ProblemType | null, texts: readonly string[], maxLength: number, batchSize = 16): Promise<Prediction[]> {
  const out: Prediction[] = []
  const pad = tokenizer.padId ?? tokenizer.eosId ?? 0
  for (let s = 0; s < texts.length; s += batchSize) {
    const chunk = texts.slice(s, s + batchSize)
    const encs = chunk.map((t) => tokenizer.encode(t, null, { truncation: true, maxLength }))
    const len = Math.max(...encs.map((e) => e.ids.length), 1)
    const B = chunk.length
    const ids = new BigInt64Array(B * len).fill(BigInt(pad))
    const mask = new BigInt64Array(B * len)
    const types = new BigInt64Array(B * len)
    encs.forEach((e, b) => e.ids.forEach((v, i) => {
      ids[b * len + i] = BigInt(v)
      mask[b * len + i] = 1n
      types[b * len + i] = BigInt(e.typeIds[i] ?? 0)
    }))
    const feeds: Record<string, HostTensor> = { input_ids: { data: ids, shape: [B, len], dtype: 'int64' }, attention_mask: { data: mask, shape: [B, len], dtype: 'int64' } }
    if (model.usesTokenTypes) feeds['token_type_ids'] = { data: types, shape: [B, len], dtype: 'int64' }
    const r = await session.evaluate(feeds)
    const lg = r.outputs['logits']!.data as Float32Array
    const L = lg.length / B
    for (let b = 0; b < B; b++) {
      const row = Array.from(lg.subarray(b * L, (b + 1) * L))
      if (problemType === 'regression') out.push({ label: 'value', score: row[0]!, logits: row })
      else if (problemType === 'multi_label_classification') {
        const p = row.map((v) => 1 / (1 + Math.exp(-v)))
        const on = p.map((v, i) => [v, i] as const).filter(([v]) => v > 0.5)
        const best = p.indexOf(Math.max(...p))
        out.push({ label: on.length ? on.map(([, i]) => labels[i]).join('|') : '', score: p[best]!, logits: row })
      } else {
        const p = softmax(row)
        const best = p.indexOf(Math.max(...p))
        out.push({ label: labels[best] ?? String(best), score: p[best]!, logits: row })
      }
    }
  }
  return out
}
