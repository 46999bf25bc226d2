/**
 * SentencePiece's precompiled normalization table (`precompiled_charsmap`, also the `Precompiled`
 * normalizer of tokenizer.json). Layout: a little-endian u32 with the byte size of a darts-clone
 * double-array trie, the trie's u32 units, then a blob of NUL-terminated replacement strings. The
 * trie maps UTF-8 byte strings to the offset of their replacement in the blob.
 *
 * Two ways of applying it exist and differ on rare inputs, so both are here:
 * - sentencepiece (normalizer.cc): at each position, the LONGEST trie key that prefixes the rest
 *   of the input is replaced; without a match one character is copied.
 * - Hugging Face tokenizers (spm_precompiled): per extended grapheme cluster of under 6 bytes, the
 *   SHORTEST trie key prefixing the cluster replaces the whole cluster; otherwise each character is
 *   looked up the same way on its own.
 */
import { fail } from './errors.js'

const enc = new TextEncoder()
const dec = new TextDecoder('utf-8', { ignoreBOM: true }) // a U+FEFF in text is content, not a byte-order mark

// darts-clone unit layout
const hasLeaf = (u: number): boolean => ((u >>> 8) & 1) === 1
const value = (u: number): number => u & 0x7fffffff
const label = (u: number): number => (u & 0x800000ff) >>> 0
const offset = (u: number): number => (u >>> 10) << ((u & (1 << 9)) >>> 6)

export class PrecompiledCharsmap {
  readonly #units: Uint32Array
  readonly #blob: Uint8Array
  readonly #cache = new Map<number, string>()

  constructor(bytes: Uint8Array, where = 'precompiled_charsmap') {
    if (bytes.length < 4) fail('TOKENIZER_BAD_CHARSMAP', where, `has ${bytes.length} bytes, fewer than its 4-byte header`, 'the table is corrupt; take it from the original .model file')
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    const trieSize = view.getUint32(0, true)
    if (trieSize % 4 !== 0 || 4 + trieSize > bytes.length) fail('TOKENIZER_BAD_CHARSMAP', where, `declares a trie of ${trieSize} bytes in a table of ${bytes.length}`, 'the table is corrupt; take it from the original .model file')
    this.#units = new Uint32Array(trieSize / 4)
    for (let i = 0; i < this.#units.length; i++) this.#units[i] = view.getUint32(4 + 4 * i, true)
    this.#blob = bytes.subarray(4 + trieSize)
  }

  /** From tokenizer.json's base64 field. */
  static fromBase64(b64: string, where?: string): PrecompiledCharsmap {
    const bin = atob(b64)
    const bytes = new Uint8Array(bin.length)
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i)
    return new PrecompiledCharsmap(bytes, where)
  }

  /** Trie keys prefixing bytes[start..end): [key length in bytes, blob offset] in increasing length. */
  prefixes(bytes: Uint8Array, start = 0, end = bytes.length): Array<[number, number]> {
    const u = this.#units
    const out: Array<[number, number]> = []
    if (u.length === 0) return out
    let node = offset(u[0]!)
    for (let i = start; i < end; i++) {
      const c = bytes[i]!
      if (c === 0) break
      node ^= c
      const unit = u[node]
      if (unit === undefined || label(unit) !== c) break
      node ^= offset(unit)
      if (hasLeaf(unit)) out.push([i - start + 1, value(u[node]!)])
    }
    return out
  }

  /** The replacement string at a blob offset. */
  replacement(at: number): string {
    let s = this.#cache.get(at)
    if (s === undefined) {
      let e = at
      while (e < this.#blob.length && this.#blob[e] !== 0) e++
      s = dec.decode(this.#blob.subarray(at, e))
      this.#cache.set(at, s)
    }
    return s
  }

  /** Hugging Face's `transform`: the replacement of the shortest key prefixing `chunk`, or undefined. */
  transform(chunk: string): string | undefined {
    const first = this.prefixes(enc.encode(chunk))[0]
    return first === undefined ? undefined : this.replacement(first[1])
  }

  /**
   * Normalizes as tokenizers' Precompiled normalizer does; returns the pieces as [replacement,
   * original] so callers can keep alignments (the original spans are consecutive and cover `s`).
   */
  normalizeHf(s: string): Array<[string, string]> {
    const out: Array<[string, string]> = []
    for (const { segment: g } of graphemes(s)) {
      if (enc.encode(g).length < 6) {
        const t = this.transform(g)
        if (t !== undefined) {
          out.push([t, g])
          continue
        }
      }
      for (const c of g) out.push([this.transform(c) ?? c, c])
    }
    return out
  }

  /**
   * sentencepiece's NormalizePrefix on UTF-8 bytes: [replacement, bytes consumed] for the longest
   * key at `pos`, or undefined when none matches (the caller copies one character).
   */
  longestAt(bytes: Uint8Array, pos: number): [string, number] | undefined {
    const all = this.prefixes(bytes, pos)
    const last = all[all.length - 1]
    return last === undefined ? undefined : [this.replacement(last[1]), last[0]]
  }
}

let segmenter: Intl.Segmenter | undefined
/** Extended grapheme clusters (UAX #29), as Rust's unicode-segmentation `graphemes(true)`. */
export function graphemes(s: string): Iterable<Intl.SegmentData> {
  segmenter ??= new Intl.Segmenter(undefined, { granularity: 'grapheme' })
  return segmenter.segment(s)
}
