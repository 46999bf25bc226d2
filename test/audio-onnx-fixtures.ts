/**
 * Audio fixtures for imported ONNX backbones: a tiny raw-audio classifier the project exports to
 * ONNX itself (frames of 160 samples -> linear -> tanh -> mean over time -> linear), as a bare file
 * or laid out as Transformers.js publishes audio models, and folders of synthetic tone clips.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { encodeWav } from '../src/data/audio-wav.js'
import { exportInferenceOnnx } from '../src/export/onnx.js'
import type { Tensor } from '../src/graph/graph.js'
import { Module } from '../src/graph/module.js'
import { Linear } from '../src/models/layers.js'
import { Rng } from '../src/runtime/rng.js'

/** Samples per frame of the tiny net. */
export const TINY_FRAME = 160

class TinyAudioNet extends Module {
  frame: Linear
  classifier: Linear
  constructor(hidden: number, classes: number, rng: Rng) {
    super()
    this.frame = new Linear(TINY_FRAME, hidden, rng)
    this.classifier = new Linear(hidden, classes, rng)
  }
  forward(x: Tensor): { logits: Tensor; hidden_states: Tensor } {
    const [B, N] = x.shape as [number, number]
    const h = this.frame.forward(x.reshape([B, N / TINY_FRAME, TINY_FRAME]).mul(8)).tanh() // (B, T, hidden)
    return { logits: this.classifier.forward(h.mean(1)), hidden_states: h }
  }
}

/**
 * The tiny net exported with a static input `name` [batch, samples] (or [batch, 1, samples]) and
 * outputs logits (batch, classes) then hidden_states (batch, T, hidden). Returns the ONNX bytes.
 */
export function tinyAudioOnnx(o: { name?: string; batch?: number; samples?: number; hidden?: number; classes?: number; channel?: boolean; seed?: number } = {}): Uint8Array {
  const [B, N, name] = [o.batch ?? 4, o.samples ?? 1600, o.name ?? 'audio']
  const net = new TinyAudioNet(o.hidden ?? 12, o.classes ?? 3, new Rng(o.seed ?? 5))
  return exportInferenceOnnx({
    model: net,
    inputs: { [name]: { shape: o.channel ? [B, 1, N] : [B, N], dtype: 'float32' } },
    forward: (i) => net.forward(o.channel ? i[name]!.reshape([B, N]) : i[name]!) as unknown as Record<string, Tensor>,
  })
}

/**
 * A Transformers.js-layout audio folder: config.json (id2label), preprocessor_config.json
 * (Wav2Vec2FeatureExtractor: sampling_rate, do_normalize) and onnx/model.onnx with input_values.
 */
export function transformersJsAudio(dir: string, o: { sampleRate: number; normalize: boolean; samples?: number }): string {
  mkdirSync(join(dir, 'onnx'), { recursive: true })
  writeFileSync(join(dir, 'onnx', 'model.onnx'), tinyAudioOnnx({ name: 'input_values', samples: o.samples ?? 1600, seed: 9 }))
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ model_type: 'tiny-audio', architectures: ['TinyAudioForAudioClassification'], id2label: { 0: 'a', 1: 'b', 2: 'c' } }, null, 2))
  writeFileSync(join(dir, 'preprocessor_config.json'), JSON.stringify({ feature_extractor_type: 'Wav2Vec2FeatureExtractor', feature_size: 1, sampling_rate: o.sampleRate, do_normalize: o.normalize, padding_value: 0, return_attention_mask: false }, null, 2))
  return dir
}

/**
 * A folder per class of seeded tone clips at `rate`: "low" (300 Hz) and "high" (2000 Hz), random
 * phase, gain and a little noise, `seconds` long. Returns the file paths in class order.
 */
export function toneFolder(dir: string, o: { perClass: number; rate?: number; seconds?: number; seed?: number }): string[] {
  const rate = o.rate ?? 16000
  const n = Math.round((o.seconds ?? 0.1) * rate)
  const rng = new Rng(o.seed ?? 1)
  const files: string[] = []
  for (const [label, hz] of [['high', 2000], ['low', 300]] as const) {
    mkdirSync(join(dir, label), { recursive: true })
    for (let k = 0; k < o.perClass; k++) {
      const phase = rng.next() * 2 * Math.PI
      const gain = 0.2 + 0.5 * rng.next()
      const x = Float32Array.from({ length: n }, (_, i) => gain * Math.sin((2 * Math.PI * hz * i) / rate + phase) + 0.02 * (rng.next() * 2 - 1))
      const f = join(dir, label, `${label}-${k}.wav`)
      writeFileSync(f, encodeWav(x, rate))
      files.push(f)
    }
  }
  return files
}
