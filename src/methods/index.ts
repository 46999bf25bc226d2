/**
 * Fine-tuning methods, applied by the shared training pipeline between "the task has a model with
 * its head" and "build the training graph": which parameters train, with which learning rate, and
 * when they start to. `full` and `frozen` (features cached by the task runners) need nothing here.
 */
import { ConfigError } from '../errors.js'
import type { Module } from '../graph/module.js'
import type { OptimizerConfig } from '../optim/optimizers.js'
import { Rng } from '../runtime/rng.js'
import { layerGroups, lrGroups, type LayerGroup } from './groups.js'
import { applyLora, loraDefaults, type LoraConfig, type LoraReport } from './lora/lora.js'

export const METHODS = ['full', 'frozen', 'lora'] as const
export type MethodName = (typeof METHODS)[number]

/** The method options of `finetune train` (flags of the same names). */
export interface MethodOptions {
  method: MethodName
  loraR: number
  loraAlpha: number
  loraDropout: number
  /** Module names (PEFT target_modules); empty: the family's defaults. */
  loraTargets: string[]
  loraBias: LoraConfig['bias']
  rslora: boolean
  /** `gradual`: the head first, then one more layer group from the top every `unfreezeEvery`. */
  unfreeze: 'none' | 'gradual'
  unfreezeEvery: 'epoch' | number
  /** Discriminative learning rates: each group below the head gets lr / lrMult more. */
  lrMult?: number | undefined
  /** Layer-wise learning-rate decay. */
  layerDecay?: number | undefined
}

export const methodDefaults = {
  method: 'full',
  loraR: loraDefaults.r,
  loraAlpha: loraDefaults.alpha,
  loraDropout: loraDefaults.dropout,
  loraTargets: [],
  loraBias: loraDefaults.bias,
  rslora: loraDefaults.rslora,
  unfreeze: 'none',
  unfreezeEvery: 'epoch',
} as const satisfies Partial<MethodOptions>

/** The LoRA configuration the options describe for this model. */
export function loraConfigOf(model: Module, headPrefixes: readonly string[], o: Pick<MethodOptions, 'loraR' | 'loraAlpha' | 'loraDropout' | 'loraTargets' | 'loraBias' | 'rslora'>): LoraConfig {
  const declared = (model as { loraTargets?: readonly string[] }).loraTargets
  const targets = o.loraTargets.length ? o.loraTargets : declared
  if (!targets?.length) throw new ConfigError('LORA_TARGETS_REQUIRED', 'this model family declares no default LoRA targets', 'name the layers to adapt with --lora-targets (module names such as query,value)')
  return { r: o.loraR, alpha: o.loraAlpha, dropout: o.loraDropout, targets: [...targets], bias: o.loraBias, rslora: o.rslora, modulesToSave: [...headPrefixes] }
}

/** Training hooks a method needs (a subset of the trainer's Callback, which it satisfies). */
export interface MethodHooks {
  onStart(e: { resumedFromStep: number | null }): void
  onStep(e: { step: number }): void
  /** Steps after which the method changes what trains (a run of several steps per call ends there). */
  runBoundary?(step: number): boolean
}

export interface AppliedMethod {
  lora: (LoraReport & { config: LoraConfig }) | null
  groups: LayerGroup[]
  /** The optimizer with per-group learning rates. */
  optimizer: OptimizerConfig
  /** Gradual unfreezing's callback (nothing for other methods). */
  callbacks: MethodHooks[]
}

/** Checks the combination, adapts the model (LoRA), and returns the optimizer and callbacks the method needs. */
export function applyMethod(model: Module, headPrefixes: readonly string[], o: MethodOptions & { seed: number }, base: OptimizerConfig, stepsPerEpoch: () => number, existing?: LoraConfig): AppliedMethod {
  if (o.unfreeze === 'gradual' && o.method !== 'full') throw new ConfigError('METHOD_COMBINATION', `--unfreeze gradual applies to --method full, not ${o.method}`, 'drop --unfreeze, or use --method full')
  if ((o.lrMult !== undefined || o.layerDecay !== undefined) && o.method !== 'full') throw new ConfigError('METHOD_COMBINATION', `--lr-mult and --layer-decay set learning rates per layer group of a full fine-tune, not of --method ${o.method}`, 'use --method full')
  let lora: AppliedMethod['lora'] = null
  if (existing) {
    // an adapter loaded from --adapter trains on; the rest stays frozen
    if (o.method !== 'lora') throw new ConfigError('METHOD_COMBINATION', `--adapter continues training a LoRA adapter; --method is ${o.method}`, 'pass --method lora with --adapter')
    lora = { adapted: [], trainable: model.countParameters(true), total: model.countParameters(), config: existing }
  } else if (o.method === 'lora') {
    const config = loraConfigOf(model, headPrefixes, o)
    lora = { ...applyLora(model, config, new Rng(o.seed + 7)), config }
  }
  const groups = layerGroups(model, headPrefixes)
  const optimizer: OptimizerConfig = o.lrMult !== undefined || o.layerDecay !== undefined ? { ...base, groups: lrGroups(groups, o) } : base
  const callbacks: MethodHooks[] = []
  if (o.unfreeze === 'gradual') {
    const every = (): number => (o.unfreezeEvery === 'epoch' ? stepsPerEpoch() : o.unfreezeEvery)
    const stageAt = (step: number): number => (step === 0 ? 0 : Math.min(Math.floor(step / Math.max(every(), 1)), groups.length - 1))
    // stage s trains the top s + 1 groups; the stage is a function of the step, so a resumed run
    // continues in the stage the uninterrupted run would be in
    // what the task or --freeze froze before (a feature encoder, matched names) stays frozen
    const trainable = new Set(model.namedParameters().filter(([, p]) => p.kind === 'param' && p.requiresGrad).map(([n]) => n))
    const setStage = (stage: number): void => {
      groups.forEach((g, i) => {
        const on = i >= groups.length - 1 - stage
        for (const [n, p] of model.namedParameters()) if (p.kind === 'param' && g.params.includes(n) && trainable.has(n)) p.requiresGrad = on
      })
    }
    let current = -1
    const apply = (step: number): void => {
      const s = stageAt(step)
      if (s !== current) setStage((current = s))
    }
    apply(0)
    callbacks.push({ onStart: (e) => apply(e.resumedFromStep ?? 0), onStep: (e) => apply(e.step), runBoundary: (step) => stageAt(step) !== stageAt(step - 1) })
  }
  return { lora, groups, optimizer, callbacks }
}

export { layerGroups, lrGroups, type LayerGroup } from './groups.js'
export { applyLora, mergeLora, hasLora, adapterParameters, loraTargets, matchesTarget, namedModules, withoutLora, type LoraConfig } from './lora/lora.js'
