/**
 * Generation from a causal LM with a key/value cache: the prompt runs once (a prefill graph that
 * also returns every layer's keys and values), then each new token is one decoder step over a
 * fixed-size cache (static shapes: one compiled graph for the whole generation). The cache lives on
 * the host between calls; the step graph reads it and returns only the new token's keys and values,
 * which are written into the next free slot.
 */
import { ConfigError } from '../errors.js'
import type { Tensor } from '../graph/graph.js'
import type { CachedCausalLm, KvSpec, LayerKv } from '../models/decoder.js'
import type { Module } from '../graph/module.js'
import type { HostTensor, Runtime } from '../runtime/session.js'
import { TrainSession } from '../train/step.js'
import { generate, type GenerationOptions, type StepModel } from './search.js'

/** Cache slots are allocated in multiples of this, so nearby lengths share one compiled graph. */
const SLOT_QUANTUM = 16

/** Host copy of a fixed-size key/value cache: (rows, heads, slots, headDim) per layer and kind. */
export class HostKvCache {
  keys: Float32Array[]
  values: Float32Array[]
  /** (rows, slots), 1 where filled. */
  mask: BigInt64Array
  filled = 0
  constructor(readonly spec: KvSpec, public rows: number, readonly slots: number) {
    const n = rows * spec.heads * slots * spec.headDim
    this.keys = Array.from({ length: spec.layers }, () => new Float32Array(n))
    this.values = Array.from({ length: spec.layers }, () => new Float32Array(n))
    this.mask = new BigInt64Array(rows * slots)
  }
  /** Writes `count` positions of new keys/values ((rows, heads, count, headDim) per layer) at the next free slots. */
  append(keys: readonly Float32Array[], values: readonly Float32Array[], count: number): void {
    const { heads, headDim: D } = this.spec
    if (this.filled + count > this.slots) throw new ConfigError('GENERATION_CACHE_FULL', `the key/value cache holds ${this.slots} tokens`, 'lower --max-new-tokens or shorten the prompt')
    for (let l = 0; l < this.spec.layers; l++)
      for (const [dst, src] of [[this.keys[l]!, keys[l]!], [this.values[l]!, values[l]!]] as const)
        for (let r = 0; r < this.rows; r++)
          for (let h = 0; h < heads; h++)
            dst.set(src.subarray(((r * heads + h) * count) * D, ((r * heads + h) * count + count) * D), ((r * heads + h) * this.slots + this.filled) * D)
    for (let r = 0; r < this.rows; r++) for (let t = 0; t < count; t++) this.mask[r * this.slots + this.filled + t] = 1n
    this.filled += count
  }
  /** Keeps rows `rows` in that order. */
  reorder(rows: readonly number[]): void {
    const per = this.spec.heads * this.slots * this.spec.headDim
    const pick = (a: Float32Array) => {
      const out = new Float32Array(rows.length * per)
      rows.forEach((src, r) => out.set(a.subarray(src * per, (src + 1) * per), r * per))
      return out
    }
    this.keys = this.keys.map(pick)
    this.values = this.values.map(pick)
    const m = new BigInt64Array(rows.length * this.slots)
    rows.forEach((src, r) => m.set(this.mask.subarray(src * this.slots, (src + 1) * this.slots), r * this.slots))
    this.mask = m
    this.rows = rows.length
  }
  /** The cache as graph feeds. */
  feeds(): Record<string, HostTensor> {
    const { layers, heads, headDim } = this.spec
    const shape = [this.rows, heads, this.slots, headDim]
    const f: Record<string, HostTensor> = { past_mask: { data: this.mask, shape: [this.rows, this.slots], dtype: 'int64' } }
    for (let l = 0; l < layers; l++) {
      f[`past_key.${l}`] = { data: this.keys[l]!, shape, dtype: 'float32' }
      f[`past_value.${l}`] = { data: this.values[l]!, shape, dtype: 'float32' }
    }
    return f
  }
}

const i64 = (v: readonly number[], shape: number[]): HostTensor => ({ data: BigInt64Array.from(v, (x) => BigInt(x)), shape, dtype: 'int64' })

/** Runs a CachedCausalLm: prefill and decoder steps, in inference mode, on one runtime. */
export class CachedLm {
  readonly session: TrainSession
  constructor(readonly model: CachedCausalLm & Module, runtime: Runtime) {
    const m = model
    this.session = new TrainSession({
      runtime,
      model: m,
      optimizer: { kind: 'sgd', lr: 0 },
      forward: (i) => {
        const L = m.kvSpec.layers
        const past = i['past_mask'] ? { mask: i['past_mask'], layers: Array.from({ length: L }, (_, l): LayerKv => ({ key: i[`past_key.${l}`]!, value: i[`past_value.${l}`]! })) } : null
        const { logits, present } = m.decode(i['input_ids']!, i['position_ids']!, past)
        const T = logits.shape[1]!
        const outputs: Record<string, Tensor> = { logits: logits.slice(1, T - 1, T).squeeze(1) }     // (B, V): the last position's
        present.forEach((kv, l) => {
          outputs[`key.${l}`] = kv.key
          outputs[`value.${l}`] = kv.value
        })
        return { outputs }
      },
    })
  }

  #full: TrainSession | null = null
  /** Full logits (B, T, V) of a sequence without any cache (the reference the cached steps must equal). */
  async fullLogits(ids: readonly number[][]): Promise<Float32Array> {
    const s = (this.#full ??= new TrainSession({ runtime: this.session.runtime, model: this.model, optimizer: { kind: 'sgd', lr: 0 }, forward: (i) => ({ outputs: { logits: this.model.decode(i['input_ids']!, i['position_ids']!, null).logits } }) }))
    const B = ids.length
    const T = ids[0]!.length
    const r = await s.evaluate({ input_ids: i64(ids.flat(), [B, T]), position_ids: i64(ids.flatMap(() => Array.from({ length: T }, (_, t) => t)), [B, T]) })
    return r.outputs['logits']!.data as Float32Array
  }

  /**
   * Runs `prompt` once and returns a StepModel positioned after it, with room for `maxNewTokens`
   * more tokens, and the logits of the token after the prompt.
   */
  async start(prompt: readonly number[], maxNewTokens: number): Promise<{ stepper: StepModel; first: Float32Array; cache: HostKvCache }> {
    const T = prompt.length
    if (T === 0) throw new ConfigError('GENERATION_EMPTY_PROMPT', 'the prompt has no tokens', 'give a non-empty text (or a tokenizer that adds a start token)')
    const maxPos = this.model.maxPositions
    if (T + maxNewTokens > maxPos) throw new ConfigError('GENERATION_TOO_LONG', `prompt (${T} tokens) + --max-new-tokens ${maxNewTokens} exceeds the model's ${maxPos} positions`, `lower --max-new-tokens to ${Math.max(maxPos - T, 0)} or shorten the prompt`)
    const slots = Math.min(Math.ceil((T + maxNewTokens) / SLOT_QUANTUM) * SLOT_QUANTUM, maxPos)
    const spec = this.model.kvSpec
    const cache = new HostKvCache(spec, 1, slots)
    const r = await this.session.evaluate({ input_ids: i64(prompt, [1, T]), position_ids: i64(prompt.map((_, t) => t), [1, T]) })
    cache.append(kvOf(r.outputs, spec.layers, 'key'), kvOf(r.outputs, spec.layers, 'value'), T)
    const session = this.session
    const stepper: StepModel = {
      async step(tokens) {
        const B = tokens.length
        if (B !== cache.rows) throw new ConfigError('GENERATION_ROWS', `internal: ${B} tokens for ${cache.rows} cache rows`)
        const pos = cache.filled
        const out = await session.evaluate({ input_ids: i64(tokens, [B, 1]), position_ids: i64(new Array<number>(B).fill(pos), [B, 1]), ...cache.feeds() })
        cache.append(kvOf(out.outputs, spec.layers, 'key'), kvOf(out.outputs, spec.layers, 'value'), 1)
        return out.outputs['logits']!.data as Float32Array
      },
      reorder: (rows) => cache.reorder(rows),
    }
    return { stepper, first: r.outputs['logits']!.data as Float32Array, cache }
  }

  /** Generates a continuation of each prompt (one at a time); returns the new tokens of each. */
  async generate(prompts: readonly (readonly number[])[], o: GenerationOptions): Promise<number[][]> {
    const out: number[][] = []
    for (const p of prompts) {
      const { stepper, first } = await this.start(p, o.maxNewTokens)
      out.push((await generate(stepper, first, [p], o))[0]!)
    }
    return out
  }
}

function kvOf(outputs: Record<string, HostTensor>, layers: number, kind: 'key' | 'value'): Float32Array[] {
  return Array.from({ length: layers }, (_, l) => outputs[`${kind}.${l}`]!.data as Float32Array)
}
