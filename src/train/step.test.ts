import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { Parameter, type Tensor } from '../graph/graph.js'
import { Module } from '../graph/module.js'
import * as nn from '../graph/nn.js'
import { BatchNorm2d, Conv2d, Linear, MLP, Rng } from '../models/layers.js'
import { TransformerBlock } from '../models/transformer-block.js'
import { lrFactor, type Schedule } from '../optim/schedules.js'
import type { OptimizerConfig } from '../optim/optimizers.js'
import { Runtime, type HostTensor } from '../runtime/session.js'
import { TrainSession, hostF32, hostI64, type ForwardFn } from './step.js'

const rt = new Runtime({ threads: 1 })
const golden = JSON.parse(readFileSync(new URL('../../test/golden/optim.json', import.meta.url), 'utf8')) as {
  init: Record<string, number[]>
  x: number[]
  y: number[]
  cases: Record<string, { config: OptimizerConfig & { clipNorm?: number; accumulation?: number }; losses: number[]; gradNorms: number[]; params: Record<string, number[]> }>
  schedules: Record<string, { warmup?: number; total: number; factors: number[] }>
}

class Tiny extends Module {
  w1 = new Parameter([5, 4], { data: Float32Array.from(golden.init['w1']!) })
  b1 = new Parameter([5], { data: Float32Array.from(golden.init['b1']!), decay: false })
  w2 = new Parameter([3, 5], { data: Float32Array.from(golden.init['w2']!) })
  b2 = new Parameter([3], { data: Float32Array.from(golden.init['b2']!), decay: false })
  forward(x: Tensor): Tensor {
    return nn.linear(nn.linear(x, this.w1, this.b1).tanh(), this.w2, this.b2)
  }
}

function classification(n: number, dims: number, classes: number, seed: number): { x: HostTensor; y: HostTensor } {
  const rng = new Rng(seed)
  const x = new Float32Array(n * dims)
  const y: number[] = []
  for (let i = 0; i < n; i++) {
    const c = i % classes
    y.push(c)
    for (let j = 0; j < dims; j++) x[i * dims + j] = rng.normal() * 0.5 + (j % classes === c ? 1.5 : 0)
  }
  return { x: hostF32(x, [n, dims]), y: hostI64(y, [n]) }
}

describe('optimizers match torch.optim step for step', () => {
  for (const [name, c] of Object.entries(golden.cases)) {
    it(`${name}: losses and final parameters (tolerance 1e-5 relative)`, async () => {
      const m = new Tiny()
      const { clipNorm, accumulation, ...opt } = c.config
      const forward: ForwardFn = (i) => ({ loss: nn.crossEntropy(m.forward(i['x']!), i['y']!) })
      const s = new TrainSession({ runtime: rt, model: m, forward, optimizer: opt, ...(clipNorm ? { clipNorm } : {}), ...(accumulation ? { accumulation } : {}) })
      const k = accumulation ?? 1
      const rows = golden.y.length / k
      const losses: number[] = []
      const norms: number[] = []
      for (let step = 0; step < 4; step++) {
        let total = 0
        for (let j = 0; j < k; j++) {
          const r = await s.trainStep({ x: hostF32(golden.x.slice(j * rows * 4, (j + 1) * rows * 4), [rows, 4]), y: hostI64(golden.y.slice(j * rows, (j + 1) * rows), [rows]) })
          total += r.loss / k
          if (r.updated && clipNorm) norms.push(r.gradNorm!)
        }
        losses.push(total)
      }
      losses.forEach((l, i) => expect(l).toBeCloseTo(c.losses[i]!, 5))
      norms.forEach((v, i) => expect(v).toBeCloseTo(c.gradNorms[i]!, 5))
      for (const [pn, want] of Object.entries(c.params)) {
        const got = (m as unknown as Record<string, Parameter>)[pn]!.data
        const scale = Math.max(...want.map(Math.abs))
        want.forEach((v, i) => expect(Math.abs(got[i]! - v) / scale, `${pn}[${i}]`).toBeLessThan(1e-5))
      }
      expect(s.step).toBe(4)
    })
  }
})

describe('learning-rate schedules', () => {
  it('linear and cosine warm-up match HF, one-cycle matches torch OneCycleLR', () => {
    const cases: [string, Schedule][] = [
      ['linear', { kind: 'linear', warmupSteps: 3 }],
      ['cosine', { kind: 'cosine', warmupSteps: 3 }],
      ['one-cycle', { kind: 'one-cycle' }],
    ]
    for (const [name, s] of cases) {
      const g = golden.schedules[name]!
      g.factors.forEach((f, i) => expect(lrFactor(s, i, g.total), `${name} step ${i}`).toBeCloseTo(f, 6))
    }
  })
})

describe('training', () => {
  it('an MLP over-fits a small classification set', async () => {
    const rng = new Rng(3)
    const m = new MLP([6, 32, 3], rng)
    const { x, y } = classification(48, 6, 3, 1)
    const s = new TrainSession({ runtime: rt, model: m, optimizer: { kind: 'adamw', lr: 0.02 }, forward: (i) => ({ loss: nn.crossEntropy(m.forward(i['x']!), i['y']!) }) })
    const first = (await s.trainStep({ x, y })).loss
    let last = first
    for (let i = 0; i < 150; i++) last = (await s.trainStep({ x, y })).loss
    expect(first).toBeGreaterThan(0.8)
    expect(last).toBeLessThan(0.02)
  })

  it('more input shapes than the runtime keeps sessions for: released ones are compiled again', async () => {
    const small = new Runtime({ threads: 1, maxSessions: 2 })
    const m = new MLP([6, 8, 3], new Rng(5))
    const s = new TrainSession({ runtime: small, model: m, optimizer: { kind: 'sgd', lr: 0.01 }, forward: (i) => ({ loss: nn.crossEntropy(m.forward(i['x']!), i['y']!) }) })
    for (const round of [0, 1])
      for (const n of [4, 5, 6]) {
        const { x, y } = classification(n, 6, 3, round * 10 + n)
        expect(Number.isFinite((await s.trainStep({ x, y })).loss)).toBe(true)
      }
    expect(small.cachedSessions).toBeLessThanOrEqual(2)
    await small.dispose()
  })

  it('a transformer block over-fits a regression target', async () => {
    const rng = new Rng(5)
    const m = new TransformerBlock({ hidden: 16, heads: 2, ffn: 32 }, rng)
    const n = 4 * 6 * 16
    const x = new Float32Array(n).map(() => rng.normal())
    const t = new Float32Array(n).map(() => rng.normal())
    const batch = { x: hostF32(x, [4, 6, 16]), t: hostF32(t, [4, 6, 16]) }
    const s = new TrainSession({ runtime: rt, model: m, optimizer: { kind: 'adam', lr: 0.01 }, forward: (i) => ({ loss: nn.mse(m.forward(i['x']!), i['t']!) }) })
    const first = (await s.trainStep(batch)).loss
    let last = first
    for (let i = 0; i < 300; i++) last = (await s.trainStep(batch)).loss
    expect(last).toBeLessThan(first * 0.05)
  })

  it('frozen parameters come out of training bit-identical and get no optimizer state', async () => {
    const rng = new Rng(9)
    const m = new MLP([6, 16, 16, 3], rng)
    const frozen = m.layers[0]!
    frozen.requiresGrad(false)
    const before = frozen.parameters().map((p) => p.data.slice())
    const trainable = m.layers[2]!.weight.data.slice()
    const { x, y } = classification(24, 6, 3, 2)
    const s = new TrainSession({ runtime: rt, model: m, optimizer: { kind: 'adamw', lr: 0.01 }, forward: (i) => ({ loss: nn.crossEntropy(m.forward(i['x']!), i['y']!) }) })
    for (let i = 0; i < 10; i++) await s.trainStep({ x, y })
    frozen.parameters().forEach((p, i) => expect(Buffer.from(p.data.buffer).equals(Buffer.from(before[i]!.buffer))).toBe(true))
    expect(Array.from(m.layers[2]!.weight.data)).not.toEqual(Array.from(trainable))
    expect(s.optimizerStateKeys().some((k) => k.includes('layers.0.'))).toBe(false)
    expect(m.countParameters(true)).toBe(m.countParameters() - (6 * 16 + 16))
  })

  it('a saved and restored run continues with the same losses as an uninterrupted one (with dropout)', async () => {
    const make = () => {
      const rng = new Rng(11)
      const m = new TransformerBlock({ hidden: 16, heads: 2, ffn: 32, dropout: 0.1 }, rng)
      const forward: ForwardFn = (i) => ({ loss: nn.mse(m.forward(i['x']!), i['t']!) })
      return { m, s: new TrainSession({ runtime: rt, model: m, optimizer: { kind: 'adamw', lr: 0.01 }, forward, seed: 123 }) }
    }
    const rng = new Rng(1)
    const batch = { x: hostF32(new Float32Array(2 * 5 * 16).map(() => rng.normal()), [2, 5, 16]), t: hostF32(new Float32Array(2 * 5 * 16).map(() => rng.normal()), [2, 5, 16]) }
    const a = make()
    const all: number[] = []
    for (let i = 0; i < 8; i++) all.push((await a.s.trainStep(batch)).loss)
    const b = make()
    for (let i = 0; i < 4; i++) await b.s.trainStep(batch)
    const saved = JSON.parse(JSON.stringify(await b.s.exportState(), (_k, v) => (v instanceof Float32Array ? Array.from(v) : v)))
    for (const t of Object.values(saved.tensors) as { data: number[] | Float32Array }[]) t.data = Float32Array.from(t.data as number[])
    const c = make()
    c.s.importState(saved)
    const resumed: number[] = []
    for (let i = 0; i < 4; i++) resumed.push((await c.s.trainStep(batch)).loss)
    expect(resumed).toEqual(all.slice(4))
    // dropout was active: different steps saw different masks
    expect(new Set(all).size).toBe(all.length)
  })

  it('gradient accumulation over two halves equals one full batch', async () => {
    const run = async (k: number) => {
      const m = new MLP([6, 8, 3], new Rng(4))
      const { x, y } = classification(8, 6, 3, 6)
      const s = new TrainSession({ runtime: rt, model: m, optimizer: { kind: 'sgd', lr: 0.5 }, accumulation: k, forward: (i) => ({ loss: nn.crossEntropy(m.forward(i['x']!), i['y']!) }) })
      const xs = x.data as Float32Array
      const ys = y.data as BigInt64Array
      const rows = 8 / k
      for (let step = 0; step < 3; step++)
        for (let j = 0; j < k; j++) await s.trainStep({ x: { data: xs.slice(j * rows * 6, (j + 1) * rows * 6), shape: [rows, 6], dtype: 'float32' }, y: { data: ys.slice(j * rows, (j + 1) * rows), shape: [rows], dtype: 'int64' } })
      return { w: m.layers[0]!.weight.data, steps: s.step }
    }
    const one = await run(1)
    const two = await run(2)
    expect(two.steps).toBe(3)
    one.w.forEach((v, i) => expect(two.w[i]!).toBeCloseTo(v, 5))
  })

  it('BatchNorm updates running statistics in training graphs and uses them in evaluation', async () => {
    class Net extends Module {
      conv = new Conv2d(2, 3, 3, new Rng(1), { padding: 1 })
      bn = new BatchNorm2d(3)
      fc = new Linear(3, 2, new Rng(2))
      forward(x: Tensor): Tensor {
        return this.fc.forward(nn.globalAvgPool(this.bn.forward(this.conv.forward(x)).relu()))
      }
    }
    const m = new Net()
    const rng = new Rng(8)
    const x = hostF32(new Float32Array(4 * 2 * 5 * 5).map(() => rng.normal() * 2 + 1), [4, 2, 5, 5])
    const y = hostI64([0, 1, 0, 1], [4])
    const s = new TrainSession({ runtime: rt, model: m, optimizer: { kind: 'sgd', lr: 0.01 }, forward: (i) => ({ loss: nn.crossEntropy(m.forward(i['x']!), i['y']!), outputs: { logits: m.forward(i['x']!) } }) })
    await s.trainStep({ x, y })
    expect(Array.from(m.bn.running_mean.data).some((v) => v !== 0)).toBe(true)
    expect(m.bn.num_batches_tracked.data[0]).toBe(1)
    const rm = m.bn.running_mean.data.slice()
    const e1 = await s.evaluate({ x, y })
    const e2 = await s.evaluate({ x, y })
    expect(Array.from(m.bn.running_mean.data)).toEqual(Array.from(rm))
    expect(Array.from(e1.outputs['logits']!.data as Float32Array)).toEqual(Array.from(e2.outputs['logits']!.data as Float32Array))
    // frozen statistics: training no longer changes them
    m.bn.freezeStats()
    await s.trainStep({ x, y })
    expect(Array.from(m.bn.running_mean.data)).toEqual(Array.from(rm))
  })

  it('dropout masks depend on the seed and the step, and evaluation disables dropout', async () => {
    const run = async (seed: number) => {
      const m = new MLP([4, 64, 2], new Rng(1))
      const forward: ForwardFn = (i) => ({ loss: nn.dropout(m.forward(i['x']!), 0.5).square().mean(), outputs: { y: nn.dropout(i['x']!, 0.5) } })
      const s = new TrainSession({ runtime: rt, model: m, optimizer: { kind: 'sgd', lr: 0 }, forward, seed })
      const x = hostF32(new Float32Array(32 * 4).fill(1), [32, 4])
      const a = await s.trainStep({ x })
      const b = await s.trainStep({ x })
      const e = await s.evaluate({ x })
      return { a: Array.from(a.outputs['y']!.data as Float32Array), b: Array.from(b.outputs['y']!.data as Float32Array), e: Array.from(e.outputs['y']!.data as Float32Array) }
    }
    const r1 = await run(1)
    const r1again = await run(1)
    const r2 = await run(2)
    expect(r1.a).toEqual(r1again.a)
    expect(r1.a).not.toEqual(r1.b)
    expect(r1.a).not.toEqual(r2.a)
    const kept = r1.a.filter((v) => v !== 0)
    expect(kept.every((v) => Math.abs(v - 2) < 1e-6)).toBe(true)
    expect(kept.length / r1.a.length).toBeGreaterThan(0.35)
    expect(kept.length / r1.a.length).toBeLessThan(0.65)
    expect(r1.e.every((v) => v === 1)).toBe(true)
  })

  it('one graph per input shape: a new batch shape compiles once, a repeated one reuses it', async () => {
    const m = new MLP([3, 4, 2], new Rng(1))
    const s = new TrainSession({ runtime: rt, model: m, optimizer: { kind: 'sgd', lr: 0.1 }, forward: (i) => ({ loss: nn.crossEntropy(m.forward(i['x']!), i['y']!) }) })
    const b = (n: number) => ({ x: hostF32(new Float32Array(n * 3).fill(0.5), [n, 3]), y: hostI64(new Array(n).fill(1), [n]) })
    await s.trainStep(b(4))
    await s.trainStep(b(8))
    await s.trainStep(b(4))
    await s.trainStep(b(8))
    expect(s.compiledGraphs).toBe(2)
  })

  it('errors: nothing trainable, and a batch with the wrong dtype', async () => {
    const m = new MLP([3, 2], new Rng(1)).requiresGrad(false)
    const s = new TrainSession({ runtime: rt, model: m, optimizer: { kind: 'sgd', lr: 0.1 }, forward: (i) => ({ loss: nn.crossEntropy(m.forward(i['x']!), i['y']!) }) })
    await expect(s.trainStep({ x: hostF32([1, 2, 3], [1, 3]), y: hostI64([0], [1]) })).rejects.toThrow(/nothing to train/)
    const m2 = new MLP([3, 2], new Rng(1))
    const s2 = new TrainSession({ runtime: rt, model: m2, optimizer: { kind: 'sgd', lr: 0.1 }, forward: (i) => ({ loss: nn.crossEntropy(m2.forward(i['x']!), i['y']!) }) })
    await expect(s2.trainStep({ x: hostF32([1, 2, 3], [1, 3]), y: hostF32([0], [1]) })).rejects.toThrow(/targets must be int64/)
  })
})
