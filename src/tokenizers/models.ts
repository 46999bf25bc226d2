import { fail, Fields, isObject, type Json } from './errors.js'
import { utf8 } from './unicode.js'

/** A token from a model: id, its text, and the code point range [start, end) within the word. */
export interface ModelToken {
  id: number
  value: string
  start: number
  end: number
}

export interface Model {
  readonly type: 'WordPiece' | 'BPE' | 'Unigram' | 'WordLevel'
  /** Tokens of one pre-tokenized word. */
  tokenize(word: string): ModelToken[]
  tokenToId(token: string): number | undefined
  idToToken(id: number): string | undefined
  /** Number of entries of the model's vocabulary (added tokens not counted). */
  readonly size: number
  readonly unkToken: string | undefined
}

export const MODELS = ['WordPiece', 'BPE', 'Unigram', 'WordLevel'] as const

export function buildModel(cfg: Json | undefined, where: string): Model {
  if (!isObject(cfg)) return fail('TOKENIZER_BAD_FIELD', where, 'the tokenizer has no model object', 'tokenizer.json needs a "model" with a "type" and a "vocab"')
  const f = new Fields(where, cfg)
  // Old files omit "type"; tokenizers then guesses from the fields present, as do we.
  const type = f.optStr('type') ?? (cfg['merges'] ? 'BPE' : Array.isArray(cfg['vocab']) ? 'Unigram' : cfg['continuing_subword_prefix'] !== undefined ? 'WordPiece' : 'WordLevel')
  switch (type) {
    case 'WordPiece':
      return new WordPiece(f)
    case 'BPE':
      return new BPE(f)
    case 'Unigram':
      return new Unigram(f)
    case 'WordLevel':
      return new WordLevel(f)
    default:
      return fail('TOKENIZER_UNSUPPORTED', where, `model type "${type}" is not supported`, `supported models: ${MODELS.join(', ')}`)
  }
}

function vocabMap(f: Fields): { toId: Map<string, number>; toToken: string[] } {
  const v = f.obj_('vocab')
  const toId = new Map<string, number>()
  const toToken: string[] = []
  for (const [tok, id] of Object.entries(v)) {
    if (typeof id !== 'number') fail('TOKENIZER_BAD_FIELD', `${f.where}.vocab`, `id of ${JSON.stringify(tok)} is not a number`)
    toId.set(tok, id)
    toToken[id] = tok
  }
  return { toId, toToken }
}

const cpLen = (s: string): number => {
  let n = 0
  for (const _ of s) n++
  return n
}

// https://github.com/huggingface/tokenizers/blob/main/tokenizers/src/models/wordpiece/mod.rs
class WordPiece implements Model {
  readonly type = 'WordPiece'
  readonly #toId: Map<string, number>
  readonly #toToken: string[]
  readonly unkToken: string
  readonly #unkId: number
  readonly #prefix: string
  readonly #maxChars: number
  constructor(f: Fields) {
    ;({ toId: this.#toId, toToken: this.#toToken } = vocabMap(f))
    this.unkToken = f.str('unk_token', '[UNK]')
    const unk = this.#toId.get(this.unkToken)
    if (unk === undefined) fail('TOKENIZER_BAD_VOCAB', f.where, `unk_token ${JSON.stringify(this.unkToken)} is not in the vocabulary`, 'add it to the vocabulary or fix model.unk_token')
    this.#unkId = unk
    this.#prefix = f.str('continuing_subword_prefix', '##')
    this.#maxChars = f.num('max_input_chars_per_word', 100)
  }
  get size(): number {
    return this.#toId.size
  }
  tokenToId(t: string): number | undefined {
    return this.#toId.get(t)
  }
  idToToken(id: number): string | undefined {
    return this.#toToken[id]
  }
  tokenize(word: string): ModelToken[] {
    const chars = Array.from(word)
    const unk = [{ id: this.#unkId, value: this.unkToken, start: 0, end: chars.length }]
    if (chars.length > this.#maxChars) return unk
    const out: ModelToken[] = []
    let start = 0
    while (start < chars.length) {
      let end = chars.length
      let found: ModelToken | undefined
      while (start < end) {
        let sub = chars.slice(start, end).join('')
        if (start > 0) sub = this.#prefix + sub
        const id = this.#toId.get(sub)
        if (id !== undefined) {
          found = { id, value: sub, start, end }
          break
        }
        end--
      }
      if (!found) return unk
      out.push(found)
      start = end
    }
    return out
  }
}

// https://github.com/huggingface/tokenizers/blob/main/tokenizers/src/models/bpe/model.rs
class BPE implements Model {
  readonly type = 'BPE'
  readonly #toId: Map<string, number>
  readonly #toToken: string[]
  /** "leftId rightId" -> [rank, newId] */
  readonly #merges = new Map<string, [number, number]>()
  readonly unkToken: string | undefined
  readonly #prefix: string
  readonly #suffix: string
  readonly #fuseUnk: boolean
  readonly #byteFallback: boolean
  readonly #ignoreMerges: boolean
  readonly #cache = new Map<string, ModelToken[]>()
  constructor(f: Fields) {
    ;({ toId: this.#toId, toToken: this.#toToken } = vocabMap(f))
    this.unkToken = f.optStr('unk_token')
    this.#prefix = f.optStr('continuing_subword_prefix') ?? ''
    this.#suffix = f.optStr('end_of_word_suffix') ?? ''
    this.#fuseUnk = f.bool('fuse_unk', false)
    this.#byteFallback = f.bool('byte_fallback', false)
    this.#ignoreMerges = f.bool('ignore_merges', false)
    const dropout = f.optNum('dropout')
    if (dropout !== undefined && dropout > 0) fail('TOKENIZER_UNSUPPORTED', f.where, `BPE dropout ${dropout} is not supported (it makes tokenization random)`, 'set model.dropout to null in tokenizer.json')
    f.arr('merges').forEach((m, rank) => {
      let a: string, b: string
      if (typeof m === 'string') {
        const parts = m.split(' ')
        if (parts.length !== 2) fail('TOKENIZER_BAD_MERGES', `${f.where}.merges[${rank}]`, `${JSON.stringify(m)} is not two tokens separated by one space`)
        ;[a, b] = parts as [string, string]
      } else if (Array.isArray(m) && m.length === 2 && typeof m[0] === 'string' && typeof m[1] === 'string') [a, b] = [m[0], m[1]]
      else return fail('TOKENIZER_BAD_MERGES', `${f.where}.merges[${rank}]`, 'a merge should be "a b" or ["a", "b"]')
      const ia = this.#toId.get(a)
      const ib = this.#toId.get(b)
      const merged = a + (this.#prefix && b.startsWith(this.#prefix) ? b.slice(this.#prefix.length) : b)
      const inew = this.#toId.get(merged)
      if (ia === undefined || ib === undefined || inew === undefined)
        fail('TOKENIZER_BAD_MERGES', `${f.where}.merges[${rank}]`, `merge ${JSON.stringify([a, b])} uses a token missing from the vocabulary (${JSON.stringify(ia === undefined ? a : ib === undefined ? b : merged)})`, 'vocab and merges must come from the same training run')
      this.#merges.set(`${ia} ${ib}`, [rank, inew])
    })
  }
  get size(): number {
    return this.#toId.size
  }
  tokenToId(t: string): number | undefined {
    return this.#toId.get(t)
  }
  idToToken(id: number): string | undefined {
    return this.#toToken[id]
  }
  tokenize(word: string): ModelToken[] {
    if (word.length === 0) return []
    if (this.#ignoreMerges) {
      const id = this.#toId.get(word)
      if (id !== undefined) return [{ id, value: word, start: 0, end: cpLen(word) }]
    }
    const hit = this.#cache.get(word)
    if (hit) return hit
    const out = this.#merge(word)
    if (this.#cache.size < 10_000 && word.length < 256) this.#cache.set(word, out)
    return out
  }
  #merge(word: string): ModelToken[] {
    // symbols: id and code point span; merged-away symbols get len 0
    const ids: number[] = []
    const starts: number[] = []
    const ends: number[] = []
    const chars = Array.from(word)
    let unk: [number, number, number] | undefined // id, start, end
    const push = (id: number, s: number, e: number): void => {
      ids.push(id)
      starts.push(s)
      ends.push(e)
    }
    chars.forEach((c, i) => {
      let s = c
      if (i > 0) s = this.#prefix + s
      if (i === chars.length - 1) s = s + this.#suffix
      const id = this.#toId.get(s)
      if (id !== undefined) {
        if (unk) push(...unk)
        unk = undefined
        push(id, i, i + 1)
        return
      }
      if (this.#byteFallback) {
        const bytes = Array.from(utf8(s), (b) => this.#toId.get(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`))
        if (bytes.every((b) => b !== undefined)) {
          for (const b of bytes) push(b, i, i + 1)
          return
        }
      }
      if (this.unkToken !== undefined) {
        const unkId = this.#toId.get(this.unkToken)
        if (unkId === undefined) fail('TOKENIZER_BAD_VOCAB', 'tokenizer.json model', `unk_token ${JSON.stringify(this.unkToken)} is not in the vocabulary`)
        if (unk && this.#fuseUnk) unk[2] = i + 1
        else {
          if (unk) push(...unk)
          unk = [unkId, i, i + 1]
        }
      }
      // with neither a vocabulary entry nor an unk token the character is dropped, as tokenizers does
    })
    if (unk) push(...unk)
    this.#mergeAll(ids, starts, ends)
    const out: ModelToken[] = []
    for (let i = 0; i < ids.length; i++) if (ids[i]! >= 0) out.push({ id: ids[i]!, value: this.#toToken[ids[i]!] ?? '', start: starts[i]!, end: ends[i]! })
    return out
  }
  /** Applies merges lowest rank first, leftmost first on ties (tokenizers' Word::merge_all). */
  #mergeAll(ids: number[], starts: number[], ends: number[]): void {
    const n = ids.length
    const next = Array.from({ length: n }, (_, i) => (i + 1 < n ? i + 1 : -1))
    const prev = Array.from({ length: n }, (_, i) => i - 1)
    const heap = new MergeHeap()
    for (let i = 0; i + 1 < n; i++) {
      const m = this.#merges.get(`${ids[i]} ${ids[i + 1]}`)
      if (m) heap.push(m[0], i, m[1])
    }
    for (let top = heap.pop(); top; top = heap.pop()) {
      const [, pos, newId] = top
      if (ids[pos]! < 0) continue
      const r = next[pos]!
      if (r === -1) continue
      const cur = this.#merges.get(`${ids[pos]} ${ids[r]}`)
      if (!cur || cur[1] !== newId) continue // stale entry
      ids[pos] = newId
      ends[pos] = ends[r]!
      ids[r] = -1
      const rn = next[r]!
      next[pos] = rn
      if (rn !== -1) prev[rn] = pos
      const p = prev[pos]!
      if (p >= 0) {
        const m = this.#merges.get(`${ids[p]} ${ids[pos]}`)
        if (m) heap.push(m[0], p, m[1])
      }
      if (rn !== -1) {
        const m = this.#merges.get(`${ids[pos]} ${ids[rn]}`)
        if (m) heap.push(m[0], pos, m[1])
      }
    }
  }
}

/** Binary min-heap of [rank, pos, newId] ordered by rank then pos. */
class MergeHeap {
  readonly #a: Array<[number, number, number]> = []
  #less(x: [number, number, number], y: [number, number, number]): boolean {
    return x[0] < y[0] || (x[0] === y[0] && x[1] < y[1])
  }
  push(rank: number, pos: number, newId: number): void {
    const a = this.#a
    a.push([rank, pos, newId])
    let i = a.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!this.#less(a[i]!, a[p]!)) break
      ;[a[i], a[p]] = [a[p]!, a[i]!]
      i = p
    }
  }
  pop(): [number, number, number] | undefined {
    const a = this.#a
    if (a.length === 0) return undefined
    const top = a[0]!
    const last = a.pop()!
    if (a.length > 0) {
      a[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < a.length && this.#less(a[l]!, a[m]!)) m = l
        if (r < a.length && this.#less(a[r]!, a[m]!)) m = r
        if (m === i) break
        ;[a[i], a[m]] = [a[m]!, a[i]!]
        i = m
      }
    }
    return top
  }
}

interface TrieNode {
  next: Map<string, TrieNode>
  id: number
}

// https://github.com/huggingface/tokenizers/blob/main/tokenizers/src/models/unigram/model.rs
class Unigram implements Model {
  readonly type = 'Unigram'
  readonly #pieces: string[] = []
  readonly #scores: number[] = []
  readonly #toId = new Map<string, number>()
  readonly #unkId: number | undefined
  readonly #byteFallback: boolean
  readonly #minScore: number
  /** Trie over code points for the prefix search of the Viterbi pass. */
  readonly #trie: TrieNode = { next: new Map(), id: -1 }
  constructor(f: Fields) {
    f.arr('vocab').forEach((e, i) => {
      if (!Array.isArray(e) || typeof e[0] !== 'string' || typeof e[1] !== 'number') return fail('TOKENIZER_BAD_FIELD', `${f.where}.vocab[${i}]`, 'an entry should be [piece, score]')
      this.#pieces.push(e[0])
      this.#scores.push(e[1])
      this.#toId.set(e[0], i) // a repeated piece maps to its last id, as in tokenizers
      let node = this.#trie
      for (const c of e[0]) {
        let child = node.next.get(c)
        if (!child) node.next.set(c, (child = { next: new Map(), id: -1 }))
        node = child
      }
      node.id = i
    })
    this.#unkId = f.optNum('unk_id')
    this.#byteFallback = f.bool('byte_fallback', false)
    this.#minScore = Math.min(...this.#scores)
  }
  get unkToken(): string | undefined {
    return this.#unkId === undefined ? undefined : this.#pieces[this.#unkId]
  }
  get size(): number {
    return this.#pieces.length
  }
  tokenToId(t: string): number | undefined {
    return this.#toId.get(t)
  }
  idToToken(id: number): string | undefined {
    return this.#pieces[id]
  }
  tokenize(word: string): ModelToken[] {
    const chars = Array.from(word)
    const n = chars.length
    if (n === 0) return []
    const unkScore = this.#minScore - 10
    // best[i]: best path that ends at code point i
    const score = new Float64Array(n + 1)
    const from = new Int32Array(n + 1).fill(-1)
    const id = new Int32Array(n + 1).fill(-1)
    for (let s = 0; s < n; s++) {
      if (s > 0 && from[s] === -1) continue
      const base = score[s]!
      let single = false
      // prefixes shortest first, as tokenizers' trie yields them; on equal scores the first stays
      let node: TrieNode | undefined = this.#trie
      for (let e = s + 1; e <= n; e++) {
        node = node.next.get(chars[e - 1]!)
        if (!node) break
        if (node.id < 0) continue
        const len = e - s
        const tid = this.#toId.get(this.#pieces[node.id]!)!
        const cand = this.#scores[tid]! + base
        if (from[e] === -1 || cand > score[e]!) {
          score[e] = cand
          from[e] = s
          id[e] = tid
        }
        if (len === 1) single = true
      }
      if (!single) {
        if (this.#unkId === undefined) fail('TOKENIZER_BAD_VOCAB', 'tokenizer.json model', `the Unigram model has no unk_id and cannot encode ${JSON.stringify(chars[s])}`, 'set model.unk_id in tokenizer.json')
        const e = s + 1
        const cand = unkScore + base
        if (from[e] === -1 || cand > score[e]!) {
          score[e] = cand
          from[e] = s
          id[e] = this.#unkId
        }
      }
    }
    // walk back, fusing consecutive unknowns into one token as sentencepiece does
    const spans: Array<[number, number, boolean]> = []
    for (let e = n; e > 0; ) {
      const s = from[e]!
      const isUnk = id[e] === this.#unkId
      const last = spans[spans.length - 1]
      if (isUnk && last && last[2]) last[0] = s
      else spans.push([s, e, isUnk])
      e = s
    }
    spans.reverse()
    const out: ModelToken[] = []
    for (const [s, e] of spans) {
      const value = chars.slice(s, e).join('')
      const tid = this.#toId.get(value)
      if (tid !== undefined) {
        out.push({ id: tid, value, start: s, end: e })
        continue
      }
      if (this.#byteFallback) {
        const bytes = Array.from(utf8(value), (b) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`)
        const bids = bytes.map((b) => this.#toId.get(b))
        if (bids.every((b) => b !== undefined)) {
          bids.forEach((b, k) => out.push({ id: b, value: bytes[k]!, start: s, end: e }))
          continue
        }
      }
      out.push({ id: this.#unkId!, value, start: s, end: e })
    }
    return out
  }
}

class WordLevel implements Model {
  readonly type = 'WordLevel'
  readonly #toId: Map<string, number>
  readonly #toToken: string[]
  readonly unkToken: string
  constructor(f: Fields) {
    ;({ toId: this.#toId, toToken: this.#toToken } = vocabMap(f))
    this.unkToken = f.str('unk_token', '<unk>')
  }
  get size(): number {
    return this.#toId.size
  }
  tokenToId(t: string): number | undefined {
    return this.#toId.get(t)
  }
  idToToken(id: number): string | undefined {
    return this.#toToken[id]
  }
  tokenize(word: string): ModelToken[] {
    const id = this.#toId.get(word) ?? this.#toId.get(this.unkToken)
    if (id === undefined) return fail('TOKENIZER_BAD_VOCAB', 'tokenizer.json model', `WordLevel has no entry for ${JSON.stringify(word)} and its unk_token ${JSON.stringify(this.unkToken)} is not in the vocabulary`)
    return [{ id, value: this.#toToken[id]!, start: 0, end: cpLen(word) }]
  }
}
