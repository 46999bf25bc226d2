/**
 * MarianTokenizer (transformers/models/marian/tokenization_marian.py): SentencePiece pieces of the
 * source (`source.spm`) or target (`target.spm`) model, looked up in the shared `vocab.json`
 * (unknown pieces -> <unk>), a leading `>>lang<<` code kept as one token, and </s> appended.
 * Decoding maps ids back to pieces and lets the target model join them. sacremoses' punctuation
 * normalisation (used by HF only when sacremoses is installed) is not applied.
 */
import { TokenizerError } from '../errors.js'
import { SentencePieceProcessor } from './sentencepiece.js'
import { parseSentencePieceModel } from './sentencepiece-model.js'

export interface MarianTokenizerFiles {
  sourceSpm: Uint8Array
  targetSpm: Uint8Array
  /** vocab.json text. */
  vocabJson: string
  /** tokenizer_config.json text, if any. */
  tokenizerConfigJson?: string
}

const LANGUAGE_CODE = />>.+<</

export class MarianTokenizer {
  readonly source: SentencePieceProcessor
  readonly target: SentencePieceProcessor
  readonly #toId: Map<string, number>
  readonly #toToken: string[]
  readonly eosId: number
  readonly unkId: number
  readonly padId: number
  readonly modelMaxLength: number | undefined
  readonly config: Record<string, unknown>
  constructor(readonly files: MarianTokenizerFiles) {
    this.source = new SentencePieceProcessor(parseSentencePieceModel(files.sourceSpm, 'source.spm'))
    this.target = new SentencePieceProcessor(parseSentencePieceModel(files.targetSpm, 'target.spm'))
    let vocab: unknown
    try {
      vocab = JSON.parse(files.vocabJson)
    } catch (e) {
      throw new TokenizerError('TOKENIZER_BAD_VOCAB', `vocab.json is not JSON: ${(e as Error).message}`, 'restore vocab.json from the checkpoint')
    }
    if (vocab === null || typeof vocab !== 'object' || Array.isArray(vocab)) throw new TokenizerError('TOKENIZER_BAD_VOCAB', 'vocab.json must be an object of token -> id', 'restore vocab.json from the checkpoint')
    this.#toId = new Map()
    this.#toToken = []
    for (const [t, id] of Object.entries(vocab as Record<string, unknown>)) {
      if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) throw new TokenizerError('TOKENIZER_BAD_VOCAB', `vocab.json: "${t}" has id ${JSON.stringify(id)}`, 'ids must be non-negative integers')
      this.#toId.set(t, id)
      this.#toToken[id] = t
    }
    this.config = files.tokenizerConfigJson ? (JSON.parse(files.tokenizerConfigJson) as Record<string, unknown>) : {}
    const special = (role: string, dflt: string): number => {
      const name = typeof this.config[role] === 'string' ? (this.config[role] as string) : dflt
      const id = this.#toId.get(name)
      if (id === undefined) throw new TokenizerError('TOKENIZER_BAD_VOCAB', `vocab.json has no ${role} "${name}"`, 'a Marian vocabulary has </s>, <unk> and <pad>; restore vocab.json from the checkpoint')
      return id
    }
    this.eosId = special('eos_token', '</s>')
    this.unkId = special('unk_token', '<unk>')
    this.padId = special('pad_token', '<pad>')
    const ml = this.config['model_max_length']
    this.modelMaxLength = typeof ml === 'number' && ml < 1e12 ? ml : undefined
  }
  get vocabSize(): number {
    return this.#toToken.length
  }
  #specials(): Set<number> {
    return new Set([this.eosId, this.unkId, this.padId])
  }
  /** Ids of `text` through the source (or target) model, </s> last, truncated to `maxLength` keeping </s>. */
  encode(text: string, o: { target?: boolean; maxLength?: number } = {}): number[] {
    const m = LANGUAGE_CODE.exec(text)
    const code = m && m.index === 0 ? [m[0]] : []
    const rest = text.replace(new RegExp(LANGUAGE_CODE.source, 'g'), '')
    const spm = o.target ? this.target : this.source
    const pieces = [...code, ...spm.encode(rest).map((t) => t.piece)]
    let ids = pieces.map((p) => this.#toId.get(p) ?? this.unkId)
    if (o.maxLength !== undefined && ids.length + 1 > o.maxLength) ids = ids.slice(0, Math.max(o.maxLength - 1, 0))
    return [...ids, this.eosId]
  }
  idToToken(id: number): string | undefined {
    return this.#toToken[id]
  }
  /** Text of target ids (special tokens skipped), as decode(skip_special_tokens=True). */
  decode(ids: readonly number[]): string {
    const sp = this.#specials()
    const pieces = ids.filter((i) => !sp.has(i)).map((i) => this.#toToken[i]).filter((t): t is string => t !== undefined)
    return this.target.decode(pieces.map((p) => this.target.pieceToId(p))).replaceAll('\u2581', ' ').trim()
  }
}
