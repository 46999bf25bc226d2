// Any ONNX graph as an audio backbone (--task audio-classification --model FILE.onnx | FOLDER):
// a tiny raw-audio classifier the project exports itself (static batch 4, 1600 samples), a
// Transformers.js-layout folder of it (8 kHz, do_normalize) and openWakeWord's real
// embedding_model.onnx behind --front-end speech-mel, on seeded tone clips. Untrained predict and
// export reproduce the file; full, frozen, LoRA and gradual training; the trained folder reopens for
// eval, predict, export (plain onnxruntime equals predict) and inspect; errors name file and value.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as ort from 'onnxruntime-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../../test/cli.js'
import { tinyAudioOnnx, toneFolder, transformersJsAudio } from '../../test/audio-onnx-fixtures.js'
import { openSafetensorsFile } from '../checkpoint/safetensors-node.js'
import { loadAudioFiles } from '../data/audio-data-node.js'
import { loadOnnxFile } from '../onnx/import-node.js'
import { speechEmbeddingFiles } from '../models/speech-embedding-node.js'
import { evaluateModel, exportModel, FinetuneError, inspectModel, predict, taskDefaults, train } from '../index.js'

const dir = mkdtempSync(join(tmpdir(), 'ft-onnx-audio-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const tiny = join(dir, 'tiny.onnx')
const tones = join(dir, 'tones')
const tjs = join(dir, 'tjs')
const EMB = speechEmbeddingFiles().embedding
let files: string[] = []
const TASK = 'audio-classification'
const quiet = { workers: 0, threads: 1 }
const base = () => ({ ...taskDefaults(TASK), task: TASK, data: tones, validationSplit: 0, augment: false, batchSize: 4, lr: 1e-2, schedule: 'constant' as const, ...quiet })
const losses = (d: string): number[] => readFileSync(join(d, 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; loss?: number }).filter((e) => e.type === 'step').map((e) => e.loss!)
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length

beforeAll(() => {
  writeFileSync(tiny, tinyAudioOnnx())
  files = toneFolder(tones, { perClass: 4, seconds: 0.1 })
  transformersJsAudio(tjs, { sampleRate: 8000, normalize: true, samples: 800 })
})

/** Clips as the task reads them (resampled to `rate`, padded to `length`), through `file` in plain onnxruntime with batches of `batch` (zero rows pad the last). */
async function ortLogits(file: string, paths: string[], o: { rate: number; length: number; batch: number; normalize?: boolean }): Promise<number[][]> {
  const set = await loadAudioFiles(paths, { sampleRate: o.rate, clip: { length: o.length }, workers: 0 })
  const sess = await ort.InferenceSession.create(file)
  const rows: number[][] = []
  try {
    for await (const b of set.batches(0, { batchSize: o.batch })) {
      const x = new Float32Array(o.batch * o.length)
      x.set(b.samples)
      if (o.normalize)
        for (let r = 0; r < b.indices.length; r++) {
          // Wav2Vec2FeatureExtractor's zero_mean_unit_var_norm
          const row = x.subarray(r * o.length, (r + 1) * o.length)
          const m = row.reduce((a, v) => a + v, 0) / o.length
          const v = row.reduce((a, u) => a + (u - m) ** 2, 0) / o.length
          row.forEach((u, i) => (row[i] = (u - m) / Math.sqrt(v + 1e-7)))
        }
      const y = (await sess.run({ [sess.inputNames[0]!]: new ort.Tensor('float32', x, [o.batch, o.length]) }))[sess.outputNames[0]!]!
      const L = y.dims[1]!
      b.indices.forEach((ix, k) => (rows[ix] = Array.from((y.data as Float32Array).subarray(k * L, (k + 1) * L))))
    }
  } finally {
    await set.close()
    await sess.release()
  }
  return rows
}

function expectClose(a: number[][], b: number[][], tol: number): void {
  expect(a.length).toBe(b.length)
  a.forEach((row, i) => row.forEach((v, j) => expect(Math.abs(v - b[i]![j]!), `row ${i} col ${j}: ${v} vs ${b[i]![j]}`).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(b[i]![j]!)))))
}

const errorOf = async (p: Promise<unknown>): Promise<FinetuneError> => {
  const e = await p.then(() => null, (x: unknown) => x)
  expect(e).toBeInstanceOf(FinetuneError)
  return e as FinetuneError
}

describe('a bare .onnx that reads raw audio (--front-end none)', () => {
  const out = join(dir, 'full')

  it('untrained: predict is the graph in plain onnxruntime, export is the file itself', async () => {
    const p = await predict(tiny, files, { task: TASK, ...quiet })
    expect(p.map((x) => x.label).every((l) => /^LABEL_[012]$/.test(l!))).toBe(true)
    expectClose(p.map((x) => x.logits as number[]), await ortLogits(tiny, files, { rate: 16000, length: 1600, batch: 4 }), 1e-4)
    const copy = join(dir, 'untrained.onnx')
    await exportModel(tiny, { task: TASK, format: 'onnx', out: copy })
    expect(readFileSync(copy).equals(readFileSync(tiny))).toBe(true)
  })

  it('full: a new head on the classifier\'s input, loss falls; the folder reopens for eval, predict, export (onnxruntime = predict) and inspect', async () => {
    const log: string[] = []
    const r = await train({ ...base(), model: tiny, out, epochs: 10, log: (l: string) => log.push(l) } as never)
    expect(log.join('\n')).toMatch(/features: t\d+ \(the input of the final classifier Gemm "n\d+", \[B, 12\] as it is\), 12 wide; new head finetune_head: 12 -> 2/)
    expect(r.labels).toEqual(['high', 'low'])
    const l = losses(out)
    expect(mean(l.slice(-4))).toBeLessThan(mean(l.slice(0, 4)))
    const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'))
    expect(cfg).toMatchObject({ finetune_task: TASK, finetune_source: 'onnx', model_type: 'onnx', sampling_rate: 16000, onnx_audio: { frontEnd: 'none', input: 'audio', fixed: 1600 }, finetune_clip: { length: 1600 }, id2label: { 0: 'high', 1: 'low' } })
    const ev = await evaluateModel(out, tones, quiet)
    expect(ev.examples).toBe(8)
    expect(ev.metrics['accuracy']).toBeGreaterThanOrEqual(0.75)
    const p = await predict(out, files, quiet)
    const file = join(dir, 'full.onnx')
    const x = await exportModel(out, { format: 'onnx', out: file, batchSize: 4 })
    expect(x.inputs).toEqual({ audio: [4, 1600] })
    expectClose(p.map((y) => y.logits as number[]), await ortLogits(file, files, { rate: 16000, length: 1600, batch: 4 }), 1e-4)
    const info = (await inspectModel(out)).json
    expect(info).toMatchObject({ task: TASK, model_type: 'onnx', source: 'onnx', front_end: 'none', sampling_rate: 16000, features: cfg.onnx_features, featureSize: 12, labels: ['high', 'low'] })
  })

  it('--method frozen with --features hidden_states: (B, T, C) averaged over time; the graph\'s weights are bit-identical', async () => {
    const o = join(dir, 'frozen')
    const log: string[] = []
    await train({ ...base(), model: tiny, out: o, epochs: 6, method: 'frozen', features: 'hidden_states', log: (l: string) => log.push(l) } as never)
    expect(log.join('\n')).toMatch(/features: hidden_states \(--features hidden_states, \(B, T, C\) \[B, 10, 12\] averaged over time\), 12 wide/)
    const st = await openSafetensorsFile(join(o, 'model.safetensors'))
    for (const [n, p] of loadOnnxFile(tiny)._params) expect(Buffer.from((await st.readAsFloat32(n)).buffer).equals(Buffer.from(p.data.buffer)), n).toBe(true)
    await st.close()
  })

  it('--method lora adapts the graph\'s linear weights; the base stays; export folds the adapter in (onnxruntime = predict)', async () => {
    const o = join(dir, 'lora')
    await train({ ...base(), model: tiny, out: o, epochs: 8, method: 'lora', loraR: 2, loraAlpha: 4 } as never)
    const ac = JSON.parse(readFileSync(join(o, 'adapter_config.json'), 'utf8'))
    expect(ac).toMatchObject({ peft_type: 'LORA', r: 2, target_modules: ['frame'], modules_to_save: ['finetune_head'] })
    const st = await openSafetensorsFile(join(o, 'model.safetensors'))
    expect(Array.from(await st.readAsFloat32('frame.weight'))).toEqual(Array.from(loadOnnxFile(tiny)._params.get('frame.weight')!.data))
    await st.close()
    const p = await predict(o, files, quiet)
    const file = join(dir, 'lora.onnx')
    await exportModel(o, { format: 'onnx', out: file, batchSize: 4 })
    expectClose(p.map((y) => y.logits as number[]), await ortLogits(file, files, { rate: 16000, length: 1600, batch: 4 }), 1e-4)
  })

  it('refuses a clip longer than the graph takes, an unknown --features and --front-end on a built-in model', async () => {
    const long = await errorOf(train({ ...base(), model: tiny, out: join(dir, 'long'), clipSeconds: 0.2 } as never))
    expect(long.code).toBe('CONFIG_CLIP_TOO_LONG')
    expect(long.message).toMatch(/gives clips of 3200 samples; .*tiny\.onnx takes exactly 1600 \(0\.1 s at 16000 Hz\)/)
    expect(long.hint).toMatch(/--clip-seconds 0\.1 or less/)
    const unknown = await errorOf(train({ ...base(), model: tiny, out: join(dir, 'unknown'), features: 'hidden' } as never))
    expect(unknown.code).toBe('ONNX_FEATURES_UNKNOWN')
    expect(unknown.hint).toMatch(/hidden_states/)
    const builtin = await errorOf(train({ ...base(), model: 'keyword-cnn', out: join(dir, 'kw'), frontEnd: 'speech-mel' } as never))
    expect(builtin.message).toMatch(/--front-end applies to an imported \.onnx model; keyword-cnn is not one/)
  })
})

describe('a Transformers.js-layout audio folder (preprocessor_config.json: 8 kHz, do_normalize)', () => {
  it('untrained predict normalises each clip as Wav2Vec2FeatureExtractor does; training records the folder\'s rate', async () => {
    // the task comes from config.json's architectures (*ForAudioClassification)
    const p = await predict(tjs, files, quiet)
    expect(p.every((x) => ['a', 'b', 'c'].includes(x.label!))).toBe(true)
    expectClose(p.map((x) => x.logits as number[]), await ortLogits(join(tjs, 'onnx', 'model.onnx'), files, { rate: 8000, length: 800, batch: 4, normalize: true }), 1e-4)
    const o = join(dir, 'tjs-out')
    await train({ ...base(), model: tjs, out: o, epochs: 2 } as never)
    expect(JSON.parse(readFileSync(join(o, 'config.json'), 'utf8'))).toMatchObject({ sampling_rate: 8000, finetune_clip: { sampleRate: 8000, length: 800 }, onnx_audio: { input: 'input_values', normalize: true } })
    expect(JSON.parse(readFileSync(join(o, 'preprocessor_config.json'), 'utf8'))).toMatchObject({ sampling_rate: 8000, do_normalize: true })
    const rate = await errorOf(predict(o, files.slice(0, 1), { ...quiet, samplingRate: 16000 }))
    expect(rate.message).toMatch(/takes audio at 8000 Hz \(its config\.json\); --sampling-rate is 16000/)
  })
})

describe('openWakeWord\'s embedding_model.onnx with --front-end speech-mel', () => {
  it('without --front-end: the CLI names the file, the input and the flag to pass', async () => {
    const r = await runCli(['train', '--task', TASK, '--model', EMB, '--data', tones, '--out', join(dir, 'emb-none'), '--workers', '0'])
    expect(r.code).not.toBe(0)
    expect(r.stderr).toMatch(/error\[ONNX_AUDIO_INPUT_SHAPE\]: .*embedding_model\.onnx: input input_1 float32 \[\w+, 76, 32, 1\] is not raw audio/)
    expect(r.stderr).toMatch(/hint: it looks like 32-bin mel frames: pass --front-end speech-mel/)
  })

  it('gradual unfreezing trains the head first, then the top stage; the bottom stage is untouched; LoRA says the graph has no linear layers', async () => {
    const o = join(dir, 'emb-gradual')
    const log: string[] = []
    await train({ ...base(), model: EMB, frontEnd: 'speech-mel', out: o, maxSteps: 2, unfreeze: 'gradual', unfreezeEvery: 1, lr: 1e-3, log: (l: string) => log.push(l) } as never)
    expect(log.join('\n')).toMatch(/features: conv2d_19 \(the output "conv2d_19", \[B, 1, 1, 96\] flattened, then averaged over windows\), 96 wide/)
    const st = await openSafetensorsFile(join(o, 'model.safetensors'))
    const orig = loadOnnxFile(EMB)._params
    const same = async (n: string) => Buffer.from((await st.readAsFloat32(n)).buffer).equals(Buffer.from(orig.get(n)!.data.buffer))
    expect(await same('model/conv2d_19/Conv2D/ReadVariableOp:0')).toBe(false)
    expect(await same('model/conv2d/Conv2D_weights_fused_bn')).toBe(true)
    await st.close()
    const lora = await errorOf(train({ ...base(), model: EMB, frontEnd: 'speech-mel', out: join(dir, 'emb-lora'), maxSteps: 1, method: 'lora' } as never))
    expect(lora.code).toBe('LORA_NO_SITES')
    expect(lora.message).toMatch(/embedding_model\.onnx has no MatMul\/Gemm weight LoRA can adapt .*Conv/)
    expect(lora.hint).toMatch(/--method full/)
  }, 60_000)
})
