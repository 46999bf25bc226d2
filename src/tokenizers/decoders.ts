import { fail, Fields, isObject, type Json } from './errors.js'
import { patternMatcher } from './normalizers.js'
import { CHAR_TO_BYTE, fromUtf8, utf8 } from './unicode.js'

/** Turns a list of tokens into a list of strings that are joined without separator. */
export type Decoder = (tokens: string[]) => string[]

export const DECODERS = ['WordPiece', 'ByteLevel', 'Metaspace', 'BPEDecoder', 'Replace', 'Strip', 'Fuse', 'ByteFallback', 'CTC', 'Sequence'] as const

/** The spacing fixes BERT's decoder applies (tokenizers' wordpiece `cleanup`). */
export function cleanUpTokenization(s: string): string {
  return s
    .replaceAll(' .', '.')
    .replaceAll(' ?', '?')
    .replaceAll(' !', '!')
    .replaceAll(' ,', ',')
    .replaceAll(" ' ", "'")
    .replaceAll(" n't", "n't")
    .replaceAll(" 'm", "'m")
    .replaceAll(' do not', " don't")
    .replaceAll(" 's", "'s")
    .replaceAll(" 've", "'ve")
    .replaceAll(" 're", "'re")
}

export function buildDecoder(cfg: Json | undefined, where: string): Decoder | null {
  if (cfg === null || cfg === undefined) return null
  if (!isObject(cfg)) return fail('TOKENIZER_BAD_FIELD', where, 'should be an object or null')
  const f = new Fields(where, cfg)
  const type = f.str('type')
  switch (type) {
    case 'WordPiece': {
      const prefix = f.str('prefix', '##')
      const cleanup = f.bool('cleanup', true)
      return (tokens) =>
        tokens.map((t, i) => {
          if (i !== 0) t = t.startsWith(prefix) ? t.slice(prefix.length) : ' ' + t
          return cleanup ? cleanUpTokenization(t) : t
        })
    }
    case 'ByteLevel':
      return (tokens) => {
        const bytes: number[] = []
        for (const t of tokens) {
          const bs: number[] = []
          let ok = true
          for (const c of t) {
            const b = CHAR_TO_BYTE.get(c)
            if (b === undefined) {
              ok = false
              break
            }
            bs.push(b)
          }
          bytes.push(...(ok ? bs : utf8(t)))
        }
        return [fromUtf8(Uint8Array.from(bytes))]
      }
    case 'Metaspace': {
      const replacement = f.str('replacement', '▁')
      let scheme = f.str('prepend_scheme', 'always')
      if (cfg['add_prefix_space'] === false) scheme = 'never'
      return (tokens) =>
        tokens.map((t, i) =>
          Array.from(t, (c) => (c === replacement ? (i === 0 && scheme !== 'never' ? '' : ' ') : c)).join(''),
        )
    }
    case 'BPEDecoder': {
      const suffix = f.str('suffix', '</w>')
      return (tokens) => tokens.map((t, i) => t.replaceAll(suffix, i === tokens.length - 1 ? '' : ' '))
    }
    case 'Replace': {
      const content = f.str('content')
      const match = patternMatcher(f.obj_('pattern'), `${where}.pattern`)
      return (tokens) =>
        tokens.map((t) => {
          const chars = Array.from(t)
          let out = ''
          let last = 0
          for (const [s, e] of match(chars)) {
            out += chars.slice(last, s).join('') + content
            last = e
          }
          return out + chars.slice(last).join('')
        })
    }
    case 'Strip': {
      const content = f.str('content', ' ')
      const start = f.num('start', 0)
      const stop = f.num('stop', 0)
      return (tokens) =>
        tokens.map((t) => {
          const chars = Array.from(t)
          let a = 0
          while (a < start && chars[a] === content) a++
          let b = chars.length
          while (chars.length - b < stop && b > a && chars[b - 1] === content) b--
          return chars.slice(a, b).join('')
        })
    }
    case 'Fuse':
      return (tokens) => [tokens.join('')]
    case 'ByteFallback':
      return (tokens) => {
        const out: string[] = []
        let pending: number[] = []
        const flush = (): void => {
          if (pending.length === 0) return
          const bytes = Uint8Array.from(pending)
          const s = new TextDecoder('utf-8', { fatal: true })
          try {
            out.push(s.decode(bytes))
          } catch {
            for (let i = 0; i < pending.length; i++) out.push('\ufffd')
          }
          pending = []
        }
        for (const t of tokens) {
          const m = /^<0x([0-9A-F]{2})>$/.exec(t)
          if (m) pending.push(parseInt(m[1]!, 16))
          else {
            flush()
            out.push(t)
          }
        }
        flush()
        return out
      }
    case 'CTC': {
      const pad = f.str('pad_token', '<pad>')
      const delim = f.str('word_delimiter_token', '|')
      const cleanup = f.bool('cleanup', true)
      return (tokens) => {
        const dedup = tokens.filter((t, i) => i === 0 || t !== tokens[i - 1])
        return dedup
          .filter((t) => t !== pad)
          .map((t) => {
            let s = t.replaceAll(delim, ' ')
            if (cleanup) s = cleanUpTokenization(s)
            return s
          })
      }
    }
    case 'Sequence': {
      const parts = f.arr('decoders').map((c, i) => buildDecoder(c, `${where}.decoders[${i}]`))
      return (tokens) => parts.reduce((t, d) => (d ? d(t) : t), tokens)
    }
    default:
      return fail('TOKENIZER_UNSUPPORTED', where, `decoder type "${type}" is not supported`, `supported decoders: ${DECODERS.join(', ')}`)
  }
}
