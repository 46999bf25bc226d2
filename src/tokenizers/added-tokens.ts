import { fail, isObject, type Json } from './errors.js'
import type { Normalized } from './normalized.js'
import { isWhitespace, isWordChar } from './unicode.js'

/** An entry of tokenizer.json's added_tokens: text matched whole before any other processing. */
export interface AddedToken {
  id: number
  content: string
  singleWord: boolean
  lstrip: boolean
  rstrip: boolean
  normalized: boolean
  special: boolean
}

export function parseAddedTokens(v: Json | undefined, where: string): AddedToken[] {
  if (v === undefined || v === null) return []
  if (!Array.isArray(v)) return fail('TOKENIZER_BAD_FIELD', where, 'should be a list')
  return v.map((t, i) => {
    if (!isObject(t) || typeof t['id'] !== 'number' || typeof t['content'] !== 'string')
      return fail('TOKENIZER_BAD_FIELD', `${where}[${i}]`, 'an added token needs a numeric "id" and a string "content"')
    return {
      id: t['id'],
      content: t['content'],
      singleWord: t['single_word'] === true,
      lstrip: t['lstrip'] === true,
      rstrip: t['rstrip'] === true,
      normalized: typeof t['normalized'] === 'boolean' ? t['normalized'] : t['special'] !== true,
      special: t['special'] === true,
    }
  })
}

export const addedTokenJson = (t: AddedToken): Json => ({
  id: t.id,
  content: t.content,
  single_word: t.singleWord,
  lstrip: t.lstrip,
  rstrip: t.rstrip,
  normalized: t.normalized,
  special: t.special,
})

export interface Piece {
  n: Normalized
  added?: AddedToken
}

/** Finds added tokens in text, leftmost-longest like tokenizers' Aho-Corasick matcher. */
export class AddedMatcher {
  readonly #patterns: Array<{ chars: string[]; token: AddedToken }>
  readonly #byFirst = new Map<string, Array<{ chars: string[]; token: AddedToken }>>()

  constructor(entries: Array<{ pattern: string; token: AddedToken }>) {
    this.#patterns = entries.filter((e) => e.pattern.length > 0).map((e) => ({ chars: Array.from(e.pattern), token: e.token }))
    for (const p of this.#patterns) {
      const list = this.#byFirst.get(p.chars[0]!) ?? []
      list.push(p)
      this.#byFirst.set(p.chars[0]!, list)
    }
    for (const list of this.#byFirst.values()) list.sort((a, b) => b.chars.length - a.chars.length)
  }

  get empty(): boolean {
    return this.#patterns.length === 0
  }

  /** Splits a string into pieces that are added tokens and pieces that are not (tokenizers' find_matches). */
  split(n: Normalized): Piece[] {
    if (this.empty || n.length === 0) return n.length === 0 ? [] : [{ n }]
    const c = n.chars
    const out: Piece[] = []
    let startOffset = 0
    let i = 0
    while (i < c.length) {
      const m = this.#longestAt(c, i)
      if (!m) {
        i++
        continue
      }
      let start = i
      let stop = i + m.chars.length
      i = stop
      const t = m.token
      if (t.singleWord) {
        const startOk = start === 0 || !isWordChar(c[start - 1]!)
        const stopOk = stop === c.length || !isWordChar(c[stop]!)
        if (!startOk || !stopOk) continue
      }
      if (start < startOffset) continue // inside what an rstrip already took
      if (t.lstrip) {
        let s = start
        while (s > 0 && isWhitespace(c[s - 1]!)) s--
        start = Math.max(s, startOffset)
      }
      if (t.rstrip) while (stop < c.length && isWhitespace(c[stop]!)) stop++
      if (startOffset < start) out.push({ n: n.slice(startOffset, start) })
      out.push({ n: n.slice(start, stop), added: t })
      startOffset = stop
      i = Math.max(i, stop)
    }
    if (startOffset < c.length) out.push({ n: n.slice(startOffset, c.length) })
    return out
  }

  #longestAt(c: readonly string[], i: number): { chars: string[]; token: AddedToken } | undefined {
    for (const p of this.#byFirst.get(c[i]!) ?? []) {
      if (i + p.chars.length > c.length) continue
      let ok = true
      for (let k = 1; k < p.chars.length; k++)
        if (c[i + k] !== p.chars[k]) {
          ok = false
          break
        }
      if (ok) return p
    }
    return undefined
  }
}
