// RetinaNet object detection from the command line on the tiny synthetic COCO set of
// test/detection-shapes.ts (64x64): a retinanet_resnet50_fpn state dict with random weights (torchvision's
// COCO configuration, 91 classes, its head convs under the version-1 names conv.0, conv.2, ... as in
// torchvision's COCO file) is recognised by its keys, gets a new class head, trains with its ResNet body
// frozen (loss falls, COCO mAP on the validation split), saves exactly torchvision's keys, predicts boxes, and
// exports a standalone ONNX detector that gives predict's detections; --arch fcos_resnet50_fpn on it stops.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as ort from 'onnxruntime-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../../test/cli.js'
import { writeShapes } from '../../test/detection-shapes.js'
import { expectClose } from '../../test/op-check.js'
import { writeSafetensorsFile } from '../checkpoint/io-node.js'
import { RetinaNet } from '../models/retinanet.js'
import { detTensors } from '../tasks/object-detection/checkpoint-node.js'
import { loadDetectionImage } from '../tasks/object-detection/data-node.js'

const dir = mkdtempSync(join(tmpdir(), 'ft-cli-retina-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const S = 64
const data = join(dir, 'shapes')
const weights = join(dir, 'retinanet.safetensors')
const out = join(dir, 'out')
const common = ['--threads', '2', '--min-size', String(S), '--max-size', String(S)]

beforeAll(async () => {
  await writeShapes(data, 8, 1, S)
  const m = new RetinaNet(91, { seed: 3 })
  m.nameParameters()
  const v1 = detTensors(m).map(([n, t]) => [n.replace(/^(head\.\w+_head\.conv\.)(\d)\.0\./, (_, p: string, i: string) => `${p}${2 * Number(i)}.`), t] as const)
  expect(v1.some(([n]) => n === 'head.regression_head.conv.6.weight')).toBe(true)
  await writeSafetensorsFile(weights, v1, { format: 'pt' })
}, 120_000)

const events = (d: string) => readFileSync(join(d, 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; loss?: number })

describe('RetinaNet object detection from the command line', () => {
  it("fine-tunes RetinaNet from a torchvision state dict: new class head, loss falls, mAP reported, torchvision's keys and settings saved", async () => {
    const r = await runCli(['train', '--task', 'object-detection', '--model', weights, '--data', join(data, 'instances.json'), '--out', out, '--max-steps', '8', '--batch-size', '2', '--optimizer', 'adamw', '--lr', '1e-3', '--weight-decay', '0', '--validation-split', '0.25', '--freeze', '^backbone\\.body\\.', '--save-every', 'none', '--json', ...common], { timeoutMs: 300_000 })
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toContain('retinanet_resnet50_fpn: new cls_logits for 2 classes')
    const res = JSON.parse(r.stdout.trim().split('\n').pop()!) as { metrics: Record<string, number>; labels: string[] }
    expect(res.labels).toEqual(['red', 'blue'])
    const steps = events(out).filter((e) => e.type === 'step').map((e) => e.loss!)
    expect(steps.length).toBe(8)
    const head = steps.slice(0, 3).reduce((a, b) => a + b, 0) / 3
    const tail = steps.slice(-3).reduce((a, b) => a + b, 0) / 3
    expect(tail).toBeLessThan(0.8 * head)
    for (const k of ['map', 'map_50', 'map_75', 'eval_loss']) expect(Number.isFinite(res.metrics[k]), k).toBe(true)
    const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'))
    expect(cfg).toMatchObject({ finetune_task: 'object-detection', finetune_arch: 'retinanet_resnet50_fpn', min_size: S, max_size: S, id2label: { '0': 'red', '1': 'blue' }, score_thresh: 0.05, nms_thresh: 0.5, detections_per_img: 300, topk_candidates: 1000, fg_iou_thresh: 0.5, bg_iou_thresh: 0.4 })
    // exactly torchvision's retinanet_resnet50_fpn state dict, cls_logits sized 9 anchors x 2 classes
    const f = readFileSync(join(out, 'model.safetensors'))
    const header = JSON.parse(f.subarray(8, 8 + Number(f.readBigUInt64LE(0))).toString()) as Record<string, { shape: number[] }>
    delete header['__metadata__']
    const want = (JSON.parse(readFileSync(new URL('../../test/golden/detection/retinanet_keys.json', import.meta.url), 'utf8')) as { keys: Record<string, number[]> }).keys
    want['head.classification_head.cls_logits.weight'] = [18, 256, 3, 3]
    want['head.classification_head.cls_logits.bias'] = [18]
    expect(Object.fromEntries(Object.entries(header).map(([k, v]) => [k, v.shape]))).toEqual(want)
  }, 300_000)

  // (`finetune eval` runs the same evaluation as train's validation above; src/cli/detection.test.ts runs it)
  it('predict prints boxes, labels and scores; the standalone ONNX detector gives the same detections', async () => {
    const img = join(data, 'images', 's0.png')
    const p = await runCli(['predict', '--model', out, '--json', '--score-thresh', '0', '--detections-per-img', '5', '--threads', '2', img])
    expect(p.code, p.stderr).toBe(0)
    const rec = JSON.parse(p.stdout.trim()) as { path: string; detections: { box: number[]; label: string; score: number }[] }
    expect(rec.detections.length).toBe(5)
    for (const d of rec.detections) {
      expect(['red', 'blue']).toContain(d.label)
      expect(d.box[0]).toBeLessThanOrEqual(d.box[2]!)
      expect(Math.min(...d.box)).toBeGreaterThanOrEqual(0)
      expect(Math.max(...d.box)).toBeLessThanOrEqual(S)
    }
    const scores = rec.detections.map((d) => d.score)
    expect([...scores].sort((a, b) => b - a)).toEqual(scores)

    const onnx = join(dir, 'retinanet.onnx')
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

  it('--arch naming the other detector for a RetinaNet state dict stops with what the file is', async () => {
    const r = await runCli(['train', '--task', 'object-detection', '--model', weights, '--arch', 'fcos_resnet50_fpn', '--data', join(data, 'instances.json'), '--out', join(dir, 'bad-out'), '--max-steps', '1', ...common])
    expect(r.code).not.toBe(0)
    expect(r.stderr).toContain('is a retinanet_resnet50_fpn state dict')
    expect(r.stderr).toContain('--arch retinanet_resnet50_fpn')
  }, 60_000)
})
