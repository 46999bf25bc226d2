/**
 * The post-LayerNorm encoder-decoder that Hugging Face writes once for BART and copies into Marian
 * (and mBART, Pegasus, Blenderbot): modeling_bart.py BartAttention, BartEncoderLayer,
 * BartDecoderLayer, the shared token table and tied lm_head plus `final_logits_bias`. A family file
 * (marian.ts, bart.ts) adds only what differs: its config defaults, how positions are embedded and
 * what sits around the stacks. Property paths are the checkpoint keys of both families.
 */
import { concat, Parameter, where, type Tensor } from '../graph/graph.js'
import { Module } from '../graph/module.js'
import * as nn from '../graph/nn.js'
import type { Rng } from '../runtime/rng.js'
import type { ConfigSizes } from './config-sizes.js'
import type { KvSpec, LayerKv, PastKv } from './decoder.js'
import type { ConfigReader, HfConfig } from './hf.js'
import { LayerNorm, Linear, normal } from './layers.js'
import type { Seq2SeqInputs, Seq2SeqModel } from './seq2seq.js'

/** The config fields the shared layers read (BartConfig's names; MarianConfig has the same). */
export interface PostLnConfig {
  vocab_size: number
  d_model: number
  encoder_layers: number
  decoder_layers: number
  encoder_attention_heads: number
  decoder_attention_heads: number
  encoder_ffn_dim: number
  decoder_ffn_dim: number
  max_position_embeddings: number
  activation_function: string
  dropout: number
  attention_dropout: number
  activation_dropout: number
  init_std: number
  scale_embedding: boolean
  pad_token_id: number
  eos_token_id: number
  decoder_start_token_id: number
}

/**
 * The shared fields of a post-LN seq2seq config (BART's names and defaults; a family passes its own
 * vocabulary size and special ids), with the head counts checked against d_model.
 */
export function readPostLnConfig(r: ConfigReader, raw: HfConfig, ids: { vocab: number; pad: number; eos: number; decoderStart: number }): PostLnConfig {
  const c: PostLnConfig = {
    vocab_size: r.size('vocab_size', ids.vocab),
    d_model: r.size('d_model', 1024),
    encoder_layers: r.size('encoder_layers', 12),
    decoder_layers: r.size('decoder_layers', 12),
    encoder_attention_heads: r.size('encoder_attention_heads', 16),
    decoder_attention_heads: r.size('decoder_attention_heads', 16),
    encoder_ffn_dim: r.size('encoder_ffn_dim', 4096),
    decoder_ffn_dim: r.size('decoder_ffn_dim', 4096),
    max_position_embeddings: r.size('max_position_embeddings', 1024),
    activation_function: r.str('activation_function', 'gelu'),
    dropout: r.num('dropout', 0.1),
    attention_dropout: r.num('attention_dropout', 0),
    activation_dropout: r.num('activation_dropout', 0),
    init_std: r.num('init_std', 0.02),
    scale_embedding: raw['scale_embedding'] === true,
    pad_token_id: r.int('pad_token_id', ids.pad),
    eos_token_id: r.int('eos_token_id', ids.eos),
    decoder_start_token_id: r.int('decoder_start_token_id', ids.decoderStart),
  }
  r.divisible('d_model', c.d_model, 'encoder_attention_heads', c.encoder_attention_heads)
  r.divisible('d_model', c.d_model, 'decoder_attention_heads', c.decoder_attention_heads)
  return c
}

/** Checkpoint shapes and parameter count of the shared parts (table once, final_logits_bias a buffer); `extra` adds a family's own. */
export function postLnSizes(c: PostLnConfig, extra: { params: number; tensors?: ConfigSizes['tensors'] } = { params: 0 }): ConfigSizes {
  const { vocab_size: V, d_model: D, encoder_ffn_dim: Fe, decoder_ffn_dim: Fd, encoder_layers: Le, decoder_layers: Ld } = c
  const attn = 4 * D * D + 4 * D
  return {
    fields: { vocab_size: V, d_model: D, encoder_ffn_dim: Fe, decoder_ffn_dim: Fd, encoder_layers: Le, decoder_layers: Ld },
    params: V * D + Le * (attn + 2 * D * Fe + Fe + D + 4 * D) + Ld * (2 * attn + 2 * D * Fd + Fd + D + 6 * D) + extra.params,
    tensors: [
      { key: 'model.shared.weight', shape: [V, D], fields: ['vocab_size', 'd_model'] },
      { key: 'model.encoder.layers.0.fc1.weight', shape: [Fe, D], fields: ['encoder_ffn_dim', 'd_model'] },
      { key: 'model.decoder.layers.0.fc1.weight', shape: [Fd, D], fields: ['decoder_ffn_dim', 'd_model'] },
      ...(extra.tensors ?? []),
    ],
    blocks: [
      { field: 'encoder_layers', value: Le, pattern: /^model\.encoder\.layers\.(\d+)\./, example: 'model.encoder.layers.N' },
      { field: 'decoder_layers', value: Ld, pattern: /^model\.decoder\.layers\.(\d+)\./, example: 'model.decoder.layers.N' },
    ],
    basePrefix: 'model',
  }
}

/** BartAttention: separate q/k/v projections, eager softmax attention. */
export class Seq2SeqAttention extends Module {
  k_proj: Linear
  v_proj: Linear
  q_proj: Linear
  out_proj: Linear
  constructor(readonly d: number, readonly heads: number, readonly dropout: number, rng: Rng) {
    super()
    this.k_proj = new Linear(d, d, rng)
    this.v_proj = new Linear(d, d, rng)
    this.q_proj = new Linear(d, d, rng)
    this.out_proj = new Linear(d, d, rng)
  }
  /** (B, n, C) -> (B, heads, n, hd) */
  split(x: Tensor): Tensor {
    const [B, n] = x.shape as [number, number]
    return x.reshape([B, n, this.heads, this.d / this.heads]).transpose([0, 2, 1, 3])
  }
  /** Keys and values of `kv` (B, S, C): what the decoder caches for cross-attention. */
  keysValues(kv: Tensor): LayerKv {
    return { key: this.split(this.k_proj.forward(kv)), value: this.split(this.v_proj.forward(kv)) }
  }
  /** Attends `h` (B, T, C) to `kv` ((B, nh, S, hd) each) under `mask` (B, S), causally if asked. */
  attend(h: Tensor, kv: LayerKv, mask: Tensor | null, causal: boolean): Tensor {
    const [B, T, C] = h.shape as [number, number, number]
    const y = nn.attention(this.split(this.q_proj.forward(h)), kv.key, kv.value, { causal, paddingMask: mask, dropout: this.dropout })
    return this.out_proj.forward(y.transpose([0, 2, 1, 3]).reshape([B, T, C]))                       // (B, T, C)
  }
}

/** BartEncoderLayer: self-attention and feed-forward, each added to the residual and then normalised. */
export class Seq2SeqEncoderLayer extends Module {
  self_attn: Seq2SeqAttention
  self_attn_layer_norm: LayerNorm
  fc1: Linear
  fc2: Linear
  final_layer_norm: LayerNorm
  constructor(readonly c: PostLnConfig, rng: Rng) {
    super()
    this.self_attn = new Seq2SeqAttention(c.d_model, c.encoder_attention_heads, c.attention_dropout, rng)
    this.self_attn_layer_norm = new LayerNorm(c.d_model)
    this.fc1 = new Linear(c.d_model, c.encoder_ffn_dim, rng)
    this.fc2 = new Linear(c.encoder_ffn_dim, c.d_model, rng)
    this.final_layer_norm = new LayerNorm(c.d_model)
  }
  forward(h: Tensor, mask: Tensor): Tensor {
    const c = this.c
    const a = this.self_attn.attend(h, this.self_attn.keysValues(h), mask, false)
    h = this.self_attn_layer_norm.forward(h.add(nn.dropout(a, c.dropout)))
    const f = this.fc2.forward(nn.dropout(nn.activation(c.activation_function)(this.fc1.forward(h)), c.activation_dropout))
    return this.final_layer_norm.forward(h.add(nn.dropout(f, c.dropout)))
  }
}

/** BartDecoderLayer: causal self-attention (over cached keys/values too), cross-attention, feed-forward. */
export class Seq2SeqDecoderLayer extends Module {
  self_attn: Seq2SeqAttention
  self_attn_layer_norm: LayerNorm
  encoder_attn: Seq2SeqAttention
  encoder_attn_layer_norm: LayerNorm
  fc1: Linear
  fc2: Linear
  final_layer_norm: LayerNorm
  constructor(readonly c: PostLnConfig, rng: Rng) {
    super()
    this.self_attn = new Seq2SeqAttention(c.d_model, c.decoder_attention_heads, c.attention_dropout, rng)
    this.self_attn_layer_norm = new LayerNorm(c.d_model)
    this.encoder_attn = new Seq2SeqAttention(c.d_model, c.decoder_attention_heads, c.attention_dropout, rng)
    this.encoder_attn_layer_norm = new LayerNorm(c.d_model)
    this.fc1 = new Linear(c.d_model, c.decoder_ffn_dim, rng)
    this.fc2 = new Linear(c.decoder_ffn_dim, c.d_model, rng)
    this.final_layer_norm = new LayerNorm(c.d_model)
  }
  /** `past`: this layer's cached self-attention keys/values (then `selfMask` covers past + new). */
  forward(h: Tensor, selfMask: Tensor | null, past: LayerKv | null, cross: LayerKv, crossMask: Tensor, present: LayerKv[]): Tensor {
    const c = this.c
    const kv = this.self_attn.keysValues(h)
    present.push(kv)
    const all = past ? { key: concat([past.key, kv.key], 2), value: concat([past.value, kv.value], 2) } : kv  // (B, nh, Tmax + T, hd)
    h = this.self_attn_layer_norm.forward(h.add(nn.dropout(this.self_attn.attend(h, all, selfMask, true), c.dropout)))
    h = this.encoder_attn_layer_norm.forward(h.add(nn.dropout(this.encoder_attn.attend(h, cross, crossMask, false), c.dropout)))
    const f = this.fc2.forward(nn.dropout(nn.activation(c.activation_function)(this.fc1.forward(h)), c.activation_dropout))
    return this.final_layer_norm.forward(h.add(nn.dropout(f, c.dropout)))
  }
}

/** The shared token table: nn.Embedding(vocab, d_model, padding_idx=pad), so the pad row gets no gradient. */
export class SharedEmbedding extends Module {
  weight: Parameter
  constructor(readonly num: number, readonly dim: number, readonly pad: number, rng: Rng, std: number) {
    super()
    this.weight = normal(new Parameter([num, dim]), rng, std)
    this.weight.data.fill(0, pad * dim, (pad + 1) * dim)
  }
  forward(ids: Tensor): Tensor {
    const e = nn.embedding(ids, this.weight)                                                        // (B, T, C)
    return where(ids.eq(this.pad).unsqueeze(-1), e.stopGradient(), e)
  }
}

/** What the shared forward reads of a family's `model`: the table and the two layer stacks. */
export interface PostLnBody {
  shared: SharedEmbedding
  encoder: { layers: Seq2SeqEncoderLayer[] }
  decoder: { layers: Seq2SeqDecoderLayer[] }
}

/** HF's _init_weights for the layers: Linear N(0, init_std) with zero bias; LayerNorm 1 / 0 (as constructed). */
export function initPostLnWeights(m: Module, rng: Rng, std: number): void {
  for (const [name, p] of m.namedParameters()) if (/_proj\.weight$|fc[12]\.weight$/.test(name)) normal(p, rng, std)
  for (const [name, p] of m.namedParameters()) if (/_proj\.bias$|fc[12]\.bias$/.test(name)) p.data.fill(0)
}

/**
 * An XForConditionalGeneration of the BART lineage: encoder, decoder, tied lm_head plus
 * final_logits_bias. A family supplies `model` (its stacks under HF's names) and `embed`.
 */
export abstract class PostLnSeq2Seq extends Module implements Seq2SeqModel {
  abstract readonly family: string
  abstract readonly architecture: string
  readonly basePrefix = 'model'
  readonly headPrefixes: readonly string[] = []
  /** PEFT's default LoRA targets for BART and Marian: q_proj and v_proj. */
  readonly loraTargets = ['q_proj', 'v_proj']
  abstract model: PostLnBody
  abstract final_logits_bias: Parameter
  constructor(readonly c: PostLnConfig, readonly config: HfConfig) {
    super()
  }
  get maxPositions(): number {
    return this.c.max_position_embeddings
  }
  get padId(): number {
    return this.c.pad_token_id
  }
  get decoderStartId(): number {
    return this.c.decoder_start_token_id
  }
  get kvSpec(): KvSpec {
    return { layers: this.c.decoder_layers, heads: this.c.decoder_attention_heads, headDim: this.c.d_model / this.c.decoder_attention_heads }
  }

  /** Hidden states (B, T, C) entering the `side` stack: tokens `ids` (B, T) at `positions` (B, T) int64, dropout applied. */
  protected abstract embed(ids: Tensor, positions: Tensor, side: 'encoder' | 'decoder'): Tensor

  /** Token embeddings (B, T, C), times sqrt(d_model) when `scale_embedding`. */
  protected tokens(ids: Tensor): Tensor {
    const e = this.model.shared.forward(ids)
    return this.c.scale_embedding ? e.mul(Math.sqrt(this.c.d_model)) : e
  }

  #arange(B: number, T: number, g: Tensor['graph']): Tensor {
    return g.constant(Array.from({ length: B * T }, (_, i) => i % T), [B, T], 'int64')
  }

  /** Encoder output (B, S, C) of `input_ids` (B, S) under `attention_mask` (B, S). */
  encode(inputIds: Tensor, attentionMask: Tensor): Tensor {
    const [B, S] = inputIds.shape as [number, number]
    let h = this.embed(inputIds, this.#arange(B, S, inputIds.graph), 'encoder')
    for (const l of this.model.encoder.layers) h = l.forward(h, attentionMask)
    return h
  }

  /** Each decoder layer's cross-attention keys and values of the encoder output (computed once per input). */
  crossKv(encoderOut: Tensor): LayerKv[] {
    return this.model.decoder.layers.map((l) => l.encoder_attn.keysValues(encoderOut))
  }

  /**
   * Logits (B, T, V) of decoder tokens `ids` at `positionIds` against the encoder's cross keys/values
   * (`cross`, masked by `encoderMask` (B, S)) and cached self-attention keys/values (`past`).
   */
  decode(ids: Tensor, positionIds: Tensor, cross: readonly LayerKv[], encoderMask: Tensor, past: PastKv | null): { logits: Tensor; present: LayerKv[] } {
    const [B, T] = ids.shape as [number, number]
    const ones = ids.graph.constant(new Array<number>(B * T).fill(1), [B, T], 'int64')
    const selfMask = past ? concat([past.mask.cast('int64'), ones], 1) : null                        // (B, Tmax + T)
    let h = this.embed(ids, positionIds, 'decoder')
    const present: LayerKv[] = []
    this.model.decoder.layers.forEach((l, i) => (h = l.forward(h, selfMask, past?.layers[i] ?? null, cross[i]!, encoderMask, present)))
    const logits = nn.linear(h, this.model.shared.weight).add(ids.graph.param(this.final_logits_bias)) // tied: (B, T, V)
    return { logits, present }
  }

  /** Teacher-forced logits (B, T, V) of `decoder_input_ids` (labels shifted right). */
  logits(x: Seq2SeqInputs): Tensor {
    const enc = this.encode(x.input_ids, x.attention_mask)
    const [B, T] = x.decoder_input_ids.shape as [number, number]
    return this.decode(x.decoder_input_ids, this.#arange(B, T, x.input_ids.graph), this.crossKv(enc), x.attention_mask, null).logits
  }
}
