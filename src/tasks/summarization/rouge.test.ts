// ROUGE as HF evaluate's "rouge" (rouge_score, default tokenizer, no stemmer), checked against
// values worked out by hand in the comments: counts of clipped n-gram matches and LCS lengths.
import { describe, expect, it } from 'vitest'
import { corpusRouge, lcsLength, rougeL, rougeN, rougeTokens } from './rouge.js'

describe('ROUGE F-measures', () => {
  it('tokenises as rouge_score: lowercase, runs outside [a-z0-9] separate, non-ASCII letters dropped', () => {
    expect(rougeTokens("Don't STOP—now! 3.14")).toEqual(['don', 't', 'stop', 'now', '3', '14'])
    expect(rougeTokens('Größe ändern')).toEqual(['gr', 'e', 'ndern'])
    expect(rougeTokens('  ...  ')).toEqual([])
  })

  it('the cat sat on the mat / the cat was on the mat: R1 5/6, R2 3/5, RL 5/6', () => {
    const p = rougeTokens('The cat sat on the mat.')
    const r = rougeTokens('the cat was on the mat')
    // unigrams: the x2, cat, on, mat match (5 of 6 each side)
    expect(rougeN(p, r, 1)).toBeCloseTo(5 / 6, 12)
    // bigrams: "the cat", "on the", "the mat" match (3 of 5 each side)
    expect(rougeN(p, r, 2)).toBeCloseTo(3 / 5, 12)
    // LCS "the cat on the mat" = 5
    expect(lcsLength(p, r)).toBe(5)
    expect(rougeL(p, r)).toBeCloseTo(5 / 6, 12)
  })

  it('a prefix of the reference: precision 1, recall by length', () => {
    const p = ['a', 'b', 'c']
    const r = ['a', 'b', 'c', 'd', 'e', 'f']
    expect(rougeN(p, r, 1)).toBeCloseTo(2 / 3, 12)                 // P 1, R 1/2
    expect(rougeN(p, r, 2)).toBeCloseTo(4 / 7, 12)                 // P 2/2, R 2/5: 2 * 0.4 / 1.4
    expect(rougeL(p, r)).toBeCloseTo(2 / 3, 12)
  })

  it('clips repeated n-grams by the reference count; empty sides score 0', () => {
    // "the" x3 against one "the": overlap 1, P 1/3, R 1/2, F = 2 * (1/6) / (5/6) = 0.4
    expect(rougeN(['the', 'the', 'the'], ['the', 'cat'], 1)).toBeCloseTo(0.4, 12)
    expect(rougeN([], ['a'], 1)).toBe(0)
    expect(rougeN(['a'], ['a'], 2)).toBe(0)
    expect(rougeL([], ['a'])).toBe(0)
  })

  it('the corpus value is the mean over examples, times 100', () => {
    const c = corpusRouge(['The cat sat on the mat.', 'a b c'], ['the cat was on the mat', 'a b c d e f'])
    expect(c.rouge1).toBeCloseTo((100 * (5 / 6 + 2 / 3)) / 2, 9)
    expect(c.rouge2).toBeCloseTo((100 * (3 / 5 + 4 / 7)) / 2, 9)
    expect(c.rougeL).toBeCloseTo((100 * (5 / 6 + 2 / 3)) / 2, 9)
    expect(corpusRouge(['same words'], ['Same words!'])).toEqual({ rouge1: 100, rouge2: 100, rougeL: 100 })
  })
})
