/**
 * Writes a trained text model folder as the float16 copy the repository keeps under pretrained/:
 * tokenizer files as they are, weights in F16 (half the size), config.json without the task it was
 * trained for (a starting point for any text task). Shared by scripts/pretrain-text-bert.ts and
 * scripts/adapt-text-bert.ts.
 */
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { writeSafetensorsFile } from '../src/checkpoint/io-node.js'
import { openSafetensorsFile } from '../src/checkpoint/safetensors-node.js'

/** Copies `run` to `out` in float16 and returns the config written (for the caller to extend). */
export async function saveFloat16TextModel(run: string, out: string): Promise<Record<string, unknown>> {
  rmSync(out, { recursive: true, force: true })
  mkdirSync(out, { recursive: true })
  for (const f of readdirSync(run)) if (/^(tokenizer|vocab|special_tokens)/.test(f)) copyFileSync(join(run, f), join(out, f))
  const st = await openSafetensorsFile(join(run, 'model.safetensors'))
  const tensors = []
  for (const k of st.keys()) tensors.push([k, { dtype: 'F16' as const, shape: st.info(k).shape, data: await st.readAsFloat32(k) }] as const)
  await st.close()
  await writeSafetensorsFile(join(out, 'model.safetensors'), tensors, { format: 'pt' })
  const cfg = JSON.parse(readFileSync(join(run, 'config.json'), 'utf8')) as Record<string, unknown>
  delete cfg['finetune_task']
  delete cfg['finetune_init']
  cfg['torch_dtype'] = 'float16'
  writeFileSync(join(out, 'config.json'), `${JSON.stringify(cfg, null, 2)}\n`)
  return cfg
}
