import { describe, expect, it } from 'vitest'
import { readTfjsLayersModelFile } from '../checkpoint/tfjs-node.js'
import { readTfjsLayersModel, type TfjsLayersModel } from '../checkpoint/tfjs.js'
import { bytesSource, encodeSafetensors, openSafetensors } from '../checkpoint/safetensors.js'
import { CheckpointError } from '../errors.js'
import * as nn from '../graph/nn.js'
import { Runtime, type HostTensor } from '../runtime/session.js'
import { TrainSession, hostI64 } from '../train/step.js'
import { runGraph } from '../../test/graph-run.js'
import { FIXTURES, fixtureFiles, maxAbsDiff, nhwcToNchw, nsfwjsFiles, tf, tfjsModel, tfjsRun, type ModelFiles } from '../../test/fixtures/tfjs/reference.js'
import { KerasModel, loadKerasModel } from './keras.js'
import { loadWeights } from './load.js'
import type { VisionModel } from './vision.js'
import type { Module } from '../graph/module.js'
import { Rng } from './layers.js'

const NSFWJS_DIR = new URL('../../node_modules/nsfwjs/dist/models/mobilenet_v2', import.meta.url).pathname
const rt = new Runtime({ threads: 1 })

/** A batch of NHWC images in [0, 1]: smooth colour gradients plus noise, like a small photo. */
function images(n: number, h: number, w: number, c: number, seed: number): Float32Array {
  const rng = new Rng(seed)
  const x = new Float32Array(n * h * w * c)
  for (let b = 0; b < n; b++) for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) for (let k = 0; k < c; k++) {
    const v = 0.5 + 0.4 * Math.sin((i * (k + 1) * 0.09) + j * 0.05 * (b + 1) + k) + 0.1 * (rng.next() - 0.5)
    x[((b * h + i) * w + j) * c + k] = Math.min(1, Math.max(0, v))
  }
  return x
}

const f32 = (data: Float32Array, shape: number[]): HostTensor => ({ data, shape, dtype: 'float32' })

/** The model's outputs in inference mode through ONNX Runtime, fed NHWC data converted to NCHW. */
async function finetuneRun(model: KerasModel, nhwc: Float32Array, shape: number[]): Promise<Record<string, Float32Array>> {
  const [n, h, w, c] = shape as [number, number, number, number]
  return runGraph((g) => {
    const x = g.input('x', [n, c, h, w])
    return { output: model.forward(x), features: model.features(x), logits: model.logits(x) }
  }, { x: f32(nhwcToNchw(nhwc, shape), [n, c, h, w]) })
}

async function fromFiles(files: ModelFiles, name: string): Promise<TfjsLayersModel> {
  const byPath = new Map(files.json.weightsManifest.flatMap((g) => g.paths).map((p, i) => [p, files.shards[i]!]))
  return readTfjsLayersModel(structuredClone(files.json), name, async (p) => byPath.get(p)!)
}

describe('Keras models match TF.js', () => {
  it('functional fixture: uint8 weights, ZeroPadding2D + stride 2, asymmetric same conv/pool padding (1e-5 absolute)', async () => {
    const files = fixtureFiles('functional')
    const ref = await tfjsRun(await tfjsModel(files), images(3, 15, 13, 3, 1), [3, 15, 13, 3], ['gap'])
    const { model } = loadKerasModel(await readTfjsLayersModelFile(`${FIXTURES}functional`))
    const got = await finetuneRun(model, images(3, 15, 13, 3, 1), [3, 15, 13, 3])
    expect(got['output']!.length).toBe(12)
    expect(maxAbsDiff(got['output']!, ref['output']!)).toBeLessThan(1e-5)
    expect(maxAbsDiff(got['features']!, ref['gap']!)).toBeLessThan(1e-5)
    // logits are what softmax was applied to
    const p = Array.from(got['logits']!.slice(0, 4), Math.exp)
    const s = p.reduce((a, b) => a + b)
    expect(maxAbsDiff(p.map((v) => v / s), got['output']!.slice(0, 4))).toBeLessThan(1e-6)
    expect(model.featureSize).toBe(12)
    expect(model.numClasses).toBe(4)
    expect(model.headPrefixes).toEqual(['fc1', 'predictions'])
  })

  it('sequential fixture: uint16/float16/float32 weights, Rescaling, Flatten order, Reshape (1e-5 absolute)', async () => {
    const files = fixtureFiles('sequential')
    const x = images(4, 8, 6, 2, 2).map((v) => v * 255)
    const ref = await tfjsRun(await tfjsModel(files), x, [4, 8, 6, 2], ['fc'])
    const loaded = loadKerasModel(await fromFiles(files, 'sequential/model.json'))
    expect(loaded.preprocessing?.scale).toBe(1) // the model rescales 0..255 pixels itself
    const got = await runGraph((g) => {
      const xi = g.input('x', [4, 2, 8, 6])
      return { output: loaded.model.forward(xi) }
    }, { x: f32(nhwcToNchw(x, [4, 8, 6, 2]), [4, 2, 8, 6]) })
    expect(maxAbsDiff(got['output']!, ref['output']!)).toBeLessThan(1e-5)
    expect(loaded.model.inputShape).toEqual([8, 6, 2])
    expect(loaded.model.imageSize).toEqual([8, 6])
    expect(loaded.preprocessing?.size).toEqual([8, 6])
  })

  it('misc fixture: shared layer, merges, Cropping2D, Permute, channel Softmax, activations, sigmoid output layer (1e-5 absolute)', async () => {
    const files = fixtureFiles('misc')
    const x = images(2, 9, 8, 4, 4).map((v) => v * 4 - 2)
    const ref = await tfjsRun(await tfjsModel(files), x, [2, 9, 8, 4], ['gmp', 'logits'])
    const { model } = loadKerasModel(await fromFiles(files, 'misc/model.json'))
    expect(model.outputActivation).toBe('sigmoid')
    // a layer named like a model method gets a trailing '_'
    expect(model.headPrefixes).toEqual(['logits_'])
    expect(model.kerasNames.get('logits_.weight')).toBe('logits/kernel')
    const got = await finetuneRun(model, x, [2, 9, 8, 4])
    expect(maxAbsDiff(got['output']!, ref['output']!)).toBeLessThan(1e-5)
    expect(maxAbsDiff(got['features']!, ref['gmp']!)).toBeLessThan(1e-5)
    expect(maxAbsDiff(got['logits']!, ref['logits']!)).toBeLessThan(1e-5)
    // the shared layer is one module
    expect(model.namedParameters().filter(([n]) => n.startsWith('shared.')).length).toBe(2)
  })

  it('a vector model (MLP with BatchNorm on features) is all head, with no image preprocessing (1e-5 absolute)', async () => {
    const L = tf.layers
    const mlp = tf.sequential({ layers: [L.dense({ units: 8, activation: 'relu', inputShape: [6], name: 'hidden' }), L.batchNormalization({ name: 'norm' }), L.dropout({ rate: 0.2, name: 'drop' }), L.dense({ units: 3, activation: 'softmax', name: 'out' })] })
    const rng = new Rng(21)
    for (const l of mlp.layers) l.setWeights(l.getWeights().map((w) => tf.tensor(Float32Array.from({ length: w.size }, () => 0.5 + rng.normal() * 0.3), w.shape)))
    const saved = await new Promise<tf.io.ModelArtifacts>((res) => void mlp.save(tf.io.withSaveHandler(async (a) => (res(a), { modelArtifactsInfo: { dateSaved: new Date(0), modelTopologyType: 'JSON' } }))))
    const files: ModelFiles = { json: { modelTopology: saved.modelTopology, weightsManifest: [{ paths: ['w.bin'], weights: saved.weightSpecs! }] }, shards: [new Uint8Array(saved.weightData as ArrayBuffer)] }
    const x = Float32Array.from({ length: 5 * 6 }, () => rng.normal())
    const ref = await tfjsRun(await tfjsModel(files), x, [5, 6])
    const loaded = loadKerasModel(await fromFiles(files, 'mlp/model.json'))
    expect(loaded.preprocessing).toBeNull()
    expect(loaded.model.imageSize).toBeNull()
    expect(loaded.model.headPrefixes).toEqual(['hidden', 'norm', 'out'])
    const got = await runGraph((g) => ({ p: loaded.model.forward(g.input('x', [5, 6])) }), { x: f32(x, [5, 6]) })
    expect(maxAbsDiff(got['p']!, ref['output']!)).toBeLessThan(1e-5)
  })

  it('nsfwjs MobileNetV2: probabilities within 1e-5 absolute, pooled features and logits within 1e-4 relative', async () => {
    const shape = [2, 224, 224, 3]
    const x = images(2, 224, 224, 3, 3)
    const ref = await tfjsRun(await tfjsModel(await nsfwjsFiles()), x, shape, ['flatten_1', 'dense_2'])
    const loaded = loadKerasModel(await readTfjsLayersModelFile(NSFWJS_DIR))
    expect(loaded.classNames).toEqual(['Drawing', 'Hentai', 'Neutral', 'Porn', 'Sexy'])
    expect(loaded.inputShape).toEqual([224, 224, 3])
    expect(loaded.model.imageSize).toEqual([224, 224])
    expect(loaded.model.defaultImageSize).toBe(224)
    expect(loaded.preprocessing).toMatchObject({ size: [224, 224], scale: 1 / 255, offset: 0, mean: null })
    const got = await finetuneRun(loaded.model, x, shape)
    expect(maxAbsDiff(got['output']!, ref['output']!)).toBeLessThan(1e-5)
    const scale = (a: Float32Array): number => Math.max(...Array.from(a, Math.abs))
    expect(maxAbsDiff(got['features']!, ref['flatten_1']!) / scale(ref['flatten_1']!)).toBeLessThan(1e-4)
    // TF.js fuses softmax into dense_3; its logits are dense_2's output times dense_3's kernel plus bias
    const [kernel, bias] = await Promise.all((await tfjsModel(await nsfwjsFiles())).getLayer('dense_3').getWeights().map((t) => t.data() as Promise<Float32Array>))
    const h = ref['dense_2']!
    const logits = new Float32Array(10)
    for (let b = 0; b < 2; b++) for (let o = 0; o < 5; o++) {
      let s = bias![o]!
      for (let i = 0; i < 128; i++) s += h[b * 128 + i]! * kernel![i * 5 + o]!
      logits[b * 5 + o] = s
    }
    expect(maxAbsDiff(got['logits']!, logits) / scale(logits)).toBeLessThan(1e-4)
  })
})

describe('fine-tuning a Keras model', () => {
  it('nsfwjs with a new 3-class head: loss falls with AdamW, frozen BatchNorm statistics stay bit-identical, safetensors round trip by name', async () => {
    const first = loadKerasModel(await readTfjsLayersModelFile(NSFWJS_DIR)).model
    first.replaceHead(3, new Rng(1))
    expect(first.numClasses).toBe(3)
    expect(first.headPrefixes).toEqual(['dense_1', 'dense_2', 'dense_3'])
    // train with a single new Dense on the features: the stock head's dropout makes a 3-image run noisy
    const { model } = loadKerasModel(await readTfjsLayersModelFile(NSFWJS_DIR))
    model.replaceHead(3, new Rng(1), { hidden: 'drop' })
    model.freezeBatchNormStats()
    const bns = model.batchNorms()
    expect(bns.length).toBe(52)
    const before = bns.map((b) => [b.running_mean.data.slice(), b.running_var.data.slice()])
    const conv = model.namedParameters().find(([n]) => n === 'block_16_project.weight')![1]
    const conv0 = conv.data.slice()
    const s = new TrainSession({
      runtime: rt,
      model,
      optimizer: { kind: 'adamw', lr: 3e-4 },
      forward: (i) => {
        const logits = model.logits(i['x']!)
        return i['y'] ? { loss: nn.crossEntropy(logits, i['y']), outputs: { logits } } : { outputs: { logits } }
      },
    })
    // three images tinted red, green and blue, labelled 0, 1, 2
    const tinted = images(3, 224, 224, 3, 5).map((v, i) => (i % 3 === Math.floor(i / (224 * 224 * 3)) ? v : v * 0.3))
    const batch = { x: f32(nhwcToNchw(tinted, [3, 224, 224, 3]), [3, 3, 224, 224]), y: hostI64([0, 1, 2], [3]) }
    const loss0 = (await s.evaluate(batch)).loss!
    for (let k = 0; k < 4; k++) await s.trainStep(batch)
    const loss1 = (await s.evaluate(batch)).loss!
    expect(loss1).toBeLessThan(loss0 * 0.8)
    bns.forEach((b, i) => {
      expect(b.running_mean.data).toEqual(before[i]![0])
      expect(b.running_var.data).toEqual(before[i]![1])
    })
    expect(maxAbsDiff(conv.data, conv0)).toBeGreaterThan(0)

    // save by name, load into a fresh model with the same new head, same logits
    const evalBefore = (await s.evaluate({ x: batch.x })).outputs['logits']!.data as Float32Array
    const bytes = encodeSafetensors(model.namedParameters().map(([n, p]) => [n, { dtype: 'F32', shape: p.shape, data: p.data }] as const))
    const fresh = loadKerasModel(await readTfjsLayersModelFile(NSFWJS_DIR)).model.replaceHead(3, new Rng(2), { hidden: 'drop' })
    const report = await loadWeights(fresh, await openSafetensors(bytesSource(bytes, 'finetuned.safetensors')))
    expect(report.loaded).toBe(model.namedParameters().length)
    const s2 = new TrainSession({ runtime: rt, model: fresh, optimizer: { kind: 'sgd', lr: 0 }, forward: (i) => ({ outputs: { logits: fresh.logits(i['x']!) } }) })
    const evalAfter = (await s2.evaluate({ x: batch.x })).outputs['logits']!.data as Float32Array
    expect(evalAfter).toEqual(evalBefore)
  })

  it('BatchNorm running statistics move in training with PyTorch momentum 1 - Keras momentum unless frozen; SGD lowers the loss', async () => {
    const { model } = loadKerasModel(await readTfjsLayersModelFile(`${FIXTURES}functional`))
    const bn = model.batchNorms()[0]!
    expect(bn.momentum).toBeCloseTo(0.01, 12)
    expect(bn.eps).toBeCloseTo(1e-3, 12)
    const mean0 = bn.running_mean.data.slice()
    const forward = (i: Record<string, import('../graph/graph.js').Tensor>) => ({ loss: nn.crossEntropy(model.logits(i['x']!), i['y']!) })
    const s = new TrainSession({ runtime: rt, model, optimizer: { kind: 'sgd', lr: 0.05, momentum: 0.9 }, forward })
    const batch = { x: f32(nhwcToNchw(images(4, 15, 13, 3, 9), [4, 15, 13, 3]), [4, 3, 15, 13]), y: hostI64([0, 1, 2, 3], [4]) }
    const first = (await s.trainStep(batch)).loss
    expect(maxAbsDiff(bn.running_mean.data, mean0)).toBeGreaterThan(0)
    model.freezeBatchNormStats()
    const frozen = bn.running_mean.data.slice()
    let last = first
    for (let k = 0; k < 5; k++) last = (await s.trainStep(batch)).loss
    expect(bn.running_mean.data).toEqual(frozen)
    expect(last).toBeLessThan(first)
  })

  it("replaceHead({ hidden: 'drop' }) leaves one glorot-uniform Dense on the pooled features", async () => {
    const { model } = loadKerasModel(await readTfjsLayersModelFile(`${FIXTURES}functional`))
    model.replaceHead(6, new Rng(3), { hidden: 'drop' })
    expect(model.headPrefixes).toEqual(['predictions'])
    const names = model.namedParameters().map(([n]) => n)
    expect(names).not.toContain('fc1.weight')
    expect(names).toContain('predictions.weight')
    const w = model.namedParameters().find(([n]) => n === 'predictions.weight')![1]
    expect(w.shape).toEqual([6, 12])
    const limit = Math.sqrt(6 / (12 + 6))
    expect(Math.max(...Array.from(w.data, Math.abs))).toBeLessThanOrEqual(limit)
    expect(Math.max(...Array.from(w.data, Math.abs))).toBeGreaterThan(limit * 0.5)
    const out = await runGraph((g) => ({ p: model.forward(g.input('x', [2, 3, 15, 13])) }), { x: f32(new Float32Array(2 * 3 * 15 * 13).fill(0.5), [2, 3, 15, 13]) })
    expect(out['p']!.length).toBe(12)
    expect(out['p']!.slice(0, 6).reduce((a, b) => a + b)).toBeCloseTo(1, 5)
  })
})

describe('KerasModel as an image classifier', () => {
  it('fits the VisionModel interface apart from `arch`', async () => {
    const { model } = loadKerasModel(await readTfjsLayersModelFile(`${FIXTURES}functional`))
    const v: Omit<VisionModel, 'arch' | keyof Module> = model // a compile-time check as much as a runtime one
    expect(v.featureSize).toBe(12)
    const out = await runGraph((g) => {
      const x = g.input('x', [1, 3, 15, 13])
      return { a: v.backbone(x), b: model.features(x), loss: v.forwardLoss(x, (l) => l.sum()).loss }
    }, { x: f32(new Float32Array(3 * 15 * 13).fill(0.3), [1, 3, 15, 13]) })
    expect(out['a']).toEqual(out['b'])
    expect(out['loss']!.length).toBe(1)
  })
})

describe('Keras parameter names', () => {
  it('are the layer names with PyTorch parameter names, mapped back to the Keras weights', async () => {
    const { model } = loadKerasModel(await readTfjsLayersModelFile(`${FIXTURES}functional`))
    const names = model.kerasNames
    expect(names.get('stem.weight')).toBe('stem/kernel')
    expect(names.get('stem_bn.running_var')).toBe('stem_bn/moving_variance')
    expect(names.get('dw.weight')).toBe('dw/depthwise_kernel')
    expect(names.get('sep.depthwise.weight')).toBe('sep/depthwise_kernel')
    expect(names.get('sep.pointwise.bias')).toBe('sep/bias')
    expect(names.get('predictions.weight')).toBe('predictions/kernel')
    expect(names.size).toBe(24)
    const shapes = Object.fromEntries(model.namedParameters().map(([n, p]) => [n, p.shape]))
    expect(shapes['stem.weight']).toEqual([8, 3, 3, 3])
    expect(shapes['dw.weight']).toEqual([16, 1, 3, 3])
    expect(shapes['predictions.weight']).toEqual([4, 10])
  })
})

describe('Keras model errors name the file and the layer', () => {
  const base = (): ModelFiles => fixtureFiles('functional')
  const layer = (f: ModelFiles, name: string): { class_name: string; config: Record<string, unknown> } =>
    (f.json.modelTopology as { config: { layers: { name: string; class_name: string; config: Record<string, unknown> }[] } }).config.layers.find((l) => l.name === name)!

  it('lists every unsupported layer type', async () => {
    const f = base()
    layer(f, 'dw_bn').class_name = 'LayerNormalization'
    layer(f, 'drop').class_name = 'GaussianDropout'
    const err = await fromFiles(f, 'x/model.json').then((m) => new KerasModel(m)).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(CheckpointError)
    expect((err as CheckpointError).code).toBe('TFJS_UNSUPPORTED_LAYER')
    expect((err as CheckpointError).message).toMatch(/x\/model\.json.*LayerNormalization \("dw_bn"\).*GaussianDropout \("drop"\)/)
    expect((err as CheckpointError).hint).toMatch(/DepthwiseConv2D/)
  })

  it('rejects an unsupported config value', async () => {
    const f = base()
    layer(f, 'stem').config['data_format'] = 'channels_first'
    await expect(fromFiles(f, 'x/model.json').then((m) => new KerasModel(m))).rejects.toThrow(/layer "stem" \(Conv2D\) has data_format = "channels_first"/)
  })

  it('reports a weight whose shape does not fit the layer', async () => {
    const f = base()
    layer(f, 'fc1').config['units'] = 11
    await expect(fromFiles(f, 'x/model.json').then((m) => new KerasModel(m))).rejects.toThrow(/weight "fc1\/kernel" has shape \[12, 10\], layer "fc1" \(Dense\).*needs \[12, 11\]/)
  })

  it('reports a missing weight and unused ones', async () => {
    const f = base()
    const g = f.json.weightsManifest[0]!
    const i = g.weights.findIndex((w) => w.name === 'fc1/bias')
    g.weights[i]!.name = 'fc1/bias_renamed'
    await expect(fromFiles(f, 'x/model.json').then((m) => new KerasModel(m))).rejects.toThrow(/layer "fc1" \(Dense\) needs weight "fc1\/bias" \[10\]/)
    layer(f, 'fc1').config['use_bias'] = false
    await expect(fromFiles(f, 'x/model.json').then((m) => new KerasModel(m))).rejects.toThrow(/1 weight\(s\) belong to no layer.*fc1\/bias_renamed/)
  })
})
