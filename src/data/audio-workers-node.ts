/**
 * Audio decoding and clip transforms in worker threads (the pool of worker-pool-node.ts). Wasm
 * decoders are instantiated in each worker on first use of their format. This module is also the
 * workers' entry point: it serves audio tasks when it runs in a worker.
 */
import { decodeAudioFile } from './audio-decode-node.js'
import { toMono } from './audio.js'
import { InProcessAudioProcessor, runAudioTask, type AudioDecoder, type AudioJob, type AudioProcessor, type AudioTask } from './audio-dataset.js'
import { defaultWorkerCount, serveWorkerTasks, WorkerPool } from './worker-pool-node.js'

/** Workers a pool gets by default: one per core, at most 4. */
export const defaultAudioWorkerCount = defaultWorkerCount

/** Decodes a file to mono at its own rate. */
export const decodeAudioMonoFile: AudioDecoder = async (path) => {
  const a = await decodeAudioFile(path)
  return { sampleRate: a.sampleRate, samples: toMono(a) }
}

/** A pool of `workers` threads, or in-process decoding for 0. */
export function audioProcessor(workers: number = defaultAudioWorkerCount()): AudioProcessor {
  if (!(Number.isInteger(workers) && workers >= 0)) throw new RangeError(`workers must be a whole number >= 0, got ${workers}`)
  return workers === 0 ? new InProcessAudioProcessor(decodeAudioMonoFile) : new AudioWorkerPool(workers)
}

const MARK = 'finetune-audio-worker'

/** Decodes and transforms clips in worker threads. */
export class AudioWorkerPool extends WorkerPool<AudioJob, AudioTask> implements AudioProcessor {
  constructor(size: number) {
    super(size, { entry: import.meta.url, mark: MARK, what: 'audio', items: 'clips' })
  }
}

// The worker side
serveWorkerTasks<AudioJob, AudioTask>(MARK, (job, task) => runAudioTask(job, task, decodeAudioMonoFile))
