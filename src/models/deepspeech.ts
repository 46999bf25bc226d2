/**
 * A DeepSpeech2-style CTC recogniser trained from scratch: log-mel frames computed in the graph,
 * strided 2-D convolutions over (frequency, time) with Hardtanh(0, 20), bidirectional GRU or LSTM
 * layers, and a linear CTC head over a character vocabulary (vocab.json as Wav2Vec2's).
 * Amodei et al. 2015, "Deep Speech 2", https://arxiv.org/abs/1512.02595 · SeanNaren/deepspeech.pytorch
 * (model.py: MaskConv, BatchRNN, Hardtanh(0, 20)) · torchaudio 0.13 MelSpectrogram (the front-end).
 *
 * Paths are checkpoint keys: conv.N.{weight, bias} (torch.nn.Conv2d), rnn.{weight_ih_lK, weight_hh_lK,
 * bias_ih_lK, bias_hh_lK}[_reverse] (one torch.nn.GRU/LSTM with num_layers, batch_first), lm_head.
 * Front-end: a power spectrogram (periodic Hann window, center=False) as a convolution with a fixed
 * DFT basis, the HTK mel filterbank (torchaudio's melscale_fbanks, norm=None), log(mel + 1e-6), then
 * zero mean and unit variance per clip over its real frames. Lengths are respected throughout, as
 * deepspeech.pytorch's MaskConv and pack_padded_sequence do: padded frames are zeroed after every
 * conv and skipped by the recurrences, so padding a clip does not change its logits.
 * Not implemented (deliberately small): BatchNorm in the conv blocks and between recurrent layers,
 * lookahead convolution, summing the two directions (torch's concatenation is kept).
 */
import { ConfigError } from '../errors.js'
import { ctcLoss } from '../graph/ctc.js'
import { Parameter, type Tensor } from '../graph/graph.js'
import { markStructureChanged, Module } from '../graph/module.js'
import { recurrence, RNN_GATES, type RnnKind } from '../graph/rnn.js'
import { Rng } from '../runtime/rng.js'
import { ConfigReader, type HfConfig } from './hf.js'
import { readBool, readIntList, readPositive } from './hf-vision.js'
import { Conv2d, Linear, uniform } from './layers.js'

export interface DeepSpeechConfig {
  sampling_rate: number
  n_fft: number
  hop_length: number
  n_mels: number
  f_min: number
  f_max: number
  /** Per conv layer: output channels, kernel and stride over frequency and time (padding is kernel // 2). */
  conv_channels: number[]
  conv_kernel_freq: number[]
  conv_kernel_time: number[]
  conv_stride_freq: number[]
  conv_stride_time: number[]
  rnn_type: RnnKind
  rnn_hidden_size: number
  rnn_layers: number
  bidirectional: boolean
  vocab_size: number
  pad_token_id: number
  ctc_loss_reduction: 'sum' | 'mean'
  ctc_zero_infinity: boolean
}

/** The built-in from-scratch configurations of `--model` (a vocabulary is built from the training transcripts). */
export const DEEPSPEECH_MODELS: Record<string, HfConfig> = {
  'deepspeech-small': { rnn_type: 'gru', rnn_hidden_size: 128, rnn_layers: 2 },
  'deepspeech-small-lstm': { rnn_type: 'lstm', rnn_hidden_size: 128, rnn_layers: 2 },
}

/** DeepSpeechConfig's fields with their defaults (16 kHz, 25 ms / 10 ms frames, 40 mels); every problem is reported at once. */
export function parseDeepSpeechConfig(raw: HfConfig, file = 'config.json'): DeepSpeechConfig {
  const r = new ConfigReader(raw, file)
  const kind = r.str('rnn_type', 'gru')
  if (kind !== 'gru' && kind !== 'lstm') r.issues.add('rnn_type', `must be "gru" or "lstm", got ${JSON.stringify(kind)}`)
  const reduction = r.str('ctc_loss_reduction', 'mean')
  if (reduction !== 'sum' && reduction !== 'mean') r.issues.add('ctc_loss_reduction', `must be "sum" or "mean", got ${JSON.stringify(reduction)}`)
  const c: DeepSpeechConfig = {
    sampling_rate: readPositive(r, 'sampling_rate', 16000),
    n_fft: readPositive(r, 'n_fft', 400),
    hop_length: readPositive(r, 'hop_length', 160),
    n_mels: readPositive(r, 'n_mels', 40),
    f_min: r.num('f_min', 0),
    f_max: r.num('f_max', 8000),
    conv_channels: readIntList(r, 'conv_channels', [32]),
    conv_kernel_freq: readIntList(r, 'conv_kernel_freq', [11]),
    conv_kernel_time: readIntList(r, 'conv_kernel_time', [11]),
    conv_stride_freq: readIntList(r, 'conv_stride_freq', [2]),
    conv_stride_time: readIntList(r, 'conv_stride_time', [2]),
    rnn_type: kind === 'lstm' ? 'lstm' : 'gru',
    rnn_hidden_size: readPositive(r, 'rnn_hidden_size', 128),
    rnn_layers: readPositive(r, 'rnn_layers', 2),
    bidirectional: readBool(r, 'bidirectional', true),
    vocab_size: readPositive(r, 'vocab_size', 32),
    pad_token_id: r.int('pad_token_id', 0),
    ctc_loss_reduction: reduction === 'sum' ? 'sum' : 'mean',
    ctc_zero_infinity: readBool(r, 'ctc_zero_infinity', true),
  }
  const n = c.conv_channels.length
  for (const k of ['conv_kernel_freq', 'conv_kernel_time', 'conv_stride_freq', 'conv_stride_time'] as const)
    if (c[k].length !== n) r.issues.add(k, `has ${c[k].length} entries but conv_channels has ${n} (one per conv layer)`)
  if (!(c.f_min >= 0 && c.f_max > c.f_min && c.f_max <= c.sampling_rate / 2)) r.issues.add('f_max', `f_min ${c.f_min} and f_max ${c.f_max} must satisfy 0 <= f_min < f_max <= sampling_rate / 2 (${c.sampling_rate / 2})`)
  if (c.n_fft > 4096) r.issues.add('n_fft', `${c.n_fft} is too large (at most 4096)`)
  if (c.pad_token_id >= c.vocab_size) r.issues.add('pad_token_id', `${c.pad_token_id} is not below vocab_size ${c.vocab_size} (the pad token is the CTC blank)`)
  r.check()
  let f = c.n_mels
  c.conv_channels.forEach((_, i) => (f = convOut(f, c.conv_kernel_freq[i]!, c.conv_stride_freq[i]!)))
  if (f < 1) throw new ConfigError('CONFIG_INVALID', `${file}: the conv layers leave no frequency bins of n_mels ${c.n_mels}`, 'use smaller conv_kernel_freq / conv_stride_freq or more n_mels')
  return c
}

/** Frames out of a conv with padding kernel // 2 (floor division, as torch). */
const convOut = (n: number, k: number, s: number): number => Math.floor((n + 2 * Math.floor(k / 2) - k) / s) + 1

/** Mel frames of `samples` samples (center=False): 0 when shorter than one window. */
export function melFrames(c: Pick<DeepSpeechConfig, 'n_fft' | 'hop_length'>, samples: number): number {
  return samples < c.n_fft ? 0 : Math.floor((samples - c.n_fft) / c.hop_length) + 1
}

/** torchaudio.functional.melscale_fbanks(n_fft // 2 + 1, f_min, f_max, n_mels, sr, norm=None, mel_scale="htk"): (freqs, mels). */
export function melFilterbank(c: Pick<DeepSpeechConfig, 'n_fft' | 'n_mels' | 'f_min' | 'f_max' | 'sampling_rate'>): Float32Array {
  const F = Math.floor(c.n_fft / 2) + 1
  const M = c.n_mels
  const mel = (f: number): number => 2595 * Math.log10(1 + f / 700)
  const hz = (m: number): number => 700 * (10 ** (m / 2595) - 1)
  const lin = (a: number, b: number, n: number): number[] => Array.from({ length: n }, (_, i) => (n === 1 ? a : a + ((b - a) * i) / (n - 1)))
  const freqs = lin(0, Math.floor(c.sampling_rate / 2), F)
  const pts = lin(mel(c.f_min), mel(c.f_max), M + 2).map(hz)
  const fb = new Float32Array(F * M)
  for (let i = 0; i < F; i++) {
    for (let m = 0; m < M; m++) {
      const down = (freqs[i]! - pts[m]!) / (pts[m + 1]! - pts[m]!)
      const up = (pts[m + 2]! - freqs[i]!) / (pts[m + 2]! - pts[m + 1]!)
      fb[i * M + m] = Math.max(0, Math.min(down, up))
    }
  }
  return fb
}

/** The real DFT as conv weights (2F, 1, n_fft): F rows of w·cos, then F rows of w·sin (periodic Hann w). */
function dftBasis(nFft: number): Float32Array {
  const F = Math.floor(nFft / 2) + 1
  const out = new Float32Array(2 * F * nFft)
  for (let k = 0; k < F; k++) {
    for (let n = 0; n < nFft; n++) {
      const w = 0.5 - 0.5 * Math.cos((2 * Math.PI * n) / nFft)
      const a = (2 * Math.PI * k * n) / nFft
      out[k * nFft + n] = w * Math.cos(a)
      out[(F + k) * nFft + n] = w * Math.sin(a)
    }
  }
  return out
}

/** A torch.nn.GRU / torch.nn.LSTM with num_layers and bidirectional: its parameters keep torch's names. */
class Rnn extends Module {
  [key: string]: unknown
  constructor(readonly c: DeepSpeechConfig, inputSize: number, rng: Rng) {
    super()
    const H = c.rnn_hidden_size
    const G = RNN_GATES[c.rnn_type]
    const bound = 1 / Math.sqrt(H) // torch: every weight and bias U(-1/sqrt(H), 1/sqrt(H))
    for (let l = 0; l < c.rnn_layers; l++) {
      const inp = l === 0 ? inputSize : H * (c.bidirectional ? 2 : 1)
      for (const sfx of c.bidirectional ? ['', '_reverse'] : ['']) {
        this[`weight_ih_l${l}${sfx}`] = uniform(new Parameter([G * H, inp]), rng, bound)
        this[`weight_hh_l${l}${sfx}`] = uniform(new Parameter([G * H, H]), rng, bound)
        this[`bias_ih_l${l}${sfx}`] = uniform(new Parameter([G * H], { decay: false }), rng, bound)
        this[`bias_hh_l${l}${sfx}`] = uniform(new Parameter([G * H], { decay: false }), rng, bound)
      }
    }
  }
  forward(x: Tensor, mask: Tensor | null): Tensor {
    const g = x.graph
    const p = (name: string): Tensor => g.param(this[name] as Parameter)
    let h = x                                                                       // (B, T, In)
    for (let l = 0; l < this.c.rnn_layers; l++) {
      const dirs = (this.c.bidirectional ? ['', '_reverse'] : ['']).map((sfx) =>
        recurrence(this.c.rnn_type, h, { weight_ih: p(`weight_ih_l${l}${sfx}`), weight_hh: p(`weight_hh_l${l}${sfx}`), bias_ih: p(`bias_ih_l${l}${sfx}`), bias_hh: p(`bias_hh_l${l}${sfx}`) }, mask, sfx !== ''))
      h = dirs.length === 1 ? dirs[0]! : dirs[0]!.graph.emit('Concat', dirs, { axis: 2 })[0]! // (B, T, H·dirs)
    }
    return h
  }
}

export interface DeepSpeechOptions {
  seed?: number
  file?: string
}

/** DeepSpeech-style CTC model: `logits` over `vocab_size` characters, the pad token as blank. */
export class DeepSpeechForCTC extends Module {
  readonly architecture = 'DeepSpeechForCTC'
  readonly modelType = 'deepspeech'
  readonly headPrefixes: readonly string[] = ['lm_head']
  /** The graph takes each clip's real sample count (`input_lengths`) to mask padding. */
  readonly takesInputLengths = true
  readonly c: DeepSpeechConfig
  conv: Conv2d[]
  rnn: Rnn
  lm_head: Linear
  readonly #raw: HfConfig
  readonly _dft: Float32Array
  readonly _fb: Float32Array

  constructor(raw: HfConfig, o: DeepSpeechOptions = {}) {
    super()
    const c = (this.c = parseDeepSpeechConfig(raw, o.file))
    this.#raw = raw
    const rng = new Rng(o.seed ?? 0)
    let f = c.n_mels
    this.conv = c.conv_channels.map((ch, i) => {
      const kf = c.conv_kernel_freq[i]!
      const kt = c.conv_kernel_time[i]!
      const conv = new Conv2d(i === 0 ? 1 : c.conv_channels[i - 1]!, ch, [kf, kt], rng, { stride: [c.conv_stride_freq[i]!, c.conv_stride_time[i]!], padding: [Math.floor(kf / 2), Math.floor(kt / 2)] })
      f = convOut(f, kf, c.conv_stride_freq[i]!)
      return conv
    })
    this.rnn = new Rnn(c, c.conv_channels.at(-1)! * f, rng)
    this.lm_head = new Linear(c.rnn_hidden_size * (c.bidirectional ? 2 : 1), c.vocab_size, rng)
    this._dft = dftBasis(c.n_fft)
    this._fb = melFilterbank(c)
    this.nameParameters()
  }

  /** Output frames of a clip of `samples` samples (0: too short). */
  frames(samples: number): number {
    let t = melFrames(this.c, samples)
    if (t < 1) return 0
    this.conv.forEach((_, i) => (t = convOut(t, this.c.conv_kernel_time[i]!, this.c.conv_stride_time[i]!)))
    return Math.max(t, 0)
  }

  /** Log-mel frames (B, n_mels, frames) of audio (B, samples), before per-clip normalisation. */
  logMel(audio: Tensor): Tensor {
    const g = audio.graph
    const c = this.c
    const F = Math.floor(c.n_fft / 2) + 1
    const basis = g.constant(this._dft, [2 * F, 1, c.n_fft])
    const spec = g.emit('Conv', [audio.unsqueeze(1), basis], { strides: [c.hop_length], pads: [0, 0], dilations: [1], group: 1 })[0]! // (B, 2F, T)
    const [re, im] = spec.split([F, F], 1) as [Tensor, Tensor]
    const power = re.square().add(im.square())                                     // (B, F, T)
    const fbT = g.constant(transpose(this._fb, F, c.n_mels), [c.n_mels, F])
    return fbT.matmul(power).add(1e-6).log()                                        // (B, n_mels, T)
  }

  /**
   * CTC logits (B, T, vocab_size) of audio (B, samples) at `sampling_rate`. `inputLengths` (B) int64:
   * each clip's real samples (the rest is padding); null when every sample is real. The other two
   * arguments are the speech runner's frame and SpecAugment masks, which this model does not use.
   */
  logits(audio: Tensor, _frameMask: Tensor | null = null, _timeMask: Tensor | null = null, inputLengths: Tensor | null = null): Tensor {
    const c = this.c
    const g = audio.graph
    if (audio.rank !== 2) throw new ConfigError('AUDIO_INPUT_SHAPE', `DeepSpeech takes audio as (batch, samples), got [${audio.shape.join(', ')}]`, 'pass mono samples at the model\'s sampling rate')
    const [B, N] = audio.shape as [number, number]
    if (this.frames(N) < 1) throw new ConfigError('AUDIO_TOO_SHORT', `${N} samples are too short for DeepSpeech's front-end`, `clips need at least ${c.n_fft} samples (${(1000 * c.n_fft) / c.sampling_rate} ms)`)
    const i64 = (v: number): Tensor => g.scalar(v, 'int64')
    // (B, 1, ..., T) float mask of frames below `len` (B) int64
    const maskOf = (len: Tensor, T: number, rank: number): Tensor => {
      const ar = g.constant(Array.from({ length: T }, (_, i) => i), [1, T], 'int64')
      return ar.lt(len.reshape([B, 1])).cast('float32').reshape([B, ...new Array<number>(rank - 2).fill(1), T])
    }
    let x = this.logMel(audio)                                                      // (B, n_mels, T)
    let len = inputLengths ? inputLengths.sub(i64(c.n_fft)).div(i64(c.hop_length)).add(i64(1)) : null
    let mask = len ? maskOf(len, x.shape[2]!, 3) : null                             // (B, 1, T)
    // zero mean, unit variance per clip over its real frames
    const count = mask ? mask.sum([1, 2], true).mul(c.n_mels) : null               // (B, 1, 1)
    const mean = mask ? x.mul(mask).sum([1, 2], true).div(count!) : x.mean([1, 2], true)
    let d = x.sub(mean)
    if (mask) d = d.mul(mask)
    const variance = mask ? d.square().sum([1, 2], true).div(count!) : d.square().mean([1, 2], true)
    x = d.div(variance.add(1e-5).sqrt()).unsqueeze(1)                               // (B, 1, n_mels, T)
    this.conv.forEach((conv, i) => {
      x = conv.forward(x).clip(0, 20)                                               // (B, C, F', T') Hardtanh(0, 20)
      if (len) {
        const k = c.conv_kernel_time[i]!
        len = len.add(i64(2 * Math.floor(k / 2) - k)).div(i64(c.conv_stride_time[i]!)).add(i64(1))
        x = x.mul(maskOf(len, x.shape[3]!, 4))                                       // MaskConv: padded frames back to 0
      }
    })
    const [, C, Fr, T] = x.shape as [number, number, number, number]
    const seq = x.transpose([0, 3, 1, 2]).reshape([B, T, C * Fr])                   // (B, T, C·F')
    mask = len ? maskOf(len, T, 2) : null                                           // (B, T)
    return this.lm_head.forward(this.rnn.forward(seq, mask))                        // (B, T, V)
  }

  /** CTC on log_softmax(logits), blank = pad_token_id, the config's reduction and zero_infinity. */
  loss(logits: Tensor, labels: Tensor, labelLengths: Tensor, frameLengths: Tensor): Tensor {
    return ctcLoss(logits.logSoftmax(-1), labels, frameLengths, labelLengths, { blank: this.c.pad_token_id, reduction: this.c.ctc_loss_reduction, zeroInfinity: this.c.ctc_zero_infinity })
  }

  /** A new lm_head for another vocabulary (torch's Linear init). */
  replaceHead(vocabSize: number, padTokenId: number, rng: Rng): void {
    this.lm_head = new Linear(this.lm_head.inFeatures, vocabSize, rng)
    ;(this.c as { vocab_size: number }).vocab_size = vocabSize
    ;(this.c as { pad_token_id: number }).pad_token_id = padTokenId
    this.nameParameters()
    markStructureChanged()
  }

  toConfig(): HfConfig {
    const { vocab_size, pad_token_id, ...rest } = this.c
    return { ...this.#raw, ...rest, vocab_size, pad_token_id, architectures: [this.architecture], model_type: this.modelType }
  }
}

function transpose(a: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(a.length)
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = a[i * cols + j]!
  return out
}
