/**
 * ROUGE-1, ROUGE-2 and ROUGE-L F-measures as Hugging Face's `evaluate` "rouge" metric computes
 * them with its defaults (Google's rouge_score: rouge_scorer.RougeScorer(use_stemmer=False) and
 * its default tokenizer): text lowercased, every run of characters outside [a-z0-9] a separator
 * (so "don't" is "don t" and non-ASCII letters split words), n-gram overlap clipped by counts,
 * ROUGE-L from the longest common subsequence of the whole token lists (not rougeLsum), and
 * F = 2PR / (P + R), 0 when either side has no tokens. The corpus value is the mean over examples
 * (evaluate with use_aggregator=False, averaged; its default bootstrap aggregator reports a
 * resampled median close to that mean), times 100 as run_summarization.py reports it.
 */

/** rouge_score.tokenize.tokenize without a stemmer. */
export function rougeTokens(text: string): string[] {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, ' ').split(/\s+/).filter((t) => /^[a-z0-9]+$/.test(t))
}

const fmeasure = (p: number, r: number): number => (p + r > 0 ? (2 * p * r) / (p + r) : 0)

function ngramCounts(tokens: readonly string[], n: number): Map<string, number> {
  const m = new Map<string, number>()
  for (let i = 0; i + n <= tokens.length; i++) {
    const k = tokens.slice(i, i + n).join(' ')
    m.set(k, (m.get(k) ?? 0) + 1)
  }
  return m
}

/** ROUGE-N F-measure of one prediction against one reference (0..1). */
export function rougeN(prediction: readonly string[], reference: readonly string[], n: number): number {
  const p = ngramCounts(prediction, n)
  const r = ngramCounts(reference, n)
  let overlap = 0
  for (const [k, c] of p) overlap += Math.min(c, r.get(k) ?? 0)
  const np = Math.max(prediction.length - n + 1, 0)
  const nr = Math.max(reference.length - n + 1, 0)
  return fmeasure(overlap / Math.max(np, 1), overlap / Math.max(nr, 1))
}

/** Length of the longest common subsequence of two token lists. */
export function lcsLength(a: readonly string[], b: readonly string[]): number {
  let prev = new Array<number>(b.length + 1).fill(0)
  for (let i = 1; i <= a.length; i++) {
    const cur = new Array<number>(b.length + 1).fill(0)
    for (let j = 1; j <= b.length; j++) cur[j] = a[i - 1] === b[j - 1] ? prev[j - 1]! + 1 : Math.max(prev[j]!, cur[j - 1]!)
    prev = cur
  }
  return prev[b.length]!
}

/** ROUGE-L F-measure of one prediction against one reference (0..1). */
export function rougeL(prediction: readonly string[], reference: readonly string[]): number {
  if (prediction.length === 0 || reference.length === 0) return 0
  const l = lcsLength(prediction, reference)
  return fmeasure(l / prediction.length, l / reference.length)
}

/** Mean ROUGE-1/2/L F-measures (times 100) of predictions against their references. */
export function corpusRouge(predictions: readonly string[], references: readonly string[]): { rouge1: number; rouge2: number; rougeL: number } {
  const sums = { rouge1: 0, rouge2: 0, rougeL: 0 }
  predictions.forEach((pred, i) => {
    const p = rougeTokens(pred)
    const r = rougeTokens(references[i] ?? '')
    sums.rouge1 += rougeN(p, r, 1)
    sums.rouge2 += rougeN(p, r, 2)
    sums.rougeL += rougeL(p, r)
  })
  const n = Math.max(predictions.length, 1)
  return { rouge1: (100 * sums.rouge1) / n, rouge2: (100 * sums.rouge2) / n, rougeL: (100 * sums.rougeL) / n }
}
