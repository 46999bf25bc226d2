// The object-detection task's SSDlite pieces: SSD's fixed-size transform against torchvision's
// (scripts/gen_ssdlite_goldens.py -> ssdlite_loss.json: a 90x150 image resized to 320x320 without
// keeping the aspect ratio, mean and std 0.5; normalised pixels within 1e-5, boxes within 1e-4 px);
// a MobileNetV3-Large classifier's state dict becomes the backbone (C4 split at its expansion conv);
// a state dict of neither kind is refused with the file named.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { expectClose } from '../../../test/op-check.js'
import { writeSafetensorsFile } from '../../checkpoint/io-node.js'
import { Module } from '../../graph/module.js'
import { Linear } from '../../models/layers.js'
import { mobilenetV3LargeFeatures } from '../../models/mobilenet-v3.js'
import { modelTensors } from '../../models/pretrained-node.js'
import { detUniform } from '../../models/vision-weights.js'
import { Rng } from '../../runtime/rng.js'
import { resizeBoxes, transformImage } from './data-node.js'
import { isSsdlite, openSsdCheckpoint } from './ssdlite-node.js'

interface ResizeGolden {
  input: { name: string; shape: [number, number, number]; scale: number; offset: number }
  image_size: [number, number]
  normalised: { indices: number[]; values: number[] }
  boxes: number[][]
}
const g = (JSON.parse(readFileSync(new URL('../../../test/golden/detection/ssdlite_loss.json', import.meta.url), 'utf8')) as { resize: ResizeGolden }).resize
const dir = mkdtempSync(join(tmpdir(), 'ft-ssd-task-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe("SSD's transform", () => {
  it('resizes every image to the fixed square (aspect ratio not kept), normalises with mean and std 0.5, and scales boxes by both ratios', () => {
    const [C, H, W] = g.input.shape
    const img = detUniform(g.input.name, new Float32Array(C * H * W), g.input.scale, g.input.offset)
    const t = { minSize: 320, maxSize: 320, fixedSize: 320, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] }
    const r = transformImage(img, H, W, t)
    expect(r.size).toEqual(g.image_size)
    expect(r.pixels.length).toBe(3 * 320 * 320)
    expectClose(g.normalised.indices.map((i) => r.pixels[i]!), g.normalised.values, 1e-5, 'normalised pixels')
    expectClose(resizeBoxes([10, 20, 100, 80], [H, W], r.size), g.boxes.flat(), 1e-6, 'boxes')
  })
})

/** torchvision's mobilenet_v3_large (features.*, classifier.*), full tail. */
class MobileNetV3Classifier extends Module {
  features = mobilenetV3LargeFeatures(new Rng(5), false)
  classifier = [new Linear(960, 1280, new Rng(6)), null, null, new Linear(1280, 1000, new Rng(7))]
}

describe('SSDlite checkpoints', () => {
  it("a mobilenet_v3_large classifier's features become the backbone (full tail); extra blocks and heads are new", async () => {
    const cls = new MobileNetV3Classifier()
    const file = join(dir, 'mobilenet_v3_large.safetensors')
    await writeSafetensorsFile(file, modelTensors(cls), { format: 'pt' })
    expect(await isSsdlite(file)).toBe(false)
    const ck = await openSsdCheckpoint(file)
    expect(ck.source).toBe('backbone')
    expect(ck.model.reducedTail).toBe(false)
    const got = new Map(ck.model.namedParameters())
    const want = new Map(cls.namedParameters())
    // C4 (features.13) splits at its expansion conv: block.0 ends features.0, block.1-3 begin features.1
    const pairs: [string, string][] = [
      ['features.0.0.weight', 'backbone.features.0.0.0.weight'],
      ['features.12.block.2.fc1.weight', 'backbone.features.0.12.block.2.fc1.weight'],
      ['features.13.block.0.1.running_var', 'backbone.features.0.13.1.running_var'],
      ['features.13.block.1.0.weight', 'backbone.features.1.0.1.0.weight'],
      ['features.13.block.2.fc2.bias', 'backbone.features.1.0.2.fc2.bias'],
      ['features.15.block.3.1.weight', 'backbone.features.1.2.block.3.1.weight'],
      ['features.16.0.weight', 'backbone.features.1.3.0.weight'],
    ]
    for (const [from, to] of pairs) expect(Array.from(got.get(to)!.data), to).toEqual(Array.from(want.get(from)!.data))
    let backbone = 0
    for (const [n, p] of got) if (n.startsWith('backbone.features.')) backbone += p.data.length
    const features = [...want].filter(([n]) => n.startsWith('features.')).reduce((a, [, p]) => a + p.data.length, 0)
    expect(backbone).toBe(features)
  })

  it('a state dict of neither kind is refused with the file and what to pass', async () => {
    const file = join(dir, 'other.safetensors')
    await writeSafetensorsFile(file, [['fc.weight', { dtype: 'F32', shape: [2, 2], data: new Float32Array(4) }]], { format: 'pt' })
    expect(await isSsdlite(file)).toBe(false)
    await expect(openSsdCheckpoint(file)).rejects.toThrow(/other\.safetensors is neither an SSDlite state dict .* nor a MobileNetV3-Large classifier/)
    expect(await isSsdlite('ssdlite320-mobilenet-v3-large')).toBe(true)
  })
})

describe('the ONNX detector keeps each class its best topk_candidates before NMS', () => {
  it('equals threshold, top-k per class, class-wise NMS and the best detections_per_img on the host', async () => {
    const { exportInferenceOnnx } = await import('../../export/onnx.js')
    const { appendDetectionNms } = await import('./onnx.js')
    const { keepTopkPerClass } = await import('./ssdlite-onnx.js')
    const { batchedNms } = await import('../../data/boxes.js')
    const ort = await import('onnxruntime-node')
    const [A, K, k, keepN] = [200, 3, 4, 20]
    const rng = new Rng(11)
    const boxes = new Float32Array(4 * A)
    for (let a = 0; a < A; a++) {
      const [x, y, w, h] = [rng.next() * 200, rng.next() * 200, 4 + rng.next() * 8, 4 + rng.next() * 8]
      boxes.set([x, y, x + w, y + h], 4 * a)
    }
    const scores = Float32Array.from({ length: A * K }, () => rng.next())
    const s = { scoreThresh: 0.05, nmsThresh: 0.3, detectionsPerImg: keepN }
    class Empty extends Module {}
    const detector = async (topk: number): Promise<Record<string, { data: unknown }>> => {
      const bytes = exportInferenceOnnx({
        model: new Empty(),
        inputs: { b: { shape: [1, A, 4], dtype: 'float32' }, s: { shape: [1, A, K], dtype: 'float32' } },
        forward: (i) => ({ anchor_boxes: i['b']!.add(0), anchor_scores: i['s']!.add(0) }),
        rewrite: (m) => appendDetectionNms(keepTopkPerClass(m, topk), s),
      })
      const sess = await ort.InferenceSession.create(bytes)
      return sess.run({ b: new ort.Tensor('float32', boxes, [1, A, 4]), s: new ort.Tensor('float32', scores, [1, A, K]) })
    }
    const host = (topk: number): number[][] => {
      const cb: number[] = []
      const cs: number[] = []
      const cl: number[] = []
      for (let c = 0; c < K; c++) {
        const idx = Array.from({ length: A }, (_, a) => a).filter((a) => scores[a * K + c]! > s.scoreThresh).sort((p, q) => scores[q * K + c]! - scores[p * K + c]!).slice(0, topk)
        for (const a of idx) {
          cb.push(...boxes.subarray(4 * a, 4 * a + 4))
          cs.push(scores[a * K + c]!)
          cl.push(c)
        }
      }
      const keep = Array.from(batchedNms(cb, cs, cl, s.nmsThresh)).slice(0, keepN)
      return [keep.map((i) => cs[i]!), keep.map((i) => cl[i]!), keep.flatMap((i) => cb.slice(4 * i, 4 * i + 4))]
    }
    const [scoresWant, labelsWant, boxesWant] = host(k)
    // the cut binds: without it more than K x k boxes would survive
    expect(host(A)[0]!.length).toBe(keepN)
    expect(scoresWant!.length).toBeLessThanOrEqual(K * k)
    const r = await detector(k)
    expect(Array.from(r['scores']!.data as Float32Array)).toEqual(scoresWant)
    expect(Array.from(r['labels']!.data as BigInt64Array, Number)).toEqual(labelsWant)
    expect(Array.from(r['boxes']!.data as Float32Array)).toEqual(boxesWant)
  })
})

describe('--image-size', () => {
  it('is refused for FCOS with the flags it takes instead', async () => {
    const { objectDetection } = await import('./task-node.js')
    await expect(objectDetection.prepare({ model: join(dir, 'fcos.safetensors'), imageSize: 64 } as never, undefined as never)).rejects.toThrow(/--image-size 64 applies to ssdlite320-mobilenet-v3-large only/)
  })
})
