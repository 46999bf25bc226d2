/**
 * Deterministic weights from (parameter name, element index), for checking the vision families
 * against torchvision without shipping checkpoints. scripts/gen_vision_goldens.py implements the
 * same formula in numpy uint32 arithmetic; both sides give bit-identical float32 values because
 * every step is exact integer arithmetic or one correctly rounded float64 operation.
 *
 *   h = FNV-1a(name)                                   (32 bit, over the UTF-8 bytes)
 *   x = h ^ ((i + 1) * 0x9E3779B1)                     (mod 2^32)
 *   x = lowbias32(x)                                   (xorshift-multiply rounds)
 *   u = (x >>> 8) / 2^23 - 1                           (exact, in [-1, 1))
 *   value = float32(offset + scale * u)                (scale, offset per tensor; see detSpec)
 */
import type { Module } from '../graph/module.js'

/** FNV-1a over the name's UTF-8 bytes (names are ASCII in practice). */
export function fnv1a32(name: string): number {
  const bytes = new TextEncoder().encode(name)
  let h = 0x811c9dc5
  for (const b of bytes) h = Math.imul(h ^ b, 0x01000193) >>> 0
  return h >>> 0
}

/** Fills `out` with float32(offset + scale * u_i) for i = 0..n-1 from the hash of `name`. */
export function detUniform(name: string, out: Float32Array, scale: number, offset = 0): Float32Array {
  const h = fnv1a32(name)
  for (let i = 0; i < out.length; i++) {
    let x = (h ^ Math.imul(i + 1, 0x9e3779b1)) >>> 0
    x ^= x >>> 16
    x = Math.imul(x, 0x7feb352d)
    x ^= x >>> 15
    x = Math.imul(x, 0x846ca68b)
    x ^= x >>> 16
    const u = (x >>> 8) / 8388608 - 1
    out[i] = offset + scale * u
  }
  return out
}

/** How a tensor is scaled, from its checkpoint name and shape alone. */
export function detSpec(name: string, shape: readonly number[]): { scale: number; offset: number } {
  const leaf = name.slice(name.lastIndexOf('.') + 1)
  if (leaf === 'num_batches_tracked') return { scale: 0, offset: 0 }
  if (leaf === 'running_mean') return { scale: 0.1, offset: 0 }
  if (leaf === 'running_var') return { scale: 0.25, offset: 1 }
  if (leaf === 'class_token' || leaf === 'pos_embedding') return { scale: 0.2, offset: 0 }
  if (leaf.endsWith('bias')) return { scale: 0.1, offset: 0 }
  if (shape.length === 1) return { scale: 0.1, offset: 1 } // BatchNorm / LayerNorm scale
  // He-uniform: variance 2 / fan_in keeps activations at unit scale through ReLU stacks
  const fanIn = shape.slice(1).reduce((a, b) => a * b, 1)
  return { scale: Math.sqrt(6 / fanIn), offset: 0 }
}

/** Overwrites every parameter and buffer of `model` with its deterministic value. */
export function fillDeterministic(model: Module): void {
  for (const [name, p] of model.namedParameters()) {
    const { scale, offset } = detSpec(name, p.shape)
    if (scale === 0) p.data.fill(offset)
    else detUniform(name, p.data, scale, offset)
  }
}
