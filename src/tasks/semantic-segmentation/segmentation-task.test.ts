// The segmentation task's data and checkpoint plumbing: backbones from classification checkpoints
// (torchvision names, classifier left out), COCO polygons rasterised into masks, and training
// augmentation that moves masks with their pixels.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { deflateSync } from 'node:zlib'
import sharp from 'sharp'
import { afterAll, describe, expect, it } from 'vitest'
import { writeSafetensorsFile } from '../../checkpoint/io-node.js'
import type { TensorToWrite } from '../../checkpoint/safetensors.js'
import { encodeIndexPng } from '../../data/index-mask.js'
import { SegmentationModel } from '../../models/segmentation.js'
import { batchNorms } from '../../models/vision.js'
import { Runtime } from '../../runtime/session.js'
import { taskDefaults } from '../run-node.js'
import { semanticSegmentation } from './task-node.js'
import { openSegCheckpoint } from './checkpoint-node.js'
import { readSegmentationSource, SegSplit } from './data-node.js'

const dir = mkdtempSync(join(tmpdir(), 'ft-seg-task-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const tensor = (shape: readonly number[], data: Float32Array): TensorToWrite => ({ dtype: 'F32', shape, data })

describe('segmentation checkpoints', () => {
  it('a torchvision mobilenet_v3_large classifier gives the backbone (features.N -> backbone.N); the heads start fresh', async () => {
    const donor = new SegmentationModel('lraspp_mobilenet_v3_large', 3, { seed: 5 })
    const named = donor.namedParameters().filter(([n]) => n.startsWith('backbone.'))
    const file = join(dir, 'mobilenet_v3_large.safetensors')
    // the classifier's own keys: features.* and its Linear head (classifier.0 960->1280, classifier.3)
    const tensors: [string, TensorToWrite][] = named.map(([n, p]) => [`features.${n.slice('backbone.'.length)}`, tensor(p.shape, p.data)])
    tensors.push(['classifier.0.weight', tensor([1280, 960], new Float32Array(1280 * 960))], ['classifier.3.weight', tensor([1000, 1280], new Float32Array(1280 * 1000))])
    await writeSafetensorsFile(file, tensors)
    const ck = await openSegCheckpoint(file, { arch: 'lraspp_mobilenet_v3_large', numClasses: 4, seed: 1 })
    expect(ck.source).toBe('backbone')
    expect(ck.labelled).toBe(false)
    const got = new Map(ck.model.namedParameters())
    // (a plain loop: toEqual on millions of floats is slow)
    const differ = named.filter(([n, p]) => { const q = got.get(n)!.data; return q.length !== p.data.length || q.some((v, i) => v !== p.data[i]) }).map(([n]) => n)
    expect(differ).toEqual([])
    expect(got.get('classifier.low_classifier.weight')!.shape).toEqual([4, 40, 1, 1])
    expect(ck.report!.initialised.filter((n) => !n.endsWith('num_batches_tracked')).every((n) => n.startsWith('classifier.'))).toBe(true)

    await expect(openSegCheckpoint(file, {})).rejects.toThrow(/which segmentation architecture/)
    // a ResNet model cannot take a MobileNet backbone: the missing weights are listed with a hint about --arch
    const resnetKeys = join(dir, 'resnet-like.safetensors')
    await writeSafetensorsFile(resnetKeys, [['conv1.weight', tensor([64, 3, 7, 7], new Float32Array(64 * 3 * 49))], ['fc.weight', tensor([10, 2048], new Float32Array(20480))]])
    await expect(openSegCheckpoint(resnetKeys, { arch: 'lraspp_mobilenet_v3_large' })).rejects.toThrow(/lacks .* weight\(s\)/)
  })

  it('a torchvision segmentation state dict keeps its weights; one without the auxiliary head gets a fresh one', async () => {
    const donor = new SegmentationModel('deeplabv3_mobilenet_v3_large', 21, { seed: 2, aux: false })
    const file = join(dir, 'deeplab-noaux.safetensors')
    await writeSafetensorsFile(file, donor.namedParameters().map(([n, p]) => [n, tensor(p.shape, p.data)] as const))
    const ck = await openSegCheckpoint(file, { arch: 'deeplabv3_mobilenet_v3_large' })
    expect(ck.source).toBe('segmentation')
    expect(ck.model.numClasses).toBe(21)
    expect(ck.model.hasAux).toBe(true)
    expect(ck.report!.initialised.some((n) => n.startsWith('aux_classifier.'))).toBe(true)
    const [a, b] = [new Map(ck.model.namedParameters()).get('classifier.4.weight')!.data, new Map(donor.namedParameters()).get('classifier.4.weight')!.data]
    expect(a.length === b.length && a.every((v, i) => v === b[i])).toBe(true)
  })
})

describe('segmentation data', () => {
  it('rasterises COCO polygons: label + 1 inside each object, 0 elsewhere, background first in the names', async () => {
    const root = join(dir, 'coco')
    mkdirSync(join(root, 'images'), { recursive: true })
    await sharp(new Uint8Array(20 * 10 * 3), { raw: { width: 20, height: 10, channels: 3 } }).png().toFile(join(root, 'images', 'a.png'))
    const coco = {
      images: [{ id: 1, file_name: 'a.png', width: 20, height: 10 }],
      categories: [{ id: 3, name: 'cat' }, { id: 7, name: 'dog' }],
      annotations: [
        { id: 1, image_id: 1, category_id: 3, bbox: [2, 2, 6, 6], area: 36, iscrowd: 0, segmentation: [[2, 2, 8, 2, 8, 8, 2, 8]] },
        { id: 2, image_id: 1, category_id: 7, bbox: [12, 1, 6, 4], area: 24, iscrowd: 0, segmentation: [[12, 1, 18, 1, 18, 5, 12, 5]] },
      ],
    }
    writeFileSync(join(root, 'instances.json'), JSON.stringify(coco))
    const src = await readSegmentationSource({ data: join(root, 'instances.json'), onBadRow: 'error' })
    expect(src.labels).toEqual(['background', 'cat', 'dog'])
    const mask = (src.examples[0]!.mask as () => Uint8Array)()
    expect(mask[5 * 20 + 5]).toBe(1)
    expect(mask[3 * 20 + 15]).toBe(2)
    expect(mask[9 * 20 + 19]).toBe(0)
  })

  it('training augmentation moves the mask with the pixels (resize, crop, flip) and is the same for the same (seed, epoch, image)', async () => {
    const root = join(dir, 'pairs')
    mkdirSync(join(root, 'images'), { recursive: true })
    mkdirSync(join(root, 'masks'), { recursive: true })
    // the left half red (class 1), the right half black (class 0)
    const W = 40
    const H = 30
    const rgb = new Uint8Array(W * H * 3)
    const m = new Uint8Array(W * H)
    for (let y = 0; y < H; y++) for (let x = 0; x < W / 2; x++) {
      rgb[3 * (y * W + x)] = 255
      m[y * W + x] = 1
    }
    await sharp(rgb, { raw: { width: W, height: H, channels: 3 } }).png().toFile(join(root, 'images', 'x.png'))
    writeFileSync(join(root, 'masks', 'x.png'), encodeIndexPng({ width: W, height: H, data: m }, (z) => deflateSync(z)))
    const src = await readSegmentationSource({ data: root, onBadRow: 'error' })
    const split = new SegSplit(src.examples, 2, 24, 7, true)
    const red = (0 - 0.485) / 0.229 // normalised red channel of a black pixel
    let flipped = 0
    for (let epoch = 0; epoch < 8; epoch++) {
      const a = await split.example(0, true, epoch)
      const b = await split.example(0, true, epoch)
      expect(a.mask).toEqual(b.mask)
      expect(a.pixels).toEqual(b.pixels)
      // no clearly red pixel is labelled black and no clearly black one red (the bilinear edge column
      // between them is neither); padding is 255
      let wrong = 0
      let labelled = 0
      for (let i = 0; i < 24 * 24; i++) {
        if (a.mask[i] === 255) continue
        labelled++
        const v = a.pixels[i]! - red                                                    // 0 black, 4.37 red
        if ((v > 3.5 && a.mask[i] !== 1) || (v < 0.8 && a.mask[i] !== 0)) wrong++
      }
      expect(labelled).toBeGreaterThan(0)
      expect(wrong, `epoch ${epoch}`).toBe(0)
      if (a.mask[0] === 0) flipped++
    }
    expect(flipped).toBeGreaterThan(0)
  })

  it('--method frozen trains the heads only and keeps the backbone\'s BatchNorm statistics', async () => {
    const weights = join(dir, 'lraspp-frozen.safetensors')
    const m = new SegmentationModel('lraspp_mobilenet_v3_large', 21, { seed: 4 })
    await writeSafetensorsFile(weights, m.namedParameters().map(([n, p]) => [n, tensor(p.shape, p.data)] as const))
    const runtime = new Runtime({ threads: 1 })
    const p = await semanticSegmentation.prepare({ ...taskDefaults('semantic-segmentation'), task: 'semantic-segmentation', model: weights, data: join(dir, 'pairs'), out: join(dir, 'frozen-out'), arch: 'lraspp_mobilenet_v3_large', labels: ['background', 'red'], method: 'frozen', batchSize: 1, validationSplit: 0, imageSize: 32 }, runtime)
    const trainable = p.model.namedParameters().filter(([, q]) => q.kind === 'param' && q.requiresGrad).map(([n]) => n)
    expect(trainable.length).toBeGreaterThan(0)
    expect(trainable.every((n) => n.startsWith('classifier.'))).toBe(true)
    expect(batchNorms(p.model).filter((b) => b._frozenStats).length).toBe(batchNorms((p.model as SegmentationModel).backbone as never).length)
    await p.close()
    await runtime.dispose()
  })
})
