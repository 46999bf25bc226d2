/**
 * Character classes as Hugging Face tokenizers (Rust) define them. JavaScript's regex classes differ
 * in places (`\s` contains U+FEFF and lacks U+0085), so each is spelled out with Unicode properties.
 */

const WHITE_SPACE = /^\p{White_Space}$/u
const OTHER = /^[\p{Cc}\p{Cf}\p{Co}\p{Cs}]$/u // Rust's `is_other` as tokenizers uses it: no Cn
const PUNCTUATION = /^\p{P}$/u
const ALNUM = /^[\p{L}\p{N}]$/u
const NONSPACING_MARK = /^\p{Mn}$/u

/** Rust's `char::is_whitespace` (the White_Space property). */
export const isWhitespace = (c: string): boolean => WHITE_SPACE.test(c)
/** BERT's control test: Cc, Cf, Co except tab, newline and carriage return. */
export const isBertControl = (c: string): boolean => c !== '\t' && c !== '\n' && c !== '\r' && OTHER.test(c)
/** BERT's punctuation: ASCII punctuation plus the Unicode P* categories. */
export const isBertPunctuation = (c: string): boolean => {
  const cp = c.codePointAt(0) ?? 0
  if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126)) return true
  return PUNCTUATION.test(c)
}
export const isNonspacingMark = (c: string): boolean => NONSPACING_MARK.test(c)
/** Letter, number or underscore: what `\w` means for single_word added tokens. */
export const isWordChar = (c: string): boolean => c === '_' || ALNUM.test(c)

/** The CJK Unified Ideographs blocks that BERT surrounds with spaces. */
export function isChineseChar(c: string): boolean {
  const cp = c.codePointAt(0) ?? 0
  return (
    (cp >= 0x4e00 && cp <= 0x9fff) ||
    (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2b73f) ||
    (cp >= 0x2b740 && cp <= 0x2b81f) ||
    (cp >= 0x2b920 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0x2f800 && cp <= 0x2fa1f)
  )
}

/** GPT-2's reversible byte -> printable character table (bytes_to_unicode in encoder.py). */
export const BYTE_TO_CHAR: readonly string[] = (() => {
  const table: string[] = new Array<string>(256)
  let n = 0
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff)
    table[b] = String.fromCodePoint(printable ? b : 256 + n++)
  }
  return table
})()
export const CHAR_TO_BYTE: ReadonlyMap<string, number> = new Map(BYTE_TO_CHAR.map((c, b) => [c, b]))

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: false })
export const utf8 = (s: string): Uint8Array => encoder.encode(s)
/** Lossy UTF-8 decoding: invalid sequences become U+FFFD, as Rust's from_utf8_lossy does. */
export const fromUtf8 = (bytes: Uint8Array): string => decoder.decode(bytes)
