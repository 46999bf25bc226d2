import { fail, Fields, isObject, type Json } from './errors.js'
import { Normalized, regexMatches, stringMatches } from './normalized.js'
import { PrecompiledCharsmap } from './precompiled.js'
import { translateRegex } from './regex.js'
import { BYTE_TO_CHAR, isBertControl, isChineseChar, isNonspacingMark, isWhitespace, utf8 } from './unicode.js'

export type Normalizer = (n: Normalized) => Normalized

const MARK = /^\p{M}$/u

/** Rust's per-character lowercase (no final-sigma context, unlike String#toLowerCase on a word). */
export const lowerChar = (c: string): string => c.toLowerCase()

export const NORMALIZERS = ['BertNormalizer', 'Lowercase', 'Strip', 'StripAccents', 'NFC', 'NFD', 'NFKC', 'NFKD', 'Replace', 'Prepend', 'Precompiled', 'ByteLevel', 'Sequence'] as const

/** Builds a normalizer from its tokenizer.json object; null means none. */
export function buildNormalizer(cfg: Json | undefined, where: string): Normalizer | null {
  if (cfg === null || cfg === undefined) return null
  if (!isObject(cfg)) return fail('TOKENIZER_BAD_FIELD', where, 'should be an object or null')
  const f = new Fields(where, cfg)
  const type = f.str('type')
  switch (type) {
    case 'BertNormalizer': {
      const cleanText = f.bool('clean_text', true)
      const chinese = f.bool('handle_chinese_chars', true)
      const lowercase = f.bool('lowercase', true)
      const stripAccents = f.optBool('strip_accents') ?? lowercase
      return (n) => {
        if (cleanText) n = n.filter((c) => !(c === '\0' || c === '\ufffd' || isBertControl(c))).flatMap((c) => (isWhitespace(c) ? ' ' : c))
        if (chinese) n = n.flatMap((c) => (isChineseChar(c) ? ` ${c} ` : c))
        if (stripAccents) n = n.unicode('NFD').filter((c) => !isNonspacingMark(c))
        if (lowercase) n = n.flatMap(lowerChar)
        return n
      }
    }
    case 'Lowercase':
      return (n) => n.flatMap(lowerChar)
    case 'Strip': {
      const left = f.bool('strip_left', true)
      const right = f.bool('strip_right', true)
      return (n) => n.strip(left, right, isWhitespace)
    }
    case 'StripAccents':
      // unlike BertNormalizer's accent stripping (Mn only), this drops every mark (Mn, Mc, Me)
      return (n) => n.filter((c) => !MARK.test(c))
    case 'NFC':
    case 'NFD':
    case 'NFKC':
    case 'NFKD':
      return (n) => n.unicode(type)
    case 'Replace': {
      const content = f.str('content')
      const match = patternMatcher(f.obj_('pattern'), `${where}.pattern`)
      return (n) => n.replaceRanges(match(n.chars), content)
    }
    case 'Prepend': {
      const prepend = f.str('prepend')
      return (n) => n.prepend(prepend)
    }
    case 'Precompiled': {
      const map = cfg['precompiled_charsmap']
      if (map === null || map === undefined || map === '') return (n) => n
      if (typeof map !== 'string') return fail('TOKENIZER_BAD_FIELD', where, 'precompiled_charsmap should be a base64 string', 'the file may be corrupt; convert the tokenizer again with transformers')
      const table = PrecompiledCharsmap.fromBase64(map, `${where}.precompiled_charsmap`)
      // each replacement aligns with the whole original span it replaced (a grapheme or a character)
      return (n) => {
        const parts: Array<readonly [string, readonly [number, number]]> = []
        let k = 0
        for (const [rep, orig] of table.normalizeHf(n.text)) {
          const len = Array.from(orig).length
          const span = n.originalRange(k, k + len)
          for (const c of rep) parts.push([c, span])
          k += len
        }
        return Normalized.build(parts, n.origin)
      }
    }
    case 'ByteLevel':
      return (n) => n.flatMap((c) => Array.from(utf8(c), (b) => BYTE_TO_CHAR[b]!).join(''))
    case 'Sequence': {
      const parts = f.arr('normalizers').map((c, i) => buildNormalizer(c, `${where}.normalizers[${i}]`))
      return (n) => parts.reduce((acc, p) => (p ? p(acc) : acc), n)
    }
    default:
      return fail('TOKENIZER_UNSUPPORTED', where, `normalizer type "${type}" is not supported`, `supported normalizers: ${NORMALIZERS.join(', ')}`)
  }
}

/** `{ "String": s }` or `{ "Regex": r }` as tokenizers writes patterns. */
export function patternMatcher(p: Record<string, Json>, where: string): (chars: readonly string[]) => Array<[number, number]> {
  if (typeof p['String'] === 'string') {
    const s = p['String']
    return (chars) => stringMatches(chars, s)
  }
  if (typeof p['Regex'] === 'string') {
    const re = translateRegex(p['Regex'], where)
    return (chars) => regexMatches(chars, re)
  }
  return fail('TOKENIZER_BAD_FIELD', where, 'a pattern should be {"String": ...} or {"Regex": ...}')
}
