/**
 * Node-only: checkpoint folders written atomically (a temporary folder renamed into place), the last
 * few kept, the best one tracked separately; `latest()` finds the newest complete one to resume from.
 *
 *   <out>/checkpoints/step-000120/{state.safetensors, trainer_state.json}
 *   <out>/checkpoints/best/{state.safetensors, metrics.json}
 */
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { CheckpointError } from '../errors.js'
import { loadTrainState, saveTrainState } from './state-node.js'
import type { TrainState } from './step.js'
import type { Checkpointer, TrainerProgress } from './trainer.js'

async function writeFolderAtomic(dir: string, fill: (tmp: string) => Promise<void>): Promise<void> {
  const tmp = `${dir}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`
  await mkdir(tmp, { recursive: true })
  try {
    await fill(tmp)
    if (existsSync(dir)) {
      const old = `${dir}.old-${process.pid}`
      await rename(dir, old)
      await rename(tmp, dir)
      await rm(old, { recursive: true, force: true })
    } else await rename(tmp, dir)
  } catch (e) {
    await rm(tmp, { recursive: true, force: true })
    throw e
  }
}

export class FolderCheckpointer implements Checkpointer {
  readonly dir: string
  constructor(outDir: string, readonly keep = 2) {
    this.dir = join(outDir, 'checkpoints')
  }

  async save(step: number, state: TrainState, progress: TrainerProgress): Promise<string> {
    const name = `step-${String(step).padStart(6, '0')}`
    const path = join(this.dir, name)
    await mkdir(this.dir, { recursive: true })
    await writeFolderAtomic(path, async (tmp) => {
      await saveTrainState(join(tmp, 'state.safetensors'), state)
      await writeFile(join(tmp, 'trainer_state.json'), JSON.stringify({ step, progress }, null, 2))
    })
    const all = (await this.#steps()).sort((a, b) => a.step - b.step)
    for (const old of all.slice(0, Math.max(0, all.length - this.keep))) await rm(join(this.dir, old.name), { recursive: true, force: true })
    return path
  }

  async saveBest(step: number, state: TrainState, metrics: Record<string, number>): Promise<string> {
    const path = join(this.dir, 'best')
    await mkdir(this.dir, { recursive: true })
    await writeFolderAtomic(path, async (tmp) => {
      await saveTrainState(join(tmp, 'state.safetensors'), state)
      await writeFile(join(tmp, 'metrics.json'), JSON.stringify({ step, metrics }, null, 2))
    })
    return path
  }

  async best(): Promise<{ state: TrainState; step: number; metrics: Record<string, number> } | null> {
    const path = join(this.dir, 'best')
    if (!existsSync(join(path, 'state.safetensors'))) return null
    const meta = JSON.parse(await readFile(join(path, 'metrics.json'), 'utf8')) as { step: number; metrics: Record<string, number> }
    return { state: await loadTrainState(join(path, 'state.safetensors')), ...meta }
  }

  async latest(): Promise<{ state: TrainState; progress: TrainerProgress } | null> {
    const all = (await this.#steps()).sort((a, b) => b.step - a.step)
    for (const c of all) {
      const p = join(this.dir, c.name)
      if (!existsSync(join(p, 'state.safetensors')) || !existsSync(join(p, 'trainer_state.json'))) continue
      let meta: { step: number; progress: TrainerProgress }
      try {
        meta = JSON.parse(await readFile(join(p, 'trainer_state.json'), 'utf8')) as { step: number; progress: TrainerProgress }
      } catch {
        throw new CheckpointError('CHECKPOINT_CORRUPT', `${join(p, 'trainer_state.json')} is not valid JSON`, `delete ${p} to resume from the checkpoint before it`)
      }
      return { state: await loadTrainState(join(p, 'state.safetensors')), progress: meta.progress }
    }
    return null
  }

  async #steps(): Promise<{ name: string; step: number }[]> {
    if (!existsSync(this.dir)) return []
    return (await readdir(this.dir)).flatMap((name) => {
      const m = /^step-(\d+)$/.exec(name)
      return m ? [{ name, step: Number(m[1]) }] : []
    })
  }
}
