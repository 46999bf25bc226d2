/** The benchmark cases: each builds a model and times finetune's training step on it. */
import '../src/runtime/ort-node.js'
import { Parameter, type Tensor } from '../src/graph/graph.js'
import { Module } from '../src/graph/module.js'
import * as nn from '../src/graph/nn.js'
import { BatchNorm2d, Conv2d, Linear, Rng } from '../src/models/layers.js'
import { TransformerBlock } from '../src/models/transformer-block.js'
import { Runtime, type HostTensor } from '../src/runtime/session.js'
import { TrainSession, type ForwardFn } from '../src/train/step.js'

export interface BenchContext {
  steps: number
  warmup: number
  median: (a: number[]) => number
}

export interface BenchCase {
  /** Name of the matching case in bench/torch_bench.py (defaults to the same). */
  torchCase?: string
  run(ctx: BenchContext): Promise<{ ms: number; extra?: Record<string, unknown> }>
}

function randn(n: number, rng: Rng): Float32Array {
  const a = new Float32Array(n)
  for (let i = 0; i < n; i++) a[i] = rng.normal()
  return a
}

async function timeSteps(session: TrainSession, batch: Record<string, HostTensor>, ctx: BenchContext): Promise<{ ms: number; extra: Record<string, unknown> }> {
  const times: number[] = []
  let loss = NaN
  const t0 = performance.now()
  for (let i = 0; i < ctx.warmup + ctx.steps; i++) {
    const t = performance.now()
    loss = (await session.trainStep(batch)).loss
    times.push(performance.now() - t)
    if (i === 0) console.error(`[bench] first step (graph build + session) ${(performance.now() - t0).toFixed(0)} ms`)
  }
  return { ms: ctx.median(times.slice(ctx.warmup)), extra: { finetune_loss: loss } }
}

class ConvBlock extends Module {
  conv1: Conv2d
  bn1: BatchNorm2d
  conv2: Conv2d
  bn2: BatchNorm2d
  fc: Linear
  constructor(c: number, classes: number, rng: Rng) {
    super()
    this.conv1 = new Conv2d(c, c, 3, rng, { padding: 1, bias: false })
    this.bn1 = new BatchNorm2d(c)
    this.conv2 = new Conv2d(c, c, 3, rng, { padding: 1, bias: false })
    this.bn2 = new BatchNorm2d(c)
    this.fc = new Linear(c, classes, rng)
  }
  forward(x: Tensor): Tensor {
    const y = this.bn1.forward(this.conv1.forward(x)).relu()
    const z = this.bn2.forward(this.conv2.forward(y)).add(x).relu()
    return this.fc.forward(nn.globalAvgPool(z))
  }
}

const adamw = { kind: 'adamw' as const, lr: 1e-4, weightDecay: 0.01 }

/** Lets bench/profile.ts swap in a profiling runtime and flush the profile at the end. */
export const profileHooks: { runtime: () => Runtime; end?: () => Promise<void> } = { runtime: () => new Runtime(process.env['FINETUNE_DUMP'] ? { dumpOptimizedTo: process.env['FINETUNE_DUMP'] } : {}) }
let lastSession: TrainSession | null = null
const newSession = (o: Omit<ConstructorParameters<typeof TrainSession>[0], 'runtime'>): TrainSession => {
  lastSession = new TrainSession({ ...o, runtime: profileHooks.runtime() })
  profileHooks.end = async () => {
    const s = lastSession as unknown as { runtime: Runtime }
    await s.runtime.endProfiling()
  }
  return lastSession
}

export const cases: Record<string, BenchCase> = {
  'transformer-block': {
    async run(ctx) {
      const rng = new Rng(0)
      const model = new TransformerBlock({ hidden: 256, heads: 4, ffn: 1024 }, rng)
      const forward: ForwardFn = (i) => ({ loss: nn.mse(model.forward(i['x']!), i['t']!) })
      const session = newSession({ model, forward, optimizer: adamw })
      const shape = [16, 64, 256]
      const batch: Record<string, HostTensor> = { x: { data: randn(16 * 64 * 256, rng), shape, dtype: 'float32' }, t: { data: randn(16 * 64 * 256, rng), shape, dtype: 'float32' } }
      return timeSteps(session, batch, ctx)
    },
  },
  'conv-block': {
    async run(ctx) {
      const rng = new Rng(0)
      const model = new ConvBlock(64, 10, rng)
      const forward: ForwardFn = (i) => ({ loss: nn.crossEntropy(model.forward(i['x']!), i['y']!) })
      const session = newSession({ model, forward, optimizer: adamw })
      const batch: Record<string, HostTensor> = {
        x: { data: randn(16 * 64 * 64 * 64, rng), shape: [16, 64, 64, 64], dtype: 'float32' },
        y: { data: BigInt64Array.from({ length: 16 }, (_, i) => BigInt(i % 10)), shape: [16], dtype: 'int64' },
      }
      return timeSteps(session, batch, ctx)
    },
  },
}

export { Parameter }
