/**
 * ONNX export of an encoder-decoder for plain onnxruntime: `encoder.onnx` (sources -> every decoder
 * layer's cross-attention keys/values) and `decoder_step.onnx` (one token per row against a
 * fixed-size self-attention cache -> next-token logits and the token's own keys/values), the same
 * graphs finetune's generation runs. Static shapes: B rows, S source tokens, Tmax cache slots.
 *
 * A caller decodes as CachedSeq2Seq does: run the encoder once; start every row with the decoder
 * start token at position 0 and an all-zero cache and past_mask; after each step write key.l/value.l
 * into slot t of past_key.l/past_value.l, set past_mask[:, t] = 1, and feed the chosen tokens at
 * position t + 1.
 */
import type { Tensor } from '../../graph/graph.js'
import type { LayerKv } from '../../models/decoder.js'
import type { Seq2SeqModel } from '../../models/seq2seq.js'
import { exportInferenceOnnx } from '../../export/onnx.js'

export function seq2seqOnnx(m: Seq2SeqModel, B: number, S: number, Tmax: number, task = 'translation'): { files: Record<string, Uint8Array>; inputs: Record<string, number[]> } {
  const { layers: L, heads: nh, headDim: hd } = m.kvSpec
  const meta = { family: m.family, task, decoder_start_token_id: String(m.decoderStartId), pad_token_id: String(m.padId) }
  const encoder = exportInferenceOnnx({
    model: m,
    inputs: { input_ids: { shape: [B, S], dtype: 'int64' }, attention_mask: { shape: [B, S], dtype: 'int64' } },
    forward: (i) => {
      const out: Record<string, Tensor> = {}
      m.crossKv(m.encode(i['input_ids']!, i['attention_mask']!)).forEach((kv, l) => {
        out[`cross_key.${l}`] = kv.key
        out[`cross_value.${l}`] = kv.value
      })
      return out
    },
    metadata: meta,
    graphName: 'encoder',
  })
  const kvShape = (T: number) => ({ shape: [B, nh, T, hd], dtype: 'float32' as const })
  const stepInputs: Record<string, { shape: number[]; dtype: 'int64' | 'float32' }> = {
    decoder_input_ids: { shape: [B, 1], dtype: 'int64' },
    position_ids: { shape: [B, 1], dtype: 'int64' },
    attention_mask: { shape: [B, S], dtype: 'int64' },
    past_mask: { shape: [B, Tmax], dtype: 'int64' },
  }
  for (let l = 0; l < L; l++) {
    stepInputs[`past_key.${l}`] = kvShape(Tmax)
    stepInputs[`past_value.${l}`] = kvShape(Tmax)
    stepInputs[`cross_key.${l}`] = kvShape(S)
    stepInputs[`cross_value.${l}`] = kvShape(S)
  }
  const step = exportInferenceOnnx({
    model: m,
    inputs: stepInputs,
    forward: (i) => {
      const kv = (k: string, v: string) => Array.from({ length: L }, (_, l): LayerKv => ({ key: i[`${k}.${l}`]!, value: i[`${v}.${l}`]! }))
      const { logits, present } = m.decode(i['decoder_input_ids']!, i['position_ids']!, kv('cross_key', 'cross_value'), i['attention_mask']!, { mask: i['past_mask']!, layers: kv('past_key', 'past_value') })
      const out: Record<string, Tensor> = { logits: logits.squeeze(1) }                             // (B, V)
      present.forEach((p, l) => {
        out[`key.${l}`] = p.key
        out[`value.${l}`] = p.value
      })
      return out
    },
    metadata: meta,
    graphName: 'decoder_step',
  })
  return { files: { 'encoder.onnx': encoder, 'decoder_step.onnx': step }, inputs: Object.fromEntries(Object.entries(stepInputs).map(([k, v]) => [`decoder_step.${k}`, v.shape]).concat([['encoder.input_ids', [B, S]], ['encoder.attention_mask', [B, S]]])) }
}
