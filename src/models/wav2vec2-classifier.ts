/**
 * Wav2Vec2ForSequenceClassification as Hugging Face names it: the Wav2Vec2 backbone (wav2vec2.*),
 * `projector` (hidden -> classifier_proj_size), mean pooling over frames, `classifier`; with
 * `use_weighted_layer_sum`, a softmax-weighted sum of every hidden state (`layer_weights`) in place
 * of the last one. Clips are fixed-length (the task pads or crops them), so every frame counts in
 * the mean, as HF pools when the preprocessor returns no attention mask.
 *
 * Per-clip normalisation (preprocessor_config.json's do_normalize) runs inside the graph: zero mean
 * and unit variance over the whole fixed-length clip, variance + 1e-7 as HF's feature extractor.
 * The projector is linear, so mean(projector(h)) = projector(mean(h)): `features` is the pooled
 * hidden state and `head` applies projector and classifier, which is what the frozen method caches
 * and trains (layer_weights then keep the checkpoint's values).
 */
import { ConfigError } from '../errors.js'
import { Parameter, type Tensor } from '../graph/graph.js'
import { markStructureChanged, Module } from '../graph/module.js'
import { Rng } from '../runtime/rng.js'
import type { AudioClassifier } from './audio-classifier.js'
import type { HfConfig } from './hf.js'
import { fill, Linear, normal } from './layers.js'
import { minSamples, parseWav2Vec2Config, wav2vec2BlockOf, Wav2Vec2Model, type Wav2Vec2Config } from './wav2vec2.js'

export interface Wav2Vec2ClassifierOptions {
  seed?: number
  file?: string
  /** Per-clip zero mean, unit variance (preprocessor_config.json's do_normalize; default true). */
  normalize?: boolean
}

export class Wav2Vec2ForSequenceClassification extends Module implements AudioClassifier {
  readonly arch = 'wav2vec2'
  readonly architecture = 'Wav2Vec2ForSequenceClassification'
  readonly basePrefix = 'wav2vec2'
  readonly headPrefixes: readonly string[] = ['projector', 'classifier']
  /** PEFT's usual LoRA targets for Wav2Vec2. */
  readonly loraTargets = ['q_proj', 'v_proj']
  readonly c: Wav2Vec2Config
  readonly projSize: number
  readonly weightedLayerSum: boolean
  readonly normalize: boolean
  wav2vec2: Wav2Vec2Model
  layer_weights: Parameter | null
  projector: Linear
  classifier: Linear
  readonly #raw: HfConfig

  constructor(raw: HfConfig, numClasses: number, o: Wav2Vec2ClassifierOptions = {}) {
    super()
    const file = o.file ?? 'config.json'
    // the weighted layer sum is this head's (parseWav2Vec2Config refuses it for the CTC head)
    this.c = parseWav2Vec2Config({ ...raw, use_weighted_layer_sum: false }, file)
    this.#raw = raw
    const proj = raw['classifier_proj_size'] ?? 256
    if (typeof proj !== 'number' || !Number.isInteger(proj) || proj < 1) throw new ConfigError('MODEL_CONFIG_FIELD', `${file}: classifier_proj_size ${JSON.stringify(proj)} is not a positive integer`, 'fix the field, or remove it for 256')
    const weighted = raw['use_weighted_layer_sum'] ?? false
    if (typeof weighted !== 'boolean') throw new ConfigError('MODEL_CONFIG_FIELD', `${file}: use_weighted_layer_sum ${JSON.stringify(weighted)} is not true or false`, 'fix the field')
    this.projSize = proj
    this.weightedLayerSum = weighted
    this.normalize = o.normalize ?? true
    const rng = new Rng(o.seed ?? 0)
    this.wav2vec2 = new Wav2Vec2Model(this.c, rng)
    const L = this.c.num_hidden_layers + 1
    this.layer_weights = weighted ? new Parameter([L], { decay: false }) : null
    this.layer_weights?.data.fill(1 / L)
    this.projector = new Linear(this.c.hidden_size, proj, rng)
    this.classifier = this.#newClassifier(numClasses, rng)
    this.nameParameters()
  }

  /** HF's _init_weights for a Linear: N(0, initializer_range), zero bias. */
  #newClassifier(numClasses: number, rng: Rng): Linear {
    const l = new Linear(this.projSize, numClasses, rng)
    normal(l.weight, rng, this.c.initializer_range)
    fill(l.bias!, 0)
    return l
  }

  get numClasses(): number {
    return this.classifier.outFeatures
  }
  get featureSize(): number {
    return this.c.hidden_size
  }
  get minSamples(): number {
    return minSamples(this.c)
  }

  /** A new projector and classifier for `numClasses` labels (HF's initialisation). */
  setHead(numClasses: number, rng: Rng): void {
    this.projector = new Linear(this.c.hidden_size, this.projSize, rng)
    normal(this.projector.weight, rng, this.c.initializer_range)
    fill(this.projector.bias!, 0)
    this.classifier = this.#newClassifier(numClasses, rng)
    this.nameParameters()
    markStructureChanged()
  }

  /** Clips (B, N) in [-1, 1) -> the mean over frames of the (weighted) hidden states (B, H). */
  features(audio: Tensor): Tensor {
    let x = audio
    if (this.normalize) {
      const centred = x.sub(x.mean(-1, true))
      x = centred.div(centred.square().mean(-1, true).add(1e-7).sqrt())
    }
    if (!this.layer_weights) return this.wav2vec2.forward(x).mean(1)
    const states: Tensor[] = []
    this.wav2vec2.forward(x, null, null, states)
    const w = x.graph.param(this.layer_weights).softmax(-1)                          // (L)
    let sum: Tensor | null = null
    states.forEach((h, i) => {
      const term = h.mul(w.slice(0, i, i + 1))
      sum = sum ? sum.add(term) : term
    })
    return sum!.mean(1)
  }

  head(features: Tensor): Tensor {
    return this.classifier.forward(this.projector.forward(features))
  }

  logits(audio: Tensor): Tensor {
    return this.head(this.features(audio))
  }

  /** Layer groups: the feature encoder and what precedes the first layer, each encoder layer, then the head. */
  blockOf(name: string): string | null {
    return wav2vec2BlockOf(this.c, name)
  }

  toConfig(labels: readonly string[]): HfConfig {
    return {
      ...this.#raw,
      architectures: [this.architecture],
      model_type: 'wav2vec2',
      classifier_proj_size: this.projSize,
      use_weighted_layer_sum: this.weightedLayerSum,
      num_labels: labels.length,
      id2label: Object.fromEntries(labels.map((l, i) => [String(i), l])),
      label2id: Object.fromEntries(labels.map((l, i) => [l, i])),
      torch_dtype: 'float32',
    }
  }
}
