/**
 * T5 (Raffel et al. 2020) as transformers/models/t5/modeling_t5.py names it: T5ForConditionalGeneration.
 * https://arxiv.org/abs/1910.10683 · modeling_t5.py · v1.1: https://github.com/google-research/text-to-text-transfer-transformer/blob/main/released_checkpoints.md
 * Pre-norm blocks with T5's RMS norm (no mean, no bias); attention without the 1/sqrt(d) scaling
 * (folded into the initialisation); no absolute positions: a learnt bias per head and relative
 * position bucket, owned by the first block of each stack and shared by the others (bidirectional
 * buckets in the encoder, causal in the decoder; none in cross-attention). v1.0 has a ReLU
 * feed-forward (`wi`, `wo`) and an lm_head tied to `shared` (its input rescaled by d_model**-0.5);
 * v1.1 a gated-GELU one (`wi_0`, `wi_1`) and a separate lm_head. The decoder starts from pad.
 */
import { concat, Parameter, type Tensor } from '../graph/graph.js'
import { Module } from '../graph/module.js'
import * as nn from '../graph/nn.js'
import { Rng } from '../runtime/rng.js'
import type { ConfigSizes } from './config-sizes.js'
import type { KvSpec, LayerKv, PastKv } from './decoder.js'
import { ConfigReader, type HfConfig } from './hf.js'
import { Embedding, fill, Linear, normal } from './layers.js'
import type { Seq2SeqInputs, Seq2SeqModel } from './seq2seq.js'

export interface T5Config {
  vocab_size: number
  d_model: number
  d_kv: number
  d_ff: number
  num_layers: number
  num_decoder_layers: number
  num_heads: number
  relative_attention_num_buckets: number
  relative_attention_max_distance: number
  dropout_rate: number
  layer_norm_epsilon: number
  initializer_factor: number
  feed_forward_proj: string
  /** The feed-forward activation (T5Config: "gated-gelu" means gelu_new). */
  dense_act_fn: string
  is_gated_act: boolean
  tie_word_embeddings: boolean
  /** Not a limit of the architecture (positions are relative): the longest sequence finetune plans for. */
  n_positions: number
  pad_token_id: number
  eos_token_id: number
  decoder_start_token_id: number
}

const ACTIVATIONS = ['relu', 'gelu', 'gelu_new', 'silu'] as const

export function parseT5Config(raw: HfConfig, file = 'config.json'): T5Config {
  const r = new ConfigReader(raw, file)
  const layers = r.size('num_layers', 6)
  const ffp = r.str('feed_forward_proj', 'relu')
  const act = ffp.split('-')
  const gated = act[0] === 'gated'
  const c: T5Config = {
    vocab_size: r.size('vocab_size', 32128),
    d_model: r.size('d_model', 512),
    d_kv: r.size('d_kv', 64),
    d_ff: r.size('d_ff', 2048),
    num_layers: layers,
    num_decoder_layers: raw['num_decoder_layers'] === null || raw['num_decoder_layers'] === undefined ? layers : r.size('num_decoder_layers'),
    num_heads: r.size('num_heads', 8),
    relative_attention_num_buckets: r.size('relative_attention_num_buckets', 32),
    relative_attention_max_distance: r.size('relative_attention_max_distance', 128),
    dropout_rate: r.num('dropout_rate', 0.1),
    layer_norm_epsilon: r.num('layer_norm_epsilon', 1e-6),
    initializer_factor: r.num('initializer_factor', 1),
    feed_forward_proj: ffp,
    dense_act_fn: ffp === 'gated-gelu' ? 'gelu_new' : (act[act.length - 1] ?? ''),
    is_gated_act: gated,
    tie_word_embeddings: raw['tie_word_embeddings'] !== false,
    n_positions: r.size('n_positions', 512),
    pad_token_id: r.int('pad_token_id', 0),
    eos_token_id: r.int('eos_token_id', 1),
    decoder_start_token_id: r.int('decoder_start_token_id', 0),
  }
  if (act.length > 2 || (act.length === 2 && !gated) || !(ACTIVATIONS as readonly string[]).includes(c.dense_act_fn))
    r.issues.add('feed_forward_proj', `"${ffp}" is not a T5 feed-forward: use "relu" (v1.0), "gated-gelu" (v1.1) or "ACT" / "gated-ACT" with ACT one of ${ACTIVATIONS.join(', ')}`)
  if (c.relative_attention_num_buckets < 4) r.issues.add('relative_attention_num_buckets', `${c.relative_attention_num_buckets} is too few: T5 splits the buckets into exact and logarithmic halves (32 in the released models)`)
  for (const k of ['pad_token_id', 'eos_token_id', 'decoder_start_token_id'] as const) if (c[k] >= c.vocab_size) r.issues.add(k, `${c[k]} is outside the vocabulary (vocab_size ${c.vocab_size})`)
  r.check()
  return c
}

/** Checkpoint shapes and parameter count. */
export function t5Sizes(c: T5Config): ConfigSizes {
  const { vocab_size: V, d_model: D, d_ff: F, num_layers: Le, num_decoder_layers: Ld, num_heads: H, d_kv: K, relative_attention_num_buckets: NB } = c
  const attn = 4 * D * H * K
  const ff = (c.is_gated_act ? 3 : 2) * D * F
  const wi = c.is_gated_act ? 'wi_0' : 'wi'
  return {
    fields: { vocab_size: V, d_model: D, d_ff: F, num_layers: Le, num_decoder_layers: Ld },
    params: V * D * (c.tie_word_embeddings ? 1 : 2) + Le * (attn + ff + 2 * D) + Ld * (2 * attn + ff + 3 * D) + 2 * NB * H + 2 * D,
    tensors: [
      { key: 'shared.weight', shape: [V, D], fields: ['vocab_size', 'd_model'] },
      { key: `encoder.block.0.layer.1.DenseReluDense.${wi}.weight`, shape: [F, D], fields: ['d_ff', 'd_model'] },
      { key: 'encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight', shape: [NB, H], fields: ['relative_attention_num_buckets', 'num_heads'] },
    ],
    blocks: [
      { field: 'num_layers', value: Le, pattern: /^encoder\.block\.(\d+)\./, example: 'encoder.block.N' },
      { field: 'num_decoder_layers', value: Ld, pattern: /^decoder\.block\.(\d+)\./, example: 'decoder.block.N' },
    ],
  }
}

/**
 * T5Attention._relative_position_bucket for `relative` = key position - query position, in float32
 * where HF computes in float32 (so the logarithmic buckets truncate the same way).
 */
export function relativePositionBucket(relative: number, bidirectional: boolean, numBuckets: number, maxDistance: number): number {
  let bucket = 0
  let n = numBuckets
  let rel = relative
  if (bidirectional) {
    n = Math.floor(n / 2)
    if (rel > 0) bucket += n
    rel = Math.abs(rel)
  } else rel = Math.max(-rel, 0)
  const maxExact = Math.floor(n / 2)
  if (rel < maxExact) return bucket + rel
  const f = Math.fround
  const large = maxExact + Math.trunc(f(f(f(Math.log(f(rel / maxExact))) / f(Math.log(maxDistance / maxExact))) * (n - maxExact)))
  return bucket + Math.min(large, n - 1)
}

const NEG = -3.4028234663852886e38 // float32 min, as HF's masks use

/** T5LayerNorm: x / sqrt(mean(x²) + eps) · weight (no mean subtraction, no bias). */
class T5LayerNorm extends Module {
  weight: Parameter
  constructor(size: number, readonly eps: number) {
    super()
    this.weight = fill(new Parameter([size], { decay: false }), 1)
  }
  forward(x: Tensor): Tensor {
    return x.mul(x.square().mean(-1, true).add(this.eps).rsqrt()).mul(this.weight)
  }
}

class T5Attention extends Module {
  q: Linear
  k: Linear
  v: Linear
  o: Linear
  relative_attention_bias?: Embedding
  readonly inner: number
  constructor(readonly c: T5Config, hasBias: boolean, rng: Rng) {
    super()
    this.inner = c.num_heads * c.d_kv
    this.q = new Linear(c.d_model, this.inner, rng, { bias: false })
    this.k = new Linear(c.d_model, this.inner, rng, { bias: false })
    this.v = new Linear(c.d_model, this.inner, rng, { bias: false })
    this.o = new Linear(this.inner, c.d_model, rng, { bias: false })
    if (hasBias) this.relative_attention_bias = new Embedding(c.relative_attention_num_buckets, c.num_heads, rng)
  }
  /** (B, n, inner) -> (B, heads, n, d_kv) */
  split(x: Tensor): Tensor {
    const [B, n] = x.shape as [number, number]
    return x.reshape([B, n, this.c.num_heads, this.c.d_kv]).transpose([0, 2, 1, 3])
  }
  keysValues(kv: Tensor): LayerKv {
    return { key: this.split(this.k.forward(kv)), value: this.split(this.v.forward(kv)) }
  }
  /** `h` (B, T, C) attends to `kv` under `bias` (position bias + mask, broadcastable to (B, nh, T, S)); no scaling. */
  attend(h: Tensor, kv: LayerKv, bias: Tensor): Tensor {
    const [B, T] = h.shape as [number, number]
    const scores = this.split(this.q.forward(h)).matmul(kv.key.swap(-1, -2)).add(bias)                 // (B, nh, T, S)
    const y = nn.dropout(scores.softmax(-1), this.c.dropout_rate).matmul(kv.value)                      // (B, nh, T, d_kv)
    return this.o.forward(y.transpose([0, 2, 1, 3]).reshape([B, T, this.inner]))                        // (B, T, C)
  }
}

class T5LayerSelfAttention extends Module {
  SelfAttention: T5Attention
  layer_norm: T5LayerNorm
  constructor(c: T5Config, hasBias: boolean, rng: Rng) {
    super()
    this.SelfAttention = new T5Attention(c, hasBias, rng)
    this.layer_norm = new T5LayerNorm(c.d_model, c.layer_norm_epsilon)
  }
}

class T5LayerCrossAttention extends Module {
  EncDecAttention: T5Attention
  layer_norm: T5LayerNorm
  constructor(c: T5Config, rng: Rng) {
    super()
    this.EncDecAttention = new T5Attention(c, false, rng)
    this.layer_norm = new T5LayerNorm(c.d_model, c.layer_norm_epsilon)
  }
}

class T5DenseActDense extends Module {
  wi?: Linear
  wi_0?: Linear
  wi_1?: Linear
  wo: Linear
  constructor(readonly c: T5Config, rng: Rng) {
    super()
    if (c.is_gated_act) {
      this.wi_0 = new Linear(c.d_model, c.d_ff, rng, { bias: false })
      this.wi_1 = new Linear(c.d_model, c.d_ff, rng, { bias: false })
    } else this.wi = new Linear(c.d_model, c.d_ff, rng, { bias: false })
    this.wo = new Linear(c.d_ff, c.d_model, rng, { bias: false })
  }
  forward(h: Tensor): Tensor {
    const act = nn.activation(this.c.dense_act_fn)
    const x = this.wi ? act(this.wi.forward(h)) : act(this.wi_0!.forward(h)).mul(this.wi_1!.forward(h))  // (B, T, d_ff)
    return this.wo.forward(nn.dropout(x, this.c.dropout_rate))
  }
}

class T5LayerFF extends Module {
  DenseReluDense: T5DenseActDense
  layer_norm: T5LayerNorm
  constructor(readonly c: T5Config, rng: Rng) {
    super()
    this.DenseReluDense = new T5DenseActDense(c, rng)
    this.layer_norm = new T5LayerNorm(c.d_model, c.layer_norm_epsilon)
  }
  forward(h: Tensor): Tensor {
    return h.add(nn.dropout(this.DenseReluDense.forward(this.layer_norm.forward(h)), this.c.dropout_rate))
  }
}

class T5Block extends Module {
  layer: (T5LayerSelfAttention | T5LayerCrossAttention | T5LayerFF)[]
  constructor(readonly c: T5Config, decoder: boolean, first: boolean, rng: Rng) {
    super()
    this.layer = [new T5LayerSelfAttention(c, first, rng), ...(decoder ? [new T5LayerCrossAttention(c, rng)] : []), new T5LayerFF(c, rng)]
  }
  get self(): T5LayerSelfAttention {
    return this.layer[0] as T5LayerSelfAttention
  }
  get cross(): T5LayerCrossAttention {
    return this.layer[1] as T5LayerCrossAttention
  }
  get ff(): T5LayerFF {
    return this.layer[this.layer.length - 1] as T5LayerFF
  }
  /** Self-attention over `kv` (keys/values of the normed input, cached ones first when decoding) under `bias`. */
  selfAttend(h: Tensor, kv: (normed: Tensor) => LayerKv, bias: Tensor): Tensor {
    const n = this.self.layer_norm.forward(h)
    return h.add(nn.dropout(this.self.SelfAttention.attend(n, kv(n), bias), this.c.dropout_rate))
  }
}

class T5Stack extends Module {
  block: T5Block[]
  final_layer_norm: T5LayerNorm
  constructor(c: T5Config, decoder: boolean, rng: Rng) {
    super()
    this.block = Array.from({ length: decoder ? c.num_decoder_layers : c.num_layers }, (_, i) => new T5Block(c, decoder, i === 0, rng))
    this.final_layer_norm = new T5LayerNorm(c.d_model, c.layer_norm_epsilon)
  }
  /** The first block's bias table (buckets, heads). */
  get biasTable(): Parameter {
    return this.block[0]!.self.SelfAttention.relative_attention_bias!.weight
  }
}

/** (B, S) 1/0 mask -> (B, 1, 1, S) additive: 0 where 1, float32 min where 0. */
const additive = (mask: Tensor): Tensor => {
  const [B, S] = mask.shape as [number, number]
  return mask.cast('float32').reshape([B, 1, 1, S]).sub(1).mul(-NEG)
}

/** T5ForConditionalGeneration: shared token table, encoder, decoder and an lm_head (tied or not). */
export class T5 extends Module implements Seq2SeqModel {
  readonly family = 't5'
  readonly architecture = 'T5ForConditionalGeneration'
  readonly basePrefix = ''
  readonly headPrefixes: readonly string[] = []
  /** PEFT's default LoRA targets for T5: q and v. */
  readonly loraTargets = ['q', 'v']
  shared: Embedding
  encoder: T5Stack
  decoder: T5Stack
  lm_head?: Linear
  constructor(readonly c: T5Config, readonly config: HfConfig, seed = 0) {
    super()
    const rng = new Rng(seed)
    const f = c.initializer_factor
    this.shared = new Embedding(c.vocab_size, c.d_model, rng, f)
    this.encoder = new T5Stack(c, false, rng)
    this.decoder = new T5Stack(c, true, rng)
    if (!c.tie_word_embeddings) this.lm_head = new Linear(c.d_model, c.vocab_size, rng, { bias: false })
    // HF's T5PreTrainedModel._init_weights
    const std: [RegExp, number][] = [
      [/lm_head\.weight$/, f],
      [/\.(wi|wi_0|wi_1)\.weight$/, f * c.d_model ** -0.5],
      [/\.wo\.weight$/, f * c.d_ff ** -0.5],
      [/\.q\.weight$/, f * (c.d_model * c.d_kv) ** -0.5],
      [/\.(k|v)\.weight$/, f * c.d_model ** -0.5],
      [/\.o\.weight$/, f * (c.num_heads * c.d_kv) ** -0.5],
      [/relative_attention_bias\.weight$/, f * c.d_model ** -0.5],
    ]
    for (const [name, p] of this.namedParameters()) {
      const s = std.find(([re]) => re.test(name))
      if (s) normal(p, rng, s[1])
    }
  }
  get maxPositions(): number {
    return this.c.n_positions
  }
  get padId(): number {
    return this.c.pad_token_id
  }
  get decoderStartId(): number {
    return this.c.decoder_start_token_id
  }
  get kvSpec(): KvSpec {
    return { layers: this.c.num_decoder_layers, heads: this.c.num_heads, headDim: this.c.d_kv }
  }

  /** Position bias (1 | B, nh, T, K) of the bucket ids `buckets` ((T, K) or (B, T, K) int64) from `stack`'s table. */
  #bias(stack: T5Stack, buckets: Tensor): Tensor {
    const b = nn.embedding(buckets, stack.biasTable)                                                  // (..., T, K, nh)
    return buckets.rank === 2 ? b.transpose([2, 0, 1]).unsqueeze(0) : b.transpose([0, 3, 1, 2])        // (1 | B, nh, T, K)
  }

  /** Bucket ids (T, K) int64 of queries at `q0 + t` against keys at `k0 + j`. */
  #buckets(g: Tensor['graph'], T: number, K: number, bidirectional: boolean, q0 = 0, k0 = 0): Tensor {
    const c = this.c
    const ids = Array.from({ length: T * K }, (_, i) => relativePositionBucket(k0 + (i % K) - (q0 + Math.floor(i / K)), bidirectional, c.relative_attention_num_buckets, c.relative_attention_max_distance))
    return g.constant(ids, [T, K], 'int64')
  }

  #causal(g: Tensor['graph'], T: number): Tensor {
    const m = new Float32Array(T * T)
    for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) m[i * T + j] = NEG
    return g.constant(m, [1, 1, T, T])
  }

  #dropout(x: Tensor): Tensor {
    return nn.dropout(x, this.c.dropout_rate)
  }

  /** Encoder output (B, S, C) of `input_ids` (B, S) under `attention_mask` (B, S). */
  encode(inputIds: Tensor, attentionMask: Tensor): Tensor {
    const S = inputIds.shape[1]!
    let h = this.#dropout(this.shared.forward(inputIds))                     // (B, S, C)
    const bias = this.#bias(this.encoder, this.#buckets(inputIds.graph, S, S, true)).add(additive(attentionMask)) // (B, nh, S, S)
    for (const b of this.encoder.block) {
      h = b.selfAttend(h, (n) => b.self.SelfAttention.keysValues(n), bias)
      h = b.ff.forward(h)
    }
    return this.#dropout(this.encoder.final_layer_norm.forward(h))
  }

  crossKv(encoderOut: Tensor): LayerKv[] {
    return this.decoder.block.map((b) => b.cross.EncDecAttention.keysValues(encoderOut))
  }

  /**
   * Logits (B, T, V) of decoder tokens `ids` at `positionIds` (B, T). With `past` (Tmax slots, slot j
   * holding the token at position j), each new token's bias against slot j is that of relative
   * position j - p for its absolute position p, read from a (positions, Tmax) bucket table.
   */
  decode(ids: Tensor, positionIds: Tensor, cross: readonly LayerKv[], encoderMask: Tensor, past: PastKv | null): { logits: Tensor; present: LayerKv[] } {
    const c = this.c
    const g = ids.graph
    const [B, T] = ids.shape as [number, number]
    let h = this.#dropout(this.shared.forward(ids))                          // (B, T, C)
    let selfBias: Tensor
    if (!past) selfBias = this.#bias(this.decoder, this.#buckets(g, T, T, false)).add(this.#causal(g, T)) // (1, nh, T, T)
    else {
      const Tmax = past.mask.shape[1]!
      const P = c.n_positions
      const table = this.#buckets(g, P, Tmax, false)                                                 // row p: position p against slots 0..Tmax-1
      const pastBuckets = table.gather(positionIds, 0)                                                // (B, T, Tmax)
      const newBuckets = this.#buckets(g, T, T, false).unsqueeze(0).expand([B, T, T])                 // (B, T, T)
      const pastMask = additive(past.mask).expand([B, 1, T, Tmax])
      const newMask = this.#causal(g, T).expand([B, 1, T, T])
      selfBias = this.#bias(this.decoder, concat([pastBuckets, newBuckets], 2)).add(concat([pastMask, newMask], 3)) // (B, nh, T, Tmax + T)
    }
    const crossBias = additive(encoderMask)                                                          // (B, 1, 1, S)
    const present: LayerKv[] = []
    this.decoder.block.forEach((b, i) => {
      h = b.selfAttend(h, (n) => {
        const kv = b.self.SelfAttention.keysValues(n)
        present.push(kv)
        const p = past?.layers[i]
        return p ? { key: concat([p.key, kv.key], 2), value: concat([p.value, kv.value], 2) } : kv      // (B, nh, Tmax + T, d_kv)
      }, selfBias)
      const n = b.cross.layer_norm.forward(h)
      h = h.add(this.#dropout(b.cross.EncDecAttention.attend(n, cross[i]!, crossBias)))
      h = b.ff.forward(h)
    })
    h = this.#dropout(this.decoder.final_layer_norm.forward(h))
    const logits = this.lm_head ? this.lm_head.forward(h) : nn.linear(h.mul(c.d_model ** -0.5), this.shared.weight) // (B, T, V)
    return { logits, present }
  }

  /** Teacher-forced logits (B, T, V) of `decoder_input_ids` (labels shifted right behind pad). */
  logits(x: Seq2SeqInputs): Tensor {
    const enc = this.encode(x.input_ids, x.attention_mask)
    const [B, T] = x.decoder_input_ids.shape as [number, number]
    const pos = x.input_ids.graph.constant(Array.from({ length: B * T }, (_, i) => i % T), [B, T], 'int64')
    return this.decode(x.decoder_input_ids, pos, this.crossKv(enc), x.attention_mask, null).logits
  }
}
