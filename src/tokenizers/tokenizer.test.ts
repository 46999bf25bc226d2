import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { TokenizerError } from '../errors.js'
import { loadTokenizer, type Tokenizer, type TokenizerFiles } from './index.js'

const dir = new URL('../../test/fixtures/tokenizers/', import.meta.url)
const read = (p: string): string => readFileSync(new URL(p, dir), 'utf8')
const { strings, pairs } = JSON.parse(read('strings.json')) as { strings: string[]; pairs: Array<[string, string]> }
const files = (name: string): TokenizerFiles => ({
  tokenizerJson: read(`${name}/tokenizer.json`),
  tokenizerConfigJson: read(`${name}/tokenizer_config.json`),
  specialTokensMapJson: read(`${name}/special_tokens_map.json`),
})
const bert = loadTokenizer(files('wordpiece'))
const gpt2 = loadTokenizer(files('bpe'))
const roberta = loadTokenizer(files('bpe-roberta'))
const t5 = loadTokenizer(files('unigram'))
const plain = (tok: Tokenizer, s: string): number[] => tok.encode(s, null, { addSpecialTokens: false }).ids

/** Runs fn and returns the TokenizerError it throws. */
function caught(fn: () => unknown): TokenizerError {
  try {
    fn()
  } catch (e) {
    if (e instanceof TokenizerError) return e
    throw e
  }
  throw new Error('expected a TokenizerError')
}

describe('special tokens follow the documented templates', () => {
  it('BERT: [CLS] A [SEP] B [SEP] with type ids 0 then 1', () => {
    const [a, b] = ['Hello, world!', 'café naïve']
    const e = bert.encode(a, b)
    const ia = plain(bert, a)
    const ib = plain(bert, b)
    expect(e.ids).toEqual([bert.clsId, ...ia, bert.sepId, ...ib, bert.sepId])
    expect(e.typeIds).toEqual([0, ...ia.map(() => 0), 0, ...ib.map(() => 1), 1])
    expect(e.tokens[0]).toBe('[CLS]')
    expect(bert.encode(a).ids).toEqual([bert.clsId, ...ia, bert.sepId])
  })

  it('RoBERTa: <s> A </s></s> B </s> with all type ids 0', () => {
    const [a, b] = ['Hello, world!', 'café naïve']
    const e = roberta.encode(a, b)
    expect(e.ids).toEqual([roberta.clsId, ...plain(roberta, a), roberta.sepId, roberta.sepId, ...plain(roberta, b), roberta.sepId])
    expect(e.typeIds.every((t) => t === 0)).toBe(true)
    expect([roberta.bosId, roberta.eosId]).toEqual([roberta.tokenToId('<s>'), roberta.tokenToId('</s>')])
  })

  it('GPT-2: no special tokens, a pair is the two sequences back to back', () => {
    const [a, b] = ['Hello, world!', 'café naïve']
    expect(gpt2.encode(a).ids).toEqual(plain(gpt2, a))
    expect(gpt2.encode(a, b).ids).toEqual([...plain(gpt2, a), ...plain(gpt2, b)])
    expect([gpt2.clsId, gpt2.sepId, gpt2.padId, gpt2.maskId]).toEqual([undefined, undefined, undefined, undefined])
    expect(gpt2.eosId).toBe(gpt2.tokenToId('<|endoftext|>'))
  })

  it('T5-style template from tokenizer.json: A </s>', () => {
    expect(t5.encode('Hello').ids).toEqual([...plain(t5, 'Hello'), t5.eosId])
  })
})

describe('added tokens', () => {
  it('matches special tokens in the middle of text whole, and only their exact spelling', () => {
    const e = bert.encode('the [MASK] sat on [SEP] it', null, { addSpecialTokens: false })
    expect(e.ids.filter((i) => i === bert.maskId)).toHaveLength(1)
    expect(e.ids.filter((i) => i === bert.sepId)).toHaveLength(1)
    expect(e.tokens).toContain('[MASK]')
    // special tokens are not normalized, so the lowercase spelling is ordinary text
    expect(plain(bert, 'the [mask]')).not.toContain(bert.maskId)
  })

  it("RoBERTa's <mask> takes the space before it (lstrip); trimmed offsets point at the mask itself", () => {
    const text = 'a <mask> b'
    const e = roberta.encode(text, null, { addSpecialTokens: false })
    const k = e.ids.indexOf(roberta.maskId!)
    expect(e.tokens[k]).toBe(' <mask>')
    expect(text.slice(...e.offsets[k]!)).toBe('<mask>')
    expect(e.tokens[k - 1]).toBe('a') // the space went to <mask>, not to "a"
  })

  it('gives added tokens their own word id', () => {
    const e = bert.encode('hello [MASK] world', null, { addSpecialTokens: false })
    expect(e.wordIds).toEqual(e.tokens.map((t, i) => (t === '[MASK]' ? 1 : e.wordIds[i])))
    expect(new Set(e.wordIds)).toEqual(new Set([0, 1, 2]))
  })
})

describe('word ids align tokens with words for token classification', () => {
  it('numbers the words of each text from 0, with null for specials and padding', () => {
    const e = bert.encodeBatch(['HuggingFace is in New York', 'hi'], null, { padding: 'longest' })
    const first = e[0]!
    expect(first.wordIds[0]).toBeNull()
    expect(first.wordIds[first.wordIds.length - 1]).toBeNull()
    const words = first.wordIds.filter((w): w is number => w !== null)
    expect([...new Set(words)]).toEqual([0, 1, 2, 3, 4])
    expect(e[1]!.wordIds.slice(-3)).toEqual([null, null, null])
  })

  it('keeps the tokens of a word contiguous, inside that word, for every fixture string', () => {
    for (const tok of [bert, gpt2, roberta, t5]) {
      for (const s of strings) {
        const e = tok.encode(s, null, { addSpecialTokens: false })
        let last = -1
        e.wordIds.forEach((w, i) => {
          expect(w).not.toBeNull()
          expect(w!).toBeGreaterThanOrEqual(last)
          last = w!
          const [a, b] = e.offsets[i]!
          expect(0 <= a && a <= b && b <= s.length).toBe(true)
        })
      }
    }
  })

  it('labels the first token of each word when aligning word labels', () => {
    const words = ['Paris', 'is', 'lovely']
    const labels = ['LOC', 'O', 'O']
    const e = gpt2.encode(words.join(' '), null, { addSpecialTokens: false })
    const aligned = e.wordIds.map((w, i) => (w === null || e.wordIds[i - 1] === w ? null : labels[w]))
    expect(aligned.filter((l) => l !== null)).toEqual(labels)
  })
})

describe('truncation', () => {
  const [a, b] = pairs[0]!
  it('only_first and only_second cut the named sequence; longest_first cuts the longer', () => {
    const la = plain(bert, a).length
    const lb = plain(bert, b).length
    const max = la + lb + 3 - 2
    const first = bert.encode(a, b, { truncation: 'only_first', maxLength: max })
    expect(first.typeIds.filter((t) => t === 0).length - 2).toBe(la - 2)
    const second = bert.encode(a, b, { truncation: 'only_second', maxLength: max })
    expect(second.typeIds.filter((t) => t === 1).length - 1).toBe(lb - 2)
    const longest = bert.encode(a, b, { truncation: true, maxLength: max })
    expect(longest.ids).toHaveLength(max)
    expect(longest.ids.slice(0, la + 2)).toEqual(bert.encode(a, b).ids.slice(0, la + 2))
  })

  it('leaves room for special tokens and uses model_max_length by default', () => {
    const long = 'word '.repeat(600)
    expect(bert.encode(long, null, { truncation: true }).ids).toHaveLength(512)
    const e = bert.encode(long, null, { truncation: true, maxLength: 6 })
    expect(e.ids).toHaveLength(6)
    expect(e.ids[5]).toBe(bert.sepId)
  })

  it('cuts from the left when asked', () => {
    const ids = plain(gpt2, a)
    expect(gpt2.encode(a, null, { truncation: true, maxLength: 3, truncationSide: 'left' }).ids).toEqual(ids.slice(-3))
  })

  it('explains impossible truncations', () => {
    expect(caught(() => bert.encode(a, b, { truncation: 'only_first', maxLength: 5 })).code).toBe('TOKENIZER_TRUNCATION')
    expect(caught(() => bert.encode(a, null, { truncation: 'only_second', maxLength: 5 })).message).toMatch(/needs a pair/)
    const small = caught(() => bert.encode(a, b, { truncation: true, maxLength: 2 }))
    expect(small.code).toBe('TOKENIZER_MAX_LENGTH_TOO_SMALL')
    expect(small.hint).toMatch(/maxLength >= 4/)
  })
})

describe('padding', () => {
  const texts = ['Hello, world!', 'a', 'The quick brown fox']
  it('pads to the longest with pad ids, zero masks, type id 0 and null word ids', () => {
    const es = bert.encodeBatch(texts, null, { padding: 'longest' })
    const n = Math.max(...texts.map((t) => bert.encode(t).ids.length))
    for (const [i, e] of es.entries()) {
      const real = bert.encode(texts[i]!).ids
      expect(e.ids).toEqual([...real, ...Array<number>(n - real.length).fill(bert.padId!)])
      expect(e.attentionMask).toEqual([...real.map(() => 1), ...Array<number>(n - real.length).fill(0)])
      expect(e.typeIds.slice(real.length).every((t) => t === 0)).toBe(true)
      expect(e.offsets.slice(real.length).every(([s, t]) => s === 0 && t === 0)).toBe(true)
    }
  })

  it('pads on the left, to max_length, and to a multiple', () => {
    const left = roberta.encodeBatch(texts, null, { padding: 'longest', paddingSide: 'left' })
    const real = roberta.encode('a').ids
    expect(left[1]!.ids.slice(-real.length)).toEqual(real)
    expect(left[1]!.ids[0]).toBe(roberta.padId)
    expect(left[1]!.attentionMask[0]).toBe(0)
    expect(roberta.encodeBatch(texts, null, { padding: 'max_length', maxLength: 20 }).map((e) => e.ids.length)).toEqual([20, 20, 20])
    expect(roberta.encodeBatch(texts, null, { padding: 'longest', padToMultipleOf: 8 })[0]!.ids.length % 8).toBe(0)
    expect(roberta.encode('a', null, { padding: 'max_length', maxLength: 7 }).ids).toHaveLength(7)
  })

  it('pads pairs and truncates them together in a batch', () => {
    const es = bert.encodeBatch(['one', 'two three four five six'], ['x', 'y'], { padding: 'max_length', truncation: true, maxLength: 6 })
    expect(es.map((e) => e.ids.length)).toEqual([6, 6])
    expect(es[1]!.attentionMask).toEqual([1, 1, 1, 1, 1, 1])
  })

  it('refuses to pad without a pad token and says how to fix it', () => {
    const err = caught(() => gpt2.encodeBatch(texts, null, { padding: 'longest' }))
    expect(err.code).toBe('TOKENIZER_NO_PAD_TOKEN')
    expect(err.hint).toMatch(/pad_token/)
    const withPad = loadTokenizer({ ...files('bpe'), tokenizerConfigJson: JSON.stringify({ ...JSON.parse(read('bpe/tokenizer_config.json')), pad_token: '<|endoftext|>' }) })
    expect(withPad.padId).toBe(gpt2.eosId)
    expect(withPad.encodeBatch(texts, null, { padding: 'longest' })[1]!.ids.at(-1)).toBe(gpt2.eosId)
  })
})

describe('decode', () => {
  it('round-trips every fixture string through byte-level BPE exactly', () => {
    // except where <mask> swallowed a space (lstrip): its id decodes to "<mask>" alone, as in tokenizers
    for (const tok of [gpt2, roberta]) for (const s of strings) if (tok === gpt2 || !s.includes(' <mask>')) expect(tok.decode(tok.encode(s, null, { addSpecialTokens: false }).ids)).toBe(s)
    expect(roberta.decode(roberta.encode('Hello, world!').ids, { skipSpecialTokens: true })).toBe('Hello, world!')
  })

  it('round-trips text the vocabularies cover', () => {
    const s = 'The license grants you the freedom to share and change the program.'
    expect(bert.decode(bert.encode(s).ids, { skipSpecialTokens: true })).toBe(s.toLowerCase())
    expect(t5.decode(t5.encode(s).ids, { skipSpecialTokens: true })).toBe(s)
    expect(bert.decode(bert.encode(s).ids)).toBe(`[CLS] ${s.toLowerCase()} [SEP]`)
  })

  it('decodes an empty list to an empty string and skips unknown ids', () => {
    expect(bert.decode([])).toBe('')
    expect(gpt2.decode([...plain(gpt2, 'hi'), 999_999])).toBe('hi')
  })
})

describe('vocabulary access', () => {
  it('maps tokens and ids both ways, added tokens included', () => {
    expect(bert.idToToken(bert.tokenToId('##ing')!)).toBe('##ing')
    expect(bert.tokenToId('[MASK]')).toBe(bert.maskId)
    expect(bert.tokenToId('no-such-token')).toBeUndefined()
    expect(bert.vocabSize).toBe(read('wordpiece/vocab.txt').trimEnd().split('\n').length)
    expect(roberta.vocabSize).toBe(roberta.maskId! + 1)
    expect([bert.modelMaxLength, gpt2.modelMaxLength]).toEqual([512, 1024])
    expect(t5.unkId).toBe(2)
  })
})

describe('toFiles', () => {
  it('writes a folder that loads back to the same ids, pairs and specials', () => {
    for (const [name, tok] of [['wordpiece', bert], ['bpe', gpt2], ['bpe-roberta', roberta], ['unigram', t5]] as const) {
      const out = tok.toFiles()
      expect(Object.keys(out).sort()).toEqual(['special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json'])
      const again = loadTokenizer({ tokenizerJson: out['tokenizer.json']!, tokenizerConfigJson: out['tokenizer_config.json']!, specialTokensMapJson: out['special_tokens_map.json']! })
      for (const s of strings) expect(again.encode(s).ids, `${name}: ${s}`).toEqual(tok.encode(s).ids)
      for (const [a, b] of pairs) expect(again.encode(a, b).typeIds).toEqual(tok.encode(a, b).typeIds)
      expect([again.padId, again.clsId, again.eosId, again.maskId, again.modelMaxLength]).toEqual([tok.padId, tok.clsId, tok.eosId, tok.maskId, tok.modelMaxLength])
      expect(JSON.parse(out['tokenizer_config.json']!).tokenizer_class).toBeTypeOf('string')
    }
  })

  it('turns legacy vocabulary files into tokenizer.json that loads alone', () => {
    const legacy = loadTokenizer({ vocabJson: read('bpe-roberta/vocab.json'), mergesTxt: read('bpe-roberta/merges.txt') })
    const out = legacy.toFiles()
    const tj = JSON.parse(out['tokenizer.json']!)
    expect(tj.model.type).toBe('BPE')
    expect(tj.post_processor.type).toBe('RobertaProcessing')
    expect(JSON.parse(out['tokenizer_config.json']!).tokenizer_class).toBe('RobertaTokenizer')
    const again = loadTokenizer({ tokenizerJson: out['tokenizer.json']! })
    for (const s of strings) expect(again.encode(s).ids).toEqual(roberta.encode(s).ids)
  })
})

describe('legacy files and the kind hint', () => {
  const bpeFiles = { vocabJson: read('bpe/vocab.json'), mergesTxt: read('bpe/merges.txt') }
  it('builds GPT-2 or RoBERTa post-processing from tokenizer_class or the kind hint', () => {
    expect(loadTokenizer(bpeFiles).encode('hi').ids).toEqual(plain(gpt2, 'hi'))
    const rvocab = { vocabJson: read('bpe-roberta/vocab.json'), mergesTxt: read('bpe-roberta/merges.txt') }
    const asGpt2 = loadTokenizer(rvocab, { kind: 'gpt2' })
    expect(asGpt2.encode('hi').ids).toEqual(plain(roberta, 'hi'))
    const byClass = loadTokenizer({ ...rvocab, tokenizerConfigJson: JSON.stringify({ tokenizer_class: 'RobertaTokenizerFast' }) })
    expect(byClass.encode('hi').ids).toEqual(roberta.encode('hi').ids)
  })

  it('reads do_lower_case from tokenizer_config.json for vocab.txt', () => {
    const vocabTxt = read('wordpiece/vocab.txt')
    const cased = loadTokenizer({ vocabTxt, tokenizerConfigJson: JSON.stringify({ do_lower_case: false }) })
    const uncased = loadTokenizer({ vocabTxt })
    expect(uncased.encode('The').ids).toEqual(bert.encode('The').ids)
    expect(cased.encode('The').tokens).not.toEqual(uncased.encode('The').tokens)
    expect(cased.encode('The').tokens[1]).toBe('[UNK]') // no "T" in this uncased vocabulary
  })
})

describe('errors name the file and the feature', () => {
  it('reports a missing vocabulary', () => {
    const e = caught(() => loadTokenizer({ tokenizerConfigJson: '{}' }))
    expect(e.code).toBe('TOKENIZER_MISSING_VOCAB')
    expect(e.message).toMatch(/tokenizer\.json, vocab\.txt, or vocab\.json \+ merges\.txt/)
    expect(e.hint).toBeTruthy()
    expect(caught(() => loadTokenizer({ vocabJson: '{}' })).message).toMatch(/merges\.txt is missing/)
  })

  it('reports an unsupported model type with the supported ones', () => {
    const tj = JSON.parse(read('wordpiece/tokenizer.json'))
    tj.model.type = 'CharLevel'
    const e = caught(() => loadTokenizer({ tokenizerJson: JSON.stringify(tj) }))
    expect(e.code).toBe('TOKENIZER_UNSUPPORTED')
    expect(e.message).toMatch(/tokenizer\.json model: model type "CharLevel" is not supported/)
    expect(e.hint).toMatch(/WordPiece, BPE, Unigram/)
  })

  it('reports a corrupt Precompiled table, unsupported pre-tokenizers and regexes', () => {
    const tj = JSON.parse(read('unigram/tokenizer.json'))
    const withNorm = { ...tj, normalizer: { type: 'Precompiled', precompiled_charsmap: 'AAAA' } }
    expect(caught(() => loadTokenizer({ tokenizerJson: JSON.stringify(withNorm) })).message).toMatch(/precompiled_charsmap: has 3 bytes/)
    const withPre = { ...tj, pre_tokenizer: { type: 'UnicodeScripts' } }
    expect(caught(() => loadTokenizer({ tokenizerJson: JSON.stringify(withPre) })).hint).toMatch(/Metaspace/)
    const withRegex = { ...tj, pre_tokenizer: { type: 'Split', pattern: { Regex: "(?i:'s|'t)" }, behavior: 'Isolated', invert: false } }
    expect(caught(() => loadTokenizer({ tokenizerJson: JSON.stringify(withRegex) })).code).toBe('TOKENIZER_UNSUPPORTED_REGEX')
  })

  it('reports broken files and mismatched kinds', () => {
    expect(caught(() => loadTokenizer({ tokenizerJson: '{"model": ' })).message).toMatch(/^tokenizer\.json: is not valid JSON/)
    expect(caught(() => loadTokenizer({ vocabTxt: read('wordpiece/vocab.txt') }, { kind: 'gpt2' })).code).toBe('TOKENIZER_KIND_MISMATCH')
    expect(caught(() => loadTokenizer({ vocabTxt: 'a\nb\n' })).message).toMatch(/vocab\.txt: has no \[UNK\]/)
    const badMerge = caught(() => loadTokenizer({ vocabJson: '{"a": 0, "b": 1}', mergesTxt: '#version: 0.2\na b\n' }))
    expect(badMerge.code).toBe('TOKENIZER_BAD_MERGES')
  })
})

describe('tokenizer.json features beyond the fixtures', () => {
  const wordLevel = (extra: object): Tokenizer =>
    loadTokenizer({
      tokenizerJson: JSON.stringify({
        added_tokens: [],
        normalizer: null,
        pre_tokenizer: { type: 'Whitespace' },
        post_processor: null,
        decoder: null,
        model: { type: 'WordLevel', vocab: { '[UNK]': 0, hello: 1, world: 2, '!': 3, HELLO: 4 }, unk_token: '[UNK]' },
        ...extra,
      }),
    })

  it('runs normalizer sequences, splits and a plain-join decoder', () => {
    const tok = wordLevel({ normalizer: { type: 'Sequence', normalizers: [{ type: 'NFKC' }, { type: 'Lowercase' }, { type: 'Strip', strip_left: true, strip_right: true }] } })
    expect(tok.encode('  ＨＥＬＬＯ world!! ').ids).toEqual([1, 2, 0])
    expect(tok.decode([1, 2])).toBe('hello world')
  })

  it('matches single_word added tokens only as whole words', () => {
    const tok = wordLevel({ added_tokens: [{ id: 4, content: 'HELLO', single_word: true, lstrip: false, rstrip: false, normalized: false, special: false }] })
    expect(tok.encode('HELLO world').ids).toEqual([4, 2])
    expect(tok.encode('xHELLO world').ids).toEqual([0, 2])
  })
})
