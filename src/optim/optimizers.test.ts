import { describe, expect, it } from 'vitest'
import { Graph, Parameter, withGraph, type Tensor } from '../graph/graph.js'
import { lower } from '../onnx/lower.js'
import { Rng } from '../runtime/rng.js'
import { Runtime, ortTensor } from '../runtime/session.js'
import { emitUpdates, resolveGroups, stateKeys, stepScalars, PACK_MAX_NUMEL, type OptimizerConfig } from './optimizers.js'

const rt = new Runtime({ threads: 1 })

// one parameter above the packing limit, small ones with and without weight decay, and a group of
// their own for two of them (another learning rate)
const shapes: Record<string, { shape: number[]; decay: boolean }> = {
  'big.weight': { shape: [200, 100], decay: true },
  'big.bias': { shape: [200], decay: false },
  'small.weight': { shape: [20, 30], decay: true },
  'norm.weight': { shape: [100], decay: false },
  'norm.bias': { shape: [100], decay: false },
  'head.weight': { shape: [4, 100], decay: true },
  'head.bias': { shape: [4], decay: false },
}

/** One update of every parameter from random values, gradients and state, with packing up to `packMax` values. */
async function run(c: OptimizerConfig, packMax: number): Promise<{ values: Record<string, Float32Array>; ops: Record<string, number> }> {
  const rng = new Rng(7)
  const params = Object.entries(shapes).map(([name, s]) => {
    const p = new Parameter(s.shape, { decay: s.decay, data: Float32Array.from({ length: s.shape.reduce((a, b) => a * b, 1) }, () => rng.normal()) })
    p.name = name
    return p
  })
  const groups = resolveGroups(c, params)
  const g = new Graph()
  const feeds: Record<string, ReturnType<typeof ortTensor>> = {}
  // each input's values depend on its name only (packing asks for the state in another order)
  const host = (name: string, shape: number[], positive = false): void => {
    const rng = new Rng([...name].reduce((h, ch) => (h * 31 + ch.charCodeAt(0)) >>> 0, 1))
    const data = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => (positive ? Math.abs(rng.normal()) : rng.normal()))
    feeds[name] = ortTensor({ data, shape, dtype: 'float32' })
  }
  const outs = withGraph(g, () => {
    const grads = new Map<Parameter, Tensor>()
    for (const p of params) {
      feeds[p.name] = ortTensor({ data: p.data, shape: [...p.shape], dtype: 'float32' })
      host(`grad.${p.name}`, [...p.shape])
      grads.set(p, g.input(`grad.${p.name}`, p.shape))
    }
    const state = (key: string, p: Parameter): Tensor => {
      host(key, [...p.shape], key.endsWith('exp_avg_sq'))
      return g.input(key, p.shape)
    }
    const scalars = stepScalars(c, groups, groups.map((gr) => gr.lr), 3)
    const inputs = new Map<string, Tensor>()
    const scalar = (name: string): Tensor => {
      feeds[name] = ortTensor({ data: Float32Array.of(scalars[name]!), shape: [], dtype: 'float32' })
      if (!inputs.has(name)) inputs.set(name, g.input(name, []))
      return inputs.get(name)!
    }
    const u = emitUpdates(g, c, groups, grads, state, scalar, { packMaxNumel: packMax })
    return [...[...u.params].map(([p, t]) => ({ name: `upd.${p.name}`, tensor: t })), ...[...u.state].map(([k, t]) => ({ name: `new.${k}`, tensor: t }))]
  })
  const lowered = lower({ outputs: outs })
  const ops: Record<string, number> = {}
  for (const n of lowered.model.graph.node) ops[n.opType] = (ops[n.opType] ?? 0) + 1
  const s = await rt.session(`optim-pack-${c.kind}-${packMax}-${JSON.stringify(c)}`, () => lowered.bytes())
  const res = await s.run(feeds as never)
  const values: Record<string, Float32Array> = {}
  for (const o of outs) values[o.name] = (res as Record<string, { data: Float32Array }>)[o.name]!.data
  return { values, ops }
}

describe('small parameters are updated packed', () => {
  // the small parameters form one pack per (group, decay): with the norm group, three packs
  const configs: [OptimizerConfig, number][] = [
    [{ kind: 'adamw', lr: 1e-2, weightDecay: 0.1, groups: [{ match: 'norm', lr: 3e-2 }] }, 3],
    [{ kind: 'adam', lr: 1e-2, weightDecay: 0.1 }, 2],
    [{ kind: 'sgd', lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 0.01 }, 2],
  ]
  for (const [c, packs] of configs) {
    it(`${c.kind}: the same values as one update per parameter, in fewer ops`, async () => {
      const one = await run(c, 0)
      const packed = await run(c, PACK_MAX_NUMEL)
      const params = Object.keys(shapes)
      // every parameter and every state buffer comes out, bit for bit as unpacked (elementwise ops)
      expect(Object.keys(packed.values).sort()).toEqual(Object.keys(one.values).sort())
      expect(Object.keys(packed.values)).toHaveLength(params.length * (1 + stateKeys(c, new Parameter([1])).length))
      for (const [k, v] of Object.entries(one.values)) expect(Array.from(packed.values[k]!), k).toEqual(Array.from(v))
      // one update per parameter against one per pack plus the large parameter's own
      const opsPerUpdate = one.ops['Sub']! / params.length
      expect(packed.ops['Sub']).toBe(opsPerUpdate * (packs + 1))
      expect(packed.ops['Concat']).toBeGreaterThan(0)
      expect(packed.ops['Split']).toBeGreaterThan(0)
      expect(one.ops['Concat'] ?? 0).toBe(0)
    })
  }
})
