/**
 * RoBERTa (Liu et al. 2019): BERT's encoder with positions counted from padding_idx + 1 over
 * non-padding tokens, a single token type, and a dense-tanh-dense classification head on <s>.
 * https://arxiv.org/abs/1907.11692 · transformers/models/roberta/modeling_roberta.py
 */
import type { Tensor } from '../graph/graph.js'
import { Module } from '../graph/module.js'
import * as nn from '../graph/nn.js'
import { Rng } from '../runtime/rng.js'
import { BertEmbeddings, BertEncoder, BertPooler, parseBertConfig, type BertConfig } from './bert.js'
import { hfInit, readLabels, type HfConfig, type TextInputs, type TextModel, type TextTask } from './hf.js'
import { Linear } from './layers.js'

export function parseRobertaConfig(raw: HfConfig, file = 'config.json'): BertConfig {
  return parseBertConfig({ pad_token_id: 1, type_vocab_size: 1, layer_norm_eps: 1e-5, ...raw }, file)
}

export class RobertaModel extends Module {
  embeddings: BertEmbeddings
  encoder: BertEncoder
  pooler: BertPooler | null
  constructor(readonly c: BertConfig, rng: Rng, opts: { pooler?: boolean } = {}) {
    super()
    this.embeddings = new BertEmbeddings(c, rng)
    this.encoder = new BertEncoder(c, rng)
    this.pooler = opts.pooler ? new BertPooler(c, rng) : null
  }
  forward(x: TextInputs): Tensor {
    // create_position_ids_from_input_ids: padding_idx + running count of non-padding tokens
    const nonPad = x.input_ids.ne(this.c.pad_token_id).cast('int64')                                // (B, T)
    const pos = nonPad.cumsum(1).mul(nonPad).add(this.c.pad_token_id)
    return this.encoder.forward(this.embeddings.forward(x.input_ids, pos, x.token_type_ids), x.attention_mask)
  }
}

class RobertaClassificationHead extends Module {
  dense: Linear
  out_proj: Linear
  constructor(readonly c: BertConfig, labels: number, rng: Rng) {
    super()
    this.dense = new Linear(c.hidden_size, c.hidden_size, rng)
    this.out_proj = new Linear(c.hidden_size, labels, rng)
  }
  /** From the <s> hidden state (B, C). */
  forward(s: Tensor): Tensor {
    const p = this.c.classifier_dropout ?? this.c.hidden_dropout_prob
    const x = nn.dropout(s, p)
    return this.out_proj.forward(nn.dropout(this.dense.forward(x).tanh(), p))
  }
}

export class Roberta extends Module implements TextModel {
  readonly family = 'roberta'
  readonly basePrefix = 'roberta'
  readonly usesTokenTypes = false
  get maxPositions(): number {
    return this.c.max_position_embeddings - this.c.pad_token_id - 1
  }
  roberta: RobertaModel
  classifier: RobertaClassificationHead | Linear | null
  readonly headPrefixes: readonly string[]
  readonly architecture: string
  /** PEFT's default LoRA targets for RoBERTa. */
  readonly loraTargets = ['query', 'value']
  constructor(readonly c: BertConfig, readonly config: HfConfig, readonly task: TextTask, seed = 0) {
    super()
    const rng = new Rng(seed)
    const n = readLabels(config).numLabels
    this.roberta = new RobertaModel(c, rng, { pooler: task === 'base' })
    this.classifier = task === 'sequence-classification' ? new RobertaClassificationHead(c, n, rng) : task === 'token-classification' ? new Linear(c.hidden_size, n, rng) : null
    this.headPrefixes = this.classifier ? ['classifier'] : []
    this.architecture = { base: 'RobertaModel', 'sequence-classification': 'RobertaForSequenceClassification', 'token-classification': 'RobertaForTokenClassification', 'causal-lm': 'RobertaForCausalLM', 'masked-lm': 'RobertaForMaskedLM' }[task]
    hfInit(this, rng, c.initializer_range)
  }
  features(x: TextInputs): Tensor {
    const h = this.roberta.forward(x)                                                               // (B, T, C)
    return this.task === 'sequence-classification' ? h.slice(1, 0, 1).squeeze(1) : h               // <s>: (B, C)
  }
  head(f: Tensor): Tensor {
    if (this.classifier instanceof RobertaClassificationHead) return this.classifier.forward(f)
    if (this.classifier) return this.classifier.forward(nn.dropout(f, this.c.classifier_dropout ?? this.c.hidden_dropout_prob))
    return f
  }
  logits(x: TextInputs): Tensor {
    return this.head(this.features(x))
  }
}
