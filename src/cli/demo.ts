/**
 * `finetune demo`: trains a small transformer block on a synthetic sequence task (each position
 * learns a fixed linear map of its neighbours) and prints the loss curve. Built-in data, no files.
 */
import { hostF32, MLP, Module, nn, Rng, Runtime, TrainSession, TransformerBlock, type Tensor } from '../index.js'
import { command } from './command.js'
import { ProgressBar } from './output.js'

export const demo = command(
  {
    name: 'demo',
    summary: 'train a small transformer block on built-in synthetic data and print its loss curve',
    usage: 'finetune demo [--steps N] [--seed N]',
    flags: {
      steps: { type: 'int', describe: 'training steps', default: 200, min: 1 },
      seed: { type: 'int', describe: 'random seed', default: 0 },
      threads: { type: 'int', describe: 'ONNX Runtime threads (default: all cores)', min: 1 },
    },
  },
  async (f, _pos, io) => {
    const rng = new Rng(f.seed)
    const [B, T, C] = [16, 16, 32]
    const block = new TransformerBlock({ hidden: C, heads: 4, ffn: 64 }, rng)
    const head = new MLP([C, C], rng)
    // target: y_t = tanh(A x_t + B x_{t-1}) for fixed random A, B
    const A = new Float32Array(C * C).map(() => rng.normal() / Math.sqrt(C))
    const Bm = new Float32Array(C * C).map(() => rng.normal() / Math.sqrt(C))
    const batch = (): { x: Float32Array; t: Float32Array } => {
      const x = new Float32Array(B * T * C).map(() => rng.normal())
      const t = new Float32Array(B * T * C)
      for (let b = 0; b < B; b++)
        for (let s = 0; s < T; s++)
          for (let i = 0; i < C; i++) {
            let v = 0
            for (let j = 0; j < C; j++) v += A[i * C + j]! * x[(b * T + s) * C + j]! + (s > 0 ? Bm[i * C + j]! * x[(b * T + s - 1) * C + j]! : 0)
            t[(b * T + s) * C + i] = Math.tanh(v)
          }
      return { x, t }
    }
    const runtime = new Runtime(f.threads ? { threads: f.threads } : {})
    class Net extends Module {
      block = block
      head = head
    }
    const modules = new Net()
    const session = new TrainSession({
      runtime,
      model: modules,
      optimizer: { kind: 'adamw', lr: 3e-3 },
      forward: (i) => {
        const y: Tensor = head.forward(block.forward(i['x']!))
        return { loss: nn.mse(y, i['t']!) }
      },
    })
    io.out(`finetune demo: a transformer block (hidden ${C}, 4 heads) learns a synthetic sequence map; ${modules.countParameters()} parameters`)
    const bar = new ProgressBar({ total: f.steps, label: 'training', unit: 'step' })
    const curve: [number, number][] = []
    const t0 = performance.now()
    for (let s = 0; s < f.steps; s++) {
      const { x, t } = batch()
      const r = await session.trainStep({ x: hostF32(x, [B, T, C]), t: hostF32(t, [B, T, C]) })
      curve.push([s + 1, r.loss])
      bar.tick(1, `loss ${r.loss.toFixed(4)}`)
    }
    const secs = (performance.now() - t0) / 1000
    io.out('step  loss')
    for (const [s, l] of curve.filter(([s]) => s === 1 || s % Math.max(1, Math.floor(f.steps / 10)) === 0)) io.out(`${String(s).padStart(4)}  ${l.toFixed(4)}`)
    io.out(`trained ${f.steps} steps in ${secs.toFixed(1)} s (${((f.steps * B) / secs).toFixed(0)} sequences/s); loss ${curve[0]![1].toFixed(4)} -> ${curve[curve.length - 1]![1].toFixed(4)}`)
    await runtime.dispose()
  },
)
