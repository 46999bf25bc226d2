// The torchvision families against goldens from torchvision itself (scripts/gen_vision_goldens.py):
// every weight comes from the deterministic formula of vision-weights.ts on both sides, so no
// checkpoint is shipped. References are float64. Tolerances: eval and train logits 1e-4 relative to
// the largest |logit|; loss 1e-4 relative; running means 1e-4 relative to their largest |entry|;
// gradients (sampled entries, max |g| and L2 norm) 1e-3 relative to the full gradient's largest
// |entry|, or 10x the gradient's float32-level conditioning where that is larger: the golden
// records how far torch's own float32 gradient lands and how far the float64 one moves when every
// weight is perturbed by 1e-7 relative. Early-layer gradients of deep ReLU/max-pool nets move by
// 1e-3..1e-2 at that level (an activation within rounding of a ReLU kink or a pooling tie switches
// the backward path): ResNet-50's conv1/bn1 and Inception's first conv; all others stay at 1e-3.
import { readdirSync, readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { runGraph } from '../../test/graph-run.js'
import { checkOp, expectClose } from '../../test/op-check.js'
import { grad } from '../autodiff/grad.js'
import { bytesSource, encodeSafetensors, openSafetensors, type TensorToWrite } from '../checkpoint/safetensors.js'
import type { Tensor } from '../graph/graph.js'
import * as nn from '../graph/nn.js'
import { Rng } from '../runtime/rng.js'
import { Runtime } from '../runtime/session.js'
import { hostF32, hostI64, TrainSession } from '../train/step.js'
import type { WeightSource } from './load.js'
import { ARCHS, batchNorms, freezeBatchNorm, loadVisionWeights, visionArchs, type ArchName, type VisionModel, type VisionOptions } from './vision.js'
import { detSpec, detUniform, fillDeterministic } from './vision-weights.js'
import { interpolatePosEmbedding } from './vit.js'

interface GradGolden { shape: number[]; indices: number[]; values: number[]; max_abs: number; l2: number; float32_err: number; perturbed_err: number }
interface Golden {
  arch: ArchName
  num_classes: number
  image_size: number
  batch: number
  input: { name: string; scale: number; shape: number[] }
  labels: number[]
  options: Record<string, number | boolean>
  weight_checks: Record<string, number[]>
  param_count: number
  param_count_1000: number
  eval: { logits: number[] }
  train: { logits: number[]; loss: number; aux_weight: number; grads: Record<string, GradGolden>; running_mean: Record<string, number[]> }
  eval_transform_input?: { image_size: number; logits: number[] }
}

const dir = new URL('../../test/golden/vision/', import.meta.url).pathname
const golden = (arch: string): Golden => JSON.parse(readFileSync(`${dir}${arch}.json`, 'utf8')) as Golden
const maxAbs = (a: ArrayLike<number>): number => Array.from(a).reduce((m, v) => Math.max(m, Math.abs(v)), 0)

function buildFor(g: Golden, extra: VisionOptions = {}): VisionModel {
  const opts: VisionOptions = { init: false, dropout: 0, ...extra }
  if (g.arch === 'vit_b_16') opts.imageSize = g.image_size
  const m = visionArchs[g.arch].build(g.num_classes, opts)
  m.nameParameters()
  fillDeterministic(m)
  return m
}

const image = (g: Golden, size = g.image_size) => {
  const shape = [g.batch, 3, size, size]
  return hostF32(detUniform(g.input.name, new Float32Array(shape.reduce((a, b) => a * b, 1)), g.input.scale), shape)
}

describe('vision families match torchvision', () => {
  const files = readdirSync(dir).filter((f) => f.endsWith('.json') && f !== 'vit-pos-interp.json')

  it('has a golden for every architecture', () => {
    expect(files.map((f) => f.replace('.json', '')).sort()).toEqual([...ARCHS].sort())
  })

  for (const file of files) {
    const arch = file.replace('.json', '')
    it(`${arch}: eval logits, train-mode loss, gradients and running statistics`, async () => {
      const g = golden(arch)
      const model = buildFor(g)
      const params = new Map(model.namedParameters())

      // the weight formula is bit-identical on both sides
      for (const [name, want] of Object.entries(g.weight_checks)) expect(Array.from(params.get(name)!.data.subarray(0, want.length)), name).toEqual(want)
      // learnable parameters as torchvision counts them, here and in its default configuration
      expect(model.countParameters()).toBe(g.param_count)
      // the head's weights scale with the class count; ViT's golden is built at a smaller image size
      const headWidth = model.featureSize + 1 + (arch === 'inception_v3' ? 768 + 1 : 0)
      const posDelta = arch === 'vit_b_16' ? ((224 / 16) ** 2 - (g.image_size / 16) ** 2) * 768 : 0
      expect(visionArchs[g.arch].numParams).toBe(g.param_count_1000)
      expect(g.param_count + (1000 - g.num_classes) * headWidth + posDelta).toBe(g.param_count_1000)

      const x = image(g)
      const ev = await runGraph((gr) => ({ logits: model.logits(gr.input('x', x.shape)) }), { x })
      expectClose(ev['logits']!, g.eval.logits, 1e-4, `${arch} eval logits`)

      const names = Object.keys(g.train.grads)
      const bnNames = Object.keys(g.train.running_mean)
      const labels = hostI64(g.labels, [g.batch])
      const tr = await runGraph((gr) => {
        const y = gr.input('y', [g.batch], 'int64')
        const { logits, loss } = model.forwardLoss(gr.input('x', x.shape), (l) => nn.crossEntropy(l, y))
        const out: Record<string, Tensor> = { logits, loss }
        const ds = grad(loss, names.map((n) => gr.param(params.get(n)!)))
        names.forEach((n, i) => (out[`grad:${n}`] = ds[i]!))
        for (const n of bnNames) out[`rm:${n}`] = gr.stateUpdates.get(params.get(n)!)!
        return out
      }, { x, y: labels }, { training: true })
      expectClose(tr['logits']!, g.train.logits, 1e-4, `${arch} train logits`)
      expect(Math.abs(tr['loss']![0]! - g.train.loss) / Math.abs(g.train.loss), `${arch} loss`).toBeLessThan(1e-4)
      for (const n of names) {
        const want = g.train.grads[n]!
        const got = tr[`grad:${n}`]!
        const tol = Math.max(1e-3, 10 * Math.max(want.float32_err, want.perturbed_err))
        expect(got.length).toBe(want.shape.reduce((a, b) => a * b, 1))
        const worst = Math.max(...want.indices.map((i, k) => Math.abs(got[i]! - want.values[k]!)))
        if (process.env['VISION_DEBUG']) console.log(arch, n, worst / want.max_abs, tol)
        expect(worst / want.max_abs, `${arch} d loss / d ${n}: worst error ${worst}, max |g| ${want.max_abs}`).toBeLessThan(tol)
        expect(Math.abs(maxAbs(got) - want.max_abs) / want.max_abs, `${arch} max |d ${n}|`).toBeLessThan(tol)
        const l2 = Math.sqrt(Array.from(got).reduce((a, v) => a + v * v, 0))
        expect(Math.abs(l2 - want.l2) / want.l2, `${arch} |d ${n}|`).toBeLessThan(tol)
      }
      for (const n of bnNames) expectClose(tr[`rm:${n}`]!, g.train.running_mean[n]!, 1e-4, `${arch} ${n} after one train-mode forward`)

      if (g.eval_transform_input) {
        const t = buildFor(g, { transformInput: true })
        const xs = image(g, g.eval_transform_input.image_size)
        const o = await runGraph((gr) => ({ logits: t.logits(gr.input('x', xs.shape)) }), { x: xs })
        expectClose(o['logits']!, g.eval_transform_input.logits, 1e-4, `${arch} transform_input logits`)
      }
    })
  }
})

describe('vision weight formula', () => {
  it('scales tensors by their role', () => {
    expect(detSpec('layer1.0.bn1.running_var', [64])).toEqual({ scale: 0.25, offset: 1 })
    expect(detSpec('layer1.0.bn1.weight', [64])).toEqual({ scale: 0.1, offset: 1 })
    expect(detSpec('conv1.weight', [64, 3, 7, 7])).toEqual({ scale: Math.sqrt(6 / 147), offset: 0 })
    const u = detUniform('x', new Float32Array(10000), 1)
    expect(Math.min(...u)).toBeGreaterThanOrEqual(-1)
    expect(Math.max(...u)).toBeLessThan(1)
    expect(Math.abs(u.reduce((a, b) => a + b, 0) / u.length)).toBeLessThan(0.03)
  })
})

describe('vit position embeddings', () => {
  const cases = (JSON.parse(readFileSync(`${dir}vit-pos-interp.json`, 'utf8')) as { cases: { dim: number; from: number; to: number; name: string; output: number[] }[] }).cases

  for (const c of cases) {
    it(`bicubic resampling ${c.from}x${c.from} -> ${c.to}x${c.to} matches torchvision's interpolate_embeddings within 1e-5`, () => {
      const pe = detUniform(c.name, new Float32Array((1 + c.from * c.from) * c.dim), 1)
      const out = interpolatePosEmbedding(pe, c.dim, c.from, c.to)
      expect(out.length).toBe(c.output.length)
      expect(Math.max(...Array.from(out, (v, i) => Math.abs(v - c.output[i]!)))).toBeLessThan(1e-5)
    })
  }

  it('a checkpoint for another image size loads with resampled position embeddings', async () => {
    const src = visionArchs.vit_b_16.build(3, { init: false, imageSize: 32 })
    src.nameParameters()
    fillDeterministic(src)
    const tensors = new Map(src.namedParameters())
    const source: WeightSource = {
      name: 'vit-32.safetensors',
      keys: () => [...tensors.keys()],
      info: (k) => ({ shape: [...tensors.get(k)!.shape] }),
      readAsFloat32: async (k) => tensors.get(k)!.data.slice(),
    }
    const dst = visionArchs.vit_b_16.build(3, { init: false, imageSize: 48 })
    const report = await loadVisionWeights(dst, source)
    expect(report.loaded).toBe(tensors.size)
    const pe = dst.namedParameters().find(([n]) => n === 'encoder.pos_embedding')![1]
    expect(pe.shape).toEqual([1, 10, 768])
    const want = interpolatePosEmbedding(tensors.get('encoder.pos_embedding')!.data, 768, 2, 3)
    expect(pe.data.every((v, i) => v === want[i])).toBe(true)
  })
})

describe('vision models', () => {
  it('replaceHead gives a classifier of the new width, initialised as torchvision does', async () => {
    const rng = new Rng(1)
    const cases: [ArchName, VisionOptions, number, string[]][] = [
      ['resnet18', {}, 32, ['fc.weight', 'fc.bias']],
      ['mobilenet_v2', {}, 32, ['classifier.1.weight', 'classifier.1.bias']],
      ['vit_b_16', { imageSize: 32 }, 32, ['heads.head.weight', 'heads.head.bias']],
    ]
    for (const [arch, opts, size, head] of cases) {
      const m = visionArchs[arch].build(10, { init: false, ...opts })
      m.replaceHead(5, rng)
      const named = new Map(m.nameParameters().map((p) => [p.name, p]))
      expect(named.get(head[0]!)!.shape).toEqual([5, m.featureSize])
      expect(named.get(head[1]!)!.shape).toEqual([5])
      expect(m.numClasses).toBe(5)
      if (arch === 'vit_b_16') expect(maxAbs(named.get(head[0]!)!.data)).toBe(0)
      if (arch === 'mobilenet_v2') expect(maxAbs(named.get(head[1]!)!.data)).toBe(0)
      const x = hostF32(new Float32Array(2 * 3 * size * size).fill(0.5), [2, 3, size, size])
      const out = await runGraph((gr) => ({ logits: m.logits(gr.input('x', x.shape)), f: m.backbone(gr.input('x2', x.shape)) }), { x, x2: x })
      expect(out['logits']!.length).toBe(2 * 5)
      expect(out['f']!.length).toBe(2 * m.featureSize)
    }
    const inc = visionArchs.inception_v3.build(10, { init: false })
    inc.replaceHead(4, rng)
    const shapes = new Map(inc.namedParameters().map(([n, p]) => [n, p.shape]))
    expect(shapes.get('fc.weight')).toEqual([4, 2048])
    expect(shapes.get('AuxLogits.fc.weight')).toEqual([4, 768])
    expect(inc.headPrefixes).toEqual(['fc', 'AuxLogits.fc'])
  })

  it('inception_v3 refuses training with the auxiliary classifier below 299x299', async () => {
    const m = visionArchs.inception_v3.build(3, { init: false })
    await expect(runGraph((gr) => {
      const { loss } = m.forwardLoss(gr.input('x', [2, 3, 96, 96]), (l) => l.mean())
      return { loss }
    }, {}, { training: true })).rejects.toThrow(/299x299/)
  })

  it('a few SGD steps lower the loss of resnet18 on a tiny batch at 32x32', async () => {
    const model = visionArchs.resnet18.build(4, { seed: 3 })
    const rng = new Rng(5)
    const n = 4
    const x = new Float32Array(n * 3 * 32 * 32)
    for (let i = 0; i < x.length; i++) x[i] = rng.normal()
    const session = new TrainSession({
      runtime: new Runtime({ threads: 1 }),
      model,
      optimizer: { kind: 'sgd', lr: 0.05, momentum: 0.9 },
      forward: (i) => model.forwardLoss(i['x']!, (l) => nn.crossEntropy(l, i['y']!)),
    })
    const batch = { x: hostF32(x, [n, 3, 32, 32]), y: hostI64([0, 1, 2, 3], [n]) }
    const bn1 = batchNorms(model)[0]!
    const before = bn1.running_mean.data.slice()
    const losses: number[] = []
    for (let s = 0; s < 6; s++) losses.push((await session.trainStep(batch)).loss)
    expect(losses.every(Number.isFinite)).toBe(true)
    expect(losses[losses.length - 1]!).toBeLessThan(losses[0]! * 0.5)
    // training updates BatchNorm running statistics; frozen ones stay put
    expect(Array.from(bn1.running_mean.data)).not.toEqual(Array.from(before))
    freezeBatchNorm(model)
    const frozen = bn1.running_mean.data.slice()
    await session.trainStep(batch)
    expect(Array.from(bn1.running_mean.data)).toEqual(Array.from(frozen))
  })
})

describe('torchvision checkpoints', () => {
  it('a state_dict saved as safetensors loads by name, int64 num_batches_tracked included; another class count needs reinitHead', async () => {
    const saved = visionArchs.mobilenet_v2.build(1000, { init: false })
    saved.nameParameters()
    fillDeterministic(saved)
    const entries: [string, TensorToWrite][] = saved.namedParameters().map(([n, p]) =>
      n.endsWith('num_batches_tracked') ? [n, { dtype: 'I64', shape: [], data: BigInt64Array.of(7n) }] : [n, { dtype: 'F32', shape: p.shape, data: p.data }])
    const file = await openSafetensors(bytesSource(encodeSafetensors(entries), 'mobilenet_v2.safetensors'))

    const same = visionArchs.mobilenet_v2.build(1000, { init: false })
    const report = await loadVisionWeights(same, file)
    expect(report.loaded).toBe(entries.length)
    const got = new Map(same.namedParameters())
    const differ = saved.namedParameters().filter(([n, p]) => !n.endsWith('num_batches_tracked') && !p.data.every((v, i) => v === got.get(n)!.data[i]))
    expect(differ.map(([n]) => n)).toEqual([])
    expect(got.get('features.0.1.num_batches_tracked')!.data[0]).toBe(7)

    const ten = visionArchs.mobilenet_v2.build(10, { init: false })
    await expect(loadVisionWeights(ten, file)).rejects.toMatchObject({ code: 'CHECKPOINT_SHAPE_MISMATCH' })
    const fresh = visionArchs.mobilenet_v2.build(10, { init: false })
    const r = await loadVisionWeights(fresh, file, { reinitHead: true })
    expect(r.reinitialised.map((x) => x.name).sort()).toEqual(['classifier.1.bias', 'classifier.1.weight'])
    expect(new Map(fresh.namedParameters()).get('classifier.1.weight')!.shape).toEqual([10, 1280])
  })
})

describe('adaptive average pooling', () => {
  // torch.nn.AdaptiveAvgPool2d: output cell i of O over an axis of I averages floor(i*I/O) .. ceil((i+1)*I/O) - 1
  function naive(x: number[], [N, C, H, W]: number[], oh: number, ow: number): number[] {
    const out: number[] = []
    for (let n = 0; n < N!; n++) for (let c = 0; c < C!; c++) for (let i = 0; i < oh; i++) for (let j = 0; j < ow; j++) {
      const [h0, h1] = [Math.floor((i * H!) / oh), Math.ceil(((i + 1) * H!) / oh)]
      const [w0, w1] = [Math.floor((j * W!) / ow), Math.ceil(((j + 1) * W!) / ow)]
      let s = 0
      for (let h = h0; h < h1; h++) for (let w = w0; w < w1; w++) s += x[((n * C! + c) * H! + h) * W! + w]!
      out.push(s / ((h1 - h0) * (w1 - w0)))
    }
    return out
  }
  const cases: [number[], [number, number]][] = [[[2, 2, 5, 3], [3, 2]], [[1, 2, 2, 2], [7, 7]], [[1, 3, 6, 4], [3, 2]], [[2, 1, 3, 5], [1, 1]], [[1, 2, 4, 7], [4, 3]]]
  for (const [shape, [oh, ow]] of cases) {
    it(`(${shape.join(', ')}) -> ${oh}x${ow} averages torch's windows and differentiates`, async () => {
      const rng = new Rng(11)
      const values = Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => Math.fround(rng.normal()))
      const ref = await checkOp('adaptiveAvgPool2d', [{ shape, values }], (x) => nn.adaptiveAvgPool2d(x, [oh, ow]))
      expect(ref.shape).toEqual([shape[0], shape[1], oh, ow])
      expectClose(ref.data, naive(values, shape, oh, ow), 1e-6, 'adaptive pool windows')
    })
  }
})
