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
  #cache = new Map<string, Promise<OrtSession>>()
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
   * provider the outputs named in `deviceOutputs` stay in device memory.
   */
  session(key: string, build: () => Uint8Array | ModelProtoObj, deviceOutputs: readonly string[] = []): Promise<OrtSession> {
    const hit = this.#cache.get(key)
    if (hit) {
      this.#cache.delete(key)
      this.#cache.set(key, hit)
      return hit
    }
    const built = build()
    // a model (not bytes) is rewritten into the operators the provider has
    const p = this.#create(built instanceof Uint8Array ? built : encodeModel(this.provider === 'webgpu' ? forWebGpu(built) : built), key, deviceOutputs)
    this.#cache.set(key, p)
    p.catch(() => this.#cache.delete(key))
    while (this.#cache.size > this.options.maxSessions) {
      const [oldKey, old] = this.#cache.entries().next().value as [string, Promise<OrtSession>]
      this.#cache.delete(oldKey)
      void old.then((s) => s.release()).catch(() => undefined)
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
    return this.#cache.has(key)
  }

  get cachedSessions(): number {
    return this.#cache.size
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
    for (const p of all) await p.then((s) => s.release()).catch(() => undefined)
  }
}

/** A session key short enough for a message (keys of training graphs list every trainable name). */
function shortKey(key: string): string {
  return key.length > 160 ? `${key.slice(0, 157)}...` : key
}
