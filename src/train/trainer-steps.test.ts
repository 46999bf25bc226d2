import { describe, expect, it, vi } from 'vitest'
import * as nn from '../graph/nn.js'
import { MLP, Rng } from '../models/layers.js'
import { Runtime } from '../runtime/session.js'
import type { Callback, TrainEvent } from './events.js'
import { TrainSession, hostF32, hostI64, type TrainState } from './step.js'
import { autoStepsPerRun, Trainer, type Checkpointer, type TrainerOptions, type TrainerProgress, type TrainingJob } from './trainer.js'

const rt = new Runtime({ threads: 1 })

/** Ten batches an epoch; the last has 5 rows instead of 8 (another shape, as a last partial batch or a length bucket has). */
function makeJob(): { job: TrainingJob; model: MLP; calls: number[] } {
  const model = new MLP([6, 16, 3], new Rng(2))
  const session = new TrainSession({ runtime: rt, model, optimizer: { kind: 'adamw', lr: 0.01, weightDecay: 0.01 }, clipNorm: 1, seed: 3, forward: (i) => ({ loss: nn.crossEntropy(nn.dropout(model.forward(i['x']!), 0.1), i['y']!) }) })
  const calls: number[] = []
  const trainSteps = session.trainSteps.bind(session)
  session.trainSteps = (b, l) => (calls.push(b.length), trainSteps(b, l))
  const trainStep = session.trainStep.bind(session)
  session.trainStep = (b, l) => (calls.push(1), trainStep(b, l))
  const batch = (epoch: number, i: number) => {
    const r = new Rng(1000 * epoch + i)
    const n = i === 9 ? 5 : 8
    return { feeds: { x: hostF32(Array.from({ length: n * 6 }, () => r.normal()), [n, 6]), y: hostI64(Array.from({ length: n }, (_, j) => (i + j) % 3), [n]) }, examples: n }
  }
  const evalBatch = batch(99, 0).feeds
  const job: TrainingJob = {
    session,
    trainExamples: 77,
    evalExamples: 8,
    batchesPerEpoch: 10,
    async *batches(epoch, start) {
      for (let i = start; i < 10; i++) yield batch(epoch, i)
    },
    evaluate: async () => ({ eval_loss: (await session.evaluate(evalBatch)).loss! }),
  }
  return { job, model, calls }
}

class MemoryCheckpointer implements Checkpointer {
  saved: { state: TrainState; progress: TrainerProgress }[] = []
  async save(step: number, state: TrainState, progress: TrainerProgress): Promise<string> {
    this.saved.push({ state, progress: structuredClone(progress) })
    return `ckpt-${step}`
  }
  async saveBest(step: number): Promise<string> {
    return `best-${step}`
  }
  async latest(): Promise<{ state: TrainState; progress: TrainerProgress } | null> {
    return this.saved.at(-1) ?? null
  }
}

const base: TrainerOptions = { epochs: 2, schedule: { kind: 'linear', warmupSteps: 3 }, evalEvery: { kind: 'steps', every: 6 }, saveEvery: { kind: 'steps', every: 5 } }

async function train(o: Partial<TrainerOptions>, extra: Callback[] = [], ck = new MemoryCheckpointer(), setup = makeJob()): Promise<{ events: TrainEvent[]; params: Float32Array[]; calls: number[]; ck: MemoryCheckpointer }> {
  const events: TrainEvent[] = []
  const t = new Trainer(setup.job, { ...base, ...o }, [{ onEvent: (e) => void events.push(e) }, ...extra], ck)
  await t.run()
  return { events, params: setup.model.parameters().map((p) => p.data.slice()), calls: setup.calls, ck }
}

const steps = (ev: TrainEvent[]) => ev.filter((e): e is Extract<TrainEvent, { type: 'step' }> => e.type === 'step')
const shape = (ev: TrainEvent[]) => ev.map((e) => `${e.type}@${'step' in e ? e.step : ''}`)

describe('the trainer with several steps per runtime call', () => {
  it('K = 4 gives the events, losses, evaluations, checkpoints and weights of K = 1, bit for bit', async () => {
    const one = await train({ stepsPerRun: 1 })
    const four = await train({ stepsPerRun: 4 })
    expect(shape(four.events)).toEqual(shape(one.events))
    expect(steps(four.events).map((e) => [e.step, e.loss, e.gradNorm, e.lr])).toEqual(steps(one.events).map((e) => [e.step, e.loss, e.gradNorm, e.lr]))
    expect(four.events.filter((e) => e.type === 'eval')).toEqual(one.events.filter((e) => e.type === 'eval'))
    four.params.forEach((p, i) => expect(Array.from(p)).toEqual(Array.from(one.params[i]!)))
    expect(four.ck.saved.map((c) => c.state.step)).toEqual(one.ck.saved.map((c) => c.state.step))
    expect(steps(four.events).map((e) => e.step)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1))
    // runs end at the 5-row batch, at evaluations (every 6) and checkpoints (every 5)
    expect(four.calls.some((k) => k === 4)).toBe(true)
    expect(four.calls.reduce((a, b) => a + b, 0)).toBe(20)
    expect(one.calls.every((k) => k === 1)).toBe(true)
  })

  it('a run killed in the middle of a K-step run resumes to the uninterrupted losses', async () => {
    const whole = await train({ stepsPerRun: 4, evalEvery: { kind: 'none' }, saveEvery: { kind: 'steps', every: 4 } })
    // steps 5..8 come from one run of 4; the process dies while they are being reported
    const ck = new MemoryCheckpointer()
    const die: Callback = {
      onStep: (e) => {
        if (e.step === 6) throw new Error('killed')
      },
    }
    const opts: Partial<TrainerOptions> = { stepsPerRun: 4, evalEvery: { kind: 'none' }, saveEvery: { kind: 'steps', every: 4 } }
    const first = await train(opts, [die], ck).catch((e: Error) => e)
    expect(first).toBeInstanceOf(Error)
    expect(first).toHaveProperty('message', 'killed')
    expect(ck.saved.at(-1)!.state.step).toBe(4)
    const resumed = await train({ ...opts, resume: true }, [], ck)
    expect(resumed.calls).toContain(4)
    const tail = steps(whole.events).filter((e) => e.step > 4)
    expect(steps(resumed.events).map((e) => [e.step, e.loss, e.gradNorm])).toEqual(tail.map((e) => [e.step, e.loss, e.gradNorm]))
    resumed.params.forEach((p, i) => expect(Array.from(p)).toEqual(Array.from(whole.params[i]!)))
  })

  it('a callback that changes what trains ends a run at its step (as gradual unfreezing does)', async () => {
    const unfreezeAt3 = (m: MLP): Callback => {
      m.layers[0]!.requiresGrad(false)
      return { onStep: (e) => void (e.step === 3 && m.layers[0]!.requiresGrad(true)), runBoundary: (step) => step === 3 }
    }
    const a = makeJob()
    const one = await train({ stepsPerRun: 1, evalEvery: { kind: 'none' }, saveEvery: { kind: 'none' } }, [unfreezeAt3(a.model)], undefined, a)
    const b = makeJob()
    const four = await train({ stepsPerRun: 4, evalEvery: { kind: 'none' }, saveEvery: { kind: 'none' } }, [unfreezeAt3(b.model)], undefined, b)
    expect(four.calls.slice(0, 4)).toEqual([1, 1, 1, 4])
    expect(steps(four.events).map((e) => e.loss)).toEqual(steps(one.events).map((e) => e.loss))
    four.params.forEach((p, i) => expect(Array.from(p)).toEqual(Array.from(one.params[i]!)))
  })

  it('auto times single steps first, then runs what it chose; bad values and K > 1 with gradient accumulation are refused', async () => {
    const one = await train({ stepsPerRun: 1, evalEvery: { kind: 'none' }, saveEvery: { kind: 'none' }, epochs: 4 })
    const setup = makeJob()
    const t = new Trainer(setup.job, { ...base, stepsPerRun: 'auto', evalEvery: { kind: 'none' }, saveEvery: { kind: 'none' }, epochs: 4 }, [])
    const res = await t.run()
    expect(setup.calls.slice(0, 4)).toEqual([1, 1, 1, 1])
    // what auto chose depends on timing (for this tiny model compiling a Scan graph rarely pays off;
    // the runtime is shared with the run above, so its single-step graph is compiled already): the
    // runs it made have that one length (or 1 again, where its second K-step run was no faster per
    // step), and the weights are those of single steps
    expect(res.stepsPerRun).toBe(t.stepsPerRun)
    const longer = [...new Set(setup.calls.filter((k) => k > 1))]
    expect(longer.length).toBeLessThanOrEqual(1)
    if (res.stepsPerRun > 1) expect(longer).toEqual([res.stepsPerRun])
    setup.model.parameters().forEach((p, i) => expect(Array.from(p.data)).toEqual(Array.from(one.params[i]!)))
    const s = makeJob()
    const acc = new TrainSession({ runtime: rt, model: s.model, optimizer: { kind: 'sgd', lr: 0.1 }, accumulation: 2, forward: (i) => ({ loss: nn.crossEntropy(s.model.forward(i['x']!), i['y']!) }) })
    expect(() => new Trainer({ ...s.job, session: acc }, { ...base, stepsPerRun: 4 })).toThrow(/--grad-accum is 2/)
    expect(() => new Trainer(s.job, { ...base, stepsPerRun: 0 })).toThrow(/positive integer or "auto"/)
  })

  it('auto keeps K only when its runs are faster per step than single steps (timed by a fake clock)', async () => {
    const runWith = async (kStepMs: number): Promise<number[]> => {
      const setup = makeJob()
      let clock = 0
      const spy = vi.spyOn(performance, 'now').mockImplementation(() => clock)
      try {
        const s = setup.job.session
        const one = s.trainStep.bind(s)
        const many = s.trainSteps.bind(s)
        let first = true
        // single steps take 5 ms (the first, which compiles, 6 ms); K-step runs kStepMs per step
        s.trainStep = async (b, l) => ((clock += first ? 6 : 5), (first = false), one(b, l))
        s.trainSteps = async (b, l) => ((clock += kStepMs * b.length), many(b, l))
        await new Trainer(setup.job, { ...base, stepsPerRun: 'auto', evalEvery: { kind: 'none' }, saveEvery: { kind: 'none' }, epochs: 4 }, []).run()
      } finally {
        spy.mockRestore()
      }
      return setup.calls
    }
    // 0.2 ms a call against 5 ms steps: K = 4 (0.05 ms a step, under 2%); then its runs are judged
    const slower = await runWith(6)
    expect(slower.slice(0, 4)).toEqual([1, 1, 1, 1])
    expect(slower.filter((k) => k === 4).length).toBe(2)
    expect(slower.slice(slower.lastIndexOf(4) + 1).every((k) => k === 1)).toBe(true)
    const faster = await runWith(4)
    expect(faster.filter((k) => k === 4).length).toBeGreaterThan(2)
  })

  it('autoStepsPerRun: K keeps the estimated per-call cost under 2% of a step, bounded by 16 and the run length', () => {
    const mb = 2 ** 20
    // ResNet-18 with AdamW: 134 MB carried, ~300 ms a step -> 67 ms a call: 16 steps bring it to 1.4%
    expect(autoStepsPerRun(300, 134 * mb)).toBe(16)
    // a transformer block: 10 MB, ~20 ms -> 5.2 ms a call -> 16
    expect(autoStepsPerRun(20, 10 * mb, 1000)).toBe(16)
    // LoRA: 0.3 MB of adapters on a 100 ms step -> 0.35 ms a call is already under 2%
    expect(autoStepsPerRun(100, 0.3 * mb, 1000)).toBe(1)
    // a head on cached features: 0.05 MB, 2 ms a step -> 0.225 ms a call needs K = 8 to get under 0.04 ms
    expect(autoStepsPerRun(2, 0.05 * mb, 1000)).toBe(8)
    // the limit (half the distance between evaluations, a quarter of the steps left) bounds K
    expect(autoStepsPerRun(300, 134 * mb, 1.5)).toBe(1)
    expect(autoStepsPerRun(300, 134 * mb, 10)).toBe(8)
    // a Scan graph that takes 5 s to compile is not worth it for 100 steps that would save 67 ms * 7/8 each
    expect(autoStepsPerRun(300, 134 * mb, 16, { compileMs: 5000, remaining: 100 })).toBe(1)
    expect(autoStepsPerRun(300, 134 * mb, 16, { compileMs: 5000, remaining: 1000 })).toBe(16)
  })
})
