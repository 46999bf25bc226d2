import { fail, Fields, isObject, type Json } from './errors.js'
import { concatEnc, specialEnc, withSequenceId, withTypeId, type Enc } from './encoding.js'
import { isWhitespace } from './unicode.js'

export interface PostProcessor {
  /** How many special tokens `process` adds (truncation leaves room for them). */
  addedTokens(isPair: boolean): number
  /** Encodings have type ids 0 (text) and 1 (pair) on entry, as in tokenizers. */
  process(encs: Enc[], addSpecialTokens: boolean): Enc[]
}

export const POST_PROCESSORS = ['BertProcessing', 'RobertaProcessing', 'TemplateProcessing', 'ByteLevel', 'Sequence'] as const

type Piece = { kind: 'seq'; which: 0 | 1; typeId: number } | { kind: 'special'; id: string; typeId: number }

const pair = (v: Json | undefined, where: string): [string, number] => {
  if (Array.isArray(v) && typeof v[0] === 'string' && typeof v[1] === 'number') return [v[0], v[1]]
  return fail('TOKENIZER_BAD_FIELD', where, 'should be [token, id]')
}

/** Moves offsets past leading/trailing spaces of byte-level tokens (tokenizers' process_offsets). */
function trimOffsets(e: Enc, addPrefixSpace: boolean): Enc {
  const space = 'Ġ'
  const isSp = (c: string): boolean => c === space || isWhitespace(c)
  const offsets = e.offsets.map((o, i): [number, number] => {
    const chars = Array.from(e.tokens[i]!)
    let lead = 0
    while (lead < chars.length && isSp(chars[lead]!)) lead++
    let trail = 0
    while (trail < chars.length && isSp(chars[chars.length - 1 - trail]!)) trail++
    let [s, t] = o
    if (lead > 0) {
      const first = i === 0 || s === 0
      if (!(first && addPrefixSpace && lead === 1)) s = Math.min(s + lead, t)
    }
    if (trail > 0 && t >= trail) t = Math.max(t - trail, s)
    return [s, t]
  })
  return { ...e, offsets }
}

export function buildPostProcessor(cfg: Json | undefined, where: string): PostProcessor | null {
  if (cfg === null || cfg === undefined) return null
  if (!isObject(cfg)) return fail('TOKENIZER_BAD_FIELD', where, 'should be an object or null')
  const f = new Fields(where, cfg)
  const type = f.str('type')
  switch (type) {
    case 'BertProcessing': {
      const [sep, sepId] = pair(cfg['sep'], `${where}.sep`)
      const [cls, clsId] = pair(cfg['cls'], `${where}.cls`)
      return {
        addedTokens: (isPair) => (isPair ? 3 : 2),
        process: (encs, add) => {
          if (!add) return encs
          return encs.map((e, i) =>
            i === 0
              ? concatEnc([specialEnc([clsId], [cls], 0), withTypeId(e, 0), specialEnc([sepId], [sep], 0)])
              : concatEnc([withTypeId(e, 1), specialEnc([sepId], [sep], 1)]),
          )
        },
      }
    }
    case 'RobertaProcessing': {
      const [sep, sepId] = pair(cfg['sep'], `${where}.sep`)
      const [cls, clsId] = pair(cfg['cls'], `${where}.cls`)
      const trim = f.bool('trim_offsets', true)
      const addPrefixSpace = f.bool('add_prefix_space', true)
      return {
        addedTokens: (isPair) => (isPair ? 4 : 2),
        process: (encs, add) => {
          // every type id is 0 for RoBERTa
          encs = encs.map((e) => withTypeId(trim ? trimOffsets(e, addPrefixSpace) : e, 0))
          if (!add) return encs
          return encs.map((e, i) =>
            i === 0
              ? concatEnc([specialEnc([clsId], [cls], 0), e, specialEnc([sepId], [sep], 0)])
              : concatEnc([specialEnc([sepId], [sep], 0), e, specialEnc([sepId], [sep], 0)]),
          )
        },
      }
    }
    case 'ByteLevel': {
      const trim = f.bool('trim_offsets', true)
      const addPrefixSpace = f.bool('add_prefix_space', true)
      return { addedTokens: () => 0, process: (encs) => (trim ? encs.map((e) => trimOffsets(e, addPrefixSpace)) : encs) }
    }
    case 'TemplateProcessing': {
      const specials = new Map<string, { ids: number[]; tokens: string[] }>()
      const st = cfg['special_tokens']
      if (isObject(st)) {
        for (const [k, v] of Object.entries(st)) {
          const sf = new Fields(`${where}.special_tokens.${k}`, isObject(v) ? v : {})
          const ids = sf.arr('ids').map((x) => (typeof x === 'number' ? x : fail('TOKENIZER_BAD_FIELD', sf.where, 'ids should be numbers')))
          const tokens = sf.arr('tokens').map((x) => (typeof x === 'string' ? x : fail('TOKENIZER_BAD_FIELD', sf.where, 'tokens should be strings')))
          specials.set(sf.str('id', k), { ids, tokens })
        }
      }
      const single = parseTemplate(cfg['single'], `${where}.single`, specials)
      const pairT = parseTemplate(cfg['pair'], `${where}.pair`, specials)
      const count = (t: Piece[]): number => t.reduce((n, p) => n + (p.kind === 'special' ? specials.get(p.id)!.ids.length : 0), 0)
      return {
        addedTokens: (isPair) => count(isPair ? pairT : single),
        process: (encs, add) => {
          const t = encs.length === 2 ? pairT : single
          const parts: Enc[] = []
          for (const p of t) {
            if (p.kind === 'seq') {
              const e = encs[p.which]
              if (e) parts.push(withSequenceId(withTypeId(e, p.typeId), p.which))
            } else if (add) {
              const s = specials.get(p.id)!
              parts.push(specialEnc(s.ids, s.tokens, p.typeId))
            }
          }
          return [concatEnc(parts)]
        },
      }
    }
    case 'Sequence': {
      const procs = f.arr('processors').map((c, i) => buildPostProcessor(c, `${where}.processors[${i}]`))
      return {
        addedTokens: (isPair) => procs.reduce((n, p) => n + (p ? p.addedTokens(isPair) : 0), 0),
        process: (encs, add) => procs.reduce((e, p) => (p ? p.process(e, add) : e), encs),
      }
    }
    default:
      return fail('TOKENIZER_UNSUPPORTED', where, `post-processor type "${type}" is not supported`, `supported post-processors: ${POST_PROCESSORS.join(', ')}`)
  }
}

/** Templates come as "[CLS]:0 $A:0 [SEP]:0" strings or as tokenizers' serialized piece lists. */
function parseTemplate(v: Json | undefined, where: string, specials: Map<string, unknown>): Piece[] {
  const pieces: Piece[] = []
  const add = (p: Piece): void => {
    if (p.kind === 'special' && !specials.has(p.id)) fail('TOKENIZER_BAD_TEMPLATE', where, `special token ${JSON.stringify(p.id)} is used but not listed in special_tokens`)
    pieces.push(p)
  }
  if (typeof v === 'string' || (Array.isArray(v) && v.every((x) => typeof x === 'string'))) {
    const words = typeof v === 'string' ? v.split(/\s+/).filter(Boolean) : (v as string[])
    for (const w of words) {
      const m = /^(.*?)(?::(\d+))?$/.exec(w)!
      const name = m[1]!
      const typeId = Number(m[2] ?? 0)
      if (name === '$A' || name === '$') add({ kind: 'seq', which: 0, typeId })
      else if (name === '$B') add({ kind: 'seq', which: 1, typeId })
      else if (/^\$\d+$/.test(name)) add({ kind: 'seq', which: 0, typeId: Number(name.slice(1)) })
      else add({ kind: 'special', id: name, typeId })
    }
    return pieces
  }
  if (!Array.isArray(v)) return fail('TOKENIZER_BAD_TEMPLATE', where, 'a template should be a string or a list of pieces')
  for (const item of v) {
    if (!isObject(item)) return fail('TOKENIZER_BAD_TEMPLATE', where, 'each piece should be {"Sequence": ...} or {"SpecialToken": ...}')
    const s = item['Sequence']
    const t = item['SpecialToken']
    if (isObject(s)) add({ kind: 'seq', which: s['id'] === 'B' ? 1 : 0, typeId: typeof s['type_id'] === 'number' ? s['type_id'] : 0 })
    else if (isObject(t) && typeof t['id'] === 'string') add({ kind: 'special', id: t['id'], typeId: typeof t['type_id'] === 'number' ? t['type_id'] : 0 })
    else fail('TOKENIZER_BAD_TEMPLATE', where, 'each piece should be {"Sequence": ...} or {"SpecialToken": ...}')
  }
  return pieces
}
