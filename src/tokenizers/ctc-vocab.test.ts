import { describe, expect, it } from 'vitest'
import { argmaxFrames, ctcCollapse, CtcVocab } from './ctc-vocab.js'

const VOCAB = JSON.stringify({ '<pad>': 0, '<s>': 1, '</s>': 2, '<unk>': 3, '|': 4, E: 5, T: 6, A: 7, H: 8, "'": 9 })

describe('Wav2Vec2CTCTokenizer-style vocabulary', () => {
  const v = CtcVocab.fromFiles({ vocab: VOCAB })
  it('encodes spaces as the word delimiter and unknown characters as <unk>', () => {
    expect(v.encode('THE  HAT')).toEqual({ ids: [6, 8, 5, 4, 8, 7, 6], unknown: [] })
    expect(v.encode('THEY')).toEqual({ ids: [6, 8, 5, 3], unknown: ['Y'] })
  })
  it('lower-cases when tokenizer_config.json says do_lower_case, and reads renamed special tokens', () => {
    const lower = CtcVocab.fromFiles({ vocab: JSON.stringify({ '[PAD]': 0, '[UNK]': 1, ' ': 2, a: 3, t: 4 }), tokenizerConfig: JSON.stringify({ do_lower_case: true, pad_token: '[PAD]', unk_token: '[UNK]', word_delimiter_token: ' ' }) })
    expect(lower.pad).toBe(0)
    expect(lower.encode('AT A')).toEqual({ ids: [3, 4, 2, 3], unknown: [] })
    expect(lower.decodeFrames([0, 3, 3, 0, 4, 2, 2, 3, 0])).toBe('at a')
  })
  it('greedy decoding merges repeats before removing blanks, so a blank separates doubled letters', () => {
    expect(ctcCollapse([7, 7, 0, 7, 6, 6, 0, 0], 0)).toEqual([7, 7, 6])
    expect(v.decodeFrames([0, 6, 6, 8, 0, 5, 4, 4, 0, 8, 7, 0, 6, 0])).toBe('THE HAT')
    expect(v.decodeFrames([4, 0, 6, 4, 4, 0])).toBe('T')
  })
  it('takes the per-frame argmax over the valid frames only', () => {
    expect(argmaxFrames([0, 1, 0, 2, 0, 0, 9, 9, 9], 3, 2)).toEqual([1, 0])
  })
  it('names the file and the fix for a bad vocab.json', () => {
    expect(() => CtcVocab.fromFiles({ vocab: JSON.stringify({ a: 0, b: 2 }) })).toThrow(/vocab.json: ids run to 2 but 1 is missing/)
    expect(() => CtcVocab.fromFiles({ vocab: JSON.stringify({ a: 0 }) })).toThrow(/has no pad \(CTC blank\) token "<pad>"/)
    expect(() => CtcVocab.fromFiles({ vocab: '{' })).toThrow(/vocab.json: is not valid JSON/)
  })
})
