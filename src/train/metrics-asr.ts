/**
 * Word and character error rates as jiwer (3.x) defines them: the Levenshtein distance
 * (substitutions + deletions + insertions) summed over the corpus, divided by the number of
 * reference words (characters) summed over the corpus. jiwer's default transforms: WER strips,
 * collapses runs of spaces and splits on spaces; CER strips and counts every character, spaces
 * between words included.
 */
import { DataError } from '../errors.js'

export interface ErrorRate {
  /** (S + D + I) / N over the corpus. */
  rate: number
  substitutions: number
  deletions: number
  insertions: number
  /** Reference words (WER) or characters (CER). */
  referenceLength: number
}

/** Edit operations between two token sequences (a minimal-cost alignment as jiwer reports it). */
export function editOps(ref: readonly string[], hyp: readonly string[]): { substitutions: number; deletions: number; insertions: number } {
  const n = ref.length
  const m = hyp.length
  // dp over (i, j) with costs; ties broken towards substitutions, then deletions, as Levenshtein backtraces do
  const d = new Uint32Array((n + 1) * (m + 1))
  const at = (i: number, j: number): number => i * (m + 1) + j
  for (let i = 0; i <= n; i++) d[at(i, 0)] = i
  for (let j = 0; j <= m; j++) d[at(0, j)] = j
  for (let i = 1; i <= n; i++)
    for (let j = 1; j <= m; j++) {
      const sub = d[at(i - 1, j - 1)]! + (ref[i - 1] === hyp[j - 1] ? 0 : 1)
      d[at(i, j)] = Math.min(sub, d[at(i - 1, j)]! + 1, d[at(i, j - 1)]! + 1)
    }
  let [i, j, s, del, ins] = [n, m, 0, 0, 0]
  while (i > 0 || j > 0) {
    const here = d[at(i, j)]!
    if (i > 0 && j > 0 && here === d[at(i - 1, j - 1)]! + (ref[i - 1] === hyp[j - 1] ? 0 : 1)) {
      if (ref[i - 1] !== hyp[j - 1]) s++
      i--
      j--
    } else if (i > 0 && here === d[at(i - 1, j)]! + 1) {
      del++
      i--
    } else {
      ins++
      j--
    }
  }
  return { substitutions: s, deletions: del, insertions: ins }
}

const words = (s: string): string[] => {
  const t = s.trim().replace(/ +/g, ' ')
  return t === '' ? [] : t.split(' ')
}
const chars = (s: string): string[] => [...s.trim()]

function errorRate(refs: readonly string[], hyps: readonly string[], split: (s: string) => string[], what: string): ErrorRate {
  if (refs.length !== hyps.length) throw new DataError('METRIC_LENGTHS', `${what}: ${refs.length} references but ${hyps.length} hypotheses`)
  const total: ErrorRate = { rate: 0, substitutions: 0, deletions: 0, insertions: 0, referenceLength: 0 }
  refs.forEach((r, k) => {
    const rt = split(r)
    const e = editOps(rt, split(hyps[k]!))
    total.substitutions += e.substitutions
    total.deletions += e.deletions
    total.insertions += e.insertions
    total.referenceLength += rt.length
  })
  if (total.referenceLength === 0) throw new DataError('METRIC_EMPTY_REFERENCE', `${what}: every reference transcript is empty`, 'evaluate on rows whose transcript has at least one word')
  total.rate = (total.substitutions + total.deletions + total.insertions) / total.referenceLength
  return total
}

/** Word error rate over a corpus (jiwer.wer). */
export const wordErrorRate = (refs: readonly string[], hyps: readonly string[]): ErrorRate => errorRate(refs, hyps, words, 'WER')
/** Character error rate over a corpus (jiwer.cer). */
export const charErrorRate = (refs: readonly string[], hyps: readonly string[]): ErrorRate => errorRate(refs, hyps, chars, 'CER')
