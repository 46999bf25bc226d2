// Object detection from the command line on a tiny synthetic COCO set written here (red squares and
// blue bars on dark noise, 64x64, category ids 5 and 9, one crowd box): an FCOS state dict with random
// weights (torchvision's COCO configuration, 91 classes) gets a new class head, trains with its
// ResNet body frozen (loss falls), records the transform, evaluates with COCO mAP, predicts boxes,
// exports a standalone ONNX detector (NonMaxSuppression in the file) that gives predict's detections, and a bad annotation stops with file, image and annotation.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as ort from 'onnxruntime-node'
import sharp from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../../test/cli.js'
import { writeSafetensorsFile } from '../checkpoint/io-node.js'
import { FCOS } from '../models/fcos.js'
import { Rng } from '../runtime/rng.js'
import { detTensors } from '../tasks/object-detection/checkpoint-node.js'
import { loadDetectionImage } from '../tasks/object-detection/data-node.js'
import { expectClose } from '../../test/op-check.js'

const dir = mkdtempSync(join(tmpdir(), 'ft-cli-det-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const S = 64
const data = join(dir, 'shapes')
const weights = join(dir, 'fcos.safetensors')
const out = join(dir, 'out')
const common = ['--threads', '2', '--min-size', String(S), '--max-size', String(S)]

/** COCO JSON with n images: a red square (category 5) and a blue bar (category 9) each; image 0 also has a crowd box. */
async function writeShapes(root: string, n: number, seed: number): Promise<void> {
  mkdirSync(join(root, 'images'), { recursive: true })
  const rng = new Rng(seed)
  const images: unknown[] = []
  const annotations: unknown[] = []
  for (let i = 0; i < n; i++) {
    const rgb = new Uint8Array(S * S * 3)
    for (let p = 0; p < rgb.length; p++) rgb[p] = Math.floor(rng.next() * 50)
    const paint = (x0: number, y0: number, w: number, h: number, c: [number, number, number]): void => {
      for (let y = y0; y < y0 + h; y++) for (let x = x0; x < x0 + w; x++) rgb.set(c, 3 * (y * S + x))
    }
    const sq = { x: rng.int(20), y: rng.int(20), w: 16 + rng.int(8) }
    const bar = { x: 40 + rng.int(8), y: 8 + rng.int(16), w: 10, h: 36 }
    paint(sq.x, sq.y, sq.w, sq.w, [230, 40, 40])
    paint(bar.x, bar.y, bar.w, bar.h, [40, 60, 230])
    await sharp(rgb, { raw: { width: S, height: S, channels: 3 } }).png().toFile(join(root, 'images', `s${i}.png`))
    images.push({ id: 100 + i, file_name: `s${i}.png`, width: S, height: S })
    annotations.push({ id: 1000 + 2 * i, image_id: 100 + i, category_id: 5, bbox: [sq.x, sq.y, sq.w, sq.w], area: sq.w * sq.w, iscrowd: 0 })
    annotations.push({ id: 1001 + 2 * i, image_id: 100 + i, category_id: 9, bbox: [bar.x, bar.y, bar.w, bar.h], area: bar.w * bar.h, iscrowd: 0 })
    if (i === 0) annotations.push({ id: 999, image_id: 100, category_id: 5, bbox: [0, 50, 14, 14], area: 196, iscrowd: 1 })
  }
  writeFileSync(join(root, 'instances.json'), JSON.stringify({ images, annotations, categories: [{ id: 9, name: 'blue' }, { id: 5, name: 'red' }] }))
}

beforeAll(async () => {
  await writeShapes(data, 8, 1)
  const m = new FCOS(91, { seed: 3 })
  m.nameParameters()
  await writeSafetensorsFile(weights, detTensors(m), { format: 'pt' })
}, 120_000)

const events = (d: string) => readFileSync(join(d, 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; loss?: number })

describe('object detection from the command line', () => {
  it('fine-tunes FCOS on COCO JSON: new class head for the contiguous labels, loss falls, mAP reported, the transform recorded', async () => {
    const r = await runCli(['train', '--task', 'object-detection', '--model', weights, '--data', join(data, 'instances.json'), '--out', out, '--max-steps', '8', '--batch-size', '2', '--optimizer', 'adamw', '--lr', '1e-3', '--weight-decay', '0', '--validation-split', '0.25', '--freeze', '^backbone\\.body\\.', '--save-every', 'none', '--json', ...common], { timeoutMs: 300_000 })
    expect(r.code, r.stderr).toBe(0)
    const res = JSON.parse(r.stdout.trim().split('\n').pop()!) as { metrics: Record<string, number>; labels: string[] }
    // category ids 5 and 9 become labels 0 and 1 in id order
    expect(res.labels).toEqual(['red', 'blue'])
    const steps = events(out).filter((e) => e.type === 'step').map((e) => e.loss!)
    expect(steps.length).toBe(8)
    const head = steps.slice(0, 3).reduce((a, b) => a + b, 0) / 3
    const tail = steps.slice(-3).reduce((a, b) => a + b, 0) / 3
    expect(tail).toBeLessThan(0.8 * head)
    for (const k of ['map', 'map_50', 'map_75', 'eval_loss']) expect(Number.isFinite(res.metrics[k]), k).toBe(true)
    expect(res.metrics['map']).toBeGreaterThanOrEqual(0)
    expect(res.metrics['map_50']).toBeLessThanOrEqual(1)
    const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'))
    expect(cfg).toMatchObject({ finetune_task: 'object-detection', finetune_arch: 'fcos_resnet50_fpn', min_size: S, max_size: S, image_mean: [0.485, 0.456, 0.406], id2label: { '0': 'red', '1': 'blue' }, score_thresh: 0.2, nms_thresh: 0.6 })
    const f = readFileSync(join(out, 'model.safetensors'))
    const header = JSON.parse(f.subarray(8, 8 + Number(f.readBigUInt64LE(0))).toString()) as Record<string, { shape: number[] }>
    expect(header['head.classification_head.cls_logits.weight']!.shape).toEqual([2, 256, 3, 3])
    expect(Object.keys(header).some((k) => k.startsWith('backbone.body.') && k.endsWith('num_batches_tracked'))).toBe(false)
  }, 300_000)

  it('eval prints COCO mAP; predict prints boxes, labels and scores (--json too); the standalone ONNX detector gives the same detections', async () => {
    const e = await runCli(['eval', '--model', out, '--data', join(data, 'instances.json'), '--json', '--threads', '2'])
    expect(e.code, e.stderr).toBe(0)
    const m = JSON.parse(e.stdout) as Record<string, number>
    for (const k of ['map', 'map_50', 'map_75', 'map_small', 'mar_100', 'eval_loss']) expect(Number.isFinite(m[k]), k).toBe(true)

    const img = join(data, 'images', 's0.png')
    const p = await runCli(['predict', '--model', out, '--json', '--score-thresh', '0', '--detections-per-img', '5', '--threads', '2', img])
    expect(p.code, p.stderr).toBe(0)
    const rec = JSON.parse(p.stdout.trim()) as { path: string; detections: { box: number[]; label: string; score: number }[] }
    expect(rec.path).toBe(img)
    expect(rec.detections.length).toBe(5)
    for (const d of rec.detections) {
      expect(['red', 'blue']).toContain(d.label)
      expect(d.box[0]).toBeLessThanOrEqual(d.box[2]!)
      expect(Math.min(...d.box)).toBeGreaterThanOrEqual(0)
      expect(Math.max(...d.box)).toBeLessThanOrEqual(S)
    }
    const scores = rec.detections.map((d) => d.score)
    expect([...scores].sort((a, b) => b - a)).toEqual(scores)
    const t = await runCli(['predict', '--model', out, '--score-thresh', '0', '--detections-per-img', '2', '--threads', '2', img])
    expect(t.code, t.stderr).toBe(0)
    expect(t.stdout).toMatch(new RegExp(`^${img.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\t2 detections\\n  [\\d.]+ [\\d.]+ [\\d.]+ [\\d.]+\\t(red|blue)\\t0\\.\\d{4}\\n`))

    // the standalone ONNX detector (NonMaxSuppression in the file) gives predict's detections
    const onnx = join(dir, 'fcos.onnx')
    const x = await runCli(['export', '--model', out, '--format', 'onnx', '--out', onnx, '--score-thresh', '0', '--detections-per-img', '5'])
    expect(x.code, x.stderr).toBe(0)
    const sess = await ort.InferenceSession.create(onnx)
    const pre = await loadDetectionImage(img, { minSize: S, maxSize: S })
    const r = await sess.run({ pixel_values: new ort.Tensor('float32', pre.pixels, [1, 3, S, S]), image_size: new ort.Tensor('float32', Float32Array.from(pre.size), [2]) })
    expect(r['boxes']!.dims).toEqual([5, 4])
    expectClose(r['scores']!.data as Float32Array, scores, 1e-4, 'ONNX scores')
    expect(Array.from(r['labels']!.data as BigInt64Array, (l) => ['red', 'blue'][Number(l)])).toEqual(rec.detections.map((d) => d.label))
    expectClose(r['boxes']!.data as Float32Array, rec.detections.flatMap((d) => d.box), 2e-3, 'ONNX boxes') // predict rounds to 0.01 px
  }, 200_000)

  it('an annotation with an unknown category stops with the file, the image id and the annotation id', async () => {
    const bad = join(dir, 'bad')
    await writeShapes(bad, 2, 2)
    const j = JSON.parse(readFileSync(join(bad, 'instances.json'), 'utf8'))
    j.annotations[1].category_id = 77
    writeFileSync(join(bad, 'instances.json'), JSON.stringify(j))
    const r = await runCli(['train', '--task', 'object-detection', '--model', weights, '--data', join(bad, 'instances.json'), '--out', join(dir, 'bad-out'), '--max-steps', '1', '--batch-size', '1', ...common])
    expect(r.code).not.toBe(0)
    expect(r.stderr).toContain('instances.json')
    expect(r.stderr).toMatch(/id 1001, image 100 .*category_id 77/)
    expect(existsSync(join(dir, 'bad-out', 'model.safetensors'))).toBe(false)
  }, 60_000)
})
