/**
 * Audio decoding and clip transforms in worker threads: the pool of image-workers-node.ts for
 * audio tasks. `size` workers (default min(cores, 4)) take tasks first come first served, at most
 * two outstanding per worker; results are matched to tasks by id, so which worker did what never
 * shows in the output. Workers start on first use and hold the event loop only while tasks are
 * outstanding. Wasm decoders are instantiated in each worker on first use of their format.
 *
 * This module is also the workers' entry point. Run from TypeScript sources (tests, tsx), a worker
 * first registers tsx's loader, which must then be installed (it is a dev dependency).
 */
import { readFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { dirname, join } from 'node:path'
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads'
import { DataError, FinetuneError } from '../errors.js'
import { DataRowError } from './errors.js'
import { decodeAudioFile } from './audio-decode-node.js'
import { toMono } from './audio.js'
import { InProcessAudioProcessor, runAudioTask, type AudioDecoder, type AudioJob, type AudioProcessor, type AudioTask } from './audio-dataset.js'

/** Workers a pool gets by default: one per core, at most 4. */
export function defaultAudioWorkerCount(): number {
  return Math.max(1, Math.min(availableParallelism(), 4))
}

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

interface TaskMessage {
  id: number
  job: AudioJob
  task: AudioTask
}

type ResultMessage =
  | { id: number; ok: true; samples: Float32Array }
  | { id: number; ok: false; error: { code: string; file: string; message: string; hint: string | undefined } }
  | { id: number; ok: false; bug: string }

interface Pending {
  resolve: (r: Float32Array | DataRowError) => void
  reject: (e: unknown) => void
  worker: number
}

const MARK = 'finetune-audio-worker'
const PER_WORKER = 2

/** Decodes and transforms clips in worker threads (see the module comment). */
export class AudioWorkerPool implements AudioProcessor {
  readonly size: number
  #workers: Worker[] = []
  #busy: number[] = []
  readonly #queue: { msg: TaskMessage; pending: Omit<Pending, 'worker'> }[] = []
  readonly #pending = new Map<number, Pending>()
  #nextId = 0
  #failure: unknown
  #closed = false

  constructor(size: number) {
    if (!(Number.isInteger(size) && size >= 1)) throw new RangeError(`a worker pool needs at least 1 worker, got ${size}`)
    this.size = size
  }

  run(job: AudioJob, tasks: readonly AudioTask[]): Promise<(Float32Array | DataRowError)[]> {
    if (this.#closed) return Promise.reject(new DataError('DATA_POOL_CLOSED', 'the audio worker pool is closed', 'load the data again'))
    if (this.#failure) return Promise.reject(this.#failure)
    const all = Promise.all(
      tasks.map(
        (task) =>
          new Promise<Float32Array | DataRowError>((resolve, reject) => {
            this.#queue.push({ msg: { id: this.#nextId++, job, task }, pending: { resolve, reject } })
          }),
      ),
    )
    this.#start()
    this.#pump()
    return all
  }

  async close(): Promise<void> {
    this.#closed = true
    const ws = this.#workers
    this.#workers = []
    this.#fail(new DataError('DATA_POOL_CLOSED', 'the audio worker pool was closed while clips were being decoded', 'close the data set only after its last batch'))
    await Promise.all(ws.map((w) => w.terminate()))
  }

  #start(): void {
    if (this.#workers.length === 0) {
      for (let i = 0; i < this.size; i++) this.#workers.push(this.#spawn(i))
      this.#busy = new Array<number>(this.size).fill(0)
    }
  }

  #spawn(index: number): Worker {
    const self = import.meta.url
    const data = { [MARK]: true }
    let w: Worker
    if (self.endsWith('.ts')) {
      const tsx = tsxApiUrl(self)
      const code = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(self)}) })`
      w = new Worker(code, { eval: true, workerData: data })
    } else w = new Worker(new URL(self), { workerData: data })
    w.on('message', (m: ResultMessage) => this.#onResult(index, m))
    w.on('error', (e) => this.#fail(new DataError('DATA_WORKER_FAILED', `an audio worker thread failed: ${e.message}`, 'run with workers: 0 to decode in-process and see the full error')))
    w.on('exit', (code) => {
      if (!this.#closed) this.#fail(new DataError('DATA_WORKER_FAILED', `an audio worker thread exited (code ${code})`, 'run with workers: 0 to decode in-process'))
    })
    w.unref()
    return w
  }

  #pump(): void {
    if (this.#failure) return
    for (let i = 0; i < this.#workers.length && this.#queue.length > 0; i++) {
      while (this.#busy[i]! < PER_WORKER && this.#queue.length > 0) {
        const { msg, pending } = this.#queue.shift()!
        this.#pending.set(msg.id, { ...pending, worker: i })
        this.#busy[i]!++
        const w = this.#workers[i]!
        if (this.#pending.size === 1) for (const x of this.#workers) x.ref()
        w.postMessage(msg)
      }
    }
  }

  #onResult(worker: number, m: ResultMessage): void {
    const p = this.#pending.get(m.id)
    if (!p) return
    this.#pending.delete(m.id)
    this.#busy[worker]!--
    if (m.ok) p.resolve(m.samples)
    else if ('error' in m) p.resolve(new DataRowError(m.error.code, { file: m.error.file }, stripFile(m.error.message, m.error.file), m.error.hint))
    else p.reject(new Error(`audio worker: ${m.bug}`))
    this.#pump()
    this.#idleCheck()
  }

  #idleCheck(): void {
    if (this.#pending.size === 0 && this.#queue.length === 0) for (const w of this.#workers) w.unref()
  }

  #fail(e: unknown): void {
    this.#failure ??= e
    for (const p of this.#pending.values()) p.reject(this.#failure)
    this.#pending.clear()
    for (const q of this.#queue.splice(0)) q.pending.reject(this.#failure)
    for (const w of this.#workers) w.unref()
  }
}

/** tsx's ESM API (its `import` entry; the `require` one cannot register ESM hooks in a worker). */
function tsxApiUrl(from: string): string {
  const req = createRequire(from)
  let pkgPath: string
  try {
    pkgPath = req.resolve('tsx/package.json')
  } catch {
    throw new DataError('DATA_WORKER_FAILED', 'audio worker threads run from TypeScript sources need tsx, which is not installed', 'run `npm install tsx`, run the built JavaScript, or use workers: 0')
  }
  const pkg = JSON.parse(readFileSync(pkgPath, 'utf8')) as { exports?: Record<string, { import?: string | { default?: string } } | string> }
  const entry = pkg.exports?.['./esm/api']
  const rel = typeof entry === 'object' ? (typeof entry.import === 'string' ? entry.import : entry.import?.default) : undefined
  if (!rel) throw new DataError('DATA_WORKER_FAILED', `tsx at ${dirname(pkgPath)} has no ESM API entry`, 'use workers: 0, or run the built JavaScript')
  return pathToFileURL(join(dirname(pkgPath), rel)).href
}

/** A DataRowError's message is "file: text"; the text alone rebuilds it. */
function stripFile(message: string, file: string): string {
  return message.startsWith(`${file}: `) ? message.slice(file.length + 2) : message
}

// ---------------------------------------------------------------------------------------------
// The worker side

if (!isMainThread && parentPort && (workerData as Record<string, unknown> | null)?.[MARK] === true) {
  const port = parentPort
  port.on('message', (m: TaskMessage) => {
    runAudioTask(m.job, m.task, decodeAudioMonoFile).then(
      (r) => {
        if (r instanceof DataRowError) {
          port.postMessage({ id: m.id, ok: false, error: { code: r.code, file: r.file, message: r.message, hint: r.hint } } satisfies ResultMessage)
        } else port.postMessage({ id: m.id, ok: true, samples: r } satisfies ResultMessage, [r.buffer as ArrayBuffer])
      },
      (e: unknown) => {
        const bug = e instanceof FinetuneError ? `${e.code}: ${e.message}` : e instanceof Error ? (e.stack ?? e.message) : String(e)
        port.postMessage({ id: m.id, ok: false, bug } satisfies ResultMessage)
      },
    )
  })
}
