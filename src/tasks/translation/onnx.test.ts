// The exported encoder + decoder-step graphs run in plain onnxruntime: greedy decoding written out
// by hand over them (host cache, as the graphs' doc says) gives the golden greedy translations of
// the tiny Marian (test/golden/marian/marian.json, from HF's search logic on the PyTorch reference).
import { readFileSync } from 'node:fs'
import * as ort from 'onnxruntime-node'
import { describe, expect, it } from 'vitest'
import { openSafetensorsFile } from '../../checkpoint/safetensors-node.js'
import { loadWeights } from '../../models/load.js'
import { seq2seqFamily } from '../../models/seq2seq.js'
import { seq2seqOnnx } from './onnx.js'

const root = new URL('../../../', import.meta.url).pathname
const g = JSON.parse(readFileSync(`${root}test/golden/marian/marian.json`, 'utf8')) as { checkpoint: string; generate: { input_ids: number[][]; attention_mask: number[][]; cases: { name: string; max_new_tokens: number; sequences: number[][] }[] } }

describe('ONNX export of a translation model', () => {
  it('encoder.onnx + decoder_step.onnx decode the golden greedy translations in plain onnxruntime', async () => {
    const raw = JSON.parse(readFileSync(`${root}${g.checkpoint}/config.json`, 'utf8')) as Record<string, unknown>
    const fam = seq2seqFamily('marian')
    const m = fam.build(raw)
    m.nameParameters()
    const st = await openSafetensorsFile(`${root}${g.checkpoint}/model.safetensors`)
    await loadWeights(m, st, { basePrefix: m.basePrefix, ignorable: fam.ignorable })
    await st.close()
    const ids = g.generate.input_ids
    const [B, S, Tmax] = [ids.length, ids[0]!.length, 16]
    const { layers: L, heads: nh, headDim: hd } = m.kvSpec
    const { files } = seq2seqOnnx(m, B, S, Tmax)
    const opts = { graphOptimizationLevel: 'all' as const, intraOpNumThreads: 1 }
    const enc = await ort.InferenceSession.create(files['encoder.onnx']!, opts)
    const dec = await ort.InferenceSession.create(files['decoder_step.onnx']!, opts)
    const i64 = (v: number[], shape: number[]) => new ort.Tensor('int64', BigInt64Array.from(v, (x) => BigInt(x)), shape)
    const mask = i64(g.generate.attention_mask.flat(), [B, S])
    const cross = await enc.run({ input_ids: i64(ids.flat(), [B, S]), attention_mask: mask })
    const past = Array.from({ length: 2 * L }, () => new Float32Array(B * nh * Tmax * hd))
    const pastMask = new BigInt64Array(B * Tmax)
    const c = g.generate.cases.find((k) => k.name === 'greedy')!
    const [pad, eos, start] = [Number(raw['pad_token_id']), Number(raw['eos_token_id']), Number(raw['decoder_start_token_id'])]
    const seqs = ids.map(() => [start])
    const done = ids.map(() => false)
    let tokens = seqs.map(() => start)
    for (let t = 0; t < c.max_new_tokens; t++) {
      const feeds: Record<string, ort.Tensor> = { decoder_input_ids: i64(tokens, [B, 1]), position_ids: i64(tokens.map(() => t), [B, 1]), attention_mask: mask, past_mask: new ort.Tensor('int64', pastMask, [B, Tmax]) }
      for (let l = 0; l < L; l++) {
        feeds[`past_key.${l}`] = new ort.Tensor('float32', past[2 * l]!, [B, nh, Tmax, hd])
        feeds[`past_value.${l}`] = new ort.Tensor('float32', past[2 * l + 1]!, [B, nh, Tmax, hd])
        feeds[`cross_key.${l}`] = cross[`cross_key.${l}`]!
        feeds[`cross_value.${l}`] = cross[`cross_value.${l}`]!
      }
      const r = await dec.run(feeds)
      for (let l = 0; l < L; l++)
        for (const [k, name] of [[2 * l, `key.${l}`], [2 * l + 1, `value.${l}`]] as const) {
          const src = r[name]!.data as Float32Array
          for (let bh = 0; bh < B * nh; bh++) past[k]!.set(src.subarray(bh * hd, (bh + 1) * hd), (bh * Tmax + t) * hd)
        }
      for (let b = 0; b < B; b++) pastMask[b * Tmax + t] = 1n
      const logits = r['logits']!.data as Float32Array
      const V = logits.length / B
      tokens = seqs.map((s, b) => {
        let best = -1
        // the config's bad_words_ids bans pad; forced_eos_token_id closes the last position
        if (t === c.max_new_tokens - 1) best = eos
        else for (let v = 0; v < V; v++) if (v !== pad && (best < 0 || logits[b * V + v]! > logits[b * V + best]!)) best = v
        if (done[b]) best = pad
        if (best === eos) done[b] = true
        s.push(best)
        return best
      })
      if (done.every(Boolean)) break
    }
    expect(seqs).toEqual(c.sequences)
    await enc.release()
    await dec.release()
  })
})
