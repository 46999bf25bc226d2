/**
 * BERT (Devlin et al. 2018), as Hugging Face's modeling_bert.py names and computes it.
 * https://arxiv.org/abs/1810.04805 · transformers/models/bert/modeling_bert.py
 * Post-LayerNorm encoder; absolute position and token-type embeddings; pooler = tanh(dense(h[:, 0])).
 * RoBERTa reuses the encoder from this file.
 */
import { Parameter, type Tensor } from '../graph/graph.js'
import { Module } from '../graph/module.js'
import * as nn from '../graph/nn.js'
import { Rng } from '../runtime/rng.js'
import type { ConfigSizes } from './config-sizes.js'
import { ConfigReader, hfInit, readLabels, type HfConfig, type TextInputs, type TextModel, type TextTask } from './hf.js'
import { Embedding, LayerNorm, Linear } from './layers.js'

export interface BertConfig {
  vocab_size: number
  hidden_size: number
  num_hidden_layers: number
  num_attention_heads: number
  intermediate_size: number
  hidden_act: string
  hidden_dropout_prob: number
  attention_probs_dropout_prob: number
  max_position_embeddings: number
  type_vocab_size: number
  layer_norm_eps: number
  pad_token_id: number
  initializer_range: number
  classifier_dropout: number | null
}

export function parseBertConfig(raw: HfConfig, file = 'config.json'): BertConfig {
  const r = new ConfigReader(raw, file)
  const c: BertConfig = {
    vocab_size: r.size('vocab_size'),
    hidden_size: r.size('hidden_size', 768),
    num_hidden_layers: r.size('num_hidden_layers', 12),
    num_attention_heads: r.size('num_attention_heads', 12),
    intermediate_size: r.size('intermediate_size', 3072),
    hidden_act: r.str('hidden_act', 'gelu'),
    hidden_dropout_prob: r.num('hidden_dropout_prob', 0.1),
    attention_probs_dropout_prob: r.num('attention_probs_dropout_prob', 0.1),
    max_position_embeddings: r.size('max_position_embeddings', 512),
    type_vocab_size: r.size('type_vocab_size', 2),
    layer_norm_eps: r.num('layer_norm_eps', 1e-12),
    pad_token_id: r.int('pad_token_id', 0),
    initializer_range: r.num('initializer_range', 0.02),
    classifier_dropout: r.optNum('classifier_dropout'),
  }
  r.divisible('hidden_size', c.hidden_size, 'num_attention_heads', c.num_attention_heads)
  const pet = raw['position_embedding_type']
  if (pet !== undefined && pet !== 'absolute') r.issues.add('position_embedding_type', `"${String(pet)}" is not supported (only "absolute")`)
  r.check()
  return c
}

/** The checkpoint shapes and parameter count the sizes imply (RoBERTa too, with prefix "roberta"). */
export function bertSizes(c: BertConfig, prefix = 'bert'): ConfigSizes {
  const { vocab_size: V, hidden_size: H, intermediate_size: I, max_position_embeddings: P, type_vocab_size: T, num_hidden_layers: L } = c
  const e = `${prefix}.embeddings`
  return {
    fields: { vocab_size: V, hidden_size: H, intermediate_size: I, max_position_embeddings: P, type_vocab_size: T, num_hidden_layers: L },
    // embeddings, L x (q k v o, two LayerNorms, intermediate, output), pooler
    params: (V + P + T) * H + 2 * H + L * (4 * H * H + 2 * H * I + 9 * H + I) + H * H + H,
    tensors: [
      { key: `${e}.word_embeddings.weight`, shape: [V, H], fields: ['vocab_size', 'hidden_size'] },
      { key: `${e}.position_embeddings.weight`, shape: [P, H], fields: ['max_position_embeddings', 'hidden_size'] },
      { key: `${e}.token_type_embeddings.weight`, shape: [T, H], fields: ['type_vocab_size', 'hidden_size'] },
      { key: `${prefix}.encoder.layer.0.intermediate.dense.weight`, shape: [I, H], fields: ['intermediate_size', 'hidden_size'] },
    ],
    blocks: [{ field: 'num_hidden_layers', value: L, pattern: new RegExp(`^(?:${prefix}\\.)?encoder\\.layer\\.(\\d+)\\.`), example: `${prefix}.encoder.layer.N` }],
    basePrefix: prefix,
  }
}

export class BertEmbeddings extends Module {
  word_embeddings: Embedding
  position_embeddings: Embedding
  token_type_embeddings: Embedding | null
  LayerNorm: LayerNorm
  constructor(readonly c: BertConfig, rng: Rng, opts: { tokenTypes?: boolean } = {}) {
    super()
    this.word_embeddings = new Embedding(c.vocab_size, c.hidden_size, rng)
    this.position_embeddings = new Embedding(c.max_position_embeddings, c.hidden_size, rng)
    this.token_type_embeddings = opts.tokenTypes === false ? null : new Embedding(c.type_vocab_size, c.hidden_size, rng)
    this.LayerNorm = new LayerNorm(c.hidden_size, c.layer_norm_eps)
  }
  /** `positionIds` (B, T) or (T); `tokenTypeIds` (B, T) or none (type 0 everywhere). */
  forward(ids: Tensor, positionIds: Tensor, tokenTypeIds?: Tensor): Tensor {
    let e = this.word_embeddings.forward(ids).add(this.position_embeddings.forward(positionIds))     // (B, T, C)
    if (this.token_type_embeddings) {
      // without token_type_ids every token has type 0: add row 0, broadcast
      e = e.add(tokenTypeIds ? this.token_type_embeddings.forward(tokenTypeIds) : ids.graph.param(this.token_type_embeddings.weight).slice(0, 0, 1))
    }
    return nn.dropout(this.LayerNorm.forward(e), this.c.hidden_dropout_prob)
  }
}

export class BertSelfAttention extends Module {
  query: Linear
  key: Linear
  value: Linear
  constructor(readonly c: BertConfig, rng: Rng) {
    super()
    this.query = new Linear(c.hidden_size, c.hidden_size, rng)
    this.key = new Linear(c.hidden_size, c.hidden_size, rng)
    this.value = new Linear(c.hidden_size, c.hidden_size, rng)
  }
  forward(h: Tensor, mask: Tensor): Tensor {
    const [B, T, C] = h.shape as [number, number, number]
    const nh = this.c.num_attention_heads
    const heads = (t: Tensor): Tensor => t.reshape([B, T, nh, C / nh]).transpose([0, 2, 1, 3])     // (B, nh, T, hd)
    const y = nn.attention(heads(this.query.forward(h)), heads(this.key.forward(h)), heads(this.value.forward(h)), {
      paddingMask: mask,
      dropout: this.c.attention_probs_dropout_prob,
    })
    return y.transpose([0, 2, 1, 3]).reshape([B, T, C])                                             // (B, T, C)
  }
}

/** dense -> dropout -> LayerNorm(residual + x): BertSelfOutput and BertOutput. */
export class BertResidualOutput extends Module {
  dense: Linear
  LayerNorm: LayerNorm
  constructor(readonly c: BertConfig, inSize: number, rng: Rng) {
    super()
    this.dense = new Linear(inSize, c.hidden_size, rng)
    this.LayerNorm = new LayerNorm(c.hidden_size, c.layer_norm_eps)
  }
  forward(x: Tensor, residual: Tensor): Tensor {
    return this.LayerNorm.forward(nn.dropout(this.dense.forward(x), this.c.hidden_dropout_prob).add(residual))
  }
}

export class BertLayer extends Module {
  attention: { self: BertSelfAttention; output: BertResidualOutput }
  intermediate: { dense: Linear }
  output: BertResidualOutput
  readonly #act: (x: Tensor) => Tensor
  constructor(readonly c: BertConfig, rng: Rng) {
    super()
    this.attention = new (class extends Module {
      self = new BertSelfAttention(c, rng)
      output = new BertResidualOutput(c, c.hidden_size, rng)
    })()
    this.intermediate = new (class extends Module {
      dense = new Linear(c.hidden_size, c.intermediate_size, rng)
    })()
    this.output = new BertResidualOutput(c, c.intermediate_size, rng)
    this.#act = nn.activation(c.hidden_act)
  }
  forward(h: Tensor, mask: Tensor): Tensor {
    const a = this.attention.output.forward(this.attention.self.forward(h, mask), h)
    return this.output.forward(this.#act(this.intermediate.dense.forward(a)), a)
  }
}

export class BertEncoder extends Module {
  layer: BertLayer[]
  constructor(c: BertConfig, rng: Rng) {
    super()
    this.layer = Array.from({ length: c.num_hidden_layers }, () => new BertLayer(c, rng))
  }
  forward(h: Tensor, mask: Tensor): Tensor {
    for (const l of this.layer) h = l.forward(h, mask)
    return h
  }
}

export class BertPooler extends Module {
  dense: Linear
  constructor(c: BertConfig, rng: Rng) {
    super()
    this.dense = new Linear(c.hidden_size, c.hidden_size, rng)
  }
  forward(h: Tensor): Tensor {
    return this.dense.forward(h.slice(1, 0, 1).squeeze(1)).tanh()                                   // (B, C)
  }
}

export class BertModel extends Module {
  embeddings: BertEmbeddings
  encoder: BertEncoder
  pooler: BertPooler | null
  constructor(readonly c: BertConfig, rng: Rng, opts: { pooler?: boolean } = {}) {
    super()
    this.embeddings = new BertEmbeddings(c, rng)
    this.encoder = new BertEncoder(c, rng)
    this.pooler = opts.pooler === false ? null : new BertPooler(c, rng)
  }
  forward(x: TextInputs): Tensor {
    const T = x.input_ids.shape[1]!
    const pos = x.input_ids.graph.constant(Array.from({ length: T }, (_, i) => i), [T], 'int64')
    return this.encoder.forward(this.embeddings.forward(x.input_ids, pos, x.token_type_ids), x.attention_mask)
  }
}

/**
 * BertForMaskedLM's head (BertOnlyMLMHead): transform = dense -> act -> LayerNorm, then the decoder,
 * whose weight is the word embeddings (tied, so the checkpoint stores it once) plus its own bias.
 */
export class BertPredictionHeadTransform extends Module {
  dense: Linear
  LayerNorm: LayerNorm
  readonly #act: (x: Tensor) => Tensor
  constructor(c: BertConfig, rng: Rng) {
    super()
    this.dense = new Linear(c.hidden_size, c.hidden_size, rng)
    this.LayerNorm = new LayerNorm(c.hidden_size, c.layer_norm_eps)
    this.#act = nn.activation(c.hidden_act)
  }
  forward(h: Tensor): Tensor {
    return this.LayerNorm.forward(this.#act(this.dense.forward(h)))
  }
}

export class BertLMPredictionHead extends Module {
  transform: BertPredictionHeadTransform
  bias: Parameter
  constructor(c: BertConfig, rng: Rng) {
    super()
    this.transform = new BertPredictionHeadTransform(c, rng)
    this.bias = new Parameter([c.vocab_size], { decay: false })
  }
  forward(h: Tensor, wordEmbeddings: Parameter): Tensor {
    return nn.linear(this.transform.forward(h), wordEmbeddings, this.bias)                       // (B, T, V)
  }
}

/** BertModel / BertForSequenceClassification / BertForTokenClassification / BertForMaskedLM. */
export class Bert extends Module implements TextModel {
  readonly family = 'bert'
  readonly basePrefix = 'bert'
  readonly usesTokenTypes = true
  get maxPositions(): number {
    return this.c.max_position_embeddings
  }
  bert: BertModel
  classifier: Linear | null
  /** BertForMaskedLM: cls.predictions (the decoder weight is bert.embeddings.word_embeddings). */
  cls: { predictions: BertLMPredictionHead } | null
  readonly headPrefixes: readonly string[]
  readonly architecture: string
  /** PEFT's default LoRA targets for BERT. */
  readonly loraTargets = ['query', 'value']
  constructor(readonly c: BertConfig, readonly config: HfConfig, readonly task: TextTask, seed = 0) {
    super()
    const rng = new Rng(seed)
    const labels = readLabels(config)
    // BertForTokenClassification and BertForMaskedLM are built with add_pooling_layer=False
    this.bert = new BertModel(c, rng, { pooler: task !== 'token-classification' && task !== 'masked-lm' })
    this.classifier = task === 'sequence-classification' || task === 'token-classification' ? new Linear(c.hidden_size, labels.numLabels, rng) : null
    this.cls = task === 'masked-lm' ? new (class extends Module {
      predictions = new BertLMPredictionHead(c, rng)
    })() : null
    this.headPrefixes = this.classifier ? ['classifier'] : this.cls ? ['cls'] : []
    this.architecture = { base: 'BertModel', 'sequence-classification': 'BertForSequenceClassification', 'token-classification': 'BertForTokenClassification', 'causal-lm': 'BertLMHeadModel', 'masked-lm': 'BertForMaskedLM' }[task]
    hfInit(this, rng, c.initializer_range)
  }
  features(x: TextInputs): Tensor {
    const h = this.bert.forward(x)                                                                  // (B, T, C)
    return this.task === 'sequence-classification' ? this.bert.pooler!.forward(h) : h               // (B, C) | (B, T, C)
  }
  head(f: Tensor): Tensor {
    if (this.cls) return this.cls.predictions.forward(f, this.bert.embeddings.word_embeddings.weight) // (B, T, V)
    if (!this.classifier) return f
    return this.classifier.forward(nn.dropout(f, this.c.classifier_dropout ?? this.c.hidden_dropout_prob))
  }
  logits(x: TextInputs): Tensor {
    return this.head(this.features(x))
  }
}
