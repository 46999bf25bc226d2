// Semantic segmentation from the command line on a tiny synthetic data set written here (coloured
// squares and bars on a noisy background, masks as VOC-palette PNGs): an LR-ASPP MobileNetV3 state
// dict with random weights is fine-tuned (loss falls, mIoU reported), evaluated, predicts PNG masks,
// draws them over the images (--draw), and exports ONNX that plain onnxruntime runs with the same
// masks; bad masks stop with file and value.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { deflateSync, inflateSync } from 'node:zlib'
import * as ort from 'onnxruntime-node'
import sharp from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../../test/cli.js'
import { writeSafetensorsFile } from '../checkpoint/io-node.js'
import { decodeIndexPng, encodeIndexPng, vocPalette } from '../data/index-mask.js'
import { modelTensors } from '../models/pretrained-node.js'
import { SegmentationModel } from '../models/segmentation.js'
import { Rng } from '../runtime/rng.js'
import { normalise } from '../tasks/semantic-segmentation/data-node.js'

const dir = mkdtempSync(join(tmpdir(), 'ft-cli-seg-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const S = 48
const data = join(dir, 'shapes')
const weights = join(dir, 'lraspp.safetensors')
const out = join(dir, 'out')
const common = ['--threads', '2', '--image-size', String(S)]
const COLOURS: [number, number, number][] = [[0, 0, 0], [220, 40, 40], [40, 60, 230]]

/** An image with a red square (class 1) and a blue bar (class 2) on dark noise (class 0); one corner ignored (255). */
function scene(rng: Rng): { rgb: Uint8Array; mask: Uint8Array } {
  const rgb = new Uint8Array(S * S * 3)
  const mask = new Uint8Array(S * S)
  for (let i = 0; i < S * S; i++) for (let c = 0; c < 3; c++) rgb[3 * i + c] = Math.floor(rng.next() * 60)
  const paint = (cls: number, x0: number, y0: number, w: number, h: number): void => {
    for (let y = y0; y < Math.min(S, y0 + h); y++) for (let x = x0; x < Math.min(S, x0 + w); x++) {
      mask[y * S + x] = cls
      for (let c = 0; c < 3; c++) rgb[3 * (y * S + x) + c] = COLOURS[cls]![c]! + Math.floor(rng.next() * 30)
    }
  }
  paint(1, rng.int(S / 2), rng.int(S / 2), S / 4 + rng.int(S / 8), S / 4 + rng.int(S / 8))
  paint(2, rng.int(S - S / 4), rng.int(S / 2), S / 8 + rng.int(S / 16), S / 2)
  for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) mask[y * S + x] = 255
  return { rgb, mask }
}

async function writeScenes(root: string, n: number, seed: number): Promise<void> {
  mkdirSync(join(root, 'images'), { recursive: true })
  mkdirSync(join(root, 'masks'), { recursive: true })
  writeFileSync(join(root, 'classes.txt'), 'background\nred\nblue\n')
  const rng = new Rng(seed)
  for (let i = 0; i < n; i++) {
    const s = scene(rng)
    await sharp(s.rgb, { raw: { width: S, height: S, channels: 3 } }).png().toFile(join(root, 'images', `s${i}.png`))
    writeFileSync(join(root, 'masks', `s${i}.png`), encodeIndexPng({ width: S, height: S, data: s.mask }, (z) => deflateSync(z)))
  }
}

beforeAll(async () => {
  await writeScenes(data, 16, 1)
  // torchvision's builder with random weights, 21 classes (its pretrained configuration), as a state dict
  const m = new SegmentationModel('lraspp_mobilenet_v3_large', 21, { seed: 3 })
  m.nameParameters()
  await writeSafetensorsFile(weights, modelTensors(m as never), { format: 'pt' })
}, 120_000)

const events = (d: string) => readFileSync(join(d, 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; loss?: number })

describe('semantic segmentation from the command line', () => {
  it('fine-tunes LR-ASPP on image + mask folders: new class convolutions, loss falls, mIoU and pixel accuracy reported', async () => {
    const r = await runCli(['train', '--task', 'semantic-segmentation', '--model', weights, '--arch', 'lraspp_mobilenet_v3_large', '--data', data, '--out', out, '--epochs', '5', '--batch-size', '4', '--optimizer', 'adamw', '--lr', '1e-2', '--weight-decay', '0', '--validation-split', '0.2', '--freeze-bn', '--save-every', 'none', '--json', ...common], { timeoutMs: 300_000 })
    expect(r.code, r.stderr).toBe(0)
    const res = JSON.parse(r.stdout.trim().split('\n').pop()!) as { metrics: Record<string, number>; labels: string[] }
    expect(res.labels).toEqual(['background', 'red', 'blue'])
    const steps = events(out).filter((e) => e.type === 'step').map((e) => e.loss!)
    const head = steps.slice(0, 4).reduce((a, b) => a + b, 0) / 4
    const tail = steps.slice(-4).reduce((a, b) => a + b, 0) / 4
    expect(tail).toBeLessThan(0.6 * head)
    expect(res.metrics['mIoU']).toBeGreaterThan(0.4)
    expect(res.metrics['pixel_accuracy']).toBeGreaterThan(0.7)
    expect(res.metrics['mIoU']).toBeLessThanOrEqual(1)
    const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'))
    expect(cfg).toMatchObject({ finetune_task: 'semantic-segmentation', finetune_arch: 'lraspp_mobilenet_v3_large', image_size: S, id2label: { '0': 'background', '1': 'red', '2': 'blue' } })
  }, 300_000)

  it('eval reports mIoU, class accuracy, pixel accuracy and per-class IoU; predict writes palette masks; the ONNX export gives the same masks', async () => {
    const e = await runCli(['eval', '--model', out, '--data', data, '--json', ...common])
    expect(e.code, e.stderr).toBe(0)
    const m = JSON.parse(e.stdout) as Record<string, number>
    for (const k of ['mIoU', 'mAcc', 'pixel_accuracy', 'iou_background', 'eval_loss']) expect(Number.isFinite(m[k]), k).toBe(true)

    const masks = join(dir, 'pred')
    const imgs = [join(data, 'images', 's0.png'), join(data, 'images', 's1.png')]
    const drawDir = join(dir, 'drawn')
    const p = await runCli(['predict', '--model', out, '--mask-dir', masks, '--draw', drawDir, '--json', ...common, ...imgs])
    expect(p.code, p.stderr).toBe(0)
    const recs = p.stdout.trim().split('\n').map((l) => JSON.parse(l) as { path: string; mask: string; drawn: string; pixels: Record<string, number>; logits: number[] })
    expect(recs.map((r) => r.mask)).toEqual([join(masks, 's0.png'), join(masks, 's1.png')])
    // --draw: every pixel of a predicted class other than 0 is the image blended half and half with its VOC colour; class 0 is the image
    expect(recs.map((r) => r.drawn)).toEqual([join(drawDir, 's0.png'), join(drawDir, 's1.png')])
    const palette = vocPalette()
    for (const [k, rec] of recs.entries()) {
      const mask = decodeIndexPng(readFileSync(rec.mask), (z) => inflateSync(z))
      const src = new Uint8Array((await sharp(imgs[k]!).raw().toBuffer()))
      const drawn = await sharp(readFileSync(rec.drawn)).raw().toBuffer({ resolveWithObject: true })
      expect([drawn.info.width, drawn.info.height, drawn.info.channels]).toEqual([S, S, 3])
      const want = src.map((v, i) => {
        const c = mask.data[Math.floor(i / 3)]!
        return c === 0 ? v : Math.round(0.5 * v + 0.5 * palette[3 * c + (i % 3)]!)
      })
      expect(new Uint8Array(drawn.data)).toEqual(want)
    }
    const sess = await ort.InferenceSession.create(await exported())
    for (const [k, rec] of recs.entries()) {
      const png = readFileSync(rec.mask)
      const mask = decodeIndexPng(png, (z) => inflateSync(z))
      expect([mask.width, mask.height]).toEqual([S, S])
      expect(Object.values(rec.pixels).reduce((a, b) => a + b, 0)).toBe(S * S)
      const { data: px } = await sharp(imgs[k]!).raw().toBuffer({ resolveWithObject: true })
      const r = await sess.run({ pixel_values: new ort.Tensor('float32', normalise({ width: S, height: S, channels: 3, data: new Uint8Array(px) }), [1, 3, S, S]) })
      const lg = r['logits']!.data as Float32Array                                     // (1, 3, S, S)
      let same = 0
      for (let i = 0; i < S * S; i++) {
        let best = 0
        for (let c = 1; c < 3; c++) if (lg[c * S * S + i]! > lg[best * S * S + i]!) best = c
        if (best === mask.data[i]) same++
      }
      expect(same / (S * S)).toBeGreaterThan(0.999) // ties within float rounding may flip a pixel
    }
  }, 120_000)

  it('a mask with a class beyond the labels stops training with the file, the pixel and the value', async () => {
    const bad = join(dir, 'bad')
    await writeScenes(bad, 4, 2)
    const m = new Uint8Array(S * S).fill(0)
    m[5 * S + 7] = 9
    writeFileSync(join(bad, 'masks', 's2.png'), encodeIndexPng({ width: S, height: S, data: m }, (z) => deflateSync(z)))
    const r = await runCli(['train', '--task', 'semantic-segmentation', '--model', weights, '--arch', 'lraspp_mobilenet_v3_large', '--data', bad, '--out', join(dir, 'bad-out'), '--epochs', '1', '--batch-size', '2', '--validation-split', '0', ...common])
    expect(r.code).not.toBe(0)
    expect(r.stderr).toContain(join(bad, 'masks', 's2.png'))
    expect(r.stderr).toMatch(/pixel \(7, 5\) has class 9, but there are 3 classes/)
  }, 120_000)

  it('a mask whose size differs from its image is refused with both sizes', async () => {
    const bad = join(dir, 'bad-size')
    await writeScenes(bad, 2, 3)
    writeFileSync(join(bad, 'masks', 's1.png'), encodeIndexPng({ width: 8, height: 8, data: new Uint8Array(64) }, (z) => deflateSync(z)))
    const r = await runCli(['train', '--task', 'semantic-segmentation', '--model', weights, '--arch', 'lraspp_mobilenet_v3_large', '--data', bad, '--out', join(dir, 'bad-out2'), '--epochs', '1', '--batch-size', '1', ...common])
    expect(r.code).not.toBe(0)
    expect(r.stderr).toMatch(/s1\.png: is 8x8 but its image s1\.png is 48x48/)
  })
})

let onnxPath: string | null = null
async function exported(): Promise<string> {
  if (onnxPath) return onnxPath
  const f = join(dir, 'seg.onnx')
  const x = await runCli(['export', '--model', out, '--format', 'onnx', '--out', f])
  expect(x.code, x.stderr).toBe(0)
  expect(existsSync(f)).toBe(true)
  onnxPath = f
  return f
}
