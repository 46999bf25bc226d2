/**
 * Audio data as the trainer reads it: splits of examples (an audio file and a class id or a
 * transcript each), cut into batches of fixed-length mono clips (B, N) in a deterministic order.
 * The shape follows image-dataset.ts: the order of an epoch is `epochOrder(n, seed, epoch)` for
 * training, file order otherwise; each clip's augmentation is drawn from (seed, epoch, example id);
 * batches are assembled in order from per-clip results, so worker threads (audio-workers-node.ts)
 * and in-process decoding give identical batches, and a run resumed at batch k sees the batches it
 * would have seen. At most `prefetch` batches are prepared ahead of the one the consumer holds.
 */
import { DataError } from '../errors.js'
import { BadRows, DataRowError } from './errors.js'
import { transformClip, type AudioAugmentation, type AudioAugmentKey, type ClipPolicy } from './audio-transforms.js'
import type { LabelMap } from './labels.js'
import { epochOrder } from './order.js'
import { batchCount, prefetchBatches } from './prefetch.js'

/** The examples of one data source, by id 0..length-1. */
export interface AudioExamples {
  readonly length: number
  /** Class id of example `id` (-1 when there is none: transcripts, prediction). */
  label(id: number): number
  /** Transcript of example `id` ('' when there is none). */
  transcript(id: number): string
  /** The audio file of example `id`. */
  path(id: number): string
}

/** One clip to make. */
export interface AudioTask {
  path: string
  key: AudioAugmentKey
}

/** What every task of a batch shares. */
export interface AudioJob {
  policy: ClipPolicy
  /** Training: the augmentation; evaluation: null. */
  augmentation: AudioAugmentation | null
}

/** Decodes a file to mono samples at its own rate (Node: audio-decode-node.ts). */
export type AudioDecoder = (path: string) => Promise<{ sampleRate: number; samples: Float32Array }>

/** Decodes and transforms clips in-process or in worker threads; one result per task, a clip or the DataRowError of a bad file. */
export interface AudioProcessor {
  run(job: AudioJob, tasks: readonly AudioTask[]): Promise<(Float32Array | DataRowError)[]>
  close(): Promise<void>
}

/** Runs one task; bad files come back as DataRowErrors, anything else thrown is a bug and propagates. */
export async function runAudioTask(job: AudioJob, task: AudioTask, decode: AudioDecoder): Promise<Float32Array | DataRowError> {
  try {
    const a = await decode(task.path)
    return transformClip(a.samples, a.sampleRate, job.policy, job.augmentation, job.augmentation ? task.key : undefined)
  } catch (e) {
    if (e instanceof DataRowError) return e
    throw e
  }
}

/** Decodes on the calling thread, `concurrency` files at a time. */
export class InProcessAudioProcessor implements AudioProcessor {
  readonly #decode: AudioDecoder
  readonly #concurrency: number
  constructor(decode: AudioDecoder, concurrency = 4) {
    this.#decode = decode
    this.#concurrency = Math.max(1, concurrency)
  }
  async run(job: AudioJob, tasks: readonly AudioTask[]): Promise<(Float32Array | DataRowError)[]> {
    const out = new Array<Float32Array | DataRowError>(tasks.length)
    let next = 0
    const lane = async (): Promise<void> => {
      while (next < tasks.length) {
        const i = next++
        out[i] = await runAudioTask(job, tasks[i]!, this.#decode)
      }
    }
    await Promise.all(Array.from({ length: Math.min(this.#concurrency, tasks.length) }, lane))
    return out
  }
  async close(): Promise<void> {}
}

/** One batch of B clips of N samples (B may be smaller for the last batch, or where bad files were skipped). */
export interface AudioBatch {
  /** Position of this batch in the epoch (0-based). */
  batch: number
  /** B*N samples, clip after clip, at the policy's rate, in [-1, 1) (scale to int16 range for openWakeWord's models). */
  samples: Float32Array
  shape: [number, number]
  /** Class id per clip (-1 where unlabelled). */
  labels: BigInt64Array
  /** Transcript per clip ('' where none). */
  transcripts: string[]
  /** Index of each clip in its split (0..length-1). */
  indices: Uint32Array
}

export interface AudioBatchOptions {
  batchSize: number
  /** Training batches: shuffled by (seed, epoch) and augmented. Evaluation: file order, no augmentation. */
  train: boolean
  shuffle?: boolean
  dropLast?: boolean
  prefetch?: number
}

/** What the splits of one data set share. */
export interface AudioSplitContext {
  processor: AudioProcessor
  policy: ClipPolicy
  augmentation: AudioAugmentation | null
  seed: number
  prefetch: number
  bad: BadRows
  /** Example ids (of each examples object) found bad while batching, skipped from then on. */
  failed: WeakMap<AudioExamples, Set<number>>
}

/** The examples of one side of a data set. */
export class AudioSplit {
  readonly name: string
  readonly examples: AudioExamples
  readonly ids: Uint32Array
  readonly #ctx: AudioSplitContext

  constructor(name: string, examples: AudioExamples, ids: Uint32Array, ctx: AudioSplitContext) {
    this.name = name
    this.examples = examples
    this.ids = ids
    this.#ctx = ctx
  }

  get length(): number {
    return this.ids.length
  }

  /** Samples per clip. */
  get clipLength(): number {
    return this.#ctx.policy.length
  }

  label(i: number): number {
    return this.examples.label(this.ids[i]!)
  }

  transcript(i: number): string {
    return this.examples.transcript(this.ids[i]!)
  }

  exampleName(i: number): string {
    return this.examples.path(this.ids[i]!)
  }

  labels(): Int32Array {
    return Int32Array.from(this.ids, (id) => this.examples.label(id))
  }

  /** The examples at `positions` of this split (label-budget subsets), sharing its decoding. */
  subset(positions: ArrayLike<number>, name: string = this.name): AudioSplit {
    return new AudioSplit(name, this.examples, Uint32Array.from(positions, (i) => this.ids[i]!), this.#ctx)
  }

  batchCount(batchSize: number, dropLast = false): number {
    return batchCount(this.length, batchSize, dropLast)
  }

  order(epoch: number, shuffle: boolean): Uint32Array {
    if (shuffle) return epochOrder(this.length, this.#ctx.seed, epoch)
    return Uint32Array.from({ length: this.length }, (_, i) => i)
  }

  /** The batches of `epoch` from batch `startBatch` on; the same (seed, epoch) gives the same batches whatever `startBatch`, worker count or timing. */
  async *batches(epoch: number, startBatch: number, opts: AudioBatchOptions): AsyncGenerator<AudioBatch> {
    const { batchSize } = opts
    const count = this.batchCount(batchSize, opts.dropLast)
    const order = this.order(epoch, opts.shuffle ?? opts.train)
    const ahead = opts.prefetch ?? this.#ctx.prefetch
    const job: AudioJob = { policy: this.#ctx.policy, augmentation: opts.train ? this.#ctx.augmentation : null }
    yield* prefetchBatches(order, batchSize, count, startBatch, ahead, (b, positions) => this.#assemble(job, epoch, b, positions))
  }

  async #assemble(job: AudioJob, epoch: number, batch: number, positions: Uint32Array): Promise<AudioBatch> {
    const ex = this.examples
    let failed = this.#ctx.failed.get(ex)
    if (!failed) this.#ctx.failed.set(ex, (failed = new Set()))
    const keep = Array.from(positions).filter((i) => !failed.has(this.ids[i]!))
    const ids = keep.map((i) => this.ids[i]!)
    const seed = this.#ctx.seed
    const results = await this.#ctx.processor.run(job, ids.map((id) => ({ path: ex.path(id), key: { seed, epoch, id } })))
    const N = job.policy.length
    const good: number[] = []
    results.forEach((r, k) => {
      if (r instanceof DataRowError) {
        this.#ctx.bad.handle(r) // throws unless bad files are skipped
        failed.add(ids[k]!)
      } else if (r.length !== N) throw new DataError('DATA_CLIP_LENGTH', `${ex.path(ids[k]!)}: a clip of ${r.length} samples where ${N} were expected`, 'this is a bug in the clip pipeline; please report it')
      else good.push(k)
    })
    const samples = new Float32Array(good.length * N)
    const labels = new BigInt64Array(good.length)
    const indices = new Uint32Array(good.length)
    const transcripts: string[] = []
    good.forEach((k, j) => {
      samples.set(results[k] as Float32Array, j * N)
      labels[j] = BigInt(ex.label(ids[k]!))
      transcripts.push(ex.transcript(ids[k]!))
      indices[j] = keep[k]!
    })
    return { batch, samples, shape: [good.length, N], labels, transcripts, indices }
  }
}

/** An audio data set: classification (labels) or transcripts. */
export interface AudioDataset {
  /** How `data` was laid out. */
  layout: 'audio-folder' | 'table'
  /** What each example carries. */
  target: 'label' | 'transcript'
  /** Class names and ids (empty for transcripts). */
  labels: LabelMap
  numLabels: number
  train: AudioSplit
  validation: AudioSplit | undefined
  validationSource: 'file' | 'split' | 'none'
  /** The clip policy (record it with the model: evaluation and prediction must use the same). */
  clip: ClipPolicy
  /** Training augmentation (null: none). */
  augmentation: AudioAugmentation | null
  /** Files in the data folders that are not audio (hidden, other extensions), by reason. */
  ignored: ReturnType<BadRows['report']>
  /** Bad rows and files skipped so far (at load and while batching). */
  badRows(): ReturnType<BadRows['report']>
  close(): Promise<void>
}
