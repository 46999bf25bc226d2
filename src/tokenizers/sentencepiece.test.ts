// Reference: Debian's sentencepiece 0.1.97 (python3-sentencepiece) on models trained by its
// spm_train, written by scripts/gen_spm_goldens.py. Tolerance: exact ids, pieces and decoded text.
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { SentencePieceProcessor } from './sentencepiece.js'
import { parseSentencePieceModel, PieceType } from './sentencepiece-model.js'

const dir = new URL('../../test/fixtures/sentencepiece/', import.meta.url)
const golden = JSON.parse(readFileSync(new URL('golden.json', dir), 'utf8')) as {
  strings: string[]
  models: Record<string, { ids: number[]; pieces: string[]; decoded: string }[]>
}
const load = (name: string): SentencePieceProcessor => new SentencePieceProcessor(parseSentencePieceModel(readFileSync(new URL(`${name}.model`, dir)), `${name}.model`))

describe('SentencePiece models', () => {
  it('reads the ModelProto: pieces, types, trainer and normalizer specs', () => {
    const u = parseSentencePieceModel(readFileSync(new URL('unigram.model', dir)))
    expect(u.modelType).toBe('unigram')
    expect(u.pieces.length).toBe(800)
    expect(u.pieces.slice(0, 3).map((p) => [p.piece, p.type])).toEqual([['<unk>', PieceType.UNKNOWN], ['<s>', PieceType.CONTROL], ['</s>', PieceType.CONTROL]])
    expect(u.normalizer.name).toBe('nmt_nfkc')
    expect(u.normalizer.precompiledCharsmap.length).toBeGreaterThan(100000)
    const b = parseSentencePieceModel(readFileSync(new URL('bpe.model', dir)))
    expect(b.modelType).toBe('bpe')
    expect(b.byteFallback).toBe(true)
    expect(b.normalizer.precompiledCharsmap.length).toBe(0)
    expect(b.pieces.filter((p) => p.type === PieceType.BYTE).length).toBe(256)
  })
  it('rejects a file that is not a model', () => {
    expect(() => parseSentencePieceModel(new Uint8Array([0xff, 0xff, 0xff]), 'x.model')).toThrow(expect.objectContaining({ code: 'TOKENIZER_BAD_SPM' }))
  })
  for (const name of Object.keys(golden.models))
    it(`${name}: ids, pieces and decoding match sentencepiece on ${golden.strings.length} strings`, () => {
      const sp = load(name)
      golden.strings.forEach((s, i) => {
        const want = golden.models[name]![i]!
        const got = sp.encode(s)
        expect(got.map((t) => t.piece), `#${i} ${JSON.stringify(s)}`).toEqual(want.pieces)
        expect(got.map((t) => t.id), `#${i} ${JSON.stringify(s)}`).toEqual(want.ids)
        expect(sp.decode(want.ids), `#${i} ${JSON.stringify(s)}`).toBe(want.decoded)
      })
    })
})
