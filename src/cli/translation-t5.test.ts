// `--task translation` with a T5 folder end to end: the tiny random T5 v1.0 fixture
// (test/fixtures/models/t5-tiny: tokenizer.json with the Precompiled normalizer, tied lm_head) is
// fine-tuned with a task prefix on six short pairs of a slice of the gettext corpus (English -> German software
// messages); evaluation reports BLEU/chrF/gen_len from generated text, predict translates, export
// writes an HF folder and ONNX encoder + decoder-step graphs whose greedy decoding in plain
// onnxruntime gives predict's tokens. Training without a prefix warns, as run_translation.py does.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as ort from 'onnxruntime-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { T5Tokenizer } from '../tokenizers/t5.js'
import { runCli } from '../../test/cli.js'

const root = new URL('../../', import.meta.url).pathname
const dir = mkdtempSync(join(tmpdir(), 'ft-cli-t5-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const model = join(root, 'test/fixtures/models/t5-tiny')
const out = join(dir, 't5-en-de')
// a short prefix: the random fixture's sharp cross-attention learns a long shared prefix slowly
const PREFIX = 'de: '
const pairs = readFileSync(join(root, 'data/gettext/en-de.finetune.tsv'), 'utf8').split('\n').slice(1).map((l) => l.split('\t')).filter((r) => r.length >= 2 && r[0]!.length <= 20 && r[1]!.length <= 24 && !(r[0]! + r[1]!).includes('"')).slice(0, 6)
const tsv = join(dir, 'pairs.tsv')
type Ev = { type: string; loss?: number; metrics?: Record<string, number> }
let events: Ev[] = []
let trainStderr = ''

beforeAll(async () => {
  writeFileSync(tsv, `en\tde\n${pairs.map((r) => `${r[0]}\t${r[1]}`).join('\n')}\n`)
  const r = await runCli(['train', '--task', 'translation', '--model', model, '--data', tsv, '--validation', tsv, '--source-column', 'en', '--target-column', 'de', '--source-prefix', PREFIX, '--out', out, '--epochs', '60', '--lr', '2e-2', '--batch-size', '6', '--schedule', 'constant', '--threads', '1', '--max-target-length', '24', '--eval-every', '60'])
  expect(r.code, r.stderr).toBe(0)
  trainStderr = r.stderr
  events = readFileSync(join(out, 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Ev)
}, 120_000)

describe('finetune --task translation with T5', () => {
  it('training with a prefix lowers the loss, evaluates by generating, and writes a T5 folder', () => {
    const losses = events.filter((e) => e.type === 'step').map((e) => e.loss!)
    expect(losses.length).toBe(60)
    expect(losses.at(-1)!).toBeLessThan(losses[0]! / 3)
    const last = events.filter((e) => e.type === 'eval').at(-1)!.metrics!
    expect(last['chrf']).toBeGreaterThan(20)
    expect(last['gen_len']).toBeGreaterThan(1)
    for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'metrics.json']) expect(existsSync(join(out, f)), f).toBe(true)
    const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as Record<string, unknown>
    expect([cfg['architectures'], cfg['model_type'], cfg['finetune_task']]).toEqual([['T5ForConditionalGeneration'], 't5', 'translation'])
    expect(trainStderr).not.toMatch(/without --source-prefix/)
  })

  it('training a T5 without --source-prefix warns and names the flag', async () => {
    const r = await runCli(['train', '--task', 'translation', '--model', model, '--data', tsv, '--source-column', 'en', '--target-column', 'de', '--out', join(dir, 'no-prefix'), '--max-steps', '1', '--validation-split', '0', '--threads', '1'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toMatch(/warning: training a T5 model without --source-prefix[\s\S]*translate English to German/)
  })

  it('eval with the prefix reports bleu, chrf, gen_len and eval_loss', async () => {
    const r = await runCli(['eval', '--model', out, '--data', tsv, '--source-column', 'en', '--target-column', 'de', '--source-prefix', PREFIX, '--threads', '1', '--json'])
    expect(r.code, r.stderr).toBe(0)
    const m = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, number>
    for (const k of ['bleu', 'chrf', 'gen_len', 'eval_loss']) expect(Number.isFinite(m[k]), k).toBe(true)
    expect(m['chrf']).toBeGreaterThan(20)
  })

  it('predict (greedy and beams) translates; the exported ONNX graphs decode the same tokens in plain onnxruntime', async () => {
    const text = pairs[0]![0]!
    const beams = await runCli(['predict', '--model', out, '--source-prefix', PREFIX, '--threads', '1', '--num-beams', '3', '--json', text])
    expect(beams.code, beams.stderr).toBe(0)
    expect((JSON.parse(beams.stdout.trim()) as { translation_text: string }).translation_text.length).toBeGreaterThan(0)
    const p = await runCli(['predict', '--model', out, '--source-prefix', PREFIX, '--threads', '1', '--max-new-tokens', '20', '--json', text])
    expect(p.code, p.stderr).toBe(0)
    const pred = JSON.parse(p.stdout.trim()) as { translation_text: string; tokens: number[] }
    const onnxDir = join(dir, 'onnx')
    const [S, Tmax] = [48, 24]
    const e = await runCli(['export', '--model', out, '--format', 'onnx', '--out', onnxDir, '--batch-size', '1', '--seq-length', String(S), '--cache-length', String(Tmax)])
    expect(e.code, e.stderr).toBe(0)
    for (const f of ['encoder.onnx', 'decoder_step.onnx', 'config.json', 'tokenizer.json']) expect(existsSync(join(onnxDir, f)), f).toBe(true)
    // greedy decoding over the graphs as their documentation describes, with the host cache
    const cfg = JSON.parse(readFileSync(join(onnxDir, 'config.json'), 'utf8')) as { num_decoder_layers: number; num_heads: number; d_kv: number; eos_token_id: number; pad_token_id: number; decoder_start_token_id: number }
    const tok = new T5Tokenizer({ tokenizerJson: readFileSync(join(onnxDir, 'tokenizer.json'), 'utf8') })
    const src = tok.encode(PREFIX + text)
    const [L, nh, hd] = [cfg.num_decoder_layers, cfg.num_heads, cfg.d_kv]
    const i64 = (v: readonly number[], shape: number[]) => new ort.Tensor('int64', BigInt64Array.from(v, (x) => BigInt(x)), shape)
    const opts = { intraOpNumThreads: 1 }
    const enc = await ort.InferenceSession.create(join(onnxDir, 'encoder.onnx'), opts)
    const dec = await ort.InferenceSession.create(join(onnxDir, 'decoder_step.onnx'), opts)
    const mask = i64([...src.map(() => 1), ...new Array<number>(S - src.length).fill(0)], [1, S])
    const cross = await enc.run({ input_ids: i64([...src, ...new Array<number>(S - src.length).fill(cfg.pad_token_id)], [1, S]), attention_mask: mask })
    const past = Array.from({ length: 2 * L }, () => new Float32Array(nh * Tmax * hd))
    const pastMask = new BigInt64Array(Tmax)
    const got: number[] = []
    let token = cfg.decoder_start_token_id
    for (let t = 0; t < 20; t++) {
      const feeds: Record<string, ort.Tensor> = { decoder_input_ids: i64([token], [1, 1]), position_ids: i64([t], [1, 1]), attention_mask: mask, past_mask: new ort.Tensor('int64', pastMask, [1, Tmax]) }
      for (let l = 0; l < L; l++) {
        feeds[`past_key.${l}`] = new ort.Tensor('float32', past[2 * l]!, [1, nh, Tmax, hd])
        feeds[`past_value.${l}`] = new ort.Tensor('float32', past[2 * l + 1]!, [1, nh, Tmax, hd])
        feeds[`cross_key.${l}`] = cross[`cross_key.${l}`]!
        feeds[`cross_value.${l}`] = cross[`cross_value.${l}`]!
      }
      const r = await dec.run(feeds)
      for (let l = 0; l < L; l++)
        for (const [k, name] of [[2 * l, `key.${l}`], [2 * l + 1, `value.${l}`]] as const) {
          const kv = r[name]!.data as Float32Array
          for (let h = 0; h < nh; h++) past[k]!.set(kv.subarray(h * hd, (h + 1) * hd), (h * Tmax + t) * hd)
        }
      pastMask[t] = 1n
      const logits = r['logits']!.data as Float32Array
      token = logits.indexOf(Math.max(...logits))
      got.push(token)
      if (token === cfg.eos_token_id) break
    }
    await enc.release()
    await dec.release()
    expect(got).toEqual(pred.tokens)
    expect(tok.decode(got)).toBe(pred.translation_text)
  })

  it('export --format safetensors writes a folder that loads again', async () => {
    const hf = join(dir, 'hf')
    const e = await runCli(['export', '--model', out, '--format', 'safetensors', '--out', hf])
    expect(e.code, e.stderr).toBe(0)
    const i = await runCli(['inspect', hf, '--json'])
    expect(i.code, i.stderr).toBe(0)
    expect(JSON.parse(i.stdout) as Record<string, unknown>).toMatchObject({ family: 't5', architecture: 'T5ForConditionalGeneration', tokenizer: { type: 't5' } })
  })
})
