import { describe, expect, it } from 'vitest'
import { bucketBatches, bucketLength, epochOrder, splitTrainValidation } from './order.js'
import { Rng } from '../runtime/rng.js'

const isPermutation = (a: ArrayLike<number>, n: number): boolean => {
  const seen = new Uint8Array(n)
  for (let i = 0; i < a.length; i++) seen[a[i]!] = seen[a[i]!]! + 1
  return a.length === n && seen.every((c) => c === 1)
}

describe('epoch order', () => {
  it('is a permutation that depends only on (n, seed, epoch)', () => {
    const a = epochOrder(1000, 42, 3)
    expect(isPermutation(a, 1000)).toBe(true)
    // a resumed run calls it again, later, after other random draws: same order
    new Rng(42).fillBytes(new Uint8Array(64))
    expect(epochOrder(1000, 42, 3)).toEqual(a)
  })

  it('differs between epochs and seeds', () => {
    const a = Array.from(epochOrder(100, 42, 0))
    expect(Array.from(epochOrder(100, 42, 1))).not.toEqual(a)
    expect(Array.from(epochOrder(100, 43, 0))).not.toEqual(a)
    expect(a).not.toEqual(Array.from({ length: 100 }, (_, i) => i))
  })
})

describe('train/validation split', () => {
  it('is deterministic, disjoint and complete', () => {
    const a = splitTrainValidation(1000, { fraction: 0.1, seed: 7 })
    const b = splitTrainValidation(1000, { fraction: 0.1, seed: 7 })
    expect(a).toEqual(b)
    expect(a.validation.length).toBe(100)
    expect(isPermutation(Uint32Array.from([...a.train, ...a.validation]), 1000)).toBe(true)
    expect(Array.from(splitTrainValidation(1000, { fraction: 0.1, seed: 8 }).validation)).not.toEqual(Array.from(a.validation))
  })

  it('keeps class proportions when stratified', () => {
    // 900 of class 0, 90 of class 1, 10 of class 2
    const keys = Int32Array.from({ length: 1000 }, (_, i) => (i % 100 === 0 ? 2 : i % 10 === 0 ? 1 : 0))
    const { validation } = splitTrainValidation(1000, { fraction: 0.2, seed: 1, stratify: keys })
    const count = [0, 0, 0]
    for (const i of validation) count[keys[i]!]!++
    expect(count).toEqual([180, 18, 2])
  })

  it('leaves at least one row on each side of a tiny data set', () => {
    expect(splitTrainValidation(2, { fraction: 0.01, seed: 0 }).validation.length).toBe(1)
    expect(splitTrainValidation(3, { fraction: 0.99, seed: 0 }).train.length).toBe(1)
    expect(splitTrainValidation(1, { fraction: 0.5, seed: 0 }).validation.length).toBe(0)
  })
})

describe('length buckets', () => {
  it('round lengths up to powers of two or multiples, capped at the maximum', () => {
    expect([1, 16, 17, 100, 129, 600].map((l) => bucketLength(l, 512))).toEqual([16, 16, 32, 128, 256, 512])
    expect([1, 64, 65, 500].map((l) => bucketLength(l, 384, { kind: 'multiple', step: 64 }))).toEqual([64, 64, 128, 384])
  })

  it('keep the number of distinct padded shapes small', () => {
    const rng = new Rng(5)
    const lengths = Array.from({ length: 5000 }, () => 1 + rng.int(700))
    const batches = bucketBatches(lengths, { batchSize: 16, maxLength: 512, seed: 1, epoch: 0 })
    const shapes = new Set(batches.map((b) => b.length))
    expect(shapes.size).toBeLessThanOrEqual(6) // 16, 32, 64, 128, 256, 512
    const multiple = bucketBatches(lengths, { batchSize: 16, maxLength: 512, seed: 1, epoch: 0, scheme: { kind: 'multiple', step: 128 } })
    expect(new Set(multiple.map((b) => b.length)).size).toBe(4)
    // every example appears once, in a batch long enough for it (or at the cap)
    const all = batches.flatMap((b) => b.indices)
    expect(isPermutation(all, lengths.length)).toBe(true)
    for (const b of batches) for (const i of b.indices) expect(b.length).toBeGreaterThanOrEqual(Math.min(lengths[i]!, 512))
  })

  it('shuffle batches by seed and epoch, reproducibly', () => {
    const lengths = Array.from({ length: 300 }, (_, i) => (i * 37) % 200)
    const opts = { batchSize: 8, maxLength: 256, seed: 9 }
    const e0 = bucketBatches(lengths, { ...opts, epoch: 0 })
    expect(bucketBatches(lengths, { ...opts, epoch: 0 })).toEqual(e0)
    expect(bucketBatches(lengths, { ...opts, epoch: 1 })).not.toEqual(e0)
    // the batch order mixes buckets rather than running through them in length order
    const order = e0.map((b) => b.length)
    expect(order).not.toEqual([...order].sort((a, b) => a - b))
    const full = bucketBatches(lengths, { ...opts, epoch: 0, dropLast: true })
    expect(full.every((b) => b.indices.length === 8)).toBe(true)
  })
})
