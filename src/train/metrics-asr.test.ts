import { describe, expect, it } from 'vitest'
import { charErrorRate, editOps, wordErrorRate } from './metrics-asr.js'

describe('word and character error rates (jiwer definitions)', () => {
  it('counts substitutions, deletions and insertions of a minimal alignment', () => {
    expect(editOps(['a', 'b', 'c'], ['a', 'x', 'c'])).toEqual({ substitutions: 1, deletions: 0, insertions: 0 })
    expect(editOps(['a', 'b', 'c'], ['a', 'c'])).toEqual({ substitutions: 0, deletions: 1, insertions: 0 })
    expect(editOps(['a', 'c'], ['a', 'b', 'c', 'd'])).toEqual({ substitutions: 0, deletions: 0, insertions: 2 })
    expect(editOps([], ['x'])).toEqual({ substitutions: 0, deletions: 0, insertions: 1 })
  })
  it('WER is summed edits over summed reference words, after stripping and collapsing spaces', () => {
    // jiwer's README example: wer("hello world", "hello duck") == 0.5
    expect(wordErrorRate(['hello world'], ['hello duck']).rate).toBe(0.5)
    // corpus level, not a mean of sentence rates: (1 + 0) / (2 + 4)
    const r = wordErrorRate(['hello world', 'the cat sat down'], ['  hello   there ', 'the cat sat down'])
    expect(r.rate).toBeCloseTo(1 / 6, 12)
    expect(r.referenceLength).toBe(6)
    // insertions can push WER above 1
    expect(wordErrorRate(['yes'], ['yes no no']).rate).toBe(2)
  })
  it('CER counts every character, the spaces between words included', () => {
    // "hello world" -> "hello duck": w/d o/u r/c l/k substituted, d deleted: 5 of 11 characters
    const r = charErrorRate(['hello world'], ['hello duck'])
    expect(r.rate).toBeCloseTo(5 / 11, 12)
    expect(r).toMatchObject({ substitutions: 4, deletions: 1, insertions: 0, referenceLength: 11 })
    expect(charErrorRate(['ab c'], ['abc']).rate).toBe(1 / 4)
  })
  it('refuses an empty reference corpus and mismatched lengths with what to do', () => {
    expect(() => wordErrorRate([''], ['x'])).toThrow(/every reference transcript is empty/)
    expect(() => charErrorRate(['a'], [])).toThrow(/1 references but 0 hypotheses/)
  })
})
