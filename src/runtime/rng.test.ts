import { describe, expect, it } from 'vitest'
import { Rng } from './rng.js'

describe('Rng', () => {
  it('is a pure function of (seed, stream, counter)', () => {
    const a = new Rng(5, 2, 9)
    const b = new Rng(5, 2, 9)
    for (let i = 0; i < 10; i++) expect(a.nextU32()).toBe(b.nextU32())
  })
  it('every address gives a different first draw (counter, stream and seed all matter)', () => {
    const firsts = new Set<number>()
    for (let c = 0; c < 50; c++) firsts.add(new Rng(42, 0, c).nextU32())
    for (let s = 1; s < 50; s++) firsts.add(new Rng(42, s, 0).nextU32())
    for (let seed = 0; seed < 50; seed++) firsts.add(new Rng(seed, 7, 3).nextU32())
    expect(firsts.size).toBe(149)
  })
  it('uniform draws have the right mean and a shuffle moves the last element', () => {
    const r = new Rng(1)
    let s = 0
    for (let i = 0; i < 20000; i++) s += r.next()
    expect(Math.abs(s / 20000 - 0.5)).toBeLessThan(0.01)
    const lasts = new Set<number>()
    for (let e = 0; e < 20; e++) lasts.add(new Rng(42, 1, e).shuffle([0, 1, 2, 3, 4, 5, 6, 7, 8])[8]!)
    expect(lasts.size).toBeGreaterThan(4)
  })
})
