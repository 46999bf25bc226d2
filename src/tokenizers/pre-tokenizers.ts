import { fail, Fields, isObject, type Json } from './errors.js'
import { charMatches, Normalized, regexMatches, type SplitBehavior } from './normalized.js'
import { patternMatcher } from './normalizers.js'
import { translateRegex } from './regex.js'
import { BYTE_TO_CHAR, isBertPunctuation, isWhitespace, utf8 } from './unicode.js'

/** Splits one piece of normalized text into words. */
export type PreTokenizer = (n: Normalized) => Normalized[]

// GPT-2's pattern (encoder.py), with Oniguruma's Unicode \s spelled out
const GPT2_REGEX = translateRegex(String.raw`'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`, 'ByteLevel')
// Whitespace runs on Rust's regex crate, whose \w also holds the joiners (ZWJ, ZWNJ)
const WHITESPACE_REGEX = /[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}]+|[^\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}\p{White_Space}]+/gu
const NUMERIC = /^\p{N}$/u

export const PRE_TOKENIZERS = ['BertPreTokenizer', 'ByteLevel', 'Metaspace', 'Whitespace', 'WhitespaceSplit', 'Punctuation', 'Digits', 'Split', 'CharDelimiterSplit', 'Sequence'] as const

const BEHAVIORS: readonly SplitBehavior[] = ['Removed', 'Isolated', 'MergedWithPrevious', 'MergedWithNext', 'Contiguous']

/** Maps every code point to the characters of its UTF-8 bytes (GPT-2's byte-level alphabet). */
const toByteLevel = (n: Normalized): Normalized => n.flatMap((c) => Array.from(utf8(c), (b) => BYTE_TO_CHAR[b]!).join(''))

export function buildPreTokenizer(cfg: Json | undefined, where: string): PreTokenizer | null {
  if (cfg === null || cfg === undefined) return null
  if (!isObject(cfg)) return fail('TOKENIZER_BAD_FIELD', where, 'should be an object or null')
  const f = new Fields(where, cfg)
  const type = f.str('type')
  const behavior = (key: string, dflt: SplitBehavior): SplitBehavior => {
    const b = f.str(key, dflt)
    if (!(BEHAVIORS as readonly string[]).includes(b)) fail('TOKENIZER_BAD_FIELD', where, `${key} "${b}" is not one of ${BEHAVIORS.join(', ')}`)
    return b as SplitBehavior
  }
  switch (type) {
    case 'BertPreTokenizer':
      return (n) =>
        n
          .split(charMatches(n.chars, isWhitespace), 'Removed')
          .flatMap((w) => w.split(charMatches(w.chars, isBertPunctuation), 'Isolated'))
    case 'ByteLevel': {
      const addPrefixSpace = f.bool('add_prefix_space', true)
      const useRegex = f.bool('use_regex', true)
      return (n) => {
        if (addPrefixSpace && n.chars[0] !== ' ') n = n.prepend(' ')
        const words = useRegex ? n.split(regexMatches(n.chars, GPT2_REGEX), 'Isolated') : [n]
        return words.map(toByteLevel)
      }
    }
    case 'Metaspace': {
      const replacement = f.str('replacement', '▁')
      let scheme = f.str('prepend_scheme', 'always')
      if (cfg['add_prefix_space'] === false) scheme = 'never'
      if (!['always', 'first', 'never'].includes(scheme)) fail('TOKENIZER_BAD_FIELD', where, `prepend_scheme "${scheme}" is not one of always, first, never`)
      const split = f.bool('split', true)
      return (n) => {
        // "first" means: only the piece that starts the input (not one after an added token)
        const first = n.origin[0] === 0
        n = n.flatMap((c) => (c === ' ' ? replacement : c))
        if ((scheme === 'always' || (scheme === 'first' && first)) && n.chars[0] !== replacement) n = n.prepend(replacement)
        return split ? n.split(charMatches(n.chars, (c) => c === replacement), 'MergedWithNext') : [n]
      }
    }
    case 'Whitespace':
      return (n) => n.split(regexMatches(n.chars, WHITESPACE_REGEX), 'Removed', true)
    case 'WhitespaceSplit':
      return (n) => n.split(charMatches(n.chars, isWhitespace), 'Removed')
    case 'Punctuation': {
      const b = behavior('behavior', 'Isolated')
      return (n) => n.split(charMatches(n.chars, isBertPunctuation), b)
    }
    case 'Digits': {
      const individual = f.bool('individual_digits', false)
      const isNum = (c: string): boolean => NUMERIC.test(c)
      return (n) => n.split(charMatches(n.chars, isNum), individual ? 'Isolated' : 'Contiguous')
    }
    case 'CharDelimiterSplit': {
      const d = f.str('delimiter')
      return (n) => n.split(charMatches(n.chars, (c) => c === d), 'Removed')
    }
    case 'Split': {
      const match = patternMatcher(f.obj_('pattern'), `${where}.pattern`)
      const b = behavior('behavior', 'Isolated')
      const invert = f.bool('invert', false)
      return (n) => n.split(match(n.chars), b, invert)
    }
    case 'Sequence': {
      const parts = f.arr('pretokenizers').map((c, i) => buildPreTokenizer(c, `${where}.pretokenizers[${i}]`))
      return (n) => parts.reduce<Normalized[]>((words, p) => (p ? words.flatMap(p) : words), [n])
    }
    default:
      return fail('TOKENIZER_UNSUPPORTED', where, `pre-tokenizer type "${type}" is not supported`, `supported pre-tokenizers: ${PRE_TOKENIZERS.join(', ')}`)
  }
}
