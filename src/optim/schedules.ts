/** Learning-rate schedules as pure functions of the step: the factor applied to each group's base rate. */
import { ConfigError } from '../errors.js'

export type Schedule =
  | { kind: 'constant'; warmupSteps?: number }
  | { kind: 'linear'; warmupSteps?: number }
  | { kind: 'cosine'; warmupSteps?: number; minFactor?: number }
  | { kind: 'one-cycle'; pctStart?: number; divFactor?: number; finalDivFactor?: number }

export const SCHEDULES = ['constant', 'linear', 'cosine', 'one-cycle'] as const

/**
 * Multiplier of the base learning rate at `step` (0-based, the step about to be taken) of `total`.
 * linear/cosine follow HF's get_linear/cosine_schedule_with_warmup; one-cycle follows torch's
 * OneCycleLR with cosine annealing (peak at the base rate).
 */
export function lrFactor(s: Schedule, step: number, total: number): number {
  if (s.kind === 'one-cycle') {
    const pct = s.pctStart ?? 0.3
    const div = s.divFactor ?? 25
    const fin = s.finalDivFactor ?? 1e4
    const up = Math.max(pct * total - 1, 1)
    const down = Math.max(total - 1 - up, 1)
    const cos = (a: number, b: number, f: number): number => b + ((a - b) * (1 + Math.cos(Math.PI * f))) / 2
    if (step <= up) return cos(1 / div, 1, step / up)
    return cos(1, 1 / (div * fin), Math.min((step - up) / down, 1))
  }
  const w = s.warmupSteps ?? 0
  if (step < w) return step / Math.max(1, w)
  if (s.kind === 'constant') return 1
  const progress = (step - w) / Math.max(1, total - w)
  if (s.kind === 'linear') return Math.max(0, 1 - progress)
  const min = s.minFactor ?? 0
  return min + (1 - min) * 0.5 * (1 + Math.cos(Math.PI * Math.min(progress, 1)))
}

export function parseSchedule(name: string, warmupSteps = 0): Schedule {
  switch (name) {
    case 'constant':
    case 'linear':
    case 'cosine':
      return { kind: name, warmupSteps }
    case 'one-cycle':
      return { kind: 'one-cycle' }
    default:
      throw new ConfigError('CONFIG_SCHEDULE', `unknown learning-rate schedule "${name}"`, `use one of ${SCHEDULES.join(', ')}`)
  }
}
