/**
 * ResNet as Hugging Face's ResNetForImageClassification builds it (model_type "resnet", e.g.
 * microsoft/resnet-18, microsoft/resnet-50).
 * https://arxiv.org/abs/1512.03385 · transformers/models/resnet/modeling_resnet.py
 * Paths are HF's keys: resnet.embedder.embedder.{convolution,normalization},
 * resnet.encoder.stages.S.layers.L.{shortcut,layer.K}.{convolution,normalization}, classifier.1.
 * The network equals torchvision's ResNet given the weight mapping (scripts/hf_vision_reference.py
 * checks it): a bottleneck strides its 3x3 conv unless downsample_in_bottleneck. `hidden_act` is
 * used after the stem and at each block's output only; inside a block HF always uses ReLU.
 */
import { ConfigError } from '../errors.js'
import type { Tensor } from '../graph/graph.js'
import { markStructureChanged, Module } from '../graph/module.js'
import { HfLabelledModel, configLabels, hfActivation, hfConfigOut, makeLabels, readActivation, readBool, readImageSize, readIntList, readPositive } from './hf-vision-base.js'
import * as nn from '../graph/nn.js'
import { Rng } from '../runtime/rng.js'
import type { BlockCount, ConfigSizes, SizedTensor } from './config-sizes.js'
import { ConfigReader, type HfConfig } from './hf.js'
import type { HfVisionModel, HfVisionOptions } from './hf-vision.js'
import { BatchNorm2d, Conv2d, Linear } from './layers.js'

export interface HfResNetConfig {
  num_channels: number
  embedding_size: number
  hidden_sizes: number[]
  depths: number[]
  layer_type: 'basic' | 'bottleneck'
  hidden_act: string
  downsample_in_first_stage: boolean
  downsample_in_bottleneck: boolean
  image_size: number
}

/** ResNetConfig's fields with its defaults (microsoft/resnet-50); every problem is reported at once. */
export function parseHfResNetConfig(raw: HfConfig, file = 'config.json'): HfResNetConfig {
  const r = new ConfigReader(raw, file)
  const layerType = r.str('layer_type', 'bottleneck')
  if (layerType && layerType !== 'basic' && layerType !== 'bottleneck') r.issues.add('layer_type', `must be "basic" or "bottleneck", got ${JSON.stringify(layerType)}`)
  const c: HfResNetConfig = {
    num_channels: readPositive(r, 'num_channels', 3),
    embedding_size: readPositive(r, 'embedding_size', 64),
    hidden_sizes: readIntList(r, 'hidden_sizes', [256, 512, 1024, 2048]),
    depths: readIntList(r, 'depths', [3, 4, 6, 3]),
    layer_type: layerType === 'basic' ? 'basic' : 'bottleneck',
    hidden_act: readActivation(r, 'hidden_act', 'relu'),
    downsample_in_first_stage: readBool(r, 'downsample_in_first_stage', false),
    downsample_in_bottleneck: readBool(r, 'downsample_in_bottleneck', false),
    image_size: readImageSize(r, 224),
  }
  if (c.hidden_sizes.length !== c.depths.length) r.issues.add('depths', `has ${c.depths.length} stages but hidden_sizes has ${c.hidden_sizes.length}`)
  if (c.layer_type === 'bottleneck') for (const [i, h] of c.hidden_sizes.entries()) if (h < 4) r.issues.add(`hidden_sizes[${i}]`, `a bottleneck stage needs at least 4 channels (it reduces by 4), got ${h}`)
  r.check()
  return c
}

/** The checkpoint shapes, stage and layer counts, and parameter count the sizes imply. */
export function hfResNetSizes(c: HfResNetConfig): ConfigSizes {
  const { num_channels: C, embedding_size: E } = c
  const fields: Record<string, number> = { num_channels: C, embedding_size: E }
  const tensors: SizedTensor[] = [{ key: 'resnet.embedder.embedder.convolution.weight', shape: [E, C, 7, 7], fields: ['embedding_size', 'num_channels', null, null] }]
  const blocks: BlockCount[] = [{ field: 'len(depths)', value: c.depths.length, pattern: /^(?:resnet\.)?encoder\.stages\.(\d+)\./, example: 'resnet.encoder.stages.N' }]
  // conv weights plus BatchNorm's four per channel
  const layer = (cin: number, cout: number, first: boolean): number => {
    const shortcut = first ? cin * cout + 4 * cout : 0 // a stage's first layer changes channels or strides
    if (c.layer_type === 'basic') return 9 * cin * cout + 9 * cout * cout + 8 * cout + shortcut
    const r = Math.floor(cout / 4)
    return cin * r + 9 * r * r + r * cout + 8 * r + 4 * cout + shortcut
  }
  let params = 49 * C * E + 4 * E
  let cin = E
  c.hidden_sizes.forEach((h, i) => {
    const d = c.depths[i] ?? 1
    fields[`hidden_sizes[${i}]`] = h
    fields[`depths[${i}]`] = d
    params += layer(cin, h, true) + (d - 1) * layer(h, h, false)
    const f = `hidden_sizes[${i}]`
    const last = `resnet.encoder.stages.${i}.layers.0.layer`
    tensors.push(c.layer_type === 'basic' ? { key: `${last}.1.convolution.weight`, shape: [h, h, 3, 3], fields: [f, f, null, null] } : { key: `${last}.2.convolution.weight`, shape: [h, Math.floor(h / 4), 1, 1], fields: [f, f, null, null] })
    blocks.push({ field: `depths[${i}]`, value: d, pattern: new RegExp(`^(?:resnet\\.)?encoder\\.stages\\.${i}\\.layers\\.(\\d+)\\.`), example: `resnet.encoder.stages.${i}.layers.N` })
    cin = h
  })
  return { fields, params, tensors, blocks, basePrefix: 'resnet' }
}

const act = (name: string | null): ((x: Tensor) => Tensor) | null => (name === null ? null : hfActivation(name))

/** Conv (no bias, padding k // 2), BatchNorm, optional activation. */
export class ResNetConvLayer extends Module {
  convolution: Conv2d
  normalization: BatchNorm2d
  readonly #act: ((x: Tensor) => Tensor) | null
  constructor(cin: number, cout: number, rng: Rng, kernel = 3, stride = 1, activation: string | null = 'relu') {
    super()
    this.convolution = new Conv2d(cin, cout, kernel, rng, { stride, padding: kernel >> 1, bias: false })
    this.normalization = new BatchNorm2d(cout)
    this.#act = act(activation)
  }
  forward(x: Tensor): Tensor {
    const h = this.normalization.forward(this.convolution.forward(x))
    return this.#act ? this.#act(h) : h
  }
}

/** 1x1 conv + BatchNorm on the residual path when the shape changes. */
export class ResNetShortCut extends Module {
  convolution: Conv2d
  normalization: BatchNorm2d
  constructor(cin: number, cout: number, stride: number, rng: Rng) {
    super()
    this.convolution = new Conv2d(cin, cout, 1, rng, { stride, bias: false })
    this.normalization = new BatchNorm2d(cout)
  }
  forward(x: Tensor): Tensor {
    return this.normalization.forward(this.convolution.forward(x))
  }
}

/** ResNetBasicLayer (two 3x3 convs) or ResNetBottleNeckLayer (1x1 reduce by 4, 3x3, 1x1). */
export class ResNetLayer extends Module {
  shortcut: ResNetShortCut | null
  layer: ResNetConvLayer[]
  readonly #act: (x: Tensor) => Tensor
  constructor(c: HfResNetConfig, cin: number, cout: number, stride: number, rng: Rng, downsampleInBottleneck = false) {
    super()
    this.shortcut = cin !== cout || stride !== 1 ? new ResNetShortCut(cin, cout, stride, rng) : null
    if (c.layer_type === 'basic') this.layer = [new ResNetConvLayer(cin, cout, rng, 3, stride), new ResNetConvLayer(cout, cout, rng, 3, 1, null)]
    else {
      const reduced = Math.floor(cout / 4)
      this.layer = [
        new ResNetConvLayer(cin, reduced, rng, 1, downsampleInBottleneck ? stride : 1),
        new ResNetConvLayer(reduced, reduced, rng, 3, downsampleInBottleneck ? 1 : stride),
        new ResNetConvLayer(reduced, cout, rng, 1, 1, null),
      ]
    }
    this.#act = act(c.hidden_act)!
  }
  forward(x: Tensor): Tensor {
    let h = x
    for (const l of this.layer) h = l.forward(h)
    return this.#act(h.add(this.shortcut ? this.shortcut.forward(x) : x))
  }
}

export class ResNetStage extends Module {
  layers: ResNetLayer[]
  constructor(c: HfResNetConfig, cin: number, cout: number, stride: number, depth: number, rng: Rng) {
    super()
    // only the first layer of a stage gets downsample_in_bottleneck, as in HF
    this.layers = Array.from({ length: depth }, (_, i) => (i === 0 ? new ResNetLayer(c, cin, cout, stride, rng, c.downsample_in_bottleneck) : new ResNetLayer(c, cout, cout, 1, rng)))
  }
}

/** ResNetModel: embedder (7x7/2 conv, BN, act; 3x3/2 max pool), encoder stages, average pool. */
export class HfResNetModel extends Module {
  embedder: { embedder: ResNetConvLayer } & Module
  encoder: { stages: ResNetStage[] } & Module
  constructor(readonly c: HfResNetConfig, rng: Rng) {
    super()
    this.embedder = Object.assign(new (class extends Module {})(), { embedder: new ResNetConvLayer(c.num_channels, c.embedding_size, rng, 7, 2, c.hidden_act) })
    const stages = c.depths.map((d, i) => new ResNetStage(c, i === 0 ? c.embedding_size : c.hidden_sizes[i - 1]!, c.hidden_sizes[i]!, i === 0 ? (c.downsample_in_first_stage ? 2 : 1) : 2, d, rng))
    this.encoder = Object.assign(new (class extends Module {})(), { stages })
  }
  forward(x: Tensor): Tensor {
    let h = nn.maxPool2d(this.embedder.embedder.forward(x), 3, { stride: 2, padding: 1 })
    for (const s of this.encoder.stages) for (const l of s.layers) h = l.forward(h)
    return nn.globalAvgPool(h)                                                        // (B, hidden_sizes[-1])
  }
}

export class HfResNet extends HfLabelledModel implements HfVisionModel {
  readonly modelType = 'resnet'
  readonly architecture = 'ResNetForImageClassification'
  readonly basePrefix = 'resnet'
  readonly headPrefixes = ['classifier.1'] as const
  readonly minImageSize = 1
  readonly defaultImageSize: number
  readonly featureSize: number
  readonly c: HfResNetConfig
  resnet: HfResNetModel
  /** nn.Sequential(Flatten, Linear): the Linear is classifier.1. */
  classifier: [null, Linear]
  readonly #raw: HfConfig
  constructor(raw: HfConfig, numClasses?: number, o: HfVisionOptions = {}) {
    super()
    const file = o.file ?? 'config.json'
    this.c = parseHfResNetConfig(raw, file)
    this.#raw = raw
    const l = configLabels(raw, numClasses, file)
    this.assignLabels(l)
    const rng = new Rng(o.seed ?? 0)
    this.resnet = new HfResNetModel(this.c, rng)
    this.featureSize = this.c.hidden_sizes[this.c.hidden_sizes.length - 1]!
    this.defaultImageSize = this.c.image_size
    this.classifier = [null, new Linear(this.featureSize, this.numClasses, rng)]
    // HF: kaiming_normal_(fan_out, relu) for convs, BatchNorm 1/0, Linear as torch.nn.Linear
    if (o.init !== false) {
      for (const [, p] of this.namedParameters()) {
        if (p.shape.length !== 4) continue
        const std = Math.sqrt(2 / (p.shape[0]! * p.shape[2]! * p.shape[3]!))
        for (let i = 0; i < p.data.length; i++) p.data[i] = rng.normal() * std
      }
    }
  }
  /** The pooled backbone output (B, hidden_sizes[-1]). */
  backbone(x: Tensor): Tensor {
    if (x.rank !== 4 || x.shape[1] !== this.c.num_channels)
      throw new ConfigError('VISION_INPUT_SIZE', `ResNet for ${this.c.num_channels}-channel images got input [${x.shape.join(', ')}]`, 'feed (batch, channels, height, width) images with config.json\'s num_channels')
    return this.resnet.forward(x)
  }
  head(f: Tensor): Tensor {
    return this.classifier[1].forward(f)
  }
  /** A new classifier.1, initialised as torch.nn.Linear (HF's ResNet init leaves Linear at torch's default). */
  replaceHead(numClasses: number, rng: Rng, labels?: readonly string[]): void {
    this.assignLabels(makeLabels(numClasses, labels))
    this.classifier = [null, new Linear(this.featureSize, numClasses, rng)]
    markStructureChanged()
  }
  toConfig(): HfConfig {
    // ResNetConfig has no image_size; write it only when the source config had one
    const { image_size, ...fields } = this.c
    return hfConfigOut(this.#raw, this.#raw['image_size'] === undefined ? fields : { ...fields, image_size }, this)
  }
}
