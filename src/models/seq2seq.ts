/**
 * Encoder-decoder (sequence-to-sequence) families: what training with teacher forcing and cached
 * generation need of them, and the registry by Hugging Face `model_type`. Adding a family (T5,
 * BART) is one file plus one line here.
 */
import { ConfigError } from '../errors.js'
import type { Tensor } from '../graph/graph.js'
import type { Module } from '../graph/module.js'
import { guardAllocation, type ConfigSizes } from './config-sizes.js'
import type { KvSpec, LayerKv, PastKv } from './decoder.js'
import type { HfConfig } from './hf.js'
import { Marian, marianSizes, parseMarianConfig } from './marian.js'
import { parseT5Config, T5, t5Sizes } from './t5.js'

export interface Seq2SeqInputs {
  input_ids: Tensor
  attention_mask: Tensor
  /** Labels shifted right behind the decoder start token (teacher forcing). */
  decoder_input_ids: Tensor
}

export interface Seq2SeqModel extends Module {
  readonly family: string
  readonly architecture: string
  readonly config: HfConfig
  readonly basePrefix: string
  readonly headPrefixes: readonly string[]
  readonly loraTargets?: readonly string[]
  readonly maxPositions: number
  readonly padId: number
  readonly decoderStartId: number
  /** The decoder's self-attention cache sizes. */
  readonly kvSpec: KvSpec
  /** Encoder output (B, S, C). */
  encode(inputIds: Tensor, attentionMask: Tensor): Tensor
  /** Cross-attention keys/values of every decoder layer, from the encoder output. */
  crossKv(encoderOut: Tensor): LayerKv[]
  /** Decoder logits (B, T, V) and the new tokens' self-attention keys/values. */
  decode(ids: Tensor, positionIds: Tensor, cross: readonly LayerKv[], encoderMask: Tensor, past: PastKv | null): { logits: Tensor; present: LayerKv[] }
  /** Teacher-forced logits (B, T, V). */
  logits(x: Seq2SeqInputs): Tensor
}

export interface Seq2SeqFamily {
  build(raw: HfConfig, file?: string, seed?: number): Seq2SeqModel
  sizes(raw: HfConfig, file?: string): ConfigSizes
  /** Checkpoint keys of tied copies and fixed tables the model computes itself. */
  ignorable: RegExp
}

export const seq2seqFamilies: Readonly<Record<string, Seq2SeqFamily>> = {
  marian: { build: (raw, file, seed) => new Marian(parseMarianConfig(raw, file), raw, seed), sizes: (raw, file) => marianSizes(parseMarianConfig(raw, file)), ignorable: /^(lm_head\.weight|model\.(encoder|decoder)\.embed_(tokens|positions)\.weight)$/ },
  t5: { build: (raw, file, seed) => new T5(parseT5Config(raw, file), raw, seed), sizes: (raw, file) => t5Sizes(parseT5Config(raw, file)), ignorable: /^(encoder|decoder)\.embed_tokens\.weight$|^lm_head\.weight$/ },
}

export const SEQ2SEQ_FAMILIES = Object.keys(seq2seqFamilies)

/** The family `name`; its build turns an allocation failure into CONFIG_SIZE. */
export function seq2seqFamily(name: string, file = 'config.json'): Seq2SeqFamily {
  const f = seq2seqFamilies[name]
  if (!f) throw new ConfigError('MODEL_UNKNOWN_FAMILY', `${file}: model_type "${name}" is not an encoder-decoder family finetune supports`, `supported: ${SEQ2SEQ_FAMILIES.join(', ')}; pass --family to override`)
  return { ...f, build: (raw, cfgFile, seed) => guardAllocation(() => f.build(raw, cfgFile ?? file, seed), cfgFile ?? file, () => f.sizes(raw, cfgFile ?? file)) }
}
