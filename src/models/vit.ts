/**
 * ViT-B/16 as torchvision builds it (Dosovitskiy et al. 2020): 16x16 patches, a class token, learned
 * position embeddings, 12 pre-LayerNorm encoder blocks (eps 1e-6, exact GELU).
 * https://arxiv.org/abs/2010.11929 · torchvision/models/vision_transformer.py
 * Paths are torchvision's keys: conv_proj, class_token, encoder.pos_embedding,
 * encoder.layers.encoder_layer_N.{ln_1, self_attention.{in_proj_weight, in_proj_bias, out_proj}, ln_2,
 * mlp.0, mlp.3}, encoder.ln, heads.head.
 * The position embeddings fix the image size; a checkpoint for another size is resampled at load time
 * with bicubic interpolation of the patch grid, as torchvision's interpolate_embeddings does.
 */
import { ConfigError } from '../errors.js'
import { concat, Parameter, type Tensor } from '../graph/graph.js'
import { markStructureChanged, Module } from '../graph/module.js'
import * as nn from '../graph/nn.js'
import { Rng } from '../runtime/rng.js'
import { Conv2d, fill, LayerNorm, Linear, normal, uniform } from './layers.js'
import type { VisionModel, VisionOptions } from './vision.js'

const PATCH = 16
const HIDDEN = 768
const LAYERS = 12
const HEADS = 12
const MLP = 3072
const EPS = 1e-6

/** torch.nn.MultiheadAttention's parameters: packed q/k/v projection and out_proj. */
export class MultiheadAttention extends Module {
  in_proj_weight: Parameter
  in_proj_bias: Parameter
  out_proj: Linear
  constructor(readonly dim: number, readonly heads: number, rng: Rng) {
    super()
    // nn.MultiheadAttention: xavier_uniform in_proj, zero biases
    this.in_proj_weight = uniform(new Parameter([3 * dim, dim]), rng, Math.sqrt(6 / (4 * dim)))
    this.in_proj_bias = new Parameter([3 * dim], { decay: false })
    this.out_proj = new Linear(dim, dim, rng)
    fill(this.out_proj.bias!, 0)
  }
  forward(x: Tensor): Tensor {
    const [B, T, C] = x.shape as [number, number, number]
    const hd = C / this.heads
    const [q, k, v] = nn.linear(x, this.in_proj_weight, this.in_proj_bias).chunk(3, -1)
      .map((t) => t.reshape([B, T, this.heads, hd]).transpose([0, 2, 1, 3]))         // (B, nh, T, hd)
    const y = nn.attention(q!, k!, v!)                                                // (B, nh, T, hd)
    return this.out_proj.forward(y.transpose([0, 2, 1, 3]).reshape([B, T, C]))       // (B, T, C)
  }
}

export class EncoderBlock extends Module {
  ln_1: LayerNorm
  self_attention: MultiheadAttention
  ln_2: LayerNorm
  /** Linear, GELU, Dropout, Linear, Dropout: weights at 0 and 3. */
  mlp: [Linear, null, null, Linear, null]
  readonly #dropout: number
  constructor(rng: Rng, dropout: number, init: boolean) {
    super()
    this.ln_1 = new LayerNorm(HIDDEN, EPS)
    this.self_attention = new MultiheadAttention(HIDDEN, HEADS, rng)
    this.ln_2 = new LayerNorm(HIDDEN, EPS)
    const lin = (i: number, o: number): Linear => {
      // torchvision's MLPBlock: xavier_uniform weights, N(0, 1e-6) biases
      const l = new Linear(i, o, rng)
      if (init) {
        uniform(l.weight, rng, Math.sqrt(6 / (i + o)))
        normal(l.bias!, rng, 1e-6)
      }
      return l
    }
    this.mlp = [lin(HIDDEN, MLP), null, null, lin(MLP, HIDDEN), null]
    this.#dropout = dropout
  }
  forward(x: Tensor): Tensor {
    const a = nn.dropout(this.self_attention.forward(this.ln_1.forward(x)), this.#dropout).add(x)
    let y = nn.dropout(nn.gelu(this.mlp[0].forward(this.ln_2.forward(a))), this.#dropout)
    y = nn.dropout(this.mlp[3].forward(y), this.#dropout)
    return a.add(y)
  }
}

export class Encoder extends Module {
  pos_embedding: Parameter
  /** nn.Sequential(OrderedDict(encoder_layer_0 ... encoder_layer_11)). */
  layers: Module & Record<string, EncoderBlock>
  ln: LayerNorm
  readonly #dropout: number
  constructor(seqLength: number, rng: Rng, dropout: number, init: boolean) {
    super()
    this.pos_embedding = new Parameter([1, seqLength, HIDDEN], { decay: false })
    if (init) normal(this.pos_embedding, rng, 0.02)
    const layers: Record<string, EncoderBlock> = {}
    for (let i = 0; i < LAYERS; i++) layers[`encoder_layer_${i}`] = new EncoderBlock(rng, dropout, init)
    this.layers = Object.assign(new (class extends Module {})(), layers)
    this.ln = new LayerNorm(HIDDEN, EPS)
    this.#dropout = dropout
  }
  forward(x: Tensor): Tensor {
    let h = nn.dropout(x.add(this.pos_embedding), this.#dropout)
    for (let i = 0; i < LAYERS; i++) h = this.layers[`encoder_layer_${i}`]!.forward(h)
    return this.ln.forward(h)
  }
}

export class VisionTransformer extends Module implements VisionModel {
  readonly arch = 'vit_b_16'
  readonly defaultImageSize = 224
  readonly minImageSize = PATCH
  readonly headPrefixes = ['heads.head'] as const
  readonly featureSize = HIDDEN
  /** The side of the square images the position embeddings cover. */
  readonly imageSize: number
  numClasses: number
  conv_proj: Conv2d
  class_token: Parameter
  encoder: Encoder
  heads: { head: Linear }
  constructor(numClasses: number, opts: VisionOptions = {}) {
    super()
    const rng = new Rng(opts.seed ?? 0)
    const size = opts.imageSize ?? 224
    if (!Number.isInteger(size) || size < PATCH || size % PATCH !== 0)
      throw new ConfigError('VISION_IMAGE_SIZE', `vit_b_16 needs an image size that is a multiple of ${PATCH}, got ${size}`, 'use 224 (the pretrained size), or another multiple of 16')
    this.imageSize = size
    this.numClasses = numClasses
    const dropout = opts.dropout ?? 0
    this.conv_proj = new Conv2d(3, HIDDEN, PATCH, rng, { stride: PATCH })
    const init = opts.init !== false
    // torchvision: truncated N(0, 1/fan_in) patch projection with zero bias; zero class token
    if (init) {
      normal(this.conv_proj.weight, rng, Math.sqrt(1 / (3 * PATCH * PATCH)))
      fill(this.conv_proj.bias!, 0)
    }
    this.class_token = new Parameter([1, 1, HIDDEN], { decay: false })
    this.encoder = new Encoder((size / PATCH) ** 2 + 1, rng, dropout, init)
    this.heads = new (class extends Module {
      head = zeroHead(numClasses, rng)
    })()
  }
  /** The class token after the encoder's final LayerNorm (B, 768). */
  backbone(x: Tensor): Tensor {
    const [B, C, H, W] = x.shape as [number, number, number, number]
    if (x.rank !== 4 || C !== 3 || H !== this.imageSize || W !== this.imageSize)
      throw new ConfigError('VISION_INPUT_SIZE', `vit_b_16 built for ${this.imageSize}x${this.imageSize} images got input [${x.shape.join(', ')}]`, `resize images to ${this.imageSize}x${this.imageSize}, or build with imageSize: ${H} (position embeddings are interpolated when loading)`)
    const n = (H / PATCH) * (W / PATCH)
    const p = this.conv_proj.forward(x).reshape([B, HIDDEN, n]).transpose([0, 2, 1])  // (B, n, C)
    const cls = x.graph.param(this.class_token).expand([B, 1, HIDDEN])               // (B, 1, C)
    const h = this.encoder.forward(concat([cls, p], 1))                              // (B, 1 + n, C)
    return h.slice(1, 0, 1).squeeze(1)                                              // (B, C)
  }
  head(f: Tensor): Tensor {
    return this.heads.head.forward(f)
  }
  logits(x: Tensor): Tensor {
    return this.head(this.backbone(x))
  }
  forwardLoss(x: Tensor, loss: (logits: Tensor) => Tensor): { logits: Tensor; loss: Tensor } {
    const logits = this.logits(x)
    return { logits, loss: loss(logits) }
  }
  /** A new heads.head, zero-initialised as torchvision does. */
  replaceHead(numClasses: number, rng: Rng): void {
    this.heads.head = zeroHead(numClasses, rng)
    this.numClasses = numClasses
    markStructureChanged()
  }
  /**
   * Converts a checkpoint tensor whose shape differs from the model's, or returns null: a
   * position-embedding table for another image size is resampled to this model's patch grid.
   */
  adaptWeight(name: string, shape: readonly number[], data: Float32Array): Float32Array | null {
    if (name !== 'encoder.pos_embedding' || shape.length !== 3 || shape[0] !== 1 || shape[2] !== HIDDEN) return null
    const from = Math.round(Math.sqrt(shape[1]! - 1))
    if (from * from !== shape[1]! - 1) return null
    return interpolatePosEmbedding(data, HIDDEN, from, this.imageSize / PATCH)
  }
}

function zeroHead(numClasses: number, rng: Rng): Linear {
  const l = new Linear(HIDDEN, numClasses, rng)
  fill(l.weight, 0)
  fill(l.bias!, 0)
  return l
}

/** PyTorch's cubic convolution weights (A = -0.75) for fractional offset t. */
function cubicWeights(t: number): [number, number, number, number] {
  const A = -0.75
  const c1 = (x: number): number => ((A + 2) * x - (A + 3)) * x * x + 1
  const c2 = (x: number): number => ((A * x - 5 * A) * x + 8 * A) * x - 4 * A
  return [c2(t + 1), c1(t), c1(1 - t), c2(2 - t)]
}

/**
 * A (1, 1 + from², dim) position table with its from x from grid resized bicubically to to x to (the
 * class-token row kept, border values repeated, as torch.nn.functional.interpolate). `source` maps an
 * output index to its fractional source coordinate, which is where align_corners differs.
 */
export function resamplePosGrid(pe: Float32Array, dim: number, from: number, to: number, source: (o: number) => number): Float32Array {
  if (pe.length !== (1 + from * from) * dim)
    throw new ConfigError('VISION_POS_EMBEDDING', `position embedding has ${pe.length} values, a ${from}x${from} grid of ${dim} needs ${(1 + from * from) * dim}`)
  const out = new Float32Array((1 + to * to) * dim)
  out.set(pe.subarray(0, dim))
  const taps = Array.from({ length: to }, (_, o) => {
    const real = source(o)
    const i = Math.floor(real)
    return { w: cubicWeights(real - i), idx: [i - 1, i, i + 1, i + 2].map((k) => Math.min(Math.max(k, 0), from - 1)) }
  })
  for (let oy = 0; oy < to; oy++) {
    const ty = taps[oy]!
    for (let ox = 0; ox < to; ox++) {
      const tx = taps[ox]!
      const dst = (1 + oy * to + ox) * dim
      for (let c = 0; c < dim; c++) {
        let v = 0
        for (let a = 0; a < 4; a++) {
          let row = 0
          const base = 1 + ty.idx[a]! * from
          for (let b = 0; b < 4; b++) row += pe[(base + tx.idx[b]!) * dim + c]! * tx.w[b]!
          v += row * ty.w[a]!
        }
        out[dst + c] = v
      }
    }
  }
  return out
}

/** torchvision's interpolate_embeddings: bicubic with align_corners=True. */
export function interpolatePosEmbedding(pe: Float32Array, dim: number, from: number, to: number): Float32Array {
  const scale = to > 1 ? (from - 1) / (to - 1) : 0
  return resamplePosGrid(pe, dim, from, to, (o) => scale * o)
}
