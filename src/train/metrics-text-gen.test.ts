// Expected values are sacreBLEU's own test suite (test/fixtures/sacrebleu/cases.json says where
// from); tolerances are the ones those tests use (BLEU 1e-8 or 1e-3, chrF 1e-4).
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { bleuFromStats, bleuTokenize, corpusBleu, corpusChrf, pySplit, sentenceBleu, sentenceChrf, type BleuOptions, type BleuSmoothing, type BleuTokenize } from './metrics-text-gen.js'

/* eslint-disable @typescript-eslint/no-explicit-any */
const C: any = JSON.parse(readFileSync(new URL('../../test/fixtures/sacrebleu/cases.json', import.meta.url), 'utf8'))
const raw = (h: string[], r: string[][], floor: number): number => corpusBleu(h, r, { tokenize: 'none', smoothMethod: 'floor', smoothValue: floor, effectiveOrder: true }).bleu / 100

describe('corpus BLEU (sacreBLEU test_bleu.py)', () => {
  it('README example: default 13a/exp, none, intl, no smoothing, empty hypotheses', () => {
    for (const c of C.corpus_bleu) expect(Math.abs(corpusBleu(c.hyps ?? C.bleu_hyps, C.bleu_refs, c.opts as BleuOptions).bleu - c.bleu)).toBeLessThan(1e-8)
  })
  it('max n-gram order 1..6 to two decimals', () => {
    for (const [n, s] of C.max_ngram_order) expect(corpusBleu(C.bleu_hyps, C.bleu_refs, { maxNgramOrder: n }).bleu.toFixed(2)).toBe(s)
  })
  it('raw corpus BLEU and effective order', () => {
    for (const c of C.raw_corpus_bleu.cases) expect(Math.abs(raw(c.hyps, c.refs, 0.01) - c.score)).toBeLessThan(1e-8)
  })
  it('statistics and the floor offset', () => {
    const s = C.statistics
    const r = corpusBleu(s.hyps, s.refs, { tokenize: 'none', smoothMethod: 'floor', smoothValue: 0.01, effectiveOrder: true })
    expect(r.counts).toEqual(s.counts)
    expect(r.totals).toEqual(s.totals)
    expect(raw(s.hyps, s.refs, 0)).toBe(s.score_floor_0)
    const dflt = corpusBleu(s.hyps, s.refs, { tokenize: 'none', smoothMethod: 'floor', effectiveOrder: true }).bleu / 100
    expect(Math.abs(dflt - s.score_floor_default)).toBeLessThan(1e-8)
  })
  it('scoring from sufficient statistics, and degenerate statistics score 0', () => {
    const s = C.scoring
    expect(Math.abs(bleuFromStats(s.correct, s.total, s.sys_len, s.ref_len, { smoothMethod: 'none' }).bleu / 100 - s.score)).toBeLessThan(1e-8)
    for (const d of C.degenerate) expect(bleuFromStats(d.correct, d.total, d.sys_len, d.ref_len, { smoothMethod: 'floor', smoothValue: d.floor }).bleu).toBe(0)
  })
  it('reports precisions, brevity penalty and lengths', () => {
    const r = corpusBleu(C.bleu_hyps, C.bleu_refs)
    expect(r.sys_len).toBe(17)
    expect(r.precisions.length).toBe(4)
    expect(r.bp).toBeLessThanOrEqual(1)
    expect(r.bleu).toBeCloseTo(r.bp * Math.exp(r.precisions.reduce((a, p) => a + Math.log(p), 0) / 4), 10)
  })
})

describe('sentence BLEU (sacreBLEU test_sentence_bleu.py)', () => {
  const s = C.sentence_bleu
  it('smoothing methods, tokenisers and lowercasing', () => {
    for (const [method, value, lc, tok, want] of s.cases) {
      const opts: BleuOptions = { smoothMethod: method as BleuSmoothing, tokenize: tok as BleuTokenize, lowercase: lc }
      if (value !== null) opts.smoothValue = value
      expect(Math.abs(sentenceBleu(s.sys, [s.ref], opts).bleu - want), `${method} ${value} ${tok} ${lc}`).toBeLessThan(1e-3)
    }
  })
  it('no matching n-gram scores 0 whatever the smoothing', () => {
    for (const m of s.zero.methods) expect(sentenceBleu(s.zero.sys, [s.zero.ref], { smoothMethod: m }).bleu).toBe(0)
  })
})

describe('chrF (sacreBLEU test_chrf.py)', () => {
  const ch = C.chrf
  it('epsilon smoothing, beta 3', () => {
    for (const [h, r, want] of ch.eps_smoothing) expect(Math.abs(corpusChrf(h, [r], { beta: 3, epsSmoothing: true }).chrf - want), h[0]).toBeLessThan(1e-4)
  })
  it('effective order (the default), beta 3', () => {
    for (const [h, r, want] of ch.effective_order) expect(Math.abs(corpusChrf(h, [r], { beta: 3 }).chrf - want), h[0]).toBeLessThan(1e-4)
  })
  it('whitespace kept in character n-grams', () => {
    for (const [h, r, want] of ch.keep_whitespace) expect(Math.abs(corpusChrf(h, [r], { beta: 3, whitespace: true }).chrf - want)).toBeLessThan(1e-4)
  })
  it('sentence level, beta 2, Czech with diacritics', () => {
    for (const [h, r, want] of ch.sentence_default_eps.cases) expect(Math.abs(sentenceChrf(h, r, { epsSmoothing: true }).chrf - want)).toBeLessThan(1e-4)
  })
  it('chrF++ adds word unigrams and bigrams with punctuation split off', () => {
    const r = corpusChrf(['Hello, world!'], ['Hello, world!'], { wordOrder: 2 })
    expect(r.chrf).toBeCloseTo(100, 10)
    expect(r.stats.length).toBe(8)
    expect(r.stats[6]).toEqual([4, 4, 4]) // Hello , world !
    expect(r.stats[7]).toEqual([3, 3, 3])
  })
  it('the best of several references is kept per segment', () => {
    const one = corpusChrf(['the cat sat'], [['a dog ran']]).chrf
    const two = corpusChrf(['the cat sat'], [['a dog ran'], ['the cat sat']]).chrf
    expect(one).toBeLessThan(50)
    expect(two).toBeCloseTo(100, 10)
  })
})

describe('tokenisation and inputs', () => {
  it('13a splits punctuation but keeps apostrophes, decimal points and thousands separators', () => {
    // 13a leaves apostrophes and hyphens (except after a digit) attached, as mteval-v13a does
    expect(bleuTokenize("It wasn't 3.5 or 1,000 -- (ok)&amp;.")).toBe("It wasn't 3.5 or 1,000 -- ( ok ) & .")
    expect(bleuTokenize('1990-2000')).toBe('1990 - 2000')
  })
  it('splits on Python whitespace, counting astral characters once', () => {
    expect(pySplit(' a\u3000b\x1fc\ufeffd ')).toEqual(['a', 'b', 'c\ufeffd'])
    expect(bleuTokenize('a😀b', 'char')).toBe('a 😀 b')
  })
  it('a reference stream of the wrong length fails with a code', () => {
    expect(() => corpusBleu(['a', 'b'], [['a']])).toThrow(expect.objectContaining({ code: 'METRIC_LENGTH_MISMATCH' }))
  })
  it('missing references (null) are skipped per segment', () => {
    const r = corpusBleu(['a b c d', 'e f g h'], [['a b c d', 'e f g h'], ['x', null]])
    expect(r.bleu).toBeCloseTo(100, 10)
  })
})

describe('against sacreBLEU 2.6 on Unicode, multi-reference and chrF++ cases (scripts/gen_text_gen_metrics.py)', () => {
  const G: any = JSON.parse(readFileSync(new URL('../../test/fixtures/sacrebleu/computed.json', import.meta.url), 'utf8'))
  const refs = (n: number): (string | null)[][] => (n === 1 ? [G.refs_a] : [G.refs_a, G.refs_b])
  const camel = (o: Record<string, unknown>): any =>
    Object.fromEntries(Object.entries(o).map(([k, v]) => [k.replace(/_(\w)/g, (_, c: string) => c.toUpperCase()), v]))
  for (const c of G.cases)
    it(`${c.metric} ${c.name}`, () => {
      if (c.metric === 'bleu') {
        const r = corpusBleu(G.hyps, refs(c.refs), camel(c.opts))
        expect(Math.abs(r.bleu - c.bleu)).toBeLessThan(1e-9)
        expect(r.counts).toEqual(c.counts)
        expect(r.totals).toEqual(c.totals)
        expect([r.sys_len, r.ref_len]).toEqual([c.sys_len, c.ref_len])
        expect(Math.abs(r.bp - c.bp)).toBeLessThan(1e-12)
        r.precisions.forEach((p, i) => expect(Math.abs(p - c.precisions[i])).toBeLessThan(1e-9))
      } else {
        const o = camel(c.opts)
        expect(Math.abs(corpusChrf(G.hyps, refs(c.refs), o).chrf - c.chrf)).toBeLessThan(1e-9)
      }
    })
})
