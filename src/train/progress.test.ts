// Progress of the passes a run makes besides its training steps: each evaluation and the features the
// frozen method caches are reported to callbacks' onProgress (for the CLI's bars), not to events.jsonl.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import * as nn from '../graph/nn.js'
import { MLP, Rng } from '../models/layers.js'
import { Runtime } from '../runtime/session.js'
import { evaluateModel, taskDefaults, train } from '../tasks/run-node.js'
import { sentimentCsv, tinyBert } from '../../test/text-fixtures.js'
import { progressReporter, type PhaseProgress, type TrainEvent } from './events.js'
import { TrainSession, hostF32, hostI64 } from './step.js'
import { Trainer, type TrainingJob } from './trainer.js'

const dir = mkdtempSync(join(tmpdir(), 'ft-progress-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const rt = new Runtime({ threads: 1 })

describe('progress of evaluations and cached features', () => {
  it('the trainer reports each evaluation batch by batch up to the evaluation examples, and events.jsonl sees none of it', async () => {
    const model = new MLP([4, 8, 2], new Rng(1))
    const session = new TrainSession({ runtime: rt, model, optimizer: { kind: 'sgd', lr: 0.1 }, forward: (i) => ({ loss: nn.crossEntropy(model.forward(i['x']!), i['y']!) }) })
    const r = new Rng(2)
    const batch = (n: number) => ({ x: hostF32(Array.from({ length: n * 4 }, () => r.normal()), [n, 4]), y: hostI64(Array.from({ length: n }, (_, j) => j % 2), [n]) })
    // ten evaluation examples in batches of 4, 4 and 2
    const evalBatches = [batch(4), batch(4), batch(2)]
    const job: TrainingJob = {
      session,
      trainExamples: 12,
      evalExamples: 10,
      batchesPerEpoch: 3,
      async *batches() {
        for (let i = 0; i < 3; i++) yield { feeds: batch(4), examples: 4 }
      },
      async evaluate() {
        let loss = 0
        for (const b of evalBatches) loss += (await session.evaluate(b)).loss!
        return { eval_loss: loss }
      },
    }
    const seen: PhaseProgress[] = []
    const events: TrainEvent[] = []
    await new Trainer(job, { epochs: 2, schedule: { kind: 'constant' }, evalEvery: { kind: 'epoch' }, saveEvery: { kind: 'none' } }, [{ onProgress: (p) => void seen.push(p), onEvent: (e) => void events.push(e) }]).run()
    const one = [0, 4, 8, 10].map((done) => ({ phase: 'eval', done, total: 10 }))
    expect(seen).toEqual([...one, ...one])
    expect(events.filter((e) => e.type === 'eval')).toHaveLength(2)
    expect(events.every((e) => ['start', 'step', 'eval', 'end'].includes(e.type))).toBe(true)
    // outside evaluations the session tells nobody
    expect(session.onEvaluate).toBeNull()
  })

  it('progressReporter: nothing to report to without an onProgress; done never passes the total', () => {
    expect(progressReporter([{ onEvent: () => undefined }], 'eval')).toBeUndefined()
    expect(progressReporter(undefined, 'features')).toBeUndefined()
    const seen: PhaseProgress[] = []
    progressReporter([{ onProgress: (p) => void seen.push(p) }], 'features')!(12, 10)
    expect(seen).toEqual([{ phase: 'features', done: 10, total: 10 }])
  })

  it('--method frozen reports its features over both splits, then each evaluation', async () => {
    const model = await tinyBert(join(dir, 'bert'))
    const data = sentimentCsv(join(dir, 'sent.csv'), 40)
    const seen: PhaseProgress[] = []
    await train({ ...taskDefaults('text-classification'), task: 'text-classification', model, data, out: join(dir, 'frozen'), method: 'frozen', threads: 1, epochs: 1, batchSize: 8, maxLength: 16, validationSplit: 0.25, saveEvery: 'none', callbacks: [{ onProgress: (p) => void seen.push(p) }] })
    const features = seen.filter((p) => p.phase === 'features')
    expect(features.at(-1)).toEqual({ phase: 'features', done: 40, total: 40 })
    expect(features.every((p, i) => i === 0 || p.done > features[i - 1]!.done)).toBe(true)
    // the features come first; the one evaluation (end of the epoch) counts the 10 held-out rows
    expect(seen.findIndex((p) => p.phase === 'eval')).toBe(features.length)
    expect(seen.filter((p) => p.phase === 'eval').at(-1)).toEqual({ phase: 'eval', done: 10, total: 10 })
    // `finetune eval` on the trained folder: every row of the file, batch by batch
    const evals: PhaseProgress[] = []
    const r = await evaluateModel(join(dir, 'frozen'), data, { threads: 1, batchSize: 16, onProgress: (p) => void evals.push(p) })
    expect(r.examples).toBe(40)
    // text batches follow length buckets: sizes vary, the count reaches every row
    const done = evals.map((p) => p.done)
    expect(done[0]).toBe(0)
    expect(done.at(-1)).toBe(40)
    expect(done.length).toBeGreaterThanOrEqual(4)
    expect(done.every((d, i) => i === 0 || d > done[i - 1]!)).toBe(true)
    expect(evals.every((p) => p.phase === 'eval' && p.total === 40)).toBe(true)
  })
})
