import { GraphError } from '../errors.js'

export type Shape = readonly number[]

export const fmt = (s: Shape): string => `[${s.join(', ')}]`

export function size(s: Shape): number {
  let n = 1
  for (const d of s) n *= d
  return n
}

export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i])
}

/** NumPy broadcasting of any number of shapes; `op` names the op in the error. */
export function broadcastShapes(op: string, shapes: readonly Shape[]): number[] {
  const rank = Math.max(...shapes.map((s) => s.length))
  const out: number[] = []
  for (let i = 0; i < rank; i++) {
    let d = 1
    for (const s of shapes) {
      const k = s.length - rank + i
      const v = k < 0 ? 1 : s[k]!
      if (v === 1) continue
      if (d !== 1 && d !== v) {
        throw new GraphError(
          'SHAPE_BROADCAST',
          `${op}: shapes ${shapes.map(fmt).join(' and ')} do not broadcast (axis ${i - rank} is ${d} vs ${v})`,
          'broadcasting needs each axis, aligned from the right, to be equal or 1; reshape or expand one operand',
        )
      }
      d = v
    }
    out.push(d)
  }
  return out
}

/** Normalises a possibly negative axis against a rank, or throws naming the op. */
export function normAxis(op: string, axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis
  if (!Number.isInteger(a) || a < 0 || a >= rank) {
    throw new GraphError('SHAPE_AXIS', `${op}: axis ${axis} is out of range for a tensor of rank ${rank}`, `valid axes are ${-rank}..${rank - 1}`)
  }
  return a
}

export function normAxes(op: string, axes: readonly number[], rank: number): number[] {
  const out = axes.map((a) => normAxis(op, a, rank))
  if (new Set(out).size !== out.length) throw new GraphError('SHAPE_AXIS', `${op}: axes [${axes.join(', ')}] repeat an axis`)
  return out.sort((a, b) => a - b)
}

/** Row-major strides of a shape. */
export function strides(s: Shape): number[] {
  const st = new Array<number>(s.length)
  let acc = 1
  for (let i = s.length - 1; i >= 0; i--) {
    st[i] = acc
    acc *= s[i]!
  }
  return st
}

/** Axes of `full` that were broadcast from `from` (to be summed when un-broadcasting a gradient). */
export function broadcastAxes(from: Shape, full: Shape): { axes: number[]; keepRank: boolean } {
  const axes: number[] = []
  const off = full.length - from.length
  for (let i = 0; i < full.length; i++) {
    const d = i < off ? 1 : from[i - off]!
    if (d === 1 && full[i] !== 1) axes.push(i)
    else if (i < off) axes.push(i)
  }
  return { axes, keepRank: off === 0 }
}
