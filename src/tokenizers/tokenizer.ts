import { AddedMatcher, addedTokenJson, parseAddedTokens, type AddedToken, type Piece } from './added-tokens.js'
import { buildDecoder, cleanUpTokenization, type Decoder } from './decoders.js'
import { concatEnc, truncateEnc, withSequenceId, type Enc } from './encoding.js'
import { fail, isObject, type Json, type JsonObject } from './errors.js'
import { buildModel, type Model, type ModelToken } from './models.js'
import { Normalized } from './normalized.js'
import { buildNormalizer, type Normalizer } from './normalizers.js'
import { buildPostProcessor, type PostProcessor } from './post-processors.js'
import { buildPreTokenizer, type PreTokenizer } from './pre-tokenizers.js'

/** One encoded text (or text pair), as lists of equal length. */
export interface Encoding {
  ids: number[]
  /** Segment ids: 0 for the first text, 1 for the pair where the model uses them (BERT). */
  typeIds: number[]
  /** 1 for real tokens, 0 for padding. */
  attentionMask: number[]
  tokens: string[]
  /** [start, end) of each token in its own input text, in UTF-16 units (`text.slice(start, end)`); [0, 0] for specials and padding. */
  offsets: Array<[number, number]>
  /** Index of the word (pre-tokenizer split) each token came from, per input text; null for specials and padding. */
  wordIds: Array<number | null>
  /** 1 for tokens the post-processor or padding added. */
  specialTokensMask: number[]
  /** 0 or 1: which input each token came from; null for specials and padding. */
  sequenceIds: Array<number | null>
}

export type Truncation = boolean | 'longest_first' | 'only_first' | 'only_second'
export type Padding = false | 'longest' | 'max_length'

export interface EncodeOptions {
  /** Add the model's special tokens ([CLS] ... [SEP], <s> ... </s>); default true. */
  addSpecialTokens?: boolean
  /** Length limit for truncation and 'max_length' padding; defaults to modelMaxLength. */
  maxLength?: number
  /** true means 'longest_first'. Default false. */
  truncation?: Truncation
  /** Which end loses tokens; default from tokenizer_config truncation_side, else 'right'. */
  truncationSide?: 'left' | 'right'
  /** Pads a single encoding too (only 'max_length' changes anything). */
  padding?: Padding
  padToMultipleOf?: number
  /** Default from tokenizer_config padding_side, else 'right'. */
  paddingSide?: 'left' | 'right'
}

export interface BatchOptions extends EncodeOptions {
  /** 'longest' pads to the longest in the batch, 'max_length' to maxLength. Default false. */
  padding?: Padding
}

export interface DecodeOptions {
  skipSpecialTokens?: boolean
  /** Applies transformers' spacing clean-up after decoding; default from tokenizer_config clean_up_tokenization_spaces, else false. */
  cleanUpTokenizationSpaces?: boolean
}

/** Special tokens by role, as tokenizer_config.json / special_tokens_map.json name them. */
export const SPECIAL_ROLES = ['bos_token', 'eos_token', 'unk_token', 'sep_token', 'pad_token', 'cls_token', 'mask_token'] as const
export type SpecialRole = (typeof SPECIAL_ROLES)[number]

/** Everything a Tokenizer is made of: the parsed files it was loaded from (or synthesized from legacy files). */
export interface TokenizerSpec {
  tokenizerJson: JsonObject
  config: JsonObject
  specialTokensMap: JsonObject
}

/** A tokenizer as Hugging Face's tokenizers library runs it, built from a tokenizer.json object. */
export class Tokenizer {
  readonly #spec: TokenizerSpec
  readonly #model: Model
  readonly #normalizer: Normalizer | null
  readonly #pre: PreTokenizer | null
  readonly #post: PostProcessor | null
  readonly #decoder: Decoder | null
  readonly #added: AddedToken[]
  readonly #addedById = new Map<number, AddedToken>()
  readonly #addedByContent = new Map<string, AddedToken>()
  readonly #rawMatcher: AddedMatcher
  readonly #normMatcher: AddedMatcher
  readonly #specials = new Map<SpecialRole, string>()

  /** Special token ids by role; undefined when the tokenizer has none. */
  readonly padId: number | undefined
  readonly clsId: number | undefined
  readonly bosId: number | undefined
  readonly eosId: number | undefined
  readonly sepId: number | undefined
  readonly unkId: number | undefined
  readonly maskId: number | undefined
  /** tokenizer_config model_max_length; undefined when absent or transformers' "unlimited" placeholder. */
  readonly modelMaxLength: number | undefined

  constructor(spec: TokenizerSpec) {
    this.#spec = spec
    const tj = spec.tokenizerJson
    const w = 'tokenizer.json'
    this.#model = buildModel(tj['model'], `${w} model`)
    this.#normalizer = buildNormalizer(tj['normalizer'], `${w} normalizer`)
    this.#pre = buildPreTokenizer(tj['pre_tokenizer'], `${w} pre_tokenizer`)
    this.#post = buildPostProcessor(tj['post_processor'], `${w} post_processor`)
    this.#decoder = buildDecoder(tj['decoder'], `${w} decoder`)
    this.#added = parseAddedTokens(tj['added_tokens'], `${w} added_tokens`)
    for (const t of this.#added) {
      this.#addedById.set(t.id, t)
      this.#addedByContent.set(t.content, t)
    }
    this.#rawMatcher = new AddedMatcher(this.#added.filter((t) => !t.normalized).map((t) => ({ pattern: t.content, token: t })))
    this.#normMatcher = new AddedMatcher(
      this.#added.filter((t) => t.normalized).map((t) => ({ pattern: this.#normalizer ? this.#normalizer(Normalized.of(t.content)).text : t.content, token: t })),
    )
    for (const role of SPECIAL_ROLES) {
      const v = specialContent(spec.config[role]) ?? specialContent(spec.specialTokensMap[role])
      if (v !== undefined) this.#specials.set(role, v)
    }
    const id = (role: SpecialRole): number | undefined => {
      const t = this.#specials.get(role)
      return t === undefined ? undefined : this.tokenToId(t)
    }
    const padding = tj['padding']
    this.padId = id('pad_token') ?? (isObject(padding) && typeof padding['pad_id'] === 'number' ? padding['pad_id'] : undefined)
    this.clsId = id('cls_token')
    this.bosId = id('bos_token')
    this.eosId = id('eos_token')
    this.sepId = id('sep_token')
    this.unkId = id('unk_token') ?? (this.#model.unkToken !== undefined ? this.tokenToId(this.#model.unkToken) : undefined)
    this.maskId = id('mask_token')
    const mml = spec.config['model_max_length']
    this.modelMaxLength = typeof mml === 'number' && mml > 0 && mml < 1e12 ? mml : undefined
  }

  /** Number of ids: one more than the highest id of the vocabulary or the added tokens. */
  get vocabSize(): number {
    let max = this.#model.size - 1
    for (const t of this.#added) if (t.id > max) max = t.id
    return max + 1
  }
  /** The model type of tokenizer.json: 'WordPiece' | 'BPE' | 'Unigram' | 'WordLevel'. */
  get modelType(): Model['type'] {
    return this.#model.type
  }
  /** Special tokens by role (from tokenizer_config.json / special_tokens_map.json). */
  get specialTokens(): Partial<Record<SpecialRole, string>> {
    return Object.fromEntries(this.#specials)
  }

  tokenToId(token: string): number | undefined {
    return this.#addedByContent.get(token)?.id ?? this.#model.tokenToId(token)
  }
  idToToken(id: number): string | undefined {
    return this.#addedById.get(id)?.content ?? this.#model.idToToken(id)
  }

  /** Encodes one text, or a text and its pair. */
  encode(text: string, pair?: string | null, opts: EncodeOptions = {}): Encoding {
    return this.encodeBatch([text], pair === undefined || pair === null ? undefined : [pair], opts)[0]!
  }

  /** Encodes texts (and pairs, one per text), truncating and padding them together. */
  encodeBatch(texts: readonly string[], pairs?: readonly string[] | null, opts: BatchOptions = {}): Encoding[] {
    if (pairs && pairs.length !== texts.length)
      fail('TOKENIZER_BAD_ARGUMENT', 'encodeBatch', `got ${texts.length} texts but ${pairs.length} pairs`, 'pass one pair per text, or none')
    const add = opts.addSpecialTokens ?? true
    const truncation = opts.truncation ?? false
    const maxLength = opts.maxLength ?? this.modelMaxLength
    if (truncation !== false && maxLength === undefined)
      fail('TOKENIZER_NO_MAX_LENGTH', 'encode', 'truncation needs a maxLength, and tokenizer_config.json has no model_max_length', 'pass maxLength')
    const truncSide = opts.truncationSide ?? sideOf(this.#spec.config['truncation_side'])
    const encs = texts.map((t, i) => {
      const p = pairs?.[i]
      return this.#encodePair(t, p ?? null, add, truncation === false ? null : { maxLength: maxLength!, strategy: truncation === true ? 'longest_first' : truncation, side: truncSide })
    })
    const padding = opts.padding ?? false
    if (padding !== false) {
      if (this.padId === undefined)
        fail('TOKENIZER_NO_PAD_TOKEN', 'tokenizer_config.json', 'padding needs a pad token and this tokenizer has none', 'set "pad_token" in tokenizer_config.json (GPT-2 models commonly reuse the eos token), or pad without this tokenizer')
      let len: number
      if (padding === 'max_length') {
        if (maxLength === undefined) return fail('TOKENIZER_NO_MAX_LENGTH', 'encode', "padding 'max_length' needs a maxLength, and tokenizer_config.json has no model_max_length", "pass maxLength or use padding 'longest'")
        len = maxLength
      } else len = Math.max(0, ...encs.map((e) => e.ids.length))
      const m = opts.padToMultipleOf
      if (m !== undefined && m > 0 && len % m !== 0) len += m - (len % m)
      const side = opts.paddingSide ?? sideOf(this.#spec.config['padding_side'])
      const padToken = this.idToToken(this.padId) ?? ''
      return encs.map((e) => finish(pad(e, len, this.padId!, padToken, side)))
    }
    return encs.map((e) => finish({ ...e, attentionMask: e.ids.map(() => 1) }))
  }

  /** Turns ids back into text, as tokenizers' decode does. Unknown ids are skipped. */
  decode(ids: readonly number[], opts: DecodeOptions = {}): string {
    const tokens: string[] = []
    for (const id of ids) {
      const added = this.#addedById.get(id)
      if (added && added.special && opts.skipSpecialTokens) continue
      const t = added?.content ?? this.#model.idToToken(id)
      if (t !== undefined) tokens.push(t)
    }
    let text = this.#decoder ? this.#decoder(tokens).join('') : tokens.join(' ')
    const cfgClean = this.#spec.config['clean_up_tokenization_spaces']
    if (opts.cleanUpTokenizationSpaces ?? cfgClean === true) text = cleanUpTokenization(text)
    return text
  }

  /** tokenizer.json, tokenizer_config.json and special_tokens_map.json, so transformers can load the folder. */
  toFiles(): Record<string, string> {
    const tj: JsonObject = { ...this.#spec.tokenizerJson, added_tokens: this.#added.map(addedTokenJson) }
    const config: JsonObject = { ...this.#spec.config }
    const specials: JsonObject = { ...this.#spec.specialTokensMap }
    for (const [role, tok] of this.#specials) {
      if (config[role] === undefined) config[role] = tok
      if (specials[role] === undefined) specials[role] = this.#spec.config[role] ?? tok
    }
    if (this.modelMaxLength !== undefined) config['model_max_length'] = this.modelMaxLength
    return {
      'tokenizer.json': JSON.stringify(tj, null, 2) + '\n',
      'tokenizer_config.json': JSON.stringify(config, null, 2) + '\n',
      'special_tokens_map.json': JSON.stringify(specials, null, 2) + '\n',
    }
  }

  // --- the pipeline ---------------------------------------------------------------------------

  /**
   * Normalizes, pre-tokenizes and tokenizes one text; word ids count the pre-tokenizer's splits.
   * With `limit`, words are tokenized from the kept end only until `limit` tokens exist and the
   * rest is dropped, as tokenizers (>= 0.23) does before truncating; this decides which sequence
   * of a pair counts as the longer one in 'longest_first'.
   */
  #encodeSequence(text: string, typeId: number, limit?: { max: number; side: 'left' | 'right' }): Enc {
    const pieces: Piece[] = []
    const whole = Normalized.of(text)
    for (const part of this.#rawMatcher.empty ? [{ n: whole }] : this.#rawMatcher.split(whole)) {
      if (part.added) pieces.push(part)
      else pieces.push(...this.#normMatcher.split(this.#normalizer ? this.#normalizer(part.n) : part.n))
    }
    let splits: Piece[] = pieces.flatMap((p) => (p.added ? [p] : (this.#pre ? this.#pre(p.n) : [p.n]).map((n) => ({ n }))))
    const toks: Array<ModelToken[] | undefined> = splits.map(() => undefined)
    const run = (i: number): number => {
      const s = splits[i]!
      if (s.added) return 1
      const t = this.#model.tokenize(s.n.text)
      toks[i] = t
      return t.length
    }
    if (!limit) splits.forEach((_, i) => run(i))
    else if (limit.side === 'right') {
      let total = 0
      let last = 0
      for (let i = 0; i < splits.length; i++) {
        const already = !!splits[i]!.added
        total += run(i)
        last = i + 1
        if (!already && total >= limit.max) break
      }
      splits = splits.slice(0, last)
    } else {
      let total = 0
      let first = splits.length
      for (let i = splits.length - 1; i >= 0; i--) {
        const already = !!splits[i]!.added
        total += run(i)
        first = i
        if (!already && total >= limit.max) break
      }
      splits = splits.slice(first)
      toks.splice(0, first)
    }
    const e: Enc = { ids: [], typeIds: [], tokens: [], offsets: [], wordIds: [], specialMask: [], sequenceIds: [] }
    const push = (id: number, token: string, off: readonly [number, number], w: number): void => {
      e.ids.push(id)
      e.tokens.push(token)
      e.offsets.push([off[0], off[1]])
      e.wordIds.push(w)
      e.typeIds.push(typeId)
      e.specialMask.push(0)
      e.sequenceIds.push(typeId)
    }
    splits.forEach((s, word) => {
      if (s.added) push(s.added.id, s.n.text, s.n.originalRange(0, s.n.length), word)
      else for (const t of toks[word] ?? []) push(t.id, t.value, s.n.originalRange(t.start, t.end), word)
    })
    return e
  }

  #encodePair(text: string, pair: string | null, add: boolean, trunc: { maxLength: number; strategy: 'longest_first' | 'only_first' | 'only_second'; side: 'left' | 'right' } | null): Enc {
    // tokenizers skips the early stop for the first text under 'only_second'
    const limit = (seq: number): { max: number; side: 'left' | 'right' } | undefined =>
      trunc && !(trunc.strategy === 'only_second' && seq === 0) ? { max: trunc.maxLength, side: trunc.side } : undefined
    let a = this.#encodeSequence(text, 0, limit(0))
    let b = pair === null ? null : this.#encodeSequence(pair, 1, limit(1))
    if (trunc) {
      const added = add && this.#post ? this.#post.addedTokens(b !== null) : 0
      if (trunc.maxLength < added)
        fail('TOKENIZER_MAX_LENGTH_TOO_SMALL', 'encode', `maxLength ${trunc.maxLength} leaves no room: the special tokens alone take ${added}`, `use maxLength >= ${added + 1}`)
      ;[a, b] = truncatePair(a, b, trunc.maxLength - added, trunc.strategy, trunc.side)
    }
    let encs = b ? [a, b] : [a]
    if (this.#post) encs = this.#post.process(encs, add)
    else encs = encs.map((e, i) => withSequenceId(e, i))
    return concatEnc(encs)
  }
}

function specialContent(v: Json | undefined): string | undefined {
  if (typeof v === 'string') return v
  if (isObject(v) && typeof v['content'] === 'string') return v['content']
  return undefined
}

const sideOf = (v: Json | undefined): 'left' | 'right' => (v === 'left' ? 'left' : 'right')

/** tokenizers' truncate_encodings: the same lengths for every strategy, errors included. */
function truncatePair(a: Enc, b: Enc | null, max: number, strategy: 'longest_first' | 'only_first' | 'only_second', side: 'left' | 'right'): [Enc, Enc | null] {
  const total = a.ids.length + (b ? b.ids.length : 0)
  if (max === 0) return [truncateEnc(a, 0, side), b && truncateEnc(b, 0, side)]
  if (total <= max) return [a, b]
  const toRemove = total - max
  if (strategy === 'longest_first') {
    if (!b) return [truncateEnc(a, total - toRemove, side), null]
    let n1 = a.ids.length
    let n2 = b.ids.length
    const swap = n1 > n2
    if (swap) [n1, n2] = [n2, n1]
    // n1 is now the shorter one: keep it whole when the longer can give up enough
    n2 = n1 > max ? n1 : Math.max(n1, max - n1)
    if (n1 + n2 > max) {
      n1 = Math.floor(max / 2)
      n2 = n1 + (max % 2)
    }
    if (swap) [n1, n2] = [n2, n1]
    return [truncateEnc(a, n1, side), truncateEnc(b, n2, side)]
  }
  if (strategy === 'only_second' && !b)
    return fail('TOKENIZER_TRUNCATION', 'encode', "truncation 'only_second' needs a pair, and none was given", "use truncation 'longest_first' or 'only_first' for single texts")
  const target = strategy === 'only_first' ? a : b!
  if (target.ids.length <= toRemove)
    return fail('TOKENIZER_TRUNCATION', 'encode', `truncation '${strategy}' would have to remove ${toRemove} tokens from a sequence of ${target.ids.length}`, "use truncation 'longest_first', or a larger maxLength")
  const cut = truncateEnc(target, target.ids.length - toRemove, side)
  return strategy === 'only_first' ? [cut, b] : [a, cut]
}

function pad(e: Enc, len: number, padId: number, padToken: string, side: 'left' | 'right'): Enc & { attentionMask: number[] } {
  const n = Math.max(0, len - e.ids.length)
  const join = <T>(xs: T[], v: T | (() => T)): T[] => {
    const fill = Array.from({ length: n }, () => (typeof v === 'function' ? (v as () => T)() : v))
    return side === 'right' ? [...xs, ...fill] : [...fill, ...xs]
  }
  return {
    ids: join(e.ids, padId),
    typeIds: join(e.typeIds, 0),
    tokens: join(e.tokens, padToken),
    offsets: join<[number, number]>(e.offsets, () => [0, 0]),
    wordIds: join<number | null>(e.wordIds, null),
    specialMask: join(e.specialMask, 1),
    sequenceIds: join<number | null>(e.sequenceIds, null),
    attentionMask: join(
      e.ids.map(() => 1),
      0,
    ),
  }
}

function finish(e: Enc & { attentionMask: number[] }): Encoding {
  return {
    ids: e.ids,
    typeIds: e.typeIds,
    attentionMask: e.attentionMask,
    tokens: e.tokens,
    offsets: e.offsets,
    wordIds: e.wordIds,
    specialTokensMask: e.specialMask,
    sequenceIds: e.sequenceIds,
  }
}
