/**
 * Wav2Vec2 as Hugging Face's Wav2Vec2ForCTC builds it (model_type "wav2vec2", e.g.
 * facebook/wav2vec2-base-960h): a convolutional feature encoder over raw 16 kHz audio, a feature
 * projection, a convolutional position embedding with weight norm, a Transformer encoder (post-LN,
 * or pre-LN with `do_stable_layer_norm`) and a linear CTC head over a character vocabulary.
 * https://arxiv.org/abs/2006.11477 · transformers/models/wav2vec2/modeling_wav2vec2.py ·
 * torchaudio/models/wav2vec2/components.py (the same network; its HF importer maps keys one to one)
 * Paths are HF's keys: wav2vec2.feature_extractor.conv_layers.N.{conv, layer_norm},
 * wav2vec2.feature_projection.{layer_norm, projection}, wav2vec2.encoder.pos_conv_embed.conv.{weight_g,
 * weight_v, bias}, wav2vec2.encoder.{layer_norm, layers.N.{attention.{q,k,v,out}_proj, layer_norm,
 * feed_forward.{intermediate,output}_dense, final_layer_norm}}, wav2vec2.masked_spec_embed, lm_head.
 * SpecAugment's time masking (`mask_time_prob`, `mask_time_length`, `mask_time_min_masks`) comes
 * in as a (B, T) mask drawn by `specAugmentMask`; masked frames take `masked_spec_embed`.
 * Not implemented: LayerDrop (layerdrop is read and ignored: every layer runs), feature-axis
 * masking (mask_feature_prob), adapters (add_adapter), weighted layer sums.
 */
import { ConfigError } from '../errors.js'
import { ctcLoss } from '../graph/ctc.js'
import { Parameter, type Tensor } from '../graph/graph.js'
import { markStructureChanged, Module } from '../graph/module.js'
import * as nn from '../graph/nn.js'
import { Rng } from '../runtime/rng.js'
import { ConfigReader, type HfConfig } from './hf.js'
import { hfActivation, readActivation, readBool, readIntList, readPositive, readProb } from './hf-vision.js'
import { fill, LayerNorm, Linear, normal, uniform } from './layers.js'

export interface Wav2Vec2Config {
  hidden_size: number
  num_hidden_layers: number
  num_attention_heads: number
  intermediate_size: number
  hidden_act: string
  hidden_dropout: number
  activation_dropout: number
  attention_dropout: number
  feat_proj_dropout: number
  final_dropout: number
  layerdrop: number
  initializer_range: number
  layer_norm_eps: number
  feat_extract_norm: 'group' | 'layer'
  feat_extract_activation: string
  conv_dim: number[]
  conv_stride: number[]
  conv_kernel: number[]
  conv_bias: boolean
  num_conv_pos_embeddings: number
  num_conv_pos_embedding_groups: number
  do_stable_layer_norm: boolean
  vocab_size: number
  pad_token_id: number
  ctc_loss_reduction: 'sum' | 'mean'
  ctc_zero_infinity: boolean
  mask_time_prob: number
  mask_time_length: number
  mask_time_min_masks: number
  apply_spec_augment: boolean
  mask_feature_prob: number
}

/** Wav2Vec2Config's fields with its defaults (facebook/wav2vec2-base); every problem is reported at once. */
export function parseWav2Vec2Config(raw: HfConfig, file = 'config.json'): Wav2Vec2Config {
  const r = new ConfigReader(raw, file)
  const norm = r.str('feat_extract_norm', 'group')
  if (norm !== 'group' && norm !== 'layer') r.issues.add('feat_extract_norm', `must be "group" or "layer", got ${JSON.stringify(norm)}`)
  const reduction = r.str('ctc_loss_reduction', 'sum')
  if (reduction !== 'sum' && reduction !== 'mean') r.issues.add('ctc_loss_reduction', `must be "sum" or "mean", got ${JSON.stringify(reduction)}`)
  const c: Wav2Vec2Config = {
    hidden_size: readPositive(r, 'hidden_size', 768),
    num_hidden_layers: readPositive(r, 'num_hidden_layers', 12),
    num_attention_heads: readPositive(r, 'num_attention_heads', 12),
    intermediate_size: readPositive(r, 'intermediate_size', 3072),
    hidden_act: readActivation(r, 'hidden_act', 'gelu'),
    hidden_dropout: readProb(r, 'hidden_dropout', 0.1),
    activation_dropout: readProb(r, 'activation_dropout', 0.1),
    attention_dropout: readProb(r, 'attention_dropout', 0.1),
    feat_proj_dropout: readProb(r, 'feat_proj_dropout', 0),
    final_dropout: readProb(r, 'final_dropout', 0.1),
    layerdrop: readProb(r, 'layerdrop', 0.1),
    initializer_range: r.num('initializer_range', 0.02),
    layer_norm_eps: r.num('layer_norm_eps', 1e-5),
    feat_extract_norm: norm === 'layer' ? 'layer' : 'group',
    feat_extract_activation: readActivation(r, 'feat_extract_activation', 'gelu'),
    conv_dim: readIntList(r, 'conv_dim', [512, 512, 512, 512, 512, 512, 512]),
    conv_stride: readIntList(r, 'conv_stride', [5, 2, 2, 2, 2, 2, 2]),
    conv_kernel: readIntList(r, 'conv_kernel', [10, 3, 3, 3, 3, 2, 2]),
    conv_bias: readBool(r, 'conv_bias', false),
    num_conv_pos_embeddings: readPositive(r, 'num_conv_pos_embeddings', 128),
    num_conv_pos_embedding_groups: readPositive(r, 'num_conv_pos_embedding_groups', 16),
    do_stable_layer_norm: readBool(r, 'do_stable_layer_norm', false),
    vocab_size: readPositive(r, 'vocab_size', 32),
    pad_token_id: r.int('pad_token_id', 0),
    ctc_loss_reduction: reduction === 'mean' ? 'mean' : 'sum',
    ctc_zero_infinity: readBool(r, 'ctc_zero_infinity', false),
    mask_time_prob: r.num('mask_time_prob', 0.05),
    mask_time_length: readPositive(r, 'mask_time_length', 10),
    mask_time_min_masks: r.int('mask_time_min_masks', 2),
    apply_spec_augment: readBool(r, 'apply_spec_augment', true),
    mask_feature_prob: r.num('mask_feature_prob', 0),
  }
  if (c.conv_dim.length !== c.conv_stride.length || c.conv_dim.length !== c.conv_kernel.length)
    r.issues.add('conv_dim', `conv_dim (${c.conv_dim.length}), conv_stride (${c.conv_stride.length}) and conv_kernel (${c.conv_kernel.length}) must have one entry per conv layer`)
  r.divisible('hidden_size', c.hidden_size, 'num_attention_heads', c.num_attention_heads)
  r.divisible('hidden_size', c.hidden_size, 'num_conv_pos_embedding_groups', c.num_conv_pos_embedding_groups)
  if (!(c.mask_time_prob >= 0 && c.mask_time_prob <= 1)) r.issues.add('mask_time_prob', `must be in [0, 1], got ${c.mask_time_prob}`)
  if (c.pad_token_id >= c.vocab_size) r.issues.add('pad_token_id', `${c.pad_token_id} is not below vocab_size ${c.vocab_size} (the pad token is the CTC blank)`)
  for (const k of ['add_adapter', 'use_weighted_layer_sum'] as const) if (raw[k] === true) r.issues.add(k, 'true is not supported by finetune (set it to false or use another checkpoint)')
  r.check()
  return c
}

/** Frames the feature encoder makes of `samples` audio samples (HF's _get_feat_extract_output_lengths). */
export function frameCount(c: Pick<Wav2Vec2Config, 'conv_kernel' | 'conv_stride'>, samples: number): number {
  let n = samples
  c.conv_kernel.forEach((k, i) => {
    n = Math.floor((n - k) / c.conv_stride[i]!) + 1
  })
  return Math.max(n, 0)
}

class Conv1d extends Module {
  weight: Parameter
  bias: Parameter | null
  constructor(inC: number, outC: number, readonly kernel: number, readonly stride: number, bias: boolean, rng: Rng) {
    super()
    // torch.nn.init.kaiming_normal_ (HF's _init_weights for the feature encoder's convs)
    this.weight = normal(new Parameter([outC, inC, kernel]), rng, Math.sqrt(2 / (inC * kernel)))
    this.bias = bias ? uniform(new Parameter([outC], { decay: false }), rng, 1 / Math.sqrt(inC * kernel)) : null
  }
  forward(x: Tensor): Tensor {
    const g = x.graph
    const inputs = [x, g.param(this.weight), ...(this.bias ? [g.param(this.bias)] : [])]
    return g.emit('Conv', inputs, { strides: [this.stride], pads: [0, 0], dilations: [1], group: 1 })[0]!
  }
}

/** One conv of the feature encoder with the norm its mode gives it (none, GroupNorm(C, C) or LayerNorm). */
class FeatureConvLayer extends Module {
  conv: Conv1d
  layer_norm: LayerNorm | null
  constructor(readonly c: Wav2Vec2Config, i: number, readonly norm: 'group' | 'layer' | null, rng: Rng) {
    super()
    const inC = i === 0 ? 1 : c.conv_dim[i - 1]!
    const outC = c.conv_dim[i]!
    this.conv = new Conv1d(inC, outC, c.conv_kernel[i]!, c.conv_stride[i]!, c.conv_bias, rng)
    this.layer_norm = norm ? new LayerNorm(outC, 1e-5) : null
  }
  forward(x: Tensor): Tensor {
    let h = this.conv.forward(x)                                                   // (B, C, T)
    const ln = this.layer_norm
    if (ln && this.norm === 'group') {
      // GroupNorm with one group per channel: each channel normalised over time, then its own affine
      const [, C, T] = h.shape as [number, number, number]
      const g = h.graph
      h = nn.layerNorm(h, g.scalar(1).expand([T]), null, 1e-5)
        .mul(g.param(ln.weight).reshape([C, 1])).add(g.param(ln.bias!).reshape([C, 1]))
    } else if (ln) h = ln.forward(h.swap(1, 2)).swap(1, 2)                         // LayerNorm over channels per frame
    return hfActivation(this.c.feat_extract_activation)!(h)
  }
}

/** Conv1d under torch 1.13's weight_norm(dim=2): the weight is g · v / ||v||, the norm over all axes but the tap. */
class WeightNormConv1d extends Module {
  weight_g: Parameter
  weight_v: Parameter
  bias: Parameter
  constructor(H: number, readonly kernel: number, readonly groups: number, rng: Rng) {
    super()
    // HF: weight normal(0, 2·sqrt(1 / (K · H/G))), bias 0; weight_norm then sets g = ||v|| per tap
    this.weight_v = normal(new Parameter([H, H / groups, kernel]), rng, 2 * Math.sqrt(1 / (kernel * (H / groups))))
    this.weight_g = new Parameter([1, 1, kernel], { decay: false })
    for (let k = 0; k < kernel; k++) {
      let s = 0
      for (let i = k; i < this.weight_v.data.length; i += kernel) s += this.weight_v.data[i]! ** 2
      this.weight_g.data[k] = Math.sqrt(s)
    }
    this.bias = new Parameter([H], { decay: false })
  }
  forward(x: Tensor): Tensor {
    const g = x.graph
    const v = g.param(this.weight_v)                                               // (H, H/G, K)
    const w = v.mul(g.param(this.weight_g)).div(v.square().sum([0, 1], true).sqrt())
    const pad = Math.floor(this.kernel / 2)
    return g.emit('Conv', [x, w, g.param(this.bias)], { strides: [1], pads: [pad, pad], dilations: [1], group: this.groups })[0]!
  }
}

class PositionalConv extends Module {
  conv: WeightNormConv1d
  constructor(readonly c: Wav2Vec2Config, rng: Rng) {
    super()
    this.conv = new WeightNormConv1d(c.hidden_size, c.num_conv_pos_embeddings, c.num_conv_pos_embedding_groups, rng)
  }
  forward(h: Tensor): Tensor {
    let y = this.conv.forward(h.swap(1, 2))                                        // (B, H, T + 1 - K%2)
    const T = h.shape[1]!
    if (this.c.num_conv_pos_embeddings % 2 === 0) y = y.slice(2, 0, T)             // HF's Wav2Vec2SamePadLayer
    return nn.gelu(y).swap(1, 2)                                                   // (B, T, H)
  }
}

class Attention extends Module {
  q_proj: Linear
  k_proj: Linear
  v_proj: Linear
  out_proj: Linear
  constructor(readonly c: Wav2Vec2Config, rng: Rng) {
    super()
    const H = c.hidden_size
    this.q_proj = new Linear(H, H, rng)
    this.k_proj = new Linear(H, H, rng)
    this.v_proj = new Linear(H, H, rng)
    this.out_proj = new Linear(H, H, rng)
  }
  forward(x: Tensor, mask: Tensor | null): Tensor {
    const [B, T, C] = x.shape as [number, number, number]
    const nh = this.c.num_attention_heads
    const split = (t: Tensor): Tensor => t.reshape([B, T, nh, C / nh]).transpose([0, 2, 1, 3]) // (B, nh, T, hd)
    const y = nn.attention(split(this.q_proj.forward(x)), split(this.k_proj.forward(x)), split(this.v_proj.forward(x)), { paddingMask: mask, dropout: this.c.attention_dropout })
    return this.out_proj.forward(y.transpose([0, 2, 1, 3]).reshape([B, T, C]))      // (B, T, C)
  }
}

class FeedForward extends Module {
  intermediate_dense: Linear
  output_dense: Linear
  constructor(readonly c: Wav2Vec2Config, rng: Rng) {
    super()
    this.intermediate_dense = new Linear(c.hidden_size, c.intermediate_size, rng)
    this.output_dense = new Linear(c.intermediate_size, c.hidden_size, rng)
  }
  forward(x: Tensor): Tensor {
    const h = nn.dropout(hfActivation(this.c.hidden_act)!(this.intermediate_dense.forward(x)), this.c.activation_dropout)
    return nn.dropout(this.output_dense.forward(h), this.c.hidden_dropout)
  }
}

class EncoderLayer extends Module {
  attention: Attention
  layer_norm: LayerNorm
  feed_forward: FeedForward
  final_layer_norm: LayerNorm
  constructor(readonly c: Wav2Vec2Config, rng: Rng) {
    super()
    this.attention = new Attention(c, rng)
    this.layer_norm = new LayerNorm(c.hidden_size, c.layer_norm_eps)
    this.feed_forward = new FeedForward(c, rng)
    this.final_layer_norm = new LayerNorm(c.hidden_size, c.layer_norm_eps)
  }
  forward(h: Tensor, mask: Tensor | null): Tensor {
    const p = this.c.hidden_dropout
    if (this.c.do_stable_layer_norm) {
      const a = nn.dropout(this.attention.forward(this.layer_norm.forward(h), mask), p).add(h)
      return a.add(this.feed_forward.forward(this.final_layer_norm.forward(a)))
    }
    const a = this.layer_norm.forward(nn.dropout(this.attention.forward(h, mask), p).add(h))
    return this.final_layer_norm.forward(a.add(this.feed_forward.forward(a)))
  }
}

export class Wav2Vec2Model extends Module {
  feature_extractor: { conv_layers: FeatureConvLayer[] } & Module
  feature_projection: { layer_norm: LayerNorm; projection: Linear } & Module
  encoder: { pos_conv_embed: PositionalConv; layer_norm: LayerNorm; layers: EncoderLayer[] } & Module
  masked_spec_embed: Parameter | null
  constructor(readonly c: Wav2Vec2Config, rng: Rng) {
    super()
    const mod = <T extends object>(o: T): T & Module => Object.assign(new (class extends Module {})(), o)
    const norm = (i: number): 'group' | 'layer' | null => (c.feat_extract_norm === 'layer' ? 'layer' : i === 0 ? 'group' : null)
    this.feature_extractor = mod({ conv_layers: c.conv_dim.map((_, i) => new FeatureConvLayer(c, i, norm(i), rng)) })
    const last = c.conv_dim[c.conv_dim.length - 1]!
    const projection = new Linear(last, c.hidden_size, rng) // HF: U(-1/sqrt(in), 1/sqrt(in)), torch's default
    this.feature_projection = mod({ layer_norm: new LayerNorm(last, c.layer_norm_eps), projection })
    this.encoder = mod({
      pos_conv_embed: new PositionalConv(c, rng),
      layer_norm: new LayerNorm(c.hidden_size, c.layer_norm_eps),
      layers: Array.from({ length: c.num_hidden_layers }, () => new EncoderLayer(c, rng)),
    })
    // SpecAugment's learned mask vector: kept so checkpoints round-trip (finetune does not mask yet)
    this.masked_spec_embed = null
    if (c.mask_time_prob > 0 || c.mask_feature_prob > 0) {
      // trained only where SpecAugment uses it
      this.masked_spec_embed = new Parameter([c.hidden_size], { decay: false, requiresGrad: c.apply_spec_augment && c.mask_time_prob > 0 })
      for (let i = 0; i < c.hidden_size; i++) this.masked_spec_embed.data[i] = rng.next() // HF: uniform_() on [0, 1)
    }
  }

  /**
   * The last hidden state (B, T, H) of audio (B, samples), as HF's Wav2Vec2Model; `hiddenStates`,
   * when given, receives HF's output_hidden_states: the encoder's input and each layer's output,
   * the last one after the stable-layer-norm variant's final norm (num_hidden_layers + 1 in all).
   */
  forward(inputValues: Tensor, frameMask: Tensor | null = null, timeMask: Tensor | null = null, hiddenStates?: Tensor[]): Tensor {
    const c = this.c
    if (inputValues.rank !== 2) throw new ConfigError('AUDIO_INPUT_SHAPE', `Wav2Vec2 takes audio as (batch, samples), got [${inputValues.shape.join(', ')}]`, 'pass mono samples at the model\'s sampling rate')
    if (frameCount(c, inputValues.shape[1]!) < 1) throw new ConfigError('AUDIO_TOO_SHORT', `${inputValues.shape[1]} samples are too short for Wav2Vec2's feature encoder`, `clips need at least ${minSamples(c)} samples`)
    let x = inputValues.unsqueeze(1)                                                // (B, 1, N)
    for (const l of this.feature_extractor.conv_layers) x = l.forward(x)           // (B, C, T)
    let h = this.feature_projection.layer_norm.forward(x.swap(1, 2))                // (B, T, C)
    h = nn.dropout(this.feature_projection.projection.forward(h), c.feat_proj_dropout) // (B, T, H)
    if (timeMask && this.masked_spec_embed) {
      // HF's _mask_hidden_states: masked frames become the learned embedding
      const tm = timeMask.unsqueeze(2)                                              // (B, T, 1)
      h = h.mul(tm.neg().add(1)).add(tm.mul(h.graph.param(this.masked_spec_embed)))
    }
    if (frameMask) h = h.mul(frameMask.unsqueeze(2))
    const e = this.encoder
    h = h.add(e.pos_conv_embed.forward(h))
    if (!c.do_stable_layer_norm) h = e.layer_norm.forward(h)
    h = nn.dropout(h, c.hidden_dropout)
    e.layers.forEach((l, i) => {
      hiddenStates?.push(h)
      h = l.forward(h, frameMask)
      if (c.do_stable_layer_norm && i === e.layers.length - 1) h = e.layer_norm.forward(h)
    })
    if (e.layers.length === 0 && c.do_stable_layer_norm) h = e.layer_norm.forward(h)
    hiddenStates?.push(h)
    return h
  }
}

export interface Wav2Vec2Options {
  seed?: number
  file?: string
  /** Draw weights as HF's _init_weights (default true; false leaves layer defaults for a checkpoint to overwrite). */
  init?: boolean
}

/** Wav2Vec2ForCTC: the backbone and `lm_head` over `vocab_size` characters, the pad token as blank. */
export class Wav2Vec2ForCTC extends Module {
  readonly modelType = 'wav2vec2'
  readonly architecture = 'Wav2Vec2ForCTC'
  readonly basePrefix = 'wav2vec2'
  readonly headPrefixes = ['lm_head'] as const
  /** PEFT's usual LoRA targets for Wav2Vec2. */
  readonly loraTargets = ['q_proj', 'v_proj']
  readonly c: Wav2Vec2Config
  wav2vec2: Wav2Vec2Model
  lm_head: Linear
  readonly #raw: HfConfig
  constructor(raw: HfConfig, o: Wav2Vec2Options = {}) {
    super()
    this.c = parseWav2Vec2Config(raw, o.file)
    this.#raw = raw
    const rng = new Rng(o.seed ?? 0)
    this.wav2vec2 = new Wav2Vec2Model(this.c, rng)
    this.lm_head = new Linear(this.c.hidden_size, this.c.vocab_size, rng)
    if (o.init !== false) this.#init(rng)
    this.nameParameters()
  }

  /** HF's _init_weights for what it covers: Linear N(0, initializer_range) with zero bias, norms 1/0. */
  #init(rng: Rng): void {
    const r = this.c.initializer_range
    const linears: Linear[] = [this.lm_head, ...this.wav2vec2.encoder.layers.flatMap((l) => [l.attention.q_proj, l.attention.k_proj, l.attention.v_proj, l.attention.out_proj, l.feed_forward.intermediate_dense, l.feed_forward.output_dense])]
    for (const l of linears) {
      normal(l.weight, rng, r)
      fill(l.bias!, 0)
    }
  }

  /**
   * Layer groups for gradual unfreezing and per-layer learning rates: everything below the first
   * transformer layer (feature encoder, projection, positional convolution, the post-LN variant's
   * encoder norm, the SpecAugment embedding) is one bottom group, then each encoder layer; the
   * stable-layer-norm variant's final norm joins the head.
   */
  blockOf(name: string): string | null {
    return wav2vec2BlockOf(this.c, name)
  }

  /** Frames of a clip of `samples` samples. */
  frames(samples: number): number {
    return frameCount(this.c, samples)
  }

  /**
   * CTC logits (B, T, vocab_size) of normalised audio `inputValues` (B, samples). `frameMask` (B, T),
   * 1 on real frames, as HF derives it from attention_mask: padded frames are zeroed before the
   * position embedding and masked out of attention. Without it every frame counts (wav2vec2-base
   * folders, whose preprocessor returns no attention mask). `timeMask` (B, T), 1 on frames that
   * SpecAugment masks (training; see specAugmentMask).
   */
  logits(inputValues: Tensor, frameMask: Tensor | null = null, timeMask: Tensor | null = null): Tensor {
    const h = this.wav2vec2.forward(inputValues, frameMask, timeMask)
    return this.lm_head.forward(nn.dropout(h, this.c.final_dropout))                 // (B, T, V)
  }

  /**
   * Wav2Vec2ForCTC's loss: CTC on log_softmax(logits) with the pad token as blank and the config's
   * ctc_loss_reduction and ctc_zero_infinity. `labels` (B, L) int64 padded with anything,
   * `labelLengths` and `frameLengths` (B) int64.
   */
  loss(logits: Tensor, labels: Tensor, labelLengths: Tensor, frameLengths: Tensor): Tensor {
    return ctcLoss(logits.logSoftmax(-1), labels, frameLengths, labelLengths, { blank: this.c.pad_token_id, reduction: this.c.ctc_loss_reduction, zeroInfinity: this.c.ctc_zero_infinity })
  }

  /** HF's freeze_feature_encoder: the convolutional feature encoder stops training. */
  freezeFeatureEncoder(): number {
    let n = 0
    for (const p of this.wav2vec2.feature_extractor.parameters()) if (p.kind === 'param' && p.requiresGrad) {
      p.requiresGrad = false
      n++
    }
    markStructureChanged()
    return n
  }

  /** A new lm_head for another vocabulary: N(0, initializer_range) weight, zero bias. */
  replaceHead(vocabSize: number, padTokenId: number, rng: Rng): void {
    const l = new Linear(this.c.hidden_size, vocabSize, rng)
    normal(l.weight, rng, this.c.initializer_range)
    fill(l.bias!, 0)
    this.lm_head = l
    ;(this.c as { vocab_size: number }).vocab_size = vocabSize
    ;(this.c as { pad_token_id: number }).pad_token_id = padTokenId
    this.nameParameters()
    markStructureChanged()
  }

  toConfig(): HfConfig {
    const out: HfConfig = { ...this.#raw, vocab_size: this.c.vocab_size, pad_token_id: this.c.pad_token_id, architectures: [this.architecture], model_type: this.modelType, torch_dtype: 'float32' }
    return out
  }
}

/** The layer group of a Wav2Vec2 parameter (see Wav2Vec2ForCTC.blockOf); null for the head. */
export function wav2vec2BlockOf(c: Pick<Wav2Vec2Config, 'do_stable_layer_norm'>, name: string): string | null {
  const layer = /^wav2vec2\.encoder\.layers\.\d+/.exec(name)
  if (layer) return layer[0]
  if (name.startsWith('wav2vec2.') && !(c.do_stable_layer_norm && name.startsWith('wav2vec2.encoder.layer_norm.'))) return 'wav2vec2.feature_encoder'
  return null
}

/** The fewest samples that give one frame. */
export function minSamples(c: Pick<Wav2Vec2Config, 'conv_kernel' | 'conv_stride'>): number {
  let n = 1
  for (let i = c.conv_kernel.length - 1; i >= 0; i--) n = (n - 1) * c.conv_stride[i]! + c.conv_kernel[i]!
  return n
}

/**
 * SpecAugment's time mask as HF's _compute_mask_indices draws it: per clip of `frames[b]` real
 * frames, int(mask_time_prob · frames / mask_time_length + ε) spans (ε ~ U[0, 1) once per batch,
 * at least mask_time_min_masks, at most what fits) of mask_time_length frames, starting at distinct
 * random frames; spans may overlap. Returns (B, T) with 1 on masked frames, or null when masking is off.
 */
export function specAugmentMask(c: Pick<Wav2Vec2Config, 'mask_time_prob' | 'mask_time_length' | 'mask_time_min_masks' | 'apply_spec_augment'>, frames: readonly number[], T: number, rng: Rng): Float32Array | null {
  if (!c.apply_spec_augment || c.mask_time_prob <= 0) return null
  const len = c.mask_time_length
  const mask = new Float32Array(frames.length * T)
  const eps = rng.next()
  frames.forEach((n, b) => {
    let spans = Math.max(Math.floor((c.mask_time_prob * n) / len + eps), c.mask_time_min_masks)
    if (spans * len > T) spans = Math.floor(T / len)
    const starts = Math.max(n - (len - 1), 0)
    spans = Math.min(spans, starts)
    // distinct starts: a partial Fisher-Yates shuffle of 0..starts-1
    const pool = Array.from({ length: starts }, (_, i) => i)
    for (let k = 0; k < spans; k++) {
      const j = k + rng.int(starts - k)
      ;[pool[k], pool[j]] = [pool[j]!, pool[k]!]
      for (let t = pool[k]!; t < Math.min(pool[k]! + len, T); t++) mask[b * T + t] = 1
    }
  })
  return mask
}
