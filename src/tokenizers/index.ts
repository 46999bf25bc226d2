/**
 * Tokenizers of Hugging Face checkpoint folders (WordPiece, byte-level BPE, Unigram), giving the
 * same ids, offsets and word ids as Hugging Face's tokenizers library. Browser-safe: files are
 * passed in as strings.
 */
export { loadTokenizer, type LoadTokenizerOptions, type TokenizerFiles, type TokenizerKind } from './load.js'
export {
  Tokenizer,
  SPECIAL_ROLES,
  type BatchOptions,
  type DecodeOptions,
  type EncodeOptions,
  type Encoding,
  type Padding,
  type SpecialRole,
  type TokenizerSpec,
  type Truncation,
} from './tokenizer.js'
export { TokenizerError } from '../errors.js'
