/**
 * What scripts/pretrain-text-bert.ts and scripts/adapt-text-bert.ts share: a masked-lm run with
 * progress lines and a time limit, and the float16 copy of its result kept under pretrained/.
 */
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { writeSafetensorsFile } from '../src/checkpoint/io-node.js'
import { openSafetensorsFile } from '../src/checkpoint/safetensors-node.js'
import { taskDefaults, train } from '../src/tasks/run-node.js'
import type { TrainOutcome } from '../src/tasks/run-node.js'

export interface MaskedLmRecipe {
  batch_size: number
  max_length: number
  lr: number
  warmup_ratio: number
  weight_decay: number
  clip_norm: number
  seed: number
}

export type MaskedLmCurve = { step: number; eval_loss: number; accuracy: number }[]

/**
 * Masked-lm training of `model` on the lines of `data` (held-out loss on `validation` at `evals`
 * points), a linear schedule planned for `steps`, stopped after `maxMinutes`; writes `out`.
 */
export async function trainMaskedLm(o: { model: string; data: string; validation: string; out: string; steps: number; maxMinutes: number; evals: number; recipe: MaskedLmRecipe; threads: number; log: (line: string) => void }): Promise<{ result: TrainOutcome; curve: MaskedLmCurve }> {
  const { recipe, log } = o
  const curve: MaskedLmCurve = []
  let lastLog = performance.now()
  const result = await train({
    ...taskDefaults('masked-lm'),
    task: 'masked-lm',
    model: o.model,
    data: o.data,
    validation: o.validation,
    out: o.out,
    epochs: 100,
    maxSteps: o.steps,
    batchSize: recipe.batch_size,
    evalBatchSize: 128,
    maxLength: recipe.max_length,
    lr: recipe.lr,
    schedule: 'linear',
    warmupRatio: recipe.warmup_ratio,
    weightDecay: recipe.weight_decay,
    clipNorm: recipe.clip_norm,
    evalEvery: Math.max(1, Math.floor(o.steps / o.evals)),
    saveEvery: 'none',
    keepBest: false,
    seed: recipe.seed,
    threads: o.threads,
    callbacks: [{
      onEval: (e) => {
        curve.push({ step: e.step, eval_loss: e.metrics['eval_loss']!, accuracy: e.metrics['accuracy']! })
        log(`step ${e.step}: held-out loss ${e.metrics['eval_loss']!.toFixed(3)}, masked accuracy ${(e.metrics['accuracy']! * 100).toFixed(1)}%`)
      },
      onStep: (e, ctx) => {
        if (performance.now() - lastLog > 60_000) {
          lastLog = performance.now()
          log(`step ${e.step} loss ${e.loss.toFixed(3)} ${e.examplesPerSec.toFixed(0)} ex/s`)
        }
        if (e.elapsedMs > o.maxMinutes * 60_000) ctx.stop(`${o.maxMinutes} minutes`)
      },
    }],
  })
  return { result, curve }
}

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
