// The imported, traced speech embedding against openWakeWord's own pipeline (AudioFeatures.
// _get_embeddings, ported in speech-embedding-node.ts and run on the original ONNX files with
// onnxruntime-node), on two clips at once.
import { describe, expect, it } from 'vitest'
import { Module } from '../graph/module.js'
import * as nn from '../graph/nn.js'
import { Runtime } from '../runtime/session.js'
import { hostF32, hostI64, TrainSession } from '../train/step.js'
import { Linear } from './layers.js'
import { Rng } from '../runtime/rng.js'
import { layerGroups } from '../methods/groups.js'
import { reinitialise } from '../methods/reinit.js'
import { embeddingWindowCount, melFrameCount, speechEmbeddingFeatures, SpeechEmbeddingClassifier, EMBEDDING_SIZE, INT16_SCALE, MIN_SAMPLES, type SpeechEmbedding } from './speech-embedding.js'
import { loadSpeechEmbedding, SpeechEmbeddingReference } from './speech-embedding-node.js'

/** A voiced-sounding clip: harmonics of a gliding pitch, a formant-like envelope and noise, in int16 range. */
function clip(n: number, seed: number): Float32Array {
  const rng = new Rng(seed)
  const f0 = 110 + 60 * rng.next()
  let phase = 0
  return Float32Array.from({ length: n }, (_, i) => {
    const t = i / 16000
    phase += (2 * Math.PI * f0 * (1 + 0.2 * Math.sin(2 * Math.PI * 1.5 * t))) / 16000
    let v = 0
    for (let h = 1; h <= 12; h++) v += Math.sin(h * phase) / h
    const env = 0.5 + 0.5 * Math.sin(2 * Math.PI * 3 * t)
    return Math.round((0.25 * env * v + 0.02 * rng.normal()) * INT16_SCALE)
  })
}

describe('speech embedding (openWakeWord)', () => {
  it('the reference follows openWakeWord: mel frames of 32, (frames - 76) // 8 + 1 windows of 96', async () => {
    const ref = await SpeechEmbeddingReference.open()
    try {
      for (const n of [MIN_SAMPLES - 1, MIN_SAMPLES, 12481, 16000, 16161, 24000]) {
        const r = await ref.embeddings(clip(n, n))
        // _get_melspectrogram_batch's n_frames, exact unless N mod 160 is 1..31
        if (n % 160 === 0 || n % 160 >= 32) expect(r.frames).toBe(Math.ceil(n / 160 - 3))
        expect(r.frames).toBe(melFrameCount(n))
        expect(r.windows).toBe(Math.max(0, Math.floor((r.frames - 76) / 8) + 1))
        expect(r.windows).toBe(embeddingWindowCount(r.frames))
        expect(r.embeddings.length).toBe(r.windows * EMBEDDING_SIZE)
      }
    } finally {
      await ref.release()
    }
  })

  it('the imported models traced in one graph match the reference on a batch of two 1.5 s clips (1e-5 of the largest value)', async () => {
    const N = 24000
    const model = loadSpeechEmbedding()
    expect(model.embedding.parameters().filter((p) => p.requiresGrad).length).toBe(39)
    expect(model.melspectrogram.parameters().every((p) => !p.requiresGrad)).toBe(true)
    const a = clip(N, 1)
    const b = clip(N, 2)
    const both = new Float32Array(2 * N)
    both.set(a)
    both.set(b, N)
    const got = await speechEmbeddingFeatures(model, new Runtime({ threads: 1 }), both, [2, N])
    expect(got.shape).toEqual([2, 9, 96])
    const ref = await SpeechEmbeddingReference.open()
    try {
      const want = new Float32Array(2 * 9 * 96)
      want.set((await ref.embeddings(a)).embeddings)
      want.set((await ref.embeddings(b)).embeddings, 9 * 96)
      const scale = want.reduce((m, v) => Math.max(m, Math.abs(v)), 0)
      let diff = 0
      for (let i = 0; i < want.length; i++) diff = Math.max(diff, Math.abs(got.embeddings[i]! - want[i]!))
      expect(scale).toBeGreaterThan(1)
      expect(diff / scale).toBeLessThan(1e-5)
    } finally {
      await ref.release()
    }
  })

  it("a quiet clip batched with a loud one gets the embedding it gets alone (the mel model's dB floor is per clip)", async () => {
    const N = 16000
    const loud = clip(N, 3)
    const quiet = clip(N, 4).map((v, i) => (i < 8000 ? 0 : Math.round(v / 300)))
    const both = new Float32Array(2 * N)
    both.set(loud)
    both.set(quiet, N)
    const model = loadSpeechEmbedding()
    const runtime = new Runtime({ threads: 1 })
    const batched = await speechEmbeddingFeatures(model, runtime, both, [2, N])
    const alone = await speechEmbeddingFeatures(model, runtime, quiet, [1, N])
    const second = batched.embeddings.subarray(3 * 96)
    let diff = 0
    for (let i = 0; i < alone.embeddings.length; i++) diff = Math.max(diff, Math.abs(second[i]! - alone.embeddings[i]!))
    expect(diff).toBeLessThan(1e-4)
  })

  it('trains: the embedding backbone and a head learn two clips while the mel front-end stays fixed', async () => {
    class KeywordNet extends Module {
      backbone: SpeechEmbedding
      head = new Linear(EMBEDDING_SIZE, 2, new Rng(0))
      constructor(b: SpeechEmbedding) {
        super()
        this.backbone = b
      }
    }
    const net = new KeywordNet(loadSpeechEmbedding())
    const mel0 = net.backbone.melspectrogram.parameters().map((p) => p.data.slice())
    const emb0 = net.backbone.embedding.parameters().map((p) => p.data.slice())
    const N = MIN_SAMPLES
    const x = new Float32Array(2 * N)
    x.set(clip(N, 5))
    x.set(clip(N, 6), N)
    const s = new TrainSession({
      runtime: new Runtime({ threads: 1 }),
      model: net,
      optimizer: { kind: 'adam', lr: 1e-3 },
      forward: (b) => {
        const e = net.backbone.forward(b['x']!).mean(1) // (B, 96): one window each
        return { loss: nn.crossEntropy(net.head.forward(e), b['y']!) }
      },
    })
    const losses: number[] = []
    for (let k = 0; k < 5; k++) losses.push((await s.trainStep({ x: hostF32(x, [2, N]), y: hostI64([0, 1], [2]) })).loss)
    expect(losses[4]!, `losses ${losses}`).toBeLessThan(losses[0]!)
    net.backbone.melspectrogram.parameters().forEach((p, i) => expect(p.data).toEqual(mel0[i]))
    expect(net.backbone.embedding.parameters().filter((p, i) => p.data.some((v, j) => v !== emb0[i]![j])).length).toBe(39)
  })

  it('with a head: parameters are the ONNX initializer names in layer order plus feature_norm.* (buffers) and classifier.*, in five stages', () => {
    const m = new SpeechEmbeddingClassifier(loadSpeechEmbedding(), 3, new Rng(0))
    const names = m.namedParameters().map(([n]) => n)
    expect(names.length).toBe(43)
    expect(names.slice(-4, -2)).toEqual(['feature_norm.mean', 'feature_norm.std'])
    expect(m.namedParameters().filter(([, p]) => p.kind === 'buffer').map(([n]) => n)).toEqual(['feature_norm.mean', 'feature_norm.std'])
    expect(names.slice(0, 2).sort()).toEqual(['model/conv2d/Conv2D_bias_fused_bn', 'model/conv2d/Conv2D_weights_fused_bn'])
    expect(names.slice(-2)).toEqual(['classifier.weight', 'classifier.bias'])
    expect(names).not.toContain('1.melW') // the fixed front-end is not a parameter of the classifier
    const groups = layerGroups(m, m.headPrefixes)
    expect(groups.map((g) => g.name)).toEqual(['model/stage1', 'model/stage2', 'model/stage3', 'model/stage4', 'model/stage5', 'head'])
    expect(groups.reduce((n, g) => n + g.params.length, 0)).toBe(41)
  })

  it('from scratch: convolutions re-drawn He-uniform, biases 0, the mel front-end untouched', () => {
    const m = new SpeechEmbeddingClassifier(loadSpeechEmbedding(), 3, new Rng(0))
    const mel = m.backbone.melspectrogram.parameters().map((p) => p.data.slice())
    reinitialise(m, new Rng(5))
    for (const [n, p] of m.backbone.namedParameters()) {
      if (p.shape.length < 2) expect(p.data.every((v) => v === 0), n).toBe(true)
      else {
        const bound = Math.sqrt(6 / p.shape.slice(1).reduce((a, b) => a * b, 1))
        const max = p.data.reduce((a, v) => Math.max(a, Math.abs(v)), 0)
        expect(max, n).toBeLessThanOrEqual(bound)
        expect(max, n).toBeGreaterThan(0.8 * bound)
      }
    }
    m.backbone.melspectrogram.parameters().forEach((p, i) => expect(p.data).toEqual(mel[i]))
  })
})
