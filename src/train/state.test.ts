import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import * as nn from '../graph/nn.js'
import { Rng } from '../models/layers.js'
import { TransformerBlock } from '../models/transformer-block.js'
import { Runtime } from '../runtime/session.js'
import { openSafetensorsFile } from '../checkpoint/safetensors-node.js'
import { loadTrainState, saveTrainState } from './state-node.js'
import { TrainSession, hostF32 } from './step.js'

const dir = mkdtempSync(join(tmpdir(), 'ft-state-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const rt = new Runtime({ threads: 1 })

function make() {
  const m = new TransformerBlock({ hidden: 8, heads: 2, ffn: 16, dropout: 0.2 }, new Rng(4))
  return { m, s: new TrainSession({ runtime: rt, model: m, optimizer: { kind: 'adamw', lr: 0.02 }, forward: (i) => ({ loss: nn.mse(m.forward(i['x']!), i['t']!) }), seed: 9 }) }
}

describe('training state files', () => {
  it('a run resumed from a saved safetensors state gives bit-identical losses to an uninterrupted run', async () => {
    const rng = new Rng(2)
    const batch = { x: hostF32(new Float32Array(3 * 4 * 8).map(() => rng.normal()), [3, 4, 8]), t: hostF32(new Float32Array(3 * 4 * 8).map(() => rng.normal()), [3, 4, 8]) }
    const a = make()
    const ref: number[] = []
    for (let i = 0; i < 6; i++) ref.push((await a.s.trainStep(batch)).loss)
    const b = make()
    for (let i = 0; i < 3; i++) await b.s.trainStep(batch)
    const path = join(dir, 'state.safetensors')
    await saveTrainState(path, await b.s.exportState())
    const f = await openSafetensorsFile(path)
    expect(f.keys()).toContain('optim.attn.c_attn.weight.exp_avg_sq')
    expect(f.info('optim.attn.c_attn.weight.exp_avg').shape).toEqual([24, 8])
    expect(f.metadata['step']).toBe('3')
    await f.close()
    const c = make()
    c.s.importState(await loadTrainState(path))
    expect(c.s.step).toBe(3)
    const resumed: number[] = []
    for (let i = 0; i < 3; i++) resumed.push((await c.s.trainStep(batch)).loss)
    expect(resumed).toEqual(ref.slice(3))
  })

  it("a state saved with torch's form of Adam's moments (format 1) resumes the same run", async () => {
    const rng = new Rng(3)
    const batch = { x: hostF32(new Float32Array(3 * 4 * 8).map(() => rng.normal()), [3, 4, 8]), t: hostF32(new Float32Array(3 * 4 * 8).map(() => rng.normal()), [3, 4, 8]) }
    const a = make()
    const ref: number[] = []
    for (let i = 0; i < 5; i++) ref.push((await a.s.trainStep(batch)).loss)
    const b = make()
    for (let i = 0; i < 2; i++) await b.s.trainStep(batch)
    const s = await b.s.exportState()
    expect(s.moments).toBe('scaled')
    // torch.optim's exp_avg is (1 - beta1) times the graph's buffer, exp_avg_sq (1 - beta2) times
    const m = s.tensors['optim.attn.c_attn.weight.exp_avg']!.data[0]!
    for (const [k, t] of Object.entries(s.tensors)) {
      if (k.endsWith('.exp_avg')) t.data = t.data.map((x) => x * 0.1)
      else if (k.endsWith('.exp_avg_sq')) t.data = t.data.map((x) => x * 0.001)
    }
    const path = join(dir, 'state-v1.safetensors')
    await saveTrainState(path, s)
    // rewrite the format field as an older finetune wrote it
    const buf = readFileSync(path)
    const n = Number(buf.readBigUInt64LE(0))
    const header = buf.subarray(8, 8 + n).toString('utf8').replace('finetune-train-state/2', 'finetune-train-state/1')
    expect(header.length).toBe(n)
    writeFileSync(path, Buffer.concat([buf.subarray(0, 8), Buffer.from(header, 'utf8'), buf.subarray(8 + n)]))
    const loaded = await loadTrainState(path)
    expect(loaded.moments).toBe('torch')
    const c = make()
    c.s.importState(loaded)
    expect(c.s.state.buffers.get('optim.attn.c_attn.weight.exp_avg')![0]).toBeCloseTo(m, 6)
    const resumed: number[] = []
    for (let i = 0; i < 3; i++) resumed.push((await c.s.trainStep(batch)).loss)
    resumed.forEach((l, i) => expect(l).toBeCloseTo(ref[2 + i]!, 5))
  })

  it('a file that is not a training state is refused with its name', async () => {
    const path = join(dir, 'junk.safetensors')
    writeFileSync(path, Buffer.from('not a safetensors file at all'))
    await expect(loadTrainState(path)).rejects.toThrow(/junk\.safetensors/)
  })
})
