// Object detection from the command line on a tiny synthetic COCO set written here (red squares and
// blue bars on dark noise, 64x64, category ids 5 and 9, one crowd box): an FCOS state dict with random
// weights (torchvision's COCO configuration, 91 classes) gets a new class head, trains with its
// ResNet body frozen (loss falls), records the transform, evaluates with COCO mAP, predicts boxes,
// exports a standalone ONNX detector (NonMaxSuppression in the file) that gives predict's detections,
// draws its boxes (--draw), reads the same data as VOC and YOLO folders, and a bad annotation stops
// with file, image and annotation.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as ort from 'onnxruntime-node'
import sharp from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../../test/cli.js'
import { writeShapes } from '../../test/detection-shapes.js'
import { writeSafetensorsFile } from '../checkpoint/io-node.js'
import { FCOS } from '../models/fcos.js'
import { detTensors } from '../tasks/object-detection/checkpoint-node.js'
import { loadDetectionImage } from '../tasks/object-detection/data-node.js'
import { expectClose } from '../../test/op-check.js'
import { classColour } from '../data/draw.js'
import { evaluateModel, getTask } from '../index.js'
import { Runtime } from '../runtime/session.js'

const dir = mkdtempSync(join(tmpdir(), 'ft-cli-det-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const S = 64
const data = join(dir, 'shapes')
const weights = join(dir, 'fcos.safetensors')
const out = join(dir, 'out')
const common = ['--threads', '2', '--min-size', String(S), '--max-size', String(S)]

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
    const drawDir = join(dir, 'drawn')
    const p = await runCli(['predict', '--model', out, '--json', '--score-thresh', '0', '--detections-per-img', '5', '--threads', '2', '--draw', drawDir, img])
    expect(p.code, p.stderr).toBe(0)
    const rec = JSON.parse(p.stdout.trim()) as { path: string; drawn: string; detections: { box: number[]; label: string; score: number }[] }
    expect(rec.path).toBe(img)
    // --draw: a PNG named after the input, the image's size, the best box (drawn last) outlined in its class colour
    expect(rec.drawn).toBe(join(drawDir, 's0.png'))
    const drawn = await sharp(readFileSync(rec.drawn)).raw().toBuffer({ resolveWithObject: true })
    expect([drawn.info.width, drawn.info.height, drawn.info.channels]).toEqual([S, S, 3])
    const best = rec.detections[0]!
    const colour = classColour(['red', 'blue'].indexOf(best.label))
    const near = (x: number, y: number): boolean => [-1, 0, 1].some((dy) => [-1, 0, 1].some((dx) => {
      const [u, v] = [Math.min(S - 1, Math.max(0, x + dx)), Math.min(S - 1, Math.max(0, y + dy))]
      return [0, 1, 2].every((c) => drawn.data[3 * (v * S + u) + c] === colour[c])
    }))
    expect(near(Math.round(best.box[2]!) - 1, Math.round(best.box[3]!) - 1), `box ${best.box} in ${colour}`).toBe(true)
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

  it('VOC and YOLO copies of the data evaluate alike; a YOLO folder with images/train and images/val trains on one and validates on the other', async () => {
    // the COCO set without its crowd box (VOC and YOLO have no crowd), as a VOC folder and a YOLO folder
    const j = JSON.parse(readFileSync(join(data, 'instances.json'), 'utf8')) as { images: { id: number; file_name: string }[]; annotations: { image_id: number; category_id: number; bbox: number[]; iscrowd: number }[] }
    const voc = join(dir, 'voc')
    const yolo = join(dir, 'yolo')
    for (const d of [join(voc, 'Annotations'), join(voc, 'JPEGImages'), join(yolo, 'images', 'train'), join(yolo, 'images', 'val'), join(yolo, 'labels', 'train'), join(yolo, 'labels', 'val')]) mkdirSync(d, { recursive: true })
    writeFileSync(join(yolo, 'classes.txt'), 'red\nblue\n')
    j.images.forEach((im, i) => {
      const anns = j.annotations.filter((a) => a.image_id === im.id && !a.iscrowd)
      const name = (a: { category_id: number }): string => (a.category_id === 5 ? 'red' : 'blue')
      const stem = im.file_name.replace(/\.png$/, '')
      copyFileSync(join(data, 'images', im.file_name), join(voc, 'JPEGImages', im.file_name))
      writeFileSync(join(voc, 'Annotations', `${stem}.xml`), `<annotation><filename>${im.file_name}</filename><size><width>${S}</width><height>${S}</height></size>${anns.map((a) => `<object><name>${name(a)}</name><bndbox><xmin>${a.bbox[0]! + 1}</xmin><ymin>${a.bbox[1]! + 1}</ymin><xmax>${a.bbox[0]! + a.bbox[2]!}</xmax><ymax>${a.bbox[1]! + a.bbox[3]!}</ymax></bndbox></object>`).join('')}</annotation>`)
      const split = i < 6 ? 'train' : 'val'
      copyFileSync(join(data, 'images', im.file_name), join(yolo, 'images', split, im.file_name))
      writeFileSync(join(yolo, 'labels', split, `${stem}.txt`), anns.map((a) => `${name(a) === 'red' ? 0 : 1} ${(a.bbox[0]! + a.bbox[2]! / 2) / S} ${(a.bbox[1]! + a.bbox[3]! / 2) / S} ${a.bbox[2]! / S} ${a.bbox[3]! / S}`).join('\n'))
    })
    const v = await evaluateModel(out, voc, { threads: 2 })
    expect(v.examples).toBe(8)
    // the YOLO folder's images/ holds both splits: all 8 images
    const yAll = await evaluateModel(out, join(yolo, 'images'), { threads: 2, format: 'yolo' })
    expect(yAll.examples).toBe(8)
    for (const k of ['map', 'map_50', 'map_75', 'mar_100']) expect(yAll.metrics[k], k).toBeCloseTo(v.metrics[k]!, 6)
    expect(Number.isFinite(v.metrics['map'])).toBe(true)

    // training's data: the train split, validation on the val split (no --validation given); labels in the model's order
    const runtime = new Runtime({ provider: 'cpu', threads: 1 })
    const logs: string[] = []
    const prepared = await getTask('object-detection').prepare({ task: 'object-detection', model: out, data: yolo, onBadRow: 'error', seed: 0, batchSize: 2, validationSplit: 0.5, method: 'full', augment: ['flip', 'scale', 'crop'], log: (l: string) => logs.push(l) } as never, runtime)
    expect([prepared.trainExamples, prepared.evalExamples]).toEqual([6, 2])
    expect(prepared.labels).toEqual(['red', 'blue'])
    expect(prepared.record).toMatchObject({ data_format: 'yolo', augment: 'flip,scale,crop' })
    expect(logs.join('\n')).toMatch(/YOLO data: training on its train split \(6 images\), validating on its val split \(2\)/)
    await prepared.close()
    await runtime.dispose()
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
