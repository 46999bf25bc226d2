/**
 * The golden check every encoder-decoder family shares: teacher-forced logits, encoder output (real
 * source positions only: padded ones are computed but never read), cross-entropy and the gradients
 * of the named parameters (whole, or the listed rows of a table) against a PyTorch reference.
 * Tolerances: logits and encoder output 1e-4, loss 1e-5 relative, gradients 1e-4.
 */
import { expect } from 'vitest'
import { grad } from '../src/autodiff/grad.js'
import type { Tensor } from '../src/graph/graph.js'
import * as nn from '../src/graph/nn.js'
import type { Seq2SeqModel } from '../src/models/seq2seq.js'
import type { HostTensor } from '../src/runtime/session.js'
import { runGraph } from './graph-run.js'
import { expectClose } from './op-check.js'

export type GoldenTensor = { shape: number[]; data: number[]; rows?: number[] }
export interface Seq2SeqForwardGolden {
  input_ids: number[][]
  attention_mask: number[][]
  labels: number[][]
  decoder_input_ids: number[][]
  logits: GoldenTensor
  encoder_last_hidden_state: GoldenTensor
  loss: number
  grads: Record<string, GoldenTensor>
}

export const i64 = (rows: number[][]): HostTensor => ({ data: BigInt64Array.from(rows.flat(), (v) => BigInt(v)), shape: [rows.length, rows[0]!.length], dtype: 'int64' })

/** Runs the checks; returns the computed outputs (`logits`, `loss`, `enc`, `grad:NAME`) for family-specific ones. */
export async function checkSeq2SeqForward(model: Seq2SeqModel, f: Seq2SeqForwardGolden): Promise<Record<string, Float32Array>> {
  const names = Object.keys(f.grads)
  const params = new Map(model.namedParameters())
  const S = f.input_ids[0]!.length
  const T = f.labels[0]!.length
  const out = await runGraph((gr) => {
    const x = { input_ids: gr.input('input_ids', [2, S], 'int64'), attention_mask: gr.input('attention_mask', [2, S], 'int64'), decoder_input_ids: gr.input('decoder_input_ids', [2, T], 'int64') }
    const labels = gr.input('labels', [2, T], 'int64')
    const logits = model.logits(x)
    const loss = nn.crossEntropy(logits, labels)
    const grads = grad(loss, names.map((n) => gr.param(params.get(n)!)))
    const res: Record<string, Tensor> = { logits, loss, enc: model.encode(x.input_ids, x.attention_mask) }
    names.forEach((n, i) => (res[`grad:${n}`] = grads[i]!))
    return res
  }, { input_ids: i64(f.input_ids), attention_mask: i64(f.attention_mask), decoder_input_ids: i64(f.decoder_input_ids), labels: i64(f.labels) })
  expectClose(out['logits']!, f.logits.data, 1e-4, 'logits')
  const C = f.encoder_last_hidden_state.shape[2]!
  const real = (a: ArrayLike<number>) => Array.from(a).filter((_, i) => f.attention_mask[Math.floor(i / (S * C))]![Math.floor(i / C) % S] === 1)
  expectClose(real(out['enc']!), real(f.encoder_last_hidden_state.data), 1e-4, 'encoder output')
  expect(Math.abs(out['loss']![0]! - f.loss) / f.loss).toBeLessThan(1e-5)
  for (const n of names) {
    const w = f.grads[n]!
    const got = out[`grad:${n}`]!
    const D = w.shape[1] ?? 1
    const sel = w.rows ? w.rows.flatMap((r) => Array.from(got.subarray(r * D, (r + 1) * D))) : Array.from(got)
    expectClose(sel, w.data, 1e-4, `d loss / d ${n}`)
  }
  return out
}
