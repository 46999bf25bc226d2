import { describe, expect, it } from 'vitest'
import { CheckpointError } from '../errors.js'
import { allFinite, assertFiniteTensors, countNonFinite } from './finite.js'

const caught = (f: () => void): CheckpointError => {
  try {
    f()
  } catch (e) {
    return e as CheckpointError
  }
  throw new Error('expected a throw')
}

describe('finite checks', () => {
  it('finds a NaN or an infinity at any position, including the tail after the unrolled part', () => {
    for (const n of [1, 3, 4, 5, 7, 8, 1001]) {
      expect(allFinite(new Float32Array(n).fill(1.5)), `${n}`).toBe(true)
      for (const bad of [NaN, Infinity, -Infinity]) {
        for (const at of new Set([0, Math.floor(n / 2), n - 1])) {
          const a = new Float32Array(n).fill(-2)
          a[at] = bad
          expect(allFinite(a), `${n} ${bad} at ${at}`).toBe(false)
        }
      }
    }
    expect(allFinite(new Float64Array([1, 2, Number.MAX_VALUE, -0]))).toBe(true)
    expect(allFinite([1, 2, NaN])).toBe(false)
    expect(allFinite(new Float32Array(0))).toBe(true)
  })

  it('counts NaN and infinite values separately', () => {
    expect(countNonFinite('w', new Float32Array([1, 2]))).toBeNull()
    expect(countNonFinite('w', new Float32Array([NaN, 1, Infinity, -Infinity, NaN, NaN]))).toEqual({ key: 'w', nan: 3, inf: 2, size: 6 })
  })

  it('assertFiniteTensors names the file, every bad tensor with its counts, and says what to do', () => {
    const e = caught(() =>
      assertFiniteTensors(
        [
          ['a.weight', new Float32Array([1, NaN, 3])],
          ['ok', new Float32Array([1])],
          ['b.bias', new Float32Array([Infinity, -Infinity])],
        ],
        'model.safetensors',
      ),
    )
    expect(e).toBeInstanceOf(CheckpointError)
    expect(e.code).toBe('CHECKPOINT_NOT_FINITE')
    expect(e.message).toMatch(/^model\.safetensors: 2 tensor\(s\)/)
    expect(e.message).toContain('"a.weight": 1 NaN of 3 values')
    expect(e.message).toContain('"b.bias": 2 infinite of 2 values')
    expect(e.message).not.toContain('"ok"')
    expect(e.hint).toMatch(/corrupt|diverged/)
    expect(e.hint).toMatch(/earlier checkpoint/)
    expect(() => assertFiniteTensors([['x', new Float32Array([0, -0, 1e-45, 3e38])]], 'f')).not.toThrow()
  })

  it('can check outputs as well as weights', () => {
    const e = caught(() => assertFiniteTensors([['logits', new Float32Array([NaN, NaN])]], 'predict', 'model outputs'))
    expect(e.message).toBe('predict: 1 tensor(s) of the model outputs hold NaN or infinite values:\n  "logits": 2 NaN of 2 values')
  })
})
