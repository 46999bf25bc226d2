/**
 * Character vocabularies of CTC models as transformers' Wav2Vec2CTCTokenizer reads them: vocab.json
 * maps each character (and `<pad>`, `<s>`, `</s>`, `<unk>`) to an id, `|` stands for the space between
 * words, and the pad token is the CTC blank. tokenizer_config.json, when present, may rename the
 * special tokens and set `do_lower_case`. Browser-safe: files come in as strings.
 *
 * Reference: transformers/models/wav2vec2/tokenization_wav2vec2.py (Wav2Vec2CTCTokenizer).
 */
import { fail, isObject, type JsonObject } from './errors.js'

export interface CtcVocabFiles {
  /** vocab.json's text. */
  vocab: string
  /** tokenizer_config.json's text, if the folder has one. */
  tokenizerConfig?: string | undefined
}

export class CtcVocab {
  readonly tokens: readonly string[]
  readonly ids: ReadonlyMap<string, number>
  readonly pad: number
  readonly unk: number
  readonly wordDelimiter: string
  readonly doLowerCase: boolean
  readonly special: ReadonlySet<number>

  constructor(vocab: Record<string, number>, o: { padToken?: string; unkToken?: string; wordDelimiter?: string; doLowerCase?: boolean; bos?: string; eos?: string } = {}) {
    const entries = Object.entries(vocab)
    const tokens: string[] = []
    for (const [tok, id] of entries) {
      if (!Number.isInteger(id) || id < 0) fail('TOKENIZER_BAD_FIELD', 'vocab.json', `id of "${tok}" should be a non-negative integer, got ${id}`)
      if (tokens[id] !== undefined) fail('TOKENIZER_BAD_FIELD', 'vocab.json', `id ${id} is given to both "${tokens[id]}" and "${tok}"`, 'every character needs its own id')
      tokens[id] = tok
    }
    for (let i = 0; i < tokens.length; i++) if (tokens[i] === undefined) fail('TOKENIZER_BAD_FIELD', 'vocab.json', `ids run to ${tokens.length - 1} but ${i} is missing`, 'ids must be 0..n-1 (they index the logits)')
    this.tokens = tokens
    this.ids = new Map(entries)
    const need = (tok: string, what: string): number => {
      const id = this.ids.get(tok)
      if (id === undefined) fail('TOKENIZER_MISSING_TOKEN', 'vocab.json', `has no ${what} token "${tok}"`, `add "${tok}" to vocab.json or name the token in tokenizer_config.json`)
      return id
    }
    this.pad = need(o.padToken ?? '<pad>', 'pad (CTC blank)')
    const unkTok = o.unkToken ?? '<unk>'
    this.unk = this.ids.get(unkTok) ?? -1
    this.wordDelimiter = o.wordDelimiter ?? '|'
    this.doLowerCase = o.doLowerCase ?? false
    this.special = new Set([o.padToken ?? '<pad>', unkTok, o.bos ?? '<s>', o.eos ?? '</s>'].flatMap((t) => (this.ids.has(t) ? [this.ids.get(t)!] : [])))
  }

  static fromFiles(f: CtcVocabFiles): CtcVocab {
    let vocab: unknown
    try {
      vocab = JSON.parse(f.vocab)
    } catch (e) {
      fail('TOKENIZER_BAD_JSON', 'vocab.json', `is not valid JSON (${(e as Error).message})`)
    }
    if (!isObject(vocab)) fail('TOKENIZER_BAD_FIELD', 'vocab.json', 'should be an object mapping characters to ids', 'a multilingual vocab.json nested by language is not supported: pass the inner object')
    let cfg: JsonObject = {}
    if (f.tokenizerConfig !== undefined) {
      const parsed: unknown = JSON.parse(f.tokenizerConfig)
      if (isObject(parsed)) cfg = parsed
    }
    const str = (k: string): string | undefined => {
      const v = cfg[k]
      if (typeof v === 'string') return v
      if (isObject(v) && typeof v.content === 'string') return v.content // AddedToken form
      return undefined
    }
    const o: ConstructorParameters<typeof CtcVocab>[1] = {}
    const pad = str('pad_token'); if (pad !== undefined) o.padToken = pad
    const unk = str('unk_token'); if (unk !== undefined) o.unkToken = unk
    const wd = str('word_delimiter_token'); if (wd !== undefined) o.wordDelimiter = wd
    const bos = str('bos_token'); if (bos !== undefined) o.bos = bos
    const eos = str('eos_token'); if (eos !== undefined) o.eos = eos
    if (typeof cfg.do_lower_case === 'boolean') o.doLowerCase = cfg.do_lower_case
    return new CtcVocab(vocab as Record<string, number>, o)
  }

  get size(): number {
    return this.tokens.length
  }

  /** The text as the vocabulary spells it: lower-cased when `do_lower_case`, spaces collapsed. */
  normalize(text: string): string {
    const t = text.trim().replace(/\s+/g, ' ')
    return this.doLowerCase ? t.toLowerCase() : t
  }

  /** Character ids of a transcript; spaces become the word delimiter, unknown characters `<unk>`. */
  encode(text: string): { ids: number[]; unknown: string[] } {
    const ids: number[] = []
    const unknown: string[] = []
    for (const ch of this.normalize(text)) {
      const tok = ch === ' ' ? this.wordDelimiter : ch
      const id = this.ids.get(tok)
      if (id !== undefined) ids.push(id)
      else {
        unknown.push(ch)
        if (this.unk >= 0) ids.push(this.unk)
      }
    }
    return { ids, unknown }
  }

  /** Text of a sequence of ids (no CTC collapse): special tokens dropped, delimiters to spaces. */
  decode(ids: readonly number[]): string {
    let s = ''
    for (const id of ids) {
      if (this.special.has(id)) continue
      const tok = this.tokens[id] ?? ''
      s += tok === this.wordDelimiter ? ' ' : tok
    }
    return s.replace(/ +/g, ' ').trim()
  }

  /** Greedy CTC decoding of per-frame argmax ids: repeats merged, then blanks (pad) removed. */
  decodeFrames(frameIds: readonly number[]): string {
    return this.decode(ctcCollapse(frameIds, this.pad))
  }
}

/** Merges runs of the same id, then drops `blank`: [a a _ a b b] -> [a a b]. */
export function ctcCollapse(frameIds: readonly number[], blank: number): number[] {
  const out: number[] = []
  let prev = -1
  for (const id of frameIds) {
    if (id !== prev && id !== blank) out.push(id)
    prev = id
  }
  return out
}

/** Per-frame argmax of logits (frames, classes) over the first `frames` rows. */
export function argmaxFrames(logits: ArrayLike<number>, classes: number, frames: number): number[] {
  const out: number[] = []
  for (let t = 0; t < frames; t++) {
    let best = 0
    for (let c = 1; c < classes; c++) if (logits[t * classes + c]! > logits[t * classes + best]!) best = c
    out.push(best)
  }
  return out
}
