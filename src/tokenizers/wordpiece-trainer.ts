/**
 * Builds a BERT-style WordPiece vocabulary (vocab.txt) from raw texts: the special tokens, every
 * character seen (alone and as a "##" continuation), then the most frequent lower-cased words and
 * word pieces. Simple and deterministic; meant for small models trained from scratch.
 */

export interface WordPieceTrainOptions {
  /** Target vocabulary size (default 8000). */
  size?: number
  /** Words seen fewer times are not added whole (default 2). */
  minFrequency?: number
  /** Characters seen fewer times are dropped (map to [UNK]) (default 2). */
  minCharFrequency?: number
}

export const BERT_SPECIALS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'] as const

/** BERT's basic pre-tokenisation for counting: lower-case, strip accents, split words and punctuation. */
export function basicWords(text: string): string[] {
  const t = text.toLowerCase().normalize('NFD').replace(/\p{Mn}/gu, '')
  return t.match(/[\p{L}\p{N}]+|[^\s\p{L}\p{N}\p{C}]/gu) ?? []
}

export function trainWordPieceVocab(texts: Iterable<string>, o: WordPieceTrainOptions = {}): string {
  const size = o.size ?? 8000
  const words = new Map<string, number>()
  for (const t of texts) for (const w of basicWords(t)) words.set(w, (words.get(w) ?? 0) + 1)
  const chars = new Map<string, number>()
  for (const [w, n] of words) for (const ch of w) chars.set(ch, (chars.get(ch) ?? 0) + n)
  const vocab: string[] = [...BERT_SPECIALS]
  const seen = new Set<string>(vocab)
  const add = (t: string): void => {
    if (seen.has(t) || vocab.length >= size) return
    seen.add(t)
    vocab.push(t)
  }
  const byFreq = <K>(m: Map<K, number>): K[] => [...m].sort((a, b) => b[1] - a[1] || (String(a[0]) < String(b[0]) ? -1 : 1)).map(([k]) => k)
  const keptChars = byFreq(chars).filter((c) => chars.get(c)! >= (o.minCharFrequency ?? 2))
  for (const c of keptChars) add(c)
  for (const c of keptChars) add(`##${c}`)
  // frequent whole words first, then frequent suffix pieces of the remaining words
  const minF = o.minFrequency ?? 2
  const pieces = new Map<string, number>()
  for (const w of byFreq(words)) {
    const n = words.get(w)!
    if (n >= minF && w.length > 1) add(w)
    if (vocab.length >= size) break
    for (let i = 2; i < w.length - 1; i++) {
      const p = `##${w.slice(i)}`
      pieces.set(p, (pieces.get(p) ?? 0) + n)
    }
  }
  for (const p of byFreq(pieces)) {
    if (vocab.length >= size) break
    if (pieces.get(p)! >= minF * 4) add(p)
  }
  return `${vocab.join('\n')}\n`
}
