/**
 * CTC's cost by clip length: the first training step (graph build, lowering and ONNX Runtime's
 * session with its optimizers) and the next step, for a linear frame classifier under ctcLoss.
 * usage: npx tsx bench/ctc-build.ts [FRAMES,FRAMES,...]   (default 50,100,200,400)
 * B = 4 clips, 16 features, 32 classes, 40-symbol targets.
 */
import '../src/runtime/ort-node.js'
import { Parameter, type Tensor } from '../src/graph/graph.js'
import { Module } from '../src/graph/module.js'
import * as nn from '../src/graph/nn.js'
import { ctcLoss } from '../src/graph/ctc.js'
import { Runtime } from '../src/runtime/session.js'
import { TrainSession, hostF32, hostI64 } from '../src/train/step.js'

class Frames extends Module {
  w = new Parameter([32, 16], { data: Float32Array.from({ length: 512 }, (_, i) => Math.sin(i) * 0.1) })
  forward(x: Tensor): Tensor {
    return nn.linear(x, this.w)
  }
}

const rt = new Runtime({ threads: 2 })
const [B, L] = [4, 40]
for (const T of (process.argv[2] ?? '50,100,200,400').split(',').map(Number)) {
  const m = new Frames()
  const s = new TrainSession({ runtime: rt, model: m, optimizer: { kind: 'adamw', lr: 0.01 }, forward: (i) => ({ loss: ctcLoss(m.forward(i['x']!).logSoftmax(-1), i['t']!, i['il']!, i['tl']!) }) })
  const feeds = {
    x: hostF32(Float32Array.from({ length: B * T * 16 }, (_, i) => Math.cos(i)), [B, T, 16]),
    t: hostI64(Array.from({ length: B * L }, (_, i) => 1 + (i % 31)), [B, L]),
    il: hostI64(new Array<number>(B).fill(T), [B]),
    tl: hostI64(new Array<number>(B).fill(L), [B]),
  }
  const t0 = performance.now()
  const first = await s.trainStep(feeds)
  const t1 = performance.now()
  await s.trainStep(feeds)
  const t2 = performance.now()
  console.log(JSON.stringify({ frames: T, first_step_ms: Math.round(t1 - t0), next_step_ms: Math.round(t2 - t1), loss: first.loss, rss_mb: Math.round(process.memoryUsage().rss / 1e6) }))
}
