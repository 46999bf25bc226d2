// --steps-per-run from the command line, on a tiny randomly initialised BERT: K updates per runtime
// call write the events.jsonl, metrics and weights of one update per call; a bad value is refused.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../../test/cli.js'
import { taskDefaults, train } from '../index.js'
import { sentimentCsv, tinyBert } from '../../test/text-fixtures.js'

const dir = mkdtempSync(join(tmpdir(), 'ft-cli-spr-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const model = join(dir, 'bert-tiny')
const data = join(dir, 'sent.csv')
// --max-length 16 puts every example in one length bucket, so runs are not broken by shapes
const common = ['--threads', '1', '--lr', '2e-3', '--batch-size', '8', '--schedule', 'linear', '--warmup-steps', '2', '--max-length', '16', '--eval-every', '8', '--save-every', '4', '--max-steps', '12']
type Ev = { type: string; step?: number; loss?: number; gradNorm?: number; lr?: number; metrics?: Record<string, number> }
const events = (d: string): Ev[] => readFileSync(join(d, 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Ev)

beforeAll(async () => {
  await tinyBert(model)
  sentimentCsv(data, 80)
}, 120_000)

describe('finetune train --steps-per-run', () => {
  it('K = 4 writes the per-step events, evaluations and weights of K = 1', async () => {
    const a = join(dir, 'k1')
    const b = join(dir, 'k4')
    const r1 = await runCli(['train', '--model', model, '--data', data, '--out', a, '--steps-per-run', '1', ...common])
    expect(r1.code, r1.stderr).toBe(0)
    const r4 = await runCli(['train', '--model', model, '--data', data, '--out', b, '--steps-per-run', '4', ...common])
    expect(r4.code, r4.stderr).toBe(0)
    const pick = (d: string) => events(d).filter((e) => e.type === 'step' || e.type === 'eval').map((e) => [e.type, e.step, e.loss, e.gradNorm, e.lr, e.metrics])
    expect(pick(b)).toEqual(pick(a))
    expect(events(b).filter((e) => e.type === 'step').map((e) => e.step)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1))
    const m = (d: string) => JSON.parse(readFileSync(join(d, 'metrics.json'), 'utf8')) as Record<string, unknown>
    expect(m(b)['steps_per_run']).toBe(4)
    expect(m(a)['steps_per_run']).toBe(1)
    expect(readFileSync(join(b, 'model.safetensors')).equals(readFileSync(join(a, 'model.safetensors')))).toBe(true)
  })

  it('refuses a value that is neither "auto" nor a positive whole number, and K > 1 with --grad-accum', async () => {
    const bad = await runCli(['train', '--model', model, '--data', data, '--out', join(dir, 'bad'), '--steps-per-run', '0'])
    expect(bad.code).not.toBe(0)
    expect(bad.stderr).toMatch(/--steps-per-run must be "auto" or a positive whole number of steps \(got "0"\)/)
    // checked before the model or the data are read
    const acc = train({ ...taskDefaults('text-classification'), task: 'text-classification', model, data, out: join(dir, 'acc'), batchSize: 8, stepsPerRun: 4, gradAccum: 2 } as never)
    await expect(acc).rejects.toMatchObject({ code: 'CONFIG_STEPS_PER_RUN', hint: expect.stringMatching(/--steps-per-run 1/) })
    await expect(acc).rejects.toThrow(/--grad-accum is 2/)
  })
})
