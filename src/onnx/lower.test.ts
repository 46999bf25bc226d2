import { describe, expect, it } from 'vitest'
import { Graph, withGraph, type Tensor } from '../graph/graph.js'
import { Runtime, ortTensor } from '../runtime/session.js'
import { canonicalTranspose, lower } from './lower.js'

const rt = new Runtime({ threads: 1 })

describe('lower: broadcasting binary ops', () => {
  it('gives a one-element operand the full rank when the other has an axis of 1 (ONNX Runtime fast path); values unchanged', async () => {
    const g = new Graph()
    let outs: { name: string; tensor: Tensor }[] = []
    withGraph(g, () => {
      const w = g.input('w', [3, 2, 1, 1])
      const s = g.input('s', [])
      const v = g.input('v', [3, 2])
      const dw = g.input('dw', [3, 1, 2])
      outs = [
        { name: 'a', tensor: w.mul(s) }, // input scalar: reshaped to [1,1,1,1]
        { name: 'b', tensor: s.sub(w).add(0.5) }, // scalar on the left; a constant re-emitted at rank 4
        { name: 'c', tensor: v.mul(s) }, // last axis 2: left as it is
        { name: 'd', tensor: w.div(s) }, // the same reshaped scalar is reused
        { name: 'e', tensor: dw.mul(s) }, // a middle axis of 1 (depthwise weights): rank 3
      ]
    })
    const m = lower({ outputs: outs }).model
    const byOut = new Map(m.graph.node.map((n) => [n.output[0], n]))
    const reshapes = m.graph.node.filter((n) => n.opType === 'Reshape')
    expect(reshapes).toHaveLength(2)
    expect(reshapes.map((n) => n.input[0])).toEqual(['s', 's'])
    expect(byOut.get('e')!.input).toEqual(['dw', reshapes[1]!.output[0]])
    const r4 = reshapes[0]!.output[0]!
    expect(byOut.get('a')!.input).toEqual(['w', r4])
    expect(byOut.get('c')!.input).toEqual(['v', 's'])
    expect(byOut.get('d')!.input).toEqual(['w', r4])
    const half = m.graph.initializer.find((t) => t.name === byOut.get('b')!.input[1])!
    expect(half.dims).toEqual([1, 1, 1, 1])
    // the scalar 0.5 it replaced is not left behind unread (onnxruntime warns about each such initializer)
    const read = new Set(m.graph.node.flatMap((n) => n.input))
    expect(m.graph.initializer.filter((t) => !read.has(t.name!)).map((t) => t.name)).toEqual([])

    const session = await rt.session('lower-binary-test', () => lower({ outputs: outs }).bytes())
    const f = (d: number[], shape: number[]) => ortTensor({ data: Float32Array.from(d), shape, dtype: 'float32' })
    const w = [1, 2, 3, 4, 5, 6]
    const r = await session.run({ w: f(w, [3, 2, 1, 1]), s: f([2], []), v: f(w, [3, 2]), dw: f(w, [3, 1, 2]) })
    expect(Array.from(r['a']!.data as Float32Array)).toEqual(w.map((x) => x * 2))
    expect(Array.from(r['b']!.data as Float32Array)).toEqual(w.map((x) => 2 - x + 0.5))
    expect(Array.from(r['c']!.data as Float32Array)).toEqual(w.map((x) => x * 2))
    expect(Array.from(r['d']!.data as Float32Array)).toEqual(w.map((x) => x / 2))
    expect(Array.from(r['e']!.data as Float32Array)).toEqual(w.map((x) => x * 2))
    expect(r['a']!.dims).toEqual([3, 2, 1, 1])
    expect(r['b']!.dims).toEqual([3, 2, 1, 1])
  })
})

describe('lower: Transpose', () => {
  it('canonicalTranspose drops axes of 1 and merges axes that stay together', () => {
    expect(canonicalTranspose([4, 6, 91, 20, 20], [0, 3, 4, 1, 2])).toEqual({ shape: [4, 546, 400], perm: [0, 2, 1] })
    expect(canonicalTranspose([2, 1, 3], [1, 0, 2])).toEqual({ shape: [6], perm: [0] })
    expect(canonicalTranspose([2, 3, 4], [2, 1, 0])).toEqual({ shape: [2, 3, 4], perm: [2, 1, 0] })
    expect(canonicalTranspose([5, 2, 1, 3], [0, 3, 2, 1])).toEqual({ shape: [5, 2, 3], perm: [0, 2, 1] })
    expect(canonicalTranspose([2, 1, 3, 4], [0, 2, 1, 3])).toEqual({ shape: [24], perm: [0] })
  })

  it('the lowered form gives the same tensor as ONNX Transpose for every perm of a 4-D shape with an axis of 1', async () => {
    const shape = [2, 3, 1, 4]
    const perms: number[][] = []
    const rec = (p: number[]) => (p.length === 4 ? perms.push(p) : [0, 1, 2, 3].filter((a) => !p.includes(a)).forEach((a) => rec([...p, a])))
    rec([])
    const g = new Graph()
    let outs: { name: string; tensor: Tensor }[] = []
    withGraph(g, () => {
      const x = g.input('x', shape)
      outs = perms.map((p, i) => ({ name: `y${i}`, tensor: x.transpose(p) }))
    })
    const m = lower({ outputs: outs }).model
    expect(m.graph.node.filter((n) => n.opType === 'Transpose').length).toBeLessThan(perms.length)
    const session = await rt.session('lower-transpose-test', () => lower({ outputs: outs }).bytes())
    const data = Float32Array.from({ length: 24 }, (_, i) => i)
    const r = await session.run({ x: ortTensor({ data, shape, dtype: 'float32' }) })
    perms.forEach((p, i) => {
      const out = p.map((a) => shape[a]!)
      const strides = [12, 4, 4, 1]
      const want: number[] = []
      for (let a = 0; a < out[0]!; a++) for (let b = 0; b < out[1]!; b++) for (let c = 0; c < out[2]!; c++) for (let d = 0; d < out[3]!; d++) {
        const idx = [a, b, c, d]
        want.push(p.reduce((s, ax, k) => s + idx[k]! * strides[ax]!, 0))
      }
      expect(r[`y${i}`]!.dims).toEqual(out)
      expect(Array.from(r[`y${i}`]!.data as Float32Array)).toEqual(want)
    })
  })
})

describe('lower: ReduceSum', () => {
  it('sums over leading axes as a row of ones times a matrix (one GEMV), other sums stay ReduceSum; values equal', async () => {
    const shape = [3, 4, 20]
    const g = new Graph()
    let outs: { name: string; tensor: Tensor }[] = []
    withGraph(g, () => {
      const x = g.input('x', shape)
      outs = [
        { name: 'lead1', tensor: x.sum(0) }, // (4, 20) as (1, 3) @ (3, 80)
        { name: 'lead2', tensor: x.sum([0, 1], true) }, // (1, 1, 20) as (1, 12) @ (12, 20)
        { name: 'last', tensor: x.sum(2) }, // trailing: ReduceSum
        { name: 'mixed', tensor: x.sum([0, 2]) }, // not a prefix: ReduceSum
        { name: 'all', tensor: x.sum() }, // everything: ReduceSum
        { name: 'narrow', tensor: x.slice(2, 0, 2).sum(0) }, // 8 columns: ReduceSum
      ]
    })
    const m = lower({ outputs: outs }).model
    const ops = m.graph.node.map((n) => n.opType)
    expect(ops.filter((o) => o === 'MatMul')).toHaveLength(2)
    expect(ops.filter((o) => o === 'ReduceSum')).toHaveLength(4)
    // one row of ones per length
    expect(m.graph.initializer.filter((t) => t.dims.length === 2 && t.dims[0] === 1).map((t) => t.dims[1])).toEqual([3, 12])
    const session = await rt.session('lower-reducesum-test', () => lower({ outputs: outs }).bytes())
    const data = Float32Array.from({ length: 240 }, (_, i) => ((i * 37) % 23) - 11 + i / 64)
    const r = await session.run({ x: ortTensor({ data, shape, dtype: 'float32' }) })
    const at = (a: number, b: number, c: number): number => data[(a * 4 + b) * 20 + c]!
    const want = (dims: number[], f: (i: number[]) => number): number[] => {
      const out: number[] = []
      const rec = (idx: number[]): void => {
        if (idx.length === dims.length) out.push(f(idx))
        else for (let i = 0; i < dims[idx.length]!; i++) rec([...idx, i])
      }
      rec([])
      return out
    }
    const sum = (n: number, f: (i: number) => number): number => Array.from({ length: n }, (_, i) => f(i)).reduce((s, v) => s + v, 0)
    const check = (name: string, dims: number[], f: (i: number[]) => number) => {
      expect(r[name]!.dims).toEqual(dims)
      const got = Array.from(r[name]!.data as Float32Array)
      want(dims, f).forEach((v, i) => expect(got[i]).toBeCloseTo(v, 4))
    }
    check('lead1', [4, 20], ([b, c]) => sum(3, (a) => at(a, b!, c!)))
    check('lead2', [1, 1, 20], ([, , c]) => sum(12, (i) => at(Math.floor(i / 4), i % 4, c!)))
    check('last', [3, 4], ([a, b]) => sum(20, (c) => at(a!, b!, c)))
    check('mixed', [4], ([b]) => sum(60, (i) => at(Math.floor(i / 20), b!, i % 20)))
    check('all', [], () => sum(240, (i) => data[i]!))
    check('narrow', [4, 2], ([b, c]) => sum(3, (a) => at(a, b!, c!)))
  })
})
