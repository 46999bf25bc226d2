/**
 * Generation from an encoder-decoder with a key/value cache: the encoder runs once per batch and
 * gives every decoder layer's cross-attention keys/values; then each new token is one decoder step
 * over a fixed-size self-attention cache. Beams share their input's cross keys/values by row index
 * (reordering copies only the self-attention cache and the row map).
 */
import type { Tensor } from '../graph/graph.js'
import type { LayerKv } from '../models/decoder.js'
import type { Seq2SeqModel } from '../models/seq2seq.js'
import type { HostTensor, Runtime } from '../runtime/session.js'
import { TrainSession } from '../train/step.js'
import { HostKvCache } from './cached-lm.js'
import { generate, type GenerationOptions, type StepModel } from './search.js'

const SLOT_QUANTUM = 16
const i64 = (v: readonly number[], shape: number[]): HostTensor => ({ data: BigInt64Array.from(v, (x) => BigInt(x)), shape, dtype: 'int64' })

export class CachedSeq2Seq {
  readonly session: TrainSession
  constructor(readonly model: Seq2SeqModel, runtime: Runtime) {
    const m = model
    const L = m.kvSpec.layers
    this.session = new TrainSession({
      runtime,
      model: m,
      optimizer: { kind: 'sgd', lr: 0 },
      forward: (i) => {
        const outputs: Record<string, Tensor> = {}
        if (!i['decoder_input_ids']) {
          // the encoder pass: cross keys/values of every decoder layer
          m.crossKv(m.encode(i['input_ids']!, i['attention_mask']!)).forEach((kv, l) => {
            outputs[`cross_key.${l}`] = kv.key
            outputs[`cross_value.${l}`] = kv.value
          })
          return { outputs }
        }
        const cross = Array.from({ length: L }, (_, l): LayerKv => ({ key: i[`cross_key.${l}`]!, value: i[`cross_value.${l}`]! }))
        const past = { mask: i['past_mask']!, layers: Array.from({ length: L }, (_, l): LayerKv => ({ key: i[`past_key.${l}`]!, value: i[`past_value.${l}`]! })) }
        const { logits, present } = m.decode(i['decoder_input_ids'], i['position_ids']!, cross, i['attention_mask']!, past)
        outputs['logits'] = logits.squeeze(1)                                                        // (B, V)
        present.forEach((kv, l) => {
          outputs[`key.${l}`] = kv.key
          outputs[`value.${l}`] = kv.value
        })
        return { outputs }
      },
    })
  }

  /**
   * Translates a batch: `inputIds` (B rows of source ids, any lengths; padded here) to the generated
   * target ids of each row (decoder start token not included; eos included when it ended the row).
   */
  async generate(inputIds: readonly (readonly number[])[], o: GenerationOptions): Promise<number[][]> {
    const m = this.model
    const B = inputIds.length
    const S = Math.max(...inputIds.map((r) => r.length), 1)
    const ids = inputIds.flatMap((r) => [...r, ...new Array<number>(S - r.length).fill(m.padId)])
    const mask = inputIds.flatMap((r) => [...r.map(() => 1), ...new Array<number>(S - r.length).fill(0)])
    const enc = await this.session.evaluate({ input_ids: i64(ids, [B, S]), attention_mask: i64(mask, [B, S]) })
    const spec = m.kvSpec
    const crossOf = (kind: 'cross_key' | 'cross_value') => Array.from({ length: spec.layers }, (_, l) => enc.outputs[`${kind}.${l}`]!.data as Float32Array)
    const crossK = crossOf('cross_key')
    const crossV = crossOf('cross_value')
    const per = spec.heads * S * spec.headDim
    const slots = Math.min(Math.ceil((1 + o.maxNewTokens) / SLOT_QUANTUM) * SLOT_QUANTUM, m.maxPositions)
    if (1 + o.maxNewTokens > m.maxPositions) o = { ...o, maxNewTokens: m.maxPositions - 1 }
    const cache = new HostKvCache(spec, B, slots)
    // which input each cache row translates (beams repeat their input's row)
    let rowsOf = Array.from({ length: B }, (_, b) => b)
    const session = this.session
    const step = async (tokens: readonly number[]): Promise<Float32Array> => {
      const R = tokens.length
      const pick = (a: Float32Array) => {
        const out = new Float32Array(R * per)
        rowsOf.forEach((src, r) => out.set(a.subarray(src * per, (src + 1) * per), r * per))
        return out
      }
      const feeds: Record<string, HostTensor> = {
        decoder_input_ids: i64(tokens, [R, 1]),
        position_ids: i64(new Array<number>(R).fill(cache.filled), [R, 1]),
        attention_mask: i64(rowsOf.flatMap((src) => mask.slice(src * S, (src + 1) * S)), [R, S]),
        ...cache.feeds(),
      }
      for (let l = 0; l < spec.layers; l++) {
        feeds[`cross_key.${l}`] = { data: pick(crossK[l]!), shape: [R, spec.heads, S, spec.headDim], dtype: 'float32' }
        feeds[`cross_value.${l}`] = { data: pick(crossV[l]!), shape: [R, spec.heads, S, spec.headDim], dtype: 'float32' }
      }
      const out = await session.evaluate(feeds)
      const kv = (kind: 'key' | 'value') => Array.from({ length: spec.layers }, (_, l) => out.outputs[`${kind}.${l}`]!.data as Float32Array)
      cache.append(kv('key'), kv('value'), 1)
      return out.outputs['logits']!.data as Float32Array
    }
    const stepper: StepModel = {
      step,
      reorder(rows) {
        rowsOf = rows.map((r) => rowsOf[r]!)
        cache.reorder(rows)
      },
    }
    const start = m.decoderStartId
    const first = await step(new Array<number>(B).fill(start))
    return generate(stepper, first, inputIds.map(() => [start]), o)
  }
}
