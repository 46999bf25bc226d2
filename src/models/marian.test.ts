// MarianMT against the PyTorch reference of HF's modeling_marian.py (scripts/marian_reference.py,
// whose layers match torch.nn.TransformerEncoder/Decoder to 1e-15 in float64 where the architectures
// coincide: scripts/validate_marian_reference.py). Goldens: test/golden/marian/marian.json from
// scripts/gen_marian_goldens.py on the tiny opus-mt-layout folder test/fixtures/models/marian-tiny.
// Tolerances: logits and encoder output 1e-4 relative to the largest magnitude, loss 1e-5 relative,
// gradients 1e-4 relative to the largest entry; generated tokens identical.
import { readFileSync } from 'node:fs'
import { afterAll, describe, expect, it } from 'vitest'
import { openSafetensorsFile } from '../checkpoint/safetensors-node.js'
import { CachedSeq2Seq } from '../generate/cached-seq2seq.js'
import { GENERATION_DEFAULTS } from '../generate/search.js'
import { Runtime, type HostTensor } from '../runtime/session.js'
import { MarianTokenizer } from '../tokenizers/marian.js'
import { runGraph } from '../../test/graph-run.js'
import { checkSeq2SeqForward } from '../../test/seq2seq-golden.js'
import { expectClose } from '../../test/op-check.js'
import { loadWeights } from './load.js'
import { parseMarianConfig, sinusoidalPositions, type Marian } from './marian.js'
import { seq2seqFamily } from './seq2seq.js'

const root = new URL('../../', import.meta.url).pathname
type T = { shape: number[]; data: number[]; rows?: number[] }
const g = JSON.parse(readFileSync(`${root}test/golden/marian/marian.json`, 'utf8')) as {
  checkpoint: string
  tokenizer: { sources: string[]; source_ids: number[][]; targets: string[]; target_ids: number[][] }
  forward: { input_ids: number[][]; attention_mask: number[][]; labels: number[][]; decoder_input_ids: number[][]; logits: T; encoder_last_hidden_state: T; loss: number; grads: Record<string, T> }
  generate: { input_ids: number[][]; attention_mask: number[][]; cases: { name: string; num_beams: number; max_new_tokens: number; length_penalty?: number; no_repeat_ngram_size?: number; sequences: number[][] }[] }
}
const dir = `${root}${g.checkpoint}/`
const raw = JSON.parse(readFileSync(`${dir}config.json`, 'utf8')) as Record<string, unknown>
const fam = seq2seqFamily('marian')
const model = fam.build(raw) as Marian
model.nameParameters()
const st = await openSafetensorsFile(`${dir}model.safetensors`)
await loadWeights(model, st, { basePrefix: model.basePrefix, ignorable: fam.ignorable })
await st.close()
const runtime = new Runtime({ threads: 1 })
afterAll(() => runtime.dispose())
const i64 = (rows: number[][]): HostTensor => ({ data: BigInt64Array.from(rows.flat(), (v) => BigInt(v)), shape: [rows.length, rows[0]!.length], dtype: 'int64' })

describe('Marian tokenizer', () => {
  const tok = new MarianTokenizer({ sourceSpm: readFileSync(`${dir}source.spm`), targetSpm: readFileSync(`${dir}target.spm`), vocabJson: readFileSync(`${dir}vocab.json`, 'utf8'), tokenizerConfigJson: readFileSync(`${dir}tokenizer_config.json`, 'utf8') })
  it('source and target ids equal MarianTokenizer over spm_encode pieces (>>lang<< code kept whole, </s> last)', () => {
    expect(g.tokenizer.sources.map((s) => tok.encode(s))).toEqual(g.tokenizer.source_ids)
    expect(g.tokenizer.targets.map((s) => tok.encode(s, { target: true }))).toEqual(g.tokenizer.target_ids)
  })
  it('decodes target ids back to the text, skipping </s> and <pad>', () => {
    expect(g.tokenizer.target_ids.map((ids) => tok.decode([tok.padId, ...ids]))).toEqual(g.tokenizer.targets)
  })
  it('truncation keeps </s>', () => {
    const ids = tok.encode(g.tokenizer.sources[1]!, { maxLength: 5 })
    expect(ids).toEqual([...g.tokenizer.source_ids[1]!.slice(0, 4), tok.eosId])
  })
})

describe('Marian matches the PyTorch reference', () => {
  it('sinusoidal positions: sin in the first half of the channels, cos in the second, from position 0', () => {
    const t = sinusoidalPositions(3, 4)
    expect(Array.from(t.subarray(0, 4))).toEqual([0, 0, 1, 1])
    expect(t[4 + 0]).toBeCloseTo(Math.sin(1), 6)
    expect(t[4 + 1]).toBeCloseTo(Math.sin(1 / 100), 6)
    expect(t[4 + 3]).toBeCloseTo(Math.cos(1 / 100), 6)
  })

  it('logits, encoder output, loss and gradients (labels shifted right, pad -> decoder start)', async () => {
    const f = g.forward
    await checkSeq2SeqForward(model, f)
    // the compared rows include the pad row (= decoder start, in every decoder input): its gradient is
    // the tied lm_head's alone, as nn.Embedding(padding_idx) gives no lookup gradient (StopGradient here)
    expect(f.grads['model.shared.weight']!.rows).toContain(model.padId)
  })

  it('a cached decoder step gives the teacher-forced logits (1e-5)', async () => {
    const f = g.forward
    const full = await runGraph((gr) => ({ logits: model.logits({ input_ids: gr.input('a', [2, f.input_ids[0]!.length], 'int64'), attention_mask: gr.input('m', [2, f.input_ids[0]!.length], 'int64'), decoder_input_ids: gr.input('d', [2, f.labels[0]!.length], 'int64') }) }), { a: i64(f.input_ids), m: i64(f.attention_mask), d: i64(f.decoder_input_ids) })
    const V = model.c.vocab_size
    const T = f.labels[0]!.length
    // greedy with forced tokens: feed the teacher-forced inputs through the cached steps
    const gen = new CachedSeq2Seq(model, runtime)
    const seen: Float32Array[] = []
    const origStep = gen.session.evaluate.bind(gen.session)
    gen.session.evaluate = async (b) => {
      const r = await origStep(b)
      if (b['decoder_input_ids']) seen.push(r.outputs['logits']!.data as Float32Array)
      return r
    }
    await gen.generate(f.input_ids.map((r, i) => r.filter((_, j) => f.attention_mask[i]![j] === 1)), { ...GENERATION_DEFAULTS, maxNewTokens: 1, eosTokenId: model.c.eos_token_id, padTokenId: model.padId })
    const first = seen[0]!
    for (let b = 0; b < 2; b++) expectClose(first.subarray(b * V, (b + 1) * V), full['logits']!.subarray(b * T * V, b * T * V + V), 1e-5, `step 0 row ${b}`)
  })
})

describe('Marian generation matches HF generate (forced eos, pad banned)', () => {
  const gen = new CachedSeq2Seq(model, runtime)
  const c = parseMarianConfig(raw)
  for (const k of g.generate.cases)
    it(k.name, async () => {
      const src = g.generate.input_ids.map((r, i) => r.filter((_, j) => g.generate.attention_mask[i]![j] === 1))
      const out = await gen.generate(src, { ...GENERATION_DEFAULTS, maxNewTokens: k.max_new_tokens, numBeams: k.num_beams, lengthPenalty: k.length_penalty ?? 1, noRepeatNgramSize: k.no_repeat_ngram_size ?? 0, eosTokenId: c.eos_token_id, padTokenId: c.pad_token_id, forcedEosTokenId: 0, badTokenIds: [c.pad_token_id] })
      expect(out.map((r) => [c.decoder_start_token_id, ...r])).toEqual(k.sequences)
    })
})
