// The helpers the audio- and image-classification tasks share (src/tasks/classification-node.ts and
// the frozen-method pieces of src/train/classify-eval.ts), on hand-made inputs; the CLI tests
// (src/cli/audio*.test.ts, src/cli/image.test.ts) run them end to end.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { Parameter } from '../graph/graph.js'
import { Module } from '../graph/module.js'
import { epochOrder } from '../data/order.js'
import { featureBatches, trainHeadOnly } from '../train/classify-eval.js'
import { classesRow, copySourceGraph, exportWeightsFolder, id2labelJson, predictLabels } from './classification-node.js'

const dir = mkdtempSync(join(tmpdir(), 'ft-classify-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** Two batches over three files; `logits` per batch, row-major over 2 labels. */
function files(logits: number[][]) {
  const state = { closed: false }
  const set = {
    paths: ['a.wav', 'b.wav', 'c.wav'],
    async *batches() {
      yield { indices: Uint32Array.from([0, 1]), logits: Float32Array.from(logits[0]!) }
      yield { indices: Uint32Array.from([2]), logits: Float32Array.from(logits[1]!) }
    },
    close: async () => {
      state.closed = true
    },
  }
  return { set, state }
}

describe('predict over files', () => {
  it('gives each file its best label, softmax score and logits, in path order, and closes the set', async () => {
    const { set, state } = files([[2, 0, 0, 1], [0.5, 0.5]])
    const out = await predictLabels(set, 2, async (b) => b.logits, ['no', 'yes'], 'm')
    expect(out.map((r) => [r.path, r.label])).toEqual([['a.wav', 'no'], ['b.wav', 'yes'], ['c.wav', 'no']])
    expect(out[0]!.score).toBeCloseTo(1 / (1 + Math.exp(-2)), 6)
    expect(out[2]!.score).toBeCloseTo(0.5, 6)
    expect(out[1]!.logits).toEqual([0, 1])
    expect(state.closed).toBe(true)
  })

  it('names the model and the file whose logits are not finite, and still closes the set', async () => {
    const { set, state } = files([[0, 1, 0, 1], [NaN, 0]])
    await expect(predictLabels(set, 2, async (b) => b.logits, ['no', 'yes'], 'kws/')).rejects.toThrow(/kws\/ gave NaN logits for c\.wav/)
    expect(state.closed).toBe(true)
  })
})

describe('exports', () => {
  it('a weights export refuses a file as --out, naming it and what to pass', async () => {
    const file = join(dir, 'taken')
    writeFileSync(file, 'x')
    const m = new (class extends Module {})()
    await expect(exportWeightsFolder(file, m, null, async () => {}, { baseModel: 'm', task: 'image-classification', orFile: '(or one file when the path ends in .safetensors)' })).rejects.toThrow(`${file} is a file; safetensors export writes a folder (or one file when the path ends in .safetensors)`)
    await expect(exportWeightsFolder(file, m, null, async () => {}, { baseModel: 'm', task: 'audio-classification' })).rejects.toThrow(new RegExp(`${file} is a file; safetensors export writes a folder$`))
  })

  it('an untrained graph is copied byte for byte, dynamic axes read -1', async () => {
    const src = join(dir, 'g.onnx')
    writeFileSync(src, Uint8Array.from([8, 7, 1, 2]))
    const out = join(dir, 'sub', 'g.onnx')
    const r = await copySourceGraph(src, out, { name: 'audio', shape: ['batch', 16000, null] })
    expect(r).toEqual({ path: out, inputs: { audio: [-1, 16000, -1] } })
    expect([...readFileSync(out)]).toEqual([8, 7, 1, 2])
  })

  it('id2label and the inspect row list the labels by id', () => {
    expect(JSON.parse(id2labelJson(['cat', 'dog']))).toEqual({ 0: 'cat', 1: 'dog' })
    expect(classesRow(['a', 'b'])).toEqual(['classes', '2: a, b'])
    expect(classesRow(Array.from({ length: 21 }, (_, i) => `c${i}`))[1]).toMatch(/^21: c0, .*, c19, \.\.\.$/)
  })
})

describe('the frozen method', () => {
  it('trains the head alone', () => {
    class M extends Module {
      backbone = new Parameter([2, 2])
      classifier = new Parameter([2])
      classifier_extra = new Parameter([1])
      stats = new Parameter([2], { kind: 'buffer' })
      headPrefixes = ['classifier']
    }
    const m = new M()
    trainHeadOnly(m)
    expect(Object.fromEntries(m.namedParameters().map(([n, p]) => [n, p.requiresGrad]))).toEqual({ backbone: false, classifier: true, classifier_extra: false, stats: false })
  })

  it('feeds every cached row once per epoch in the seeded order, and resumes from a batch', () => {
    const n = 5
    const F = 2
    const f = Float32Array.from({ length: n * F }, (_, i) => i)
    const l = BigInt64Array.from({ length: n }, (_, i) => BigInt(10 + i))
    const all = [...featureBatches(f, l, n, F, 2, 7, 3, 0)]
    expect(all.map((b) => b.examples)).toEqual([2, 2, 1])
    const labels = all.flatMap((b) => [...(b.feeds['labels']!.data as BigInt64Array)].map(Number))
    expect(labels).toEqual([...epochOrder(n, 7, 3)].map((e) => 10 + e))
    const first = all[0]!.feeds['features']!
    const e0 = epochOrder(n, 7, 3)[0]!
    expect(first.shape).toEqual([2, F])
    expect([...(first.data as Float32Array).subarray(0, F)]).toEqual([e0 * F, e0 * F + 1])
    expect([...featureBatches(f, l, n, F, 2, 7, 3, 2)].map((b) => b.examples)).toEqual([1])
  })
})
