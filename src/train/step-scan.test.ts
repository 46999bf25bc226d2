import { describe, expect, it } from 'vitest'
import type { Tensor } from '../graph/graph.js'
import { Module } from '../graph/module.js'
import * as nn from '../graph/nn.js'
import { BatchNorm2d, Conv2d, Linear, MLP, Rng } from '../models/layers.js'
import { ctcLoss } from '../graph/ctc.js'
import { TransformerBlock } from '../models/transformer-block.js'
import type { OptimizerConfig } from '../optim/optimizers.js'
import { Runtime, type HostTensor } from '../runtime/session.js'
import { TrainSession, hostF32, hostI64, type ForwardFn, type StepResult } from './step.js'

const rt = new Runtime({ threads: 1 })

class ConvBn extends Module {
  conv: Conv2d
  bn: BatchNorm2d
  fc: Linear
  constructor(rng: Rng) {
    super()
    this.conv = new Conv2d(3, 4, 3, rng, { padding: 1, bias: false })
    this.bn = new BatchNorm2d(4)
    this.fc = new Linear(4, 3, rng)
  }
  forward(x: Tensor): Tensor {
    return this.fc.forward(nn.globalAvgPool(nn.dropout(this.bn.forward(this.conv.forward(x)).relu(), 0.2)))
  }
}

interface Setup {
  model: Module
  forward: ForwardFn
  batch: (k: number) => Record<string, HostTensor>
}

function mlp(): Setup {
  const m = new MLP([6, 16, 16, 3], new Rng(9))
  return {
    model: m,
    forward: (i) => ({ loss: nn.crossEntropy(nn.dropout(m.forward(i['x']!), 0.1), i['y']!), outputs: { logits: m.forward(i['x']!) } }),
    batch: (k) => {
      const r = new Rng(100 + k)
      return { x: hostF32(Array.from({ length: 8 * 6 }, () => r.normal()), [8, 6]), y: hostI64(Array.from({ length: 8 }, (_, j) => (j + k) % 3), [8]) }
    },
  }
}

function convBn(): Setup {
  const m = new ConvBn(new Rng(4))
  return {
    model: m,
    forward: (i) => ({ loss: nn.crossEntropy(m.forward(i['x']!), i['y']!) }),
    batch: (k) => {
      const r = new Rng(200 + k)
      return { x: hostF32(Array.from({ length: 4 * 3 * 5 * 5 }, () => r.normal()), [4, 3, 5, 5]), y: hostI64([0, 1, 2, k % 3], [4]) }
    },
  }
}

function block(): Setup {
  const rng = new Rng(5)
  const m = new TransformerBlock({ hidden: 16, heads: 2, ffn: 32, dropout: 0.1 }, rng)
  return {
    model: m,
    forward: (i) => ({ loss: nn.mse(m.forward(i['x']!), i['t']!) }),
    batch: (k) => {
      const r = new Rng(300 + k)
      const n = 2 * 5 * 16
      return { x: hostF32(Array.from({ length: n }, () => r.normal()), [2, 5, 16]), t: hostF32(Array.from({ length: n }, () => r.normal()), [2, 5, 16]) }
    },
  }
}

/** A per-frame classifier with CTC's loss: its recursions are Scans inside the Scan of steps. */
function ctc(): Setup {
  const m = new MLP([4, 8, 5], new Rng(6))
  return {
    model: m,
    forward: (i) => ({ loss: ctcLoss(m.forward(i['x']!).logSoftmax(-1), i['t']!, i['il']!, i['tl']!) }),
    batch: (k) => {
      const r = new Rng(400 + k)
      return { x: hostF32(Array.from({ length: 2 * 7 * 4 }, () => r.normal()), [2, 7, 4]), t: hostI64([1, 2, 2, 3 + (k % 2), 4, 0], [2, 3]), il: hostI64([7, 5], [2]), tl: hostI64([3, 2], [2]) }
    },
  }
}

const adamw: OptimizerConfig = { kind: 'adamw', lr: 0.01, weightDecay: 0.1 }
const lrs = [1, 0.9, 0.5, 0.25, 0.125, 0.1]

/** Runs `steps` updates both ways on two copies of the same model; returns results and both sessions. */
async function bothWays(make: () => Setup, opt: OptimizerConfig, chunks: readonly number[], freeze?: (m: Module) => void): Promise<{ one: TrainSession; many: TrainSession; r1: StepResult[]; rk: StepResult[] }> {
  const a = make()
  const b = make()
  freeze?.(a.model)
  freeze?.(b.model)
  const one = new TrainSession({ runtime: rt, model: a.model, forward: a.forward, optimizer: opt, clipNorm: 0.5, seed: 7 })
  const many = new TrainSession({ runtime: rt, model: b.model, forward: b.forward, optimizer: opt, clipNorm: 0.5, seed: 7 })
  const total = chunks.reduce((x, y) => x + y, 0)
  const r1: StepResult[] = []
  for (let k = 0; k < total; k++) r1.push(await one.trainStep(a.batch(k), lrs[k]!))
  const rk: StepResult[] = []
  let at = 0
  for (const K of chunks) {
    const ks = Array.from({ length: K }, (_, j) => at + j)
    rk.push(...(await many.trainSteps(ks.map((k) => b.batch(k)), ks.map((k) => lrs[k]!))))
    at += K
  }
  return { one, many, r1, rk }
}

async function expectSameState(one: TrainSession, many: TrainSession, tol: number): Promise<void> {
  const s1 = await one.exportState()
  const sk = await many.exportState()
  expect(Object.keys(sk.tensors).sort()).toEqual(Object.keys(s1.tensors).sort())
  for (const [k, t] of Object.entries(s1.tensors)) {
    const u = sk.tensors[k]!.data
    let worst = 0
    t.data.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - u[i]!) / Math.max(1, Math.abs(v)))))
    expect(worst, k).toBeLessThanOrEqual(tol)
  }
  expect(sk.step).toBe(s1.step)
  expect(sk.randomCounter).toBe(s1.randomCounter)
}

function expectSameResults(r1: StepResult[], rk: StepResult[], tol: number): void {
  expect(rk.length).toBe(r1.length)
  r1.forEach((r, k) => {
    expect(Math.abs(rk[k]!.loss - r.loss), `loss ${k}`).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(r.loss)))
    expect(Math.abs(rk[k]!.gradNorm! - r.gradNorm!), `grad norm ${k}`).toBeLessThanOrEqual(tol * Math.max(1, r.gradNorm!))
    expect(rk[k]!.updated).toBe(true)
    for (const [n, t] of Object.entries(r.outputs)) {
      const u = rk[k]!.outputs[n]!
      expect(u.shape).toEqual(t.shape)
      ;(t.data as Float32Array).forEach((v, i) => expect(Math.abs((u.data as Float32Array)[i]! - v), `${n}[${i}] step ${k}`).toBeLessThanOrEqual(tol))
    }
  })
}

// Tolerance: none. The Scan body runs the same kernels on the same values in the same order (one
// thread), so K steps in one call are bit-identical to K single steps; resume exactness relies on it.
const TOL = 0

describe('K training steps in one runtime call (Scan) equal K single steps', () => {
  it('MLP with AdamW, gradient clipping, dropout and a per-step learning rate: losses, norms, outputs, parameters and moments', async () => {
    const { one, many, r1, rk } = await bothWays(mlp, adamw, [4, 2])
    expectSameResults(r1, rk, TOL)
    await expectSameState(one, many, TOL)
    // the learning rates differed per step and dropout drew a new mask each step
    expect(new Set(r1.map((r) => r.loss)).size).toBe(6)
    expect(many.compiledGraphs).toBe(2)
  })

  it('SGD with momentum and a Conv + BatchNorm model: running statistics are carried through the steps', async () => {
    const { one, many, r1, rk } = await bothWays(convBn, { kind: 'sgd', lr: 0.1, momentum: 0.9, weightDecay: 1e-3 }, [3])
    expectSameResults(r1, rk, TOL)
    await expectSameState(one, many, TOL)
    const mean = (many.model as ConvBn).bn.running_mean.data
    expect(Array.from(mean).some((v) => v !== 0)).toBe(true)
  })

  it('a transformer block with attention dropout and Adam', async () => {
    const { one, many, r1, rk } = await bothWays(block, { kind: 'adam', lr: 0.003 }, [5])
    expectSameResults(r1, rk, 0)
    await expectSameState(one, many, 0)
  })

  it("CTC's loss (a Scan over frames inside the Scan of steps)", async () => {
    const { one, many, r1, rk } = await bothWays(ctc, adamw, [2, 3])
    expectSameResults(r1, rk, 0)
    await expectSameState(one, many, 0)
  })

  it('frozen parameters stay bit-identical and get no optimizer state', async () => {
    const freeze = (m: Module): void => {
      for (const p of (m as MLP).layers[0]!.parameters()) p.requiresGrad = false
    }
    const a = mlp()
    freeze(a.model)
    const before = (a.model as MLP).layers[0]!.parameters().map((p) => p.data.slice())
    const { one, many, r1, rk } = await bothWays(mlp, adamw, [3], freeze)
    expectSameResults(r1, rk, TOL)
    await expectSameState(one, many, TOL)
    const after = (many.model as MLP).layers[0]!.parameters()
    after.forEach((p, i) => expect(Array.from(p.data)).toEqual(Array.from(before[i]!)))
    expect(many.optimizerStateKeys().some((k) => k.includes('layers.0'))).toBe(false)
    expect([...many.state.buffers.keys()].some((k) => k.includes('layers.0'))).toBe(false)
  })

  it('updated state is taken as returned: each run replaces the buffers and never writes into the old ones', async () => {
    const s = mlp()
    const t = new TrainSession({ runtime: rt, model: s.model, forward: s.forward, optimizer: adamw })
    const p = s.model.parameters()[0]!
    await t.trainSteps([s.batch(0), s.batch(1)], [1, 1])
    const written = p.data
    const before = written.slice()
    const moment = [...t.state.buffers.values()][0]!
    const momentBefore = moment.slice()
    await t.trainSteps([s.batch(2), s.batch(3)], [1, 1])
    // no preallocated outputs (onnxruntime-node's kernels write slower into JS-owned buffers)
    expect(p.data).not.toBe(written)
    expect(Array.from(p.data)).not.toEqual(Array.from(before))
    expect(Array.from(written)).toEqual(Array.from(before))
    expect([...t.state.buffers.values()][0]!).not.toBe(moment)
    expect(Array.from(moment)).toEqual(Array.from(momentBefore))
  })

  it('errors: batches of different shapes in one run, and gradient accumulation', async () => {
    const s = mlp()
    const t = new TrainSession({ runtime: rt, model: s.model, forward: s.forward, optimizer: adamw })
    const short = { x: hostF32(new Float32Array(4 * 6), [4, 6]), y: hostI64([0, 1, 2, 0], [4]) }
    await expect(t.trainSteps([s.batch(0), short], [1, 1])).rejects.toThrow(/batch 1 of a 2-step run has other input shapes/)
    const acc = new TrainSession({ runtime: rt, model: s.model, forward: s.forward, optimizer: adamw, accumulation: 2 })
    await expect(acc.trainSteps([s.batch(0), s.batch(1)], [1, 1])).rejects.toMatchObject({ code: 'CONFIG_STEPS_PER_RUN' })
  })
})
