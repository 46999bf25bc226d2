// Reference outputs come from scripts/gen_tokenizer_fixtures.py: Hugging Face's tokenizers (Rust)
// and sentencepiece, run on the fixtures in test/fixtures/tokenizers/. Tolerance: exact.
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { loadTokenizer, type TokenizerFiles } from './index.js'

const dir = new URL('../../test/fixtures/tokenizers/', import.meta.url)
const read = (p: string): string => readFileSync(new URL(p, dir), 'utf8')
const { strings, pairs } = JSON.parse(read('strings.json')) as { strings: string[]; pairs: Array<[string, string]> }

interface Enc {
  ids: number[]
  typeIds: number[]
  tokens: string[]
  attentionMask: number[]
  wordIds: Array<number | null>
  offsets: Array<[number, number]>
  specialTokensMask: number[]
}
interface Golden {
  strings: Array<{ plain: Enc; special: Enc; decodeSkip: string; decodeKeep: string }>
  pairs: Enc[]
  truncation: Array<{ pair: number; maxLength: number; strategy: 'LongestFirst' | 'OnlyFirst' | 'OnlySecond'; direction: 'left' | 'right'; ids?: number[]; typeIds?: number[]; wordIds?: Array<number | null>; error?: string }>
  singleTruncation: Array<{ string: number; maxLength: number; direction: 'left' | 'right'; ids: number[]; wordIds: Array<number | null> }>
  padding: Array<{ options: { maxLength?: number; padToMultipleOf?: number; direction?: 'left' }; texts: string[]; ids: number[][]; attentionMask: number[][]; typeIds: number[][] }>
  legacyIds: number[][] | null
  sentencepieceIds?: number[][]
  notes: Record<string, string>
}

const FIXTURES = ['wordpiece', 'bpe', 'bpe-roberta', 'unigram'] as const
const files = (name: string): TokenizerFiles => ({
  tokenizerJson: read(`${name}/tokenizer.json`),
  tokenizerConfigJson: read(`${name}/tokenizer_config.json`),
  specialTokensMapJson: read(`${name}/special_tokens_map.json`),
})
const strategyName = { LongestFirst: 'longest_first', OnlyFirst: 'only_first', OnlySecond: 'only_second' } as const

for (const name of FIXTURES) {
  describe(`${name} tokenizer matches Hugging Face tokenizers`, () => {
    const golden = JSON.parse(read(`${name}/golden.json`)) as Golden
    const tok = loadTokenizer(files(name))

    it('gives the reference ids, tokens, offsets and word ids for every string without special tokens', () => {
      strings.forEach((s, i) => {
        const e = tok.encode(s, null, { addSpecialTokens: false })
        const g = golden.strings[i]!.plain
        expect({ i, ids: e.ids, tokens: e.tokens }).toEqual({ i, ids: g.ids, tokens: g.tokens })
        expect({ i, offsets: e.offsets, wordIds: e.wordIds }).toEqual({ i, offsets: g.offsets, wordIds: g.wordIds })
      })
    })

    it('adds special tokens with the reference type ids, masks and word ids', () => {
      strings.forEach((s, i) => {
        const e = tok.encode(s)
        const g = golden.strings[i]!.special
        expect({ i, ids: e.ids, typeIds: e.typeIds, wordIds: e.wordIds, special: e.specialTokensMask, attention: e.attentionMask, offsets: e.offsets }).toEqual({
          i,
          ids: g.ids,
          typeIds: g.typeIds,
          wordIds: g.wordIds,
          special: g.specialTokensMask,
          attention: g.attentionMask,
          offsets: g.offsets,
        })
      })
    })

    it('encodes pairs like the reference', () => {
      pairs.forEach(([a, b], i) => {
        const e = tok.encode(a, b)
        const g = golden.pairs[i]!
        expect({ i, ids: e.ids, typeIds: e.typeIds, wordIds: e.wordIds, offsets: e.offsets }).toEqual({ i, ids: g.ids, typeIds: g.typeIds, wordIds: g.wordIds, offsets: g.offsets })
      })
    })

    it('truncates pairs with each strategy and side like the reference, and fails where the reference fails', () => {
      for (const t of golden.truncation) {
        const [a, b] = pairs[t.pair]!
        const run = (): { ids: number[]; typeIds: number[]; wordIds: Array<number | null> } => {
          const e = tok.encode(a, b, { truncation: strategyName[t.strategy], maxLength: t.maxLength, truncationSide: t.direction })
          return { ids: e.ids, typeIds: e.typeIds, wordIds: e.wordIds }
        }
        if (t.error) expect(run, JSON.stringify(t)).toThrow(/truncation/)
        else expect({ t, got: run() }).toEqual({ t, got: { ids: t.ids, typeIds: t.typeIds, wordIds: t.wordIds } })
      }
      for (const t of golden.singleTruncation) {
        const e = tok.encode(strings[t.string]!, null, { truncation: true, maxLength: t.maxLength, truncationSide: t.direction })
        expect({ t, ids: e.ids, wordIds: e.wordIds }).toEqual({ t, ids: t.ids, wordIds: t.wordIds })
      }
    })

    it('pads batches like the reference', () => {
      for (const p of golden.padding) {
        const es = tok.encodeBatch(p.texts, null, {
          padding: p.options.maxLength ? 'max_length' : 'longest',
          ...(p.options.maxLength ? { maxLength: p.options.maxLength } : {}),
          ...(p.options.padToMultipleOf ? { padToMultipleOf: p.options.padToMultipleOf } : {}),
          ...(p.options.direction ? { paddingSide: p.options.direction } : {}),
        })
        expect(es.map((e) => e.ids)).toEqual(p.ids)
        expect(es.map((e) => e.attentionMask)).toEqual(p.attentionMask)
        expect(es.map((e) => e.typeIds)).toEqual(p.typeIds)
      }
    })

    it('decodes like the reference, with and without special tokens', () => {
      strings.forEach((s, i) => {
        const g = golden.strings[i]!
        const ids = tok.encode(s).ids
        expect({ i, skip: tok.decode(ids, { skipSpecialTokens: true, cleanUpTokenizationSpaces: false }), keep: tok.decode(ids, { cleanUpTokenizationSpaces: false }) }).toEqual({
          i,
          skip: g.decodeSkip,
          keep: g.decodeKeep,
        })
      })
    })

    if (golden.legacyIds) {
      it('gives the same ids when built from the legacy vocabulary files', () => {
        const legacy = loadTokenizer(
          name === 'wordpiece'
            ? { vocabTxt: read(`${name}/vocab.txt`), tokenizerConfigJson: read(`${name}/tokenizer_config.json`) }
            : { vocabJson: read(`${name}/vocab.json`), mergesTxt: read(`${name}/merges.txt`), tokenizerConfigJson: read(`${name}/tokenizer_config.json`) },
        )
        strings.forEach((s, i) => {
          expect({ i, ids: legacy.encode(s, null, { addSpecialTokens: false }).ids }).toEqual({ i, ids: golden.legacyIds![i] })
        })
        pairs.forEach(([a, b], i) => {
          const e = legacy.encode(a, b)
          expect({ i, ids: e.ids, typeIds: e.typeIds }).toEqual({ i, ids: golden.pairs[i]!.ids, typeIds: golden.pairs[i]!.typeIds })
        })
      })
    }

    if (golden.sentencepieceIds) {
      it('gives sentencepiece ids exactly, except where the generator recorded why the references differ', () => {
        strings.forEach((s, i) => {
          const ids = tok.encode(s, null, { addSpecialTokens: false }).ids
          if (golden.notes[String(i)]) expect(ids).not.toEqual(golden.sentencepieceIds![i])
          else expect({ i, ids }).toEqual({ i, ids: golden.sentencepieceIds![i] })
        })
      })
    }
  })
}

describe('other tokenizer.json components match Hugging Face tokenizers', () => {
  const variants = JSON.parse(read('variants.json')) as Array<{
    base: string
    name: string
    overrides: Record<string, unknown>
    strings: Array<{ plain: Enc; specialIds: number[]; decode: string }>
  }>
  for (const v of variants) {
    it(`${v.name}: ids, tokens, offsets, word ids and decoding for every string`, () => {
      const tokenizerJson = JSON.stringify({ ...JSON.parse(read(`${v.base}/tokenizer.json`)), ...v.overrides })
      const tok = loadTokenizer({ ...files(v.base), tokenizerJson })
      strings.forEach((s, i) => {
        const e = tok.encode(s, null, { addSpecialTokens: false })
        const g = v.strings[i]!
        expect({ i, ids: e.ids, tokens: e.tokens, offsets: e.offsets, wordIds: e.wordIds }).toEqual({ i, ids: g.plain.ids, tokens: g.plain.tokens, offsets: g.plain.offsets, wordIds: g.plain.wordIds })
        const full = tok.encode(s).ids
        expect({ i, ids: full, decode: tok.decode(full, { cleanUpTokenizationSpaces: false }) }).toEqual({ i, ids: g.specialIds, decode: g.decode })
      })
    })
  }
})
