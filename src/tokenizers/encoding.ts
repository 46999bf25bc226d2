/** The working form of one encoded sequence (or pair), field for field like tokenizers' Encoding. */
export interface Enc {
  ids: number[]
  typeIds: number[]
  tokens: string[]
  /** [start, end) in UTF-16 units of the sequence's own input text; [0, 0] for added specials. */
  offsets: Array<[number, number]>
  wordIds: Array<number | null>
  specialMask: number[]
  /** Which input (0 = text, 1 = pair) each token came from; null for specials. */
  sequenceIds: Array<number | null>
}

const emptyEnc = (): Enc => ({ ids: [], typeIds: [], tokens: [], offsets: [], wordIds: [], specialMask: [], sequenceIds: [] })

export function concatEnc(parts: Enc[]): Enc {
  const out = emptyEnc()
  for (const p of parts) {
    out.ids.push(...p.ids)
    out.typeIds.push(...p.typeIds)
    out.tokens.push(...p.tokens)
    out.offsets.push(...p.offsets)
    out.wordIds.push(...p.wordIds)
    out.specialMask.push(...p.specialMask)
    out.sequenceIds.push(...p.sequenceIds)
  }
  return out
}

/** Special tokens as a piece of an encoding. */
export function specialEnc(ids: number[], tokens: string[], typeId: number): Enc {
  return {
    ids: [...ids],
    typeIds: ids.map(() => typeId),
    tokens: [...tokens],
    offsets: ids.map(() => [0, 0]),
    wordIds: ids.map(() => null),
    specialMask: ids.map(() => 1),
    sequenceIds: ids.map(() => null),
  }
}

export const withTypeId = (e: Enc, typeId: number): Enc => ({ ...e, typeIds: e.ids.map(() => typeId) })
export const withSequenceId = (e: Enc, seq: number): Enc => ({ ...e, sequenceIds: e.ids.map(() => seq) })

/** Keeps `n` tokens from the right end ('right' truncation keeps the start) or the left. */
export function truncateEnc(e: Enc, n: number, direction: 'right' | 'left'): Enc {
  if (e.ids.length <= n) return e
  const [a, b] = direction === 'right' ? [0, n] : [e.ids.length - n, e.ids.length]
  return {
    ids: e.ids.slice(a, b),
    typeIds: e.typeIds.slice(a, b),
    tokens: e.tokens.slice(a, b),
    offsets: e.offsets.slice(a, b),
    wordIds: e.wordIds.slice(a, b),
    specialMask: e.specialMask.slice(a, b),
    sequenceIds: e.sequenceIds.slice(a, b),
  }
}
