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
import type { OrtSession, OrtTensor } from './ort.js'
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

/** Named float32 buffers that live between runs (optimizer moments, accumulators). */
export class ResidentState {
  readonly buffers = new Map<string, Float32Array>()
  /** Seed of the random byte streams (dropout). */
  seed = 0
  /** Counts runs that drew random bytes; part of the random stream address, saved with checkpoints. */
  randomCounter = 0

  get(key: string, shape: readonly number[]): Float32Array {
    let b = this.buffers.get(key)
    if (!b) {
      b = new Float32Array(size(shape))
      this.buffers.set(key, b)
    }
    return b
  }
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
  constructor(session: OrtSession, inputs: readonly ProgramInput[], outputs: readonly ProgramOutput[], steps = 1) {
    this.session = session
    this.inputs = inputs
    this.outputs = outputs
    this.usesRandom = inputs.some((i) => i.bind.kind === 'random')
    this.steps = steps
  }

  /** Runs once; returns fetched outputs by name. Updated params/state replace the old buffers. */
  async run(state: ResidentState, feeds: Readonly<Record<string, HostTensor>> = {}): Promise<Record<string, HostTensor>> {
    const inp: Record<string, OrtTensor> = {}
    const counter = state.randomCounter
    for (const i of this.inputs) {
      const b = i.bind
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
      inp[i.name] = ortTensor({ data, shape: i.shape, dtype: i.dtype })
    }
    const res = await this.session.run(inp)
    if (this.usesRandom) state.randomCounter = counter + this.steps
    for (const o of this.outputs) {
      const b = o.bind
      if (b.kind === 'fetch') continue
      const data = res[o.name]!.data as Float32Array
      if (b.kind === 'param') b.param.data = data
      else state.buffers.set(b.key, data)
    }
    const out: Record<string, HostTensor> = {}
    for (const o of this.outputs) {
      if (o.bind.kind !== 'fetch') continue
      const t = res[o.name]!
      out[o.bind.name] = { data: t.data as HostData, shape: o.shape, dtype: o.dtype }
    }
    return out
  }
}
