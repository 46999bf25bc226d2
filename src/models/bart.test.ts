// BART against the PyTorch reference of HF's modeling_bart.py (scripts/bart_reference.py). The
// reference's layers are Marian's (HF copies them from BART), which match torch.nn.TransformerEncoder
// / TransformerDecoder to 1e-15 in float64; scripts/validate_bart_reference.py checks the BART stacks
// (after layernorm_embedding) against those same torch modules to 1e-10 and the learned-position
// offset of 2 against the table rows, with and without scale_embedding.
// Goldens: test/golden/bart/bart.json from scripts/gen_bart_goldens.py on the tiny folder
// test/fixtures/models/bart-tiny (bart-base's config with tiny sizes; the bpe-roberta tokenizer).
// Tolerances: logits and encoder output 1e-4 relative to the largest magnitude, loss 1e-5 relative,
// gradients 1e-4 relative to the largest entry; token ids and generated tokens identical.
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { writeSafetensorsFile } from '../checkpoint/io-node.js'
import { openSafetensorsFile } from '../checkpoint/safetensors-node.js'
import { CachedSeq2Seq } from '../generate/cached-seq2seq.js'
import { GENERATION_DEFAULTS } from '../generate/search.js'
import { Runtime, type HostTensor } from '../runtime/session.js'
import { loadTokenizer } from '../tokenizers/load.js'
import { TextPairTokenizer } from '../tokenizers/seq2seq.js'
import { runGraph } from '../../test/graph-run.js'
import { checkSeq2SeqForward } from '../../test/seq2seq-golden.js'
import { expectClose } from '../../test/op-check.js'
import { parseBartConfig, type Bart } from './bart.js'
import { loadSeq2Seq } from '../tasks/translation/model-node.js'
import { loadWeights } from './load.js'
import { modelTensors } from './pretrained-node.js'
import { seq2seqFamily } from './seq2seq.js'

const root = new URL('../../', import.meta.url).pathname
type T = { shape: number[]; data: number[]; rows?: number[] }
const g = JSON.parse(readFileSync(`${root}test/golden/bart/bart.json`, 'utf8')) as {
  checkpoint: string
  tokenizer: { sources: string[]; source_ids: number[][]; targets: string[]; target_ids: number[][] }
  forward: { input_ids: number[][]; attention_mask: number[][]; labels: number[][]; decoder_input_ids: number[][]; logits: T; encoder_last_hidden_state: T; loss: number; grads: Record<string, T>; scale_embedding_logits: T }
  generate: { input_ids: number[][]; attention_mask: number[][]; cases: { name: string; num_beams: number; max_new_tokens: number; length_penalty?: number; no_repeat_ngram_size?: number; min_length?: number; eos_token_id?: number; sequences: number[][] }[] }
}
const dir = `${root}${g.checkpoint}/`
const raw = JSON.parse(readFileSync(`${dir}config.json`, 'utf8')) as Record<string, unknown>
const fam = seq2seqFamily('bart')
async function load(cfg: Record<string, unknown>): Promise<Bart> {
  const m = fam.build(cfg) as Bart
  m.nameParameters()
  const st = await openSafetensorsFile(`${dir}model.safetensors`)
  await loadWeights(m, st, { basePrefix: m.basePrefix, ignorable: fam.ignorable })
  await st.close()
  return m
}
const model = await load(raw)
const runtime = new Runtime({ threads: 1 })
afterAll(() => runtime.dispose())
const i64 = (rows: number[][]): HostTensor => ({ data: BigInt64Array.from(rows.flat(), (v) => BigInt(v)), shape: [rows.length, rows[0]!.length], dtype: 'int64' })

describe('BART tokenizer (vocab.json + merges.txt of a BART folder)', () => {
  const tok = new TextPairTokenizer(loadTokenizer({ vocabJson: readFileSync(`${dir}vocab.json`, 'utf8'), mergesTxt: readFileSync(`${dir}merges.txt`, 'utf8'), tokenizerConfigJson: readFileSync(`${dir}tokenizer_config.json`, 'utf8') }))
  it("gives Hugging Face tokenizers' ids with <s> ... </s> for sources and targets alike (bpe-roberta goldens)", () => {
    expect(g.tokenizer.sources.map((s) => tok.encode(s))).toEqual(g.tokenizer.source_ids)
    expect(g.tokenizer.targets.map((s) => tok.encode(s, { target: true }))).toEqual(g.tokenizer.target_ids)
    expect(tok.eosId).toBe(2)
  })
  it('every string of the shared tokenizer goldens encodes as the reference does', () => {
    const strings = (JSON.parse(readFileSync(`${root}test/fixtures/tokenizers/strings.json`, 'utf8')) as { strings: string[] }).strings
    const golden = JSON.parse(readFileSync(`${root}test/fixtures/tokenizers/bpe-roberta/golden.json`, 'utf8')) as { strings: { special: { ids: number[] }; decodeSkip: string }[] }
    strings.forEach((s, i) => expect({ i, ids: tok.encode(s) }).toEqual({ i, ids: golden.strings[i]!.special.ids }))
  })
  it('decodes generated ids (</s> <s> ... </s>) to the text; truncation keeps </s>', () => {
    expect(g.tokenizer.target_ids.map((ids) => tok.decode([2, ...ids]))).toEqual(g.tokenizer.targets.map((t) => t.trim()))
    const ids = tok.encode(g.tokenizer.sources[2]!, { maxLength: 5 })
    expect(ids).toEqual([...g.tokenizer.source_ids[2]!.slice(0, 4), 2])
  })
})

describe('loading a BART folder', () => {
  it('reads the tokenizer, and a checkpoint without final_logits_bias (HF tolerates it) gets zeros', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'ft-bart-'))
    try {
      for (const f of ['config.json', 'vocab.json', 'merges.txt', 'tokenizer_config.json']) copyFileSync(`${dir}${f}`, join(tmp, f))
      await writeSafetensorsFile(join(tmp, 'model.safetensors'), modelTensors(model).filter(([k]) => k !== 'final_logits_bias'), { format: 'pt' })
      const m = await loadSeq2Seq(tmp)
      expect([m.family, m.model.architecture, m.tokenizer.eosId]).toEqual(['bart', 'BartForConditionalGeneration', 2])
      expect(new Map(m.model.namedParameters()).get('final_logits_bias')!.data.every((v) => v === 0)).toBe(true)
      expect(m.tokenizer.encode(g.tokenizer.sources[0]!)).toEqual(g.tokenizer.source_ids[0])
    } finally {
      rmSync(tmp, { recursive: true, force: true })
    }
  })
})

describe('BART matches the PyTorch reference', () => {
  it('config: bart-base defaults, forced bos/eos read, ids outside the vocabulary named', () => {
    const c = parseBartConfig({ vocab_size: 100 })
    expect([c.pad_token_id, c.bos_token_id, c.eos_token_id, c.decoder_start_token_id, c.forced_eos_token_id, c.forced_bos_token_id, c.scale_embedding]).toEqual([1, 0, 2, 2, 2, null, false])
    expect(parseBartConfig(raw).forced_bos_token_id).toBe(0)
    expect(() => parseBartConfig({ vocab_size: 100, forced_bos_token_id: 100 }, 'x/config.json')).toThrow(/x\/config\.json[\s\S]*forced_bos_token_id[\s\S]*100 is outside the vocabulary/)
  })

  it('logits, encoder output, loss and gradients (positions offset by 2, layernorm_embedding, tied head)', async () => {
    const f = g.forward
    const out = await checkSeq2SeqForward(model, f)
    const C = f.encoder_last_hidden_state.shape[2]!
    // position rows 0 and 1 are never read (offset 2): their gradient is zero here as there
    const pos = out['grad:model.encoder.embed_positions.weight']!
    expect(Math.max(...Array.from(pos.subarray(0, 2 * C), Math.abs))).toBe(0)
    expect(f.decoder_input_ids.every((r) => r[0] === 2)).toBe(true)
  })

  it('scale_embedding true multiplies the token embeddings by sqrt(d_model)', async () => {
    const scaled = await load({ ...raw, scale_embedding: true })
    const f = g.forward
    const [S, T] = [f.input_ids[0]!.length, f.labels[0]!.length]
    const out = await runGraph((gr) => ({ logits: scaled.logits({ input_ids: gr.input('a', [2, S], 'int64'), attention_mask: gr.input('m', [2, S], 'int64'), decoder_input_ids: gr.input('d', [2, T], 'int64') }) }), { a: i64(f.input_ids), m: i64(f.attention_mask), d: i64(f.decoder_input_ids) })
    const V = model.c.vocab_size
    const w = f.scale_embedding_logits
    const K = w.shape[2]!
    const got = Array.from({ length: 2 * T }, (_, r) => Array.from(out['logits']!.subarray(r * V, r * V + K))).flat()
    expectClose(got, w.data, 1e-4, 'logits with scale_embedding')
  })

  it('a cached decoder step gives the teacher-forced logits (1e-5)', async () => {
    const f = g.forward
    const full = await runGraph((gr) => ({ logits: model.logits({ input_ids: gr.input('a', [2, f.input_ids[0]!.length], 'int64'), attention_mask: gr.input('m', [2, f.input_ids[0]!.length], 'int64'), decoder_input_ids: gr.input('d', [2, f.labels[0]!.length], 'int64') }) }), { a: i64(f.input_ids), m: i64(f.attention_mask), d: i64(f.decoder_input_ids) })
    const V = model.c.vocab_size
    const T = f.labels[0]!.length
    const gen = new CachedSeq2Seq(model, runtime)
    const seen: Float32Array[] = []
    const origStep = gen.session.evaluate.bind(gen.session)
    gen.session.evaluate = async (b) => {
      const r = await origStep(b)
      if (b['decoder_input_ids']) seen.push(r.outputs['logits']!.data as Float32Array)
      return r
    }
    // the golden decoder inputs are </s> <s> ...: forcing <s> as the first token makes step 1 teacher-forced too
    await gen.generate(f.input_ids.map((r, i) => r.filter((_, j) => f.attention_mask[i]![j] === 1)), { ...GENERATION_DEFAULTS, maxNewTokens: 2, eosTokenId: null, padTokenId: model.padId, forcedBosTokenId: 0 })
    for (const [k, step] of seen.entries())
      for (let b = 0; b < 2; b++) expectClose(step.subarray(b * V, (b + 1) * V), full['logits']!.subarray((b * T + k) * V, (b * T + k + 1) * V), 1e-5, `step ${k} row ${b}`)
    expect(seen).toHaveLength(2)
  })
})

describe('BART generation matches HF generate (decoder start </s>, forced <s> first, forced </s> last, min_length)', () => {
  const gen = new CachedSeq2Seq(model, runtime)
  const c = parseBartConfig(raw)
  for (const k of g.generate.cases)
    it(k.name, async () => {
      const src = g.generate.input_ids.map((r, i) => r.filter((_, j) => g.generate.attention_mask[i]![j] === 1))
      const out = await gen.generate(src, { ...GENERATION_DEFAULTS, maxNewTokens: k.max_new_tokens, numBeams: k.num_beams, lengthPenalty: k.length_penalty ?? 1, noRepeatNgramSize: k.no_repeat_ngram_size ?? 0, eosTokenId: k.eos_token_id ?? c.eos_token_id, padTokenId: c.pad_token_id, forcedBosTokenId: c.forced_bos_token_id, forcedEosTokenId: c.forced_eos_token_id, minLength: k.min_length ?? 0 })
      expect(out.map((r) => [c.decoder_start_token_id, ...r])).toEqual(k.sequences)
    })
})
