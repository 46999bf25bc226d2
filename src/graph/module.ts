/**
 * Module: a tree of parameters and sub-modules whose property paths are the checkpoint keys
 * (`encoder.layer.0.attention.self.query.weight`), so loading a checkpoint is a lookup.
 */
import { Parameter } from './graph.js'
import { size } from './shape.js'

let structureVersion = 0

/**
 * Compiled graphs are cached by input shapes; a change that alters what a model traces to without
 * changing shapes (freezing BatchNorm statistics, swapping a layer) must call this so caches rebuild.
 */
export function markStructureChanged(): void {
  structureVersion++
}

export function currentStructureVersion(): number {
  return structureVersion
}

export abstract class Module {
  /** Every parameter and buffer under this module, keyed by its dotted path. */
  namedParameters(prefix = ''): [string, Parameter][] {
    const out: [string, Parameter][] = []
    const seen = new Set<unknown>()
    const walk = (value: unknown, path: string): void => {
      if (value === null || typeof value !== 'object' || seen.has(value)) return
      seen.add(value)
      if (value instanceof Parameter) {
        out.push([path, value])
        return
      }
      if (Array.isArray(value)) {
        value.forEach((v, i) => walk(v, path ? `${path}.${i}` : String(i)))
        return
      }
      if (!(value instanceof Module)) return
      if (value !== this && value.namedParameters !== Module.prototype.namedParameters) {
        // a sub-module that names its own parameters (an imported ONNX graph) is asked for them
        for (const [n, p] of value.namedParameters(path)) if (!seen.has(p)) {
          seen.add(p)
          out.push([n, p])
        }
        return
      }
      for (const [k, v] of Object.entries(value)) {
        if (k.startsWith('_')) continue
        walk(v, path ? `${path}.${k}` : k)
      }
    }
    walk(this, prefix)
    return out
  }

  /** Assigns each parameter its path as name; returns the parameters in a stable order. */
  nameParameters(prefix = ''): Parameter[] {
    const list = this.namedParameters(prefix)
    for (const [name, p] of list) p.name = name
    return list.map(([, p]) => p)
  }

  parameters(): Parameter[] {
    return this.namedParameters().map(([, p]) => p)
  }

  /** Sets `requiresGrad` on every learnable parameter under this module (buffers stay as they are). */
  requiresGrad(flag: boolean): this {
    for (const p of this.parameters()) if (p.kind === 'param') p.requiresGrad = flag
    markStructureChanged()
    return this
  }

  /** Number of values in learnable parameters (all, or only trainable ones). */
  countParameters(trainableOnly = false): number {
    let n = 0
    for (const p of this.parameters()) if (p.kind === 'param' && (!trainableOnly || p.requiresGrad)) n += size(p.shape)
    return n
  }
}

/**
 * LoRA parameters held by a module that adapts weights itself rather than through Linear layers
 * (an imported ONNX graph, whose weights are initializers read by MatMul/Gemm nodes).
 */
export interface HostedLora {
  /** (r, in) */
  A: Parameter
  /** (out, r) */
  B: Parameter
  scaling: number
  dropout: number
}

/** A module whose weights LoRA can adapt by name (see methods/lora/lora.ts). */
export interface LoraHost {
  /** The weights LoRA can adapt: PEFT-style module names (no `.weight`), in and out features. */
  loraSites(): { name: string; inF: number; outF: number }[]
  /** Puts LoRA on a site, or with null takes it off. */
  setLora(name: string, lora: HostedLora | null): void
  /** The sites that carry LoRA. */
  hostedLora(): [string, HostedLora][]
  /** Folds W += s * B A (in the weight's own layout) into a site's weight. */
  foldLora(name: string): void
  /** While hidden, the LoRA parameters are left out of namedParameters (to save the base alone). */
  hideLora(hidden: boolean): void
}

/** The LoRA host a module is or holds (`loraHost()`), if any. */
export function loraHostOf(m: Module): LoraHost | null {
  const f = (m as { loraHost?: () => LoraHost | null }).loraHost
  return typeof f === 'function' ? f.call(m) : null
}
