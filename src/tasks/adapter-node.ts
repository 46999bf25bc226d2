/**
 * LoRA adapters around every task's model: a folder trained with --method lora holds its base
 * weights (model.safetensors) and a PEFT adapter beside them; `--adapter DIR` puts a PEFT adapter on
 * a base model. Saving writes the adapter (PEFT's layout) or, with merge, one plain checkpoint.
 */
import { existsSync, statSync } from 'node:fs'
import { ConfigError } from '../errors.js'
import type { Module } from '../graph/module.js'
import { hasLora, mergeLora, withoutLora, type LoraConfig } from '../methods/index.js'
import { isAdapterDir, loadAdapter, saveAdapter } from '../methods/lora/peft-node.js'

/** PEFT's task_type for each task (null where PEFT has none). */
export const PEFT_TASK_TYPE: Record<string, string | null> = { 'text-classification': 'SEQ_CLS', 'token-classification': 'TOKEN_CLS', 'causal-lm': 'CAUSAL_LM' }

/** Applies the adapter a model folder carries and the one `--adapter` names; returns its config. */
export async function attachAdapters(model: Module, path: string, adapter: unknown): Promise<LoraConfig | null> {
  let c: LoraConfig | null = null
  if (existsSync(path) && statSync(path).isDirectory() && isAdapterDir(path)) c = await loadAdapter(path, model)
  if (typeof adapter === 'string') {
    if (c) throw new ConfigError('ADAPTER_TWICE', `${path} already carries a LoRA adapter; --adapter ${adapter} would be a second one`, 'merge the first (finetune export --merge) and apply --adapter to the merged model')
    c = await loadAdapter(adapter, model)
  }
  return c
}

/**
 * Writes a model that may carry an adapter: plain (`save`), merged into plain weights (`merge`), or
 * base weights plus the PEFT adapter beside them. Returns what was written.
 */
export async function saveWithAdapter(dir: string, model: Module, lora: LoraConfig | null, save: (dir: string) => Promise<void>, o: { merge: boolean; baseModel: string; task: string }): Promise<'model' | 'merged' | 'adapter'> {
  if (!lora) {
    await save(dir)
    return 'model'
  }
  if (o.merge) {
    mergeLora(model)
    await save(dir)
    return 'merged'
  }
  await withoutLora(model, () => save(dir))
  await saveAdapter(dir, model, lora, { baseModel: o.baseModel, taskType: PEFT_TASK_TYPE[o.task] ?? null })
  return 'adapter'
}

/**
 * The adapter an export keeps separate: none for ONNX (folded in: the same function, one matmul
 * less per layer) or with --merge; otherwise the loaded one.
 */
export function unmergedAdapter(model: Module, lora: LoraConfig | null, o: { format: string; [k: string]: unknown }): LoraConfig | null {
  if (!lora) return null
  if (o.format === 'onnx' || o['merge'] === true) {
    if (hasLora(model)) mergeLora(model)
    return null
  }
  return lora
}
