/**
 * T5's tokenizer (transformers/models/t5/tokenization_t5.py and its fast twin): SentencePiece
 * unigram pieces whose ids are the spiece.model ids, `<extra_id_N>` sentinels appended after them
 * (<extra_id_0> the last id: sp size + extra_ids - 1), `</s>` after every text. Built from
 * tokenizer.json when the folder has one (its Precompiled normalizer, Metaspace and Unigram model
 * through the Tokenizer class), else from spiece.model (sentencepiece's own normalizer, as the slow
 * T5Tokenizer). Sentinels split the text and eat the whitespace around them (lstrip/rstrip) in both.
 */
import { TokenizerError } from '../errors.js'
import { loadTokenizer } from './load.js'
import { SentencePieceProcessor } from './sentencepiece.js'
import { parseSentencePieceModel } from './sentencepiece-model.js'
import type { Tokenizer } from './tokenizer.js'

/** What a translation model needs of its tokenizer (MarianTokenizer and T5Tokenizer both give it). */
export interface Seq2SeqTokenizer {
  readonly eosId: number
  readonly padId: number
  readonly vocabSize: number
  /** Ids of `text` (source side, or target side where the model has two), `</s>` last, truncated to `maxLength` keeping `</s>`. */
  encode(text: string, o?: { target?: boolean; maxLength?: number }): number[]
  /** Text of generated ids, special tokens skipped. */
  decode(ids: readonly number[]): string
}

export interface T5TokenizerFiles {
  /** spiece.model bytes. */
  spiece?: Uint8Array
  /** tokenizer.json text (preferred when given). */
  tokenizerJson?: string
  tokenizerConfigJson?: string
}

const SENTINEL = /\s*<extra_id_(\d+)>\s*/g

export class T5Tokenizer implements Seq2SeqTokenizer {
  readonly eosId: number
  readonly padId: number
  readonly unkId: number
  readonly extraIds: number
  readonly vocabSize: number
  readonly backend: 'tokenizer.json' | 'spiece.model'
  readonly #sp: SentencePieceProcessor | undefined
  readonly #fast: Tokenizer | undefined
  readonly #spSize: number
  constructor(files: T5TokenizerFiles) {
    let config: Record<string, unknown> = {}
    if (files.tokenizerConfigJson !== undefined) {
      try {
        config = JSON.parse(files.tokenizerConfigJson) as Record<string, unknown>
      } catch (e) {
        throw new TokenizerError('TOKENIZER_BAD_CONFIG', `tokenizer_config.json is not JSON: ${(e as Error).message}`, 'restore tokenizer_config.json from the checkpoint, or delete it to use the defaults')
      }
    }
    const extra = config['extra_ids'] ?? 100
    if (typeof extra !== 'number' || !Number.isInteger(extra) || extra < 0) throw new TokenizerError('TOKENIZER_BAD_CONFIG', `tokenizer_config.json: extra_ids is ${JSON.stringify(extra)}`, 'extra_ids is the number of <extra_id_N> sentinels, a non-negative integer (100 in the released T5 models)')
    this.extraIds = extra
    const name = (role: string, dflt: string): string => (typeof config[role] === 'string' ? (config[role] as string) : dflt)
    if (files.tokenizerJson !== undefined) {
      this.backend = 'tokenizer.json'
      this.#fast = loadTokenizer({ tokenizerJson: files.tokenizerJson, ...(files.tokenizerConfigJson !== undefined ? { tokenizerConfigJson: files.tokenizerConfigJson } : {}) })
      const id = (role: string, dflt: string): number => {
        const v = this.#fast!.tokenToId(name(role, dflt))
        if (v === undefined) throw new TokenizerError('TOKENIZER_BAD_VOCAB', `tokenizer.json has no ${role} "${name(role, dflt)}"`, 'a T5 vocabulary has <pad>, </s> and <unk>; restore tokenizer.json from the checkpoint')
        return v
      }
      this.eosId = id('eos_token', '</s>')
      this.padId = id('pad_token', '<pad>')
      this.unkId = id('unk_token', '<unk>')
      this.vocabSize = this.#fast.vocabSize
      this.#spSize = this.vocabSize - extra
    } else if (files.spiece !== undefined) {
      this.backend = 'spiece.model'
      this.#sp = new SentencePieceProcessor(parseSentencePieceModel(files.spiece, 'spiece.model'))
      const m = this.#sp.model
      const id = (role: string, dflt: string): number => {
        const p = name(role, dflt)
        const v = this.#sp!.pieceToId(p)
        if (this.#sp!.idToPiece(v) !== p) throw new TokenizerError('TOKENIZER_BAD_VOCAB', `spiece.model has no ${role} "${p}"`, 'T5 vocabularies are trained with pad 0, eos 1, unk 2; check tokenizer_config.json\'s special tokens')
        return v
      }
      this.eosId = id('eos_token', '</s>')
      this.padId = id('pad_token', '<pad>')
      this.unkId = m.unkId
      this.#spSize = this.#sp.vocabSize
      this.vocabSize = this.#spSize + extra
    } else throw new TokenizerError('TOKENIZER_MISSING_FILE', 'T5 tokenizer: neither tokenizer.json nor spiece.model was given', 'a T5 folder ships spiece.model (and usually tokenizer.json); copy them from the checkpoint')
  }

  /** The id of `<extra_id_n>`: counted down from the end of the vocabulary. */
  sentinelId(n: number): number {
    if (!(n >= 0 && n < this.extraIds)) throw new TokenizerError('TOKENIZER_BAD_ARGUMENT', `<extra_id_${n}> is out of range: this tokenizer has ${this.extraIds} sentinels`, `use <extra_id_0> .. <extra_id_${this.extraIds - 1}>`)
    return this.#spSize + this.extraIds - 1 - n
  }

  #pieces(text: string): number[] {
    if (this.#fast) return this.#fast.encode(text, null, { addSpecialTokens: false }).ids
    return text.trim() === '' ? [] : this.#sp!.encodeIds(text)
  }

  encode(text: string, o: { target?: boolean; maxLength?: number } = {}): number[] {
    let ids: number[]
    if (this.#fast) ids = this.#pieces(text)
    else {
      // the slow tokenizer splits on its added tokens first and encodes each part alone
      ids = []
      let last = 0
      for (const m of text.matchAll(SENTINEL)) {
        ids.push(...this.#pieces(text.slice(last, m.index)), this.sentinelId(Number(m[1])))
        last = m.index + m[0].length
      }
      ids.push(...this.#pieces(text.slice(last)))
    }
    if (o.maxLength !== undefined && ids.length + 1 > o.maxLength) ids = ids.slice(0, Math.max(o.maxLength - 1, 0))
    return [...ids, this.eosId]
  }

  decode(ids: readonly number[]): string {
    // skip_special_tokens: pad, eos, unk, the sentinels and ids past the vocabulary (the model's padded rows)
    const keep = ids.filter((i) => i !== this.padId && i !== this.eosId && i !== this.unkId && i >= 0 && i < this.#spSize)
    return this.#fast ? this.#fast.decode(keep, { skipSpecialTokens: true }) : this.#sp!.decode(keep)
  }
}
