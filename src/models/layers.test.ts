// Standardize (Keras' Normalization): statistics adapted on rows of features, applied in the graph.
import { describe, expect, it } from 'vitest'
import { runGraph } from '../../test/graph-run.js'
import { Standardize } from './layers.js'

describe('Standardize', () => {
  it('adapts per-feature mean and population std; a constant feature keeps std 1; the graph gives (x - mean) / std', async () => {
    // 3 rows of 3 features: the third is constant
    const rows = Float32Array.from([1, 10, 5, 3, 20, 5, 5, 60, 5])
    const s = new Standardize(3)
    expect(Array.from(s.std.data)).toEqual([1, 1, 1])
    s.adapt(rows, 3)
    expect(Array.from(s.mean.data)).toEqual([3, 30, 5])
    expect(s.std.data[0]).toBeCloseTo(Math.sqrt(8 / 3), 6)
    expect(s.std.data[1]).toBeCloseTo(Math.sqrt(1400 / 3), 4)
    expect(s.std.data[2]).toBe(1)
    expect(s.namedParameters().map(([n, p]) => [n, p.kind])).toEqual([['mean', 'buffer'], ['std', 'buffer']])
    const out = await runGraph((g) => ({ y: s.forward(g.input('x', [3, 3])) }), { x: { data: rows, shape: [3, 3], dtype: 'float32' } })
    const y = out['y']!
    for (let j = 0; j < 2; j++) {
      const col = [0, 1, 2].map((i) => y[i * 3 + j]!)
      expect(col.reduce((a, v) => a + v, 0) / 3).toBeCloseTo(0, 5)
      expect(col.reduce((a, v) => a + v * v, 0) / 3).toBeCloseTo(1, 5)
    }
    expect([y[2], y[5], y[8]]).toEqual([0, 0, 0])
    s.reset()
    expect([...s.mean.data, ...s.std.data]).toEqual([0, 0, 0, 1, 1, 1])
  })

  it('refuses too few values', () => {
    expect(() => new Standardize(4).adapt(new Float32Array(6), 2)).toThrow(/needs 2 x 4 values, got 6/)
  })
})
