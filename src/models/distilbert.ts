/**
 * DistilBERT (Sanh et al. 2019): a 6-layer BERT without token types or pooler, with its own names.
 * https://arxiv.org/abs/1910.01108 · transformers/models/distilbert/modeling_distilbert.py
 * Its LayerNorm eps is fixed at 1e-12 in the modeling code, not read from the config.
 */
import type { Tensor } from '../graph/graph.js'
import { Module } from '../graph/module.js'
import * as nn from '../graph/nn.js'
import { Rng } from '../runtime/rng.js'
import type { ConfigSizes } from './config-sizes.js'
import { ConfigReader, hfInit, readLabels, type HfConfig, type TextInputs, type TextModel, type TextTask } from './hf.js'
import { Embedding, LayerNorm, Linear } from './layers.js'

const EPS = 1e-12

export interface DistilBertConfig {
  vocab_size: number
  dim: number
  n_layers: number
  n_heads: number
  hidden_dim: number
  activation: string
  dropout: number
  attention_dropout: number
  max_position_embeddings: number
  seq_classif_dropout: number
  pad_token_id: number
  initializer_range: number
}

export function parseDistilBertConfig(raw: HfConfig, file = 'config.json'): DistilBertConfig {
  const r = new ConfigReader(raw, file)
  const c: DistilBertConfig = {
    vocab_size: r.size('vocab_size'),
    dim: r.size('dim', 768),
    n_layers: r.size('n_layers', 6),
    n_heads: r.size('n_heads', 12),
    hidden_dim: r.size('hidden_dim', 3072),
    activation: r.str('activation', 'gelu'),
    dropout: r.num('dropout', 0.1),
    attention_dropout: r.num('attention_dropout', 0.1),
    max_position_embeddings: r.size('max_position_embeddings', 512),
    seq_classif_dropout: r.num('seq_classif_dropout', 0.2),
    pad_token_id: r.int('pad_token_id', 0),
    initializer_range: r.num('initializer_range', 0.02),
  }
  r.divisible('dim', c.dim, 'n_heads', c.n_heads)
  if (raw['sinusoidal_pos_embds'] === true) r.issues.add('sinusoidal_pos_embds', 'sinusoidal position embeddings are not supported')
  r.check()
  return c
}

/** The checkpoint shapes and parameter count the sizes imply. */
export function distilBertSizes(c: DistilBertConfig): ConfigSizes {
  const { vocab_size: V, dim: H, hidden_dim: I, max_position_embeddings: P, n_layers: L } = c
  return {
    fields: { vocab_size: V, dim: H, hidden_dim: I, max_position_embeddings: P, n_layers: L },
    // embeddings, L x (q k v out, two LayerNorms, lin1, lin2)
    params: (V + P) * H + 2 * H + L * (4 * H * H + 2 * H * I + 9 * H + I),
    tensors: [
      { key: 'distilbert.embeddings.word_embeddings.weight', shape: [V, H], fields: ['vocab_size', 'dim'] },
      { key: 'distilbert.embeddings.position_embeddings.weight', shape: [P, H], fields: ['max_position_embeddings', 'dim'] },
      { key: 'distilbert.transformer.layer.0.ffn.lin1.weight', shape: [I, H], fields: ['hidden_dim', 'dim'] },
    ],
    blocks: [{ field: 'n_layers', value: L, pattern: /^(?:distilbert\.)?transformer\.layer\.(\d+)\./, example: 'distilbert.transformer.layer.N' }],
    basePrefix: 'distilbert',
  }
}

class MultiHeadSelfAttention extends Module {
  q_lin: Linear
  k_lin: Linear
  v_lin: Linear
  out_lin: Linear
  constructor(readonly c: DistilBertConfig, rng: Rng) {
    super()
    this.q_lin = new Linear(c.dim, c.dim, rng)
    this.k_lin = new Linear(c.dim, c.dim, rng)
    this.v_lin = new Linear(c.dim, c.dim, rng)
    this.out_lin = new Linear(c.dim, c.dim, rng)
  }
  forward(h: Tensor, mask: Tensor): Tensor {
    const [B, T, C] = h.shape as [number, number, number]
    const nh = this.c.n_heads
    const heads = (t: Tensor): Tensor => t.reshape([B, T, nh, C / nh]).transpose([0, 2, 1, 3])     // (B, nh, T, hd)
    const y = nn.attention(heads(this.q_lin.forward(h)), heads(this.k_lin.forward(h)), heads(this.v_lin.forward(h)), { paddingMask: mask, dropout: this.c.attention_dropout })
    return this.out_lin.forward(y.transpose([0, 2, 1, 3]).reshape([B, T, C]))
  }
}

class TransformerBlock extends Module {
  attention: MultiHeadSelfAttention
  sa_layer_norm: LayerNorm
  ffn: { lin1: Linear; lin2: Linear }
  output_layer_norm: LayerNorm
  readonly #act: (x: Tensor) => Tensor
  constructor(readonly c: DistilBertConfig, rng: Rng) {
    super()
    this.attention = new MultiHeadSelfAttention(c, rng)
    this.sa_layer_norm = new LayerNorm(c.dim, EPS)
    this.ffn = new (class extends Module {
      lin1 = new Linear(c.dim, c.hidden_dim, rng)
      lin2 = new Linear(c.hidden_dim, c.dim, rng)
    })()
    this.output_layer_norm = new LayerNorm(c.dim, EPS)
    this.#act = nn.activation(c.activation)
  }
  forward(h: Tensor, mask: Tensor): Tensor {
    const a = this.sa_layer_norm.forward(this.attention.forward(h, mask).add(h))
    const f = nn.dropout(this.ffn.lin2.forward(this.#act(this.ffn.lin1.forward(a))), this.c.dropout)
    return this.output_layer_norm.forward(f.add(a))
  }
}

export class DistilBertModel extends Module {
  embeddings: { word_embeddings: Embedding; position_embeddings: Embedding; LayerNorm: LayerNorm }
  transformer: { layer: TransformerBlock[] }
  constructor(readonly c: DistilBertConfig, rng: Rng) {
    super()
    this.embeddings = new (class extends Module {
      word_embeddings = new Embedding(c.vocab_size, c.dim, rng)
      position_embeddings = new Embedding(c.max_position_embeddings, c.dim, rng)
      LayerNorm = new LayerNorm(c.dim, EPS)
    })()
    this.transformer = new (class extends Module {
      layer = Array.from({ length: c.n_layers }, () => new TransformerBlock(c, rng))
    })()
  }
  forward(x: TextInputs): Tensor {
    const T = x.input_ids.shape[1]!
    const pos = x.input_ids.graph.constant(Array.from({ length: T }, (_, i) => i), [T], 'int64')
    const e = this.embeddings.word_embeddings.forward(x.input_ids).add(this.embeddings.position_embeddings.forward(pos))
    let h = nn.dropout(this.embeddings.LayerNorm.forward(e), this.c.dropout)
    for (const l of this.transformer.layer) h = l.forward(h, x.attention_mask)
    return h
  }
}

export class DistilBert extends Module implements TextModel {
  readonly family = 'distilbert'
  readonly basePrefix = 'distilbert'
  readonly usesTokenTypes = false
  get maxPositions(): number {
    return this.c.max_position_embeddings
  }
  distilbert: DistilBertModel
  pre_classifier: Linear | null
  classifier: Linear | null
  readonly headPrefixes: readonly string[]
  readonly architecture: string
  /** PEFT's default LoRA targets for DistilBERT. */
  readonly loraTargets = ['q_lin', 'v_lin']
  constructor(readonly c: DistilBertConfig, readonly config: HfConfig, readonly task: TextTask, seed = 0) {
    super()
    const rng = new Rng(seed)
    const n = readLabels(config).numLabels
    this.distilbert = new DistilBertModel(c, rng)
    this.pre_classifier = task === 'sequence-classification' ? new Linear(c.dim, c.dim, rng) : null
    this.classifier = task === 'sequence-classification' || task === 'token-classification' ? new Linear(c.dim, n, rng) : null
    this.headPrefixes = task === 'sequence-classification' ? ['pre_classifier', 'classifier'] : this.classifier ? ['classifier'] : []
    this.architecture = { base: 'DistilBertModel', 'sequence-classification': 'DistilBertForSequenceClassification', 'token-classification': 'DistilBertForTokenClassification', 'causal-lm': 'DistilBertModel', 'masked-lm': 'DistilBertForMaskedLM' }[task]
    hfInit(this, rng, c.initializer_range)
  }
  features(x: TextInputs): Tensor {
    const h = this.distilbert.forward(x)                                                            // (B, T, C)
    return this.task === 'sequence-classification' ? h.slice(1, 0, 1).squeeze(1) : h               // [CLS]: (B, C)
  }
  head(f: Tensor): Tensor {
    if (this.task === 'sequence-classification') return this.classifier!.forward(nn.dropout(this.pre_classifier!.forward(f).relu(), this.c.seq_classif_dropout))
    if (this.task === 'token-classification') return this.classifier!.forward(nn.dropout(f, this.c.dropout))
    return f
  }
  logits(x: TextInputs): Tensor {
    return this.head(this.features(x))
  }
}
