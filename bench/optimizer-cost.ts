/** The optimizer's share of a ResNet-18 step (B16, 112x112): plain SGD vs AdamW in one run. usage: npx tsx bench/optimizer-cost.ts */
import '../src/runtime/ort-node.js'
import * as nn from '../src/graph/nn.js'
import { visionArchs } from '../src/models/vision.js'
import { Rng } from '../src/runtime/rng.js'
import { Runtime } from '../src/runtime/session.js'
import { TrainSession } from '../src/train/step.js'
const rng = new Rng(0)
const x = new Float32Array(16 * 3 * 112 * 112).map(() => rng.normal())
const batch = { x: { data: x, shape: [16, 3, 112, 112], dtype: 'float32' as const }, y: { data: BigInt64Array.from({ length: 16 }, (_, i) => BigInt(i % 10)), shape: [16], dtype: 'int64' as const } }
async function t(opt: any) {
  const model = visionArchs.resnet18.build(10)
  const s = new TrainSession({ runtime: new Runtime(), model, optimizer: opt, forward: (i) => ({ loss: nn.crossEntropy(model.logits(i['x']!), i['y']!) }) })
  const ts: number[] = []
  for (let i = 0; i < 13; i++) { const a = performance.now(); await s.trainStep(batch); ts.push(performance.now() - a) }
  return ts.slice(3).sort((a, b) => a - b)[5]!
}
for (let r = 0; r < 2; r++) console.log('sgd', (await t({ kind: 'sgd', lr: 0.01 })).toFixed(1), 'adamw', (await t({ kind: 'adamw', lr: 1e-3 })).toFixed(1))
