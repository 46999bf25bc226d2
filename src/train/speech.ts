/**
 * Speech recognition on top of the trainer: utterances (whole clips with transcripts) become
 * padded static-shape batches, the forward is Wav2Vec2ForCTC's logits and CTC loss, evaluation
 * decodes greedily and reports WER and CER (jiwer's definitions) with the loss.
 *
 * Audio is prepared as Wav2Vec2FeatureExtractor does for HF's CTC recipe: each clip normalised to
 * zero mean and unit variance over its own samples (variance + 1e-7) when `do_normalize`, then
 * padded with `padding_value`. Every batch of a split has the split's longest clip as its length,
 * so one compiled graph serves it.
 *
 * Head-only training (`frozen`) of a model that splits into frame features and a head
 * (FrameFeatureModel: imported ONNX graphs) computes every clip's features once, at its split's
 * length, and trains the head on them; models without the split train with their backbone frozen.
 */
import { DataError } from '../errors.js'
import type { Tensor } from '../graph/graph.js'
import type { Module } from '../graph/module.js'
import type { OptimizerConfig } from '../optim/optimizers.js'
import type { HostTensor, Runtime } from '../runtime/session.js'
import { epochOrder } from '../data/order.js'
import { specAugmentMask, type Wav2Vec2Config } from '../models/wav2vec2.js'
import { Rng } from '../runtime/rng.js'
import { argmaxFrames, type CtcVocab } from '../tokenizers/ctc-vocab.js'
import { charErrorRate, wordErrorRate } from './metrics-asr.js'
import { hostI64, TrainSession } from './step.js'
import type { TrainBatch, TrainingJob } from './trainer.js'

/** One clip with its transcript, decoded and resampled. */
export interface Utterance {
  path: string
  text: string
  samples: Float32Array
}

export interface AudioPreparation {
  do_normalize: boolean
  padding_value: number
  /** Whether the model sees an attention (frame) mask and real frame counts. */
  return_attention_mask: boolean
}

/** HF's zero_mean_unit_var_norm of one clip. */
export function normalizeClip(x: Float32Array): Float32Array {
  let mean = 0
  for (const v of x) mean += v
  mean /= Math.max(x.length, 1)
  let v2 = 0
  for (const v of x) v2 += (v - mean) ** 2
  const inv = 1 / Math.sqrt(v2 / Math.max(x.length, 1) + 1e-7)
  return Float32Array.from(x, (v) => (v - mean) * inv)
}

/** Frames CTC needs for a label sequence: one per label, plus a blank between each repeated pair. */
export function framesNeeded(ids: readonly number[]): number {
  let n = ids.length
  for (let i = 1; i < ids.length; i++) if (ids[i] === ids[i - 1]) n++
  return n
}

/**
 * What the runner needs of a CTC model (Wav2Vec2ForCTC, DeepSpeechForCTC): frames per clip, logits
 * and the loss. SpecAugment's time mask is drawn for models whose config has Wav2Vec2's fields;
 * `takesInputLengths` models get each clip's real sample count as `input_lengths` (B) int64.
 */
export interface CtcSpeechModel extends Module {
  readonly c: { vocab_size: number; ctc_loss_reduction: 'sum' | 'mean' } & Partial<Pick<Wav2Vec2Config, 'mask_time_prob' | 'mask_time_length' | 'mask_time_min_masks' | 'apply_spec_augment'>>
  readonly takesInputLengths?: boolean
  /** CTC reads each clip's own frames (frames(samples)), not the padded batch's, even without an attention mask. */
  readonly perClipFrames?: boolean
  frames(samples: number): number
  logits(inputValues: Tensor, frameMask: Tensor | null, timeMask: Tensor | null, inputLengths?: Tensor | null): Tensor
  loss(logits: Tensor, labels: Tensor, labelLengths: Tensor, frameLengths: Tensor): Tensor
}

/** A CTC model whose logits are a head on frame features (B, T, F): its features can be cached. */
export interface FrameFeatureModel {
  frameFeatures(inputValues: Tensor, inputLengths?: Tensor | null): Tensor
  frameHead(features: Tensor): Tensor
  readonly featureSize: number
  readonly headPrefixes: readonly string[]
}

const splitsFeatures = (m: object): m is FrameFeatureModel => typeof (m as Partial<FrameFeatureModel>).frameFeatures === 'function' && (m as FrameFeatureModel).headPrefixes.length > 0

export interface SpeechJobConfig {
  model: CtcSpeechModel
  vocab: CtcVocab
  prep: AudioPreparation
  train: Utterance[]
  validation?: Utterance[] | undefined
  batchSize: number
  evalBatchSize?: number
  seed: number
  runtime: Runtime
  optimizer: OptimizerConfig
  clipNorm?: number
  accumulation?: number
  /** Only the head trains: a FrameFeatureModel's features are computed once per clip. */
  frozen?: boolean
}

interface Batch {
  feeds: Record<string, HostTensor>
  /** Real frames per clip. */
  frames: number[]
  texts: string[]
  paths: string[]
}

export class SpeechTaskRunner {
  readonly session: TrainSession
  readonly c: SpeechJobConfig
  #labels = new Map<Utterance, number[]>()
  /** Cached frame features per clip (frozen), with the padded length they were computed at. */
  #features = new Map<Utterance, { n: number; f: Float32Array }>()

  constructor(c: SpeechJobConfig) {
    this.c = c
    const m = c.model
    this.session = new TrainSession({
      runtime: c.runtime,
      optimizer: c.optimizer,
      seed: c.seed,
      ...(c.clipNorm !== undefined ? { clipNorm: c.clipNorm } : {}),
      ...(c.accumulation !== undefined ? { accumulation: c.accumulation } : {}),
      model: m,
      forward: (i, g) => {
        const logits = i['features'] ? (m as unknown as FrameFeatureModel).frameHead(i['features']) : m.logits(i['input_values']!, i['frame_mask'] ?? null, g.training ? (i['time_mask'] ?? null) : null, i['input_lengths'] ?? null)
        const loss: Tensor | undefined = i['labels'] ? m.loss(logits, i['labels'], i['label_lengths']!, i['frame_lengths']!) : undefined
        return { ...(loss ? { loss } : {}), ...(g.training ? {} : { outputs: { logits } }) }
      },
    })
  }

  /** Label ids of an utterance's transcript (checked once). */
  labelsOf(u: Utterance): number[] {
    let ids = this.#labels.get(u)
    if (!ids) {
      const e = this.c.vocab.encode(u.text)
      if (e.unknown.length) throw new DataError('DATA_TRANSCRIPT_CHARS', `${u.path}: transcript ${JSON.stringify(u.text)} has characters the vocabulary lacks: ${[...new Set(e.unknown)].map((ch) => JSON.stringify(ch)).join(' ')}`, 'clean the transcripts, set --text-case to match vocab.json, or train a new vocabulary with --new-vocab')
      ids = e.ids
      this.#labels.set(u, ids)
    }
    return ids
  }

  /** Pads `us` (at most batchSize clips) to `length` samples; labels when `withLabels`; SpecAugment's time mask when `augment` gives its random stream. */
  batch(us: readonly Utterance[], length: number, withLabels: boolean, augment?: Rng): Batch {
    const { model, prep } = this.c
    const B = us.length
    const T = model.frames(length)
    const x = new Float32Array(B * length).fill(prep.padding_value)
    const frames: number[] = []
    us.forEach((u, b) => {
      x.set(prep.do_normalize ? normalizeClip(u.samples) : u.samples, b * length)
      frames.push(model.frames(u.samples.length))
    })
    const feeds: Record<string, HostTensor> = { input_values: { data: x, shape: [B, length], dtype: 'float32' } }
    if (prep.return_attention_mask) {
      const mask = new Float32Array(B * T)
      frames.forEach((f, b) => mask.fill(1, b * T, b * T + f))
      feeds['frame_mask'] = { data: mask, shape: [B, T], dtype: 'float32' }
    }
    if (model.takesInputLengths) feeds['input_lengths'] = hostI64(us.map((u) => u.samples.length), [B])
    const sa = model.c
    const tm = augment && sa.apply_spec_augment !== undefined ? specAugmentMask({ mask_time_prob: sa.mask_time_prob ?? 0, mask_time_length: sa.mask_time_length ?? 1, mask_time_min_masks: sa.mask_time_min_masks ?? 0, apply_spec_augment: sa.apply_spec_augment }, prep.return_attention_mask ? frames : frames.map(() => T), T, augment) : null
    if (tm) feeds['time_mask'] = { data: tm, shape: [B, T], dtype: 'float32' }
    if (withLabels) {
      const ids = us.map((u) => this.labelsOf(u))
      const L = Math.max(1, ...ids.map((l) => l.length))
      feeds['labels'] = hostI64(ids.flatMap((l) => [...l, ...new Array<number>(L - l.length).fill(0)]), [B, L])
      feeds['label_lengths'] = hostI64(ids.map((l) => l.length), [B])
      // HF: without an attention mask every frame counts as input
      feeds['frame_lengths'] = hostI64(prep.return_attention_mask || model.perClipFrames ? frames : frames.map(() => T), [B])
    }
    return { feeds, frames, texts: us.map((u) => u.text), paths: us.map((u) => u.path) }
  }

  /** The longest clip of a split, in samples (the split's static batch length). */
  static lengthOf(us: readonly Utterance[]): number {
    return us.reduce((m, u) => Math.max(m, u.samples.length), 0)
  }

  /** Refuses clips too short for the model or for their transcripts (CTC would give inf). */
  check(us: readonly Utterance[]): void {
    const m = this.c.model
    const T = m.frames(SpeechTaskRunner.lengthOf(us))
    for (const u of us) {
      const f = this.c.prep.return_attention_mask || m.perClipFrames ? m.frames(u.samples.length) : T
      const need = framesNeeded(this.labelsOf(u))
      if (m.frames(u.samples.length) < 1) throw new DataError('DATA_CLIP_TOO_SHORT', `${u.path}: ${u.samples.length} samples give the model no frame`, 'remove the clip (Wav2Vec2 and DeepSpeech need at least 25 ms of audio)')
      if (f < need) throw new DataError('DATA_TRANSCRIPT_TOO_LONG', `${u.path}: ${f} frames of audio cannot carry the ${need} CTC steps its transcript needs (${JSON.stringify(u.text)})`, 'check that the transcript belongs to this clip, or remove the row')
    }
  }

  /** Whether training reads cached features (frozen head-only training of a FrameFeatureModel). */
  get cachesFeatures(): boolean {
    return this.c.frozen === true && splitsFeatures(this.c.model)
  }

  /** Computes and caches the frame features of `us` padded to their longest clip. */
  async cacheFeatures(us: readonly Utterance[]): Promise<void> {
    const c = this.c
    const m = c.model as unknown as FrameFeatureModel & CtcSpeechModel
    const N = SpeechTaskRunner.lengthOf(us)
    const T = m.frames(N)
    const F = m.featureSize
    const fs = new TrainSession({ runtime: c.runtime, model: m, optimizer: c.optimizer, forward: (i) => ({ outputs: { f: m.frameFeatures(i['input_values']!, i['input_lengths'] ?? null) } }) })
    const bs = c.evalBatchSize ?? c.batchSize
    for (let s = 0; s < us.length; s += bs) {
      const part = us.slice(s, s + bs)
      const b = this.batch(part, N, false)
      const f = (await fs.evaluate({ input_values: b.feeds['input_values']! })).outputs['f']!.data as Float32Array // (B, T, F)
      part.forEach((u, k) => this.#features.set(u, { n: N, f: f.slice(k * T * F, (k + 1) * T * F) }))
    }
  }

  /** `b`'s feeds with its clips' cached features in place of the audio, where all are cached at `N`. */
  #withFeatures(b: Batch, us: readonly Utterance[], N: number): Record<string, HostTensor> {
    const cached = us.map((u) => this.#features.get(u))
    if (!this.cachesFeatures || cached.some((x) => !x || x.n !== N)) return b.feeds
    const T = this.c.model.frames(N)
    const F = (this.c.model as unknown as FrameFeatureModel).featureSize
    const data = new Float32Array(us.length * T * F)
    cached.forEach((x, k) => data.set(x!.f, k * T * F))
    const { input_values: _audio, ...rest } = b.feeds
    return { ...rest, features: { data, shape: [us.length, T, F], dtype: 'float32' } }
  }

  async job(): Promise<TrainingJob> {
    const c = this.c
    this.check(c.train)
    if (c.validation) this.check(c.validation)
    if (this.cachesFeatures) {
      await this.cacheFeatures(c.train)
      if (c.validation) await this.cacheFeatures(c.validation)
    }
    const N = SpeechTaskRunner.lengthOf(c.train)
    const count = Math.ceil(c.train.length / c.batchSize)
    const self = this
    return {
      session: this.session,
      trainExamples: c.train.length,
      evalExamples: c.validation?.length ?? 0,
      batchesPerEpoch: count,
      async *batches(epoch: number, start: number): AsyncIterable<TrainBatch> {
        const order = epochOrder(c.train.length, c.seed, epoch)
        for (let b = start; b < count; b++) {
          const us = Array.from(order.subarray(b * c.batchSize, Math.min(order.length, (b + 1) * c.batchSize)), (i) => c.train[i]!)
          // SpecAugment draws from (seed, epoch, batch), so a resumed run masks the same frames
          yield { feeds: self.#withFeatures(self.batch(us, N, true, new Rng(c.seed, 0x5a3c, epoch * 1_000_003 + b)), us, N), examples: us.length }
        }
      },
      ...(c.validation ? { evaluate: () => this.evaluate(c.validation!) } : {}),
    }
  }

  /** Transcripts and per-frame logits (real frames only) of clips, in order. */
  async transcribe(us: readonly Utterance[], o: { withLabels?: boolean } = {}): Promise<{ texts: string[]; logits: Float32Array[]; frames: number[]; loss: number }> {
    const c = this.c
    const N = SpeechTaskRunner.lengthOf(us)
    const bs = c.evalBatchSize ?? c.batchSize
    const V = c.model.c.vocab_size
    const texts: string[] = []
    const logits: Float32Array[] = []
    const frames: number[] = []
    let loss = 0
    for (let s = 0; s < us.length; s += bs) {
      const part = us.slice(s, s + bs)
      const b = this.batch(part, N, o.withLabels ?? false)
      const r = await this.session.evaluate(this.#withFeatures(b, part, N))
      const lg = r.outputs['logits']!.data as Float32Array
      const T = lg.length / (b.frames.length * V)
      b.frames.forEach((f, k) => {
        const row = lg.slice(k * T * V, (k * T + f) * V)                           // (f, V)
        logits.push(row)
        frames.push(f)
        texts.push(c.vocab.decodeFrames(argmaxFrames(row, V, f)))
      })
      // per clip: a batch sum (HF's default reduction) is divided out, a batch mean weighted back in
      if (r.loss !== undefined) loss += c.model.c.ctc_loss_reduction === 'sum' ? r.loss : r.loss * b.frames.length
    }
    return { texts, logits, frames, loss: loss / Math.max(us.length, 1) }
  }

  /** eval_loss (per clip), WER and CER on a split. */
  async evaluate(us: readonly Utterance[]): Promise<Record<string, number>> {
    if (us.length === 0) return {}
    this.check(us)
    const r = await this.transcribe(us, { withLabels: true })
    const refs = us.map((u) => this.c.vocab.normalize(u.text))
    return { eval_loss: r.loss, wer: wordErrorRate(refs, r.texts).rate, cer: charErrorRate(refs, r.texts).rate }
  }
}
