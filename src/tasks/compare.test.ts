// finetune compare on a tiny BERT that was first trained on related data (standing in for
// pre-training) against the same architecture from random weights: the report has every field, the
// subsets are class-balanced and nested, and the comparison finds the benefit that is there.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { selectSubset } from '../data/subset.js'
import { sentimentCsv, tinyBert } from '../../test/text-fixtures.js'
import { runCli } from '../../test/cli.js'
import { taskDefaults, train } from './run-node.js'
import { compare, type CompareResult } from './compare-node.js'
import { Runtime } from '../runtime/session.js'

const dir = mkdtempSync(join(tmpdir(), 'ft-compare-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const pre = join(dir, 'pretrained')

beforeAll(async () => {
  await tinyBert(join(dir, 'bert'))
  sentimentCsv(join(dir, 'related.csv'), 200, 5)
  sentimentCsv(join(dir, 'train.csv'), 200, 1)
  sentimentCsv(join(dir, 'test.csv'), 100, 2)
  // "pre-training": the tiny BERT trained on related data, then used as the starting point
  await train({ ...taskDefaults('text-classification'), task: 'text-classification', model: join(dir, 'bert'), data: join(dir, 'related.csv'), out: pre, epochs: 10, lr: 2e-3, batchSize: 16, maxLength: 16, threads: 1, saveEvery: 'none', schedule: 'constant' })
}, 120_000)

describe('label subsets', () => {
  it('are class-balanced, seeded and nested across budgets', () => {
    const labels = Array.from({ length: 50 }, (_, i) => i % 3)
    const a = selectSubset(labels, { size: 2, perClass: true, seed: 4 })
    const b = selectSubset(labels, { size: 5, perClass: true, seed: 4 })
    expect(a.train.map((i) => labels[i]).sort()).toEqual([0, 0, 1, 1, 2, 2])
    expect(a.train.every((i) => b.train.includes(i))).toBe(true)
    expect(selectSubset(labels, { size: 2, perClass: true, seed: 5 }).train).not.toEqual(a.train)
    const total = selectSubset(labels, { size: 7, perClass: false, seed: 1 })
    expect(total.train.length).toBe(7)
    expect(new Set(total.train.map((i) => labels[i])).size).toBe(3)
    const held = selectSubset(labels, { size: 10, perClass: true, seed: 1, holdout: 0.2 })
    expect([held.train.length, held.holdout.length]).toEqual([24, 6])
    expect(() => selectSubset(labels, { size: 40, perClass: true, seed: 1 })).toThrow(/class 0, 1, 2 has fewer/)
  })
})

describe('finetune compare', () => {
  it('writes report.json with both sides per budget and finds the benefit of a pre-trained start', async () => {
    const out = join(dir, 'cmp')
    const r = await runCli(['compare', '--task', 'text-classification', '--model', pre, '--data', join(dir, 'train.csv'), '--test', join(dir, 'test.csv'), '--budgets', '1,all', '--per-class', '--seeds', '2', '--steps', '15', '--eval-points', '3', '--lr-grid', '2e-3', '--batch-size', '16', '--max-length', '16', '--threads', '1', '--out', out])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/budget\s+labels\s+pretrained accuracy\s+scratch accuracy/)
    const rep = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as CompareResult
    expect(rep).toMatchObject({ task: 'text-classification', metric: 'accuracy', higher_is_better: true, seeds: 2, per_class: true })
    expect(rep.budgets.map((b) => [b.budget, b.labels, b.steps])).toEqual([[1, 2, 15], ['all', 200, 15]])
    for (const b of rep.budgets)
      for (const side of [b.pretrained, b.scratch]) {
        expect(side.runs.map((x) => x.seed)).toEqual([0, 1])
        for (const run of side.runs) {
          expect(run.value).toBeGreaterThanOrEqual(0)
          expect(run.wall_s).toBeGreaterThan(0)
          expect(run).toHaveProperty('time_to_target_s')
        }
        expect(side.mean).toBeCloseTo((side.runs[0]!.value + side.runs[1]!.value) / 2, 10)
      }
    expect(rep.curves.pretrained['1']!.length).toBeGreaterThanOrEqual(3) // mean over seeds per evaluation
    expect(rep.curves.scratch['all']!.at(-1)!.step).toBe(15)
    expect(readFileSync(join(out, 'report.html'), 'utf8')).toMatch(/<html[\s\S]*uPlot/)
    // one label per class: the pre-trained start is far ahead, and reaches the scratch side's best at once
    const one = rep.budgets[0]!
    expect(one.pretrained.mean).toBeGreaterThan(0.9)
    expect(one.pretrained.mean).toBeGreaterThan(one.scratch.mean + 0.1)
    expect(one.pretrained.runs.every((x) => x.time_to_target_s !== null)).toBe(true)
    expect(rep.fairness).toMatch(/same class-balanced subsets/)
  })
})

describe('train() on a runtime it is given', () => {
  it('refuses one made for another device before touching the output folder', async () => {
    const out = join(dir, 'wrong-runtime')
    const other = { provider: 'webgpu' } as Runtime
    const err = await train({ ...taskDefaults('text-classification'), task: 'text-classification', model: pre, data: join(dir, 'train.csv'), out, device: 'cpu', runtime: other }).then(() => null, (e: unknown) => e as { code: string; message: string })
    expect(err?.code).toBe('CONFIG_RUNTIME')
    expect(err?.message).toMatch(/runs on webgpu, but the device asked for is cpu/)
    expect(existsSync(out)).toBe(false)
  })
})

describe('compare shares compiled graphs across runs', () => {
  it('starts each graph once: later seeds and the other side reuse the sessions of the first run', async () => {
    const rt = new Runtime({ threads: 1 })
    const started: number[] = []
    try {
      const r = await compare({
        task: 'text-classification', model: pre, data: join(dir, 'train.csv'), test: join(dir, 'test.csv'), budgets: [4], perClass: true, seeds: 2,
        out: join(dir, 'cmp-shared'), overwrite: true, steps: 6, evalPoints: 2, lrGrid: [2e-3], runtime: rt,
        train: { batchSize: 4, maxLength: 16, stepsPerRun: 1, callbacks: [{ onEnd: () => void started.push(rt.sessionsStarted) }] },
      })
      expect(r.budgets[0]!.pretrained.runs).toHaveLength(2)
      // four runs (two seeds, two sides) of one network on batches of one shape
      expect(started).toHaveLength(4)
      expect(started[0]).toBeGreaterThanOrEqual(2) // a training step and an evaluation
      expect(started).toEqual([started[0], started[0], started[0], started[0]])
      // compare leaves a runtime it was given open
      expect(rt.cachedSessions).toBeGreaterThan(0)
    } finally {
      await rt.dispose()
    }
  })
})
