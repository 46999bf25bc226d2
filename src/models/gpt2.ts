/**
 * GPT-2 (Radford et al. 2019) as transformers/models/gpt2/modeling_gpt2.py names it.
 * https://openai.com/research/better-language-models · modeling_gpt2.py
 * Pre-LayerNorm decoder with learned positions. Its Conv1D layers store weights (in, out), the
 * transpose of nn.Linear, so they multiply without transposing. lm_head is tied to wte.
 */
import type { Tensor } from '../graph/graph.js'
import { Module } from '../graph/module.js'
import * as nn from '../graph/nn.js'
import { Parameter } from '../graph/graph.js'
import { concat } from '../graph/graph.js'
import { Rng } from '../runtime/rng.js'
import type { ConfigSizes } from './config-sizes.js'
import type { CachedCausalLm, KvSpec, LayerKv, PastKv } from './decoder.js'
import { ConfigReader, hfInit, readLabels, type HfConfig, type TextInputs, type TextModel, type TextTask } from './hf.js'
import { Embedding, LayerNorm, Linear, normal } from './layers.js'

export interface Gpt2Config {
  vocab_size: number
  n_embd: number
  n_layer: number
  n_head: number
  n_positions: number
  n_inner: number
  activation_function: string
  resid_pdrop: number
  embd_pdrop: number
  attn_pdrop: number
  layer_norm_epsilon: number
  initializer_range: number
  pad_token_id: number | null
  summary_first_dropout: number
}

export function parseGpt2Config(raw: HfConfig, file = 'config.json'): Gpt2Config {
  const r = new ConfigReader(raw, file)
  const n_embd = r.size('n_embd', 768)
  const c: Gpt2Config = {
    vocab_size: r.size('vocab_size', 50257),
    n_embd,
    n_layer: r.size('n_layer', 12),
    n_head: r.size('n_head', 12),
    n_positions: r.size('n_positions', 1024),
    n_inner: r.optSize('n_inner') ?? 4 * n_embd,
    activation_function: r.str('activation_function', 'gelu_new'),
    resid_pdrop: r.num('resid_pdrop', 0.1),
    embd_pdrop: r.num('embd_pdrop', 0.1),
    attn_pdrop: r.num('attn_pdrop', 0.1),
    layer_norm_epsilon: r.num('layer_norm_epsilon', 1e-5),
    initializer_range: r.num('initializer_range', 0.02),
    pad_token_id: r.optInt('pad_token_id'),
    summary_first_dropout: r.num('summary_first_dropout', 0.1),
  }
  r.divisible('n_embd', c.n_embd, 'n_head', c.n_head)
  if (raw['scale_attn_by_inverse_layer_idx'] === true) r.issues.add('scale_attn_by_inverse_layer_idx', 'is not supported')
  r.check()
  return c
}

/** The checkpoint shapes (Conv1D weights stored (in, out)) and parameter count the sizes imply. */
export function gpt2Sizes(c: Gpt2Config): ConfigSizes {
  const { vocab_size: V, n_embd: H, n_inner: I, n_positions: P, n_layer: L } = c
  return {
    fields: { vocab_size: V, n_embd: H, n_inner: I, n_positions: P, n_layer: L },
    // wte, wpe, L x (ln_1, c_attn, c_proj, ln_2, c_fc, c_proj), ln_f
    params: (V + P) * H + L * (4 * H * H + 2 * H * I + 9 * H + I) + 2 * H,
    tensors: [
      { key: 'transformer.wte.weight', shape: [V, H], fields: ['vocab_size', 'n_embd'] },
      { key: 'transformer.wpe.weight', shape: [P, H], fields: ['n_positions', 'n_embd'] },
      { key: 'transformer.h.0.mlp.c_fc.weight', shape: [H, I], fields: ['n_embd', 'n_inner'] },
    ],
    blocks: [{ field: 'n_layer', value: L, pattern: /^(?:transformer\.)?h\.(\d+)\./, example: 'transformer.h.N' }],
    basePrefix: 'transformer',
  }
}

/** GPT-2's Conv1D: y = x W + b with W stored (in, out). */
export class Conv1D extends Module {
  weight: Parameter
  bias: Parameter
  constructor(inF: number, outF: number, rng: Rng) {
    super()
    this.weight = normal(new Parameter([inF, outF]), rng, 0.02)
    this.bias = new Parameter([outF], { decay: false })
  }
  forward(x: Tensor): Tensor {
    const [inF, outF] = this.weight.shape as [number, number]
    const lead = x.shape.slice(0, -1)
    const y = x.graph.emit('Gemm', [x.reshape([-1, inF]), x.graph.param(this.weight), x.graph.param(this.bias)], { transA: false, transB: false, alpha: 1, beta: 1 })[0]!
    return y.reshape([...lead, outF])
  }
}

class Attention extends Module {
  c_attn: Conv1D
  c_proj: Conv1D
  constructor(readonly c: Gpt2Config, rng: Rng) {
    super()
    this.c_attn = new Conv1D(c.n_embd, 3 * c.n_embd, rng)
    this.c_proj = new Conv1D(c.n_embd, c.n_embd, rng)
  }
  /** `kv`: the cached keys/values to attend to (mask then covers past + new), and where to put the new ones. */
  forward(h: Tensor, mask: Tensor, kv?: { past: LayerKv | null; present: LayerKv[] }): Tensor {
    const [B, T, C] = h.shape as [number, number, number]
    const nh = this.c.n_head
    const [q, k, v] = this.c_attn.forward(h).reshape([B, T, 3, nh, C / nh]).transpose([2, 0, 3, 1, 4])  // (3, B, nh, T, hd)
      .split([1, 1, 1], 0).map((t) => t.squeeze(0))                                                      // (B, nh, T, hd)
    kv?.present.push({ key: k!, value: v! })
    const past = kv?.past
    const keys = past ? concat([past.key, k!], 2) : k!                                                  // (B, nh, Tmax + T, hd)
    const values = past ? concat([past.value, v!], 2) : v!
    const y = nn.attention(q!, keys, values, { causal: true, paddingMask: mask, dropout: this.c.attn_pdrop })
    return nn.dropout(this.c_proj.forward(y.transpose([0, 2, 1, 3]).reshape([B, T, C])), this.c.resid_pdrop)
  }
}

class Block extends Module {
  ln_1: LayerNorm
  attn: Attention
  ln_2: LayerNorm
  mlp: { c_fc: Conv1D; c_proj: Conv1D }
  readonly #act: (x: Tensor) => Tensor
  constructor(readonly c: Gpt2Config, rng: Rng) {
    super()
    this.ln_1 = new LayerNorm(c.n_embd, c.layer_norm_epsilon)
    this.attn = new Attention(c, rng)
    this.ln_2 = new LayerNorm(c.n_embd, c.layer_norm_epsilon)
    this.mlp = new (class extends Module {
      c_fc = new Conv1D(c.n_embd, c.n_inner, rng)
      c_proj = new Conv1D(c.n_inner, c.n_embd, rng)
    })()
    this.#act = nn.activation(c.activation_function)
  }
  forward(h: Tensor, mask: Tensor, kv?: { past: LayerKv | null; present: LayerKv[] }): Tensor {
    const a = h.add(this.attn.forward(this.ln_1.forward(h), mask, kv))
    const m = nn.dropout(this.mlp.c_proj.forward(this.#act(this.mlp.c_fc.forward(this.ln_2.forward(a)))), this.c.resid_pdrop)
    return a.add(m)
  }
}

export class GPT2Model extends Module {
  wte: Embedding
  wpe: Embedding
  h: Block[]
  ln_f: LayerNorm
  constructor(readonly c: Gpt2Config, rng: Rng) {
    super()
    this.wte = new Embedding(c.vocab_size, c.n_embd, rng)
    this.wpe = new Embedding(c.n_positions, c.n_embd, rng)
    this.h = Array.from({ length: c.n_layer }, () => new Block(c, rng))
    this.ln_f = new LayerNorm(c.n_embd, c.layer_norm_epsilon)
  }
  forward(x: TextInputs): Tensor {
    const T = x.input_ids.shape[1]!
    const pos = x.input_ids.graph.constant(Array.from({ length: T }, (_, i) => i), [T], 'int64')
    let h = nn.dropout(this.wte.forward(x.input_ids).add(this.wpe.forward(pos)), this.c.embd_pdrop)  // (B, T, C)
    for (const b of this.h) h = b.forward(h, x.attention_mask)
    return this.ln_f.forward(h)
  }
  /** The forward pass of new tokens against cached keys/values (see CachedCausalLm.decode). */
  decode(ids: Tensor, positionIds: Tensor, past: PastKv | null): { hidden: Tensor; present: LayerKv[] } {
    const [B, T] = ids.shape as [number, number]
    const g = ids.graph
    const ones = g.constant(new Array<number>(B * T).fill(1), [B, T], 'int64')
    const mask = past ? concat([past.mask.cast('int64'), ones], 1) : ones                            // (B, Tmax + T)
    let h = nn.dropout(this.wte.forward(ids).add(this.wpe.forward(positionIds)), this.c.embd_pdrop)  // (B, T, C)
    const present: LayerKv[] = []
    this.h.forEach((b, i) => (h = b.forward(h, mask, { past: past?.layers[i] ?? null, present })))
    return { hidden: this.ln_f.forward(h), present }
  }
}

/** GPT2Model / GPT2LMHeadModel / GPT2ForSequenceClassification / GPT2ForTokenClassification. */
export class Gpt2 extends Module implements TextModel, CachedCausalLm {
  readonly family = 'gpt2'
  readonly basePrefix = 'transformer'
  readonly usesTokenTypes = false
  get maxPositions(): number {
    return this.c.n_positions
  }
  transformer: GPT2Model
  score: Linear | null
  classifier: Linear | null
  readonly headPrefixes: readonly string[]
  readonly architecture: string
  /** PEFT's default LoRA target for GPT-2: the fused query/key/value projection. */
  readonly loraTargets = ['c_attn']
  constructor(readonly c: Gpt2Config, readonly config: HfConfig, readonly task: TextTask, seed = 0) {
    super()
    const rng = new Rng(seed)
    const n = readLabels(config).numLabels
    this.transformer = new GPT2Model(c, rng)
    this.score = task === 'sequence-classification' ? new Linear(c.n_embd, n, rng, { bias: false }) : null
    this.classifier = task === 'token-classification' ? new Linear(c.n_embd, n, rng) : null
    this.headPrefixes = this.score ? ['score'] : this.classifier ? ['classifier'] : []
    this.architecture = { base: 'GPT2Model', 'sequence-classification': 'GPT2ForSequenceClassification', 'token-classification': 'GPT2ForTokenClassification', 'causal-lm': 'GPT2LMHeadModel', 'masked-lm': 'GPT2LMHeadModel' }[task]
    hfInit(this, rng, c.initializer_range)
    // HF's GPT-2 init scales residual projections by 1/sqrt(2 * n_layer)
    for (const b of this.transformer.h) for (const w of [b.attn.c_proj.weight, b.mlp.c_proj.weight]) normal(w, rng, c.initializer_range / Math.sqrt(2 * c.n_layer))
  }
  features(x: TextInputs): Tensor {
    const h = this.transformer.forward(x)                                                           // (B, T, C)
    if (this.task !== 'sequence-classification') return h
    const [B, T, C] = h.shape as [number, number, number]
    // the rightmost non-padding token of each row (the last token when there is no pad id)
    let idx: Tensor
    if (this.c.pad_token_id === null) idx = x.input_ids.graph.constant(new Array<number>(B).fill(T - 1), [B], 'int64')
    else {
      const ar = x.input_ids.graph.constant(Array.from({ length: T }, (_, i) => i), [T], 'int64')
      idx = x.input_ids.ne(this.c.pad_token_id).cast('int64').mul(ar).argmax(1)                    // (B)
    }
    return h.gatherElements(idx.reshape([B, 1, 1]).expand([B, 1, C]), 1).squeeze(1)               // (B, C)
  }
  head(f: Tensor): Tensor {
    if (this.task === 'causal-lm') return nn.linear(f, this.transformer.wte.weight)                 // tied: (B, T, V)
    if (this.task === 'token-classification') return this.classifier!.forward(nn.dropout(f, this.c.resid_pdrop))
    if (this.task === 'sequence-classification') return this.score!.forward(f)                      // (B, L)
    return f
  }
  logits(x: TextInputs): Tensor {
    return this.head(this.features(x))
  }
  get kvSpec(): KvSpec {
    return { layers: this.c.n_layer, heads: this.c.n_head, headDim: this.c.n_embd / this.c.n_head }
  }
  decode(ids: Tensor, positionIds: Tensor, past: PastKv | null): { logits: Tensor; present: LayerKv[] } {
    const { hidden, present } = this.transformer.decode(ids, positionIds, past)
    return { logits: nn.linear(hidden, this.transformer.wte.weight), present }                     // tied: (B, T, V)
  }
}
