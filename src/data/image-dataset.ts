/**
 * Image classification data as the trainer reads it: splits of examples (an image and a class id
 * each), cut into batches of normalised CHW float32 pixels in a deterministic order.
 *
 * The order of an epoch is `epochOrder(n, seed, epoch)` (training) or file order; each example's
 * augmentation is drawn from (seed, epoch, example id). Batches are assembled in order from
 * per-image results, so their contents do not depend on which worker decoded what or when: a pool
 * of worker threads (image-workers-node.ts) and in-process decoding give identical batches, and a
 * run resumed at batch k sees the batches it would have seen.
 *
 * At most `prefetch` batches are being prepared ahead of the one the consumer holds, so memory is
 * bounded by a few batches whatever the size of the data set.
 */
import { DataError } from '../errors.js'
import { BadRows, DataRowError } from './errors.js'
import type { AlphaMode, RawImage } from './image.js'
import { ImageSizeError, normalizeTable, transformImage, type AugmentKey, type TransformSpec } from './image-transforms.js'
import type { LabelMap } from './labels.js'
import { epochOrder } from './order.js'
import { batchCount, prefetchBatches } from './prefetch.js'

/** Where an example's pixels come from: an image file to decode, or pixels read already (IDX). */
export type ImageInput = { kind: 'file'; path: string } | { kind: 'raw'; image: RawImage }

/** The examples of one data source, by id 0..length-1. */
export interface ImageExamples {
  readonly length: number
  /** Class id of example `id` (-1 when unlabelled, as for prediction). */
  label(id: number): number
  /** What messages call example `id`: its path, or `file#n` for an image inside a file. */
  name(id: number): string
  /** Inputs of examples `ids`, in that order (IDX images are read here, by offset). */
  inputs(ids: readonly number[]): Promise<ImageInput[]>
}

/** One image to turn into a tensor. */
export interface ImageTask {
  input: ImageInput
  name: string
  /** Seeds the augmentation (training); unused at evaluation. */
  key: AugmentKey
}

/** What every task of a batch shares. */
export interface ImageJob {
  spec: TransformSpec
  alpha: AlphaMode
}

/**
 * Decodes and transforms images: in-process (`InProcessImageProcessor`) or in worker threads
 * (`ImageWorkerPool`). `run` resolves to one entry per task, a tensor or the DataRowError of an image
 * that could not be used; it rejects only when the processor itself fails.
 */
export interface ImageProcessor {
  run(job: ImageJob, tasks: readonly ImageTask[]): Promise<(Float32Array | DataRowError)[]>
  close(): Promise<void>
}

/** Decodes an image file to 8-bit RGB (sharp in Node; any decoder elsewhere). */
export type ImageDecoder = (path: string, alpha: AlphaMode) => Promise<RawImage>

/**
 * Runs one task: decode (files), transform. Bad images come back as DataRowErrors; anything else
 * thrown is a bug and propagates.
 */
export async function runImageTask(job: ImageJob, task: ImageTask, decode: ImageDecoder | undefined, lut?: Float32Array): Promise<Float32Array | DataRowError> {
  try {
    let image: RawImage
    if (task.input.kind === 'raw') image = task.input.image
    else {
      if (!decode) throw new DataError('DATA_NO_DECODER', `${task.name}: no image decoder is available here`, 'decode images in Node (sharp), or pass a decoder')
      image = await decode(task.input.path, job.alpha)
    }
    return transformImage(image, job.spec, job.spec.augmentation ? task.key : undefined, undefined, 0, lut)
  } catch (e) {
    if (e instanceof DataRowError) return e
    if (e instanceof ImageSizeError) return new DataRowError('DATA_IMAGE_SIZE', { file: task.name }, e.message, 'set a resize and/or crop in the preprocessing, or make every image the same size')
    throw e
  }
}

/** Decodes and transforms on the calling thread, `concurrency` images at a time. */
export class InProcessImageProcessor implements ImageProcessor {
  readonly #decode: ImageDecoder | undefined
  readonly #concurrency: number
  constructor(decode?: ImageDecoder, concurrency = 4) {
    this.#decode = decode
    this.#concurrency = Math.max(1, concurrency)
  }
  async run(job: ImageJob, tasks: readonly ImageTask[]): Promise<(Float32Array | DataRowError)[]> {
    const out = new Array<Float32Array | DataRowError>(tasks.length)
    const lut = job.spec.augmentation?.colorJitter ? undefined : normalizeTable(job.spec.preprocessing)
    let next = 0
    const lane = async (): Promise<void> => {
      while (next < tasks.length) {
        const i = next++
        out[i] = await runImageTask(job, tasks[i]!, this.#decode, lut)
      }
    }
    await Promise.all(Array.from({ length: Math.min(this.#concurrency, tasks.length) }, lane))
    return out
  }
  async close(): Promise<void> {}
}

/** One batch: B images of 3 x H x W (B may be smaller for the last batch, or where bad images were skipped). */
export interface ImageBatch {
  /** Position of this batch in the epoch (0-based). */
  batch: number
  /** B*3*H*W floats, image after image, each channel after channel (NCHW). */
  pixels: Float32Array
  shape: [number, 3, number, number]
  /** Class id per image (-1 where unlabelled). */
  labels: BigInt64Array
  /** Index of each image in its split (0..length-1). */
  indices: Uint32Array
}

export interface BatchOptions {
  batchSize: number
  /** Training batches: shuffled by (seed, epoch) and augmented. Evaluation: file order, no augmentation. */
  train: boolean
  /** Override the shuffle (default: `train`). */
  shuffle?: boolean
  /** Leave out the last, smaller batch (default false). */
  dropLast?: boolean
  /** Batches prepared ahead of the one the consumer holds (default: the data set's, 2). */
  prefetch?: number
}

/** What the splits of one data set share. */
export interface SplitContext {
  processor: ImageProcessor
  /** The evaluation and training pipelines (training = evaluation + augmentation). */
  evalSpec: TransformSpec
  trainSpec: TransformSpec
  alpha: AlphaMode
  seed: number
  prefetch: number
  /** Bad images met while batching are counted here (and skipped) or thrown, by its mode. */
  bad: BadRows
  /** Example ids (of each examples object) found bad while batching, skipped from then on. */
  failed: WeakMap<ImageExamples, Set<number>>
}

/** The examples of one side of a data set. */
export class ImageSplit {
  readonly name: string
  readonly examples: ImageExamples
  /** Example ids of this split, in file order. */
  readonly ids: Uint32Array
  readonly #ctx: SplitContext

  constructor(name: string, examples: ImageExamples, ids: Uint32Array, ctx: SplitContext) {
    this.name = name
    this.examples = examples
    this.ids = ids
    this.#ctx = ctx
  }

  get length(): number {
    return this.ids.length
  }

  /** Height x width of every image in a batch. */
  get imageSize(): { height: number; width: number } {
    return { ...this.#ctx.evalSpec.size }
  }

  /** The split restricted to its examples at `positions` (a labelled subset). */
  subset(positions: ArrayLike<number>, name = this.name): ImageSplit {
    return new ImageSplit(name, this.examples, Uint32Array.from(positions, (i) => this.ids[i]!), this.#ctx)
  }

  /** Class id of example `i` of the split. */
  label(i: number): number {
    return this.examples.label(this.ids[i]!)
  }

  /** The path (or `file#n`) of example `i` of the split. */
  exampleName(i: number): string {
    return this.examples.name(this.ids[i]!)
  }

  /** Class ids of the whole split, in split order. */
  labels(): Int32Array {
    return Int32Array.from(this.ids, (id) => this.examples.label(id))
  }

  /** Batches in an epoch. */
  batchCount(batchSize: number, dropLast = false): number {
    return batchCount(this.length, batchSize, dropLast)
  }

  /** Split indices in the order of `epoch`: shuffled by (seed, epoch), or 0..length-1. */
  order(epoch: number, shuffle: boolean): Uint32Array {
    if (shuffle) return epochOrder(this.length, this.#ctx.seed, epoch)
    return Uint32Array.from({ length: this.length }, (_, i) => i)
  }

  /**
   * The batches of `epoch` from batch `startBatch` on. The same (seed, epoch) gives the same
   * batches, whatever `startBatch`, worker count or timing.
   */
  async *batches(epoch: number, startBatch: number, opts: BatchOptions): AsyncGenerator<ImageBatch> {
    const { batchSize } = opts
    const count = this.batchCount(batchSize, opts.dropLast)
    const order = this.order(epoch, opts.shuffle ?? opts.train)
    const ahead = opts.prefetch ?? this.#ctx.prefetch
    const job: ImageJob = { spec: opts.train ? this.#ctx.trainSpec : this.#ctx.evalSpec, alpha: this.#ctx.alpha }
    yield* prefetchBatches(order, batchSize, count, startBatch, ahead, (b, positions) => this.#assemble(job, epoch, b, positions))
  }

  async #assemble(job: ImageJob, epoch: number, batch: number, positions: Uint32Array): Promise<ImageBatch> {
    const ex = this.examples
    let failed = this.#ctx.failed.get(ex)
    if (!failed) this.#ctx.failed.set(ex, (failed = new Set()))
    const keep = Array.from(positions).filter((i) => !failed.has(this.ids[i]!))
    const ids = keep.map((i) => this.ids[i]!)
    const inputs = await ex.inputs(ids)
    const seed = this.#ctx.seed
    const tasks = ids.map((id, k) => ({ input: inputs[k]!, name: ex.name(id), key: { seed, epoch, id } }))
    const results = await this.#ctx.processor.run(job, tasks)
    const { height: H, width: W } = job.spec.size
    const per = 3 * H * W
    const good: number[] = []
    results.forEach((r, k) => {
      if (r instanceof DataRowError) {
        this.#ctx.bad.handle(r) // throws unless bad images are skipped
        failed.add(ids[k]!)
      } else good.push(k)
    })
    const pixels = new Float32Array(good.length * per)
    const labels = new BigInt64Array(good.length)
    const indices = new Uint32Array(good.length)
    good.forEach((k, j) => {
      pixels.set(results[k] as Float32Array, j * per)
      labels[j] = BigInt(ex.label(ids[k]!))
      indices[j] = keep[k]!
    })
    return { batch, pixels, shape: [good.length, 3, H, W], labels, indices }
  }
}

/** An image data set for classification. */
export interface ImageDataset {
  /** How `data` was laid out. */
  layout: 'image-folder' | 'table' | 'idx' | 'mnist-package'
  labels: LabelMap
  numLabels: number
  train: ImageSplit
  validation: ImageSplit | undefined
  /** Where validation examples come from: a file or folder, a held-out share of train, or none. */
  validationSource: 'file' | 'split' | 'none'
  /** The evaluation pipeline; training adds `augmentation`. */
  preprocessing: TransformSpec['preprocessing']
  augmentation: TransformSpec['augmentation']
  /** Files in the data folders that are not examples (hidden, not images), by reason. */
  ignored: ReturnType<BadRows['report']>
  /** Bad images skipped so far (at load and while batching), by reason; all zero with onBadRow 'error'. */
  badRows(): ReturnType<BadRows['report']>
  /** Stops the worker threads and closes files. */
  close(): Promise<void>
}
