// The Hugging Face image families against goldens of scripts/hf_vision_reference.py (a PyTorch
// re-implementation of transformers' ResNet/ViT/MobileNetV2 classifiers, checked against torchvision;
// see test/golden/hf-vision/README.md). References are float64 from the float32 weights.
// Tolerances: eval and train logits 1e-4 relative to the largest |logit|; loss 1e-4 relative;
// BatchNorm running means 1e-4 relative to their largest |entry|; gradients (sampled entries, max |g|,
// L2 norm) 1e-3 relative to the largest |g|, or 10x how far torch's own float32 gradient lands where
// that is larger (recorded in each golden as float32_err; at most 4e-4 in these goldens).
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { runGraph } from '../../test/graph-run.js'
import { expectClose } from '../../test/op-check.js'
import { grad } from '../autodiff/grad.js'
import { openSafetensorsFile } from '../checkpoint/safetensors-node.js'
import type { Tensor } from '../graph/graph.js'
import * as nn from '../graph/nn.js'
import { Rng } from '../runtime/rng.js'
import { Runtime } from '../runtime/session.js'
import { hostF32, hostI64, TrainSession } from '../train/step.js'
import type { HfConfig } from './hf.js'
import { buildHfVisionModel, hfVisionFamilies, loadHfVisionWeights, type HfVisionModel } from './hf-vision.js'
import { openHfVisionFolder, saveHfVisionFolder } from './hf-vision-node.js'
import { MobileNetV2ConvLayer, parseHfMobileNetV2Config } from './hf-mobilenet-v2.js'
import { interpolatePosEncoding } from './hf-vit.js'
import type { WeightSource } from './load.js'
import { detUniform, fillDeterministic } from './vision-weights.js'

interface GradGolden { shape: number[]; indices: number[]; values: number[]; max_abs: number; l2: number; float32_err: number }
interface Golden {
  name: string
  description: string
  hf_class: string
  weights: string
  config: HfConfig
  image_size: number
  interpolate_pos_encoding: boolean
  batch: number
  input: { name: string; scale: number }
  labels: number[]
  eval: { logits: number[] }
  train?: { logits: number[]; loss: number; grads: Record<string, GradGolden>; running_mean: Record<string, number[]> }
}

const root = new URL('../../', import.meta.url).pathname
const goldenDir = `${root}test/golden/hf-vision/`
const fixture = (t: string): string => `${root}test/fixtures/models/hf-${t}-tiny`
const maxAbs = (a: ArrayLike<number>): number => Array.from(a).reduce((m, v) => Math.max(m, Math.abs(v)), 0)
const image = (b: number, size: number) => hostF32(detUniform('input', new Float32Array(b * 3 * size * size), 2), [b, 3, size, size])
const evalLogits = async (m: HfVisionModel, x: ReturnType<typeof image>): Promise<Float32Array> => (await runGraph((g) => ({ logits: m.logits(g.input('x', x.shape)) }), { x }))['logits']!

function thrown(f: () => unknown): unknown {
  try {
    f()
  } catch (e) {
    return e
  }
  throw new Error('expected an error')
}

/** A weights file's tensors as a WeightSource, with keys renamed or dropped and extra tensors added. */
async function source(file: string, edit: (keys: string[]) => [string, string][] = (k) => k.map((x) => [x, x]), extra: Record<string, { shape: number[]; data: Float32Array }> = {}): Promise<WeightSource> {
  const f = await openSafetensorsFile(file)
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>()
  for (const [to, from] of edit(f.keys())) tensors.set(to, { shape: f.info(from).shape, data: await f.readAsFloat32(from) })
  await f.close()
  for (const [k, v] of Object.entries(extra)) tensors.set(k, v)
  return { name: 'edited.safetensors', keys: () => [...tensors.keys()], info: (k) => ({ shape: tensors.get(k)!.shape }), readAsFloat32: async (k) => tensors.get(k)!.data.slice() }
}

async function goldenModel(g: Golden): Promise<HfVisionModel> {
  const m = buildHfVisionModel(g.config, undefined, { init: false, ...(g.interpolate_pos_encoding ? { imageSize: g.image_size } : {}) })
  if (g.weights === 'deterministic') fillDeterministic(m)
  else {
    const f = await openSafetensorsFile(`${root}${g.weights}/model.safetensors`)
    try {
      // the folder's tensors are exactly the model's parameters and buffers, by HF's names
      if (!g.interpolate_pos_encoding) expect(f.keys().sort()).toEqual(m.namedParameters().map(([n]) => n).sort())
      await loadHfVisionWeights(m, f)
    } finally {
      await f.close()
    }
  }
  return m
}

describe('HF image families match the PyTorch reference of transformers', () => {
  const files = readdirSync(goldenDir).filter((f) => f.endsWith('.json'))

  it('has goldens for every family', () => {
    const types = new Set(files.map((f) => (JSON.parse(readFileSync(goldenDir + f, 'utf8')) as Golden).config['model_type']))
    expect([...types].sort()).toEqual(Object.keys(hfVisionFamilies).sort())
  })

  for (const file of files) {
    const g = JSON.parse(readFileSync(goldenDir + file, 'utf8')) as Golden
    it(`${g.name}: ${g.description}`, async () => {
      const model = await goldenModel(g)
      expect(model.architecture).toBe(g.hf_class)
      const params = new Map(model.namedParameters())
      const x = image(g.batch, g.image_size)
      expectClose(await evalLogits(model, x), g.eval.logits, 1e-4, `${g.name} eval logits`)
      if (!g.train) return
      const t = g.train
      const names = Object.keys(t.grads)
      const bns = Object.keys(t.running_mean)
      const out = await runGraph((gr) => {
        const y = gr.input('y', [g.batch], 'int64')
        const { logits, loss } = model.forwardLoss(gr.input('x', x.shape), (l) => nn.crossEntropy(l, y))
        const res: Record<string, Tensor> = { logits, loss }
        grad(loss, names.map((n) => gr.param(params.get(n)!))).forEach((d, i) => (res[`grad:${names[i]}`] = d!))
        for (const n of bns) res[`rm:${n}`] = gr.stateUpdates.get(params.get(n)!)!
        return res
      }, { x, y: hostI64(g.labels, [g.batch]) }, { training: true })
      expectClose(out['logits']!, t.logits, 1e-4, `${g.name} train logits`)
      expect(Math.abs(out['loss']![0]! - t.loss) / Math.abs(t.loss), `${g.name} loss`).toBeLessThan(1e-4)
      for (const n of names) {
        const want = t.grads[n]!
        const got = out[`grad:${n}`]!
        const tol = Math.max(1e-3, 10 * want.float32_err)
        expect(got.length).toBe(want.shape.reduce((a, b) => a * b, 1))
        const worst = Math.max(...want.indices.map((i, k) => Math.abs(got[i]! - want.values[k]!)))
        expect(worst / want.max_abs, `${g.name} d loss / d ${n}`).toBeLessThan(tol)
        expect(Math.abs(maxAbs(got) - want.max_abs) / want.max_abs, `${g.name} max |d ${n}|`).toBeLessThan(tol)
        const l2 = Math.sqrt(Array.from(got).reduce((a, v) => a + v * v, 0))
        expect(Math.abs(l2 - want.l2) / want.l2, `${g.name} |d ${n}|`).toBeLessThan(tol)
      }
      for (const n of bns) expectClose(out[`rm:${n}`]!, t.running_mean[n]!, 1e-4, `${g.name} ${n} after one train-mode forward`)
    })
  }
})

describe('MobileNetV2 padding', () => {
  // one 3x3 stride-2 conv of ones over a 4x4 map of ones: each output counts the real pixels under it
  const run = async (tf: boolean): Promise<number[]> => {
    const c = parseHfMobileNetV2Config({ model_type: 'mobilenet_v2', tf_padding: tf, num_channels: 1 })
    const layer = new MobileNetV2ConvLayer(c, 1, 1, 3, new Rng(0), { stride: 2, activation: false })
    layer.convolution.weight.data.fill(1)
    const x = hostF32(new Float32Array(16).fill(1), [1, 1, 4, 4])
    const out = await runGraph((g) => ({ y: layer.forward(g.input('x', x.shape)) }), { x })
    return Array.from(out['y']!, (v) => Math.round(v * Math.sqrt(1 + c.layer_norm_eps) * 1e4) / 1e4)
  }
  it('tf_padding pads as TensorFlow SAME: nothing before, one pixel after at stride 2 on an even side', async () => {
    expect(await run(true)).toEqual([9, 6, 6, 4])
  })
  it('without tf_padding it pads one pixel on every side, as torchvision', async () => {
    expect(await run(false)).toEqual([4, 6, 6, 9])
  })
})

describe('ViT position embeddings for another image size', () => {
  it('resampling to the same grid is the identity, and the class-token row is kept', () => {
    const pe = detUniform('pe', new Float32Array(17 * 6), 1)
    expect(Array.from(interpolatePosEncoding(pe, 6, 4, 4))).toEqual(Array.from(pe))
    const up = interpolatePosEncoding(pe, 6, 4, 7)
    expect(up.length).toBe(50 * 6)
    expect(Array.from(up.subarray(0, 6))).toEqual(Array.from(pe.subarray(0, 6)))
  })

  it('a folder opened at another image size records it, and its position table is resampled as HF does', async () => {
    const f = await openHfVisionFolder(fixture('vit'), { imageSize: 48 })
    expect(f.model.defaultImageSize).toBe(48)
    expect(f.model.toConfig()['image_size']).toBe(48)
    const pe = f.model.namedParameters().find(([n]) => n === 'vit.embeddings.position_embeddings')![1]
    expect(pe.shape).toEqual([1, 37, 16])
    const file = await openSafetensorsFile(`${fixture('vit')}/model.safetensors`)
    const want = interpolatePosEncoding(await file.readAsFloat32('vit.embeddings.position_embeddings'), 16, 4, 6)
    await file.close()
    expect(pe.data.every((v, i) => v === want[i])).toBe(true)
    await expect(runGraph((g) => ({ l: f.model.logits(g.input('x', [1, 3, 32, 32])) }), {})).rejects.toMatchObject({ code: 'VISION_INPUT_SIZE' })
  })
})

describe('strict loading of HF checkpoints', () => {
  const resnetFile = `${fixture('resnet')}/model.safetensors`
  const resnetConfig = (): HfConfig => JSON.parse(readFileSync(`${fixture('resnet')}/config.json`, 'utf8')) as HfConfig

  it('a missing weight, an unused weight and a backbone of another shape are errors naming the tensors', async () => {
    const missing = await source(resnetFile, (ks) => ks.filter((k) => k !== 'resnet.encoder.stages.0.layers.0.layer.1.convolution.weight').map((k) => [k, k]))
    await expect(loadHfVisionWeights(buildHfVisionModel(resnetConfig(), undefined, { init: false }), missing)).rejects.toMatchObject({ code: 'CHECKPOINT_MISSING_KEYS', message: expect.stringContaining('stages.0.layers.0.layer.1.convolution.weight') })
    const extra = await source(resnetFile, undefined, { 'resnet.encoder.extra.weight': { shape: [2], data: new Float32Array(2) } })
    await expect(loadHfVisionWeights(buildHfVisionModel(resnetConfig(), undefined, { init: false }), extra)).rejects.toMatchObject({ code: 'CHECKPOINT_UNEXPECTED_KEYS', message: expect.stringContaining('resnet.encoder.extra.weight') })
    const wider = buildHfVisionModel({ ...resnetConfig(), embedding_size: 12 }, undefined, { init: false })
    await expect(loadHfVisionWeights(wider, await source(resnetFile))).rejects.toMatchObject({ code: 'CHECKPOINT_SHAPE_MISMATCH', message: expect.stringContaining('resnet.embedder.embedder.convolution.weight') })
  })

  it('a classifier for another number of classes needs reinitHead, which keeps the fresh head', async () => {
    const five = buildHfVisionModel(resnetConfig(), 5, { init: false })
    expect(five.labels).toEqual(['LABEL_0', 'LABEL_1', 'LABEL_2', 'LABEL_3', 'LABEL_4'])
    await expect(loadHfVisionWeights(five, await source(resnetFile))).rejects.toMatchObject({ code: 'CHECKPOINT_SHAPE_MISMATCH', hint: expect.stringContaining('reinit-head') })
    const report = await loadHfVisionWeights(five, await source(resnetFile), { reinitHead: true })
    expect(report.reinitialised.map((r) => r.name).sort()).toEqual(['classifier.1.bias', 'classifier.1.weight'])
    expect(new Map(five.namedParameters()).get('classifier.1.weight')!.shape).toEqual([5, 64])
  })

  it('a bare ResNetModel checkpoint (no prefix, no classifier) loads with a fresh head and the same backbone', async () => {
    const bare = await source(resnetFile, (ks) => ks.filter((k) => k.startsWith('resnet.')).map((k) => [k.slice('resnet.'.length), k]))
    const m = buildHfVisionModel(resnetConfig(), undefined, { init: false })
    const report = await loadHfVisionWeights(m, bare)
    expect(report.initialised.sort()).toEqual(['classifier.1.bias', 'classifier.1.weight'])
    const full = await openHfVisionFolder(fixture('resnet'))
    const x = image(2, 32)
    const a = await runGraph((g) => ({ f: m.backbone(g.input('x', x.shape)) }), { x })
    const b = await runGraph((g) => ({ f: full.model.backbone(g.input('x', x.shape)) }), { x })
    expect(Array.from(a['f']!)).toEqual(Array.from(b['f']!))
  })

  it('a ViTModel checkpoint (no prefix, with its pooler) loads with the pooler ignored and a fresh classifier', async () => {
    const file = `${fixture('vit')}/model.safetensors`
    const bare = await source(file, (ks) => ks.filter((k) => k.startsWith('vit.')).map((k) => [k.slice('vit.'.length), k]), {
      'pooler.dense.weight': { shape: [16, 16], data: new Float32Array(256) },
      'pooler.dense.bias': { shape: [16], data: new Float32Array(16) },
    })
    const config = JSON.parse(readFileSync(`${fixture('vit')}/config.json`, 'utf8')) as HfConfig
    const report = await loadHfVisionWeights(buildHfVisionModel(config, 4, { init: false }), bare)
    expect(report.ignored.sort()).toEqual(['pooler.dense.bias', 'pooler.dense.weight'])
    expect(report.initialised.sort()).toEqual(['classifier.bias', 'classifier.weight'])
  })

  it('config.json problems are reported together, naming each field', () => {
    const bad = { ...resnetConfig(), layer_type: 'wide', depths: [1, 2], hidden_act: 'mish', downsample_in_first_stage: 'yes' }
    const err = thrown(() => buildHfVisionModel(bad))
    expect(err).toMatchObject({ code: 'CONFIG_INVALID' })
    for (const field of ['layer_type', 'depths', 'hidden_act', 'downsample_in_first_stage']) expect((err as Error).message).toContain(`${field}:`)
    const vit = (thrown(() => buildHfVisionModel({ model_type: 'vit', hidden_size: 10, num_attention_heads: 3, qkv_bias: 1 })) as Error).message
    for (const m of ['hidden_size: 10 is not divisible by num_attention_heads=3', 'qkv_bias: must be true or false']) expect(vit).toContain(m)
    const mob = (thrown(() => buildHfVisionModel({ model_type: 'mobilenet_v2', depth_multiplier: 0, tf_padding: 'same', classifier_dropout_prob: 1.5 })) as Error).message
    for (const field of ['depth_multiplier:', 'tf_padding:', 'classifier_dropout_prob:']) expect(mob).toContain(field)
    expect(thrown(() => buildHfVisionModel({ model_type: 'convnext' }))).toMatchObject({ code: 'MODEL_UNKNOWN_FAMILY', hint: expect.stringContaining('mobilenet_v2') })
  })
})

describe('HF image folders', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'hf-vision-'))
  afterAll(() => rmSync(tmp, { recursive: true, force: true }))

  for (const t of ['resnet', 'vit', 'mobilenet_v2'] as const) {
    it(`${t}: opening, saving and reopening gives the same logits; config.json and preprocessor_config.json are HF's`, async () => {
      const a = await openHfVisionFolder(fixture(t))
      expect(a.labels).toEqual(['cat', 'dog', 'bird'])
      expect(a.headFromCheckpoint).toBe(true)
      expect(a.preprocessing.crop?.height ?? (a.preprocessing.resize as { height: number }).height).toBe(32)
      const x = image(2, 32)
      const before = await evalLogits(a.model, x)
      const dir = join(tmp, t)
      await saveHfVisionFolder(dir, a.model, a.labels, a.preprocessing, { preprocessorConfig: a.preprocessorConfig })
      const b = await openHfVisionFolder(dir)
      expect(Array.from(await evalLogits(b.model, x))).toEqual(Array.from(before))
      const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as HfConfig
      expect(config['architectures']).toEqual([hfVisionFamilies[t].architecture])
      expect(config['model_type']).toBe(t)
      expect(config['id2label']).toEqual({ 0: 'cat', 1: 'dog', 2: 'bird' })
      expect(config['label2id']).toEqual({ cat: 0, dog: 1, bird: 2 })
      const f = await openSafetensorsFile(join(dir, 'model.safetensors'))
      expect(f.metadata['format']).toBe('pt')
      const orig = await openSafetensorsFile(`${fixture(t)}/model.safetensors`)
      expect(f.keys().sort()).toEqual(orig.keys().sort())
      await orig.close()
      if (t !== 'vit') expect(f.info(f.keys().find((k) => k.endsWith('num_batches_tracked'))!).dtype).toBe('I64')
      await f.close()
      expect(b.preprocessing).toEqual(a.preprocessing)
      // ConvNext's crop_pct form and ViT's square resize keep their processor class
      if (t !== 'mobilenet_v2') expect(b.preprocessorConfig!['image_processor_type']).toBe(a.preprocessorConfig!['image_processor_type'])
    })
  }

  it('a new head for other labels is saved and reopened with its labels; a folder without preprocessor_config.json gets HF\'s defaults', async () => {
    const a = await openHfVisionFolder(fixture('mobilenet_v2'))
    a.model.replaceHead(2, new Rng(3), ['yes', 'no'])
    const dir = join(tmp, 'relabelled')
    await saveHfVisionFolder(dir, a.model, ['yes', 'no'], a.preprocessing)
    const b = await openHfVisionFolder(dir)
    expect(b.labels).toEqual(['yes', 'no'])
    expect(b.headFromCheckpoint).toBe(true)
    expect(b.model.numClasses).toBe(2)
    await expect(saveHfVisionFolder(dir, a.model, ['one'], a.preprocessing)).rejects.toMatchObject({ code: 'MODEL_LABELS' })

    const bare = join(tmp, 'no-preprocessor')
    await saveHfVisionFolder(bare, a.model, ['yes', 'no'], a.preprocessing)
    rmSync(join(bare, 'preprocessor_config.json'))
    const c = await openHfVisionFolder(bare)
    expect(c.preprocessing).toEqual(hfVisionFamilies.mobilenet_v2.preprocessing(32))
    expect(c.preprocessorConfig).toBeNull()
  })

  it('a folder with pytorch_model.bin only says how to convert it', async () => {
    const dir = join(tmp, 'bin-only')
    await saveHfVisionFolder(dir, (await openHfVisionFolder(fixture('vit'))).model, ['cat', 'dog', 'bird'], hfVisionFamilies.vit.preprocessing(32))
    copyFileSync(join(dir, 'model.safetensors'), join(dir, 'pytorch_model.bin'))
    rmSync(join(dir, 'model.safetensors'))
    await expect(openHfVisionFolder(dir)).rejects.toMatchObject({ code: 'MODEL_NO_WEIGHTS', message: expect.stringContaining('pytorch_model.bin') })
  })
})

describe('HF image models', () => {
  it('replaceHead gives a classifier of the new width, initialised as each HF class does', async () => {
    const rng = new Rng(7)
    for (const t of ['resnet', 'vit', 'mobilenet_v2'] as const) {
      const { model } = await openHfVisionFolder(fixture(t))
      model.replaceHead(5, rng, ['a', 'b', 'c', 'd', 'e'])
      const named = new Map(model.nameParameters().map((p) => [p.name, p]))
      const head = model.headPrefixes[0]!
      const w = named.get(`${head}.weight`)!
      const b = named.get(`${head}.bias`)!
      expect(w.shape).toEqual([5, model.featureSize])
      expect(model.numClasses).toBe(5)
      expect(model.label2id).toEqual({ a: 0, b: 1, c: 2, d: 3, e: 4 })
      if (t === 'resnet') {
        // torch.nn.Linear's default: U(-1/sqrt(in), 1/sqrt(in)) for weight and bias
        expect(maxAbs(w.data)).toBeLessThanOrEqual(1 / Math.sqrt(model.featureSize))
        expect(maxAbs(b.data)).toBeGreaterThan(0)
      } else {
        // N(0, initializer_range = 0.02) weights, zero biases
        const std = Math.sqrt(w.data.reduce((a, v) => a + v * v, 0) / w.data.length)
        expect(std).toBeGreaterThan(0.01)
        expect(std).toBeLessThan(0.03)
        expect(maxAbs(b.data)).toBe(0)
      }
      const x = image(2, 32)
      const out = await runGraph((g) => ({ logits: model.logits(g.input('x', x.shape)), f: model.backbone(g.input('x2', x.shape)) }), { x, x2: x })
      expect(out['logits']!.length).toBe(2 * 5)
      expect(out['f']!.length).toBe(2 * model.featureSize)
    }
  })

  it('a freshly built model is initialised as HF does and has the reference\'s parameters', async () => {
    const m = buildHfVisionModel(JSON.parse(readFileSync(`${fixture('vit')}/config.json`, 'utf8')) as HfConfig, undefined, { seed: 1 })
    const named = new Map(m.namedParameters())
    expect(maxAbs(named.get('vit.encoder.layer.0.attention.attention.query.bias')!.data)).toBe(0)
    expect(Array.from(named.get('vit.layernorm.weight')!.data).every((v) => v === 1)).toBe(true)
    const q = named.get('vit.encoder.layer.0.attention.attention.query.weight')!.data
    expect(Math.sqrt(q.reduce((a, v) => a + v * v, 0) / q.length)).toBeCloseTo(0.02, 2)
    // the reference's state_dict, as saved in the fixture (ViT has no buffers)
    const f = await openSafetensorsFile(`${fixture('vit')}/model.safetensors`)
    expect(m.countParameters()).toBe(f.keys().reduce((a, k) => a + f.info(k).shape.reduce((x, y) => x * y, 1), 0))
    expect(m.namedParameters().map(([n, p]) => `${n} ${p.shape.join('x')}`).sort()).toEqual(f.keys().map((k) => `${k} ${f.info(k).shape.join('x')}`).sort())
    await f.close()
  })

  it('a few SGD steps lower the loss of the MobileNetV2 folder and move its BatchNorm statistics', async () => {
    const { model } = await openHfVisionFolder(fixture('mobilenet_v2'))
    const session = new TrainSession({
      runtime: new Runtime({ threads: 1 }),
      model,
      optimizer: { kind: 'sgd', lr: 0.05, momentum: 0.9 },
      forward: (i) => model.forwardLoss(i['x']!, (l) => nn.crossEntropy(l, i['y']!)),
    })
    const batch = { x: image(4, 32), y: hostI64([0, 1, 2, 1], [4]) }
    const rm = new Map(model.namedParameters()).get('mobilenet_v2.conv_stem.first_conv.normalization.running_mean')!
    const before = rm.data.slice()
    const losses: number[] = []
    for (let s = 0; s < 5; s++) losses.push((await session.trainStep(batch)).loss)
    expect(losses.every(Number.isFinite)).toBe(true)
    expect(losses[losses.length - 1]!).toBeLessThan(losses[0]!)
    expect(Array.from(rm.data)).not.toEqual(Array.from(before))
  })
})
