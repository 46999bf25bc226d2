// A large golden tensor stored as a sample: its shape, values at fixed indices, max |v| and L2 norm
// (the detection network goldens of scripts/gen_{fcos,retinanet,ssdlite}_goldens.py).
import { expect } from 'vitest'
import { expectClose } from './op-check.js'

export interface Sampled { shape: number[]; indices: number[]; values: number[]; max_abs: number; l2: number }

const maxAbs = (a: ArrayLike<number>): number => Array.from(a).reduce((m, v) => Math.max(m, Math.abs(v)), 0)

/** `got` against the sample: size exact; sampled values, max |v| and L2 norm within `tol` relative. */
export function expectSampled(got: Float32Array, want: Sampled, tol: number, what: string): void {
  expect(got.length, `${what}: size`).toBe(want.shape.reduce((a, b) => a * b, 1))
  expectClose(want.indices.map((i) => got[i]!), want.values, tol, what)
  expect(Math.abs(maxAbs(got) - want.max_abs) / want.max_abs, `${what}: max |v|`).toBeLessThan(tol)
  const l2 = Math.sqrt(got.reduce((a, v) => a + v * v, 0))
  expect(Math.abs(l2 - want.l2) / want.l2, `${what}: L2 norm`).toBeLessThan(tol)
}
