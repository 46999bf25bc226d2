/**
 * Greedy decoding written out by hand over an exported encoder.onnx + decoder_step.onnx in plain
 * onnxruntime (host cache, as src/tasks/translation/onnx.ts documents), for tests that compare an
 * export with finetune's own generation. One source row; HF's forced bos/eos processors applied.
 */
import * as ort from 'onnxruntime-node'

export interface OnnxGreedyOptions {
  /** Static sizes the graphs were exported with. */
  S: number
  Tmax: number
  start: number
  eos: number
  pad: number
  forcedBos: number | null
  forcedEos: number | null
  maxNewTokens: number
}

/** The generated ids after the decoder start token (eos included when it ended the row). */
export async function onnxGreedy(dir: string, source: readonly number[], o: OnnxGreedyOptions): Promise<number[]> {
  const opts = { graphOptimizationLevel: 'all' as const, intraOpNumThreads: 1 }
  const enc = await ort.InferenceSession.create(`${dir}/encoder.onnx`, opts)
  const dec = await ort.InferenceSession.create(`${dir}/decoder_step.onnx`, opts)
  try {
    const i64 = (v: readonly number[], shape: number[]) => new ort.Tensor('int64', BigInt64Array.from(v, (x) => BigInt(x)), shape)
    const ids = [...source, ...new Array<number>(o.S - source.length).fill(o.pad)]
    const mask = i64(ids.map((_, j) => (j < source.length ? 1 : 0)), [1, o.S])
    const cross = await enc.run({ input_ids: i64(ids, [1, o.S]), attention_mask: mask })
    const L = Object.keys(cross).filter((k) => k.startsWith('cross_key.')).length
    const [, nh, , hd] = cross['cross_key.0']!.dims as number[]
    const past = Array.from({ length: 2 * L }, () => new Float32Array(nh! * o.Tmax * hd!))
    const pastMask = new BigInt64Array(o.Tmax)
    const out: number[] = []
    let token = o.start
    for (let t = 0; t < o.maxNewTokens; t++) {
      const feeds: Record<string, ort.Tensor> = { decoder_input_ids: i64([token], [1, 1]), position_ids: i64([t], [1, 1]), attention_mask: mask, past_mask: new ort.Tensor('int64', pastMask, [1, o.Tmax]) }
      for (let l = 0; l < L; l++) {
        feeds[`past_key.${l}`] = new ort.Tensor('float32', past[2 * l]!, [1, nh!, o.Tmax, hd!])
        feeds[`past_value.${l}`] = new ort.Tensor('float32', past[2 * l + 1]!, [1, nh!, o.Tmax, hd!])
        feeds[`cross_key.${l}`] = cross[`cross_key.${l}`]!
        feeds[`cross_value.${l}`] = cross[`cross_value.${l}`]!
      }
      const r = await dec.run(feeds)
      for (let l = 0; l < L; l++)
        for (const [k, name] of [[2 * l, `key.${l}`], [2 * l + 1, `value.${l}`]] as const) {
          const src = r[name]!.data as Float32Array
          for (let h = 0; h < nh!; h++) past[k]!.set(src.subarray(h * hd!, (h + 1) * hd!), (h * o.Tmax + t) * hd!)
        }
      pastMask[t] = 1n
      const logits = r['logits']!.data as Float32Array
      let best = 0
      for (let v = 1; v < logits.length; v++) if (logits[v]! > logits[best]!) best = v
      if (t === 0 && o.forcedBos !== null) best = o.forcedBos
      else if (t === o.maxNewTokens - 1 && o.forcedEos !== null) best = o.forcedEos
      out.push(best)
      if (best === o.eos) break
      token = best
    }
    return out
  } finally {
    await enc.release()
    await dec.release()
  }
}
