// SSDlite object detection from the command line on a tiny synthetic COCO set (red squares and blue
// bars on dark noise, 64x64, category ids 5 and 9) at --image-size 64 (torchvision's is 320): a
// torchvision-configured state dict with random weights (91 classes, reduced tail) gets a new class
// head and trains with its MobileNetV3 features frozen (loss falls); the folder records SSD's
// transform and has torchvision's keys; predict prints boxes; eval gives COCO mAP; the folder saved
// again loads bit-identical; the standalone
// ONNX detector (top-k per class and NMS in the file) gives predict's detections; --model
// ssdlite320-mobilenet-v3-large names a new network; --min-size is refused with the flag to use.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as ort from 'onnxruntime-node'
import sharp from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../../test/cli.js'
import { expectClose } from '../../test/op-check.js'
import { writeSafetensorsFile } from '../checkpoint/io-node.js'
import { SSDLite } from '../models/ssdlite.js'
import { Rng } from '../runtime/rng.js'
import { loadDetectionImage } from '../tasks/object-detection/data-node.js'
import { openSsdCheckpoint, ssdTensors } from '../tasks/object-detection/ssdlite-node.js'
import { objectDetection } from '../tasks/object-detection/task-node.js'

const dir = mkdtempSync(join(tmpdir(), 'ft-cli-ssd-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const S = 64
const data = join(dir, 'shapes')
const weights = join(dir, 'ssdlite.safetensors')
const out = join(dir, 'out')

beforeAll(async () => {
  mkdirSync(join(data, 'images'), { recursive: true })
  const rng = new Rng(1)
  const images: unknown[] = []
  const annotations: unknown[] = []
  for (let i = 0; i < 4; i++) {
    const rgb = new Uint8Array(S * S * 3)
    for (let p = 0; p < rgb.length; p++) rgb[p] = Math.floor(rng.next() * 50)
    const paint = (x0: number, y0: number, w: number, h: number, c: [number, number, number]): void => {
      for (let y = y0; y < y0 + h; y++) for (let x = x0; x < x0 + w; x++) rgb.set(c, 3 * (y * S + x))
    }
    const sq = { x: rng.int(16), y: rng.int(16), w: 20 + rng.int(8) }
    const bar = { x: 40 + rng.int(8), y: 8 + rng.int(12), w: 12, h: 40 }
    paint(sq.x, sq.y, sq.w, sq.w, [230, 40, 40])
    paint(bar.x, bar.y, bar.w, bar.h, [40, 60, 230])
    await sharp(rgb, { raw: { width: S, height: S, channels: 3 } }).png().toFile(join(data, 'images', `s${i}.png`))
    images.push({ id: 100 + i, file_name: `s${i}.png`, width: S, height: S })
    annotations.push({ id: 1000 + 2 * i, image_id: 100 + i, category_id: 5, bbox: [sq.x, sq.y, sq.w, sq.w], area: sq.w * sq.w, iscrowd: 0 })
    annotations.push({ id: 1001 + 2 * i, image_id: 100 + i, category_id: 9, bbox: [bar.x, bar.y, bar.w, bar.h], area: bar.w * bar.h, iscrowd: 0 })
  }
  writeFileSync(join(data, 'instances.json'), JSON.stringify({ images, annotations, categories: [{ id: 9, name: 'blue' }, { id: 5, name: 'red' }] }))
  const m = new SSDLite(91, { seed: 3 })
  m.nameParameters()
  await writeSafetensorsFile(weights, ssdTensors(m), { format: 'pt' })
}, 60_000)

const header = (file: string): Record<string, { shape: number[] }> => {
  const f = readFileSync(file)
  const h = JSON.parse(f.subarray(8, 8 + Number(f.readBigUInt64LE(0))).toString()) as Record<string, { shape: number[] }>
  delete h['__metadata__']
  return h
}

describe('SSDlite object detection from the command line', () => {
  it("fine-tunes a torchvision SSDlite state dict: new class head, loss falls, SSD's transform recorded, torchvision's keys", async () => {
    const r = await runCli(['train', '--task', 'object-detection', '--model', weights, '--data', join(data, 'instances.json'), '--out', out, '--image-size', String(S), '--max-steps', '6', '--batch-size', '2', '--optimizer', 'adamw', '--lr', '3e-3', '--weight-decay', '0', '--validation-split', '0', '--freeze', '^backbone\\.features\\.', '--save-every', 'none', '--json', '--threads', '1'], { timeoutMs: 120_000 })
    expect(r.code, r.stderr).toBe(0)
    const res = JSON.parse(r.stdout.trim().split('\n').pop()!) as { labels: string[] }
    expect(res.labels).toEqual(['red', 'blue'])
    const steps = readFileSync(join(out, 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; loss?: number }).filter((e) => e.type === 'step').map((e) => e.loss!)
    expect(steps.length).toBe(6)
    const head = steps.slice(0, 2).reduce((a, b) => a + b, 0) / 2
    const tail = steps.slice(-2).reduce((a, b) => a + b, 0) / 2
    expect(tail).toBeLessThan(0.8 * head)
    const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'))
    expect(cfg).toMatchObject({ finetune_task: 'object-detection', finetune_arch: 'ssdlite320_mobilenet_v3_large', num_classes: 3, id2label: { '0': 'red', '1': 'blue' }, reduced_tail: true, image_size: S, image_mean: [0.5, 0.5, 0.5], score_thresh: 0.001, nms_thresh: 0.55, detections_per_img: 300, topk_candidates: 300 })
    // torchvision's keys at 91 classes, with the classification convs for 2 classes + background
    const want = (JSON.parse(readFileSync(new URL('../../test/golden/detection/ssdlite_keys.json', import.meta.url), 'utf8')) as { reduced_tail: Record<string, number[]> }).reduced_tail
    const got = header(join(out, 'model.safetensors'))
    expect(Object.keys(got).sort()).toEqual(Object.keys(want).sort())
    expect(got['head.classification_head.module_list.0.1.weight']!.shape).toEqual([18, 672, 1, 1])
    expect(got['head.regression_head.module_list.5.1.weight']!.shape).toEqual(want['head.regression_head.module_list.5.1.weight'])
  }, 60_000)

  it('predict prints boxes in the original image; eval gives COCO mAP; the ONNX detector gives the same detections', async () => {
    const img = join(data, 'images', 's0.png')
    const p = await runCli(['predict', '--model', out, '--json', '--detections-per-img', '5', '--threads', '1', img])
    expect(p.code, p.stderr).toBe(0)
    const rec = JSON.parse(p.stdout.trim()) as { detections: { box: number[]; label: string; score: number }[] }
    expect(rec.detections.length).toBe(5)
    for (const d of rec.detections) {
      expect(['red', 'blue']).toContain(d.label)
      expect(d.box[0]).toBeLessThanOrEqual(d.box[2]!)
      expect(Math.min(...d.box)).toBeGreaterThanOrEqual(0)
      expect(Math.max(...d.box)).toBeLessThanOrEqual(S)
    }
    const scores = rec.detections.map((d) => d.score)
    expect([...scores].sort((a, b) => b - a)).toEqual(scores)

    // eval and export in this process (what the CLI calls), sparing two process starts
    const m = await objectDetection.open(out, { threads: 1, detectionsPerImg: 5 })
    const onnx = join(dir, 'ssd.onnx')
    try {
      const e = await m.evaluate(join(data, 'instances.json'), { batchSize: 2, onBadRow: 'error' })
      for (const k of ['map', 'map_50', 'map_75', 'mar_100', 'eval_loss']) expect(Number.isFinite(e.metrics[k]), k).toBe(true)
      expect(e.examples).toBe(4)
      const x = await m.export({ format: 'onnx', out: onnx, batchSize: 1, dynamicBatch: false })
      expect(x.inputs).toEqual({ pixel_values: [1, 3, S, S] })
      // a folder written back loads with every weight and buffer bit-identical, and the same config...
      await m.export({ format: 'safetensors', out: join(dir, 'again'), batchSize: 1, dynamicBatch: false })
      const [a, b] = [await openSsdCheckpoint(out), await openSsdCheckpoint(join(dir, 'again'))]
      const pb = new Map(b.model.namedParameters())
      for (const [n, p] of a.model.namedParameters()) expect(pb.get(n)!.data, n).toEqual(p.data)
      // ...the post-processing overrides it was opened with recorded
      const cfg = (d: string): unknown => JSON.parse(readFileSync(join(d, 'config.json'), 'utf8'))
      expect(cfg(join(dir, 'again'))).toEqual({ ...(cfg(out) as object), detections_per_img: 5 })
    } finally {
      await m.close()
    }
    const sess = await ort.InferenceSession.create(onnx)
    const pre = await loadDetectionImage(img, { minSize: S, maxSize: S, fixedSize: S, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] })
    const r = await sess.run({ pixel_values: new ort.Tensor('float32', pre.pixels, [1, 3, S, S]) })
    expect(r['boxes']!.dims).toEqual([5, 4])
    expectClose(r['scores']!.data as Float32Array, scores, 1e-4, 'ONNX scores')
    expect(Array.from(r['labels']!.data as BigInt64Array, (l) => ['red', 'blue'][Number(l)])).toEqual(rec.detections.map((d) => d.label))
    // the images are S x S, so the ONNX boxes (input pixels) are predict's (original pixels), rounded to 0.01
    expectClose(r['boxes']!.data as Float32Array, rec.detections.flatMap((d) => d.box), 2e-3, 'ONNX boxes')
  }, 60_000)

  it('--model ssdlite320-mobilenet-v3-large is a new network; --min-size is refused with the flag to use', async () => {
    const m = await objectDetection.open('ssdlite320-mobilenet-v3-large', {})
    try {
      // torchvision's ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None): 3,440,060 parameters at 91 classes
      expect((await m.inspect()).json).toMatchObject({ arch: 'ssdlite320_mobilenet_v3_large', trainable: 3440060, numClasses: 91, imageSize: 320, reducedTail: true })
    } finally {
      await m.close()
    }
    const r = await runCli(['train', '--task', 'object-detection', '--model', 'ssdlite320-mobilenet-v3-large', '--data', join(data, 'instances.json'), '--out', join(dir, 'bad-out'), '--min-size', '64'])
    expect(r.code).not.toBe(0)
    expect(r.stderr).toMatch(/--min-size 64 does not apply to ssdlite320_mobilenet_v3_large[\s\S]*--image-size/)
  }, 30_000)
})
