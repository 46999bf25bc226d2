// `--task translation` end to end on a slice of the committed gettext corpus (data/gettext, English
// -> German software messages) with the tiny random Marian fixture (test/fixtures/models/marian-tiny):
// training lowers the loss and, on the pairs it learnt, generation reaches a chrF far above the
// untrained model's; eval reports BLEU, chrF and gen_len from generated outputs (HF's
// {"translation": {...}} JSONL rows too); predict translates; bad input gets errors that name it.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../../test/cli.js'

const root = new URL('../../', import.meta.url).pathname
const dir = mkdtempSync(join(tmpdir(), 'ft-cli-translation-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const model = join(root, 'test/fixtures/models/marian-tiny')
const out = join(dir, 'en-de')
// eight short pairs of the held-out desktop catalogues
const pairs = readFileSync(join(root, 'data/gettext/en-de.finetune.tsv'), 'utf8').split('\n').slice(1).map((l) => l.split('\t')).filter((r) => r.length >= 2 && r[0]!.length <= 30 && !(r[0]! + r[1]!).includes('"')).slice(0, 8)
const tsv = join(dir, 'pairs.tsv')
const jsonl = join(dir, 'pairs.jsonl')
type Ev = { type: string; loss?: number; metrics?: Record<string, number> }
let events: Ev[] = []

beforeAll(async () => {
  writeFileSync(tsv, `en\tde\n${pairs.map((r) => `${r[0]}\t${r[1]}`).join('\n')}\n`)
  writeFileSync(jsonl, pairs.map((r) => JSON.stringify({ translation: { en: r[0], de: r[1] } })).join('\n') + '\n')
  const r = await runCli(['train', '--task', 'translation', '--model', model, '--data', tsv, '--validation', tsv, '--source-column', 'en', '--target-column', 'de', '--out', out, '--epochs', '45', '--lr', '1e-2', '--batch-size', '8', '--schedule', 'constant', '--threads', '1', '--max-target-length', '24', '--eval-every', '45'])
  expect(r.code, r.stderr).toBe(0)
  events = readFileSync(join(out, 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Ev)
}, 120_000)

describe('finetune --task translation', () => {
  it('training lowers the loss and evaluation generates: chrF rises, BLEU and gen_len are reported', () => {
    const losses = events.filter((e) => e.type === 'step').map((e) => e.loss!)
    expect(losses.length).toBeGreaterThan(40)
    expect(losses.at(-1)!).toBeLessThan(losses[0]! / 3)
    const evals = events.filter((e) => e.type === 'eval').map((e) => e.metrics!)
    const last = evals.at(-1)!
    expect(last['chrf']).toBeGreaterThan(20)
    expect(last['bleu']).toBeGreaterThanOrEqual(0)
    expect(last['bleu']).toBeLessThanOrEqual(100)
    expect(last['gen_len']).toBeGreaterThan(1)
    for (const f of ['config.json', 'model.safetensors', 'source.spm', 'target.spm', 'vocab.json', 'tokenizer_config.json', 'metrics.json']) expect(existsSync(join(out, f)), f).toBe(true)
    const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as Record<string, unknown>
    expect(cfg['architectures']).toEqual(['MarianMTModel'])
    expect(cfg['finetune_task']).toBe('translation')
  })

  it('eval reads {"translation": {...}} rows and reports bleu, chrf, gen_len and eval_loss', async () => {
    const r = await runCli(['eval', '--model', out, '--data', jsonl, '--source-lang', 'en', '--target-lang', 'de', '--threads', '1', '--json'])
    expect(r.code, r.stderr).toBe(0)
    const m = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, number>
    for (const k of ['bleu', 'chrf', 'gen_len', 'eval_loss']) expect(Number.isFinite(m[k]), k).toBe(true)
    expect(m['chrf']).toBeGreaterThan(20)
  })

  it('predict translates a text it learnt', async () => {
    const r = await runCli(['predict', '--model', out, '--threads', '1', '--num-beams', '3', '--json', pairs[0]![0]!])
    expect(r.code, r.stderr).toBe(0)
    const p = JSON.parse(r.stdout.trim()) as { translation_text: string; tokens: number[] }
    expect(p.translation_text.length).toBeGreaterThan(0)
    expect(p.tokens.at(-1)).toBe(0) // </s>
  })

  it('a missing column is named, with the columns there are and the flag to pass', async () => {
    const a = await runCli(['eval', '--model', out, '--data', tsv, '--threads', '1'])
    expect(a.code).not.toBe(0)
    expect(a.stderr).toMatch(/no column "source" \(columns: en, de\)[\s\S]*--source-column/)
  })
})
