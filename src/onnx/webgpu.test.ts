import { describe, expect, it } from 'vitest'
import { concat, Graph, where, withGraph, type Tensor } from '../graph/graph.js'
import * as nn from '../graph/nn.js'
import { grad } from '../autodiff/grad.js'
import { getOrt } from '../runtime/ort.js'
import { Runtime, ortTensor } from '../runtime/session.js'
import { lower } from './lower.js'
import type { ModelProtoObj } from './proto.js'
import { forWebGpu } from './webgpu.js'
import { ctcLoss } from '../graph/ctc.js'
import { recurrence } from '../graph/rnn.js'

const rt = new Runtime({ threads: 1 })
const INT64 = 7

/** int64 values read as data (not shapes, axes or ScatterND indices) in a rewritten graph. */
function int64DataInputs(m: ModelProtoObj): string[] {
  const types = new Map<string, number>()
  for (const i of m.graph.input) types.set(i.name, i.type.tensorType.elemType)
  for (const t of m.graph.initializer) types.set(t.name ?? '', t.dataType)
  const shapeInputs: Record<string, number[]> = { Reshape: [1], Expand: [1], Slice: [1, 2, 3, 4], Pad: [1], Split: [1], ReduceSum: [1], CumSum: [1], ScatterND: [1] }
  const bad: string[] = []
  for (const n of m.graph.node) {
    n.input.forEach((x, pos) => {
      if (types.get(x) === INT64 && !(shapeInputs[n.opType] ?? []).includes(pos)) bad.push(`${n.opType}[${pos}] ${x}`)
    })
    // outputs: ArgMax stays int64, a Cast names its type, the rest follow their first input
    const to = n.attribute?.find((a) => a.name === 'to')?.i
    for (const o of n.output) types.set(o, n.opType === 'ArgMax' ? INT64 : n.opType === 'Cast' ? Number(to) : (types.get(n.opType === 'Where' ? n.input[1]! : n.input[0]!) ?? 1))
  }
  return bad
}

describe('forWebGpu: the graph in the WebGPU provider operators', () => {
  it('turns int64 data into int32 and LogSoftmax into its decomposition, with the same results on the CPU', async () => {
    const g = new Graph()
    let outs: { name: string; tensor: Tensor }[] = []
    withGraph(g, () => {
      const logits = g.input('logits', [4, 5])
      const y = g.input('y', [4], 'int64')
      const ids = g.input('ids', [2, 3], 'int64')
      const table = g.input('table', [10, 3])
      const flat = ids.reshape([6]) // an int64 Reshape
      const shifted = where(flat.ne(0), flat, 9) // int64 Equal/Where with an int64 constant
      outs = [
        { name: 'loss', tensor: nn.crossEntropy(logits, y) }, // LogSoftmax, Equal/Where on labels, GatherElements
        { name: 'logp', tensor: logits.logSoftmax(0) },
        { name: 'emb', tensor: nn.embedding(shifted, table) },
        { name: 'ids2', tensor: concat([flat, shifted]) }, // an int64 output
        { name: 'pred', tensor: logits.argmax(-1) }, // ONNX defines it as int64
      ]
    })
    const model = lower({ outputs: outs }).model
    const wg = forWebGpu(model)
    expect(wg.graph.node.map((n) => n.opType)).not.toContain('LogSoftmax')
    expect(int64DataInputs(wg)).toEqual([])
    const elem = (vs: typeof wg.graph.input, n: string) => vs.find((v) => v.name === n)!.type.tensorType.elemType
    expect([elem(wg.graph.input, 'y'), elem(wg.graph.input, 'ids'), elem(wg.graph.output, 'ids2'), elem(wg.graph.output, 'pred')]).toEqual([6, 6, 6, INT64])
    expect(int64DataInputs(model).length).toBeGreaterThan(0) // the check sees what the rewrite removes

    const { Tensor } = getOrt()
    const logits = Float32Array.from({ length: 20 }, (_, i) => Math.sin(i * 1.7) * 30) // large: a naive log(softmax) would underflow
    const yv = [3, -100, 0, 4]
    const idv = [1, 0, 7, 2, 0, 5]
    const table = Float32Array.from({ length: 30 }, (_, i) => i / 10)
    const f = (d: Float32Array, shape: number[]) => ortTensor({ data: d, shape, dtype: 'float32' })
    const a = await (await rt.session('webgpu-rewrite-original', () => model)).run({ logits: f(logits, [4, 5]), table: f(table, [10, 3]), y: ortTensor({ data: BigInt64Array.from(yv, BigInt), shape: [4], dtype: 'int64' }), ids: ortTensor({ data: BigInt64Array.from(idv, BigInt), shape: [2, 3], dtype: 'int64' }) })
    const b = await (await rt.session('webgpu-rewrite-rewritten', () => wg)).run({ logits: f(logits, [4, 5]), table: f(table, [10, 3]), y: new Tensor('int32', Int32Array.from(yv), [4]), ids: new Tensor('int32', Int32Array.from(idv), [2, 3]) })
    for (const k of ['loss', 'logp', 'emb']) {
      const x = a[k]!.data as Float32Array
      const z = b[k]!.data as Float32Array
      expect(z.length).toBe(x.length)
      x.forEach((v, i) => expect(z[i], `${k}[${i}]`).toBeCloseTo(v, 4))
    }
    expect(Number.isFinite((b['logp']!.data as Float32Array).reduce((m, v) => Math.min(m, v), 0))).toBe(true)
    expect(b['ids2']!.type).toBe('int32')
    expect(Array.from(b['ids2']!.data as Int32Array)).toEqual(Array.from(a['ids2']!.data as BigInt64Array, Number))
    expect(Array.from(b['pred']!.data as BigInt64Array)).toEqual(Array.from(a['pred']!.data as BigInt64Array))
  })

  it("computes MaxPool's indices from standard operators: the same gradient, ties going to the first cell in window order", async () => {
    const pools: [string, nn.PoolOptions & { kernel: number }][] = [
      ['3x3 stride 2 padding 1 (ResNet)', { kernel: 3, stride: 2, padding: 1 }],
      ['2x2 ceil mode on an odd size', { kernel: 2, stride: 2, ceilMode: true }],
      ['3x3 stride 1', { kernel: 3, stride: 1 }],
    ]
    const xs = Float32Array.from({ length: 2 * 3 * 7 * 7 }, (_, i) => (i * 7919) % 4) // few values: many ties
    for (const [label, { kernel, ...o }] of pools) {
      const g = new Graph()
      let outs: { name: string; tensor: Tensor }[] = []
      withGraph(g, () => {
        const x = g.input('x', [2, 3, 7, 7])
        const y = nn.maxPool2d(x, kernel, o)
        const w = g.input('w', y.shape)
        outs = [
          { name: 'y', tensor: y },
          { name: 'dx', tensor: grad(y.mul(w).sum(), [x])[0]! },
        ]
      })
      const model = lower({ outputs: outs }).model
      const wg = forWebGpu(model)
      const pool = wg.graph.node.find((n) => n.opType === 'MaxPool')!
      expect(pool.output, label).toHaveLength(1)
      const yShape = outs[0]!.tensor.shape
      const ws = Float32Array.from({ length: yShape.reduce((a, b) => a * b, 1) }, (_, i) => 1 + (i % 5))
      const feeds = () => ({ x: ortTensor({ data: xs, shape: [2, 3, 7, 7], dtype: 'float32' }), w: ortTensor({ data: ws, shape: yShape, dtype: 'float32' }) })
      const a = await (await rt.session(`webgpu-pool-a-${label}`, () => model)).run(feeds())
      const b = await (await rt.session(`webgpu-pool-b-${label}`, () => wg)).run(feeds())
      expect(Array.from(b['y']!.data as Float32Array), label).toEqual(Array.from(a['y']!.data as Float32Array))
      expect(Array.from(b['dx']!.data as Float32Array), label).toEqual(Array.from(a['dx']!.data as Float32Array))
    }
  })

  it('splits grouped convolutions with more than 4 outputs per group (wrong on WebGPU), with the same results', async () => {
    const cases: [string, number[], number[], number, boolean][] = [
      ['2-D, 9 outputs per group (the weight gradient patches)', [2, 8, 6, 6], [72, 1, 3, 3], 8, false],
      ['2-D, 2 inputs and 5 outputs per group, bias', [2, 16, 5, 5], [40, 2, 3, 3], 8, true],
      ['1-D, 16 groups of 6 outputs (positional convolution)', [2, 32, 20], [96, 2, 5], 16, true],
    ]
    for (const [label, xs, ws, group, bias] of cases) {
      const g = new Graph()
      let outs: { name: string; tensor: Tensor }[] = []
      withGraph(g, () => {
        const x = g.input('x', xs)
        const w = g.input('w', ws)
        const b = bias ? g.input('b', [ws[0]!]) : null
        const p = (ws[2]! - 1) / 2
        outs = [{ name: 'y', tensor: g.emit('Conv', b ? [x, w, b] : [x, w], { strides: xs.slice(2).map(() => 1), pads: [...xs.slice(2).map(() => p), ...xs.slice(2).map(() => p)], dilations: xs.slice(2).map(() => 1), group })[0]! }]
      })
      const model = lower({ outputs: outs }).model
      const wg = forWebGpu(model)
      const convs = wg.graph.node.filter((n) => n.opType === 'Conv')
      expect(convs.length, label).toBe(Math.ceil(ws[0]! / group / 4))
      const f = (shape: number[], k: number) => ortTensor({ data: Float32Array.from({ length: shape.reduce((a, c) => a * c, 1) }, (_, i) => Math.sin(i * k)), shape, dtype: 'float32' })
      const feeds = () => ({ x: f(xs, 0.37), w: f(ws, 0.71), ...(bias ? { b: f([ws[0]!], 1.3) } : {}) })
      const a = await (await rt.session(`webgpu-gconv-a-${label}`, () => model)).run(feeds())
      const b = await (await rt.session(`webgpu-gconv-b-${label}`, () => wg)).run(feeds())
      expect(b['y']!.dims, label).toEqual(a['y']!.dims)
      const ya = a['y']!.data as Float32Array
      const yb = b['y']!.data as Float32Array
      ya.forEach((v, i) => expect(Math.abs(yb[i]! - v), `${label} [${i}]`).toBeLessThan(1e-5))
    }
  })

  it('rewrites Sign, int32 and bool Slices, and Splits and Concats of many tensors, with the same results', async () => {
    const g = new Graph()
    let outs: { name: string; tensor: Tensor }[] = []
    withGraph(g, () => {
      const x = g.input('x', [3, 12])
      const ids = g.input('ids', [3, 12], 'int64')
      const parts = x.split(Array.from({ length: 12 }, () => 1), 1) // 12 outputs: more than a shader binds
      const masks = x.gt(0).cast('float32').split(Array.from({ length: 12 }, () => 1), 1)
      outs = [
        { name: 'sign', tensor: x.sign() },
        { name: 'sliced', tensor: ids.slice(1, 2, 9) }, // int64 (int32 on WebGPU) data
        { name: 'mask', tensor: x.gt(0).slice(1, 0, 5).cast('float32') }, // a bool Slice
        { name: 'cat', tensor: concat(parts.map((p, i) => p.mul(masks[i]!)).reverse(), 1) }, // 12 inputs
      ]
    })
    const model = lower({ outputs: outs }).model
    const wg = forWebGpu(model)
    const ops = wg.graph.node.map((n) => n.opType)
    expect(ops).not.toContain('Sign')
    expect(ops).not.toContain('Split')
    expect(Math.max(...wg.graph.node.filter((n) => n.opType === 'Concat').map((n) => n.input.length))).toBeLessThanOrEqual(7)
    const { Tensor } = getOrt()
    const xs = Float32Array.from({ length: 36 }, (_, i) => (i % 5 === 0 ? 0 : Math.sin(i)))
    const idv = Array.from({ length: 36 }, (_, i) => i * 1000)
    const a = await (await rt.session('webgpu-misc-a', () => model)).run({ x: ortTensor({ data: xs, shape: [3, 12], dtype: 'float32' }), ids: ortTensor({ data: BigInt64Array.from(idv, BigInt), shape: [3, 12], dtype: 'int64' }) })
    const b = await (await rt.session('webgpu-misc-b', () => wg)).run({ x: ortTensor({ data: xs, shape: [3, 12], dtype: 'float32' }), ids: new Tensor('int32', Int32Array.from(idv), [3, 12]) })
    for (const k of ['sign', 'mask', 'cat']) expect(Array.from(b[k]!.data as Float32Array), k).toEqual(Array.from(a[k]!.data as Float32Array))
    expect(Array.from(b['sliced']!.data as Int32Array)).toEqual(Array.from(a['sliced']!.data as BigInt64Array, Number))
  })

  it("unrolls CTC's Scans (forward and reverse, bool frames), with the same loss and gradient", async () => {
    const [B, T, C, L] = [2, 6, 5, 2]
    const g = new Graph()
    g.training = true
    let outs: { name: string; tensor: Tensor }[] = []
    withGraph(g, () => {
      const x = g.input('x', [B, T, C])
      const loss = ctcLoss(x.logSoftmax(-1), g.input('t', [B, L], 'int64'), g.input('il', [B], 'int64'), g.input('tl', [B], 'int64'), { reduction: 'sum' })
      outs = [{ name: 'loss', tensor: loss }, { name: 'dx', tensor: grad(loss, [x])[0]! }]
    })
    const model = lower({ outputs: outs }).model
    expect(model.graph.node.filter((n) => n.opType === 'Scan')).toHaveLength(2)
    const wg = forWebGpu(model)
    for (const op of ['Scan', 'Or', 'Sum']) expect(wg.graph.node.map((n) => n.opType)).not.toContain(op)
    const { Tensor } = getOrt()
    const xs = Float32Array.from({ length: B * T * C }, (_, i) => Math.sin(i * 0.7) * 2)
    const i64 = (v: number[], shape: number[]) => ortTensor({ data: BigInt64Array.from(v, BigInt), shape, dtype: 'int64' })
    const i32 = (v: number[], shape: number[]) => new Tensor('int32', Int32Array.from(v), shape)
    // clip 2 is shorter than the frames (a frozen tail) and repeats a label
    const [t, il, tl] = [[1, 2, 3, 3], [6, 4], [2, 2]]
    const a = await (await rt.session('webgpu-ctc-a', () => model)).run({ x: ortTensor({ data: xs, shape: [B, T, C], dtype: 'float32' }), t: i64(t, [B, L]), il: i64(il, [B]), tl: i64(tl, [B]) })
    const b = await (await rt.session('webgpu-ctc-b', () => wg)).run({ x: ortTensor({ data: xs, shape: [B, T, C], dtype: 'float32' }), t: i32(t, [B, L]), il: i32(il, [B]), tl: i32(tl, [B]) })
    expect(Math.abs((b['loss']!.data as Float32Array)[0]! - (a['loss']!.data as Float32Array)[0]!)).toBeLessThan(1e-5)
    const da = a['dx']!.data as Float32Array
    const db = b['dx']!.data as Float32Array
    da.forEach((v, i) => expect(Math.abs(db[i]! - v), `dx[${i}]`).toBeLessThan(1e-6))
    expect(da.some((v) => Math.abs(v) > 0.05)).toBe(true)
  })

  it('unrolls the recurrences and their backpropagation (GRU, LSTM, both directions, a length mask), with the same results', async () => {
    const [B, T, In, H] = [2, 5, 3, 4]
    for (const kind of ['gru', 'lstm'] as const) {
      const G = kind === 'gru' ? 3 : 4
      const g = new Graph()
      g.training = true
      let outs: { name: string; tensor: Tensor }[] = []
      withGraph(g, () => {
        const x = g.input('x', [B, T, In])
        const [wi, wh, bi, bh] = [g.input('wi', [G * H, In]), g.input('wh', [G * H, H]), g.input('bi', [G * H]), g.input('bh', [G * H])]
        const mask = g.input('m', [B, T])
        const w = { weight_ih: wi, weight_hh: wh, bias_ih: bi, bias_hh: bh }
        const y = recurrence(kind, x, w, mask).add(recurrence(kind, x, w, mask, true))
        const loss = y.mul(y).sum()
        const d = grad(loss, [x, wi, wh, bh])
        outs = [{ name: 'y', tensor: y }, ...d.map((t, i) => ({ name: `d${i}`, tensor: t! }))]
      })
      const model = lower({ outputs: outs }).model
      const wg = forWebGpu(model)
      expect(wg.graph.node.map((n) => n.opType), kind).not.toContain('Scan')
      const f = (shape: number[], k: number) => ortTensor({ data: Float32Array.from({ length: shape.reduce((a, c) => a * c, 1) }, (_, i) => Math.sin(i * k) * 0.5), shape, dtype: 'float32' })
      const feeds = () => ({ x: f([B, T, In], 0.3), wi: f([G * H, In], 0.7), wh: f([G * H, H], 1.1), bi: f([G * H], 1.7), bh: f([G * H], 2.3), m: ortTensor({ data: Float32Array.from([1, 1, 1, 1, 1, 1, 1, 1, 0, 0]), shape: [B, T], dtype: 'float32' }) })
      const a = await (await rt.session(`webgpu-rnn-a-${kind}`, () => model)).run(feeds())
      const b = await (await rt.session(`webgpu-rnn-b-${kind}`, () => wg)).run(feeds())
      for (const o of outs) {
        const va = a[o.name]!.data as Float32Array
        const vb = b[o.name]!.data as Float32Array
        va.forEach((v, i) => expect(Math.abs(vb[i]! - v), `${kind} ${o.name}[${i}]`).toBeLessThan(1e-5))
      }
    }
  })

  it('leaves a graph with control flow (a Scan of several steps) as it is', () => {
    const m: ModelProtoObj = {
      irVersion: 8,
      opsetImport: [{ domain: '', version: 17 }],
      producerName: 't',
      graph: { name: 'g', node: [{ opType: 'Scan', input: ['x'], output: ['y'], attribute: [{ name: 'body', type: 5, g: { name: 'b', node: [], initializer: [], input: [], output: [] } }] }], initializer: [], input: [], output: [] },
    }
    expect(forWebGpu(m)).toBe(m)
  })
})
