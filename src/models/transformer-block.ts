/**
 * A pre-LayerNorm transformer encoder block (as in GPT-2 and ViT): the unit the engine benchmarks
 * and the synthetic demo train. Names follow nanoGPT so the shapes read plainly.
 */
import type { Tensor } from '../graph/graph.js'
import { Module } from '../graph/module.js'
import * as nn from '../graph/nn.js'
import { LayerNorm, Linear, type Init } from './layers.js'

export interface BlockConfig {
  hidden: number
  heads: number
  ffn: number
  dropout?: number
  causal?: boolean
}

export class TransformerBlock extends Module {
  ln_1: LayerNorm
  attn: { c_attn: Linear; c_proj: Linear }
  ln_2: LayerNorm
  mlp: { c_fc: Linear; c_proj: Linear }
  constructor(readonly c: BlockConfig, rng: Init) {
    super()
    this.ln_1 = new LayerNorm(c.hidden)
    this.attn = new AttnParams(c, rng)
    this.ln_2 = new LayerNorm(c.hidden)
    this.mlp = new MlpParams(c, rng)
  }
  forward(x: Tensor, paddingMask?: Tensor): Tensor {
    const [B, T, C] = x.shape as [number, number, number]
    const nh = this.c.heads
    const p = this.c.dropout ?? 0
    const [q, k, v] = this.attn.c_attn.forward(this.ln_1.forward(x))
      .reshape([B, T, 3, nh, C / nh]).transpose([2, 0, 3, 1, 4])                            // (3, B, nh, T, hd)
      .split([1, 1, 1], 0).map((t) => t.squeeze(0))                                         // (B, nh, T, hd)
    const y = nn.attention(q!, k!, v!, { causal: this.c.causal ?? false, paddingMask: paddingMask ?? null, dropout: p })
      .transpose([0, 2, 1, 3]).reshape([B, T, C])                                         // (B, T, C)
    const h = x.add(nn.dropout(this.attn.c_proj.forward(y), p))
    const m = this.mlp.c_proj.forward(nn.gelu(this.mlp.c_fc.forward(this.ln_2.forward(h))))
    return h.add(nn.dropout(m, p))
  }
}

class AttnParams extends Module {
  c_attn: Linear
  c_proj: Linear
  constructor(c: BlockConfig, rng: Init) {
    super()
    this.c_attn = new Linear(c.hidden, 3 * c.hidden, rng)
    this.c_proj = new Linear(c.hidden, c.hidden, rng)
  }
}

class MlpParams extends Module {
  c_fc: Linear
  c_proj: Linear
  constructor(c: BlockConfig, rng: Init) {
    super()
    this.c_fc = new Linear(c.hidden, c.ffn, rng)
    this.c_proj = new Linear(c.ffn, c.hidden, rng)
  }
}
