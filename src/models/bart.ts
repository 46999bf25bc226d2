/**
 * BART (Lewis et al. 2019, https://arxiv.org/abs/1910.13461) as
 * transformers/models/bart/modeling_bart.py names it: BartForConditionalGeneration, the
 * facebook/bart-* and distilbart summarisation/translation checkpoints.
 * The post-LayerNorm encoder-decoder of seq2seq-layers.ts with: learned positions
 * (BartLearnedPositionalEmbedding, a table of max_position_embeddings + 2 rows read at position + 2,
 * a fairseq leftover), `layernorm_embedding` on the summed embeddings of both stacks, token
 * embeddings scaled by sqrt(d_model) only when `scale_embedding` (false for facebook/bart-*), gelu.
 * Generation starts from `decoder_start_token_id` (</s> = 2), and HF forces `forced_bos_token_id`
 * (<s>, in bart-large-cnn) as the first generated token and `forced_eos_token_id` at the last.
 */
import { Parameter, type Tensor } from '../graph/graph.js'
import { Module } from '../graph/module.js'
import * as nn from '../graph/nn.js'
import { Rng } from '../runtime/rng.js'
import type { ConfigSizes } from './config-sizes.js'
import { ConfigReader, type HfConfig } from './hf.js'
import { LayerNorm, normal } from './layers.js'
import { initPostLnWeights, PostLnSeq2Seq, postLnSizes, readPostLnConfig, Seq2SeqDecoderLayer, Seq2SeqEncoderLayer, SharedEmbedding, type PostLnConfig } from './seq2seq-layers.js'

/** BART's position rows start at 2 (fairseq reserved the first two for padding). */
export const BART_POSITION_OFFSET = 2

export interface BartConfig extends PostLnConfig {
  bos_token_id: number
  forced_bos_token_id: number | null
  forced_eos_token_id: number | null
}

export function parseBartConfig(raw: HfConfig, file = 'config.json'): BartConfig {
  const r = new ConfigReader(raw, file)
  const optId = (k: string): number | null => (raw[k] === undefined || raw[k] === null ? null : r.int(k))
  const c: BartConfig = {
    ...readPostLnConfig(r, raw, { vocab: 50265, pad: 1, eos: 2, decoderStart: 2 }),
    bos_token_id: r.int('bos_token_id', 0),
    forced_bos_token_id: optId('forced_bos_token_id'),
    // BartConfig's default is eos (2); a config may turn it off with null
    forced_eos_token_id: raw['forced_eos_token_id'] === null ? null : r.int('forced_eos_token_id', 2),
  }
  for (const k of ['pad_token_id', 'bos_token_id', 'eos_token_id', 'decoder_start_token_id', 'forced_bos_token_id', 'forced_eos_token_id'] as const) {
    const v = c[k]
    if (v !== null && v >= c.vocab_size) r.issues.add(k, `${v} is outside the vocabulary (vocab_size ${c.vocab_size})`)
  }
  r.check()
  return c
}

/** Checkpoint shapes and parameter count: the shared layers plus two position tables and two embedding LayerNorms. */
export function bartSizes(c: BartConfig): ConfigSizes {
  const P = c.max_position_embeddings + BART_POSITION_OFFSET
  // the table's rows are max_position_embeddings + 2, not a config field: loading checks that shape
  return postLnSizes(c, { params: 2 * P * c.d_model + 4 * c.d_model, tensors: [{ key: 'model.encoder.embed_positions.weight', shape: [P, c.d_model], fields: [null, 'd_model'] }] })
}

/** BartLearnedPositionalEmbedding: nn.Embedding(max_position_embeddings + 2, d_model), read at position + 2. */
class BartLearnedPositionalEmbedding extends Module {
  weight: Parameter
  constructor(num: number, dim: number, rng: Rng, std: number) {
    super()
    this.weight = normal(new Parameter([num + BART_POSITION_OFFSET, dim]), rng, std)
  }
  /** Rows of `positions` (B, T) int64 -> (B, T, C). */
  forward(positions: Tensor): Tensor {
    return nn.embedding(positions.add(BART_POSITION_OFFSET), this.weight)
  }
}

/** BartEncoder / BartDecoder (embed_tokens is the shared table, kept once under model.shared). */
class BartStack<L extends Module> extends Module {
  embed_positions: BartLearnedPositionalEmbedding
  layers: L[]
  layernorm_embedding: LayerNorm
  constructor(c: BartConfig, rng: Rng, layer: () => L, n: number) {
    super()
    this.embed_positions = new BartLearnedPositionalEmbedding(c.max_position_embeddings, c.d_model, rng, c.init_std)
    this.layers = Array.from({ length: n }, layer)
    this.layernorm_embedding = new LayerNorm(c.d_model)
  }
}

class BartModel extends Module {
  shared: SharedEmbedding
  encoder: BartStack<Seq2SeqEncoderLayer>
  decoder: BartStack<Seq2SeqDecoderLayer>
  constructor(c: BartConfig, rng: Rng) {
    super()
    this.shared = new SharedEmbedding(c.vocab_size, c.d_model, c.pad_token_id, rng, c.init_std)
    this.encoder = new BartStack(c, rng, () => new Seq2SeqEncoderLayer(c, rng), c.encoder_layers)
    this.decoder = new BartStack(c, rng, () => new Seq2SeqDecoderLayer(c, rng), c.decoder_layers)
  }
}

/** BartForConditionalGeneration: encoder, decoder, tied lm_head plus final_logits_bias. */
export class Bart extends PostLnSeq2Seq {
  readonly family = 'bart'
  readonly architecture = 'BartForConditionalGeneration'
  model: BartModel
  final_logits_bias: Parameter
  constructor(override readonly c: BartConfig, config: HfConfig, seed = 0) {
    super(c, config)
    const rng = new Rng(seed)
    this.model = new BartModel(c, rng)
    this.final_logits_bias = new Parameter([1, c.vocab_size], { kind: 'buffer' })
    initPostLnWeights(this, rng, c.init_std)
  }

  /** layernorm_embedding(tokens (scaled per config) + learned positions), then dropout. */
  protected embed(ids: Tensor, positions: Tensor, side: 'encoder' | 'decoder'): Tensor {
    const stack = this.model[side]
    const h = this.tokens(ids).add(stack.embed_positions.forward(positions))                      // (B, T, C)
    return nn.dropout(stack.layernorm_embedding.forward(h), this.c.dropout)
  }
}
