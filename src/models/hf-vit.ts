/**
 * ViT as Hugging Face's ViTForImageClassification builds it (model_type "vit", e.g.
 * google/vit-base-patch16-224): patch embedding, class token, learned position embeddings,
 * pre-LayerNorm encoder layers, final LayerNorm, a linear classifier on the class token.
 * https://arxiv.org/abs/2010.11929 · transformers/models/vit/modeling_vit.py
 * Paths are HF's keys: vit.embeddings.{cls_token, position_embeddings, patch_embeddings.projection},
 * vit.encoder.layer.N.{attention.attention.{query,key,value}, attention.output.dense,
 * intermediate.dense, output.dense, layernorm_before, layernorm_after}, vit.layernorm, classifier.
 * The same network as torchvision's VisionTransformer given the weight mapping, except LayerNorm
 * eps (HF 1e-12 by default, torchvision 1e-6).
 * The model is built for one square image size; a checkpoint for another is resampled when loading
 * as HF's interpolate_pos_encoding does (bicubic, align_corners=False).
 */
import { ConfigError } from '../errors.js'
import { concat, Parameter, type Tensor } from '../graph/graph.js'
import { markStructureChanged, Module } from '../graph/module.js'
import { HfLabelledModel, configLabels, hfActivation, hfConfigOut, makeLabels, readActivation, readBool, readImageSize, readPositive, readProb, truncNormal } from './hf-vision-base.js'
import { resamplePosGrid } from './vit.js'
import * as nn from '../graph/nn.js'
import { Rng } from '../runtime/rng.js'
import type { ConfigSizes } from './config-sizes.js'
import { ConfigReader, type HfConfig } from './hf.js'
import type { HfVisionModel, HfVisionOptions } from './hf-vision.js'
import { Conv2d, fill, LayerNorm, Linear } from './layers.js'

export interface HfViTConfig {
  hidden_size: number
  num_hidden_layers: number
  num_attention_heads: number
  intermediate_size: number
  hidden_act: string
  hidden_dropout_prob: number
  attention_probs_dropout_prob: number
  initializer_range: number
  layer_norm_eps: number
  image_size: number
  patch_size: number
  num_channels: number
  qkv_bias: boolean
}

/** ViTConfig's fields with its defaults (google/vit-base-patch16-224); every problem is reported at once. */
export function parseHfViTConfig(raw: HfConfig, file = 'config.json'): HfViTConfig {
  const r = new ConfigReader(raw, file)
  const c: HfViTConfig = {
    hidden_size: readPositive(r, 'hidden_size', 768),
    num_hidden_layers: readPositive(r, 'num_hidden_layers', 12),
    num_attention_heads: readPositive(r, 'num_attention_heads', 12),
    intermediate_size: readPositive(r, 'intermediate_size', 3072),
    hidden_act: readActivation(r, 'hidden_act', 'gelu'),
    hidden_dropout_prob: readProb(r, 'hidden_dropout_prob', 0),
    attention_probs_dropout_prob: readProb(r, 'attention_probs_dropout_prob', 0),
    initializer_range: r.num('initializer_range', 0.02),
    layer_norm_eps: r.num('layer_norm_eps', 1e-12),
    image_size: readImageSize(r, 224),
    patch_size: readPositive(r, 'patch_size', 16),
    num_channels: readPositive(r, 'num_channels', 3),
    qkv_bias: readBool(r, 'qkv_bias', true),
  }
  r.divisible('hidden_size', c.hidden_size, 'num_attention_heads', c.num_attention_heads)
  if (c.patch_size > c.image_size) r.issues.add('patch_size', `${c.patch_size} is larger than image_size ${c.image_size}`)
  r.check()
  return c
}

/** The checkpoint shapes, layer count and parameter count the sizes imply (position embeddings for `imageSize`). */
export function hfViTSizes(c: HfViTConfig, imageSize = c.image_size): ConfigSizes {
  const { hidden_size: H, intermediate_size: I, num_hidden_layers: L, patch_size: P, num_channels: C } = c
  const grid = Math.floor(imageSize / P)
  return {
    fields: { hidden_size: H, intermediate_size: I, num_hidden_layers: L, patch_size: P, num_channels: C, image_size: imageSize },
    // patch projection, class token, position embeddings, L x (q k v o, two LayerNorms, MLP), final LayerNorm
    params: H * C * P * P + 2 * H + (grid * grid + 1) * H + L * (4 * H * H + 2 * H * I + 9 * H + I) + 2 * H,
    tensors: [
      { key: 'vit.embeddings.patch_embeddings.projection.weight', shape: [H, C, P, P], fields: ['hidden_size', 'num_channels', 'patch_size', 'patch_size'] },
      { key: 'vit.embeddings.cls_token', shape: [1, 1, H], fields: [null, null, 'hidden_size'] },
      { key: 'vit.encoder.layer.0.intermediate.dense.weight', shape: [I, H], fields: ['intermediate_size', 'hidden_size'] },
    ],
    blocks: [{ field: 'num_hidden_layers', value: L, pattern: /^(?:vit\.)?encoder\.layer\.(\d+)\./, example: 'vit.encoder.layer.N' }],
    basePrefix: 'vit',
  }
}

export class ViTSelfAttention extends Module {
  query: Linear
  key: Linear
  value: Linear
  constructor(readonly c: HfViTConfig, rng: Rng) {
    super()
    const bias = { bias: c.qkv_bias }
    this.query = new Linear(c.hidden_size, c.hidden_size, rng, bias)
    this.key = new Linear(c.hidden_size, c.hidden_size, rng, bias)
    this.value = new Linear(c.hidden_size, c.hidden_size, rng, bias)
  }
  forward(x: Tensor): Tensor {
    const [B, T, C] = x.shape as [number, number, number]
    const nh = this.c.num_attention_heads
    const split = (t: Tensor): Tensor => t.reshape([B, T, nh, C / nh]).transpose([0, 2, 1, 3]) // (B, nh, T, hd)
    const y = nn.attention(split(this.query.forward(x)), split(this.key.forward(x)), split(this.value.forward(x)), { dropout: this.c.attention_probs_dropout_prob })
    return y.transpose([0, 2, 1, 3]).reshape([B, T, C])                                  // (B, T, C)
  }
}

export class ViTLayer extends Module {
  attention: { attention: ViTSelfAttention; output: { dense: Linear } & Module } & Module
  intermediate: { dense: Linear } & Module
  output: { dense: Linear } & Module
  layernorm_before: LayerNorm
  layernorm_after: LayerNorm
  readonly #act: (x: Tensor) => Tensor
  constructor(readonly c: HfViTConfig, rng: Rng) {
    super()
    const C = c.hidden_size
    const dense = (i: number, o: number) => Object.assign(new (class extends Module {})(), { dense: new Linear(i, o, rng) })
    this.attention = Object.assign(new (class extends Module {})(), { attention: new ViTSelfAttention(c, rng), output: dense(C, C) })
    this.intermediate = dense(C, c.intermediate_size)
    this.output = dense(c.intermediate_size, C)
    this.layernorm_before = new LayerNorm(C, c.layer_norm_eps)
    this.layernorm_after = new LayerNorm(C, c.layer_norm_eps)
    this.#act = hfActivation(c.hidden_act)!
  }
  forward(x: Tensor): Tensor {
    const p = this.c.hidden_dropout_prob
    const a = nn.dropout(this.attention.output.dense.forward(this.attention.attention.forward(this.layernorm_before.forward(x))), p).add(x)
    const h = this.#act(this.intermediate.dense.forward(this.layernorm_after.forward(a)))
    return nn.dropout(this.output.dense.forward(h), p).add(a)
  }
}

export class ViTEmbeddings extends Module {
  cls_token: Parameter
  position_embeddings: Parameter
  patch_embeddings: { projection: Conv2d } & Module
  constructor(c: HfViTConfig, readonly grid: number, rng: Rng) {
    super()
    this.cls_token = new Parameter([1, 1, c.hidden_size])
    this.position_embeddings = new Parameter([1, grid * grid + 1, c.hidden_size])
    this.patch_embeddings = Object.assign(new (class extends Module {})(), { projection: new Conv2d(c.num_channels, c.hidden_size, c.patch_size, rng, { stride: c.patch_size }) })
  }
}

export class HfViTModel extends Module {
  embeddings: ViTEmbeddings
  encoder: { layer: ViTLayer[] } & Module
  layernorm: LayerNorm
  constructor(c: HfViTConfig, grid: number, rng: Rng) {
    super()
    this.embeddings = new ViTEmbeddings(c, grid, rng)
    this.encoder = Object.assign(new (class extends Module {})(), { layer: Array.from({ length: c.num_hidden_layers }, () => new ViTLayer(c, rng)) })
    this.layernorm = new LayerNorm(c.hidden_size, c.layer_norm_eps)
  }
}

export class HfViT extends HfLabelledModel implements HfVisionModel {
  readonly modelType = 'vit'
  readonly architecture = 'ViTForImageClassification'
  /** PEFT's default LoRA targets for ViT. */
  readonly loraTargets = ['query', 'value']
  readonly basePrefix = 'vit'
  readonly headPrefixes = ['classifier'] as const
  readonly featureSize: number
  readonly minImageSize: number
  /** The square image side the position embeddings cover. */
  readonly imageSize: number
  readonly defaultImageSize: number
  readonly c: HfViTConfig
  vit: HfViTModel
  classifier: Linear
  readonly #raw: HfConfig
  constructor(raw: HfConfig, numClasses?: number, o: HfVisionOptions = {}) {
    super()
    const file = o.file ?? 'config.json'
    this.c = parseHfViTConfig(raw, file)
    this.#raw = raw
    const P = this.c.patch_size
    const size = o.imageSize ?? this.c.image_size
    if (!Number.isInteger(size) || size < P)
      throw new ConfigError('VISION_IMAGE_SIZE', `ViT with patch size ${P} needs an image size of at least ${P}, got ${size}`, `use config.json's image_size (${this.c.image_size}) or another multiple of ${P}`)
    this.imageSize = size
    this.defaultImageSize = size
    this.minImageSize = P
    this.featureSize = this.c.hidden_size
    const l = configLabels(raw, numClasses, file)
    this.assignLabels(l)
    const rng = new Rng(o.seed ?? 0)
    this.vit = new HfViTModel(this.c, Math.floor(size / P), rng)
    this.classifier = new Linear(this.featureSize, this.numClasses, rng)
    // HF: trunc_normal(0, initializer_range) for Linear and Conv2d weights and both embeddings; zero biases; LayerNorm 1/0
    if (o.init !== false) {
      for (const [name, p] of this.namedParameters()) {
        if (/(layernorm_before|layernorm_after|vit\.layernorm)\./.test(name)) continue
        if (name.endsWith('.bias')) fill(p, 0)
        else truncNormal(p, rng, this.c.initializer_range)
      }
    }
  }
  /** The class token after the final LayerNorm (B, hidden_size). */
  backbone(x: Tensor): Tensor {
    const [B, Ch, H, W] = x.shape as [number, number, number, number]
    const { hidden_size: C, patch_size: P } = this.c
    if (x.rank !== 4 || Ch !== this.c.num_channels || H !== this.imageSize || W !== this.imageSize)
      throw new ConfigError('VISION_INPUT_SIZE', `ViT built for ${this.imageSize}x${this.imageSize} images got input [${x.shape.join(', ')}]`, `resize images to ${this.imageSize}x${this.imageSize}, or build with imageSize: ${H} (position embeddings are resampled when loading)`)
    const e = this.vit.embeddings
    const n = Math.floor(H / P) * Math.floor(W / P)
    const p = e.patch_embeddings.projection.forward(x).reshape([B, C, n]).transpose([0, 2, 1]) // (B, n, C)
    const cls = x.graph.param(e.cls_token).expand([B, 1, C])                                  // (B, 1, C)
    let h = nn.dropout(concat([cls, p], 1).add(e.position_embeddings), this.c.hidden_dropout_prob) // (B, 1 + n, C)
    for (const l of this.vit.encoder.layer) h = l.forward(h)
    // LayerNorm is per token, so normalising the class token alone equals HF's layernorm-then-slice
    return this.vit.layernorm.forward(h.slice(1, 0, 1).squeeze(1))                            // (B, C)
  }
  head(f: Tensor): Tensor {
    return this.classifier.forward(f)
  }
  /** A new classifier: trunc_normal(0, initializer_range) weight and zero bias, as HF's _init_weights. */
  replaceHead(numClasses: number, rng: Rng, labels?: readonly string[]): void {
    this.assignLabels(makeLabels(numClasses, labels))
    const l = new Linear(this.featureSize, numClasses, rng)
    truncNormal(l.weight, rng, this.c.initializer_range)
    fill(l.bias!, 0)
    this.classifier = l
    markStructureChanged()
  }
  toConfig(): HfConfig {
    return hfConfigOut(this.#raw, { ...this.c, image_size: this.imageSize }, this)
  }
  /** A position-embedding table for another square patch grid, resampled to this model's grid; otherwise null. */
  adaptWeight(name: string, shape: readonly number[], data: Float32Array): Float32Array | null {
    const C = this.c.hidden_size
    if (name !== 'vit.embeddings.position_embeddings' || shape.length !== 3 || shape[0] !== 1 || shape[2] !== C) return null
    const from = Math.round(Math.sqrt(shape[1]! - 1))
    if (from < 1 || from * from !== shape[1]! - 1) return null
    return interpolatePosEncoding(data, C, from, Math.floor(this.imageSize / this.c.patch_size))
  }
}

/**
 * HF's ViTEmbeddings.interpolate_pos_encoding on a (1, 1 + from², dim) table: F.interpolate(size=(to,
 * to), mode="bicubic", align_corners=False), i.e. source coordinate (o + 0.5) * from / to - 0.5.
 * (torchvision's interpolate_embeddings uses align_corners=True, a different grid.)
 */
export function interpolatePosEncoding(pe: Float32Array, dim: number, from: number, to: number): Float32Array {
  return resamplePosGrid(pe, dim, from, to, (o) => ((o + 0.5) * from) / to - 0.5)
}
