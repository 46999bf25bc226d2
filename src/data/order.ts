/**
 * The order examples are seen in. Every function here is pure: the same (seed, epoch) gives the same
 * order on any machine, so a resumed run regenerates exactly the order it would have had. Each use
 * draws from its own random stream, so changing the split does not change the epoch order.
 */
import { Rng } from '../runtime/rng.js'

const SPLIT_STREAM = 0x5e1
const EPOCH_STREAM = 0xe90c
const BUCKET_STREAM = 0xb0c7

/** In-place Fisher-Yates shuffle of a typed array or array. */
function shuffle<T extends { length: number; [i: number]: number }>(a: T, rng: Rng): T {
  for (let i = a.length - 1; i > 0; i--) {
    const j = rng.int(i + 1)
    const t = a[i]!
    a[i] = a[j]!
    a[j] = t
  }
  return a
}

/** A permutation of 0..n-1 for `epoch`, a pure function of (n, seed, epoch). */
export function epochOrder(n: number, seed: number, epoch: number): Uint32Array {
  const order = new Uint32Array(n)
  for (let i = 0; i < n; i++) order[i] = i
  return shuffle(order, new Rng(seed, EPOCH_STREAM, epoch))
}

export interface SplitOptions {
  /** Share of rows that go to validation, in (0, 1). */
  fraction: number
  seed: number
  /** A class key per row (any small integers): each class is split in the same proportion. */
  stratify?: ArrayLike<number>
}

/** Row numbers of each side of a split, ascending. */
export interface Split {
  train: Uint32Array
  validation: Uint32Array
}

/**
 * A seeded train/validation split of rows 0..n-1. Validation gets round(n * fraction) rows (at least
 * one when n > 1); stratified, each class gets its share by largest remainder, so the totals match.
 */
export function splitTrainValidation(n: number, opts: SplitOptions): Split {
  const { fraction, seed, stratify } = opts
  if (!(fraction > 0 && fraction < 1)) throw new RangeError(`validation fraction must be in (0, 1), got ${fraction}`)
  const rng = new Rng(seed, SPLIT_STREAM, n)
  const total = n < 2 ? 0 : Math.min(n - 1, Math.max(1, Math.round(n * fraction)))
  const isVal = new Uint8Array(n)
  if (!stratify) {
    const perm = shuffle(Uint32Array.from({ length: n }, (_, i) => i), rng)
    for (let k = 0; k < total; k++) isVal[perm[k]!] = 1
  } else {
    if (stratify.length !== n) throw new RangeError(`stratify has ${stratify.length} keys for ${n} rows`)
    const groups = new Map<number, number[]>()
    for (let i = 0; i < n; i++) {
      const k = stratify[i]!
      let g = groups.get(k)
      if (!g) groups.set(k, (g = []))
      g.push(i)
    }
    const keys = [...groups.keys()].sort((a, b) => a - b)
    // largest-remainder apportionment of `total` over the classes
    const quotas = keys.map((k) => (groups.get(k)!.length * total) / n)
    const take = quotas.map(Math.floor)
    let left = total - take.reduce((a, b) => a + b, 0)
    const byRemainder = keys.map((_, i) => i).sort((a, b) => quotas[b]! - take[b]! - (quotas[a]! - take[a]!) || a - b)
    for (const i of byRemainder) {
      if (left <= 0) break
      take[i]!++
      left--
    }
    keys.forEach((k, i) => {
      const g = shuffle(groups.get(k)!, rng)
      for (let j = 0; j < take[i]!; j++) isVal[g[j]!] = 1
    })
  }
  const train: number[] = []
  const validation: number[] = []
  for (let i = 0; i < n; i++) (isVal[i] ? validation : train).push(i)
  return { train: Uint32Array.from(train), validation: Uint32Array.from(validation) }
}

/** How lengths round up to a bucket: to a power of two, or to a multiple of a step. */
export type BucketScheme = { kind: 'pow2'; min?: number } | { kind: 'multiple'; step: number }

/** The padded length of an example of `length` tokens: rounded up by `scheme`, at most `maxLength`. */
export function bucketLength(length: number, maxLength: number, scheme: BucketScheme = { kind: 'pow2', min: 16 }): number {
  const len = Math.max(1, length)
  let b: number
  if (scheme.kind === 'pow2') b = Math.max(scheme.min ?? 1, 2 ** Math.ceil(Math.log2(len)))
  else b = Math.ceil(len / scheme.step) * scheme.step
  return Math.min(b, maxLength)
}

export interface BucketBatchOptions {
  batchSize: number
  maxLength: number
  seed: number
  epoch: number
  scheme?: BucketScheme
  /** Drop each bucket's last, smaller batch (then every batch has batchSize rows). Default false. */
  dropLast?: boolean
}

/** One batch: example numbers and the length they are padded (or truncated) to. */
export interface Batch {
  indices: number[]
  length: number
}

/**
 * Batches of examples of similar length: examples are grouped into length buckets, shuffled within
 * each bucket, cut into batches, and the batches shuffled, all by (seed, epoch). The number of
 * distinct padded lengths is the number of buckets, so few input shapes need compiling.
 */
export function bucketBatches(lengths: ArrayLike<number>, opts: BucketBatchOptions): Batch[] {
  const { batchSize, maxLength, seed, epoch } = opts
  if (!(batchSize >= 1)) throw new RangeError(`batchSize must be at least 1, got ${batchSize}`)
  const rng = new Rng(seed, BUCKET_STREAM, epoch)
  const buckets = new Map<number, number[]>()
  for (let i = 0; i < lengths.length; i++) {
    const b = bucketLength(lengths[i]!, maxLength, opts.scheme)
    let list = buckets.get(b)
    if (!list) buckets.set(b, (list = []))
    list.push(i)
  }
  const batches: Batch[] = []
  for (const length of [...buckets.keys()].sort((a, b) => a - b)) {
    const members = shuffle(buckets.get(length)!, rng)
    for (let s = 0; s < members.length; s += batchSize) {
      const indices = members.slice(s, s + batchSize)
      if (opts.dropLast && indices.length < batchSize) continue
      batches.push({ indices, length })
    }
  }
  const order = shuffle(Uint32Array.from(batches, (_, i) => i), rng)
  return Array.from(order, (i) => batches[i]!)
}
