/** A dense float64 array with a shape: the value type of the reference interpreter. */
import { size, strides } from '../graph/shape.js'

export interface NDArray {
  readonly shape: readonly number[]
  readonly data: Float64Array
}

export function nd(shape: readonly number[], data?: ArrayLike<number>): NDArray {
  const n = size(shape)
  const d = new Float64Array(n)
  if (data) {
    if (data.length !== n) throw new Error(`nd: ${data.length} values for shape [${shape}]`)
    for (let i = 0; i < n; i++) d[i] = Number(data[i])
  }
  return { shape: [...shape], data: d }
}

/** Index of the broadcast source element for each output element. */
export function broadcastIndex(from: readonly number[], to: readonly number[]): Int32Array {
  const n = size(to)
  const out = new Int32Array(n)
  const off = to.length - from.length
  const fs = strides(from)
  const ts = strides(to)
  for (let i = 0; i < n; i++) {
    let src = 0
    let rem = i
    for (let k = 0; k < to.length; k++) {
      const c = Math.floor(rem / ts[k]!)
      rem -= c * ts[k]!
      const fk = k - off
      if (fk >= 0 && from[fk] !== 1) src += c * fs[fk]!
    }
    out[i] = src
  }
  return out
}

/** Unravels a flat index into coordinates. */
export function unravel(i: number, shape: readonly number[], st: readonly number[] = strides(shape)): number[] {
  const c = new Array<number>(shape.length)
  let rem = i
  for (let k = 0; k < shape.length; k++) {
    c[k] = Math.floor(rem / st[k]!)
    rem -= c[k]! * st[k]!
  }
  return c
}
