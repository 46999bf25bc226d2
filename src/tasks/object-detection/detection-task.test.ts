// The object-detection task's host pieces: torchvision's GeneralizedRCNNTransform against the golden
// of scripts/gen_fcos_goldens.py (a 90x150 image, min_size 128, max_size 200: the max binds; the
// normalised, resized, zero-padded pixels within 1e-5, boxes within 1e-4 px), and COCO mAP on cases
// computed by hand (101-point interpolated precision, IoU thresholds 0.50:0.05:0.95); the saved
// state dict has torchvision's keys and shapes (fcos_keys.json); crowd boxes and flips in the batches.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import sharp from 'sharp'
import { afterAll, describe, expect, it } from 'vitest'
import { expectClose } from '../../../test/op-check.js'
import { FCOS } from '../../models/fcos.js'
import { detUniform } from '../../models/vision-weights.js'
import { cocoEvaluate } from '../../train/metrics-detection.js'
import { detTensors } from './checkpoint-node.js'
import { canvasSize, DetSplit, loadDetectionImage, readDetectionSource, resizeBoxes, resizedSize, transformImage } from './data-node.js'

interface ResizeGolden {
  input: { name: string; shape: [number, number, number]; scale: number; offset: number }
  min_size: number
  max_size: number
  image_size: [number, number]
  batch_shape: [number, number, number, number]
  normalised: { indices: number[]; values: number[] }
  boxes: number[][]
}
const g = (JSON.parse(readFileSync(new URL('../../../test/golden/detection/fcos_loss.json', import.meta.url), 'utf8')) as { resize: ResizeGolden }).resize

describe("torchvision's detection transform", () => {
  it('resizes by min(min_size / shorter, max_size / longer), normalises, pads with zeros, and scales boxes by float32 ratios', () => {
    const [C, H, W] = g.input.shape
    const t = { minSize: g.min_size, maxSize: g.max_size }
    expect(resizedSize(H, W, t)).toEqual(g.image_size)
    const img = detUniform(g.input.name, new Float32Array(C * H * W), g.input.scale, g.input.offset)
    const canvas = canvasSize(t)
    expect(canvas).toBe(g.batch_shape[3])
    const r = transformImage(img, H, W, t)
    expect(r.size).toEqual(g.image_size)
    // torchvision pads the batch to 128 x 224 (its largest image); the canvas here is 224 x 224
    const [, , bh, bw] = g.batch_shape
    const got = g.normalised.indices.map((i) => r.pixels[Math.floor(i / (bh * bw)) * canvas * canvas + (Math.floor(i / bw) % bh) * canvas + (i % bw)]!)
    expectClose(got, g.normalised.values, 1e-5, 'normalised pixels')
    expect(Array.from(r.pixels.subarray(200 * canvas, 201 * canvas)).every((v) => v === 0)).toBe(true)
    const boxes = resizeBoxes([10, 20, 100, 80], [H, W], r.size)
    expectClose(boxes, g.boxes.flat(), 1e-6, 'boxes')
  })
  it('the longer side is capped by max_size, the aspect ratio kept (torchvision: 800 / 1333)', () => {
    expect(resizedSize(480, 640, { minSize: 512, maxSize: 512 })).toEqual([384, 512])
    // torchvision 0.14 gives these sizes (F.interpolate's float32 output-size arithmetic)
    expect(resizedSize(640, 480, { minSize: 800, maxSize: 1333 })).toEqual([1066, 800])
    expect(resizedSize(480, 640, { minSize: 800, maxSize: 1333 })).toEqual([800, 1066])
    expect(resizedSize(90, 150, { minSize: 800, maxSize: 1333 })).toEqual([799, 1333])
  })
})

describe('COCO mAP on hand-computed cases', () => {
  const box = (x1: number, y1: number, x2: number, y2: number): number[] => [x1, y1, x2, y2]
  it('TP, FP, TP in score order: precision 1 up to recall 0.5, then 2/3: AP = (51 + 50 x 2/3) / 101 at every threshold', () => {
    const m = cocoEvaluate(
      [{ boxes: [...box(0, 0, 10, 10), ...box(20, 20, 30, 30)], labels: [0, 0] }],
      [{ boxes: [...box(0, 0, 10, 10), ...box(40, 40, 50, 50), ...box(20, 20, 30, 30)], scores: [0.9, 0.8, 0.7], labels: [0, 0, 0] }],
    )
    const ap = (51 + (50 * 2) / 3) / 101
    expect(m.map).toBeCloseTo(ap, 10)
    expect(m.map_50).toBeCloseTo(ap, 10)
    expect(m.map_75).toBeCloseTo(ap, 10)
  })
  it('a detection at IoU 0.625 counts at thresholds 0.50, 0.55 and 0.60 only: mAP 0.3, mAP@.5 1, mAP@.75 0', () => {
    const m = cocoEvaluate([{ boxes: box(0, 0, 10, 10), labels: [0] }], [{ boxes: box(0, 0, 10, 6.25), scores: [0.5], labels: [0] }])
    expect(m.map).toBeCloseTo(0.3, 10)
    expect(m.map_50).toBeCloseTo(1, 12)
    expect(m.map_75).toBe(0)
  })
  it('a class with ground truth but no detections has AP 0 and halves the mean of two classes', () => {
    const m = cocoEvaluate([{ boxes: [...box(0, 0, 10, 10), ...box(20, 20, 30, 30)], labels: [0, 1] }], [{ boxes: box(0, 0, 10, 10), scores: [0.9], labels: [0] }], { categories: [0, 1] })
    expectClose(m.map_per_class, [1, 0], 1e-12, 'AP per class')
    expect(m.map).toBeCloseTo(0.5, 12)
  })
})

describe('object-detection data and checkpoints', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ft-det-data-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it("the saved state dict has exactly torchvision's fcos_resnet50_fpn keys and shapes (no num_batches_tracked in the frozen body)", () => {
    const want = (JSON.parse(readFileSync(new URL('../../../test/golden/detection/fcos_keys.json', import.meta.url), 'utf8')) as { keys: Record<string, number[]> }).keys
    const got = Object.fromEntries(detTensors(new FCOS(91)).map(([n, t]) => [n, [...t.shape]]))
    expect(got).toEqual(want)
  })

  it('training batches leave crowd boxes out and flip pixels and boxes together; labels follow category ids', async () => {
    // a 20 x 10 image: left half red, right half blue
    const rgb = new Uint8Array(20 * 10 * 3)
    for (let i = 0; i < 200; i++) rgb.set(i % 20 < 10 ? [255, 0, 0] : [0, 0, 255], 3 * i)
    await sharp(rgb, { raw: { width: 20, height: 10, channels: 3 } }).png().toFile(join(dir, 'a.png'))
    writeFileSync(join(dir, 'instances.json'), JSON.stringify({
      images: [{ id: 7, file_name: 'a.png', width: 20, height: 10 }],
      annotations: [{ id: 1, image_id: 7, category_id: 30, bbox: [2, 1, 5, 4], iscrowd: 0 }, { id: 2, image_id: 7, category_id: 3, bbox: [12, 2, 6, 6], iscrowd: 1 }],
      categories: [{ id: 30, name: 'b' }, { id: 3, name: 'a' }],
    }))
    const src = await readDetectionSource({ data: join(dir, 'instances.json'), onBadRow: 'error' })
    expect(src.categories.map((c) => c.name)).toEqual(['a', 'b'])
    const t = { minSize: 20, maxSize: 40 }  // the shorter side doubles: 40 x 20
    const split = new DetSplit(src.images, t, 0, false)
    const batches = []
    for await (const b of split.batches(0, 0, { batchSize: 1, train: true })) batches.push(b)
    expect(batches[0]!.targets[0]!.labels).toEqual(Int32Array.from([1]))
    expect(Array.from(batches[0]!.targets[0]!.boxes)).toEqual([4, 2, 14, 10])
    expect(batches[0]!.sizes[0]).toEqual([20, 40])
    expect(batches[0]!.originals[0]).toEqual([10, 20])
    const flipped = await loadDetectionImage(join(dir, 'a.png'), t, Float32Array.from([2, 1, 7, 5]), true)
    expect(Array.from(flipped.boxes)).toEqual([26, 2, 36, 10])
    // red (normalised R high) now on the right: pixel (row 0, column 39) of channel 0
    expect(flipped.pixels[39]!).toBeGreaterThan(2)
    expect(flipped.pixels[0]!).toBeLessThan(-1)
  })
})
