/**
 * What the Hugging Face families share: config.json parsing with every problem collected, the
 * task heads a family offers, HF's weight initialisation, and the TextModel interface.
 */
import { ConfigError, IssueList } from '../errors.js'
import type { Parameter, Tensor } from '../graph/graph.js'
import { Module } from '../graph/module.js'
import type { Rng } from '../runtime/rng.js'

export type TextTask = 'base' | 'sequence-classification' | 'token-classification' | 'causal-lm' | 'masked-lm'
export const TEXT_TASKS: readonly TextTask[] = ['sequence-classification', 'token-classification', 'causal-lm', 'masked-lm']

export type ProblemType = 'single_label_classification' | 'multi_label_classification' | 'regression'

/** A config.json as a plain object; unknown fields are kept so they are written back unchanged. */
export type HfConfig = Record<string, unknown>

export interface TextInputs {
  input_ids: Tensor
  attention_mask: Tensor
  token_type_ids?: Tensor
}

/** A text model with a task head, named as its Hugging Face class names its weights. */
export interface TextModel extends Module {
  readonly family: string
  readonly task: TextTask
  /** The config written with the model (labels, architectures updated). */
  readonly config: HfConfig
  /** Logits: (B, labels) | (B, T, labels) | (B, T, vocab); hidden states (B, T, C) for 'base'. */
  logits(x: TextInputs): Tensor
  /** The backbone's output that the head reads: (B, F) for sequence, (B, T, F) for token heads. */
  features(x: TextInputs): Tensor
  /** The head alone, from `features` (so a frozen backbone's features can be cached). */
  head(features: Tensor): Tensor
  /** Dotted-name prefixes of the head, initialised fresh when a checkpoint lacks them. */
  readonly headPrefixes: readonly string[]
  /** The HF class name written to config.architectures. */
  readonly architecture: string
  /** Modules LoRA adapts by default (PEFT's target_modules for the family). */
  readonly loraTargets?: readonly string[]
  /** Whether the family takes token_type_ids. */
  readonly usesTokenTypes: boolean
  /** Checkpoint prefix of the backbone ("bert", "transformer", ...). */
  readonly basePrefix: string
  /** Longest sequence the position embeddings cover. */
  readonly maxPositions: number
}

/** Typed reads from a config object, recording problems instead of throwing at the first one. */
export class ConfigReader {
  readonly issues = new IssueList()
  constructor(readonly raw: HfConfig, readonly file = 'config.json') {}
  int(key: string, dflt?: number): number {
    const v = this.raw[key] ?? dflt
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
      this.issues.add(key, v === undefined ? 'is missing' : `must be a non-negative integer, got ${JSON.stringify(v)}`)
      return 0
    }
    return v
  }
  /** A size (a dimension or a count of layers, heads, positions): a positive integer. */
  size(key: string, dflt?: number): number {
    const v = this.raw[key] ?? dflt
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
      this.issues.add(key, v === undefined ? 'is missing' : `must be a positive integer (a size), got ${JSON.stringify(v)}`)
      return 0 // never used: check() throws; 0 keeps divisible() quiet about a field already reported
    }
    return v
  }
  optSize(key: string): number | null {
    const v = this.raw[key]
    if (v === undefined || v === null) return null
    return this.size(key)
  }
  num(key: string, dflt?: number): number {
    const v = this.raw[key] ?? dflt
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      this.issues.add(key, v === undefined ? 'is missing' : `must be a number, got ${JSON.stringify(v)}`)
      return 0
    }
    return v
  }
  optNum(key: string): number | null {
    const v = this.raw[key]
    if (v === undefined || v === null) return null
    return this.num(key)
  }
  str(key: string, dflt?: string): string {
    const v = this.raw[key] ?? dflt
    if (typeof v !== 'string') {
      this.issues.add(key, v === undefined ? 'is missing' : `must be a string, got ${JSON.stringify(v)}`)
      return ''
    }
    return v
  }
  optInt(key: string): number | null {
    const v = this.raw[key]
    if (v === undefined || v === null) return null
    return this.int(key)
  }
  check(): void {
    this.issues.throwIfAny('CONFIG_INVALID', this.file, 'fix these fields in config.json (or re-export the checkpoint)')
  }
  divisible(a: string, av: number, b: string, bv: number): void {
    if (bv > 0 && av % bv !== 0) this.issues.add(a, `${av} is not divisible by ${b}=${bv}`)
  }
}

/** Labels as config.json stores them. */
export interface LabelInfo {
  id2label: Record<string, string>
  label2id: Record<string, number>
  numLabels: number
  problemType: ProblemType | null
}

export function readLabels(raw: HfConfig): LabelInfo {
  const id2 = (raw['id2label'] ?? null) as Record<string, string> | null
  const n = typeof raw['num_labels'] === 'number' ? (raw['num_labels'] as number) : id2 ? Object.keys(id2).length : 2
  const id2label: Record<string, string> = {}
  const label2id: Record<string, number> = {}
  for (let i = 0; i < n; i++) {
    const name = id2?.[String(i)] ?? `LABEL_${i}`
    id2label[String(i)] = name
    label2id[name] = i
  }
  const pt = raw['problem_type']
  const problemType = pt === 'single_label_classification' || pt === 'multi_label_classification' || pt === 'regression' ? pt : null
  return { id2label, label2id, numLabels: n, problemType }
}

/** HF's _init_weights for BERT-like and GPT-2 models: N(0, range) weights, zero biases, unit norms. */
export function hfInit(m: Module, rng: Rng, range: number, only?: (name: string) => boolean): void {
  for (const [name, p] of m.namedParameters()) {
    if (only && !only(name)) continue
    initParam(name, p, rng, range)
  }
}

export function initParam(name: string, p: Parameter, rng: Rng, range: number): void {
  if (p.kind === 'buffer') return
  const leaf = name.split('.').pop()!
  const isNorm = /(LayerNorm|layer_norm|ln_\w+|_layer_norm)\./.test(name) || /\.(ln_f|ln_1|ln_2|LayerNorm)$/.test(name.replace(/\.(weight|bias)$/, ''))
  if (isNorm) p.data.fill(leaf === 'weight' ? 1 : 0)
  else if (leaf === 'bias') p.data.fill(0)
  else for (let i = 0; i < p.data.length; i++) p.data[i] = rng.normal() * range
}

/** The family a config.json names, with a helpful error for unknown ones. */
export function modelType(raw: HfConfig, file: string, known: readonly string[]): string {
  const t = raw['model_type']
  if (typeof t !== 'string') throw new ConfigError('CONFIG_MODEL_TYPE', `${file} has no "model_type"`, `pass --family with one of ${known.join(', ')}`)
  return t
}
