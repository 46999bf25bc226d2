/**
 * What one runtime call costs beyond its compute, against the size of the state it carries: a model
 * of wide Linear layers fed one example (little compute, much state) trains with AdamW at K = 1 and
 * K = 16 steps per call; the difference per call is the overhead that several steps per call save
 * (the binding's copy of every updated parameter and moment, allocation, the call itself).
 * Times are medians of per-step wall and process CPU time.
 * usage: npx tsx bench/steps-per-run.ts [--threads N]
 */
import '../src/runtime/ort-node.js'
import { Module } from '../src/graph/module.js'
import * as nn from '../src/graph/nn.js'
import type { Tensor } from '../src/graph/graph.js'
import { Linear, Rng } from '../src/models/layers.js'
import { Runtime } from '../src/runtime/session.js'
import { TrainSession, hostF32 } from '../src/train/step.js'

const args = process.argv.slice(2)
const threads = args.includes('--threads') ? Number(args[args.indexOf('--threads') + 1]) : undefined
const median = (a: number[]): number => [...a].sort((x, y) => x - y)[a.length >> 1]!

class Wide extends Module {
  layers: Linear[]
  constructor(width: number, depth: number, rng: Rng) {
    super()
    this.layers = Array.from({ length: depth }, () => new Linear(width, width, rng))
  }
  forward(x: Tensor): Tensor {
    return this.layers.reduce((h, l) => l.forward(h).tanh(), x)
  }
}

for (const width of [256, 512, 1024, 2048]) {
  const rng = new Rng(0)
  const m = new Wide(width, 4, rng)
  const rt = new Runtime(threads ? { threads } : {})
  const s = new TrainSession({ runtime: rt, model: m, forward: (i) => ({ loss: nn.mse(m.forward(i['x']!), i['t']!) }), optimizer: { kind: 'adamw', lr: 1e-4 } })
  const batch = { x: hostF32(new Float32Array(width).map(() => rng.normal()), [1, width]), t: hostF32(new Float32Array(width), [1, width]) }
  const row: Record<string, number> = { width, state_mb: Math.round((m.countParameters() * 12) / 2 ** 20) }
  for (const K of [1, 16]) {
    const wall: number[] = []
    const cpu: number[] = []
    for (let i = 0; i < (K === 1 ? 40 : 6); i++) {
      const t = performance.now()
      const c = process.cpuUsage()
      if (K === 1) await s.trainStep(batch)
      else await s.trainSteps(Array(K).fill(batch), Array(K).fill(1))
      const dc = process.cpuUsage(c)
      if (i >= (K === 1 ? 8 : 2)) {
        wall.push((performance.now() - t) / K)
        cpu.push((dc.user + dc.system) / 1000 / K)
      }
    }
    row[`k${K}_ms`] = Math.round(median(wall) * 100) / 100
    row[`k${K}_cpu_ms`] = Math.round(median(cpu) * 100) / 100
  }
  row['overhead_per_call_ms'] = Math.round((row['k1_ms']! - row['k16_ms']!) * (16 / 15) * 100) / 100
  row['overhead_ms_per_mb'] = Math.round((row['overhead_per_call_ms']! / row['state_mb']!) * 1000) / 1000
  console.log(JSON.stringify(row))
  await rt.dispose()
}
