// Speech recognition from an imported ONNX graph (--task speech-recognition --model FILE.onnx |
// FOLDER): a tiny random torchaudio wav2vec2 with a CTC head, exported by torch.onnx.export and laid
// out as Transformers.js lays out Wav2Vec2ForCTC (test/fixtures/onnx-torch/wav2vec2-ctc, made by
// scripts/gen_torch_onnx_fixtures.py). Untrained: torch's logits (golden) and onnxruntime's on the
// original file; frames per clip by config.json's convolutions and by tracing a bare file; training
// lowers the CTC loss on two clips of the synthetic sentence corpus; the trained folder reopens for
// eval, predict and export (onnxruntime = predict); LoRA writes an adapter and leaves the base;
// layer groups for gradual unfreezing; a new
// vocabulary gets a new head on the final MatMul's input; the errors name file, tensor and value.
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as ort from 'onnxruntime-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { tinyAudioOnnx } from '../../test/audio-onnx-fixtures.js'
import { aInts, init, node, vi } from '../../test/onnx-build.js'
import { runGraph } from '../../test/graph-run.js'
import { openSafetensorsFile } from '../checkpoint/safetensors-node.js'
import { loadAudioFile } from '../data/audio-decode-node.js'
import { decodeModel, encodeModel } from '../onnx/proto.js'
import { encodeWav } from '../data/audio-wav.js'
import { readSpeechCorpus } from '../data/speech-corpus-node.js'
import { attachCtcHead, headFromGraph, openOnnxCtc } from '../models/onnx-ctc-node.js'
import { frameCount } from '../models/wav2vec2.js'
import { layerGroups } from '../methods/index.js'
import { Runtime } from '../runtime/session.js'
import { normalizeClip, SpeechTaskRunner } from '../train/speech.js'
import { evaluateModel, exportModel, FinetuneError, inspectModel, predict, taskDefaults, train } from '../index.js'
import { parseFlags } from './flags.js'
import { predict as predictCommand } from './predict.js'

const FIXTURE = join(import.meta.dirname, '../../test/fixtures/onnx-torch/wav2vec2-ctc')
const GRAPH = join(FIXTURE, 'onnx', 'model.onnx')
const golden = JSON.parse(readFileSync(join(FIXTURE, 'golden.json'), 'utf8')) as { shape: [number, number]; logits_shape: number[]; logits: number[] }
const config = JSON.parse(readFileSync(join(FIXTURE, 'config.json'), 'utf8')) as { conv_kernel: number[]; conv_stride: number[] }
const dir = mkdtempSync(join(tmpdir(), 'ft-onnx-ctc-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const TASK = 'speech-recognition'
const quiet = { threads: 1 }
const data = join(dir, 'data')
const tjs = join(dir, 'tjs')
const bare = join(dir, 'bare.onnx')
const timeFirst = join(dir, 'time-first.onnx')
const files: string[] = []
const transcripts: string[] = []
const base = () => ({ ...taskDefaults(TASK), task: TASK, data: join(data, 'train.jsonl'), validationSplit: 0, batchSize: 2, lr: 3e-3, schedule: 'constant' as const, ...quiet })
const losses = (d: string): number[] => readFileSync(join(d, 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; loss?: number }).filter((e) => e.type === 'step').map((e) => e.loss!)

/** `finetune predict ARGS` in this process (the flags parsed as the CLI parses them): its stdout lines. */
async function predictCli(args: string[]): Promise<string[]> {
  const { flags, positional, given } = parseFlags(predictCommand.specFor!(args), args)
  const out: string[] = []
  await predictCommand.run(flags as never, positional, { out: (t) => out.push(t), err: () => {} }, given)
  return out
}

/** The model's logits on the golden input x[b, n] = 0.5 sin(0.013 (b + 1) (n + 1)) + 0.1 cos(0.0007 n). */
async function goldenLogits(m: Awaited<ReturnType<typeof openOnnxCtc>>['model']): Promise<Float32Array> {
  const [B, N] = golden.shape
  const x = new Float32Array(B * N)
  for (let b = 0; b < B; b++) for (let n = 0; n < N; n++) x[b * N + n] = 0.5 * Math.sin(0.013 * (b + 1) * (n + 1)) + 0.1 * Math.cos(0.0007 * n)
  return (await runGraph((g) => ({ y: m.logits(g.input('x', [B, N])) }), { x: { data: x, shape: [B, N], dtype: 'float32' } }))['y']!
}

const errorOf = async (p: Promise<unknown>): Promise<FinetuneError> => {
  const e = await p.then(() => null, (x: unknown) => x)
  expect(e).toBeInstanceOf(FinetuneError)
  return e as FinetuneError
}

/** Each file through `graph` in plain onnxruntime, one clip at a time (normalised as Wav2Vec2FeatureExtractor does when `normalize`): frames x vocabulary. */
async function ortLogits(graph: string, paths: string[], o: { normalize: boolean; length?: number }): Promise<number[][][]> {
  const sess = await ort.InferenceSession.create(graph)
  const out: number[][][] = []
  try {
    for (const p of paths) {
      const raw = await loadAudioFile(p, 16000)
      const clip = o.normalize ? normalizeClip(raw) : raw
      const x = new Float32Array(o.length ?? clip.length)
      x.set(clip.subarray(0, x.length))
      const feeds: Record<string, ort.Tensor> = { [sess.inputNames[0]!]: new ort.Tensor('float32', x, [1, x.length]) }
      // an exported file that normalises clips takes their extent too: here the whole clip
      if (sess.inputNames.includes('attention_mask')) feeds['attention_mask'] = new ort.Tensor('int64', new BigInt64Array(x.length).fill(1n), [1, x.length])
      const y = (await sess.run(feeds))[sess.outputNames[0]!]!
      const [, T, V] = y.dims as number[]
      out.push(Array.from({ length: T! }, (_, t) => Array.from((y.data as Float32Array).subarray(t * V!, (t + 1) * V!))))
    }
  } finally {
    await sess.release()
  }
  return out
}

function expectClose(a: number[][][], b: number[][][], tol: number): void {
  expect(a.map((x) => x.length)).toEqual(b.map((x) => x.length))
  let worst = 0
  a.forEach((clip, i) => clip.forEach((row, t) => row.forEach((v, j) => (worst = Math.max(worst, Math.abs(v - b[i]![t]![j]!) / Math.max(1, Math.abs(b[i]![t]![j]!)))))))
  expect(worst).toBeLessThanOrEqual(tol)
}

beforeAll(async () => {
  // the Transformers.js folder, with a quantized graph beside the float one (which must be preferred)
  cpSync(FIXTURE, tjs, { recursive: true })
  rmSync(join(tjs, 'golden.json'))
  writeFileSync(join(tjs, 'onnx', 'model_quantized.onnx'), 'not a graph')
  copyFileSync(GRAPH, bare)
  // the same graph reading [B, 1, N] and giving [T, B, V]
  const m = decodeModel(readFileSync(GRAPH))
  const g = m.graph
  g.initializer.push(init('channel_axis', [1], [1], 'int64'))
  g.node.unshift(node('Squeeze', ['audio', 'channel_axis'], ['input_values']))
  g.node.push(node('Transpose', ['logits'], ['logits_tbv'], [aInts('perm', [1, 0, 2])]))
  g.input = [vi('audio', ['batch', 1, 'samples'])]
  g.output = [vi('logits_tbv', ['frames', 'batch', 31])]
  writeFileSync(timeFirst, encodeModel(m))
  const corpus = await readSpeechCorpus()
  const short = [...corpus.sentences].sort((a, b) => a.samples.length - b.samples.length).slice(0, 2)
  mkdirSync(join(data, 'clips'), { recursive: true })
  const rows = short.map((s, i) => {
    const path = `clips/${i}.wav`
    writeFileSync(join(data, path), encodeWav(s.samples, corpus.sampleRate))
    files.push(join(data, path))
    transcripts.push(s.transcript)
    return { path, transcript: s.transcript }
  })
  writeFileSync(join(data, 'train.jsonl'), rows.map((r) => JSON.stringify(r)).join('\n') + '\n')
  writeFileSync(join(data, 'test.csv'), `path,text\n${rows.map((r) => `${r.path},${r.transcript}`).join('\n')}\n`)
}, 30_000)

describe('an untrained import', () => {
  it("computes torch's logits (1e-4); frames per clip follow config.json's convolutions, and tracing finds the same rule for a bare file", async () => {
    const ck = await openOnnxCtc(tjs)
    expect(ck.file).toBe(join(tjs, 'onnx', 'model.onnx'))
    expect(ck.vocab.size).toBe(31)
    expect(ck.model.outputLayout).toBe('batch-first')
    const y = await goldenLogits(ck.model)
    expect(y.length).toBe(golden.logits.length)
    let worst = 0
    y.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - golden.logits[i]!))))
    expect(worst).toBeLessThan(1e-4)
    const lengths = [400, 744, 745, 1064, 1065, 4000, 9656, 16001]
    expect(ck.model.frameRule).toMatchObject({ kind: 'conv', receptive: 745, stride: 320 })
    expect(lengths.map((n) => ck.model.frames(n))).toEqual(lengths.map((n) => frameCount(config, n)))
    const traced = await openOnnxCtc(bare, { vocab: join(FIXTURE, 'vocab.json') })
    expect(traced.model.frameRule).toMatchObject({ kind: 'conv', receptive: 745, stride: 320, why: expect.stringMatching(/^traced/) })
    expect(traced.preprocessor).toMatchObject({ sampling_rate: 16000, do_normalize: false })
  })

  it('predict is the original file in plain onnxruntime (normalised as preprocessor_config.json says), with transcripts', async () => {
    const p = await predict(tjs, files, { task: TASK, ...quiet })
    expect(p.map((r) => typeof r.text)).toEqual(['string', 'string'])
    expectClose(p.map((r) => r.logits as number[][]), await ortLogits(GRAPH, files, { normalize: true }), 1e-4)
    // a bare file: the vocabulary and the normalisation from flags
    const lines = await predictCli(['--task', TASK, '--model', bare, '--vocab', join(FIXTURE, 'vocab.json'), '--do-normalize', 'true', '--threads', '1', '--json', files[0]!])
    const rec = JSON.parse(lines[0]!) as { path: string; text: string; logits: number[][] }
    expect(rec.path).toBe(files[0])
    expectClose([rec.logits], await ortLogits(GRAPH, files.slice(0, 1), { normalize: true }), 1e-4)
  })

  it('takes [B, 1, N] audio and detects [T, B, V] logits (handed on as frames x vocabulary)', async () => {
    const ck = await openOnnxCtc(timeFirst, { vocab: join(FIXTURE, 'vocab.json') })
    expect(ck.model.contract.layout).toBe('channel-samples')
    expect(ck.model.outputLayout).toBe('time-first')
    const p = await predict(timeFirst, files.slice(0, 1), { task: TASK, vocab: join(FIXTURE, 'vocab.json'), ...quiet } as never)
    expectClose(p.map((r) => r.logits as number[][]), await ortLogits(GRAPH, files.slice(0, 1), { normalize: false }), 1e-4)
  })
})

describe('training an imported graph', () => {
  const full = join(dir, 'full')

  it("full: the graph's own logits train with CTC and the loss falls; eval, predict --json and export (onnxruntime = predict) on the folder", async () => {
    const log: string[] = []
    await train({ ...base(), model: tjs, out: full, maxSteps: 5, log: (l: string) => log.push(l) } as never)
    expect(log.join('\n')).toMatch(/head: the graph's own logits \(vocabulary of 31 from .*vocab\.json\)/)
    expect(log.join('\n')).toMatch(/frames per clip: config\.json's conv_kernel and conv_stride/)
    const l = losses(full)
    expect(l).toHaveLength(5)
    expect(l.at(-1)!).toBeLessThan(0.8 * l[0]!)
    const cfg = JSON.parse(readFileSync(join(full, 'config.json'), 'utf8'))
    expect(cfg).toMatchObject({ finetune_task: TASK, finetune_source: 'onnx', model_type: 'onnx', vocab_size: 31, pad_token_id: 0, onnx_features: null, onnx_ctc_frames: { receptive: 745, stride: 320 } })
    expect(JSON.parse(readFileSync(join(full, 'preprocessor_config.json'), 'utf8'))).toMatchObject({ sampling_rate: 16000, do_normalize: true })
    // the safetensors export is a folder --model takes again
    const copy = join(dir, 'full-export')
    await exportModel(full, { format: 'safetensors', out: copy })
    const ev = await evaluateModel(copy, join(data, 'test.csv'), quiet)
    for (const k of ['wer', 'cer', 'eval_loss']) expect(Number.isFinite(ev.metrics[k]), k).toBe(true)
    const [rec] = (await predict(full, files.slice(0, 1), quiet)) as unknown as { path: string; text: string; logits: number[][] }[]
    expect(rec!.path).toBe(files[0])
    expect(rec!.logits[0]).toHaveLength(31)
    const samples = (await loadAudioFile(files[0]!, 16000)).length
    const file = join(dir, 'full.onnx')
    const x = await exportModel(full, { format: 'onnx', out: file, batchSize: 1, seconds: samples / 16000 } as never)
    expect(x.inputs).toEqual({ input_values: [1, samples], attention_mask: [1, samples] }) // do_normalize: the clip's extent comes in too
    expectClose([rec!.logits], await ortLogits(file, files.slice(0, 1), { normalize: false }), 1e-4)
  })

  it('--method lora writes an adapter and leaves the graph\'s weights as they were', async () => {
    const o = join(dir, 'lora')
    await train({ ...base(), model: tjs, out: o, maxSteps: 1, method: 'lora', loraR: 2, loraAlpha: 4 } as never)
    const ac = JSON.parse(readFileSync(join(o, 'adapter_config.json'), 'utf8'))
    expect(ac).toMatchObject({ peft_type: 'LORA', r: 2 })
    expect(ac.target_modules.length).toBeGreaterThan(0)
    const ad = await openSafetensorsFile(join(o, 'adapter_model.safetensors'))
    expect(ad.keys().some((k) => /lora_B/.test(k))).toBe(true)
    await ad.close()
    const st = await openSafetensorsFile(join(o, 'model.safetensors'))
    const graph = (await openOnnxCtc(tjs)).model.graph
    for (const [n, p] of graph._params) expect(Buffer.from((await st.readAsFloat32(n)).buffer).equals(Buffer.from(p.data.buffer)), n).toBe(true)
    await st.close()
  })

  it('layer groups (--unfreeze gradual, --lr-mult) follow the module scope of weights torch.onnx.export renamed', async () => {
    const m = (await openOnnxCtc(tjs)).model
    expect(m.blockOf('onnx::MatMul_381')).toBe('m.encoder.transformer.layers.0')
    const groups = layerGroups(m, m.headPrefixes)
    expect(groups.map((g) => g.name)).toEqual(['embeddings', ...[0, 1, 2, 3].map((i) => `m.feature_extractor.conv_layers.${i}`), 'm.encoder.transformer.layers.0', 'm.encoder.transformer.layers.1', 'head'])
    expect(groups[5]!.params).toEqual(expect.arrayContaining(['onnx::MatMul_381', 'm.encoder.transformer.layers.0.attention.q_proj.bias']))
    expect(groups.at(-1)!.params).toEqual(expect.arrayContaining(['m.aux.bias']))
  })

  it('--new-vocab on a bare .onnx: a new CTC head on the input of the final MatMul, trained head-only (--method frozen)', async () => {
    const o = join(dir, 'new-vocab')
    const log: string[] = []
    await train({ ...base(), model: bare, newVocab: true, method: 'frozen', out: o, maxSteps: 4, lr: 1e-2, log: (l: string) => log.push(l) } as never)
    expect(log.join('\n')).toMatch(/features: \S+ \(the input of the final classifier MatMul "[^"]+", batch-first\), 32 wide; new CTC head finetune_head: 32 -> \d+/)
    const l = losses(o)
    expect(l.at(-1)!).toBeLessThan(l[0]!)
    const vocab = JSON.parse(readFileSync(join(o, 'vocab.json'), 'utf8')) as Record<string, number>
    expect(vocab['<pad>']).toBe(0)
    const st = await openSafetensorsFile(join(o, 'model.safetensors'))
    expect(st.info('finetune_head.weight').shape).toEqual([Object.keys(vocab).length, 32])
    for (const [n, p] of (await openOnnxCtc(bare, { vocab: join(FIXTURE, 'vocab.json') })).model.graph._params) expect(Buffer.from((await st.readAsFloat32(n)).buffer).equals(Buffer.from(p.data.buffer)), n).toBe(true)
    await st.close()
    const info = (await inspectModel(o)).json
    expect(info).toMatchObject({ task: TASK, source: 'onnx', head: ['finetune_head'], frame_rule: { receptive: 745, stride: 320 } })
  })
})

describe('head-only training (--method frozen)', () => {
  it("copies the graph's final MatMul into the head (same logits), computes each clip's features once and trains on them", async () => {
    const ck = await openOnnxCtc(tjs)
    expect(headFromGraph(ck)).toBe(true)
    expect(ck.model.headPrefixes).toEqual(['finetune_head'])
    const y = await goldenLogits(ck.model)
    let worst = 0
    y.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - golden.logits[i]!))))
    expect(worst).toBeLessThan(1e-4)
    const runtime = new Runtime({ threads: 1 })
    try {
      const train = await Promise.all(files.map(async (path, i) => ({ path, text: transcripts[i]!, samples: await loadAudioFile(path, 16000) })))
      const runner = new SpeechTaskRunner({ model: ck.model, vocab: ck.vocab, prep: ck.preprocessor, train, batchSize: 2, seed: 0, runtime, optimizer: { kind: 'sgd', lr: 0 }, frozen: true })
      const job = await runner.job()
      const T = ck.model.frames(SpeechTaskRunner.lengthOf(train))
      for await (const b of job.batches(0, 0)) {
        expect(b.feeds['input_values']).toBeUndefined()
        expect(b.feeds['features']!.shape).toEqual([2, T, 32])
      }
    } finally {
      await runtime.dispose()
    }
  })
})

describe('--features NAME', () => {
  it('puts a new head on every frame of a (batch, frames, features) value; other values are refused with their shape', async () => {
    const ck = await openOnnxCtc(tjs, { features: 'x' })
    const nodes = ck.model.graph._graph.node
    const conv = nodes.find((n) => n.opType === 'Conv')!.output[0]!
    const frames = await errorOf(Promise.resolve().then(() => attachCtcHead(ck, conv, 1)))
    expect(frames.code).toBe('ONNX_FEATURES_FRAMES')
    expect(frames.message).toContain(`features "${conv}" have`)
    const shape = nodes.find((n) => n.opType === 'Shape')!.output[0]!
    const rank = await errorOf(Promise.resolve().then(() => attachCtcHead(ck, shape, 1)))
    expect(rank.code).toBe('ONNX_FEATURES_RANK')
    const hidden = [...nodes].reverse().find((n) => n.opType === 'MatMul')!.input[0]!
    expect(attachCtcHead(ck, hidden, 1)).toBe(`features: ${hidden} (--features ${hidden}, batch-first), 32 wide; new CTC head finetune_head: 32 -> 31`)
    expect((await goldenLogits(ck.model)).length).toBe(golden.logits.length)
  })
})

describe('errors', () => {
  it('name the file, the tensor and the value, and say what to do', async () => {
    const noVocab = await errorOf(train({ ...base(), model: bare, out: join(dir, 'e1'), maxSteps: 1 } as never))
    expect(noVocab.code).toBe('MODEL_NO_VOCAB')
    expect(noVocab.message).toMatch(/bare\.onnx: which characters are its 31 outputs\?/)
    expect(noVocab.hint).toMatch(/--vocab vocab\.json .* or --new-vocab/)
    const small = join(dir, 'small-vocab.json')
    writeFileSync(small, JSON.stringify({ '<pad>': 0, '|': 1, a: 2 }))
    const size = await errorOf(predict(bare, files.slice(0, 1), { task: TASK, vocab: small, ...quiet } as never))
    expect(size.code).toBe('MODEL_VOCAB_SIZE')
    expect(size.message).toMatch(/small-vocab\.json has 3 entries but the output "logits" of .*bare\.onnx has 31 per frame/)
    expect(size.hint).toMatch(/--features NAME/)
    const classifier = join(dir, 'classifier.onnx')
    writeFileSync(classifier, tinyAudioOnnx())
    const shape = await errorOf(predict(classifier, files.slice(0, 1), { task: TASK, vocab: small, ...quiet } as never))
    expect(shape.code).toBe('ONNX_CTC_OUTPUT')
    expect(shape.message).toMatch(/classifier\.onnx: output "\w+" has shape \[2, 3\] for 2 clips/)
    const text = await errorOf(predict(join(FIXTURE, '../bert-cls.onnx'), files.slice(0, 1), { task: TASK, vocab: small, ...quiet } as never))
    expect(text.code).toBe('ONNX_AUDIO_INPUTS')
    expect(text.message).toMatch(/bert-cls\.onnx: a speech recogniser's graph takes one float input of raw samples .*this one takes input_ids int64/)
    expect(text.hint).toMatch(/\[batch, samples\] or \[batch, 1, samples\]/)
    const missing = await errorOf(predict(join(dir, 'nope.onnx'), files.slice(0, 1), { task: TASK, ...quiet }))
    expect(missing.message).toMatch(/nope\.onnx/)
    const unknown = await errorOf(train({ ...base(), model: tjs, out: join(dir, 'e2'), features: 'hidden', maxSteps: 1 } as never))
    expect(unknown.code).toBe('ONNX_FEATURES_UNKNOWN')
    expect(unknown.message).toMatch(/--features "hidden": .*model\.onnx has no value of that name/)
    const noFolderVocab = join(dir, 'tjs-no-vocab')
    cpSync(tjs, noFolderVocab, { recursive: true })
    rmSync(join(noFolderVocab, 'vocab.json'))
    const lacks = await errorOf(predict(noFolderVocab, files.slice(0, 1), { task: TASK, ...quiet }))
    expect(lacks.code).toBe('MODEL_NO_VOCAB')
    expect(lacks.message).toMatch(/tjs-no-vocab has no vocab\.json/)
    const both = await errorOf(predict(tjs, files.slice(0, 1), { task: TASK, vocab: small, ...quiet } as never))
    expect(both.message).toMatch(/--vocab .*small-vocab\.json: .*tjs has its own vocab\.json/)
    const rate = await errorOf(predict(tjs, files.slice(0, 1), { task: TASK, samplingRate: 8000, ...quiet } as never))
    expect(rate.message).toMatch(/preprocessor_config\.json says sampling_rate 16000; --sampling-rate is 8000/)
  })
})
