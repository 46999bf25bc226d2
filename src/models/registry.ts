/** The model families finetune knows, by Hugging Face `model_type`. Adding one is one line here. */
import { ConfigError } from '../errors.js'
import { Bert, bertSizes, parseBertConfig } from './bert.js'
import { guardAllocation, type ConfigSizes } from './config-sizes.js'
import { DistilBert, distilBertSizes, parseDistilBertConfig } from './distilbert.js'
import { Gpt2, gpt2Sizes, parseGpt2Config } from './gpt2.js'
import type { HfConfig, TextModel, TextTask } from './hf.js'
import { parseRobertaConfig, Roberta } from './roberta.js'

export interface TextFamily {
  /** Builds the model for a task from a config.json object (weights initialised as HF does). */
  build(raw: HfConfig, task: TextTask, file?: string, seed?: number): TextModel
  /** Tasks the family has heads for. */
  tasks: readonly TextTask[]
  /** Hidden size, for reporting. */
  hidden(raw: HfConfig): number
  /** Checkpoint keys that belong to heads or buffers this family's models may not read. */
  ignorable: RegExp
  /** What the config's sizes imply (checkpoint shapes, layer count, parameters); parses without allocating. */
  sizes(raw: HfConfig, file?: string): ConfigSizes
}

export const textFamilies: Readonly<Record<string, TextFamily>> = {
  bert: { build: (raw, task, file, seed) => new Bert(parseBertConfig(raw, file), raw, task, seed), sizes: (raw, file) => bertSizes(parseBertConfig(raw, file)), tasks: ['base', 'sequence-classification', 'token-classification', 'masked-lm'], hidden: (r) => Number(r['hidden_size']), ignorable: /^(cls\.|bert\.pooler\.|pooler\.|bert\.embeddings\.position_ids$|embeddings\.position_ids$|classifier\.)/ },
  roberta: { build: (raw, task, file, seed) => new Roberta(parseRobertaConfig(raw, file), raw, task, seed), sizes: (raw, file) => bertSizes(parseRobertaConfig(raw, file), 'roberta'), tasks: ['base', 'sequence-classification', 'token-classification'], hidden: (r) => Number(r['hidden_size']), ignorable: /^(lm_head\.|roberta\.pooler\.|pooler\.|(roberta\.)?embeddings\.position_ids$|classifier\.)/ },
  distilbert: { build: (raw, task, file, seed) => new DistilBert(parseDistilBertConfig(raw, file), raw, task, seed), sizes: (raw, file) => distilBertSizes(parseDistilBertConfig(raw, file)), tasks: ['base', 'sequence-classification', 'token-classification'], hidden: (r) => Number(r['dim']), ignorable: /^(vocab_transform\.|vocab_layer_norm\.|vocab_projector\.|pre_classifier\.|classifier\.|(distilbert\.)?embeddings\.position_ids$)/ },
  gpt2: { build: (raw, task, file, seed) => new Gpt2(parseGpt2Config(raw, file), raw, task, seed), sizes: (raw, file) => gpt2Sizes(parseGpt2Config(raw, file)), tasks: ['base', 'sequence-classification', 'token-classification', 'causal-lm'], hidden: (r) => Number(r['n_embd'] ?? 768), ignorable: /(^lm_head\.|^score\.|^classifier\.|\.attn\.(masked_)?bias$)/ },
}

export const TEXT_FAMILIES = Object.keys(textFamilies)

/** The family named `name`; its build turns an allocation failure into CONFIG_SIZE rather than a RangeError. */
export function textFamily(name: string, file = 'config.json'): TextFamily {
  const f = textFamilies[name]
  if (!f) throw new ConfigError('MODEL_UNKNOWN_FAMILY', `${file}: model_type "${name}" is not a text family finetune supports`, `supported: ${TEXT_FAMILIES.join(', ')}; pass --family to override`)
  return { ...f, build: (raw, task, cfgFile, seed) => guardAllocation(() => f.build(raw, task, cfgFile, seed), cfgFile ?? file, () => f.sizes(raw, cfgFile ?? file)) }
}
