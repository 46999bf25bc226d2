// `--task summarization` end to end with the tiny BART folder (test/fixtures/models/bart-tiny) on a
// toy summarisation set built from the gettext corpus (each document three English messages, its
// summary the first): training on document/summary JSONL lowers the loss; eval on a text/summary
// CSV (the fallback default columns) reports ROUGE-1/2/L of generated summaries, equal to the ROUGE
// of what predict writes for the same documents; a missing column names the defaults and the flag.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../../test/cli.js'
import { corpusRouge } from '../tasks/summarization/rouge.js'

const root = new URL('../../', import.meta.url).pathname
const dir = mkdtempSync(join(tmpdir(), 'ft-cli-summarization-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const model = join(root, 'test/fixtures/models/bart-tiny')
const out = join(dir, 'summarizer')
const en = readFileSync(join(root, 'data/gettext/en-de.finetune.tsv'), 'utf8').split('\n').slice(1).map((l) => l.split('\t')[0] ?? '').filter((s) => s.length >= 8 && s.length <= 28 && !/["%,]/.test(s))
const rows = Array.from({ length: 8 }, (_, i) => ({ document: `${en.slice(3 * i, 3 * i + 3).join('. ')}.`, summary: en[3 * i]! }))
const jsonl = join(dir, 'train.jsonl')
const csv = join(dir, 'eval.csv')
type Ev = { type: string; loss?: number; metrics?: Record<string, number> }
let events: Ev[] = []

beforeAll(async () => {
  writeFileSync(jsonl, rows.map((r) => JSON.stringify(r)).join('\n') + '\n')
  writeFileSync(csv, `text,summary\n${rows.map((r) => `${r.document},${r.summary}`).join('\n')}\n`)
  const r = await runCli(['train', '--task', 'summarization', '--model', model, '--data', jsonl, '--validation', jsonl, '--out', out, '--epochs', '45', '--lr', '1e-2', '--batch-size', '8', '--schedule', 'constant', '--threads', '1', '--max-target-length', '24', '--eval-every', '1000'])
  expect(r.code, r.stderr).toBe(0)
  events = readFileSync(join(out, 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Ev)
}, 120_000)

describe('finetune --task summarization', () => {
  it('training on document/summary rows lowers the loss and evaluates with ROUGE', () => {
    const losses = events.filter((e) => e.type === 'step').map((e) => e.loss!)
    expect(losses.at(-1)!).toBeLessThan(losses[0]! / 3)
    const last = events.filter((e) => e.type === 'eval').at(-1)!.metrics!
    for (const k of ['rouge1', 'rouge2', 'rougeL']) expect(last[k]! >= 0 && last[k]! <= 100, k).toBe(true)
    expect(last['bleu']).toBeUndefined()
    const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as Record<string, unknown>
    expect(cfg['finetune_task']).toBe('summarization')
  })

  it("eval's ROUGE (text/summary columns) is the ROUGE of predict's summaries against the references", async () => {
    const e = await runCli(['eval', '--model', out, '--data', csv, '--threads', '1', '--num-beams', '1', '--json'])
    expect(e.code, e.stderr).toBe(0)
    const m = JSON.parse(e.stdout.trim().split('\n').pop()!) as Record<string, number>
    const p = await runCli(['predict', '--model', out, '--data', csv, '--threads', '1', '--num-beams', '1', '--json'])
    expect(p.code, p.stderr).toBe(0)
    const preds = p.stdout.trim().split('\n').map((l) => JSON.parse(l) as { text: string; summary_text: string })
    expect(preds.map((x) => x.text)).toEqual(rows.map((r) => r.document))
    const want = corpusRouge(preds.map((x) => x.summary_text), rows.map((r) => r.summary))
    for (const k of ['rouge1', 'rouge2', 'rougeL'] as const) expect(m[k], k).toBeCloseTo(want[k], 9)
    expect(m['rouge1']).toBeGreaterThan(0)
    expect(Number.isFinite(m['gen_len'])).toBe(true)
  })

  it('a file without the default columns is refused, naming them and the flag', async () => {
    const bad = join(dir, 'articles.jsonl')
    writeFileSync(bad, `${JSON.stringify({ article: 'A long text.', highlights: 'Short.' })}\n`)
    const r = await runCli(['eval', '--model', out, '--data', bad, '--threads', '1'])
    expect(r.code).not.toBe(0)
    expect(r.stderr).toMatch(/no column "document" or "text" \(columns: article, highlights\)[\s\S]*--source-column/)
  })
})
