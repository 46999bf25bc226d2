// The text workflow from the command line, on a tiny randomly initialised BERT: train, eval,
// predict, export (ONNX and safetensors), inspect, resume, early stopping, the frozen method, and
// the error messages a user sees.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as ort from 'onnxruntime-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openSafetensorsFile } from '../checkpoint/safetensors-node.js'
import { runCli } from '../../test/cli.js'
import { fixtureTokenizer, sentimentCsv, tinyBert } from '../../test/text-fixtures.js'

const dir = mkdtempSync(join(tmpdir(), 'ft-cli-text-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const model = join(dir, 'bert-tiny')
const data = join(dir, 'sent.csv')
const out = join(dir, 'out')
const common = ['--threads', '1', '--lr', '2e-3', '--batch-size', '16', '--schedule', 'constant', '--max-length', '16']
type Ev = { type: string; step?: number; loss?: number; reason?: string; metrics?: Record<string, number> }
const events = (d: string): Ev[] => readFileSync(join(d, 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Ev)

beforeAll(async () => {
  await tinyBert(model)
  sentimentCsv(data, 160)
}, 120_000)

describe('finetune train/eval/predict/export for text classification', () => {
  it('trains to high accuracy and writes a Hugging Face folder with metrics and events', async () => {
    const r = await runCli(['train', '--model', model, '--data', data, '--task', 'text-classification', '--out', out, '--epochs', '12', ...common, '--json'])
    expect(r.code, r.stderr).toBe(0)
    const res = JSON.parse(r.stdout.trim().split('\n').pop()!) as { metrics: Record<string, number> }
    expect(res.metrics['accuracy']).toBeGreaterThanOrEqual(0.9)
    for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'metrics.json', 'events.jsonl', 'training_args.json']) expect(existsSync(join(out, f)), f).toBe(true)
    const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'))
    expect(cfg.architectures).toEqual(['BertForSequenceClassification'])
    expect(cfg.model_type).toBe('bert')
    expect(cfg.id2label).toEqual({ '0': 'negative', '1': 'positive' })
    expect(cfg.label2id).toEqual({ negative: 0, positive: 1 })
    const st = await openSafetensorsFile(join(out, 'model.safetensors'))
    expect(st.metadata['format']).toBe('pt')
    expect(st.keys()).toContain('classifier.weight')
    expect(st.keys()).toContain('bert.encoder.layer.1.output.LayerNorm.bias')
    await st.close()
    const ev = events(out)
    expect(ev[0]!.type).toBe('start')
    expect(ev.filter((e) => e.type === 'step').length).toBeGreaterThan(50)
    expect(ev.some((e) => e.type === 'eval')).toBe(true)
    expect(ev.some((e) => e.type === 'checkpoint')).toBe(true)
    expect(ev[ev.length - 1]!.type).toBe('end')
    const metrics = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8'))
    expect(metrics.accuracy).toBe(res.metrics['accuracy'])
    expect(metrics.peak_rss_mb).toBeGreaterThan(50)
  })

  it('eval prints accuracy; predict prints label, score and logits; the exported ONNX gives the same logits', async () => {
    const e = await runCli(['eval', '--model', out, '--data', data, '--json', '--threads', '1'])
    expect(e.code, e.stderr).toBe(0)
    expect(JSON.parse(e.stdout).accuracy).toBeGreaterThanOrEqual(0.9)
    const texts = ['the movie was great', 'a terrible plot']
    const p = await runCli(['predict', '--model', out, '--json', '--threads', '1', ...texts])
    expect(p.code, p.stderr).toBe(0)
    const preds = p.stdout.trim().split('\n').map((l) => JSON.parse(l) as { label: string; score: number; logits: number[] })
    expect(preds.map((x) => x.label)).toEqual(['positive', 'negative'])
    expect(preds[0]!.logits).toHaveLength(2)
    expect(preds[0]!.score).toBeGreaterThan(0.5)
    const onnxPath = join(dir, 'model.onnx')
    const x = await runCli(['export', '--model', out, '--format', 'onnx', '--out', onnxPath, '--seq-length', '16'])
    expect(x.code, x.stderr).toBe(0)
    const sess = await ort.InferenceSession.create(onnxPath)
    const tok = fixtureTokenizer()
    for (const [i, t] of texts.entries()) {
      const enc = tok.encode(t, null, { maxLength: 16, padding: 'max_length', truncation: true })
      const feeds = {
        input_ids: new ort.Tensor('int64', BigInt64Array.from(enc.ids.map(BigInt)), [1, 16]),
        attention_mask: new ort.Tensor('int64', BigInt64Array.from(enc.attentionMask.map(BigInt)), [1, 16]),
        token_type_ids: new ort.Tensor('int64', BigInt64Array.from(enc.typeIds.map(BigInt)), [1, 16]),
      }
      const lg = Array.from((await sess.run(feeds))['logits']!.data as Float32Array)
      lg.forEach((v, k) => expect(v).toBeCloseTo(preds[i]!.logits[k]!, 4))
    }
    const sf = join(dir, 'export-st')
    expect((await runCli(['export', '--model', out, '--format', 'safetensors', '--out', sf])).code).toBe(0)
    expect(existsSync(join(sf, 'model.safetensors')) && existsSync(join(sf, 'config.json')) && existsSync(join(sf, 'tokenizer.json'))).toBe(true)
    const i = await runCli(['inspect', out, '--json'])
    const info = JSON.parse(i.stdout)
    expect(info.family).toBe('bert')
    expect(info.task).toBe('text-classification')
    expect(info.labels).toEqual(['negative', 'positive'])
    expect(info.parameters).toBeGreaterThan(90_000)
    // one file when the path ends in .safetensors, with the Hugging Face names
    const one = join(dir, 'one', 'model.safetensors')
    expect((await runCli(['export', '--model', out, '--format', 'safetensors', '--out', one])).code).toBe(0)
    const st = await openSafetensorsFile(one)
    expect(st.keys()).toContain('classifier.weight')
    expect(st.keys()).toContain('bert.embeddings.word_embeddings.weight')
    await st.close()
  })

  it('the folder records its task, so eval/predict need no --task; a wrong --task is refused', async () => {
    expect(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).finetune_task).toBe('text-classification')
    const r = await runCli(['predict', '--model', out, '--task', 'token-classification', 'fine'])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/has a sequence-classification head[\s\S]*not one for token-classification/)
  })

  it('predict refuses logits that are not finite instead of printing a label', async () => {
    const bad = join(dir, 'overflow')
    const { cpSync } = await import('node:fs')
    cpSync(out, bad, { recursive: true })
    // finite weights whose logits overflow float32
    const st = await openSafetensorsFile(join(bad, 'model.safetensors'))
    const tensors = await Promise.all(st.keys().map(async (k) => [k, { dtype: 'F32' as const, shape: st.info(k).shape, data: await st.readAsFloat32(k) }] as const))
    await st.close()
    for (const [k, t] of tensors) if (k === 'classifier.weight') t.data.fill(3e38)
    const { writeSafetensorsFile } = await import('../checkpoint/io-node.js')
    await writeSafetensorsFile(join(bad, 'model.safetensors'), tensors, { format: 'pt' })
    const p = await runCli(['predict', '--model', bad, '--threads', '1', 'a fine film'])
    expect(p.code).toBe(1)
    expect(p.stderr).toMatch(/error\[OUTPUT_NOT_FINITE\][\s\S]*overflow[\s\S]*"a fine film"/)
    expect(p.stdout).toBe('')
  })

  it('a resumed run continues with the same losses as an uninterrupted one', async () => {
    const a = join(dir, 'run-a')
    const b = join(dir, 'run-b')
    const args = (o: string, steps: number) => ['train', '--model', model, '--data', data, '--out', o, '--max-steps', String(steps), '--save-every', '4', '--eval-every', '100', ...common]
    expect((await runCli(args(a, 12))).code).toBe(0)
    // run b is "killed" after step 10: its newest checkpoint is step 8
    expect((await runCli(args(b, 10))).code).toBe(0)
    const r = await runCli([...args(b, 12), '--resume'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toMatch(/resuming at step 8/)
    const la = events(a).filter((e) => e.type === 'step' && e.step! > 8).map((e) => e.loss)
    const lb = events(b).filter((e) => e.type === 'step' && e.step! > 8).slice(-4).map((e) => e.loss)
    expect(lb).toEqual(la)
  })

  it('stops early when the metric stops improving', async () => {
    const o = join(dir, 'early')
    const r = await runCli(['train', '--model', model, '--data', data, '--out', o, '--epochs', '20', '--eval-every', '2', '--early-stopping', '2', '--metric', 'eval_loss', '--threads', '1', '--lr', '0', '--max-length', '16'])
    expect(r.code, r.stderr).toBe(0)
    const end = events(o).pop()!
    expect(end.reason).toBe('early-stopping')
    expect(events(o).filter((e) => e.type === 'eval').length).toBe(3)
  })

  it('the frozen method leaves the backbone bit-identical and trains the head', async () => {
    const o = join(dir, 'frozen')
    const r = await runCli(['train', '--model', model, '--data', data, '--out', o, '--method', 'frozen', '--epochs', '3', '--threads', '1', '--lr', '1e-2', '--max-length', '16'])
    expect(r.code, r.stderr).toBe(0)
    const before = await openSafetensorsFile(join(model, 'model.safetensors'))
    const after = await openSafetensorsFile(join(o, 'model.safetensors'))
    for (const k of before.keys()) {
      const x = await before.readAsFloat32(k)
      const y = await after.readAsFloat32(`bert.${k}`)
      expect(Buffer.from(x.buffer).equals(Buffer.from(y.buffer)), k).toBe(true)
    }
    expect(after.keys()).toContain('classifier.weight')
    await before.close()
    await after.close()
  })
})

describe('text errors are one clear message and leave no output folder', () => {
  const fail = async (args: string[], pattern: RegExp, outDir?: string) => {
    const r = await runCli(args)
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(pattern)
    expect(r.stderr).not.toMatch(/\n\s+at .+:\d+:\d+/)
    if (outDir) expect(existsSync(outDir)).toBe(false)
    return r
  }
  it('a missing model folder', () => fail(['train', '--model', join(dir, 'nope'), '--data', data, '--out', join(dir, 'x1')], /model folder .*nope does not exist/, join(dir, 'x1')))
  it('a label column that does not exist', () => fail(['train', '--model', model, '--data', data, '--out', join(dir, 'x2'), '--label-column', 'sentiment'], /sentiment/, join(dir, 'x2')))
  it('an unknown task', async () => {
    const r = await runCli(['train', '--model', model, '--data', data, '--out', join(dir, 'x3'), '--task', 'summarise'])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/--task must be one of text-classification, token-classification, causal-lm/)
  })
  it('a corrupt safetensors file', async () => {
    const bad = join(dir, 'bad-model')
    await tinyBert(bad)
    writeFileSync(join(bad, 'model.safetensors'), Buffer.from([1, 2, 3, 4, 5, 6, 7, 8, 9]))
    await fail(['train', '--model', bad, '--data', data, '--out', join(dir, 'x4')], /model\.safetensors/, join(dir, 'x4'))
  })
  it('a device this ONNX Runtime cannot start fails before the output folder is made', async () => {
    const r = await runCli(['train', '--model', model, '--data', data, '--out', join(dir, 'x5'), '--device', 'cuda'])
    // (on a machine with CUDA this trains instead)
    if (r.code !== 0) {
      expect(r.code).toBe(1)
      expect(r.stderr).toMatch(/could not start the cuda execution provider[\s\S]*--device cpu/)
      expect(r.stderr).not.toMatch(/\[E:onnxruntime/) // only finetune's message, not ORT's log lines
      expect(existsSync(join(dir, 'x5'))).toBe(false)
    } else expect(existsSync(join(dir, 'x5', 'model.safetensors'))).toBe(true)
  })
  it('a non-empty output folder without --resume or --overwrite', () => fail(['train', '--model', model, '--data', data, '--out', out], /is not empty/))
  it('an unknown label at evaluation names the label and the known ones', async () => {
    const f = join(dir, 'unknown.csv')
    writeFileSync(f, 'text,label\n"fine movie",positive\n"odd movie",mixed\n')
    await fail(['eval', '--model', out, '--data', f], /unknown\.csv:3: unknown label "mixed".*"negative", "positive"/)
  })
})
