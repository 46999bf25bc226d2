/**
 * Any ONNX graph as the backbone of an audio classifier (`--task audio-classification --model
 * FILE.onnx`): clips (B, N) in [-1, 1) at the model's rate go in through one of two front-ends, the
 * graph runs, a value of it (the cut) is pooled to (B, F) and a new linear head maps it to logits.
 *
 * The input contract (`--front-end`):
 * - `none`: the graph reads raw audio, one float input [B, N] or [B, 1, N] (Wav2Vec2-style exports
 *   name it `input_values`; an int `attention_mask` input beside it gets ones). A fixed N fixes the
 *   clip length. With `normalize` (Wav2Vec2FeatureExtractor's do_normalize) every clip is scaled to
 *   zero mean and unit variance first, (x - mean) / sqrt(var + 1e-7), inside the graph.
 * - `speech-mel`: openWakeWord's fixed log-mel front-end (melspectrogram.onnx, 16 kHz, int16-range
 *   input, x / 10 + 2; see speech-embedding.ts) in front of a graph that reads 32-bin mel frames,
 *   [B, T, 32], [B, T, 32, 1] (openWakeWord's embedding_model.onnx) or [B, 1, T, 32]. A fixed T
 *   means windows: T frames every 8 frames, as openWakeWord embeds; each window runs through the
 *   graph and the pooled features (or, untrained, the outputs) are averaged over a clip's windows.
 *   A dynamic T takes all of a clip's frames at once.
 *
 * The default cut is the input of the final classifier Gemm/MatMul when the graph ends in one (as
 * for images and text), else the first output; either is pooled by its shape: singleton axes
 * dropped, (B, T, C) averaged over time, (B, C, H, W) over H and W.
 *
 * References: openWakeWord (dscripka/openWakeWord, openwakeword/utils.py AudioFeatures); Hugging
 * Face Wav2Vec2FeatureExtractor (zero_mean_unit_var_norm) and Transformers.js's audio model layout.
 */
import { ConfigError, OnnxImportError } from '../errors.js'
import { concat, Graph, type Parameter, type Tensor } from '../graph/graph.js'
import type { OnnxModel, OnnxValueInfo } from '../onnx/import.js'
import type { Rng } from '../runtime/rng.js'
import type { AudioClassifier } from './audio-classifier.js'
import { defaultCut, type FeatureCut, type FeatureReduce, ImportedGraphModel, nearbyNames } from './onnx-imported.js'
import { INT16_SCALE, MEL_BINS, openWakeWordMel, SPEECH_EMBEDDING_RATE, WINDOW_STEP } from './speech-embedding.js'

/** What sits between the clips and the graph. */
export const AUDIO_FRONT_ENDS = ['none', 'speech-mel'] as const
export type AudioFrontEnd = (typeof AUDIO_FRONT_ENDS)[number]

/** The defaults of a bare .onnx file, stated in --help. */
export const ONNX_AUDIO_DEFAULTS = { frontEnd: 'none', sampleRate: 16000 } as const satisfies { frontEnd: AudioFrontEnd; sampleRate: number }

/** How clips become the graph's input (see the file comment). */
export interface AudioInputContract {
  frontEnd: AudioFrontEnd
  /** The float input's name. */
  input: string
  /** samples [B, N]; channel-samples [B, 1, N]; frames [B, T, 32]; frames-last [B, T, 32, 1]; channel-frames [B, 1, T, 32]. */
  layout: 'samples' | 'channel-samples' | 'frames' | 'frames-last' | 'channel-frames'
  /** Samples (none) or mel frames per window (speech-mel) the graph fixes; null when dynamic. */
  fixed: number | null
  /** An int attention_mask input fed with ones, if the graph has one. */
  mask: string | null
  sampleRate: number
  normalize: boolean
}

const shapeText = (i: OnnxValueInfo): string => `${i.name} ${i.dtype} [${i.shape.map((d) => d ?? '?').join(', ')}]`
const isNum = (d: unknown): d is number => typeof d === 'number'

/**
 * The contract a graph's inputs allow with `frontEnd`; every mismatch is an error naming `file`, the
 * input and its shape, and what would fit.
 */
export function audioInputContract(onnx: OnnxModel, file: string, o: { frontEnd: AudioFrontEnd; sampleRate: number; normalize?: boolean }): AudioInputContract {
  const floats = onnx.inputs.filter((i) => i.dtype === 'float32' || i.dtype === 'float64' || i.dtype === 'float16')
  const mask = onnx.inputs.find((i) => i.name === 'attention_mask' && !floats.includes(i)) ?? null
  const others = onnx.inputs.filter((i) => !floats.includes(i) && i !== mask)
  const all = onnx.inputs.map(shapeText).join(', ') || 'none'
  if (floats.length !== 1 || others.length)
    throw new OnnxImportError('ONNX_AUDIO_INPUTS', `${file}: an audio classifier's graph takes one float input (raw samples or mel frames) and optionally attention_mask; this one takes ${all}`, 'export the model with a single audio input, or pass --task text-classification / image-classification for a text or image model')
  const info = floats[0]!
  const s = info.shape
  if (s.length === 0 || (isNum(s[0]) && s[0] < 1))
    throw new OnnxImportError('ONNX_AUDIO_INPUT_SHAPE', `${file}: input ${shapeText(info)} has no batch axis`, 'export the model with a batch axis first')
  if (o.frontEnd === 'none') {
    if (o.sampleRate <= 0) throw new ConfigError('CONFIG_SAMPLING_RATE', `--sampling-rate ${o.sampleRate} is not a sample rate`, 'pass the rate the model was trained at, e.g. --sampling-rate 16000')
    const layout = s.length === 2 ? 'samples' : s.length === 3 && s[1] === 1 ? 'channel-samples' : null
    if (!layout) {
      const mel = (s.length === 3 && s[2] === MEL_BINS) || (s.length === 4 && ((s[2] === MEL_BINS && s[3] === 1) || (s[1] === 1 && s[3] === MEL_BINS)))
      throw new OnnxImportError('ONNX_AUDIO_INPUT_SHAPE', `${file}: input ${shapeText(info)} is not raw audio ([batch, samples] or [batch, 1, samples]) for --front-end none`, mel ? `it looks like ${MEL_BINS}-bin mel frames: pass --front-end speech-mel` : `front-ends: ${AUDIO_FRONT_ENDS.join(', ')} (speech-mel reads [B, T, ${MEL_BINS}], [B, T, ${MEL_BINS}, 1] or [B, 1, T, ${MEL_BINS}]); an image model takes --task image-classification`)
    }
    const n = s.at(-1)
    return { frontEnd: 'none', input: info.name, layout, fixed: isNum(n) ? n : null, mask: mask?.name ?? null, sampleRate: o.sampleRate, normalize: o.normalize ?? false }
  }
  if (o.sampleRate !== SPEECH_EMBEDDING_RATE) throw new ConfigError('CONFIG_SAMPLING_RATE', `--front-end speech-mel computes openWakeWord's mel frames at ${SPEECH_EMBEDDING_RATE} Hz; --sampling-rate is ${o.sampleRate}`, `drop --sampling-rate (or pass ${SPEECH_EMBEDDING_RATE}); a model trained at another rate needs --front-end none`)
  const bins = (d: unknown): boolean => d === MEL_BINS || !isNum(d)
  const layout = s.length === 3 && bins(s[2]) ? 'frames' : s.length === 4 && s[3] === 1 && bins(s[2]) ? 'frames-last' : s.length === 4 && s[1] === 1 && bins(s[3]) ? 'channel-frames' : null
  if (!layout)
    throw new OnnxImportError('ONNX_AUDIO_INPUT_SHAPE', `${file}: input ${shapeText(info)} is not ${MEL_BINS}-bin mel frames for --front-end speech-mel`, `speech-mel feeds [B, T, ${MEL_BINS}], [B, T, ${MEL_BINS}, 1] or [B, 1, T, ${MEL_BINS}]${s.length <= 3 ? '; a graph that reads raw samples takes --front-end none' : ''}`)
  const t = layout === 'channel-frames' ? s[2] : s[1]
  return { frontEnd: 'speech-mel', input: info.name, layout, fixed: isNum(t) ? t : null, mask: mask?.name ?? null, sampleRate: SPEECH_EMBEDDING_RATE, normalize: o.normalize ?? false }
}

/** The pooling of a cut value of shape `shape` (batch first): see the file comment. */
export function audioReduce(shape: readonly number[], name: string): { reduce: FeatureReduce; how: string } {
  const rest = shape.slice(1)
  const dims = `[B, ${rest.join(', ')}]`
  if (rest.filter((d) => d !== 1).length <= 1) return { reduce: 'none', how: rest.length > 1 ? `${dims} flattened` : `${dims} as it is` }
  if (shape.length === 3) return { reduce: 'time-mean', how: `(B, T, C) ${dims} averaged over time` }
  if (shape.length === 4) return { reduce: 'spatial-mean', how: `(B, C, H, W) ${dims} averaged over H and W` }
  throw new OnnxImportError('ONNX_FEATURES_RANK', `features "${name}" have shape [${shape.join(', ')}]; the head reads (B, F), (B, T, F) or (B, C, H, W) values`, 'pass --features with a value that has a batch axis first and at most three more')
}

/** An imported graph as an audio classifier (AudioClassifier), with its front-end. */
export class ImportedAudioModel extends ImportedGraphModel implements AudioClassifier {
  readonly arch = 'onnx'
  readonly contract: AudioInputContract
  /** openWakeWord's melspectrogram.onnx (speech-mel): fixed signal processing, never trained or saved. */
  readonly _mel: OnnxModel | null
  /** The .onnx file (for messages). */
  file = ''
  /** Clip length (samples) that setHead probes the graph with. */
  probeSamples: number

  constructor(onnx: OnnxModel, contract: AudioInputContract, mel: OnnxModel | null) {
    super(onnx)
    if ((contract.frontEnd === 'speech-mel') !== (mel !== null)) throw new ConfigError('ONNX_AUDIO_FRONT_END', `--front-end ${contract.frontEnd} ${mel ? 'takes no mel model' : "needs openWakeWord's melspectrogram.onnx"}`, 'internal: pass the mel model exactly for speech-mel')
    this.contract = contract
    this._mel = mel
    mel?.requiresGrad(false)
    this.probeSamples = this.minSamples
  }

  /**
   * Parameters in the order the graph first reads them (bottom to top), so layer groups follow the
   * network; the head last. Loading is by name, so the order is free.
   */
  override namedParameters(prefix = ''): [string, Parameter][] {
    const all = super.namedParameters(prefix)
    const at = this.#firstUse()
    const pos = (n: string): number => at.get(prefix && n.startsWith(`${prefix}.`) ? n.slice(prefix.length + 1) : n) ?? Infinity
    return all.map((e, i) => ({ e, i, p: pos(e[0]) })).sort((a, b) => a.p - b.p || a.i - b.i).map((x) => x.e)
  }

  #uses: Map<string, number> | null = null
  #numbered: boolean | undefined
  /** Each initializer's position among the nodes that read weights, in graph order. */
  #firstUse(): Map<string, number> {
    if (this.#uses) return this.#uses
    const params = new Set(this.graph.namedParameters().map(([n]) => n))
    const at = new Map<string, number>()
    let k = 0
    for (const n of this.graph._graph.node) {
      const ws = n.input.filter((i) => params.has(i) && !at.has(i))
      if (ws.length === 0) continue
      for (const w of ws) at.set(w, k)
      k++
    }
    this.#uses = at
    return at
  }

  /**
   * Layer groups for gradual unfreezing and per-group learning rates where the graph's names carry
   * no block numbers: the weight-reading nodes in graph order, cut into (up to) four stages.
   */
  blockOf(name: string): string | null {
    // names with numbered blocks (bert.encoder.layer.3...) group by those, as for every other family
    this.#numbered ??= this.graph.namedParameters().some(([n]) => /(^|\.)(\d+|\w+_\d+)\./.test(n))
    if (this.#numbered) return null
    const at = this.#firstUse()
    const k = at.get(name)
    if (k === undefined) return null
    const n = Math.max(...at.values()) + 1
    const S = Math.min(4, n)
    return `stage${Math.floor((k * S) / n) + 1}`
  }

  /** LoRA's default targets (the graph's MatMul/Gemm weights); a graph without any says so. */
  override get loraTargets(): string[] {
    const t = super.loraTargets
    if (t.length === 0)
      throw new OnnxImportError('LORA_NO_SITES', `${this.file || 'the graph'} has no MatMul/Gemm weight LoRA can adapt (its ${this.graph.namedParameters().length} weights are read by ${[...new Set(this.graph._graph.node.filter((n) => n.input.some((i) => this.graph._params.has(i))).map((n) => n.opType))].join(', ')})`, 'LoRA here adapts linear layers; fine-tune a convolutional graph with --method full (optionally --unfreeze gradual) or --method frozen')
    return t
  }

  /** Samples the graph needs: its fixed length, one window of its fixed frames, or one mel frame. */
  get minSamples(): number {
    const c = this.contract
    if (c.frontEnd === 'none') return c.fixed ?? 1
    return 512 + 160 * ((c.fixed ?? 1) - 1) + (c.fixed === null ? 48 : 0) // melFrameCount(560) = 1
  }

  /** Graph inputs for clips (B, N), and how many windows each clip became. */
  #feed(audio: Tensor): { feed: Record<string, Tensor>; B: number; W: number } {
    const c = this.contract
    const [B, N] = audio.shape as [number, number]
    let x = audio
    if (c.normalize) {
      const mean = x.mean(1, true)
      const centred = x.sub(mean)
      x = centred.div(centred.square().mean(1, true).add(1e-7).sqrt()) // (B, N)
    }
    let input: Tensor
    let W = 1
    if (c.frontEnd === 'none') input = c.layout === 'samples' ? x : x.reshape([B, 1, N])
    else {
      let mel = openWakeWordMel(this._mel!, x.mul(INT16_SCALE)) // (B, frames, 32)
      const frames = mel.shape[1]!
      if (c.fixed !== null) {
        const T = c.fixed
        W = frames < T ? 0 : Math.floor((frames - T) / WINDOW_STEP) + 1
        if (W === 0) throw new ConfigError('CONFIG_CLIP_TOO_SHORT', `${N} samples make ${frames} mel frames, fewer than the ${T} the graph reads`, `give clips of at least ${this.minSamples} samples (--clip-seconds ${Math.ceil((this.minSamples / c.sampleRate) * 100) / 100})`)
        const windows = Array.from({ length: W }, (_, w) => mel.slice(1, w * WINDOW_STEP, w * WINDOW_STEP + T).unsqueeze(1)) // W x (B, 1, T, 32)
        mel = (W === 1 ? windows[0]! : concat(windows, 1)).reshape([B * W, T, MEL_BINS]) // (B*W, T, 32), clip-major
      }
      const [R, T] = mel.shape as [number, number, number]
      input = c.layout === 'frames' ? mel : c.layout === 'frames-last' ? mel.reshape([R, T, MEL_BINS, 1]) : mel.reshape([R, 1, T, MEL_BINS])
    }
    const feed: Record<string, Tensor> = { [c.input]: input }
    if (c.mask) feed[c.mask] = input.reshape([input.shape[0]!, -1]).mul(0).add(1).cast('int64') // (B, N) ones
    return { feed, B, W }
  }

  /** Rows of W windows per clip -> the clip's mean. */
  #perClip(y: Tensor, B: number, W: number): Tensor {
    return W === 1 ? y : y.reshape([B, W, y.shape[1]!]).mean(1) // (B*W, F) -> (B, F)
  }

  /** Clips (B, N) in [-1, 1) -> features (B, F) at the cut. */
  features(audio: Tensor): Tensor {
    const { feed, B, W } = this.#feed(audio)
    return this.#perClip(this.featuresOf(feed), B, W)
  }

  head(features: Tensor): Tensor {
    return this.headOf(features)
  }

  /** Clips (B, N) -> logits: the head on the features, or (untrained) the graph's first output per clip. */
  logits(audio: Tensor): Tensor {
    const { feed, B, W } = this.#feed(audio)
    if (this.headPrefixes.length) return this.headOf(this.#perClip(this.featuresOf(feed), B, W))
    return this.#perClip(this.logitsOf(feed), B, W)
  }

  /** Graph inputs of one clip of `samples` samples (shapes only; nothing runs). */
  probe(samples = this.probeSamples): Record<string, Tensor> {
    const g = new Graph()
    return this.#feed(g.input('audio', [1, samples])).feed
  }

  /** The shape of a graph value for one clip of `samples` samples. */
  shapeOf(name: string, samples = this.probeSamples): number[] {
    return this.probeShape(name, () => this.probe(samples))
  }

  /**
   * The cut: `features` (a value name) or the default, pooled by its shape on a clip of `samples`
   * samples. Unknown names list nearby ones.
   */
  chooseCut(features: string | undefined, samples: number): FeatureCut {
    this.probeSamples = samples
    const base = features ? { name: features, why: `--features ${features}` } : defaultCut(this.graph)
    const known = new Set([...this.graph.inputs.map((i) => i.name), ...this.graph._graph.node.flatMap((n) => n.output)])
    if (!known.has(base.name)) throw new OnnxImportError('ONNX_FEATURES_UNKNOWN', `--features "${base.name}": the graph has no value of that name`, `values with similar names: ${nearbyNames(this.graph, base.name).join(', ')} (Netron shows every node output)`)
    const { reduce, how } = audioReduce(this.shapeOf(base.name, samples), base.name)
    const why = features ? base.why : base.why.replace(/^the (first token|spatial mean) of the output/, 'the output')
    return { name: base.name, reduce, why: `${why}, ${how}${this.contract.fixed !== null && this.contract.frontEnd === 'speech-mel' ? ', then averaged over windows' : ''}` }
  }

  /** A new head on the current cut (the default one if none), probed on `probeSamples`. */
  setHead(numClasses: number, rng: Rng): void {
    const cut = this.cut ?? this.chooseCut(undefined, this.probeSamples)
    this.attachHead(cut, numClasses, rng, () => this.probe())
  }
}
