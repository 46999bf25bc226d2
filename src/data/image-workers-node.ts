/**
 * Image decoding and transforms in worker threads (the pool of worker-pool-node.ts). This module is
 * also the workers' entry point: it serves image tasks when it runs in a worker.
 */
import { decodeImageFile } from './image-decode-node.js'
import { InProcessImageProcessor, runImageTask, type ImageJob, type ImageProcessor, type ImageTask } from './image-dataset.js'
import { normalizeTable } from './image-transforms.js'
import { defaultWorkerCount, serveWorkerTasks, WorkerPool } from './worker-pool-node.js'

export { defaultWorkerCount }

const MARK = 'finetune-image-worker'

/** Decodes and transforms images in worker threads. */
export class ImageWorkerPool extends WorkerPool<ImageJob, ImageTask> implements ImageProcessor {
  constructor(size: number) {
    super(size, { entry: import.meta.url, mark: MARK, what: 'image', items: 'images' })
  }
}

/** A pool of `workers` threads, or in-process decoding for 0. */
export function imageProcessor(workers: number = defaultWorkerCount()): ImageProcessor {
  if (!(Number.isInteger(workers) && workers >= 0)) throw new RangeError(`workers must be a whole number >= 0, got ${workers}`)
  return workers === 0 ? new InProcessImageProcessor((path, alpha) => decodeImageFile(path, { alpha })) : new ImageWorkerPool(workers)
}

// The worker side: the normalisation table is kept while the preprocessing stays the same
let lastSpec = ''
let lut: Float32Array | undefined
serveWorkerTasks<ImageJob, ImageTask>(MARK, (job, task) => {
  const key = JSON.stringify(job.spec.preprocessing)
  if (key !== lastSpec) {
    lastSpec = key
    lut = normalizeTable(job.spec.preprocessing)
  }
  return runImageTask(job, task, (path, alpha) => decodeImageFile(path, { alpha }), job.spec.augmentation?.colorJitter ? undefined : lut)
})
