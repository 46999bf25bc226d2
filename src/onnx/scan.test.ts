import { describe, expect, it } from 'vitest'
import { Graph, withGraph, type Tensor } from '../graph/graph.js'
import { Runtime, ortTensor } from '../runtime/session.js'
import { lower } from './lower.js'
import { encodeModel } from './proto.js'
import { scanSteps } from './scan.js'

const rt = new Runtime({ threads: 1 })

describe('scanSteps: a graph repeated K times in one Scan', () => {
  it('carries state, slices scanned inputs, stacks outputs, reads other inputs from the outer graph', async () => {
    // one step: s' = s * w + x; last' = x (a carried value the step never reads); y = s' + 1
    const g = new Graph()
    let outs: { name: string; tensor: Tensor }[] = []
    withGraph(g, () => {
      const s = g.input('s', [2])
      const w = g.input('w', [2])
      const x = g.input('x', [2])
      const s2 = s.mul(w).add(x)
      outs = [
        { name: 's_next', tensor: s2 },
        { name: 'last_next', tensor: x.mul(1) },
        { name: 'y', tensor: s2.add(1) },
      ]
    })
    const lowered = lower({ outputs: outs })
    const model = scanSteps(lowered.model, {
      steps: 3,
      carried: [
        { input: 's', output: 's_next', init: 's0', final: 's3' },
        { input: 'last', output: 'last_next', init: 'last0', final: 'last3' },
      ],
      scanned: [{ input: 'x', outer: 'xs' }],
      stacked: [{ output: 'y', outer: 'ys' }],
    })
    expect(model.graph.input.map((v) => v.name)).toEqual(['s0', 'last0', 'xs', 'w'])
    expect(model.graph.output.map((v) => v.name)).toEqual(['s3', 'last3', 'ys'])
    const session = await rt.session('scan-test', () => encodeModel(model))
    const f = (d: number[], shape: number[]) => ortTensor({ data: Float32Array.from(d), shape, dtype: 'float32' })
    const r = await session.run({ s0: f([1, 2], [2]), last0: f([0, 0], [2]), xs: f([1, 0, 2, 0, 3, 0], [3, 2]), w: f([2, 3], [2]) })
    // s: [1,2] -> [3,6] -> [8,18] -> [19,54]
    expect(Array.from(r['s3']!.data as Float32Array)).toEqual([19, 54])
    expect(Array.from(r['last3']!.data as Float32Array)).toEqual([3, 0])
    expect(Array.from(r['ys']!.data as Float32Array)).toEqual([4, 7, 9, 19, 20, 55])
    expect(r['ys']!.dims).toEqual([3, 2])
  })

  it('a name the plan needs but the graph lacks is an internal error naming it', () => {
    const g = new Graph()
    let t: Tensor | null = null
    withGraph(g, () => {
      t = g.input('a', [1]).mul(2)
    })
    const lowered = lower({ outputs: [{ name: 'b', tensor: t! }] })
    expect(() => scanSteps(lowered.model, { steps: 2, carried: [], scanned: [{ input: 'nope', outer: 'nopes' }], stacked: [] })).toThrow(/no input "nope"/)
  })
})
