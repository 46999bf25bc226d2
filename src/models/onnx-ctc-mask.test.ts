// An imported CTC graph with an attention_mask input: where preprocessor_config.json says
// return_attention_mask, the mask marks each clip's own samples of a padded batch (Hugging Face's
// processor), and a padded clip gets the logits it gets alone; otherwise the graph sees ones.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as ort from 'onnxruntime-node'
import { afterAll, describe, expect, it } from 'vitest'
import { aInt, aInts, buildModel, init, node, vi } from '../../test/onnx-build.js'
import { trace } from '../graph/graph.js'
import { nd } from '../runtime/ndarray.js'
import { evaluate } from '../runtime/reference.js'
import { exportOnnxCtc } from '../tasks/speech-recognition/onnx-node.js'
import { normalizeClip } from '../train/speech.js'
import { openOnnxCtc, saveOnnxCtc } from './onnx-ctc-node.js'

const dir = mkdtempSync(join(tmpdir(), 'onnx-ctc-mask-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const V = 4
const R = 40
const S = 20
// x - (the mean of x over the mask), then a strided Conv1d to V logits per frame: the mean makes
// every frame depend on what the mask covers
function graph(): Uint8Array {
  const w = Array.from({ length: V * R }, (_, i) => Math.sin(i * 0.37) * 0.2)
  return buildModel({
    inputs: [vi('input_values', ['batch', 'samples']), vi('attention_mask', ['batch', 'samples'], 'int64')],
    outputs: [vi('logits', ['batch', 'frames', V])],
    inits: [init('w', w, [V, 1, R]), init('axis1', [1], [1], 'int64')],
    nodes: [
      node('Cast', ['attention_mask'], ['m'], [aInt('to', 1)]),
      node('Mul', ['input_values', 'm'], ['xm']),
      node('ReduceSum', ['xm', 'axis1'], ['s'], [aInt('keepdims', 1)]),
      node('ReduceSum', ['m', 'axis1'], ['c'], [aInt('keepdims', 1)]),
      node('Div', ['s', 'c'], ['mean']),
      node('Sub', ['input_values', 'mean'], ['xc']),
      node('Unsqueeze', ['xc', 'axis1'], ['x3']),
      node('Conv', ['x3', 'w'], ['y'], [aInts('strides', [S])]),
      node('Transpose', ['y'], ['logits'], [aInts('perm', [0, 2, 1])]),
    ],
  })
}

function folder(name: string, returnMask: boolean, normalize = false): string {
  const d = join(dir, name)
  mkdirSync(d, { recursive: true })
  writeFileSync(join(d, 'model.onnx'), graph())
  writeFileSync(join(d, 'vocab.json'), JSON.stringify({ '<pad>': 0, a: 1, b: 2, '|': 3 }))
  writeFileSync(join(d, 'preprocessor_config.json'), JSON.stringify({ do_normalize: normalize, feature_size: 1, padding_side: 'right', padding_value: 0, return_attention_mask: returnMask, sampling_rate: 16000 }))
  return d
}

const clip = (n: number, phase: number): number[] => Array.from({ length: n }, (_, i) => Math.sin(i * 0.05 + phase) + 0.3)

describe('an imported CTC graph with an attention_mask input', () => {
  it('marks each clip of a padded batch by its length where the preprocessor returns a mask, ones otherwise', async () => {
    const short = clip(100, 0)
    const long = clip(200, 1)
    const padded = [...short, ...new Array<number>(100).fill(0), ...long]
    for (const returnMask of [true, false]) {
      const ck = await openOnnxCtc(folder(`mask-${returnMask}`, returnMask))
      const m = ck.model
      expect(m.takesInputLengths).toBe(returnMask)
      const batch = trace((g) => evaluate([m.logits(g.input('x', [2, 200]), null, null, g.input('n', [2], 'int64'))], { x: nd([2, 200], padded), n: nd([2], [100, 200]) })[0]!).result
      const alone = trace((g) => evaluate([m.logits(g.input('x', [1, 100]), null, null, g.input('n', [1], 'int64'))], { x: nd([1, 100], short), n: nd([1], [100]) })[0]!).result
      const f = m.frames(100)
      expect(f).toBe(4)
      const T = batch.shape[1]!
      let worst = 0
      for (let t = 0; t < f; t++) for (let v = 0; v < V; v++) worst = Math.max(worst, Math.abs(batch.data[t * V + v]! - alone.data[t * V + v]!))
      // the mean over the clip's own samples: the padded clip's frames are the clip's alone; with
      // ones the padding's zeros pull the mean down and every frame moves
      if (returnMask) expect(worst).toBeLessThan(1e-5)
      else expect(worst).toBeGreaterThan(1e-2)
      expect(T).toBe(m.frames(200))
      // a folder saved from it keeps saying so (Hugging Face's processor then passes the mask)
      const out = join(dir, `saved-${returnMask}`)
      await saveOnnxCtc(out, ck)
      expect((JSON.parse(readFileSync(join(out, 'preprocessor_config.json'), 'utf8')) as { return_attention_mask: boolean }).return_attention_mask).toBe(returnMask)
    }
  })
})

describe('the ONNX export of an imported CTC graph', () => {
  it('takes attention_mask where the model normalises clips or its graph reads a mask: a padded clip gets the logits training gives it alone', async () => {
    const short = clip(100, 0)
    const long = clip(200, 1)
    const padded = Float32Array.from([...short, ...new Array<number>(100).fill(0.7), ...long]) // whatever lies in the padding
    const mask = BigInt64Array.from([...new Array<bigint>(100).fill(1n), ...new Array<bigint>(100).fill(0n), ...new Array<bigint>(200).fill(1n)])
    for (const [returnMask, normalize] of [[true, true], [true, false], [false, true], [false, false]] as const) {
      const ck = await openOnnxCtc(folder(`export-${returnMask}-${normalize}`, returnMask, normalize))
      const m = ck.model
      const x = exportOnnxCtc(ck, { batchSize: 2, samples: 200, dynamicBatch: false, task: 'speech-recognition' })
      const masked = returnMask || normalize
      expect(x.inputs).toEqual(masked ? { input_values: [2, 200], attention_mask: [2, 200] } : { input_values: [2, 200] })
      const sess = await ort.InferenceSession.create(x.bytes)
      expect(sess.inputNames).toEqual(masked ? ['input_values', 'attention_mask'] : ['input_values'])
      const feeds: Record<string, ort.Tensor> = { input_values: new ort.Tensor('float32', padded, [2, 200]) }
      if (masked) feeds['attention_mask'] = new ort.Tensor('int64', mask, [2, 200])
      const got = (await sess.run(feeds))['logits']!.data as Float32Array
      // what training and predict compute: each clip normalised over its own samples, padded with
      // zeros, the graph's mask from each clip's length (ones where the folder returns none)
      const prep = (c: number[]): number[] => Array.from(normalize ? normalizeClip(Float32Array.from(c)) : c)
      const batch = masked ? [...prep(short), ...new Array<number>(100).fill(0), ...prep(long)] : Array.from(padded)
      const want = trace((g) => evaluate([m.logits(g.input('x', [2, 200]), null, null, g.input('n', [2], 'int64'))], { x: nd([2, 200], batch), n: nd([2], [100, 200]) })[0]!).result
      expect(got.length).toBe(want.data.length)
      let worst = 0
      want.data.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - got[i]!))))
      expect(worst, `return_attention_mask ${returnMask}, do_normalize ${normalize}`).toBeLessThan(1e-4)
      if (returnMask) {
        // and the short clip's frames are those it gets alone
        const alone = trace((g) => evaluate([m.logits(g.input('x', [1, 100]), null, null, g.input('n', [1], 'int64'))], { x: nd([1, 100], prep(short)), n: nd([1], [100]) })[0]!).result
        for (let i = 0; i < m.frames(100) * V; i++) expect(Math.abs(alone.data[i]! - got[i]!)).toBeLessThan(1e-4)
      }
    }
  })
})
