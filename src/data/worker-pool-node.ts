/**
 * Decoding and transforms in worker threads, for any kind of example (images, audio clips). A pool
 * of `size` workers (default min(cores, 4)) takes tasks first come first served, at most two
 * outstanding per worker; results are matched to tasks by id, so which worker did what never shows
 * in the output. Workers are started on first use and hold the event loop only while tasks are
 * outstanding.
 *
 * A worker runs the module that made the pool (`entry`), which serves tasks with `serveWorkerTasks`.
 * Run from TypeScript sources (tests, tsx), a worker first registers tsx's loader, which must then
 * be installed (it is a dev dependency).
 */
import { readFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { dirname, join } from 'node:path'
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads'
import { DataError, FinetuneError } from '../errors.js'
import { DataRowError } from './errors.js'

/** Workers a pool gets by default: one per core, at most 4. */
export function defaultWorkerCount(): number {
  return Math.max(1, Math.min(availableParallelism(), 4))
}

interface TaskMessage<J, T> {
  id: number
  job: J
  task: T
}

type ResultMessage =
  | { id: number; ok: true; data: Float32Array }
  | { id: number; ok: false; error: { code: string; file: string; message: string; hint: string | undefined } }
  | { id: number; ok: false; bug: string }

interface Pending {
  resolve: (r: Float32Array | DataRowError) => void
  reject: (e: unknown) => void
  worker: number
}

const PER_WORKER = 2

export interface WorkerPoolKind {
  /** The module workers run: it calls `serveWorkerTasks(mark, ...)` at top level. */
  entry: string
  /** workerData flag that tells that module it is a worker of this pool. */
  mark: string
  /** What messages call a worker and the examples: "image" / "images", "audio" / "clips". */
  what: string
  items: string
}

/** A pool of worker threads running `kind.entry`'s task handler. */
export class WorkerPool<J, T> {
  readonly size: number
  readonly #kind: WorkerPoolKind
  #workers: Worker[] = []
  #busy: number[] = []
  readonly #queue: { msg: TaskMessage<J, T>; pending: Omit<Pending, 'worker'> }[] = []
  readonly #pending = new Map<number, Pending>()
  #nextId = 0
  #failure: unknown
  #closed = false

  constructor(size: number, kind: WorkerPoolKind) {
    if (!(Number.isInteger(size) && size >= 1)) throw new RangeError(`a worker pool needs at least 1 worker, got ${size}`)
    this.size = size
    this.#kind = kind
  }

  run(job: J, tasks: readonly T[]): Promise<(Float32Array | DataRowError)[]> {
    if (this.#closed) return Promise.reject(new DataError('DATA_POOL_CLOSED', `the ${this.#kind.what} worker pool is closed`, 'load the data again'))
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
    this.#fail(new DataError('DATA_POOL_CLOSED', `the ${this.#kind.what} worker pool was closed while ${this.#kind.items} were being decoded`, 'close the data set only after its last batch'))
    await Promise.all(ws.map((w) => w.terminate()))
  }

  #start(): void {
    if (this.#workers.length === 0) {
      for (let i = 0; i < this.size; i++) this.#workers.push(this.#spawn(i))
      this.#busy = new Array<number>(this.size).fill(0)
    }
  }

  #spawn(index: number): Worker {
    const { entry, mark, what } = this.#kind
    const data = { [mark]: true }
    let w: Worker
    if (entry.endsWith('.ts')) {
      const tsx = tsxApiUrl(entry, what)
      const code = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}) })`
      w = new Worker(code, { eval: true, workerData: data })
    } else w = new Worker(new URL(entry), { workerData: data })
    w.on('message', (m: ResultMessage) => this.#onResult(index, m))
    w.on('error', (e) => this.#fail(new DataError('DATA_WORKER_FAILED', `an ${what} worker thread failed: ${e.message}`, 'run with workers: 0 to decode in-process and see the full error')))
    w.on('exit', (code) => {
      if (!this.#closed) this.#fail(new DataError('DATA_WORKER_FAILED', `an ${what} worker thread exited (code ${code})`, 'run with workers: 0 to decode in-process'))
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
    if (m.ok) p.resolve(m.data)
    else if ('error' in m) p.resolve(new DataRowError(m.error.code, { file: m.error.file }, stripFile(m.error.message, m.error.file), m.error.hint))
    else p.reject(new Error(`${this.#kind.what} worker: ${m.bug}`))
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
function tsxApiUrl(from: string, what: string): string {
  const req = createRequire(from)
  let pkgPath: string
  try {
    pkgPath = req.resolve('tsx/package.json')
  } catch {
    throw new DataError('DATA_WORKER_FAILED', `${what} worker threads run from TypeScript sources need tsx, which is not installed`, 'run `npm install tsx`, run the built JavaScript, or use workers: 0')
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

/**
 * The worker side: when this thread is a worker of a pool marked `mark`, answers each task with
 * `handle`'s tensor (transferred) or DataRowError; anything else thrown is reported as a bug.
 */
export function serveWorkerTasks<J, T>(mark: string, handle: (job: J, task: T) => Promise<Float32Array | DataRowError>): void {
  if (isMainThread || !parentPort || (workerData as Record<string, unknown> | null)?.[mark] !== true) return
  const port = parentPort
  port.on('message', (m: TaskMessage<J, T>) => {
    handle(m.job, m.task).then(
      (r) => {
        if (r instanceof DataRowError) port.postMessage({ id: m.id, ok: false, error: { code: r.code, file: r.file, message: r.message, hint: r.hint } } satisfies ResultMessage)
        else port.postMessage({ id: m.id, ok: true, data: r } satisfies ResultMessage, [r.buffer as ArrayBuffer])
      },
      (e: unknown) => {
        const bug = e instanceof FinetuneError ? `${e.code}: ${e.message}` : e instanceof Error ? (e.stack ?? e.message) : String(e)
        port.postMessage({ id: m.id, ok: false, bug } satisfies ResultMessage)
      },
    )
  })
}
