// The Precompiled normalizer of tokenizer.json on a real nmt_nfkc table (from the unigram fixture
// trained by spm_train, see scripts/gen_spm_goldens.py). Expected strings are NFKC facts and the
// table's documented extras; the SentencePiece goldens (sentencepiece.test.ts) check the same
// table through sentencepiece's own longest-match application.
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { Normalized } from './normalized.js'
import { buildNormalizer } from './normalizers.js'
import { PrecompiledCharsmap } from './precompiled.js'
import { parseSentencePieceModel } from './sentencepiece-model.js'

const model = parseSentencePieceModel(readFileSync(new URL('../../test/fixtures/sentencepiece/unigram.model', import.meta.url)))
const b64 = Buffer.from(model.normalizer.precompiledCharsmap).toString('base64')
const norm = buildNormalizer({ type: 'Precompiled', precompiled_charsmap: b64 }, 'normalizer')!
const run = (s: string): Normalized => norm(Normalized.of(s))

describe('Precompiled normalizer', () => {
  it('applies NFKC folding from the table', () => {
    expect(run('ﬁnancial ① ＡＢＣ').text).toBe('financial 1 ABC')
    expect(run('ｶﾀｶﾅ').text).toBe('カタカナ')
    expect(run('e\u0301').text).toBe('é')
    expect(run('½ ™').text).toBe('1⁄2 TM')
  })
  it('maps whitespace and control characters as nmt_nfkc does', () => {
    expect(run('a\tb\u3000c').text).toBe('a b c')
    expect(run('zero\u200bwidth').text).toBe('zero width') // nmt_nfkc turns U+200B into a space (sentencepiece's goldens agree)
  })
  it('leaves text without rules unchanged, alignments intact', () => {
    const n = run('Größe 設定')
    expect(n.text).toBe('Größe 設定')
    expect(n.align).toEqual(Normalized.of('Größe 設定').align)
  })
  it('aligns a replacement with the original span it replaced', () => {
    const n = run('xﬁy')
    expect(n.text).toBe('xfiy')
    expect(n.align).toEqual([[0, 1], [1, 2], [1, 2], [2, 3]])
  })
  it('agrees with sentencepiece-style longest match where graphemes are single characters', () => {
    const t = new PrecompiledCharsmap(model.normalizer.precompiledCharsmap)
    const enc = new TextEncoder()
    for (const s of ['ＦＵＬＬ　ＷＩＤＴＨ', 'ß ẞ ǅ Ⅻ', 'Ελληνικά', '한국어', '①②③ ㍿']) {
      const bytes = enc.encode(s)
      let spm = ''
      for (let p = 0; p < bytes.length; ) {
        const hit = t.longestAt(bytes, p)
        if (hit) {
          spm += hit[0]
          p += hit[1]
        } else {
          const c = String.fromCodePoint(new TextDecoder().decode(bytes.subarray(p)).codePointAt(0)!)
          spm += c
          p += enc.encode(c).length
        }
      }
      expect(run(s).text, s).toBe(spm)
    }
  })
})
