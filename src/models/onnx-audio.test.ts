// The audio input contract of imported ONNX graphs (which inputs fit which front-end, and the
// errors that name the file, the input and what fits), the pooling of cut values by shape, and
// openWakeWord's embedding_model.onnx behind the speech-mel front-end computing what openWakeWord's
// own pipeline computes on the original files (windows of 76 frames every 8, averaged).
import { readFileSync } from 'node:fs'
import { afterAll, describe, expect, it } from 'vitest'
import { FinetuneError } from '../errors.js'
import { exportInferenceOnnx } from '../export/onnx.js'
import { Graph } from '../graph/graph.js'
import { importOnnx } from '../onnx/import.js'
import { Rng } from '../runtime/rng.js'
import { Runtime } from '../runtime/session.js'
import { TrainSession } from '../train/step.js'
import { tinyAudioOnnx } from '../../test/audio-onnx-fixtures.js'
import { checkOp } from '../../test/op-check.js'
import { Linear } from './layers.js'
import { audioInputContract, audioReduce, ImportedAudioModel } from './onnx-audio.js'
import { SpeechEmbeddingReference, speechEmbeddingFiles } from './speech-embedding-node.js'
import { INT16_SCALE } from './speech-embedding.js'

const runtime = new Runtime({ provider: 'cpu', threads: 1 })
afterAll(() => runtime.dispose())

/** A graph whose inputs have the given shapes (each averaged into one linear unit). */
function graphWith(inputs: Record<string, number[]>) {
  const lin = new Linear(1, 1, new Rng(1))
  const bytes = exportInferenceOnnx({
    model: lin,
    inputs: Object.fromEntries(Object.entries(inputs).map(([k, s]) => [k, { shape: s, dtype: 'float32' as const }])),
    forward: (i) => {
      const parts = Object.values(i).map((t) => t.reshape([t.shape[0]!, -1]).mean(1, true)) // (B, 1) each
      return { y: lin.forward(parts.reduce((a, b) => a.add(b))) }
    },
  })
  return importOnnx(bytes)
}

const fails = (f: () => unknown): FinetuneError => {
  try {
    f()
  } catch (e) {
    if (e instanceof FinetuneError) return e
    throw e
  }
  throw new Error('expected an error')
}

describe('the audio input contract', () => {
  it('raw audio: [B, N] and [B, 1, N] with --front-end none; a fixed N fixes the clip length', () => {
    const flat = audioInputContract(importOnnx(tinyAudioOnnx()), 'tiny.onnx', { frontEnd: 'none', sampleRate: 16000 })
    expect(flat).toMatchObject({ frontEnd: 'none', input: 'audio', layout: 'samples', fixed: 1600, mask: null, sampleRate: 16000, normalize: false })
    const chan = audioInputContract(importOnnx(tinyAudioOnnx({ channel: true })), 'tiny.onnx', { frontEnd: 'none', sampleRate: 8000, normalize: true })
    expect(chan).toMatchObject({ layout: 'channel-samples', fixed: 1600, sampleRate: 8000, normalize: true })
  })

  it('mel frames: openWakeWord\'s [B, 76, 32, 1] windows, [B, T, 32] and [B, 1, T, 32] with --front-end speech-mel', () => {
    const emb = importOnnx(readFileSync(speechEmbeddingFiles().embedding))
    expect(audioInputContract(emb, 'embedding_model.onnx', { frontEnd: 'speech-mel', sampleRate: 16000 })).toMatchObject({ input: 'input_1', layout: 'frames-last', fixed: 76 })
    expect(audioInputContract(graphWith({ mel: [2, 50, 32] }), 'm.onnx', { frontEnd: 'speech-mel', sampleRate: 16000 })).toMatchObject({ layout: 'frames', fixed: 50 })
    expect(audioInputContract(graphWith({ mel: [2, 1, 40, 32] }), 'm.onnx', { frontEnd: 'speech-mel', sampleRate: 16000 })).toMatchObject({ layout: 'channel-frames', fixed: 40 })
  })

  it('refuses inputs that are not audio-shaped, naming the file, the input and what fits', () => {
    const emb = importOnnx(readFileSync(speechEmbeddingFiles().embedding))
    const mel = fails(() => audioInputContract(emb, '/m/embedding_model.onnx', { frontEnd: 'none', sampleRate: 16000 }))
    expect(mel.code).toBe('ONNX_AUDIO_INPUT_SHAPE')
    expect(mel.message).toMatch(/^\/m\/embedding_model\.onnx: input input_1 float32 \[\w+, 76, 32, 1\] is not raw audio/)
    expect(mel.hint).toMatch(/--front-end speech-mel/)
    const image = fails(() => audioInputContract(graphWith({ pixels: [1, 3, 8, 8] }), 'img.onnx', { frontEnd: 'none', sampleRate: 16000 }))
    expect(image.message).toMatch(/img\.onnx: input pixels float32 \[1, 3, 8, 8\]/)
    expect(image.hint).toMatch(/--task image-classification/)
    const raw = fails(() => audioInputContract(importOnnx(tinyAudioOnnx()), 'tiny.onnx', { frontEnd: 'speech-mel', sampleRate: 16000 }))
    expect(raw.code).toBe('ONNX_AUDIO_INPUT_SHAPE')
    expect(raw.message).toMatch(/tiny\.onnx: input audio float32 \[4, 1600\] is not 32-bin mel frames/)
    expect(raw.hint).toMatch(/--front-end none/)
    const bins = fails(() => audioInputContract(graphWith({ mel: [2, 50, 40] }), 'm.onnx', { frontEnd: 'speech-mel', sampleRate: 16000 }))
    expect(bins.message).toMatch(/\[2, 50, 40\] is not 32-bin mel frames/)
    const two = fails(() => audioInputContract(graphWith({ a: [1, 100], b: [1, 100] }), 'two.onnx', { frontEnd: 'none', sampleRate: 16000 }))
    expect(two.code).toBe('ONNX_AUDIO_INPUTS')
    expect(two.message).toMatch(/two\.onnx: .* takes a float32 \[1, 100\], b float32 \[1, 100\]/)
    const rate = fails(() => audioInputContract(emb, 'e.onnx', { frontEnd: 'speech-mel', sampleRate: 8000 }))
    expect(rate.code).toBe('CONFIG_SAMPLING_RATE')
    expect(rate.message).toMatch(/16000 Hz; --sampling-rate is 8000/)
  })
})

describe('pooling a cut value to (batch, features)', () => {
  it('drops singleton axes, averages (B, T, C) over time and (B, C, H, W) over H and W', () => {
    expect(audioReduce([3, 1, 1, 96], 'e').reduce).toBe('none')
    expect(audioReduce([3, 96], 'e').reduce).toBe('none')
    expect(audioReduce([2, 10, 12], 'h')).toEqual({ reduce: 'time-mean', how: '(B, T, C) [B, 10, 12] averaged over time' })
    expect(audioReduce([2, 8, 5, 4], 'c').reduce).toBe('spatial-mean')
    const e = fails(() => audioReduce([2, 3, 4, 5, 6], 'v5'))
    expect(e.code).toBe('ONNX_FEATURES_RANK')
    expect(e.message).toMatch(/"v5" have shape \[2, 3, 4, 5, 6\]/)
  })

  it('an unknown --features name lists nearby value names', () => {
    const m = new ImportedAudioModel(importOnnx(tinyAudioOnnx()), audioInputContract(importOnnx(tinyAudioOnnx()), 'tiny.onnx', { frontEnd: 'none', sampleRate: 16000 }), null)
    const e = fails(() => m.chooseCut('hidden_state', 1600))
    expect(e.code).toBe('ONNX_FEATURES_UNKNOWN')
    expect(e.hint).toMatch(/hidden_states/)
    expect(m.chooseCut('hidden_states', 1600)).toMatchObject({ name: 'hidden_states', reduce: 'time-mean' })
  })
})

describe('gradients', () => {
  it('through per-clip normalisation, the imported graph and time-mean pooling match finite differences (float64 reference)', async () => {
    const onnx = importOnnx(tinyAudioOnnx({ batch: 2, samples: 320 }))
    const m = new ImportedAudioModel(onnx, audioInputContract(onnx, 'tiny.onnx', { frontEnd: 'none', sampleRate: 16000, normalize: true }), null)
    m.attachHead(m.chooseCut('hidden_states', 320), 3, new Rng(2), () => m.probe(320))
    await checkOp('imported audio classifier', [{ shape: [2, 320] }], (x) => m.logits(x))
  })
})

describe('openWakeWord\'s embedding model behind the speech-mel front-end', () => {
  it('features are openWakeWord\'s embeddings of the original files, averaged over windows (1e-4)', async () => {
    const files = speechEmbeddingFiles()
    const emb = importOnnx(readFileSync(files.embedding))
    const m = new ImportedAudioModel(emb, audioInputContract(emb, files.embedding, { frontEnd: 'speech-mel', sampleRate: 16000 }), importOnnx(readFileSync(files.melspectrogram)))
    expect(m.minSamples).toBe(12512)
    const cut = m.chooseCut(undefined, 16000)
    expect(cut).toMatchObject({ name: 'conv2d_19', reduce: 'none' })
    m.attachHead(cut, 2, new Rng(0), () => m.probe(16000))
    expect(m.featureSize).toBe(96)
    // two clips of 1 s: a chirp and noise
    const rng = new Rng(3)
    const N = 16000
    const clips = new Float32Array(2 * N)
    for (let i = 0; i < N; i++) clips[i] = 0.3 * Math.sin(2 * Math.PI * (200 + i / 20) * (i / N))
    for (let i = 0; i < N; i++) clips[N + i] = 0.2 * (rng.next() * 2 - 1)
    const s = new TrainSession({ runtime, model: m, optimizer: { kind: 'sgd', lr: 0 }, forward: (i) => ({ outputs: { f: m.features(i['audio']!) } }) })
    const got = (await s.evaluate({ audio: { data: clips, shape: [2, N], dtype: 'float32' } })).outputs['f']!.data as Float32Array
    const ref = await SpeechEmbeddingReference.open()
    try {
      for (let b = 0; b < 2; b++) {
        const e = await ref.embeddings(clips.subarray(b * N, (b + 1) * N).map((v) => v * INT16_SCALE))
        expect(e.windows).toBe(3) // 97 mel frames: windows at 0, 8, 16
        for (let j = 0; j < 96; j++) {
          let want = 0
          for (let w = 0; w < e.windows; w++) want += e.embeddings[w * 96 + j]! / e.windows
          expect(Math.abs(got[b * 96 + j]! - want), `clip ${b} feature ${j}`).toBeLessThanOrEqual(1e-4 * Math.max(1, Math.abs(want)))
        }
      }
    } finally {
      await ref.release()
    }
    // untrained logits shape without a head: the graph's output per window, averaged
    const plain = new ImportedAudioModel(emb, m.contract, importOnnx(readFileSync(files.melspectrogram)))
    expect(plain.logits(new Graph().input('audio', [2, N])).shape).toEqual([2, 96])
  }, 60_000)
})
