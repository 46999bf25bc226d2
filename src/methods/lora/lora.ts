/**
 * LoRA (Hu et al. 2021, https://arxiv.org/abs/2106.09685) with PEFT's names and semantics
 * (https://github.com/huggingface/peft, src/peft/tuners/lora): a frozen weight W gets a trainable
 * low-rank update, y = x W^T + b + s * B(A(dropout(x))), s = alpha / r (alpha / sqrt(r) with rsLoRA).
 * The adapter lives on the target module itself (`query.lora_A.weight`), so the base weights keep
 * their checkpoint names and the adapter's names are PEFT's once prefixed with `base_model.model.`.
 */
import { ConfigError } from '../../errors.js'
import { Parameter, type Tensor } from '../../graph/graph.js'
import { loraHostOf, markStructureChanged, Module, type LoraHost } from '../../graph/module.js'
import * as nn from '../../graph/nn.js'
import { Linear } from '../../models/layers.js'
import { Conv1D } from '../../models/gpt2.js'
import type { Rng } from '../../runtime/rng.js'

export interface LoraConfig {
  r: number
  alpha: number
  dropout: number
  /**
   * PEFT's target_modules: a list matches a module whose dotted name equals an entry or ends with
   * `.entry`; a single string is a regular expression the whole name must match.
   */
  targets: readonly string[] | string
  /** Which biases train (and are saved with the adapter): none, all, or those of adapted modules. */
  bias: 'none' | 'all' | 'lora_only'
  /** rsLoRA scaling alpha / sqrt(r) (Kalajdzievski 2023) instead of alpha / r. */
  rslora: boolean
  /** Module-name prefixes trained in full and saved with the adapter (the new head). */
  modulesToSave: readonly string[]
}

export const loraDefaults = { r: 8, alpha: 8, dropout: 0, bias: 'none', rslora: false } as const satisfies Partial<LoraConfig>

/** A module LoRA can adapt: a Linear (weight (out, in)) or GPT-2's Conv1D (weight (in, out)). */
type Adaptable = Linear | Conv1D

/** The LoRA pieces added to an adapted module. */
export interface LoraParts {
  lora_A: Linear
  lora_B: Linear
  scaling: number
  dropout: number
  /** Conv1D stores its weight transposed (PEFT's fan_in_fan_out). */
  fanInFanOut: boolean
  base: (x: Tensor) => Tensor
}

const LORA = Symbol('lora')
type Adapted = Adaptable & { lora_A: Linear; lora_B: Linear; [LORA]: LoraParts }

/** Every submodule under `root` with its dotted name (the prefix of its parameters' names). */
export function namedModules(root: Module): [string, Module][] {
  const out: [string, Module][] = []
  const seen = new Set<unknown>()
  const walk = (v: unknown, path: string): void => {
    if (v === null || typeof v !== 'object' || seen.has(v)) return
    seen.add(v)
    if (Array.isArray(v)) return v.forEach((x, i) => walk(x, path ? `${path}.${i}` : String(i)))
    if (!(v instanceof Module)) return
    out.push([path, v])
    for (const [k, x] of Object.entries(v)) if (!k.startsWith('_')) walk(x, path ? `${path}.${k}` : k)
  }
  walk(root, '')
  return out
}

/** PEFT's target_modules matching (check_target_module_exists). */
export function matchesTarget(name: string, targets: readonly string[] | string): boolean {
  if (typeof targets === 'string') return new RegExp(`^(?:${targets})$`).test(name)
  return targets.some((t) => name === t || name.endsWith(`.${t}`))
}

const dims = (m: Adaptable): { inF: number; outF: number } =>
  m instanceof Conv1D ? { inF: m.weight.shape[0]!, outF: m.weight.shape[1]! } : { inF: m.inFeatures, outF: m.outFeatures }

/** Every LoRA host (an imported graph) under `root` with the prefix of its parameter names. */
function hostsOf(root: Module): [string, LoraHost][] {
  return namedModules(root).flatMap(([n, m]): [string, LoraHost][] => {
    const h = loraHostOf(m)
    return h ? [[n, h]] : []
  })
}

const join = (prefix: string, name: string): string => (prefix ? `${prefix}.${name}` : name)

/** What LoRA can adapt: Linear and Conv1D modules, and the weights hosts declare, by module name. */
function candidates(model: Module): { name: string; inF: number; outF: number; module?: Adaptable; host?: [string, LoraHost] }[] {
  const mods = namedModules(model).flatMap(([name, m]) => (m instanceof Linear || m instanceof Conv1D ? [{ name, ...dims(m), module: m }] : []))
  const hosted = hostsOf(model).flatMap(([prefix, h]) => h.loraSites().map((s) => ({ ...s, name: join(prefix, s.name), host: [prefix, h] as [string, LoraHost] })))
  return [...mods, ...hosted]
}

/** Names of the modules `targets` selects that LoRA can adapt; the error lists the candidates when none match. */
export function loraTargets(model: Module, targets: readonly string[] | string): string[] {
  const all = candidates(model)
  const hit = all.filter(({ name }) => matchesTarget(name, targets)).map(({ name }) => name)
  if (hit.length === 0) {
    const leaves = [...new Set(all.map(({ name }) => name.split('.').pop()!))]
    throw new ConfigError('LORA_NO_TARGETS', `no linear layer of the model matches --lora-targets ${Array.isArray(targets) ? targets.join(',') : targets}`, `layers LoRA can adapt here end in: ${leaves.slice(0, 24).join(', ')}${leaves.length > 24 ? ', ...' : ''}`)
  }
  return hit
}

export interface LoraReport {
  adapted: string[]
  trainable: number
  total: number
}

/**
 * Adds LoRA to every target module, freezes every other parameter except `modulesToSave` and the
 * biases `bias` names. B starts at zero, so before training the model computes exactly what the
 * base model computes; A starts as torch.nn.Linear does (kaiming_uniform, a = sqrt(5)), as in PEFT.
 */
export function applyLora(model: Module, c: LoraConfig, rng: Rng): LoraReport {
  if (!(Number.isInteger(c.r) && c.r > 0)) throw new ConfigError('LORA_RANK', `LoRA rank must be a positive integer, got ${c.r}`, 'pass --lora-r 8 (or 4, 16...)')
  const byName = new Map(candidates(model).map((c) => [c.name, c]))
  const names = loraTargets(model, c.targets)
  const scaling = c.rslora ? c.alpha / Math.sqrt(c.r) : c.alpha / c.r
  for (const [, p] of model.namedParameters()) if (p.kind === 'param') p.requiresGrad = false
  for (const name of names) {
    const site = byName.get(name)!
    const a = new Linear(site.inF, c.r, rng, { bias: false }) // torch.nn.Linear's init is PEFT's kaiming_uniform(a=sqrt(5))
    const b = new Linear(c.r, site.outF, rng, { bias: false })
    b.weight.data.fill(0)
    if (site.host) {
      const [prefix, h] = site.host
      const local = prefix ? name.slice(prefix.length + 1) : name
      if (h.hostedLora().some(([n]) => n === local)) throw new ConfigError('LORA_TWICE', `${name} already has a LoRA adapter`, 'merge it first (finetune export --merge) or train on top of it')
      h.setLora(local, { A: a.weight, B: b.weight, scaling, dropout: c.dropout })
      continue
    }
    const m = site.module!
    if ((m as Partial<Adapted>)[LORA]) throw new ConfigError('LORA_TWICE', `${name} already has a LoRA adapter`, 'merge it first (finetune export --merge) or train on top of it')
    const base = m.forward.bind(m)
    const parts: LoraParts = { lora_A: a, lora_B: b, scaling, dropout: c.dropout, fanInFanOut: m instanceof Conv1D, base }
    Object.assign(m, { lora_A: a, lora_B: b, [LORA]: parts })
    m.forward = (x: Tensor): Tensor => base(x).add(b.forward(a.forward(nn.dropout(x, parts.dropout))).mul(parts.scaling))
    if (c.bias === 'lora_only' && m.bias) m.bias.requiresGrad = true
  }
  const hostedNames = new Set(names.filter((n) => byName.get(n)!.host))
  for (const [n, p] of model.namedParameters()) {
    if (p.kind !== 'param') continue
    if (c.bias === 'lora_only' && n.endsWith('.bias') && hostedNames.has(n.slice(0, -5))) p.requiresGrad = true
    if (c.bias === 'all' && n.endsWith('.bias')) p.requiresGrad = true
    if (c.modulesToSave.some((s) => n === s || n.startsWith(`${s}.`))) p.requiresGrad = true
  }
  model.nameParameters()
  markStructureChanged()
  return { adapted: names, trainable: model.countParameters(true), total: model.countParameters() }
}

/** Whether the model carries LoRA adapters. */
export function hasLora(model: Module): boolean {
  return namedModules(model).some(([, m]) => LORA in m) || hostsOf(model).some(([, h]) => h.hostedLora().length > 0)
}

/**
 * Folds every adapter into its base weight (W += s * B A; transposed for Conv1D) and removes it:
 * the model is then an ordinary one whose checkpoint every tool loads.
 */
export function mergeLora(model: Module): string[] {
  const merged: string[] = []
  for (const [prefix, h] of hostsOf(model)) {
    for (const [name] of h.hostedLora()) {
      h.foldLora(name)
      h.setLora(name, null)
      merged.push(join(prefix, name))
    }
  }
  for (const [name, m] of namedModules(model)) {
    const parts = (m as Partial<Adapted>)[LORA]
    if (!parts) continue
    const a = parts.lora_A.weight // (r, in)
    const b = parts.lora_B.weight // (out, r)
    const [r, inF] = a.shape as [number, number]
    const outF = b.shape[0]!
    const w = (m as Adaptable).weight
    for (let o = 0; o < outF; o++)
      for (let i = 0; i < inF; i++) {
        let s = 0
        for (let k = 0; k < r; k++) s += b.data[o * r + k]! * a.data[k * inF + i]!
        // Linear: W[o, i]; Conv1D: W[i, o]
        const at = parts.fanInFanOut ? i * outF + o : o * inF + i
        w.data[at] = w.data[at]! + parts.scaling * s
      }
    const mm = m as Partial<Adapted>
    delete mm.lora_A
    delete mm.lora_B
    delete mm[LORA]
    ;(m as Adaptable).forward = parts.base
    merged.push(name)
  }
  model.nameParameters()
  markStructureChanged()
  return merged
}

/** The parameters an adapter file holds: LoRA weights, modules_to_save, and the biases `bias` trains. */
export function adapterParameters(model: Module, c: Pick<LoraConfig, 'bias' | 'modulesToSave'>): [string, Parameter][] {
  const adaptedPrefixes = [...namedModules(model).filter(([, m]) => LORA in m).map(([n]) => n), ...hostsOf(model).flatMap(([prefix, h]) => h.hostedLora().map(([n]) => join(prefix, n)))]
  return model.namedParameters().filter(([n, p]) => {
    if (/\.lora_[AB]\.weight$/.test(n)) return true
    if (c.modulesToSave.some((s) => n === s || n.startsWith(`${s}.`))) return true
    if (n.endsWith('.bias') && c.bias === 'all') return true
    if (n.endsWith('.bias') && c.bias === 'lora_only') return adaptedPrefixes.some((a) => n === `${a}.bias`)
    return false
  })
}

/** Runs `f` with the adapters detached from their modules (to save the base weights alone). */
export async function withoutLora<T>(model: Module, f: () => Promise<T>): Promise<T> {
  const held: [Partial<Adapted>, Linear, Linear][] = []
  const hosts = hostsOf(model).map(([, h]) => h)
  for (const h of hosts) h.hideLora(true)
  for (const [, m] of namedModules(model)) {
    const a = m as Partial<Adapted>
    if (!a[LORA]) continue
    held.push([a, a.lora_A!, a.lora_B!])
    delete a.lora_A
    delete a.lora_B
  }
  try {
    return await f()
  } finally {
    for (const [a, la, lb] of held) Object.assign(a, { lora_A: la, lora_B: lb })
    for (const h of hosts) h.hideLora(false)
    model.nameParameters()
  }
}
