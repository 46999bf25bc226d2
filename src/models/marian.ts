/**
 * MarianMT (Junczys-Dowmunt et al. 2018) as transformers/models/marian/modeling_marian.py names it:
 * the opus-mt translation models. https://marian-nmt.github.io · modeling_marian.py
 * Post-LayerNorm encoder-decoder; one token table shared by encoder, decoder and the tied lm_head,
 * scaled by sqrt(d_model) when `scale_embedding`; fixed sinusoidal positions (sin in the first half
 * of the channels, cos in the second, from position 0); `final_logits_bias` a buffer added to the
 * logits; the decoder starts from `decoder_start_token_id` (the pad token in opus-mt).
 */
import { Parameter, type Tensor } from '../graph/graph.js'
import { Module } from '../graph/module.js'
import * as nn from '../graph/nn.js'
import { Rng } from '../runtime/rng.js'
import type { ConfigSizes } from './config-sizes.js'
import { ConfigReader, type HfConfig } from './hf.js'
import { initPostLnWeights, PostLnSeq2Seq, postLnSizes, readPostLnConfig, Seq2SeqDecoderLayer, Seq2SeqEncoderLayer, SharedEmbedding, type PostLnConfig } from './seq2seq-layers.js'

export type MarianConfig = PostLnConfig

export function parseMarianConfig(raw: HfConfig, file = 'config.json'): MarianConfig {
  const r = new ConfigReader(raw, file)
  const c: MarianConfig = readPostLnConfig(r, raw, { vocab: 58101, pad: 58100, eos: 0, decoderStart: 58100 })
  const dv = raw['decoder_vocab_size']
  if (dv !== undefined && dv !== null && dv !== c.vocab_size) r.issues.add('decoder_vocab_size', `${String(dv)} differs from vocab_size ${c.vocab_size}: separate source/target vocabularies are not supported`)
  if (raw['share_encoder_decoder_embeddings'] === false) r.issues.add('share_encoder_decoder_embeddings', 'false (separate encoder/decoder tables) is not supported')
  for (const k of ['pad_token_id', 'eos_token_id', 'decoder_start_token_id'] as const) if (c[k] >= c.vocab_size) r.issues.add(k, `${c[k]} is outside the vocabulary (vocab_size ${c.vocab_size})`)
  r.check()
  return c
}

/** Checkpoint shapes and parameter count (shared table once, final_logits_bias a buffer). */
export function marianSizes(c: MarianConfig): ConfigSizes {
  return postLnSizes(c)
}

/** MarianSinusoidalPositionalEmbedding._init_weight, computed in float64 then rounded to float32 as there. */
export function sinusoidalPositions(n: number, dim: number): Float32Array {
  const out = new Float32Array(n * dim)
  const half = dim % 2 === 0 ? dim / 2 : (dim + 1) / 2
  for (let p = 0; p < n; p++)
    for (let j = 0; j < dim; j++) {
      const angle = p / Math.pow(10000, (2 * Math.floor(j / 2)) / dim)
      // even channels (sin) fill [0, half), odd ones (cos) fill [half, dim)
      if (j % 2 === 0) out[p * dim + j / 2] = Math.sin(angle)
      else out[p * dim + half + (j - 1) / 2] = Math.cos(angle)
    }
  return out
}

/** A layer stack: Marian's encoder and decoder hold nothing else (positions are a fixed table). */
class MarianStack<L extends Module> extends Module {
  constructor(readonly layers: L[]) {
    super()
  }
}

class MarianModel extends Module {
  shared: SharedEmbedding
  encoder: MarianStack<Seq2SeqEncoderLayer>
  decoder: MarianStack<Seq2SeqDecoderLayer>
  constructor(c: MarianConfig, rng: Rng) {
    super()
    this.shared = new SharedEmbedding(c.vocab_size, c.d_model, c.pad_token_id, rng, c.init_std)
    this.encoder = new MarianStack(Array.from({ length: c.encoder_layers }, () => new Seq2SeqEncoderLayer(c, rng)))
    this.decoder = new MarianStack(Array.from({ length: c.decoder_layers }, () => new Seq2SeqDecoderLayer(c, rng)))
  }
}

/** MarianMTModel: encoder, decoder, tied lm_head plus final_logits_bias. */
export class Marian extends PostLnSeq2Seq {
  readonly family = 'marian'
  readonly architecture = 'MarianMTModel'
  model: MarianModel
  final_logits_bias: Parameter
  readonly #positions: Float32Array
  constructor(override readonly c: MarianConfig, config: HfConfig, seed = 0) {
    super(c, config)
    const rng = new Rng(seed)
    this.model = new MarianModel(c, rng)
    this.final_logits_bias = new Parameter([1, c.vocab_size], { kind: 'buffer' })
    initPostLnWeights(this, rng, c.init_std)
    this.#positions = sinusoidalPositions(c.max_position_embeddings, c.d_model)
  }

  /** Token embeddings (scaled) plus the sinusoid rows of `positions` (B, T) int64. */
  protected embed(ids: Tensor, positions: Tensor): Tensor {
    const c = this.c
    const table = ids.graph.constant(this.#positions, [c.max_position_embeddings, c.d_model])
    return nn.dropout(this.tokens(ids).add(table.gather(positions, 0)), c.dropout)
  }
}
