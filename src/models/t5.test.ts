// T5 (v1.0 and v1.1) against the PyTorch reference of HF's modeling_t5.py (scripts/t5_reference.py;
// its attention with relative position bias is checked against torch.nn.MultiheadAttention and its
// buckets against Mesh TensorFlow's definition by scripts/validate_t5_reference.py). Goldens:
// test/golden/t5/t5.json from scripts/gen_t5_goldens.py on the tiny folders test/fixtures/models/t5-tiny
// (ReLU, tied lm_head with the d_model**-0.5 rescale) and t5-v1_1-tiny (gated-GELU, untied, d_kv *
// heads != d_model, 3 decoder blocks). Sources are 34 tokens, beyond max_distance 16, so the
// logarithmic and clamped buckets are exercised. Tolerances: logits and encoder output 1e-4 relative
// to the largest magnitude, loss 1e-5 relative, gradients 1e-4 relative to the largest entry;
// generated tokens identical.
import { readFileSync } from 'node:fs'
import { afterAll, describe, expect, it } from 'vitest'
import { openSafetensorsFile } from '../checkpoint/safetensors-node.js'
import { CachedSeq2Seq } from '../generate/cached-seq2seq.js'
import { GENERATION_DEFAULTS } from '../generate/search.js'
import { Runtime, type HostTensor } from '../runtime/session.js'
import { runGraph } from '../../test/graph-run.js'
import { checkSeq2SeqForward } from '../../test/seq2seq-golden.js'
import { expectClose } from '../../test/op-check.js'
import { loadWeights } from './load.js'
import { seq2seqFamily } from './seq2seq.js'
import { parseT5Config, relativePositionBucket, type T5 } from './t5.js'

const root = new URL('../../', import.meta.url).pathname
type T = { shape: number[]; data: number[]; rows?: number[] }
interface Variant {
  checkpoint: string
  forward: { input_ids: number[][]; attention_mask: number[][]; labels: number[][]; decoder_input_ids: number[][]; logits: T; encoder_last_hidden_state: T; loss: number; grads: Record<string, T> }
  generate: { input_ids: number[][]; attention_mask: number[][]; cases: { name: string; num_beams: number; max_new_tokens: number; length_penalty?: number; no_repeat_ngram_size?: number; sequences: number[][] }[] }
}
const golden = JSON.parse(readFileSync(`${root}test/golden/t5/t5.json`, 'utf8')) as { buckets: { config: [number, number]; relative: number[]; bidirectional: number[]; causal: number[] }[]; variants: Record<string, Variant> }
const runtime = new Runtime({ threads: 1 })
afterAll(() => runtime.dispose())
const i64 = (rows: number[][]): HostTensor => ({ data: BigInt64Array.from(rows.flat(), (v) => BigInt(v)), shape: [rows.length, rows[0]!.length], dtype: 'int64' })

async function load(v: Variant): Promise<T5> {
  const dir = `${root}${v.checkpoint}/`
  const fam = seq2seqFamily('t5')
  const model = fam.build(JSON.parse(readFileSync(`${dir}config.json`, 'utf8')) as Record<string, unknown>) as T5
  model.nameParameters()
  const st = await openSafetensorsFile(`${dir}model.safetensors`)
  await loadWeights(model, st, { basePrefix: model.basePrefix, ignorable: fam.ignorable })
  await st.close()
  return model
}

describe('T5 relative position buckets', () => {
  it('equal HF _relative_position_bucket (bidirectional and causal, exact, logarithmic and clamped ranges)', () => {
    for (const b of golden.buckets) {
      const [nb, md] = b.config
      expect(b.relative.map((r) => relativePositionBucket(r, true, nb, md)), `bidirectional ${nb}/${md}`).toEqual(b.bidirectional)
      expect(b.relative.map((r) => relativePositionBucket(r, false, nb, md)), `causal ${nb}/${md}`).toEqual(b.causal)
    }
  })
})

describe('T5 config', () => {
  it('reads v1.1 gated-gelu as gelu_new and defaults num_decoder_layers to num_layers', () => {
    const c = parseT5Config({ feed_forward_proj: 'gated-gelu', num_layers: 3 })
    expect([c.dense_act_fn, c.is_gated_act, c.num_decoder_layers, c.tie_word_embeddings]).toEqual(['gelu_new', true, 3, true])
  })
  it('reports every bad field with its name', () => {
    const bad = () => parseT5Config({ feed_forward_proj: 'fancy-relu', d_model: 0, pad_token_id: 99999999 }, 'x/config.json')
    for (const field of ['x/config.json', 'feed_forward_proj: "fancy-relu"', 'd_model: must be a positive integer', 'pad_token_id: 99999999 is outside']) expect(bad).toThrow(field)
  })
})

for (const [name, v] of Object.entries(golden.variants)) {
  const model = await load(v)
  describe(`${name} matches the PyTorch reference`, () => {
    it('logits, encoder output, loss and gradients (labels shifted right behind pad)', async () => {
      const f = v.forward
      await checkSeq2SeqForward(model, f)
    })

    it('cached decoder steps give the teacher-forced logits at every position (1e-5)', async () => {
      const f = v.forward
      const S = f.input_ids[0]!.length
      const Tt = f.labels[0]!.length
      const full = await runGraph((gr) => ({ logits: model.logits({ input_ids: gr.input('a', [2, S], 'int64'), attention_mask: gr.input('m', [2, S], 'int64'), decoder_input_ids: gr.input('d', [2, Tt], 'int64') }) }), { a: i64(f.input_ids), m: i64(f.attention_mask), d: i64(f.decoder_input_ids) })
      const V = model.c.vocab_size
      // drive the cached steps with the teacher-forced tokens: step t sees decoder_input_ids[:, t]
      const gen = new CachedSeq2Seq(model, runtime)
      const seen: Float32Array[] = []
      const evaluate = gen.session.evaluate.bind(gen.session)
      gen.session.evaluate = async (b) => {
        const t = seen.length
        if (b['decoder_input_ids']) b = { ...b, decoder_input_ids: i64(f.decoder_input_ids.map((r) => [r[t]!])) }
        const r = await evaluate(b)
        if (b['decoder_input_ids']) seen.push(r.outputs['logits']!.data as Float32Array)
        return r
      }
      const steps = 6
      await gen.generate(f.input_ids.map((r, i) => r.filter((_, j) => f.attention_mask[i]![j] === 1)), { ...GENERATION_DEFAULTS, maxNewTokens: steps, eosTokenId: null, padTokenId: model.padId })
      expect(seen.length).toBe(steps)
      seen.forEach((s, t) => {
        for (let b = 0; b < 2; b++) expectClose(s.subarray(b * V, (b + 1) * V), full['logits']!.subarray((b * Tt + t) * V, (b * Tt + t + 1) * V), 1e-5, `step ${t} row ${b}`)
      })
    })
  })

  describe(`${name} generation matches HF generate`, () => {
    const gen = new CachedSeq2Seq(model, runtime)
    for (const k of v.generate.cases)
      it(k.name, async () => {
        const src = v.generate.input_ids.map((r, i) => r.filter((_, j) => v.generate.attention_mask[i]![j] === 1))
        const out = await gen.generate(src, { ...GENERATION_DEFAULTS, maxNewTokens: k.max_new_tokens, numBeams: k.num_beams, lengthPenalty: k.length_penalty ?? 1, noRepeatNgramSize: k.no_repeat_ngram_size ?? 0, eosTokenId: model.c.eos_token_id, padTokenId: model.padId })
        expect(out.map((r) => [model.decoderStartId, ...r])).toEqual(k.sequences)
      })
  })
}
