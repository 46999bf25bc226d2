/**
 * A compiled graph bound to resident state. Parameters and optimizer buffers stay in host memory:
 * each run feeds the current buffers without copying, and the updated values it returns replace
 * them. onnxruntime-node copies every output into a fresh ArrayBuffer even when a preallocated one
 * is passed, and its kernels write 5-7x slower into such a JS-owned buffer than into ONNX Runtime's
 * own arena (BERT-small: 20 000 page faults and 10 ms more per step), so outputs are not
 * preallocated: the returned buffers are kept and the old ones left to the garbage collector.
 */
import { RuntimeError } from '../errors.js'
import type { DType } from '../graph/dtype.js'
import type { Parameter } from '../graph/graph.js'
import { size } from '../graph/shape.js'
import { getOrt, type OrtSession, type OrtTensor } from './ort.js'
import { Rng } from './rng.js'
import { ortTensor, type HostData, type HostTensor } from './session.js'

export type InputBinding =
  | { kind: 'param'; param: Parameter }
  | { kind: 'state'; key: string }
  | { kind: 'feed'; name: string }
  | { kind: 'random'; stream: number }

export type OutputBinding = { kind: 'param'; param: Parameter } | { kind: 'state'; key: string } | { kind: 'fetch'; name: string }

export interface ProgramInput {
  name: string
  shape: readonly number[]
  dtype: DType
  bind: InputBinding
}

export interface ProgramOutput {
  name: string
  shape: readonly number[]
  dtype: DType
  bind: OutputBinding
}

/** A parameter's or buffer's copy in device memory; `version` is the parameter's when it was made. */
interface DeviceCopy {
  tensor: OrtTensor
  version: number
}

/** Named float32 buffers that live between runs (optimizer moments, accumulators). */
export class ResidentState {
  readonly buffers = new Map<string, Float32Array>()
  /**
   * Copies in device memory on a resident provider (WebGPU), newer than the host values while those
   * are marked stale: parameters by `Parameter.onDevice`, buffers by `staleBuffers`.
   */
  readonly device = new Map<Parameter | string, DeviceCopy>()
  readonly staleBuffers = new Set<string>()
  /** Seed of the random byte streams (dropout). */
  seed = 0
  /** Counts runs that drew random bytes; part of the random stream address, saved with checkpoints. */
  randomCounter = 0

  get(key: string, shape: readonly number[]): Float32Array {
    if (this.staleBuffers.has(key)) throw new RuntimeError('STATE_ON_DEVICE', `buffer "${key}" has its current value on the device`, 'await syncToHost() first')
    let b = this.buffers.get(key)
    if (!b) {
      b = new Float32Array(size(shape))
      this.buffers.set(key, b)
    }
    return b
  }

  /** The runtime's copy from device to host memory; set with the first device copy. */
  download: ((t: readonly OrtTensor[]) => Promise<OrtTensor[]>) | undefined

  /** Copies every device value newer than its host copy back to the host (the device copies stay). */
  async syncToHost(): Promise<void> {
    const stale = [...this.device].filter(([k]) => (typeof k === 'string' ? this.staleBuffers.has(k) : k.onDevice))
    if (!stale.length || !this.download) return
    const host = await this.download(stale.map(([, c]) => c.tensor))
    stale.forEach(([k, c], i) => {
      const data = host[i]!.data as Float32Array
      if (typeof k === 'string') {
        this.buffers.set(k, data)
        this.staleBuffers.delete(k)
      } else {
        k.data = data
        c.version = k.version
      }
    })
  }

  /** Copies what is newer back to the host and frees every device copy (the next run uploads again). */
  async releaseDevice(): Promise<void> {
    await this.syncToHost()
    for (const c of this.device.values()) c.tensor.dispose()
    this.device.clear()
  }

  /** Drops the device copies of the buffers (their host values were replaced, e.g. by a resume). */
  dropDeviceBuffers(): void {
    for (const [k, c] of this.device) {
      if (typeof k !== 'string') continue
      c.tensor.dispose()
      this.device.delete(k)
    }
    this.staleBuffers.clear()
  }
}

/** Where a parameter's or buffer's device copy is kept in ResidentState.device. */
const keyOf = (b: InputBinding | OutputBinding): Parameter | string => (b.kind === 'param' ? b.param : (b as { key: string }).key)

/** What a program needs from the runtime to keep values in device memory between runs. */
export interface Residency {
  /** Device name marked on parameters whose current value is on the device. */
  device: string
  upload(tensors: readonly HostTensor[]): Promise<OrtTensor[]>
  download(tensors: readonly OrtTensor[]): Promise<OrtTensor[]>
}

export class Program {
  readonly inputs: readonly ProgramInput[]
  readonly outputs: readonly ProgramOutput[]
  readonly session: OrtSession
  readonly usesRandom: boolean
  /**
   * Training steps one run takes (a Scan over stacked batches): random inputs then hold one slice
   * per step, each drawn as the single-step run at that counter would draw it.
   */
  readonly steps: number
  /** Set on a resident provider: parameters and state stay in device memory between runs. */
  readonly residency: Residency | undefined
  /** Inputs and outputs the session has as int32 where the program has int64 (WebGPU). */
  readonly #int32: ReadonlySet<string>
  constructor(session: OrtSession, inputs: readonly ProgramInput[], outputs: readonly ProgramOutput[], steps = 1, residency?: Residency) {
    this.session = session
    this.inputs = inputs
    this.outputs = outputs
    this.usesRandom = inputs.some((i) => i.bind.kind === 'random')
    this.steps = steps
    this.residency = residency
    const meta = [...((session as Partial<OrtSession>).inputMetadata ?? []), ...((session as Partial<OrtSession>).outputMetadata ?? [])]
    this.#int32 = new Set(meta.filter((m) => m.isTensor && m.type === 'int32').map((m) => m.name))
  }

  /** Names of the outputs a resident session keeps in device memory (parameters and state). */
  static deviceOutputs(outputs: readonly ProgramOutput[]): string[] {
    return outputs.filter((o) => o.bind.kind !== 'fetch').map((o) => o.name)
  }

  /** Device tensors for every parameter and state input, uploading those without a current copy. */
  async #deviceInputs(state: ResidentState, r: Residency): Promise<Record<string, OrtTensor>> {
    const carried = this.inputs.filter((i) => i.bind.kind === 'param' || i.bind.kind === 'state')
    const missing = carried.filter((i) => {
      const c = state.device.get(keyOf(i.bind))
      return !c || (i.bind.kind === 'param' && c.version !== i.bind.param.version)
    })
    if (missing.length) {
      const host = missing.map((i) => ({ data: i.bind.kind === 'param' ? i.bind.param.data : state.get((i.bind as { key: string }).key, i.shape), shape: i.shape, dtype: i.dtype }))
      const up = await r.upload(host)
      missing.forEach((i, k) => {
        const key = keyOf(i.bind)
        state.device.get(key)?.tensor.dispose()
        state.device.set(key, { tensor: up[k]!, version: i.bind.kind === 'param' ? i.bind.param.version : 0 })
      })
    }
    return Object.fromEntries(carried.map((i) => [i.name, state.device.get(keyOf(i.bind))!.tensor]))
  }

  /** Runs once; returns fetched outputs by name. Updated params/state replace the old buffers. */
  async run(state: ResidentState, feeds: Readonly<Record<string, HostTensor>> = {}): Promise<Record<string, HostTensor>> {
    const r = this.residency
    if (r) state.download ??= (t) => r.download(t)
    const inp: Record<string, OrtTensor> = r ? await this.#deviceInputs(state, r) : {}
    const counter = state.randomCounter
    for (const i of this.inputs) {
      const b = i.bind
      if (inp[i.name]) continue
      let data: HostData
      if (b.kind === 'param') data = b.param.data
      else if (b.kind === 'state') data = state.get(b.key, i.shape)
      else if (b.kind === 'random') {
        const bytes = new Uint8Array(size(i.shape))
        const per = bytes.length / this.steps
        for (let k = 0; k < this.steps; k++) new Rng(state.seed, b.stream, counter + k).fillBytes(bytes.subarray(k * per, (k + 1) * per))
        data = bytes
      } else {
        const f = feeds[b.name]
        if (!f) throw new RuntimeError('RUNTIME_FEED', `no value for input "${b.name}"`, `feed: ${this.inputs.filter((x) => x.bind.kind === 'feed').map((x) => x.name).join(', ')}`)
        if (f.shape.length !== i.shape.length || f.shape.some((d, k) => d !== i.shape[k]))
          throw new RuntimeError('RUNTIME_FEED_SHAPE', `input "${b.name}" has shape [${f.shape}], the compiled graph expects [${i.shape}]`)
        if (f.dtype !== i.dtype) throw new RuntimeError('RUNTIME_FEED_DTYPE', `input "${b.name}" is ${f.dtype}, the compiled graph expects ${i.dtype}`)
        data = f.data
      }
      if (this.#int32.has(i.name) && data instanceof BigInt64Array) inp[i.name] = new (getOrt().Tensor)('int32', Int32Array.from(data, Number), i.shape as number[])
      else inp[i.name] = ortTensor({ data, shape: i.shape, dtype: i.dtype })
    }
    const res = await this.session.run(inp).catch((e: unknown) => {
      // ONNX Runtime's message names the node and its operator
      if (!r) throw e
      throw new RuntimeError('RUNTIME_PROVIDER_RUN', `the ${r.device} execution provider failed to run a graph: ${e instanceof Error ? e.message : String(e)}`, 'train with --device cpu, or report the operator so the model can avoid it')
    })
    if (this.usesRandom) state.randomCounter = counter + this.steps
    for (const o of this.outputs) {
      const b = o.bind
      if (b.kind === 'fetch') continue
      const t = res[o.name]!
      if (r) {
        const key = keyOf(b)
        const old = state.device.get(key)
        if (old && old.tensor !== t) old.tensor.dispose()
        state.device.set(key, { tensor: t, version: b.kind === 'param' ? b.param.version : 0 })
        if (b.kind === 'param') b.param.markOnDevice(r.device)
        else state.staleBuffers.add(b.key)
      } else if (b.kind === 'param') b.param.data = t.data as Float32Array
      else state.buffers.set(b.key, t.data as Float32Array)
    }
    const out: Record<string, HostTensor> = {}
    for (const o of this.outputs) {
      if (o.bind.kind !== 'fetch') continue
      const t = res[o.name]!
      const data = this.#int32.has(o.name) && o.dtype === 'int64' ? BigInt64Array.from(t.data as Int32Array, (v) => BigInt(v)) : (t.data as HostData)
      out[o.bind.name] = { data, shape: o.shape, dtype: o.dtype }
    }
    return out
  }
}
