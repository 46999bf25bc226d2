/**
 * MarianMT (Junczys-Dowmunt et al. 2018) as transformers/models/marian/modeling_marian.py names it:
 * the opus-mt translation models. https://marian-nmt.github.io · modeling_marian.py
 * Post-LayerNorm encoder-decoder; one token table shared by encoder, decoder and the tied lm_head,
 * scaled by sqrt(d_model) when `scale_embedding`; fixed sinusoidal positions (sin in the first half
 * of the channels, cos in the second, from position 0); `final_logits_bias` a buffer added to the
 * logits; the decoder starts from `decoder_start_token_id` (the pad token in opus-mt).
 */
import { concat, Parameter, where, type Tensor } from '../graph/graph.js'
import { Module } from '../graph/module.js'
import * as nn from '../graph/nn.js'
import { Rng } from '../runtime/rng.js'
import type { ConfigSizes } from './config-sizes.js'
import type { KvSpec, LayerKv, PastKv } from './decoder.js'
import { ConfigReader, type HfConfig } from './hf.js'
import { LayerNorm, Linear, normal } from './layers.js'
import type { Seq2SeqInputs, Seq2SeqModel } from './seq2seq.js'

export interface MarianConfig {
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

export function parseMarianConfig(raw: HfConfig, file = 'config.json'): MarianConfig {
  const r = new ConfigReader(raw, file)
  const vocab = r.size('vocab_size', 58101)
  const c: MarianConfig = {
    vocab_size: vocab,
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
    pad_token_id: r.int('pad_token_id', 58100),
    eos_token_id: r.int('eos_token_id', 0),
    decoder_start_token_id: r.int('decoder_start_token_id', 58100),
  }
  r.divisible('d_model', c.d_model, 'encoder_attention_heads', c.encoder_attention_heads)
  r.divisible('d_model', c.d_model, 'decoder_attention_heads', c.decoder_attention_heads)
  const dv = raw['decoder_vocab_size']
  if (dv !== undefined && dv !== null && dv !== vocab) r.issues.add('decoder_vocab_size', `${String(dv)} differs from vocab_size ${vocab}: separate source/target vocabularies are not supported`)
  if (raw['share_encoder_decoder_embeddings'] === false) r.issues.add('share_encoder_decoder_embeddings', 'false (separate encoder/decoder tables) is not supported')
  for (const k of ['pad_token_id', 'eos_token_id', 'decoder_start_token_id'] as const) if (c[k] >= vocab) r.issues.add(k, `${c[k]} is outside the vocabulary (vocab_size ${vocab})`)
  r.check()
  return c
}

/** Checkpoint shapes and parameter count (shared table once, final_logits_bias a buffer). */
export function marianSizes(c: MarianConfig): ConfigSizes {
  const { vocab_size: V, d_model: D, encoder_ffn_dim: Fe, decoder_ffn_dim: Fd, encoder_layers: Le, decoder_layers: Ld } = c
  const attn = 4 * D * D + 4 * D
  return {
    fields: { vocab_size: V, d_model: D, encoder_ffn_dim: Fe, decoder_ffn_dim: Fd, encoder_layers: Le, decoder_layers: Ld },
    params: V * D + Le * (attn + 2 * D * Fe + Fe + D + 4 * D) + Ld * (2 * attn + 2 * D * Fd + Fd + D + 6 * D),
    tensors: [
      { key: 'model.shared.weight', shape: [V, D], fields: ['vocab_size', 'd_model'] },
      { key: 'model.encoder.layers.0.fc1.weight', shape: [Fe, D], fields: ['encoder_ffn_dim', 'd_model'] },
      { key: 'model.decoder.layers.0.fc1.weight', shape: [Fd, D], fields: ['decoder_ffn_dim', 'd_model'] },
    ],
    blocks: [
      { field: 'encoder_layers', value: Le, pattern: /^model\.encoder\.layers\.(\d+)\./, example: 'model.encoder.layers.N' },
      { field: 'decoder_layers', value: Ld, pattern: /^model\.decoder\.layers\.(\d+)\./, example: 'model.decoder.layers.N' },
    ],
    basePrefix: 'model',
  }
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

class MarianAttention extends Module {
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

class MarianEncoderLayer extends Module {
  self_attn: MarianAttention
  self_attn_layer_norm: LayerNorm
  fc1: Linear
  fc2: Linear
  final_layer_norm: LayerNorm
  constructor(readonly c: MarianConfig, rng: Rng) {
    super()
    this.self_attn = new MarianAttention(c.d_model, c.encoder_attention_heads, c.attention_dropout, rng)
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

class MarianDecoderLayer extends Module {
  self_attn: MarianAttention
  self_attn_layer_norm: LayerNorm
  encoder_attn: MarianAttention
  encoder_attn_layer_norm: LayerNorm
  fc1: Linear
  fc2: Linear
  final_layer_norm: LayerNorm
  constructor(readonly c: MarianConfig, rng: Rng) {
    super()
    this.self_attn = new MarianAttention(c.d_model, c.decoder_attention_heads, c.attention_dropout, rng)
    this.self_attn_layer_norm = new LayerNorm(c.d_model)
    this.encoder_attn = new MarianAttention(c.d_model, c.decoder_attention_heads, c.attention_dropout, rng)
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
class SharedEmbedding extends Module {
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

class MarianStack extends Module {
  layers: (MarianEncoderLayer | MarianDecoderLayer)[]
  constructor(c: MarianConfig, decoder: boolean, rng: Rng) {
    super()
    this.layers = Array.from({ length: decoder ? c.decoder_layers : c.encoder_layers }, () => (decoder ? new MarianDecoderLayer(c, rng) : new MarianEncoderLayer(c, rng)))
  }
}

class MarianModel extends Module {
  shared: SharedEmbedding
  encoder: MarianStack
  decoder: MarianStack
  constructor(c: MarianConfig, rng: Rng) {
    super()
    this.shared = new SharedEmbedding(c.vocab_size, c.d_model, c.pad_token_id, rng, c.init_std)
    this.encoder = new MarianStack(c, false, rng)
    this.decoder = new MarianStack(c, true, rng)
  }
}

/** MarianMTModel: encoder, decoder, tied lm_head plus final_logits_bias. */
export class Marian extends Module implements Seq2SeqModel {
  readonly family = 'marian'
  readonly architecture = 'MarianMTModel'
  readonly basePrefix = 'model'
  readonly headPrefixes: readonly string[] = []
  /** PEFT's default LoRA targets for Marian (as for BART): q_proj and v_proj. */
  readonly loraTargets = ['q_proj', 'v_proj']
  model: MarianModel
  final_logits_bias: Parameter
  readonly #positions: Float32Array
  constructor(readonly c: MarianConfig, readonly config: HfConfig, seed = 0) {
    super()
    const rng = new Rng(seed)
    this.model = new MarianModel(c, rng)
    this.final_logits_bias = new Parameter([1, c.vocab_size], { kind: 'buffer' })
    // HF's _init_weights: Linear N(0, init_std) with zero bias; LayerNorm 1 / 0 (as constructed)
    for (const [name, p] of this.namedParameters()) if (/_proj\.weight$|fc[12]\.weight$/.test(name)) normal(p, rng, c.init_std)
    for (const [name, p] of this.namedParameters()) if (/_proj\.bias$|fc[12]\.bias$/.test(name)) p.data.fill(0)
    this.#positions = sinusoidalPositions(c.max_position_embeddings, c.d_model)
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

  /** Token embeddings (scaled) plus the sinusoid rows of `positions` (B, T) int64. */
  #embed(ids: Tensor, positions: Tensor): Tensor {
    const c = this.c
    const table = ids.graph.constant(this.#positions, [c.max_position_embeddings, c.d_model])
    let e = this.model.shared.forward(ids)                                                         // (B, T, C)
    if (c.scale_embedding) e = e.mul(Math.sqrt(c.d_model))
    return nn.dropout(e.add(table.gather(positions, 0)), c.dropout)
  }

  #arange(B: number, T: number, g: Tensor['graph']): Tensor {
    return g.constant(Array.from({ length: B * T }, (_, i) => i % T), [B, T], 'int64')
  }

  /** Encoder output (B, S, C) of `input_ids` (B, S) under `attention_mask` (B, S). */
  encode(inputIds: Tensor, attentionMask: Tensor): Tensor {
    const [B, S] = inputIds.shape as [number, number]
    let h = this.#embed(inputIds, this.#arange(B, S, inputIds.graph))
    for (const l of this.model.encoder.layers as MarianEncoderLayer[]) h = l.forward(h, attentionMask)
    return h
  }

  /** Each decoder layer's cross-attention keys and values of the encoder output (computed once per input). */
  crossKv(encoderOut: Tensor): LayerKv[] {
    return (this.model.decoder.layers as MarianDecoderLayer[]).map((l) => l.encoder_attn.keysValues(encoderOut))
  }

  /**
   * Logits (B, T, V) of decoder tokens `ids` at `positionIds` against the encoder's cross keys/values
   * (`cross`, masked by `encoderMask` (B, S)) and cached self-attention keys/values (`past`).
   */
  decode(ids: Tensor, positionIds: Tensor, cross: readonly LayerKv[], encoderMask: Tensor, past: PastKv | null): { logits: Tensor; present: LayerKv[] } {
    const [B, T] = ids.shape as [number, number]
    const ones = ids.graph.constant(new Array<number>(B * T).fill(1), [B, T], 'int64')
    const selfMask = past ? concat([past.mask.cast('int64'), ones], 1) : null                        // (B, Tmax + T)
    let h = this.#embed(ids, positionIds)
    const present: LayerKv[] = []
    ;(this.model.decoder.layers as MarianDecoderLayer[]).forEach((l, i) => (h = l.forward(h, selfMask, past?.layers[i] ?? null, cross[i]!, encoderMask, present)))
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
