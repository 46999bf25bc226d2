import { fail } from './errors.js'

const WORD = '\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}'

/**
 * Translates a pattern written for Oniguruma (what tokenizers compiles) into a JavaScript regex in
 * `u` mode. Shorthand classes are Unicode-aware in Oniguruma and ASCII-only in JavaScript, so
 * `\s \S \w \W \d \D` are spelled out; constructs JavaScript lacks fail with a clear error.
 */
export function translateRegex(pattern: string, where: string): RegExp {
  let out = ''
  let inClass = false
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!
    if (c === '\\') {
      const n = pattern[i + 1]
      i++
      if (n === undefined) out += '\\\\'
      else if (n === 's') out += '\\p{White_Space}'
      else if (n === 'S') out += inClass ? unsupported(pattern, where, '\\S inside [...]') : '\\P{White_Space}'
      else if (n === 'w') out += inClass ? WORD : `[${WORD}]`
      else if (n === 'W') out += inClass ? unsupported(pattern, where, '\\W inside [...]') : `[^${WORD}]`
      else if (n === 'd') out += '\\p{Nd}'
      else if (n === 'D') out += inClass ? unsupported(pattern, where, '\\D inside [...]') : '\\P{Nd}'
      else if (n === 'A') out += '^'
      else if (n === 'z') out += '$'
      else if (n === 'p' || n === 'P') {
        // \p{L} passes through; \pL (no braces) is Oniguruma-only shorthand
        if (pattern[i + 1] === '{') {
          const end = pattern.indexOf('}', i)
          out += '\\' + n + pattern.slice(i + 1, end + 1)
          i = end
        } else {
          out += `\\${n}{${pattern[i + 1]}}`
          i++
        }
      } else out += '\\' + n
      continue
    }
    if (c === '[' && !inClass) inClass = true
    else if (c === ']' && inClass) inClass = false
    else if (!inClass && c === '(' && pattern[i + 1] === '?') {
      const n = pattern[i + 2]
      if (n === '>' ) unsupported(pattern, where, 'atomic groups (?>...)')
      if (n === 'i' || n === 'm' || n === 'x' || n === '-') unsupported(pattern, where, 'inline flags (?i...)')
    } else if (!inClass && (c === '+' || c === '*' || c === '?' || c === '}') && pattern[i + 1] === '+') {
      unsupported(pattern, where, 'possessive quantifiers')
    }
    out += c
  }
  try {
    return new RegExp(out, 'gu')
  } catch (e) {
    return fail('TOKENIZER_UNSUPPORTED_REGEX', where, `pattern ${JSON.stringify(pattern)} is not valid here (${(e as Error).message})`, 'finetune runs these patterns with JavaScript regular expressions; simplify the pattern or open an issue with the tokenizer.json')
  }
}

function unsupported(pattern: string, where: string, what: string): never {
  return fail('TOKENIZER_UNSUPPORTED_REGEX', where, `pattern ${JSON.stringify(pattern)} uses ${what}, which JavaScript regular expressions lack`, 'rewrite the pattern without it in tokenizer.json, or open an issue with the tokenizer.json')
}
