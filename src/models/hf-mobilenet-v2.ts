/**
 * MobileNetV2 as Hugging Face's MobileNetV2ForImageClassification builds it (model_type
 * "mobilenet_v2", e.g. google/mobilenet_v2_1.0_224, converted from TensorFlow).
 * https://arxiv.org/abs/1801.04381 · transformers/models/mobilenet_v2/modeling_mobilenet_v2.py
 * Paths are HF's keys: mobilenet_v2.conv_stem.{first_conv, [expand_1x1], conv_3x3, reduce_1x1},
 * mobilenet_v2.layer.N.{expand_1x1, conv_3x3, reduce_1x1}, mobilenet_v2.conv_1x1, each with
 * convolution + normalization; classifier.
 * HF's TensorFlow heritage: with tf_padding (the default) every conv pads as TF's "SAME" (the odd
 * pixel after, at the bottom/right) and then convolves without padding; BatchNorm has eps
 * layer_norm_eps (1e-3) and momentum 0.997 in PyTorch's convention, so a training step sets the
 * running statistics almost to the batch's. With tf_padding false and eps 1e-5 the network equals
 * torchvision's MobileNetV2 given the weight mapping (scripts/hf_vision_reference.py checks it).
 */
import { ConfigError } from '../errors.js'
import type { Tensor } from '../graph/graph.js'
import { markStructureChanged, Module } from '../graph/module.js'
import { HfLabelledModel, configLabels, hfActivation, hfConfigOut, makeLabels, readActivation, readBool, readImageSize, readPositive, readProb } from './hf-vision-base.js'
import * as nn from '../graph/nn.js'
import { Rng } from '../runtime/rng.js'
import type { ConfigSizes } from './config-sizes.js'
import { ConfigReader, type HfConfig } from './hf.js'
import type { HfVisionModel, HfVisionOptions } from './hf-vision.js'
import { BatchNorm2d, Conv2d, fill, Linear, normal } from './layers.js'

export interface HfMobileNetV2Config {
  num_channels: number
  image_size: number
  depth_multiplier: number
  depth_divisible_by: number
  min_depth: number
  expand_ratio: number
  output_stride: number
  first_layer_is_expansion: boolean
  finegrained_output: boolean
  hidden_act: string
  tf_padding: boolean
  classifier_dropout_prob: number
  initializer_range: number
  layer_norm_eps: number
}

/** MobileNetV2Config's fields with its defaults; every problem is reported at once. */
export function parseHfMobileNetV2Config(raw: HfConfig, file = 'config.json'): HfMobileNetV2Config {
  const r = new ConfigReader(raw, file)
  const c: HfMobileNetV2Config = {
    num_channels: readPositive(r, 'num_channels', 3),
    image_size: readImageSize(r, 224),
    depth_multiplier: r.num('depth_multiplier', 1.0),
    depth_divisible_by: readPositive(r, 'depth_divisible_by', 8),
    min_depth: readPositive(r, 'min_depth', 8),
    expand_ratio: r.num('expand_ratio', 6),
    output_stride: readPositive(r, 'output_stride', 32),
    first_layer_is_expansion: readBool(r, 'first_layer_is_expansion', true),
    finegrained_output: readBool(r, 'finegrained_output', true),
    hidden_act: readActivation(r, 'hidden_act', 'relu6'),
    tf_padding: readBool(r, 'tf_padding', true),
    classifier_dropout_prob: readProb(r, 'classifier_dropout_prob', 0.8),
    initializer_range: r.num('initializer_range', 0.02),
    layer_norm_eps: r.num('layer_norm_eps', 0.001),
  }
  if (!(c.depth_multiplier > 0)) r.issues.add('depth_multiplier', `must be greater than zero, got ${JSON.stringify(raw['depth_multiplier'])}`)
  if (!(c.expand_ratio > 0)) r.issues.add('expand_ratio', `must be greater than zero, got ${JSON.stringify(raw['expand_ratio'])}`)
  r.check()
  return c
}

/** Python's round(): halves go to the even neighbour (HF's channel arithmetic uses it). */
function pyRound(x: number): number {
  const f = Math.floor(x)
  const d = x - f
  return d > 0.5 ? f + 1 : d < 0.5 ? f : f % 2 === 0 ? f : f + 1
}

/** HF's make_divisible (from TF slim): the nearest multiple of `divisor`, at least `min`, never below 90% of `v`. */
function makeDivisible(v: number, divisor: number, min: number): number {
  let n = Math.max(min, Math.floor(Math.trunc(v + divisor / 2) / divisor) * divisor)
  if (n < 0.9 * v) n += divisor
  return n
}

const depth = (c: HfMobileNetV2Config, channels: number): number => makeDivisible(pyRound(channels * c.depth_multiplier), c.depth_divisible_by, c.min_depth)

/** Conv (no bias) + BatchNorm + optional activation, with TF "SAME" padding when tf_padding. */
export class MobileNetV2ConvLayer extends Module {
  convolution: Conv2d
  normalization: BatchNorm2d
  readonly #act: ((x: Tensor) => Tensor) | null
  readonly #tf: boolean
  readonly #k: number
  readonly #stride: number
  readonly #dilation: number
  constructor(c: HfMobileNetV2Config, cin: number, cout: number, k: number, rng: Rng, o: { stride?: number; groups?: number; dilation?: number; activation?: boolean } = {}) {
    super()
    this.#k = k
    this.#stride = o.stride ?? 1
    this.#dilation = o.dilation ?? 1
    this.#tf = c.tf_padding
    if (cin % (o.groups ?? 1) !== 0 || cout % (o.groups ?? 1) !== 0) throw new ConfigError('CONFIG_INVALID', `MobileNetV2: ${cin} -> ${cout} channels are not divisible by ${o.groups} groups`)
    const padding = c.tf_padding ? 0 : ((k - 1) >> 1) * this.#dilation
    this.convolution = new Conv2d(cin, cout, k, rng, { stride: this.#stride, padding, dilation: this.#dilation, groups: o.groups ?? 1, bias: false })
    this.normalization = new BatchNorm2d(cout, c.layer_norm_eps, 0.997)
    this.#act = o.activation === false ? null : hfActivation(c.hidden_act)
  }
  forward(x: Tensor): Tensor {
    let h: Tensor
    if (this.#tf) {
      // HF's apply_tf_padding: TF "SAME" amounts per axis, the odd pixel after; then a valid conv
      const amount = (n: number): [number, number] => {
        const s = this.#stride
        const total = Math.max(n % s === 0 ? this.#k - s : this.#k - (n % s), 0)
        return [(total >> 1) * this.#dilation, (total - (total >> 1)) * this.#dilation]
      }
      const [top, bottom] = amount(x.shape[2]!)
      const [left, right] = amount(x.shape[3]!)
      const opts = this.convolution.opts
      if (top === bottom && left === right) h = nn.conv2d(x, this.convolution.weight, null, { ...opts, padding: [top, left] })
      else h = nn.conv2d(x.pad([[0, 0], [0, 0], [top, bottom], [left, right]]), this.convolution.weight, null, { ...opts, padding: 0 })
    } else h = this.convolution.forward(x)
    h = this.normalization.forward(h)
    return this.#act ? this.#act(h) : h
  }
}

export class MobileNetV2InvertedResidual extends Module {
  expand_1x1: MobileNetV2ConvLayer
  conv_3x3: MobileNetV2ConvLayer
  reduce_1x1: MobileNetV2ConvLayer
  readonly #residual: boolean
  constructor(c: HfMobileNetV2Config, cin: number, cout: number, stride: number, dilation: number, rng: Rng) {
    super()
    const expanded = makeDivisible(pyRound(cin * c.expand_ratio), c.depth_divisible_by, c.min_depth)
    this.#residual = stride === 1 && cin === cout
    this.expand_1x1 = new MobileNetV2ConvLayer(c, cin, expanded, 1, rng)
    this.conv_3x3 = new MobileNetV2ConvLayer(c, expanded, expanded, 3, rng, { stride, groups: expanded, dilation })
    this.reduce_1x1 = new MobileNetV2ConvLayer(c, expanded, cout, 1, rng, { activation: false })
  }
  forward(x: Tensor): Tensor {
    const h = this.reduce_1x1.forward(this.conv_3x3.forward(this.expand_1x1.forward(x)))
    return this.#residual ? x.add(h) : h
  }
}

/** The first 3x3/2 conv and the first (expansion 1) block. */
export class MobileNetV2Stem extends Module {
  first_conv: MobileNetV2ConvLayer
  expand_1x1: MobileNetV2ConvLayer | null
  conv_3x3: MobileNetV2ConvLayer
  reduce_1x1: MobileNetV2ConvLayer
  constructor(c: HfMobileNetV2Config, expanded: number, cout: number, rng: Rng) {
    super()
    this.first_conv = new MobileNetV2ConvLayer(c, c.num_channels, expanded, 3, rng, { stride: 2 })
    this.expand_1x1 = c.first_layer_is_expansion ? null : new MobileNetV2ConvLayer(c, expanded, expanded, 1, rng)
    this.conv_3x3 = new MobileNetV2ConvLayer(c, expanded, expanded, 3, rng, { groups: expanded })
    this.reduce_1x1 = new MobileNetV2ConvLayer(c, expanded, cout, 1, rng, { activation: false })
  }
  forward(x: Tensor): Tensor {
    let h = this.first_conv.forward(x)
    if (this.expand_1x1) h = this.expand_1x1.forward(h)
    return this.reduce_1x1.forward(this.conv_3x3.forward(h))
  }
}

const CHANNELS = [16, 24, 24, 32, 32, 32, 64, 64, 64, 64, 96, 96, 96, 160, 160, 160, 320]
const STRIDES = [2, 1, 2, 1, 1, 2, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1]

/** The checkpoint shapes and parameter count the config implies, from the same channel arithmetic as the model. */
export function hfMobileNetV2Sizes(c: HfMobileNetV2Config): ConfigSizes {
  const ch = CHANNELS.map((x) => depth(c, x))
  const stem = depth(c, 32)
  const out = c.finegrained_output && c.depth_multiplier < 1 ? 1280 : depth(c, 1280)
  const expanded = (cin: number): number => makeDivisible(pyRound(cin * c.expand_ratio), c.depth_divisible_by, c.min_depth)
  // conv weights plus BatchNorm's four per channel
  let params = 9 * c.num_channels * stem + (c.first_layer_is_expansion ? 0 : stem * stem) + 9 * stem + stem * ch[0]! + 4 * (3 * stem + ch[0]!)
  for (let i = 0; i < STRIDES.length; i++) {
    const e = expanded(ch[i]!)
    params += ch[i]! * e + 9 * e + e * ch[i + 1]! + 4 * (2 * e + ch[i + 1]!)
  }
  params += ch[16]! * out + 4 * out
  return {
    fields: { depth_multiplier: c.depth_multiplier, num_channels: c.num_channels, expand_ratio: c.expand_ratio, depth_divisible_by: c.depth_divisible_by, min_depth: c.min_depth },
    params,
    tensors: [
      { key: 'mobilenet_v2.conv_stem.first_conv.convolution.weight', shape: [stem, c.num_channels, 3, 3], fields: ['depth_multiplier', 'num_channels', null, null] },
      { key: 'mobilenet_v2.layer.0.expand_1x1.convolution.weight', shape: [expanded(ch[0]!), ch[0]!, 1, 1], fields: ['expand_ratio', 'depth_multiplier', null, null] },
      { key: 'mobilenet_v2.conv_1x1.convolution.weight', shape: [out, ch[16]!, 1, 1], fields: ['depth_multiplier', 'depth_multiplier', null, null] },
    ],
    blocks: [],
    basePrefix: 'mobilenet_v2',
  }
}

export class HfMobileNetV2Model extends Module {
  conv_stem: MobileNetV2Stem
  layer: MobileNetV2InvertedResidual[]
  conv_1x1: MobileNetV2ConvLayer
  readonly outChannels: number
  constructor(c: HfMobileNetV2Config, rng: Rng) {
    super()
    const ch = CHANNELS.map((x) => depth(c, x))
    this.conv_stem = new MobileNetV2Stem(c, depth(c, 32), ch[0]!, rng)
    let current = 2
    let dilation = 1
    this.layer = STRIDES.map((s, i) => {
      // once the output stride is reached, strides become dilation from the next block on (HF's order)
      let stride = s
      let d = 1
      if (current === c.output_stride) {
        stride = 1
        d = dilation
        dilation *= s
      } else current *= s
      return new MobileNetV2InvertedResidual(c, ch[i]!, ch[i + 1]!, stride, d, rng)
    })
    this.outChannels = c.finegrained_output && c.depth_multiplier < 1 ? 1280 : depth(c, 1280)
    this.conv_1x1 = new MobileNetV2ConvLayer(c, ch[16]!, this.outChannels, 1, rng)
  }
  forward(x: Tensor): Tensor {
    let h = this.conv_stem.forward(x)
    for (const l of this.layer) h = l.forward(h)
    return nn.globalAvgPool(this.conv_1x1.forward(h))                                   // (B, F)
  }
}

export class HfMobileNetV2 extends HfLabelledModel implements HfVisionModel {
  readonly modelType = 'mobilenet_v2'
  readonly architecture = 'MobileNetV2ForImageClassification'
  readonly basePrefix = 'mobilenet_v2'
  readonly headPrefixes = ['classifier'] as const
  readonly minImageSize = 1
  readonly defaultImageSize: number
  readonly featureSize: number
  readonly c: HfMobileNetV2Config
  mobilenet_v2: HfMobileNetV2Model
  classifier: Linear
  readonly #raw: HfConfig
  constructor(raw: HfConfig, numClasses?: number, o: HfVisionOptions = {}) {
    super()
    const file = o.file ?? 'config.json'
    this.c = parseHfMobileNetV2Config(raw, file)
    this.#raw = raw
    const l = configLabels(raw, numClasses, file)
    this.assignLabels(l)
    const rng = new Rng(o.seed ?? 0)
    this.mobilenet_v2 = new HfMobileNetV2Model(this.c, rng)
    this.featureSize = this.mobilenet_v2.outChannels
    this.defaultImageSize = this.c.image_size
    this.classifier = this.#newHead(this.numClasses, rng)
    // HF: N(0, initializer_range) conv weights, BatchNorm 1/0 (the layer default)
    if (o.init !== false) for (const [, p] of this.namedParameters()) if (p.shape.length === 4) normal(p, rng, this.c.initializer_range)
  }
  #newHead(numClasses: number, rng: Rng): Linear {
    const l = new Linear(this.featureSize, numClasses, rng)
    normal(l.weight, rng, this.c.initializer_range)
    fill(l.bias!, 0)
    return l
  }
  /** The pooled output of conv_1x1 (B, F). */
  backbone(x: Tensor): Tensor {
    if (x.rank !== 4 || x.shape[1] !== this.c.num_channels)
      throw new ConfigError('VISION_INPUT_SIZE', `MobileNetV2 for ${this.c.num_channels}-channel images got input [${x.shape.join(', ')}]`, 'feed (batch, channels, height, width) images with config.json\'s num_channels')
    return this.mobilenet_v2.forward(x)
  }
  head(f: Tensor): Tensor {
    return this.classifier.forward(nn.dropout(f, this.c.classifier_dropout_prob))
  }
  /** A new classifier: N(0, initializer_range) weight, zero bias, as HF's _init_weights. */
  replaceHead(numClasses: number, rng: Rng, labels?: readonly string[]): void {
    this.assignLabels(makeLabels(numClasses, labels))
    this.classifier = this.#newHead(numClasses, rng)
    markStructureChanged()
  }
  toConfig(): HfConfig {
    return hfConfigOut(this.#raw, this.c, this)
  }
}
