/**
 * PEFT adapter folders in and out: `adapter_config.json` with PEFT's LoraConfig field names and
 * `adapter_model.safetensors` whose keys are the model's parameter names prefixed with
 * `base_model.model.` (PeftModel wraps the transformers model twice), adapter name stripped, as
 * `PeftModel.save_pretrained` writes them (PEFT's docs: developer_guides/checkpoint.md).
 */
import { existsSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { CheckpointError, ConfigError } from '../../errors.js'
import { readJsonFile, writeFileAtomic, writeSafetensorsFile } from '../../checkpoint/io-node.js'
import { openSafetensorsFile } from '../../checkpoint/safetensors-node.js'
import type { Module } from '../../graph/module.js'
import { Rng } from '../../runtime/rng.js'
import { adapterParameters, applyLora, namedModules, type LoraConfig } from './lora.js'

export const ADAPTER_CONFIG = 'adapter_config.json'
export const ADAPTER_WEIGHTS = 'adapter_model.safetensors'
const PREFIX = 'base_model.model.'

/** Writes a PEFT LoRA adapter for `model` (which carries the adapter) into `dir`. */
export async function saveAdapter(dir: string, model: Module, c: LoraConfig, meta: { baseModel: string; taskType: string | null }): Promise<void> {
  const config = {
    peft_type: 'LORA',
    task_type: meta.taskType,
    base_model_name_or_path: meta.baseModel,
    r: c.r,
    lora_alpha: c.alpha,
    lora_dropout: c.dropout,
    target_modules: typeof c.targets === 'string' ? c.targets : [...c.targets],
    bias: c.bias,
    use_rslora: c.rslora,
    modules_to_save: c.modulesToSave.length ? [...c.modulesToSave] : null,
    fan_in_fan_out: false,
    init_lora_weights: true,
    inference_mode: true,
    use_dora: false,
    rank_pattern: {},
    alpha_pattern: {},
    layers_to_transform: null,
    layers_pattern: null,
    revision: null,
  }
  await mkdir(dir, { recursive: true })
  const tensors = adapterParameters(model, c).map(([n, p]) => [`${PREFIX}${n}`, { dtype: 'F32' as const, shape: p.shape, data: p.data }] as const)
  await writeSafetensorsFile(join(dir, ADAPTER_WEIGHTS), tensors, { format: 'pt' })
  await writeFileAtomic(join(dir, ADAPTER_CONFIG), `${JSON.stringify(config, null, 2)}\n`)
}

/** Whether `dir` holds a PEFT adapter. */
export const isAdapterDir = (dir: string): boolean => existsSync(join(dir, ADAPTER_CONFIG))

// adapter_config.json fields and the values finetune can honour (others must be at PEFT's default)
const NEUTRAL: Record<string, (v: unknown) => boolean> = {
  use_dora: (v) => v === false || v == null,
  rank_pattern: (v) => v == null || (typeof v === 'object' && Object.keys(v as object).length === 0),
  alpha_pattern: (v) => v == null || (typeof v === 'object' && Object.keys(v as object).length === 0),
  layers_to_transform: (v) => v == null,
  layer_replication: (v) => v == null,
  fan_in_fan_out: () => true, // a layout flag: GPT-2's Conv1D is handled by the layer type
  loftq_config: (v) => v == null || (typeof v === 'object' && Object.keys(v as object).length === 0),
  megatron_config: (v) => v == null,
  use_qalora: (v) => v === false || v == null,
  trainable_token_indices: (v) => v == null,
  exclude_modules: (v) => v == null || (Array.isArray(v) && v.length === 0),
}
const KNOWN = new Set(['peft_type', 'task_type', 'base_model_name_or_path', 'r', 'lora_alpha', 'lora_dropout', 'target_modules', 'bias', 'use_rslora', 'modules_to_save', 'init_lora_weights', 'inference_mode', 'revision', 'auto_mapping', 'layers_pattern', 'megatron_core', 'lora_bias', 'corda_config', 'eva_config', 'runtime_config', 'peft_version', ...Object.keys(NEUTRAL)])

/** Reads and checks adapter_config.json; every unsupported choice is reported at once. */
export async function readAdapterConfig(dir: string): Promise<{ config: LoraConfig; baseModel: string | null; raw: Record<string, unknown> }> {
  const file = join(dir, ADAPTER_CONFIG)
  if (!existsSync(file)) throw new CheckpointError('ADAPTER_NOT_FOUND', `${dir} has no ${ADAPTER_CONFIG}`, 'pass --adapter with a folder PEFT wrote (save_pretrained) or finetune wrote with --method lora')
  const raw = (await readJsonFile(file, 'adapter config')) as Record<string, unknown>
  const problems: string[] = []
  if (raw['peft_type'] !== 'LORA') problems.push(`peft_type is ${JSON.stringify(raw['peft_type'])}; finetune reads LORA adapters`)
  for (const [k, ok] of Object.entries(NEUTRAL)) if (k in raw && !ok(raw[k])) problems.push(`${k} = ${JSON.stringify(raw[k])} is not supported`)
  for (const k of Object.keys(raw)) if (!KNOWN.has(k)) problems.push(`unknown field ${k}`)
  const r = raw['r']
  if (!(typeof r === 'number' && Number.isInteger(r) && r > 0)) problems.push(`r must be a positive integer, got ${JSON.stringify(r)}`)
  const targets = raw['target_modules']
  if (!(typeof targets === 'string' || (Array.isArray(targets) && targets.every((t) => typeof t === 'string')))) problems.push(`target_modules must be a list of module names or a regular expression, got ${JSON.stringify(targets)}`)
  const bias = raw['bias'] ?? 'none'
  if (!['none', 'all', 'lora_only'].includes(bias as string)) problems.push(`bias must be none, all or lora_only, got ${JSON.stringify(bias)}`)
  if (problems.length) throw new ConfigError('ADAPTER_UNSUPPORTED', `${file}:\n  - ${problems.join('\n  - ')}`, 'finetune applies plain LoRA adapters (PEFT LoraConfig without DoRA, rank/alpha patterns or layer selection)')
  const mts = raw['modules_to_save']
  return {
    raw,
    baseModel: typeof raw['base_model_name_or_path'] === 'string' ? raw['base_model_name_or_path'] : null,
    config: {
      r: r as number,
      alpha: typeof raw['lora_alpha'] === 'number' ? raw['lora_alpha'] : 8,
      dropout: typeof raw['lora_dropout'] === 'number' ? raw['lora_dropout'] : 0,
      targets: targets as string | string[],
      bias: bias as LoraConfig['bias'],
      rslora: raw['use_rslora'] === true,
      modulesToSave: Array.isArray(mts) ? (mts as string[]) : [],
    },
  }
}

/**
 * Puts the adapter in `dir` onto `model`: LoRA on the modules its config targets, then its weights
 * (LoRA matrices, modules_to_save, biases) by name. Missing, unexpected or wrongly shaped tensors
 * are listed.
 */
export async function loadAdapter(dir: string, model: Module): Promise<LoraConfig> {
  const { config } = await readAdapterConfig(dir)
  // modules_to_save in PEFT names the module by its last name(s) ("classifier"): resolve to full names
  const mods = namedModules(model).map(([n]) => n)
  const save = config.modulesToSave.flatMap((s) => mods.filter((n) => n === s || n.endsWith(`.${s}`)))
  const c: LoraConfig = { ...config, modulesToSave: [...new Set(save)] }
  applyLora(model, c, new Rng(0))
  const file = join(dir, ADAPTER_WEIGHTS)
  if (!existsSync(file)) throw new CheckpointError('ADAPTER_NOT_FOUND', `${dir} has ${ADAPTER_CONFIG} but no ${ADAPTER_WEIGHTS}`, 'copy the adapter weights next to its config (adapter_model.bin is not read: convert it to safetensors)')
  const f = await openSafetensorsFile(file)
  try {
    const params = new Map(model.namedParameters())
    const wanted = new Map(adapterParameters(model, c))
    const unexpected: string[] = []
    const wrong: string[] = []
    const seen = new Set<string>()
    for (const key of f.keys()) {
      const name = key.startsWith(PREFIX) ? key.slice(PREFIX.length).replace(/\.modules_to_save(\.default)?\./, '.') : key
      const p = params.get(name)
      if (!p) {
        unexpected.push(key)
        continue
      }
      const shape = f.info(key).shape
      if (shape.join(',') !== p.shape.join(',')) {
        wrong.push(`${key} [${shape}] (the model's is [${p.shape}])`)
        continue
      }
      p.data = await f.readAsFloat32(key)
      seen.add(name)
    }
    const missing = [...wanted.keys()].filter((n) => /\.lora_[AB]\.weight$/.test(n) && !seen.has(n))
    const issues = [
      ...(missing.length ? [`lacks ${missing.length} LoRA weight(s): ${missing.slice(0, 6).join(', ')}${missing.length > 6 ? ', ...' : ''}`] : []),
      ...(unexpected.length ? [`has ${unexpected.length} tensor(s) the model does not have: ${unexpected.slice(0, 6).join(', ')}${unexpected.length > 6 ? ', ...' : ''}`] : []),
      ...(wrong.length ? [`has wrongly shaped tensors: ${wrong.slice(0, 4).join(', ')}`] : []),
    ]
    if (issues.length) throw new CheckpointError('ADAPTER_MISMATCH', `${file} ${issues.join('; ')}`, 'apply the adapter to the base model it was trained on (adapter_config.json: base_model_name_or_path)')
  } finally {
    await f.close()
  }
  return c
}
