/**
 * Labelled subsets for label-budget experiments: class-balanced where there are classes, seeded, and
 * nested (a smaller budget's examples are part of every larger one for the same seed, as a user
 * labelling more data would have them).
 */
import { DataError } from '../errors.js'
import { Rng } from '../runtime/rng.js'

export interface SubsetSpec {
  /** Examples in all (or per class with `perClass`); 'all' keeps every example. */
  size: number | 'all'
  perClass: boolean
  seed: number
  /** Share of the subset held out for validation (at least one example per class where there are classes). */
  holdout?: number
}

function shuffled(ids: number[], rng: Rng): number[] {
  const a = ids.slice()
  for (let i = a.length - 1; i > 0; i--) {
    const j = rng.int(i + 1)
    ;[a[i], a[j]] = [a[j]!, a[i]!]
  }
  return a
}

/**
 * Positions of the subset and of its held-out part. `labels[i]` is example i's class (-1: none, as
 * for causal LM or regression: then the subset is a plain random one). Per class, examples are taken
 * in one seeded order, so budgets nest; without `perClass`, classes take turns (round robin).
 */
export function selectSubset(labels: ArrayLike<number>, s: SubsetSpec): { train: number[]; holdout: number[] } {
  const rng = new Rng(s.seed * 7919 + 17)
  const byClass = new Map<number, number[]>()
  for (let i = 0; i < labels.length; i++) (byClass.get(labels[i]!) ?? byClass.set(labels[i]!, []).get(labels[i]!)!).push(i)
  const classes = [...byClass.keys()].sort((a, b) => a - b)
  const orders = classes.map((c) => shuffled(byClass.get(c)!, rng))
  let picked: number[][]
  if (s.size === 'all') picked = orders
  else if (s.perClass) {
    const short = classes.filter((_, k) => orders[k]!.length < (s.size as number))
    if (short.length) throw new DataError('DATA_BUDGET', `${s.size} examples per class were asked for, but class ${short.join(', ')} has fewer`, 'lower the budget or label more examples')
    picked = orders.map((o) => o.slice(0, s.size as number))
  } else {
    if (s.size > labels.length) throw new DataError('DATA_BUDGET', `a budget of ${s.size} examples was asked for, but the data has ${labels.length}`, 'lower the budget or use "all"')
    picked = orders.map(() => [])
    let n = 0
    for (let round = 0; n < s.size; round++)
      for (let k = 0; k < orders.length && n < s.size; k++)
        if (round < orders[k]!.length) {
          picked[k]!.push(orders[k]![round]!)
          n++
        }
  }
  const train: number[] = []
  const holdout: number[] = []
  const share = s.holdout ?? 0
  picked.forEach((ids) => {
    const h = share > 0 && ids.length > 1 ? Math.max(1, Math.round(ids.length * share)) : 0
    holdout.push(...ids.slice(0, h))
    train.push(...ids.slice(h))
  })
  return { train: train.sort((a, b) => a - b), holdout: holdout.sort((a, b) => a - b) }
}
