/**
 * ONNX Runtime sessions: creation with the chosen execution provider and thread count, a cache keyed
 * by the caller's shape signature, and runs with inputs bound to resident state.
 */
import { RuntimeError } from '../errors.js'
import type { DType } from '../graph/dtype.js'
import type * as OrtCommon from 'onnxruntime-common'
import { encodeModel, type ModelProtoObj } from '../onnx/proto.js'
import { valueInfo } from '../onnx/lower.js'
import { forWebGpu } from '../onnx/webgpu.js'
import { availableProviders, getOrt, type OrtSession, type OrtTensor } from './ort.js'

export type Provider = 'cpu' | 'webgpu' | 'cuda'
export const PROVIDERS: readonly Provider[] = ['cpu', 'webgpu', 'cuda']

/** What a user does when a provider's session cannot start here. */
const PROVIDER_HINTS: Record<Exclude<Provider, 'cpu'>, string> = {
  cuda:
    "onnxruntime-node downloads its CUDA 12 provider libraries at install time, and installs made with ONNXRUNTIME_NODE_INSTALL=skip (or offline) lack them: on a machine with an NVIDIA driver, CUDA 12 and cuDNN 9, run `ONNXRUNTIME_NODE_INSTALL_CUDA=v12 npm rebuild onnxruntime-node` (it needs network access to GitHub's releases), or train with --device cpu",
  webgpu:
    'the WebGPU provider (Dawn over Vulkan) needs a GPU with a Vulkan driver (libvulkan1 and the vendor driver; Mesa lavapipe lacks features Dawn requires); check with `vulkaninfo --summary`, or train with --device cpu',
}

export interface RuntimeOptions {
  provider?: Provider
  /** Intra-op threads; defaults to every core ONNX Runtime sees. */
  threads?: number
  /** ONNX Runtime graph optimisation level (default 'all'). */
  optimization?: 'disabled' | 'basic' | 'extended' | 'all'
  /** Most sessions kept at once; the least recently used is released beyond it. */
  maxSessions?: number
  /** Write ONNX Runtime's per-node profile (JSON) with this file prefix. */
  profilePrefix?: string
  /** Write ONNX Runtime's optimised form of each graph to this folder (for inspection). */
  dumpOptimizedTo?: string
}

export type HostData = Float32Array | BigInt64Array | Uint8Array

export interface HostTensor {
  data: HostData
  shape: readonly number[]
  dtype: DType
}

export function ortTensor(t: HostTensor): OrtTensor {
  const { Tensor } = getOrt()
  const type = t.dtype === 'float32' ? 'float32' : t.dtype === 'int64' ? 'int64' : t.dtype === 'bool' ? 'bool' : 'uint8'
  return new Tensor(type, t.data as never, t.shape as number[])
}

export class Runtime {
  readonly provider: Provider
  readonly options: Required<Omit<RuntimeOptions, 'threads'>> & { threads: number | undefined }
  /** Sessions by content (the model's bytes and device outputs), least recently used first. */
  #cache = new Map<string, Promise<OrtSession>>()
  /** The content each caller's key last built. */
  #keys = new Map<string, string>()
  #compileMs = 0
  #started = 0
  /** The generation (see `nextGeneration`) in which each cached session was last asked for. */
  #used = new Map<string, number>()
  #generation = 0
  constructor(opts: RuntimeOptions = {}) {
    this.provider = opts.provider ?? 'cpu'
    if (!PROVIDERS.includes(this.provider)) {
      throw new RuntimeError('RUNTIME_PROVIDER', `unknown execution provider "${String(this.provider)}"`, `use one of ${PROVIDERS.join(', ')}`)
    }
    const have = availableProviders()
    if (!have.includes(this.provider)) {
      throw new RuntimeError('RUNTIME_PROVIDER_MISSING', `execution provider "${this.provider}" is not in this ONNX Runtime build (it has: ${have.join(', ')})`, 'use --device cpu, or install an onnxruntime build with that provider')
    }
    this.options = { provider: this.provider, threads: opts.threads, optimization: opts.optimization ?? 'all', maxSessions: opts.maxSessions ?? 16, profilePrefix: opts.profilePrefix ?? '', dumpOptimizedTo: opts.dumpOptimizedTo ?? '' }
  }

  /**
   * Whether runs keep the values they carry between runs (parameters, optimizer state) in the
   * accelerator's memory: true on WebGPU, whose binding returns and accepts GPU-buffer tensors.
   */
  get resident(): boolean {
    return this.provider === 'webgpu'
  }

  /**
   * The cached session for `key`, building the model with `build` on first use. On a resident
   * provider the outputs named in `deviceOutputs` stay in device memory. Sessions are shared by
   * content: a key whose model has the bytes of one already cached (another run of the same
   * network and batch shape, as in `compare`) gets that session without compiling it again.
   */
  session(key: string, build: () => Uint8Array | ModelProtoObj, deviceOutputs: readonly string[] = []): Promise<OrtSession> {
    const known = this.#keys.get(key)
    const hit = known === undefined ? undefined : this.#touch(known)
    if (hit) return hit
    const built = build()
    // a model (not bytes) is rewritten into the operators the provider has
    const bytes = built instanceof Uint8Array ? built : encodeModel(this.provider === 'webgpu' ? forWebGpu(built) : built)
    // which outputs stay on the device is a session option, so it is part of the identity there
    const resident = this.resident && deviceOutputs.length ? `:${contentHash(new TextEncoder().encode(deviceOutputs.join('\n')))}` : ''
    const id = `${contentHash(bytes)}${resident}`
    this.#keys.set(key, id)
    // keys are cheap to forget (the model is built and hashed again, not compiled): a bounded map
    if (this.#keys.size > 16 * this.options.maxSessions) this.#keys.delete(this.#keys.keys().next().value!)
    const same = this.#touch(id)
    if (same) return same
    const p = this.#create(bytes, key, deviceOutputs)
    this.#started++
    this.#cache.set(id, p)
    this.#used.set(id, this.#generation)
    p.catch(() => {
      if (this.#cache.get(id) === p) {
        this.#cache.delete(id)
        this.#used.delete(id)
      }
    })
    if (this.#cache.size > this.options.maxSessions) {
      while (this.#cache.size > this.options.maxSessions) {
        const [oldId, old] = this.#cache.entries().next().value as [string, Promise<OrtSession>]
        void this.#drop(oldId, old)
      }
      this.#forgetKeys()
    }
    return p
  }

  /**
   * Starts a new generation of use (call it before each of a series of runs, as compare does) and
   * releases the sessions no one asked for in the last `keep` generations: the series keeps what
   * its next runs reuse without holding every shape it ever compiled.
   */
  nextGeneration(keep: number): void {
    this.#generation++
    let dropped = false
    for (const [id, p] of [...this.#cache]) {
      if (this.#generation - (this.#used.get(id) ?? -Infinity) > keep) {
        void this.#drop(id, p)
        dropped = true
      }
    }
    if (dropped) this.#forgetKeys()
  }

  /** Releases the session `key` last built (and so that of every key sharing it) now. */
  async release(key: string): Promise<void> {
    const id = this.#keys.get(key)
    const p = id === undefined ? undefined : this.#cache.get(id)
    if (id === undefined || !p) return
    const done = this.#drop(id, p)
    this.#forgetKeys()
    await done
  }

  #drop(id: string, p: Promise<OrtSession>): Promise<void> {
    this.#cache.delete(id)
    this.#used.delete(id)
    return p.then((s) => s.release()).catch(() => undefined)
  }

  #forgetKeys(): void {
    for (const [k, v] of this.#keys) if (!this.#cache.has(v)) this.#keys.delete(k)
  }

  /** The cached session with content `id`, marked most recently used. */
  #touch(id: string): Promise<OrtSession> | undefined {
    const p = this.#cache.get(id)
    if (p) {
      this.#cache.delete(id)
      this.#cache.set(id, p)
      this.#used.set(id, this.#generation)
    }
    return p
  }

  /**
   * Starts (and releases) a one-node session, so a provider that cannot run here fails before any
   * work or output depends on it.
   */
  async check(): Promise<void> {
    const graph = encodeModel({
      irVersion: 8,
      opsetImport: [{ domain: '', version: 17 }],
      producerName: 'finetune',
      graph: { name: 'check', node: [{ opType: 'Identity', input: ['x'], output: ['y'] }], initializer: [], input: [valueInfo('x', { shape: [1], dtype: 'float32' })], output: [valueInfo('y', { shape: [1], dtype: 'float32' })] },
    })
    const s = await this.#create(graph, 'provider check')
    await s.release()
  }

  /**
   * Host values copied into device memory (a resident provider only), by one Identity graph per
   * signature of shapes and types.
   */
  async upload(tensors: readonly HostTensor[]): Promise<OrtTensor[]> {
    const feeds: Record<string, OrtTensor> = {}
    tensors.forEach((t, i) => (feeds[`x${i}`] = ortTensor(t)))
    return this.#identity('upload', tensors, feeds, true)
  }

  /**
   * Device tensors copied to host memory, by an Identity graph with host outputs: onnxruntime-node
   * 1.30 aborts the process (an uncaught C++ throw) on `getData()` of a WebGPU tensor.
   */
  async download(tensors: readonly OrtTensor[]): Promise<OrtTensor[]> {
    const feeds: Record<string, OrtTensor> = {}
    tensors.forEach((t, i) => (feeds[`x${i}`] = t))
    const dtype = (t: OrtTensor): DType => (t.type === 'float32' ? 'float32' : t.type === 'int64' ? 'int64' : t.type === 'bool' ? 'bool' : 'uint8')
    return this.#identity('download', tensors.map((t) => ({ shape: t.dims, dtype: dtype(t) })), feeds, false)
  }

  async #identity(kind: string, tensors: readonly { shape: readonly number[]; dtype: DType }[], feeds: Record<string, OrtTensor>, toDevice: boolean): Promise<OrtTensor[]> {
    const sig = tensors.map((t) => `${t.dtype}[${t.shape.join(',')}]`).join(';')
    const names = tensors.map((_, i) => `y${i}`)
    const s = await this.session(`${kind}:${sig}`, () =>
      encodeModel({
        irVersion: 8,
        opsetImport: [{ domain: '', version: 17 }],
        producerName: 'finetune',
        graph: {
          name: 'upload',
          node: tensors.map((_, i) => ({ opType: 'Identity', input: [`x${i}`], output: [`y${i}`] })),
          initializer: [],
          input: tensors.map((t, i) => valueInfo(`x${i}`, t)),
          output: tensors.map((t, i) => valueInfo(`y${i}`, t)),
        },
      }), toDevice ? names : [])
    const out = await s.run(feeds)
    return names.map((n) => out[n]!)
  }

  /** Whether the session for `key` is cached (not yet released to keep within maxSessions). */
  has(key: string): boolean {
    const id = this.#keys.get(key)
    return id !== undefined && this.#cache.has(id)
  }

  get cachedSessions(): number {
    return this.#cache.size
  }

  /** Sessions started so far (a session shared by content counts once). */
  get sessionsStarted(): number {
    return this.#started
  }

  /** Milliseconds spent starting sessions so far (ONNX Runtime's graph optimisation and kernel setup). */
  get compileMs(): number {
    return this.#compileMs
  }

  async #create(bytes: Uint8Array, key: string, deviceOutputs: readonly string[] = []): Promise<OrtSession> {
    const ort = getOrt()
    const opts: OrtCommon.InferenceSession.SessionOptions = {
      executionProviders: [this.provider],
      graphOptimizationLevel: this.options.optimization,
      executionMode: 'sequential',
      enableCpuMemArena: true,
      // ONNX Runtime's memory pattern puts every intermediate of a run in one block planned from the
      // first run; the arena then holds that block next to its other chunks. Without it, peak RSS
      // of a training step fell 15-40% (DeepLabV3 at 512 px: 5.9 -> 3.5 GB; BERT-small 1.12 ->
      // 0.92 GB) at the same step time (BENCHMARKS.md, "Slow paths ...", item 5).
      enableMemPattern: false,
      // ONNX Runtime's own log lines would duplicate (and precede) the clear error finetune raises
      logSeverityLevel: 4,
    }
    // on WebGPU an operator the provider lacks fails loudly (naming it, below) instead of running on
    // the CPU between device copies; CUDA places shape computations on the CPU by design
    if (this.provider === 'webgpu') opts.extra = { session: { disable_cpu_ep_fallback: '1' } }
    if (this.resident && deviceOutputs.length) opts.preferredOutputLocation = Object.fromEntries(deviceOutputs.map((n) => [n, 'gpu-buffer' as const]))
    if (this.options.threads !== undefined) opts.intraOpNumThreads = this.options.threads
    if (this.options.dumpOptimizedTo) opts.optimizedModelFilePath = `${this.options.dumpOptimizedTo}/${key.replace(/[^A-Za-z0-9]+/g, '_').slice(0, 80)}.onnx`
    if (this.options.profilePrefix) {
      opts.enableProfiling = true
      opts.profileFilePrefix = this.options.profilePrefix
    }
    const t0 = performance.now()
    try {
      return await ort.InferenceSession.create(bytes, opts)
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e)
      if (this.provider !== 'cpu' && /fallback to CPU EP has been explicitly disabled/.test(msg)) {
        let why = ''
        const nodes = await ort.cpuNodes?.(bytes, opts).catch((f: unknown) => void (why = ` (a run to name them failed: ${f instanceof Error ? f.message : String(f)})`))
        throw new RuntimeError(
          'RUNTIME_PROVIDER_OPS',
          `the ${this.provider} execution provider has no kernel for ${nodes?.length ? `these operators of graph "${shortKey(key)}": ${nodes.join(', ')}` : `some operators of graph "${shortKey(key)}"${why}`}; finetune does not let them fall back to the CPU silently`,
          'train with --device cpu, or report the operators so the model can avoid them',
        )
      }
      if (this.provider !== 'cpu') throw new RuntimeError('RUNTIME_PROVIDER_FAILED', `could not start the ${this.provider} execution provider: ${msg}`, PROVIDER_HINTS[this.provider])
      throw new RuntimeError('RUNTIME_SESSION', `ONNX Runtime rejected graph "${key}": ${msg}`, 'this is a bug in finetune; please report it with the command you ran')
    } finally {
      this.#compileMs += performance.now() - t0
    }
  }

  /** Flushes ONNX Runtime profiles of every cached session (when profiling is on). */
  async endProfiling(): Promise<void> {
    for (const p of this.#cache.values()) {
      const s = await p
      ;(s as unknown as { endProfiling?: () => unknown }).endProfiling?.()
    }
  }

  async dispose(): Promise<void> {
    const all = [...this.#cache.values()]
    this.#cache.clear()
    this.#keys.clear()
    this.#used.clear()
    for (const p of all) await p.then((s) => s.release()).catch(() => undefined)
  }
}

/**
 * Two independent 32-bit hashes of `b` (FNV-1a and MurmurHash3's mixing, four bytes at a time) and its length: a cache identity for
 * model bytes (no collision among the few dozen graphs a process compiles is at all likely).
 */
export function contentHash(b: Uint8Array): string {
  let h1 = 0x811c9dc5
  let h2 = 0x9747b28c
  const words = b.length >>> 2
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength)
  for (let i = 0; i < words; i++) {
    const w = view.getUint32(i << 2, true)
    h1 = Math.imul(h1 ^ w, 0x01000193)
    let k = Math.imul(w, 0xcc9e2d51)
    k = Math.imul((k << 15) | (k >>> 17), 0x1b873593)
    h2 ^= k
    h2 = (Math.imul((h2 << 13) | (h2 >>> 19), 5) + 0xe6546b64) | 0
  }
  for (let i = words << 2; i < b.length; i++) {
    h1 = Math.imul(h1 ^ b[i]!, 0x01000193)
    h2 = Math.imul(h2 ^ b[i]!, 0x5bd1e995)
  }
  const hex = (h: number): string => (h >>> 0).toString(16).padStart(8, '0')
  return `${hex(h1)}${hex(h2)}-${b.length}`
}

/** A session key short enough for a message (keys of training graphs list every trainable name). */
function shortKey(key: string): string {
  return key.length > 160 ? `${key.slice(0, 157)}...` : key
}
