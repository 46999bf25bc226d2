// A session whose weights never change (a frozen backbone computing features, an opened model being
// evaluated) puts them into its forward graphs as initializers, where ONNX Runtime folds BatchNorm
// into the convolutions and re-lays them out for its faster kernels: the outputs stay those of the
// graph that takes the weights as inputs, and dispose() gives the compiled graphs back.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { loadImageData } from '../data/image-data-node.js'
import { visionArchs } from '../models/vision.js'
import { stripesFolder } from '../../test/image-fixtures.js'
import { ImageTaskRunner } from './image.js'
import { Module } from '../graph/module.js'
import * as nn from '../graph/nn.js'
import type { Tensor } from '../graph/graph.js'
import { BatchNorm2d, Conv2d, Linear, MLP, Rng } from '../models/layers.js'
import type { ModelProtoObj } from '../onnx/proto.js'
import { Runtime } from '../runtime/session.js'
import { CONSTANT_WEIGHTS_MIN_BATCHES, TrainSession } from './step.js'

class Net extends Module {
  conv: Conv2d
  bn: BatchNorm2d
  dw: Conv2d
  fc: Linear
  constructor(rng: Rng) {
    super()
    this.conv = new Conv2d(3, 8, 3, rng, { padding: 1, bias: false })
    this.bn = new BatchNorm2d(8)
    this.dw = new Conv2d(8, 8, 3, rng, { padding: 1, groups: 8 })
    this.fc = new Linear(8, 4, rng)
  }
  forward(x: Tensor): Tensor {
    return this.fc.forward(nn.globalAvgPool(this.dw.forward(this.bn.forward(this.conv.forward(x)).relu())))
  }
}

const dir = mkdtempSync(join(tmpdir(), 'ft-constw-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('constantWeights', () => {
  it('evaluates as the graph with weight inputs does, with the weights as initializers; dispose() releases its graphs', async () => {
    const rng = new Rng(4)
    const model = new Net(rng)
    // running statistics away from 0 and 1, so that folding BatchNorm into the conv changes the weights
    model.bn.running_mean.data = Float32Array.from({ length: 8 }, () => rng.normal())
    model.bn.running_var.data = Float32Array.from({ length: 8 }, () => 0.5 + rng.next())
    const rt = new Runtime({ threads: 1 })
    const built: { key: string; model: ModelProtoObj }[] = []
    const session = rt.session.bind(rt)
    rt.session = (key, build, dev) =>
      session(key, () => {
        const m = build()
        built.push({ key, model: m as ModelProtoObj })
        return m
      }, dev)
    const x = { data: Float32Array.from({ length: 2 * 3 * 8 * 8 }, () => rng.normal()), shape: [2, 3, 8, 8], dtype: 'float32' as const }
    const run = async (constantWeights: boolean): Promise<{ y: Float32Array; s: TrainSession }> => {
      const s = new TrainSession({ runtime: rt, model, optimizer: { kind: 'sgd', lr: 0 }, constantWeights, forward: (i) => ({ outputs: { y: model.forward(i['x']!) } }) })
      return { y: (await s.evaluate({ x })).outputs['y']!.data as Float32Array, s }
    }
    const plain = await run(false)
    const baked = await run(true)
    const scale = Math.max(...plain.y.map(Math.abs))
    for (let i = 0; i < plain.y.length; i++) expect(Math.abs(baked.y[i]! - plain.y[i]!)).toBeLessThan(1e-5 * scale)
    const [a, b] = built as [(typeof built)[0], (typeof built)[0]]
    // every parameter and buffer the forward reads (num_batches_tracked is not read in inference)
    const weights = a.model.graph.input.map((v) => v.name).filter((n) => n !== 'x')
    expect(weights.sort()).toEqual(model.nameParameters().map((p) => p.name).filter((n) => !n.endsWith('num_batches_tracked')).sort())
    expect(b.model.graph.input.map((v) => v.name)).toEqual(['x'])
    expect(b.model.graph.initializer.map((t) => t.name)).toEqual(expect.arrayContaining(weights))
    expect(rt.has(b.key)).toBe(true)
    await baked.s.dispose()
    expect(rt.has(b.key)).toBe(false)
    expect(rt.has(a.key)).toBe(true)
    // a disposed session compiles again when it is used again
    const again = (await baked.s.evaluate({ x })).outputs['y']!.data as Float32Array
    expect(Array.from(again)).toEqual(Array.from(baked.y))
    // forwardPass: a short pass runs on the session itself, a long one on a constant-weights twin
    // released afterwards, whose results are those of the session's own graph
    expect(await plain.s.forwardPass(CONSTANT_WEIGHTS_MIN_BATCHES - 1, async (s) => s === plain.s)).toBe(true)
    const before = built.length
    const twin = await plain.s.forwardPass(CONSTANT_WEIGHTS_MIN_BATCHES, async (s) => ({ same: s === plain.s, y: (await s.evaluate({ x })).outputs['y']!.data as Float32Array }))
    expect(twin.same).toBe(false)
    expect(Array.from(twin.y)).toEqual(Array.from(baked.y))
    const twinKey = built.at(-1)!
    expect(built.length).toBe(before + 1)
    expect(twinKey.model.graph.input.map((v) => v.name)).toEqual(['x'])
    expect(rt.has(twinKey.key)).toBe(false)
    // a network without convolutions (or with one, a ViT's patch embedding) runs any pass on itself
    const mlp = new MLP([4, 8, 2], new Rng(1))
    const dense = new TrainSession({ runtime: rt, model: mlp, optimizer: { kind: 'sgd', lr: 0 }, forward: (i) => ({ outputs: { y: mlp.forward(i['x']!) } }) })
    expect(await dense.forwardPass(100, async (s) => s === dense)).toBe(true)
    // and keeps its weights as inputs even when told they are constant
    const told = new TrainSession({ runtime: rt, model: mlp, optimizer: { kind: 'sgd', lr: 0 }, constantWeights: true, forward: (i) => ({ outputs: { y: mlp.forward(i['x']!) } }) })
    await told.evaluate({ x: { data: new Float32Array(8), shape: [2, 4], dtype: 'float32' } })
    expect(built.at(-1)!.model.graph.input.length).toBeGreaterThan(1)
    await rt.dispose()
  })

  it('an image evaluation of many batches runs on a graph of its own with the weights as constants, with the same metrics', async () => {
    await stripesFolder(join(dir, 'stripes'), 8, 16)
    const ds = await loadImageData({ data: join(dir, 'stripes'), workers: 0, validationFraction: 0, augmentation: null, cacheDir: join(dir, 'cache'), preprocessing: { resize: null, crop: { height: 16, width: 16 }, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25], interpolation: 'bilinear', rescaleFactor: 1 / 255 } })
    const rt = new Runtime({ threads: 1 })
    const model = visionArchs.resnet18.build(2)
    const runner = (evalBatchSize: number) => new ImageTaskRunner({ model, labels: ['horizontal', 'vertical'], train: ds.train, validation: ds.train, batchSize: 16, evalBatchSize, seed: 0, method: 'full', runtime: rt, optimizer: { kind: 'sgd', lr: 0 } })
    // 16 images: one batch of 16 on the runner's own graph; batches of 2 (eight of them) on a graph with constant weights
    expect(16 / 2).toBeGreaterThanOrEqual(CONSTANT_WEIGHTS_MIN_BATCHES)
    const one = runner(16)
    const whole = await one.evaluate()
    expect(one.session.compiledGraphs).toBe(1)
    const many = runner(2)
    const seen: number[] = []
    many.session.onEvaluate = (n) => void seen.push(n)
    const pieces = await many.evaluate()
    expect(many.session.compiledGraphs).toBe(0)
    // the pass is reported as the runner's own evaluations are (the trainer's progress bar)
    expect(seen).toEqual([2, 2, 2, 2, 2, 2, 2, 2])
    expect(pieces['accuracy']).toBe(whole['accuracy'])
    expect(Math.abs(pieces['eval_loss']! - whole['eval_loss']!)).toBeLessThan(1e-4 * Math.max(1, Math.abs(whole['eval_loss']!)))
    await ds.close()
    await rt.dispose()
  }, 60_000)
})
