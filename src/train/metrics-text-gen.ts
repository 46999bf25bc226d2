/**
 * Metrics of generated text against references: corpus BLEU and chrF/chrF++ as sacreBLEU 2.x
 * computes them (https://github.com/mjpost/sacrebleu, metrics/bleu.py and metrics/chrf.py), so a
 * score printed here can be compared with a paper's. Defaults are sacreBLEU's: BLEU with 13a
 * tokenisation, exponential smoothing and n = 4; chrF with 6 character n-grams, beta = 2, whitespace
 * removed, no epsilon smoothing (chrF++ is `wordOrder: 2`).
 *
 * Strings are handled as Python does: characters are code points (not UTF-16 units), and "split
 * on whitespace" uses Python's str.split() whitespace set, so astral characters and U+001C..U+001F
 * count as they do in sacreBLEU.
 */
import { ConfigError } from '../errors.js'

/** Tokenisers of sacreBLEU that need no external tools. */
export type BleuTokenize = '13a' | 'intl' | 'char' | 'none'
/** Smoothing methods of Chen & Cherry (2014) as sacreBLEU names them. */
export type BleuSmoothing = 'exp' | 'floor' | 'add-k' | 'none'

export interface BleuOptions {
  /** Default '13a' (mteval-v13a, WMT's standard). */
  tokenize?: BleuTokenize
  /** Default 'exp'. */
  smoothMethod?: BleuSmoothing
  /** For 'floor' (default 0.1) and 'add-k' (default 1). */
  smoothValue?: number
  lowercase?: boolean
  /** Default 4. */
  maxNgramOrder?: number
  /** Stop at the highest order with any hypothesis n-grams (sacreBLEU's sentence-level setting). Default false. */
  effectiveOrder?: boolean
}

/** A BLEU score with sacreBLEU's field names; `bleu` and `precisions` are on the 0-100 scale. */
export interface BleuScore {
  bleu: number
  counts: number[]
  totals: number[]
  precisions: number[]
  bp: number
  sys_len: number
  ref_len: number
}

export interface ChrfOptions {
  /** Character n-gram order, default 6. */
  charOrder?: number
  /** Word n-gram order, default 0; 2 gives chrF++. */
  wordOrder?: number
  /** Recall weight, default 2. */
  beta?: number
  lowercase?: boolean
  /** Keep whitespace inside character n-grams. Default false (sacreBLEU removes it). */
  whitespace?: boolean
  /** chrF++.py-style epsilon smoothing instead of sacreBLEU's effective order. Default false. */
  epsSmoothing?: boolean
}

/** References as sacreBLEU takes them: one stream per reference set, each as long as the hypotheses; or one plain stream. */
export type References = readonly string[] | readonly (readonly (string | null | undefined)[])[]

// Python's str.isspace() set; JS's \s differs (it has U+FEFF, lacks U+001C..U+001F).
const PY_WS = '\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000'
const PY_WS_RUN = new RegExp(`[${PY_WS}]+`, 'gu')
const PY_WS_END = new RegExp(`[${PY_WS}]+$`, 'u')

/** Python's `s.split()`: words between runs of whitespace, none empty. */
export function pySplit(s: string): string[] {
  return s.split(PY_WS_RUN).filter((w) => w !== '')
}

// 13a: mteval-v13a.pl's tokenisation (sacreBLEU tokenizer_13a.py + tokenizer_re.py)
const RE_13A: [RegExp, string][] = [
  [/([{-~[-` -&(-+:-@/])/g, ' $1 '],
  [/([^0-9])([.,])/g, '$1 $2 '],
  [/([.,])([^0-9])/g, ' $1 $2'],
  [/([0-9])(-)/g, '$1 $2 '],
]
// intl: mteval-v14 international tokenisation (Unicode punctuation and symbols)
const RE_INTL: [RegExp, string][] = [
  [/(\P{N})(\p{P})/gu, '$1 $2 '],
  [/(\p{P})(\P{N})/gu, ' $1 $2'],
  [/(\p{S})/gu, ' $1 '],
]

/** The tokenisation sacreBLEU applies to each segment before counting n-grams. */
export function bleuTokenize(line: string, tokenize: BleuTokenize = '13a'): string {
  switch (tokenize) {
    case 'none':
      return line
    case 'char':
      return Array.from(line).join(' ')
    case 'intl': {
      for (const [re, r] of RE_INTL) line = line.replace(re, r)
      return pySplit(line).join(' ')
    }
    case '13a': {
      line = line.replaceAll('<skipped>', '').replaceAll('-\n', '').replaceAll('\n', ' ')
      if (line.includes('&')) line = line.replaceAll('&quot;', '"').replaceAll('&amp;', '&').replaceAll('&lt;', '<').replaceAll('&gt;', '>')
      line = ` ${line} `
      for (const [re, r] of RE_13A) line = line.replace(re, r)
      return pySplit(line).join(' ')
    }
  }
}

const SMOOTH_DEFAULTS: Record<BleuSmoothing, number> = { none: 0, floor: 0.1, 'add-k': 1, exp: 0 }

/** Segment i's references, with missing ones (null/undefined) dropped as sacreBLEU allows. */
function referenceSets(nHyp: number, refs: References, metric: string): string[][] {
  const streams: readonly (readonly (string | null | undefined)[])[] =
    refs.length > 0 && typeof refs[0] === 'string' ? [refs as readonly string[]] : (refs as readonly (readonly (string | null | undefined)[])[])
  if (streams.length === 0) throw new ConfigError('METRIC_NO_REFERENCES', `${metric}: no references given`, 'pass one reference string per hypothesis, or several streams of them')
  streams.forEach((s, k) => {
    if (s.length !== nHyp)
      throw new ConfigError('METRIC_LENGTH_MISMATCH', `${metric}: reference stream ${k} has ${s.length} segments, hypotheses have ${nHyp}`, 'each reference stream must have one entry per hypothesis (null where a segment lacks that reference)')
  })
  const out: string[][] = []
  for (let i = 0; i < nHyp; i++) out.push(streams.map((s) => s[i]).filter((x): x is string => typeof x === 'string'))
  return out
}

/** All word n-grams of orders 1..maxOrder (keys join tokens with U+0001) and the token count. */
function wordNgrams(line: string, maxOrder: number): [Map<string, number>, number] {
  const toks = pySplit(line)
  const m = new Map<string, number>()
  for (let n = 1; n <= maxOrder; n++)
    for (let i = 0; i + n <= toks.length; i++) {
      const k = `${n}\u0001${toks.slice(i, i + n).join('\u0001')}`
      m.set(k, (m.get(k) ?? 0) + 1)
    }
  return [m, toks.length]
}

/** sacreBLEU's closest reference length: smallest |hyp - ref|, ties to the shorter reference. */
function closestRefLen(hypLen: number, refLens: readonly number[]): number {
  let bestDiff = -1
  let best = -1
  for (const r of refLens) {
    const d = Math.abs(hypLen - r)
    if (bestDiff === -1 || d < bestDiff) {
      bestDiff = d
      best = r
    } else if (d === bestDiff && r < best) best = r
  }
  return best
}

/**
 * BLEU from its sufficient statistics (sacreBLEU's `BLEU.compute_bleu`): matched and total n-gram
 * counts per order, system and reference lengths. Scores are 0-100.
 */
export function bleuFromStats(
  correct: readonly number[],
  total: readonly number[],
  sysLen: number,
  refLen: number,
  opts: Pick<BleuOptions, 'smoothMethod' | 'smoothValue' | 'effectiveOrder' | 'maxNgramOrder'> = {},
): BleuScore {
  const method = opts.smoothMethod ?? 'exp'
  const value = opts.smoothValue ?? SMOOTH_DEFAULTS[method]
  const maxOrder = opts.maxNgramOrder ?? correct.length
  const counts = correct.slice(0, maxOrder)
  const totals = total.slice(0, maxOrder)
  let bp = 1
  if (sysLen < refLen) bp = sysLen > 0 ? Math.exp(1 - refLen / sysLen) : 0
  const precisions = new Array<number>(maxOrder).fill(0)
  const result = (bleu: number): BleuScore => ({ bleu, counts, totals, precisions, bp, sys_len: sysLen, ref_len: refLen })
  // no match at any order: 0 whatever the smoothing (sacreBLEU #141)
  if (!counts.some((c) => c !== 0)) return result(0)
  let smoothMteval = 1
  let effOrder = maxOrder
  for (let n = 1; n <= maxOrder; n++) {
    if (method === 'add-k' && n > 1) {
      counts[n - 1]! += value
      totals[n - 1]! += value
    }
    if (totals[n - 1] === 0) break
    if (opts.effectiveOrder) effOrder = n
    if (counts[n - 1] === 0) {
      if (method === 'exp') {
        smoothMteval *= 2
        precisions[n - 1] = 100 / (smoothMteval * totals[n - 1]!)
      } else if (method === 'floor') precisions[n - 1] = (100 * value) / totals[n - 1]!
    } else precisions[n - 1] = (100 * counts[n - 1]!) / totals[n - 1]!
  }
  // sacreBLEU's my_log: log(0) is -9999999999, so a zero precision gives a score of 0
  let logSum = 0
  for (let i = 0; i < effOrder; i++) logSum += precisions[i] === 0 ? -9999999999 : Math.log(precisions[i]!)
  return result(bp * Math.exp(logSum / effOrder))
}

/**
 * Corpus BLEU as sacreBLEU's `corpus_bleu` (statistics summed over segments, then one score).
 * `references` is one string per hypothesis, or several such streams (multi-reference).
 */
export function corpusBleu(hypotheses: readonly string[], references: References, opts: BleuOptions = {}): BleuScore {
  const tok = opts.tokenize ?? '13a'
  const maxOrder = opts.maxNgramOrder ?? 4
  const pre = (s: string): string => bleuTokenize((opts.lowercase ? s.toLowerCase() : s).replace(PY_WS_END, ''), tok)
  const refSets = referenceSets(hypotheses.length, references, 'BLEU')
  let sysLen = 0
  let refLen = 0
  const correct = new Array<number>(maxOrder).fill(0)
  const total = new Array<number>(maxOrder).fill(0)
  hypotheses.forEach((hyp, i) => {
    const refNgrams = new Map<string, number>()
    const refLens: number[] = []
    for (const r of refSets[i]!) {
      const [ng, len] = wordNgrams(pre(r), maxOrder)
      refLens.push(len)
      for (const [k, c] of ng) refNgrams.set(k, Math.max(refNgrams.get(k) ?? 0, c))
    }
    const [hypNgrams, hypLen] = wordNgrams(pre(hyp), maxOrder)
    sysLen += hypLen
    refLen += closestRefLen(hypLen, refLens)
    for (const [k, c] of hypNgrams) {
      const n = Number(k.slice(0, k.indexOf('\u0001'))) - 1
      total[n]! += c
      const r = refNgrams.get(k)
      if (r !== undefined) correct[n]! += Math.min(c, r)
    }
  })
  return bleuFromStats(correct, total, sysLen, refLen, { ...opts, maxNgramOrder: maxOrder })
}

/** Sentence BLEU as sacreBLEU's `sentence_score`: one segment, effective order on unless said otherwise. */
export function sentenceBleu(hypothesis: string, references: readonly string[], opts: BleuOptions = {}): BleuScore {
  return corpusBleu([hypothesis], references.map((r) => [r]), { effectiveOrder: true, ...opts })
}

export interface ChrfScore {
  /** 0-100. */
  chrf: number
  /** Per order: [hypothesis n-grams, reference n-grams, matches]; characters first, then words. */
  stats: [number, number, number][]
}

const PUNCTS = new Set('!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~')

/** chrF++'s word split: one leading or trailing ASCII punctuation mark becomes its own word. */
function chrfWords(sent: string): string[] {
  const out: string[] = []
  for (const w of pySplit(sent)) {
    const cs = Array.from(w)
    if (cs.length === 1) out.push(w)
    else if (PUNCTS.has(cs[cs.length - 1]!)) out.push(cs.slice(0, -1).join(''), cs[cs.length - 1]!)
    else if (PUNCTS.has(cs[0]!)) out.push(cs[0]!, cs.slice(1).join(''))
    else out.push(w)
  }
  return out
}

function count(items: Iterable<string>): Map<string, number> {
  const m = new Map<string, number>()
  for (const x of items) m.set(x, (m.get(x) ?? 0) + 1)
  return m
}

function* ngramsOf(units: readonly string[], n: number, sep: string): Generator<string> {
  for (let i = 0; i + n <= units.length; i++) yield units.slice(i, i + n).join(sep)
}

function chrfNgrams(sent: string, o: Required<ChrfOptions>): Map<string, number>[] {
  const chars = Array.from(o.whitespace ? sent : pySplit(sent).join(''))
  const out: Map<string, number>[] = []
  for (let n = 1; n <= o.charOrder; n++) out.push(count(ngramsOf(chars, n, '')))
  if (o.wordOrder > 0) {
    const words = chrfWords(sent)
    for (let n = 1; n <= o.wordOrder; n++) out.push(count(ngramsOf(words, n, ' ')))
  }
  return out
}

function chrfF(stats: readonly (readonly number[])[], o: Required<ChrfOptions>): number {
  const eps = 1e-16
  const factor = o.beta ** 2
  let score = 0
  let effOrder = 0
  let avgP = 0
  let avgR = 0
  for (const [nHyp, nRef, nMatch] of stats as [number, number, number][]) {
    const p = nHyp > 0 ? nMatch / nHyp : eps
    const r = nRef > 0 ? nMatch / nRef : eps
    const denom = factor * p + r
    score += denom > 0 ? ((1 + factor) * p * r) / denom : eps
    if (nHyp > 0 && nRef > 0) {
      avgP += p
      avgR += r
      effOrder++
    }
  }
  if (o.epsSmoothing) return (100 * score) / stats.length
  if (effOrder === 0) return 0
  avgP /= effOrder
  avgR /= effOrder
  return avgP + avgR ? (100 * (1 + factor) * avgP * avgR) / (factor * avgP + avgR) : 0
}

/**
 * Corpus chrF (chrF++ with `wordOrder: 2`) as sacreBLEU's `corpus_chrf`: per segment the reference
 * with the best F-score is kept, statistics are summed, and one F-score is computed from the sums.
 */
export function corpusChrf(hypotheses: readonly string[], references: References, opts: ChrfOptions = {}): ChrfScore {
  const o: Required<ChrfOptions> = { charOrder: 6, wordOrder: 0, beta: 2, lowercase: false, whitespace: false, epsSmoothing: false, ...opts }
  const pre = (s: string): string => (o.lowercase ? s.toLowerCase() : s)
  const refSets = referenceSets(hypotheses.length, references, 'chrF')
  const order = o.charOrder + o.wordOrder
  const sums: [number, number, number][] = Array.from({ length: order }, () => [0, 0, 0])
  hypotheses.forEach((hyp, i) => {
    const h = chrfNgrams(pre(hyp), o)
    let best: [number, number, number][] = []
    let bestF = -1
    for (const ref of refSets[i]!) {
      const r = chrfNgrams(pre(ref), o)
      const stats = h.map((hm, k): [number, number, number] => {
        const rm = r[k]!
        let nHyp = 0
        let nMatch = 0
        for (const [g, c] of hm) {
          nHyp += c
          const rc = rm.get(g)
          if (rc !== undefined) nMatch += Math.min(c, rc)
        }
        let nRef = 0
        for (const c of rm.values()) nRef += c
        // no reference n-grams of this order: hypothesis n-grams are not counted (as sacreBLEU)
        return [rm.size > 0 ? nHyp : 0, nRef, nMatch]
      })
      const f = chrfF(stats, o)
      if (f > bestF) {
        bestF = f
        best = stats
      }
    }
    best.forEach((s, k) => {
      sums[k]![0] += s[0]
      sums[k]![1] += s[1]
      sums[k]![2] += s[2]
    })
  })
  return { chrf: chrfF(sums, o), stats: sums }
}

/** Sentence chrF against one or more references. */
export function sentenceChrf(hypothesis: string, references: readonly string[], opts: ChrfOptions = {}): ChrfScore {
  return corpusChrf([hypothesis], references.map((r) => [r]), opts)
}
