/**
 * A SentencePiece processor: normalization, Unigram (Viterbi) and BPE encoding, byte fallback,
 * unknown handling and decoding, following sentencepiece's normalizer.cc, unigram_model.cc
 * (EncodeOptimized), bpe_model.cc and sentencepiece_processor.cc. Work is done on UTF-8 bytes, as
 * there, and path scores accumulate in float32 (Math.fround), as there, so ties break the same way.
 * This is what Marian's tokenizer runs (source.spm / target.spm); T5-style folders that ship
 * tokenizer.json go through the Tokenizer class instead.
 */
import { PrecompiledCharsmap } from './precompiled.js'
import { PieceType, type SentencePieceModel } from './sentencepiece-model.js'

const enc = new TextEncoder()
const dec = new TextDecoder('utf-8', { ignoreBOM: true }) // a U+FEFF in text is content, not a byte-order mark
const SPACE = '\u2581'
const UNK_PENALTY = 10

/** Byte length of the UTF-8 character starting with `b` (1 for a stray continuation byte). */
const charLen = (b: number): number => (b < 0x80 ? 1 : b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1)

/** A byte-keyed trie of pieces. */
interface Node {
  next: Map<number, Node>
  id: number
}

export interface SpmToken {
  id: number
  piece: string
}

export class SentencePieceProcessor {
  readonly model: SentencePieceModel
  readonly #toId = new Map<string, number>()
  readonly #trie: Node = { next: new Map(), id: -1 }
  readonly #userDefined: string[] = []
  readonly #charsmap: PrecompiledCharsmap | undefined
  readonly #minScore: number
  readonly #maxScore: number

  constructor(model: SentencePieceModel) {
    this.model = model
    let min = Infinity
    let max = -Infinity
    model.pieces.forEach((p, id) => {
      if (!this.#toId.has(p.piece)) this.#toId.set(p.piece, id)
      if (p.type === PieceType.NORMAL) {
        min = Math.min(min, p.score)
        max = Math.max(max, p.score)
      }
      if (p.type === PieceType.NORMAL || p.type === PieceType.USER_DEFINED || p.type === PieceType.UNUSED) {
        let n = this.#trie
        for (const b of enc.encode(p.piece)) {
          let c = n.next.get(b)
          if (!c) n.next.set(b, (c = { next: new Map(), id: -1 }))
          n = c
        }
        n.id = id
      }
      if (p.type === PieceType.USER_DEFINED) this.#userDefined.push(p.piece)
    })
    this.#minScore = min
    this.#maxScore = max
    this.#userDefined.sort((a, b) => b.length - a.length)
    const cm = model.normalizer.precompiledCharsmap
    this.#charsmap = cm.length > 0 ? new PrecompiledCharsmap(cm) : undefined
  }

  get vocabSize(): number {
    return this.model.pieces.length
  }
  pieceToId(piece: string): number {
    return this.#toId.get(piece) ?? this.model.unkId
  }
  idToPiece(id: number): string | undefined {
    return this.model.pieces[id]?.piece
  }

  /** sentencepiece's Normalizer::Normalize: the charsmap, whitespace handling, dummy prefix, ▁ escaping. */
  normalize(text: string): string {
    const ns = this.model.normalizer
    const bytes = enc.encode(text)
    let pos = 0
    // one normalization step at pos: [replacement, bytes consumed]
    const prefix = (): [string, number] => {
      for (const u of this.#userDefined) {
        const ub = enc.encode(u)
        if (ub.length <= bytes.length - pos && ub.every((b, i) => bytes[pos + i] === b)) return [u, ub.length]
      }
      const hit = this.#charsmap?.longestAt(bytes, pos)
      if (hit && hit[1] > 0) return hit
      const n = Math.min(charLen(bytes[pos]!), bytes.length - pos)
      // bytes from TextEncoder are valid UTF-8 (lone surrogates are already U+FFFD), so no malformed case
      return [dec.decode(bytes.subarray(pos, pos + n)), n]
    }
    if (ns.removeExtraWhitespaces) {
      while (pos < bytes.length) {
        const [s, n] = prefix()
        if (s !== ' ') break
        pos += n
      }
    }
    if (pos >= bytes.length) return ''
    const ws = ns.escapeWhitespaces ? SPACE : ' '
    let out = ''
    const suffix = this.model.treatWhitespaceAsSuffix
    if (!suffix && ns.addDummyPrefix) out += ws
    let prevSpace = ns.removeExtraWhitespaces
    while (pos < bytes.length) {
      let [s, n] = prefix()
      if (prevSpace) s = s.replace(/^ +/, '')
      if (s !== '') {
        out += ns.escapeWhitespaces ? s.replaceAll(' ', SPACE) : s
        prevSpace = s.endsWith(' ')
      }
      pos += n
      if (!ns.removeExtraWhitespaces) prevSpace = false
    }
    if (ns.removeExtraWhitespaces) while (out.endsWith(ws)) out = out.slice(0, -ws.length)
    if (suffix && ns.addDummyPrefix) out += ws
    return out
  }

  /** Pieces and ids of `text` (normalized first), as SentencePieceProcessor::Encode. */
  encode(text: string): SpmToken[] {
    const normalized = this.normalize(text)
    if (normalized === '') return []
    const raw = this.model.modelType === 'bpe' ? this.#bpe(normalized) : this.model.modelType === 'unigram' ? this.#unigram(normalized) : this.#simple(normalized)
    const out: SpmToken[] = []
    let prevUnk = false
    for (const t of raw) {
      const isUnk = t.id === this.model.unkId || this.model.pieces[t.id]?.type === PieceType.UNKNOWN
      if (isUnk && this.model.byteFallback) {
        for (const b of enc.encode(t.piece)) {
          const bp = `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`
          out.push({ id: this.pieceToId(bp), piece: bp })
        }
      } else if (isUnk && prevUnk) out[out.length - 1]!.piece += t.piece
      else out.push({ ...t })
      prevUnk = isUnk && !this.model.byteFallback
    }
    return out
  }

  encodeIds(text: string): number[] {
    return this.encode(text).map((t) => t.id)
  }

  // unigram_model.cc EncodeOptimized: Viterbi over byte positions, float32 path scores
  #unigram(normalized: string): SpmToken[] {
    const bytes = enc.encode(normalized)
    const size = bytes.length
    const unkScore = Math.fround(this.#minScore - UNK_PENALTY)
    const best = Array.from({ length: size + 1 }, () => ({ id: -1, score: 0, start: -1 }))
    for (let start = 0; start < size; ) {
      const till = best[start]!.score
      const mblen = Math.min(charLen(bytes[start]!), size - start)
      let hasSingle = false
      let node: Node | undefined = this.#trie
      for (let k = start; k < size && node; k++) {
        node = node.next.get(bytes[k]!)
        if (!node || node.id < 0) continue
        const p = this.model.pieces[node.id]!
        if (p.type === PieceType.UNUSED) continue
        const len = k + 1 - start
        const score = p.type === PieceType.USER_DEFINED ? len * this.#maxScore - 0.1 : p.score
        const cand = Math.fround(score + till)
        const t = best[k + 1]!
        if (t.start === -1 || cand > t.score) {
          t.score = cand
          t.start = start
          t.id = node.id
        }
        if (len === mblen) hasSingle = true
      }
      if (!hasSingle) {
        const t = best[start + mblen]!
        const cand = Math.fround(unkScore + till)
        if (t.start === -1 || cand > t.score) {
          t.score = cand
          t.start = start
          t.id = this.model.unkId
        }
      }
      start += mblen
    }
    const out: SpmToken[] = []
    for (let end = size; end > 0; ) {
      const n = best[end]!
      out.push({ id: n.id, piece: dec.decode(bytes.subarray(n.start, end)) })
      end = n.start
    }
    return out.reverse()
  }

  // bpe_model.cc Encode: merge the adjacent pair whose concatenation is the best-scoring piece,
  // leftmost first on ties, until no pair is a piece
  #bpe(normalized: string): SpmToken[] {
    const syms: string[] = []
    for (let i = 0; i < normalized.length; ) {
      const u = this.#userDefined.find((p) => normalized.startsWith(p, i))
      const cp = normalized.codePointAt(i)!
      const s = u ?? String.fromCodePoint(cp)
      syms.push(s)
      i += s.length
    }
    const isPiece = (s: string): number | undefined => {
      const id = this.#toId.get(s)
      if (id === undefined) return undefined
      const t = this.model.pieces[id]!.type
      return t === PieceType.NORMAL || t === PieceType.USER_DEFINED || t === PieceType.UNUSED ? id : undefined
    }
    for (;;) {
      let bestI = -1
      let bestScore = -Infinity
      for (let i = 0; i + 1 < syms.length; i++) {
        const id = isPiece(syms[i]! + syms[i + 1]!)
        if (id === undefined) continue
        const sc = this.model.pieces[id]!.score
        if (sc > bestScore) {
          bestScore = sc
          bestI = i
        }
      }
      if (bestI < 0) break
      syms.splice(bestI, 2, syms[bestI]! + syms[bestI + 1]!)
    }
    return syms.map((s) => ({ id: isPiece(s) ?? this.model.unkId, piece: s }))
  }

  // word / char models: whitespace-delimited words or single characters, looked up whole
  #simple(normalized: string): SpmToken[] {
    const parts = this.model.modelType === 'char' ? Array.from(normalized) : normalized.split(/(?=\u2581)/u).filter((s) => s !== '')
    return parts.map((s) => ({ id: this.#toId.get(s) ?? this.model.unkId, piece: s }))
  }

  /** Text of ids as SentencePieceProcessor::Decode: controls vanish, <unk> shows unk_surface, byte pieces join into UTF-8. */
  decode(ids: readonly number[]): string {
    let out = ''
    let pending: number[] = []
    const flush = (): void => {
      if (pending.length) out += dec.decode(Uint8Array.from(pending))
      pending = []
    }
    ids.forEach((id) => {
      const p = this.model.pieces[id]
      if (!p) return
      if (p.type === PieceType.BYTE) {
        pending.push(parseInt(p.piece.slice(3, 5), 16))
        return
      }
      flush()
      if (p.type === PieceType.CONTROL) return
      if (p.type === PieceType.UNKNOWN) out += this.model.unkSurface
      else out += p.piece
    })
    flush()
    out = out.replaceAll(SPACE, ' ')
    if (this.model.normalizer.addDummyPrefix && !this.model.treatWhitespaceAsSuffix && out.startsWith(' ')) out = out.slice(1)
    return out
  }
}
