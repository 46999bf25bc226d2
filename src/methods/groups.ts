/**
 * Layer groups, bottom (embeddings, stem) to top (the head), from the model's own structure: a
 * parameter belongs to the numbered block its name passes through (`bert.encoder.layer.3`,
 * `transformer.h.0`, `layer2.1`, `features.7`, `encoder.layers.encoder_layer_5`); parameters
 * before the first block form the bottom group, those after the last one join the head's group.
 * Used by gradual unfreezing (ULMFiT), discriminative learning rates (fastai) and layer-wise decay.
 */
import type { Parameter } from '../graph/graph.js'
import type { Module } from '../graph/module.js'
import type { ParamGroup } from '../optim/optimizers.js'

export interface LayerGroup {
  /** The group's name prefix (`bert.encoder.layer.3`), "embeddings" for the bottom, "head" for the top. */
  name: string
  params: string[]
}

/** The numbered block a parameter name passes through, or null. */
export function blockOf(name: string): string | null {
  const parts = name.split('.')
  for (let i = 0; i < parts.length - 1; i++) if (/^\d+$/.test(parts[i]!) || /_\d+$/.test(parts[i]!)) return parts.slice(0, i + 1).join('.')
  return null
}

const under = (n: string, prefixes: readonly string[]): boolean => prefixes.some((h) => n === h || n.startsWith(`${h}.`))

/**
 * Learnable parameters in groups, bottom to top; the head (and whatever follows the last block) is
 * last. A model whose names carry no block numbers (an imported graph's initializer names) may say
 * which block a parameter belongs to with a `blockOf(name)` method.
 */
export function layerGroups(model: Module, headPrefixes: readonly string[]): LayerGroup[] {
  const own = (model as { blockOf?: (name: string) => string | null }).blockOf?.bind(model)
  const bottom: string[] = []
  const top: string[] = []
  const blocks = new Map<string, string[]>()
  for (const [n, p] of model.namedParameters()) {
    if (p.kind !== 'param') continue
    if (under(n, headPrefixes)) {
      top.push(n)
      continue
    }
    const b = own?.(n) ?? blockOf(n)
    if (b) (blocks.get(b) ?? blocks.set(b, []).get(b)!).push(n)
    else if (blocks.size === 0) bottom.push(n)
    else top.push(n)
  }
  const groups: LayerGroup[] = []
  if (bottom.length) groups.push({ name: 'embeddings', params: bottom })
  for (const [name, params] of blocks) groups.push({ name, params })
  groups.push({ name: 'head', params: top })
  return groups
}

/**
 * Optimizer groups that scale the learning rate per layer group:
 * - `lrMult` X (fastai's discriminative rates): the head gets lr, each group below lr / X more;
 * - `layerDecay` X (layer-wise decay, as in ELECTRA/BEiT fine-tuning): of L blocks, block i (1..L)
 *   gets lr * X^(L + 1 - i), the bottom group X^(L + 1), the head 1.
 */
export function lrGroups(groups: readonly LayerGroup[], o: { lrMult?: number | undefined; layerDecay?: number | undefined }): ParamGroup[] {
  const G = groups.length
  return groups.map((g, i) => {
    let scale = 1
    if (o.lrMult !== undefined) scale *= Math.pow(o.lrMult, -(G - 1 - i))
    if (o.layerDecay !== undefined) {
      const hasBottom = groups[0]!.name === 'embeddings'
      const L = G - 1 - (hasBottom ? 1 : 0)
      const depth = g.name === 'head' ? L + 1 : g.name === 'embeddings' ? 0 : i + (hasBottom ? 0 : 1) // blocks: 1..L
      scale *= Math.pow(o.layerDecay, L + 1 - depth)
    }
    const names = new Set(g.params)
    return { name: g.name, match: (p: Parameter) => names.has(p.name), lrScale: scale }
  })
}
