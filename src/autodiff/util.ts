import type { Tensor } from '../graph/graph.js'
import { broadcastAxes } from '../graph/shape.js'

/** Sums a broadcast gradient back to `shape` (the inverse of NumPy broadcasting). */
export function sumTo(g: Tensor, shape: readonly number[]): Tensor {
  if (g.shape.join() === shape.join()) return g
  const { axes } = broadcastAxes(shape, g.shape)
  const r = axes.length ? g.sum(axes, true) : g
  return r.reshape(shape)
}

/** A zero tensor of a shape, as an expanded scalar (no large constant in the model file). */
export function zeros(like: Tensor, shape: readonly number[] = like.shape): Tensor {
  return like.graph.scalar(0, like.dtype).expand(shape)
}
