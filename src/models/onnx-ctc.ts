/**
 * Any ONNX graph that reads raw audio and ends in frame logits as a CTC speech recogniser
 * (`--task speech-recognition --model FILE.onnx | FOLDER`): Transformers.js's Wav2Vec2ForCTC
 * exports, torch.onnx.export of torchaudio's wav2vec2 models, anything of that shape.
 *
 * The contract: one float input [B, N] or [B, 1, N] of samples, and maybe an int `attention_mask`
 * beside it. Where preprocessor_config.json says `return_attention_mask: true` (Wav2Vec2 checkpoints
 * with layer-norm feature encoders, e.g. the large lv60 ones), the mask marks each clip's own samples
 * of a padded batch, as Hugging Face's processor makes it; otherwise it is all ones and the graph sees
 * the padded batch as it is, as Hugging Face advises for checkpoints whose preprocessor returns no
 * mask (wav2vec2-base); the first output frame logits [B, T, V] or [T, B, V] (which is found by tracing the graph
 * at two batch sizes; the logits are always handed on as (B, T, V)).
 *
 * The head: the graph's own output while the vocabulary fits it (an untrained import computes
 * exactly what the file computes), or a new Linear `finetune_head` applied to every frame of a cut
 * value (B, T, F) (`--features NAME`; by default the input of the final MatMul/Gemm that produces the
 * logits).
 *
 * Frames per clip (the CTC frame lengths of a padded batch, the frames decoded, the too-short checks) follow
 * the rule of a stack of unpadded strided convolutions, frames(n) = floor((n - R) / S) + 1: R and S
 * from config.json's conv_kernel and conv_stride where it has them (Hugging Face's
 * _get_feat_extract_output_lengths), else found by tracing the graph (the shortest clip that gives
 * one frame, and two), and checked against traced lengths; a graph that breaks the rule has each
 * length traced.
 *
 * References: transformers' Wav2Vec2ForCTC (_get_feat_extract_output_lengths, ctc_loss_reduction);
 * torchaudio.models.wav2vec2 (aux head); Transformers.js model layout.
 */
import { ConfigError, OnnxImportError } from '../errors.js'
import { ctcLoss } from '../graph/ctc.js'
import { Graph, type Tensor } from '../graph/graph.js'
import { markStructureChanged } from '../graph/module.js'
import type { OnnxModel } from '../onnx/import.js'
import type { Rng } from '../runtime/rng.js'
import { Linear } from './layers.js'
import { type AudioInputContract, ImportedAudioModel } from './onnx-audio.js'
import { defaultCut, type FeatureCut, nearbyNames, valueNames } from './onnx-imported.js'

/** The defaults of a bare .onnx file, stated in --help. */
export const ONNX_CTC_DEFAULTS = { sampleRate: 16000, normalize: false, ctcLossReduction: 'mean' } as const

/** Where a (B, T, X) value of the graph has its batch axis. */
export type FrameLayout = 'batch-first' | 'time-first'

/** frames(n) = floor((n - receptive) / stride) + 1, or each length traced (`traced`). */
export interface FrameRule {
  kind: 'conv' | 'traced'
  receptive: number
  stride: number
  /** Where the rule came from (for the log and config.json). */
  why: string
}

export interface OnnxCtcSettings {
  blank: number
  /** Feed the graph's attention_mask each clip's real length (preprocessor_config.json's return_attention_mask). */
  attentionMask?: boolean
  reduction: 'sum' | 'mean'
  zeroInfinity: boolean
}

/** R and S of a stack of unpadded convolutions (HF's conv_kernel / conv_stride). */
export function convFrameRule(kernels: readonly number[], strides: readonly number[], why: string): FrameRule {
  let receptive = 1
  let stride = 1
  kernels.forEach((k, i) => {
    receptive += (k - 1) * stride
    stride *= strides[i]!
  })
  return { kind: 'conv', receptive, stride, why }
}

const ruleFrames = (r: FrameRule, n: number): number => (n < r.receptive ? 0 : Math.floor((n - r.receptive) / r.stride) + 1)

/** An imported graph as a CTC model (CtcSpeechModel of src/train/speech.ts). */
export class ImportedCtcModel extends ImportedAudioModel {
  readonly c: { vocab_size: number; ctc_loss_reduction: 'sum' | 'mean'; pad_token_id: number; ctc_zero_infinity: boolean }
  /** Layout of the graph's first output. */
  readonly outputLayout: FrameLayout
  /** The CTC loss reads each clip's own frames: the graph sees the padding, the loss does not. */
  readonly perClipFrames = true
  /** The graph's attention_mask marks each clip's own samples (from `input_lengths`, each clip's sample count). */
  readonly takesInputLengths: boolean
  /** Layout of the cut value once a head is attached. */
  cutLayout: FrameLayout = 'batch-first'
  frameRule: FrameRule
  #frames = new Map<number, number>()
  #width = 0

  constructor(onnx: OnnxModel, contract: AudioInputContract, file: string, s: OnnxCtcSettings, ruleHint: FrameRule | null) {
    super(onnx, { ...contract, normalize: false }, null)
    this.takesInputLengths = s.attentionMask === true && contract.mask !== null
    this.file = file
    if (contract.frontEnd !== 'none') throw new ConfigError('ONNX_AUDIO_FRONT_END', 'speech recognition feeds raw audio to the graph', 'internal: pass a contract with front-end none')
    const out = onnx.outputs[0]
    if (!out) throw new OnnxImportError('ONNX_NO_OUTPUT', `${file} has no outputs`, 'export the model with its logits as an output')
    this.probeSamples = Math.max(this.minSamples, contract.fixed ?? 16000)
    const shape = this.#shape(out.name, 2)
    const V = shape.at(-1)!
    if (shape.length !== 3) throw new OnnxImportError('ONNX_CTC_OUTPUT', `${file}: output "${out.name}" has shape [${shape.join(', ')}] for 2 clips of ${this.probeSamples} samples; a CTC model's output is frame logits [batch, frames, vocabulary] (or [frames, batch, vocabulary])`, 'export the graph that ends in the CTC logits, or pass --features NAME with a (batch, frames, features) value of the graph to train a new CTC head on (a clip classifier takes --task audio-classification)')
    this.outputLayout = this.#layoutOf(out.name, shape)
    this.c = { vocab_size: V, ctc_loss_reduction: s.reduction, pad_token_id: s.blank, ctc_zero_infinity: s.zeroInfinity }
    this.frameRule = this.#findRule(ruleHint)
  }

  /** Graph inputs for clips (B, N); `lengths` (B) int64, each clip's sample count, where the mask marks them. */
  #feed(audio: Tensor, lengths: Tensor | null = null): Record<string, Tensor> {
    const c = this.contract
    const [B, N] = audio.shape as [number, number]
    const input = c.layout === 'channel-samples' ? audio.reshape([B, 1, N]) : audio
    const feed: Record<string, Tensor> = { [c.input]: input }
    if (c.mask && this.takesInputLengths && lengths) feed[c.mask] = audio.graph.constant(Array.from({ length: N }, (_, i) => i), [1, N], 'int64').lt(lengths.reshape([B, 1])).cast('int64') // (B, N)
    else if (c.mask) feed[c.mask] = audio.mul(0).add(1).cast('int64') // (B, N) ones
    return feed
  }

  /** The traced shape of value `name` for B clips of N samples (nothing runs). */
  #shape(name: string, B: number, N = this.probeSamples): number[] {
    return this.probeShape(name, () => this.#feed(new Graph().input('audio', [B, N])))
  }

  /** Which axis of a (.., .., X) value is the batch: traced at batch 2 and 3. */
  #layoutOf(name: string, at2: number[]): FrameLayout {
    const at3 = this.#shape(name, 3)
    const batch = [0, 1].filter((a) => at2[a] === 2 && at3[a] === 3)
    if (batch.length !== 1) throw new OnnxImportError('ONNX_CTC_LAYOUT', `${this.file}: value "${name}" is [${at2.join(', ')}] for 2 clips and [${at3.join(', ')}] for 3; neither of its first two axes is the batch alone`, 'the CTC logits must be [batch, frames, vocabulary] or [frames, batch, vocabulary]; export the graph with a dynamic batch axis')
    if (batch[0] === 1 && typeof this.graph.inputs.find((i) => i.name === this.contract.input)?.shape[0] === 'number')
      throw new OnnxImportError('ONNX_CTC_LAYOUT', `${this.file}: a graph with a fixed batch and time-first logits [frames, batch, vocabulary]`, 'export it with a dynamic batch axis')
    return batch[0] === 0 ? 'batch-first' : 'time-first'
  }

  /** Frames the graph gives one clip of n samples (0 when it cannot run on so few). */
  #traced(n: number): number {
    let f = this.#frames.get(n)
    if (f === undefined) {
      const name = this.graph.outputs[0]!.name
      try {
        const s = this.#shape(name, 1, n)
        f = s[this.outputLayout === 'batch-first' ? 1 : 0]!
      } catch {
        f = 0
      }
      this.#frames.set(n, f)
    }
    return f
  }

  /** The frame rule: config.json's convolutions, or one found by tracing (see the file comment); checked on traced lengths. */
  #findRule(hint: FrameRule | null): FrameRule {
    const fixed = this.contract.fixed
    if (fixed !== null) return { kind: 'traced', receptive: 1, stride: 1, why: `the graph fixes ${fixed} samples: every clip is padded to them and all ${this.#traced(fixed)} frames count` }
    const checks = [16000, 16000 + 4321, 400 + 37]
    const fits = (r: FrameRule): boolean => checks.every((n) => ruleFrames(r, n) === this.#traced(n))
    if (hint && fits(hint)) return hint
    // the shortest clip with one frame, then with two: R, and R + S
    let hi = 1024
    while (this.#traced(hi) < 2 && hi < 1 << 22) hi *= 2
    const first = (k: number, lo: number): number => {
      let a = lo
      let b = hi
      while (a < b) {
        const m = Math.floor((a + b) / 2)
        if (this.#traced(m) >= k) b = m
        else a = m + 1
      }
      return a
    }
    const R = first(1, 1)
    const rule: FrameRule = { kind: 'conv', receptive: R, stride: first(2, R) - R, why: '' }
    if (rule.stride > 0 && fits(rule)) return { ...rule, why: `traced: one frame per ${rule.stride} samples after the first ${R}` }
    return { kind: 'traced', receptive: 1, stride: 1, why: `${hint ? `config.json's convolutions and ` : ''}no convolution rule fit the traced lengths: each clip length is traced` }
  }

  #scopes: Map<string, string> | null = null
  /**
   * Layer groups (gradual unfreezing, per-group learning rates): a weight named by its module path
   * groups by it; one torch.onnx.export renamed (`onnx::MatMul_381`, folded constants) by the module
   * scope of the first node that reads it (`/m/encoder/transformer/layers.0/attention/q_proj/MatMul`).
   */
  override blockOf(name: string): string | null {
    const numbered = (path: string): string | null => {
      const parts = path.split('.')
      for (let i = 0; i < parts.length - 1; i++) if (/^\d+$/.test(parts[i]!) || /_\d+$/.test(parts[i]!)) return parts.slice(0, i + 1).join('.')
      return null
    }
    if (!name.startsWith('onnx::') && !name.startsWith('/')) return numbered(name) ?? super.blockOf(name)
    const scope = this.scopeOf(name)
    return (scope && numbered(`${scope}.x`)) || super.blockOf(name)
  }

  /** The module scope (`m.encoder.transformer.layers.0.attention.q_proj`) of the first node that reads weight `name`, if the exporter named nodes by scope. */
  scopeOf(name: string): string | null {
    if (!this.#scopes) {
      this.#scopes = new Map()
      for (const n of this.graph._graph.node) {
        const scope = n.name?.startsWith('/') ? n.name.split('/').filter(Boolean).slice(0, -1).join('.') : ''
        if (scope) for (const i of n.input) if (this.graph._params.has(i) && !this.#scopes.has(i)) this.#scopes.set(i, scope)
      }
    }
    return this.#scopes.get(name) ?? null
  }

  /** Frames of a clip of `samples` samples (see the file comment). */
  frames(samples: number): number {
    const r = this.frameRule
    if (this.contract.fixed !== null) return samples <= this.contract.fixed ? this.#traced(this.contract.fixed) : 0
    return r.kind === 'conv' ? ruleFrames(r, samples) : this.#traced(samples)
  }

  /** (B, T, X) from a value of the given layout. */
  #batchFirst(x: Tensor, layout: FrameLayout): Tensor {
    return layout === 'batch-first' ? x : x.transpose([1, 0, 2]) // (T, B, X) -> (B, T, X)
  }

  /** Frame features (B, T, F) at the cut; `inputLengths` as in logits. */
  frameFeatures(inputValues: Tensor, inputLengths: Tensor | null = null): Tensor {
    const cut = this._cut
    if (!cut) throw new OnnxImportError('ONNX_NO_HEAD', 'this imported model has no cut (no head attached)', 'train it first (finetune train) to attach a head')
    return this.#batchFirst(this.valuesOf(this.#feed(inputValues, inputLengths), [cut.name])[cut.name]!, this.cutLayout)
  }

  /** The head on frame features (B, T, F) -> (B, T, V). */
  frameHead(features: Tensor): Tensor {
    return this.headOf(features)
  }

  /**
   * CTC logits (B, T, V) of clips (B, N): the new head on every frame of the cut, or the graph's own
   * output. `inputLengths` (B) int64, each clip's sample count, sets the attention mask where
   * `takesInputLengths`.
   */
  override logits(inputValues: Tensor, _frameMask: Tensor | null = null, _timeMask: Tensor | null = null, inputLengths: Tensor | null = null): Tensor {
    if (this._head) return this.headOf(this.frameFeatures(inputValues, inputLengths))
    const name = this.graph.outputs[0]!.name
    return this.#batchFirst(this.valuesOf(this.#feed(inputValues, inputLengths), [name])[name]!, this.outputLayout)
  }

  /** Wav2Vec2ForCTC's loss: CTC on log_softmax(logits), the pad token as blank. */
  loss(logits: Tensor, labels: Tensor, labelLengths: Tensor, frameLengths: Tensor): Tensor {
    return ctcLoss(logits.logSoftmax(-1), labels, frameLengths, labelLengths, { blank: this.c.pad_token_id, reduction: this.c.ctc_loss_reduction, zeroInfinity: this.c.ctc_zero_infinity })
  }

  override get featureSize(): number {
    return this.#width
  }

  /** The cut `--features` names or the default (the input of the final MatMul/Gemm before the logits); unknown names list nearby ones. */
  chooseFrameCut(features: string | undefined): FeatureCut {
    if (features !== undefined) {
      if (!valueNames(this.graph).includes(features)) throw new OnnxImportError('ONNX_FEATURES_UNKNOWN', `--features "${features}": ${this.file} has no value of that name`, `values with similar names: ${nearbyNames(this.graph, features).join(', ')} (Netron shows every node output)`)
      return { name: features, reduce: 'none', why: `--features ${features}` }
    }
    const cut = defaultCut(this.graph)
    if (!cut.why.startsWith('the input of the final'))
      throw new OnnxImportError('ONNX_CTC_NO_CLASSIFIER', `${this.file}: the logits "${this.graph.outputs[0]!.name}" are not produced by a MatMul/Gemm with a weight, so there is no default place for a new CTC head`, `pass --features NAME with a (batch, frames, features) value of the graph (values near the end: ${valueNames(this.graph).slice(-6).join(', ')})`)
    return { ...cut, reduce: 'none' }
  }

  /**
   * A new CTC head of `vocab` outputs on every frame of `cut` (torch.nn.Linear's initialisation).
   * The cut must be (B, T, F) or (T, B, F) with the same frames as the logits.
   */
  override attachHead(cut: FeatureCut, vocab: number, rng: Rng): void {
    const at2 = this.#shape(cut.name, 2)
    if (at2.length !== 3) throw new OnnxImportError('ONNX_FEATURES_RANK', `features "${cut.name}" have shape [${at2.join(', ')}] for 2 clips of ${this.probeSamples} samples; a CTC head reads frame features (batch, frames, features)`, 'pass --features with a (batch, frames, features) value, e.g. the input of the final MatMul')
    this.cutLayout = this.#layoutOf(cut.name, at2)
    const frames = at2[this.cutLayout === 'batch-first' ? 1 : 0]!
    const want = this.frames(this.probeSamples)
    if (frames !== want) throw new OnnxImportError('ONNX_FEATURES_FRAMES', `features "${cut.name}" have ${frames} frames for a ${this.probeSamples}-sample clip where the logits have ${want}`, 'pass --features with a value at the logits\' frame rate')
    this.#width = at2[2]!
    this._cut = { ...cut, reduce: 'none' }
    this._head = new Linear(this.#width, vocab, rng)
    this.c.vocab_size = vocab
    this.nameParameters()
    markStructureChanged()
  }

  /** The graph's final MatMul/Gemm (and bias) as weights of a Linear (out, in) and bias, when it ends in one. */
  graphClassifier(): { weight: Float32Array; bias: Float32Array | null; inFeatures: number } | null {
    const cut = defaultCut(this.graph)
    if (!cut.why.startsWith('the input of the final')) return null
    const nodes = this.graph._graph.node
    const mm = nodes.find((n) => (n.opType === 'MatMul' || n.opType === 'Gemm') && n.input[0] === cut.name)
    if (!mm) return null
    const w = this.graph._params.get(mm.input[1] ?? '')
    if (!w || w.shape.length !== 2) return null
    const transB = mm.opType === 'Gemm' && mm.attribute?.some((a) => a.name === 'transB' && Number(a.i) === 1)
    const otherAttr = mm.opType === 'Gemm' && mm.attribute?.some((a) => (a.name === 'alpha' || a.name === 'beta') && a.f !== undefined && a.f !== 1)
    if (otherAttr || (mm.opType === 'Gemm' && mm.attribute?.some((a) => a.name === 'transA' && Number(a.i) === 1))) return null
    const [a, b] = w.shape as [number, number]
    const [F, V] = transB ? [b, a] : [a, b]
    if (V !== this.c.vocab_size) return null
    const weight = new Float32Array(V * F) // (V, F) as torch.nn.Linear keeps it
    for (let f = 0; f < F; f++) for (let v = 0; v < V; v++) weight[v * F + f] = transB ? w.data[v * F + f]! : w.data[f * V + v]!
    // a Gemm's C, or the Add after the MatMul: either must be a weight of V values to be copied exactly
    const add = mm.opType === 'MatMul' ? nodes.find((n) => n.opType === 'Add' && n.input.includes(mm.output[0]!)) : undefined
    const biasName = mm.opType === 'Gemm' ? mm.input[2] : add?.input.find((i) => i !== mm.output[0])
    if (!biasName) return { weight, bias: null, inFeatures: F }
    const bias = this.graph._params.get(biasName)
    if (!bias || bias.data.length !== V) return null
    return { weight, bias: Float32Array.from(bias.data), inFeatures: F }
  }
}
