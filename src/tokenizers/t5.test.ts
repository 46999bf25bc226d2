// T5's tokenizer against the slow T5Tokenizer's rules over python3-sentencepiece 0.1.97
// (scripts/t5_reference.py T5TokenizerRef, goldens from scripts/gen_t5_goldens.py) on the tiny
// spiece.model (unigram, nmt_nfkc) of test/fixtures/models/t5-v1_1-tiny, read by both backends: spiece.model
// and the tokenizer.json of t5-tiny built from it as transformers' T5Converter does (Precompiled normalizer).
// The strings avoid runs of spaces and leading/trailing spaces, where the fast and slow tokenizers
// are known to differ. Tolerance: exact ids and decoded text.
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { T5Tokenizer } from './t5.js'

const root = new URL('../../', import.meta.url).pathname
const dir = `${root}test/fixtures/models/t5-tiny/`
const g = (JSON.parse(readFileSync(`${root}test/golden/t5/t5.json`, 'utf8')) as { tokenizer: { strings: string[]; ids: number[][]; decoded: string[]; sp_size: number; extra_ids: number } }).tokenizer
const tokenizerConfigJson = readFileSync(`${dir}tokenizer_config.json`, 'utf8')
const backends = {
  'spiece.model': new T5Tokenizer({ spiece: readFileSync(`${root}test/fixtures/models/t5-v1_1-tiny/spiece.model`), tokenizerConfigJson }),
  'tokenizer.json': new T5Tokenizer({ tokenizerJson: readFileSync(`${dir}tokenizer.json`, 'utf8'), tokenizerConfigJson }),
}

describe.each(Object.entries(backends))('T5 tokenizer from %s', (_, tok) => {
  it(`ids equal T5Tokenizer's on ${g.strings.length} strings (NFKC folding, unknown characters, sentinels, </s> last)`, () => {
    g.strings.forEach((s, i) => expect(tok.encode(s), JSON.stringify(s)).toEqual(g.ids[i]))
  })
  it('special ids and vocabulary size: pad 0, eos 1, unk 2, sp size + 100 sentinels, <extra_id_0> last', () => {
    expect([tok.padId, tok.eosId, tok.unkId, tok.vocabSize]).toEqual([0, 1, 2, g.sp_size + g.extra_ids])
    expect(tok.sentinelId(0)).toBe(tok.vocabSize - 1)
    expect(() => tok.sentinelId(g.extra_ids)).toThrow(/extra_id_100> is out of range/)
  })
  it('decodes ids back to sentencepiece text, skipping pad, eos, sentinels and ids past the vocabulary', () => {
    g.strings.forEach((s, i) => {
      if (s.includes('<extra_id')) return
      expect(tok.decode([0, ...g.ids[i]!, 0, 315]), JSON.stringify(s)).toBe(g.decoded[i]!.replaceAll(' ⁇ ', ''))
    })
  })
  it('truncation keeps </s>', () => {
    expect(tok.encode(g.strings[0]!, { maxLength: 5 })).toEqual([...g.ids[0]!.slice(0, 4), tok.eosId])
  })
})

describe('T5 tokenizer files', () => {
  it('names what is missing or malformed', () => {
    expect(() => new T5Tokenizer({})).toThrow(/neither tokenizer.json nor spiece.model/)
    expect(() => new T5Tokenizer({ spiece: readFileSync(`${root}test/fixtures/models/t5-v1_1-tiny/spiece.model`), tokenizerConfigJson: '{"extra_ids": -1}' })).toThrow(/extra_ids is -1/)
  })
})
