// The batch pipeline of the image and audio splits: which positions each batch gets, resuming from a
// batch, how many batches are assembled at once, and that bad files are reported in path order
// whatever order their checks finish in.
import { describe, expect, it } from 'vitest'
import { BadRows, checkEach, DataRowError } from './errors.js'
import { batchCount, prefetchBatches } from './prefetch.js'

describe('prefetched batches', () => {
  it('cover the order in batches, yielded in order from the start batch, at most `ahead` assembled at once', async () => {
    const order = Uint32Array.from([4, 2, 0, 1, 3])
    let running = 0
    let most = 0
    const assemble = async (b: number, positions: Uint32Array) => {
      running++
      most = Math.max(most, running)
      await new Promise((r) => setTimeout(r, (3 - b) * 2)) // later batches finish first
      running--
      return [b, [...positions]] as const
    }
    const all: unknown[] = []
    for await (const x of prefetchBatches(order, 2, batchCount(5, 2), 0, 2, assemble)) all.push(x)
    expect(all).toEqual([[0, [4, 2]], [1, [0, 1]], [2, [3]]])
    expect(most).toBe(2)
    const resumed: unknown[] = []
    for await (const x of prefetchBatches(order, 2, batchCount(5, 2, true), 1, 0, assemble)) resumed.push(x)
    expect(resumed).toEqual([[1, [0, 1]]])
  })

  it('batchCount refuses a batch size below 1', () => {
    expect(batchCount(5, 2, true)).toBe(2)
    expect(() => batchCount(5, 0)).toThrow(/batchSize must be at least 1, got 0/)
  })
})

describe('checkEach', () => {
  const check = async (p: string) => {
    await new Promise((r) => setTimeout(r, p === 'a' ? 5 : 0))
    if (p !== 'ok') throw new DataRowError('DATA_BAD_FILE', { file: p }, 'is unreadable')
  }

  it('skips bad files in path order, whatever order the checks finish in', async () => {
    const bad = new BadRows('skip')
    expect(await checkEach(['a', 'ok', 'b'], bad, check)).toEqual([false, true, false])
    expect(bad.report().examples.map((e) => e.file)).toEqual(['a', 'b'])
  })

  it('in error mode throws the first bad file by path', async () => {
    await expect(checkEach(['ok', 'a', 'b'], new BadRows('error'), check)).rejects.toMatchObject({ file: 'a' })
  })
})
