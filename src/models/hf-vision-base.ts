/** What the Hugging Face image families share: the label maps their config.json carries, and logits = head(backbone(x)). */
import { Module } from '../graph/module.js'
import { ConfigError } from '../errors.js'
import type { Parameter, Tensor } from '../graph/graph.js'
import * as nn from '../graph/nn.js'
import type { Rng } from '../runtime/rng.js'
import { readLabels, type ConfigReader, type HfConfig } from './hf.js'
import type { HfVisionModel } from './hf-vision.js'

export abstract class HfLabelledModel extends Module {
  numClasses = 0
  labels: string[] = []
  id2label: Record<string, string> = {}
  label2id: Record<string, number> = {}

  /** Names the classes of the current head (LABEL_i where none are given). */
  setLabels(labels: readonly string[]): void {
    this.assignLabels(makeLabels(this.numClasses, labels))
  }

  abstract backbone(x: Tensor): Tensor
  abstract head(f: Tensor): Tensor
  logits(x: Tensor): Tensor {
    return this.head(this.backbone(x))
  }
  forwardLoss(x: Tensor, loss: (logits: Tensor) => Tensor): { logits: Tensor; loss: Tensor } {
    const logits = this.logits(x)
    return { logits, loss: loss(logits) }
  }

  protected assignLabels(l: Labels): void {
    this.labels = l.labels
    this.id2label = l.id2label
    this.label2id = l.label2id
    this.numClasses = l.labels.length
  }
}

// ----------------------------------------------------------------------------- shared by the family files

/** A config boolean (HF writes true/false). */
export function readBool(r: ConfigReader, key: string, dflt: boolean): boolean {
  const v = r.raw[key] ?? dflt
  if (typeof v !== 'boolean') {
    r.issues.add(key, `must be true or false, got ${JSON.stringify(v)}`)
    return dflt
  }
  return v
}

/** A non-empty list of positive integers (ResNet's depths and hidden_sizes). */
export function readIntList(r: ConfigReader, key: string, dflt: readonly number[]): number[] {
  const v = r.raw[key] ?? dflt
  if (!Array.isArray(v) || v.length === 0 || !v.every((x) => typeof x === 'number' && Number.isInteger(x) && x > 0)) {
    r.issues.add(key, `must be a non-empty list of positive integers, got ${JSON.stringify(v)}`)
    return [...dflt]
  }
  return v as number[]
}

/** A positive integer field. */
export function readPositive(r: ConfigReader, key: string, dflt: number): number {
  const v = r.raw[key] ?? dflt
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
    r.issues.add(key, `must be a positive integer, got ${JSON.stringify(v)}`)
    return dflt
  }
  return v
}

/** A probability in [0, 1) (dropout). */
export function readProb(r: ConfigReader, key: string, dflt: number): number {
  const v = r.num(key, dflt)
  if (!(v >= 0 && v < 1)) r.issues.add(key, `must be at least 0 and below 1, got ${JSON.stringify(r.raw[key])}`)
  return Math.min(Math.max(v, 0), 0.99)
}

/** torch.nn.init.trunc_normal_(std) with its default cut at +-2 (absolute), as HF's ViT init. */
export function truncNormal(p: Parameter, rng: Rng, std: number): Parameter {
  for (let i = 0; i < p.data.length; i++) {
    let v = rng.normal() * std
    while (v < -2 || v > 2) v = rng.normal() * std
    p.data[i] = v
  }
  return p
}

/** The activations HF's ACT2FN names that finetune implements. */
export function hfActivation(name: string): ((x: Tensor) => Tensor) | null {
  if (name === 'relu6') return nn.relu6
  try {
    return nn.activation(name)
  } catch {
    return null
  }
}

/** An activation field, checked against hfActivation. */
export function readActivation(r: ConfigReader, key: string, dflt: string): string {
  const v = r.str(key, dflt)
  if (v && !hfActivation(v)) r.issues.add(key, `activation ${JSON.stringify(v)} is not supported; use one of relu, relu6, gelu, gelu_new, gelu_pytorch_tanh, silu, swish, tanh, sigmoid`)
  return v
}

/** A square image size: HF allows [height, width]; finetune's models are square. */
export function readImageSize(r: ConfigReader, dflt: number): number {
  const v = r.raw['image_size'] ?? dflt
  const side = Array.isArray(v) && v.length === 2 && v[0] === v[1] ? v[0] : v
  if (typeof side !== 'number' || !Number.isInteger(side) || side < 1) {
    r.issues.add('image_size', `must be a positive integer (square images), got ${JSON.stringify(v)}`)
    return dflt
  }
  return side
}

export interface Labels {
  labels: string[]
  id2label: Record<string, string>
  label2id: Record<string, number>
}

/** Labels from names (LABEL_i when none). */
export function makeLabels(n: number, names?: readonly string[]): Labels {
  if (names && names.length !== n) throw new ConfigError('MODEL_LABELS', `${names.length} label names for a head of ${n} classes`, 'give one name per class')
  const labels = Array.from({ length: n }, (_, i) => names?.[i] ?? `LABEL_${i}`)
  if (new Set(labels).size !== n) throw new ConfigError('MODEL_LABELS', `label names must be distinct, got [${labels.join(', ')}]`, 'rename the duplicate labels')
  return { labels, id2label: Object.fromEntries(labels.map((l, i) => [String(i), l])), label2id: Object.fromEntries(labels.map((l, i) => [l, i])) }
}

/** The labels of a config.json (id2label / num_labels), or LABEL_i for `numClasses` when it differs. */
export function configLabels(raw: HfConfig, numClasses: number | undefined, file: string): Labels {
  const l = readLabels(raw)
  const names = Object.values(l.id2label)
  if (numClasses !== undefined && (!Number.isInteger(numClasses) || numClasses < 1))
    throw new ConfigError('MODEL_NUM_CLASSES', `a classifier needs at least one class, got ${numClasses}`, 'pass the number of labels of the training data')
  if (numClasses === undefined && names.length < 1) throw new ConfigError('CONFIG_INVALID', `${file}: num_labels is ${l.numLabels}; an image classifier needs at least one class`, 'set id2label in config.json')
  return numClasses === undefined || numClasses === names.length ? makeLabels(names.length, names) : makeLabels(numClasses)
}

/** The fields every family writes back: the source config, resolved fields, class name and labels. */
export function hfConfigOut(raw: HfConfig, resolved: object, m: HfVisionModel): HfConfig {
  const out: HfConfig = { ...raw, ...resolved, architectures: [m.architecture], model_type: m.modelType, id2label: { ...m.id2label }, label2id: { ...m.label2id } }
  delete out['num_labels']
  out['torch_dtype'] = 'float32'
  return out
}
