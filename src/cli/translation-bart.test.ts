// `--task translation` end to end with a BART folder (test/fixtures/models/bart-tiny: bart-base's
// config at tiny sizes, random weights, byte-level BPE vocab.json + merges.txt) on a slice of the
// gettext en-de corpus: train -> eval with beams (BLEU, chrF) -> predict -> export (HF folder and
// ONNX encoder + decoder-step); the ONNX graphs, decoded greedily by hand in plain onnxruntime,
// give predict's tokens.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../../test/cli.js'
import { onnxGreedy } from '../../test/seq2seq-onnx.js'
import { loadTokenizer } from '../tokenizers/load.js'
import { TextPairTokenizer } from '../tokenizers/seq2seq.js'

const root = new URL('../../', import.meta.url).pathname
const dir = mkdtempSync(join(tmpdir(), 'ft-cli-bart-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const model = join(root, 'test/fixtures/models/bart-tiny')
const out = join(dir, 'en-de')
const pairs = readFileSync(join(root, 'data/gettext/en-de.finetune.tsv'), 'utf8').split('\n').slice(1).map((l) => l.split('\t')).filter((r) => r.length >= 2 && r[0]!.length <= 30 && !(r[0]! + r[1]!).includes('"')).slice(0, 8)
const tsv = join(dir, 'pairs.tsv')
type Ev = { type: string; loss?: number; metrics?: Record<string, number> }
let events: Ev[] = []
const predictJson = async (m: string, text: string, extra: string[]) => {
  const r = await runCli(['predict', '--model', m, '--threads', '1', '--json', ...extra, text])
  expect(r.code, r.stderr).toBe(0)
  return JSON.parse(r.stdout.trim()) as { translation_text: string; tokens: number[] }
}

beforeAll(async () => {
  writeFileSync(tsv, `en\tde\n${pairs.map((r) => `${r[0]}\t${r[1]}`).join('\n')}\n`)
  const r = await runCli(['train', '--task', 'translation', '--model', model, '--data', tsv, '--validation', tsv, '--source-column', 'en', '--target-column', 'de', '--out', out, '--epochs', '45', '--lr', '1e-2', '--batch-size', '8', '--schedule', 'constant', '--threads', '1', '--max-target-length', '24', '--eval-every', '1000'])
  expect(r.code, r.stderr).toBe(0)
  events = readFileSync(join(out, 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Ev)
}, 120_000)

describe('finetune --task translation with a BART folder', () => {
  it('training lowers the loss; the saved folder is a BART folder with its BPE tokenizer', () => {
    const losses = events.filter((e) => e.type === 'step').map((e) => e.loss!)
    expect(losses.at(-1)!).toBeLessThan(losses[0]! / 3)
    for (const f of ['config.json', 'model.safetensors', 'vocab.json', 'merges.txt', 'tokenizer_config.json']) expect(existsSync(join(out, f)), f).toBe(true)
    const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as Record<string, unknown>
    expect([cfg['architectures'], cfg['model_type'], cfg['finetune_task'], cfg['forced_bos_token_id']]).toEqual([['BartForConditionalGeneration'], 'bart', 'translation', 0])
  })

  it('eval generates with beams and reports BLEU, chrF and gen_len on the pairs it learnt', async () => {
    const r = await runCli(['eval', '--model', out, '--data', tsv, '--source-column', 'en', '--target-column', 'de', '--threads', '1', '--num-beams', '3', '--no-repeat-ngram-size', '0', '--json'])
    expect(r.code, r.stderr).toBe(0)
    const m = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, number>
    for (const k of ['bleu', 'chrf', 'gen_len', 'eval_loss']) expect(Number.isFinite(m[k]), k).toBe(true)
    expect(m['chrf']).toBeGreaterThan(20)
    expect(m['gen_len']).toBeGreaterThan(2)
  })

  it('predict starts with the forced <s> and ends with </s>; the ONNX export decodes in plain onnxruntime to the same tokens', async () => {
    const text = pairs[0]![0]!
    const flags = ['--num-beams', '1', '--no-repeat-ngram-size', '0', '--max-new-tokens', '20']
    const p = await predictJson(out, text, flags)
    expect([p.tokens[0], p.tokens.at(-1)]).toEqual([0, 2])
    expect(p.translation_text.length).toBeGreaterThan(0)
    const onnxDir = join(dir, 'onnx')
    const e = await runCli(['export', '--model', out, '--format', 'onnx', '--out', onnxDir, '--seq-length', '16', '--cache-length', '24'])
    expect(e.code, e.stderr).toBe(0)
    const tok = new TextPairTokenizer(loadTokenizer({ vocabJson: readFileSync(join(out, 'vocab.json'), 'utf8'), mergesTxt: readFileSync(join(out, 'merges.txt'), 'utf8'), tokenizerConfigJson: readFileSync(join(out, 'tokenizer_config.json'), 'utf8') }))
    const got = await onnxGreedy(onnxDir, tok.encode(text), { S: 16, Tmax: 24, start: 2, eos: 2, pad: 1, forcedBos: 0, forcedEos: 2, maxNewTokens: 20 })
    expect(got).toEqual(p.tokens)
  })

  it('export --format safetensors writes an HF BART folder with the trained weights and the tokenizer', async () => {
    const hf = join(dir, 'hf')
    const s = await runCli(['export', '--model', out, '--format', 'safetensors', '--out', hf])
    expect(s.code, s.stderr).toBe(0)
    expect(readFileSync(join(hf, 'model.safetensors')).equals(readFileSync(join(out, 'model.safetensors')))).toBe(true)
    for (const f of ['vocab.json', 'merges.txt', 'tokenizer_config.json']) expect(readFileSync(join(hf, f), 'utf8'), f).toBe(readFileSync(join(model, f), 'utf8'))
    expect((JSON.parse(readFileSync(join(hf, 'config.json'), 'utf8')) as Record<string, unknown>)['architectures']).toEqual(['BartForConditionalGeneration'])
  })

  it('a BART folder without merges.txt is refused, naming the folder and the files it needs', async () => {
    const broken = join(dir, 'no-merges')
    mkdirSync(broken)
    for (const f of ['config.json', 'model.safetensors', 'vocab.json', 'tokenizer_config.json']) copyFileSync(join(model, f), join(broken, f))
    const r = await runCli(['predict', '--model', broken, '--threads', '1', 'Author'])
    expect(r.code).not.toBe(0)
    expect(r.stderr).toContain(broken)
    expect(r.stderr).toMatch(/vocab\.json \+ merges\.txt/)
  })
})
