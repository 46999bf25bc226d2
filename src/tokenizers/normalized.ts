/**
 * A string under normalization that remembers, for each of its code points, which range of the
 * original input (UTF-16 offsets) it came from, as tokenizers' NormalizedString does with bytes.
 * Offsets of tokens are read from this alignment.
 */
export type Span = readonly [number, number]

export type SplitBehavior = 'Removed' | 'Isolated' | 'MergedWithPrevious' | 'MergedWithNext' | 'Contiguous'

export class Normalized {
  /** One code point per entry. */
  readonly chars: string[]
  /** Original [start, end) of each code point, in UTF-16 units of the input text. */
  readonly align: Span[]
  /** Original range covered by the whole string, kept for empty strings. */
  readonly origin: Span

  constructor(chars: string[], align: Span[], origin: Span) {
    this.chars = chars
    this.align = align
    this.origin = origin
  }

  static of(text: string, start = 0, end = text.length): Normalized {
    const chars: string[] = []
    const align: Span[] = []
    let i = start
    for (const c of text.slice(start, end)) {
      chars.push(c)
      align.push([i, i + c.length])
      i += c.length
    }
    return new Normalized(chars, align, [start, end])
  }

  get text(): string {
    return this.chars.join('')
  }
  get length(): number {
    return this.chars.length
  }

  slice(a: number, b: number): Normalized {
    return new Normalized(this.chars.slice(a, b), this.align.slice(a, b), this.originalRange(a, b))
  }

  /** Original range of normalized code points [a, b). */
  originalRange(a: number, b: number): Span {
    if (a >= b) {
      const at = a < this.align.length ? this.align[a]![0] : b > 0 && b <= this.align.length ? this.align[b - 1]![1] : this.origin[1]
      return this.chars.length === 0 ? this.origin : [at, at]
    }
    let lo = Infinity
    let hi = -Infinity
    for (let i = a; i < b; i++) {
      const [s, e] = this.align[i]!
      if (s < lo) lo = s
      if (e > hi) hi = e
    }
    return [lo, hi]
  }

  /** Rebuilds the string from (char, alignment) pairs. */
  static build(parts: Array<readonly [string, Span]>, origin: Span): Normalized {
    return new Normalized(
      parts.map((p) => p[0]),
      parts.map((p) => p[1]),
      origin,
    )
  }

  filter(keep: (c: string) => boolean): Normalized {
    const chars: string[] = []
    const align: Span[] = []
    this.chars.forEach((c, i) => {
      if (keep(c)) {
        chars.push(c)
        align.push(this.align[i]!)
      }
    })
    return new Normalized(chars, align, this.origin)
  }

  /** Replaces every code point by zero or more; the new ones keep the alignment of the old one. */
  flatMap(f: (c: string) => string): Normalized {
    const chars: string[] = []
    const align: Span[] = []
    this.chars.forEach((c, i) => {
      for (const d of f(c)) {
        chars.push(d)
        align.push(this.align[i]!)
      }
    })
    return new Normalized(chars, align, this.origin)
  }

  /** Inserts text before the first code point; it aligns with that code point. */
  prepend(s: string): Normalized {
    if (this.chars.length === 0) return this
    const a = this.align[0]!
    const add = Array.from(s)
    return new Normalized([...add, ...this.chars], [...add.map(() => a), ...this.align], this.origin)
  }

  /** Applies a Unicode normalization form, keeping exact alignment where segments are unchanged. */
  unicode(form: 'NFC' | 'NFD' | 'NFKC' | 'NFKD'): Normalized {
    const whole = this.text.normalize(form)
    if (whole === this.text) return this
    // A segment is a code point and the combining marks after it; most text normalizes segment by
    // segment, which gives each output code point the span of its segment.
    const parts: Array<readonly [string, Span]> = []
    let out = ''
    let i = 0
    while (i < this.chars.length) {
      let j = i + 1
      while (j < this.chars.length && /^\p{M}$/u.test(this.chars[j]!)) j++
      const seg = this.chars.slice(i, j).join('')
      const norm = seg.normalize(form)
      if (norm === seg) for (let k = i; k < j; k++) parts.push([this.chars[k]!, this.align[k]!])
      else {
        // Each output code point takes the span of the input code point whose own normalization
        // produced it (decomposition, reordering of marks); a composed one takes the span of the
        // first input it absorbed, as tokenizers aligns "e" + U+0301 -> "é" with the "e".
        const pool: Array<[string, Span] | null> = []
        for (let k = i; k < j; k++) for (const d of this.chars[k]!.normalize(form)) pool.push([d, this.align[k]!])
        const outs = Array.from(norm)
        const spans: Array<Span | undefined> = outs.map((c) => {
          const at = pool.findIndex((p) => p !== null && p[0] === c)
          if (at < 0) return undefined
          const sp = pool[at]![1]
          pool[at] = null
          return sp
        })
        outs.forEach((c, k) => {
          let sp = spans[k]
          if (!sp) {
            const at = pool.findIndex((p) => p !== null)
            sp = at >= 0 ? pool[at]![1] : this.originalRange(i, j)
            if (at >= 0) pool[at] = null
          }
          parts.push([c, sp])
        })
      }
      out += norm
      i = j
    }
    if (out === whole) return Normalized.build(parts, this.origin)
    // Composition across segments (e.g. Hangul jamo): fall back to one span for everything.
    const span = this.originalRange(0, this.chars.length)
    return Normalized.build(
      Array.from(whole, (c) => [c, span] as const),
      this.origin,
    )
  }

  /** Replaces each match [start, end) (code point indices) by `content`, aligned with the match's last code point. */
  replaceRanges(matches: Array<readonly [number, number]>, content: string): Normalized {
    const parts: Array<readonly [string, Span]> = []
    const add = Array.from(content)
    let last = 0
    for (const [s, e] of matches) {
      for (let k = last; k < s; k++) parts.push([this.chars[k]!, this.align[k]!])
      const a = e > 0 ? this.align[e - 1]! : ([this.origin[0], this.origin[0]] as const)
      for (const c of add) parts.push([c, a])
      last = e
    }
    for (let k = last; k < this.chars.length; k++) parts.push([this.chars[k]!, this.align[k]!])
    return Normalized.build(parts, this.origin)
  }

  /** Strips whitespace code points from either end. */
  strip(left: boolean, right: boolean, isSpace: (c: string) => boolean): Normalized {
    let a = 0
    let b = this.chars.length
    if (left) while (a < b && isSpace(this.chars[a]!)) a++
    if (right) while (b > a && isSpace(this.chars[b - 1]!)) b--
    return a === 0 && b === this.chars.length ? this : this.slice(a, b)
  }

  /**
   * Splits on matches (sorted, non-overlapping [start, end) code point ranges) with one of
   * tokenizers' delimiter behaviours. Empty pieces are dropped.
   */
  split(matches: Array<readonly [number, number]>, behavior: SplitBehavior, invert = false): Normalized[] {
    // alternate (range, isMatch) covering the whole string
    const pieces: Array<[number, number, boolean]> = []
    let last = 0
    for (const [s, e] of matches) {
      if (s > last) pieces.push([last, s, false])
      if (e > s) pieces.push([s, e, true])
      last = e
    }
    if (last < this.chars.length) pieces.push([last, this.chars.length, false])
    // inverting swaps what counts as the delimiter, piece by piece (tokenizers' Invert pattern)
    if (invert) for (const p of pieces) p[2] = !p[2]
    let keep: Array<[number, number]> = []
    if (behavior === 'Isolated') keep = pieces.map(([s, e]) => [s, e])
    else if (behavior === 'Removed') keep = pieces.filter((p) => !p[2]).map(([s, e]) => [s, e])
    else if (behavior === 'Contiguous') {
      let prev = false
      for (const [s, e, m] of pieces) {
        const top = keep[keep.length - 1]
        if (m === prev && top) top[1] = e
        else keep.push([s, e])
        prev = m
      }
    } else if (behavior === 'MergedWithPrevious') {
      let prev = false
      for (const [s, e, m] of pieces) {
        const top = keep[keep.length - 1]
        if (m && !prev && top) top[1] = e
        else keep.push([s, e])
        prev = m
      }
    } else {
      let prev = false
      for (let k = pieces.length - 1; k >= 0; k--) {
        const [s, e, m] = pieces[k]!
        const top = keep[keep.length - 1]
        if (m && !prev && top) top[0] = s
        else keep.push([s, e])
        prev = m
      }
      keep.reverse()
    }
    return keep.filter(([s, e]) => e > s).map(([s, e]) => this.slice(s, e))
  }
}

/** Code point indices [start, end) of each regex match over the code points of `text`. */
export function regexMatches(chars: readonly string[], re: RegExp): Array<[number, number]> {
  const text = chars.join('')
  // UTF-16 index -> code point index
  const cpAt = new Int32Array(text.length + 1)
  let u = 0
  chars.forEach((c, i) => {
    cpAt[u] = i
    if (c.length === 2) cpAt[u + 1] = i
    u += c.length
  })
  cpAt[text.length] = chars.length
  const out: Array<[number, number]> = []
  const g = new RegExp(re.source, re.flags.includes('g') ? re.flags : re.flags + 'g')
  for (const m of text.matchAll(g)) {
    if (m[0].length === 0) continue
    out.push([cpAt[m.index]!, cpAt[m.index + m[0].length]!])
  }
  return out
}

/** Code point ranges where a literal string occurs (non-overlapping, left to right). */
export function stringMatches(chars: readonly string[], pattern: string): Array<[number, number]> {
  const pat = Array.from(pattern)
  const out: Array<[number, number]> = []
  if (pat.length === 0) return out
  for (let i = 0; i + pat.length <= chars.length; ) {
    let ok = true
    for (let k = 0; k < pat.length; k++) if (chars[i + k] !== pat[k]) { ok = false; break }
    if (ok) {
      out.push([i, i + pat.length])
      i += pat.length
    } else i++
  }
  return out
}

/** Ranges of single code points that satisfy a predicate. */
export function charMatches(chars: readonly string[], pred: (c: string) => boolean): Array<[number, number]> {
  const out: Array<[number, number]> = []
  chars.forEach((c, i) => {
    if (pred(c)) out.push([i, i + 1])
  })
  return out
}
