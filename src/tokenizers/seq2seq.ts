/**
 * What encoder-decoder tasks ask of a tokenizer: one text to ids with the model's special tokens,
 * truncated keeping them, and generated ids back to text. MarianTokenizer (two SentencePiece
 * models) has this shape already; `TextPairTokenizer` gives it to a tokenizer.json or byte-level
 * BPE tokenizer, as BartTokenizer uses one vocabulary for sources and targets (`<s> ... </s>` both).
 */
import type { Tokenizer } from './tokenizer.js'

export interface Seq2SeqTokenizer {
  readonly vocabSize: number
  readonly eosId: number
  /** Ids of `text` (a target when `target`), special tokens included, at most `maxLength` of them. */
  encode(text: string, o?: { target?: boolean; maxLength?: number }): number[]
  /** Text of generated ids, special tokens skipped. */
  decode(ids: readonly number[]): string
}

export class TextPairTokenizer implements Seq2SeqTokenizer {
  readonly eosId: number
  constructor(readonly tokenizer: Tokenizer) {
    const eos = tokenizer.specialTokens.eos_token ?? tokenizer.specialTokens.sep_token ?? '</s>'
    this.eosId = tokenizer.tokenToId(eos) ?? 2
  }
  get vocabSize(): number {
    return this.tokenizer.vocabSize
  }
  encode(text: string, o: { target?: boolean; maxLength?: number } = {}): number[] {
    return this.tokenizer.encode(text, null, o.maxLength !== undefined ? { truncation: true, maxLength: o.maxLength } : {}).ids
  }
  decode(ids: readonly number[]): string {
    return this.tokenizer.decode(ids, { skipSpecialTokens: true }).trim()
  }
}
