/**
 * MobileNetV3-Large's convolutional features as torchvision builds them (Howard et al. 2019):
 * inverted residuals with squeeze-and-excitation (Hardsigmoid gate), Hardswish in the later blocks,
 * BatchNorm eps 0.001 / momentum 0.01. `dilated` is torchvision's `dilated=True` (the segmentation
 * backbones): the last stage (C4, features 13-15) keeps stride 1 and dilates its depthwise convs by 2,
 * for an output stride of 16.
 * https://arxiv.org/abs/1905.02244 · torchvision/models/mobilenetv3.py
 * Paths are torchvision's keys under `features`: N.0/N.1 (stem and last conv + bn),
 * N.block.K.{0,1} (Conv2dNormActivation), N.block.K.fc1/fc2 (SqueezeExcitation).
 */
import type { Tensor } from '../graph/graph.js'
import { Module } from '../graph/module.js'
import * as nn from '../graph/nn.js'
import type { Rng } from '../runtime/rng.js'
import { BatchNorm2d, Conv2d } from './layers.js'

/** ReLU, Hardswish, ReLU6 (SSDlite's extra and prediction blocks), or none. */
type Act = 'RE' | 'HS' | 'R6' | null
const act = (a: Act, x: Tensor): Tensor => (a === 'RE' ? x.relu() : a === 'HS' ? nn.hardswish(x) : a === 'R6' ? nn.relu6(x) : x)

/** torchvision's Conv2dNormActivation: [conv, bn] (the activation has no weights), padding (k - 1) / 2 · dilation. */
export class ConvBnAct extends Module {
  0: Conv2d
  1: BatchNorm2d
  readonly #act: Act
  constructor(i: number, o: number, k: number, rng: Rng, c: { stride?: number; dilation?: number; groups?: number; act: Act; momentum?: number }) {
    super()
    const dilation = c.dilation ?? 1
    this[0] = new Conv2d(i, o, k, rng, { stride: c.stride ?? 1, padding: ((k - 1) >> 1) * dilation, dilation, groups: c.groups ?? 1, bias: false })
    this[1] = new BatchNorm2d(o, 0.001, c.momentum ?? 0.01)
    this.#act = c.act
  }
  forward(x: Tensor): Tensor {
    return act(this.#act, this[1].forward(this[0].forward(x)))
  }
}

/** SqueezeExcitation(scale_activation=Hardsigmoid): x · hsigmoid(fc2(relu(fc1(mean(x))))). */
export class SqueezeExcitation extends Module {
  fc1: Conv2d
  fc2: Conv2d
  constructor(channels: number, squeeze: number, rng: Rng) {
    super()
    this.fc1 = new Conv2d(channels, squeeze, 1, rng)
    this.fc2 = new Conv2d(squeeze, channels, 1, rng)
  }
  forward(x: Tensor): Tensor {
    const s = this.fc2.forward(this.fc1.forward(nn.adaptiveAvgPool2d(x, 1)).relu())   // (B, C, 1, 1)
    return x.mul(nn.hardsigmoid(s))
  }
}

export class InvertedResidualV3 extends Module {
  /** [expand (when the width changes)], depthwise, [SE], project. */
  block: (ConvBnAct | SqueezeExcitation)[]
  readonly #residual: boolean
  /** torchvision's `_is_cn`: the block strides in the undilated network (where a stage begins). */
  readonly isStageStart: boolean
  readonly outChannels: number
  constructor(c: BlockConfig, dilation: number, rng: Rng, momentum?: number) {
    super()
    const m = momentum !== undefined ? { momentum } : {}
    const [inp, k, exp, out, se, a, stride] = c
    this.#residual = stride === 1 && inp === out
    this.isStageStart = stride > 1
    this.outChannels = out
    this.block = [
      ...(exp !== inp ? [new ConvBnAct(inp, exp, 1, rng, { act: a, ...m })] : []),
      new ConvBnAct(exp, exp, k, rng, { stride: dilation > 1 ? 1 : stride, dilation, groups: exp, act: a, ...m }),
      ...(se ? [new SqueezeExcitation(exp, makeDivisible(Math.floor(exp / 4)), rng)] : []),
      new ConvBnAct(exp, out, 1, rng, { act: null, ...m }),
    ]
  }
  forward(x: Tensor): Tensor {
    let h = x
    for (const l of this.block) h = l.forward(h)
    return this.#residual ? h.add(x) : h
  }
}

/** torchvision's _make_divisible: round to a multiple of `d`, never below 90% of `v`. */
function makeDivisible(v: number, d = 8): number {
  let n = Math.max(d, Math.floor(v + d / 2) - (Math.floor(v + d / 2) % d))
  if (n < 0.9 * v) n += d
  return n
}

/** input, kernel, expanded, output, squeeze-excitation, activation, stride (torchvision's bneck_conf). */
type BlockConfig = readonly [number, number, number, number, boolean, 'RE' | 'HS', number]
const LARGE: readonly BlockConfig[] = [
  [16, 3, 16, 16, false, 'RE', 1],
  [16, 3, 64, 24, false, 'RE', 2], // C1
  [24, 3, 72, 24, false, 'RE', 1],
  [24, 5, 72, 40, true, 'RE', 2], // C2
  [40, 5, 120, 40, true, 'RE', 1],
  [40, 5, 120, 40, true, 'RE', 1],
  [40, 3, 240, 80, false, 'HS', 2], // C3
  [80, 3, 200, 80, false, 'HS', 1],
  [80, 3, 184, 80, false, 'HS', 1],
  [80, 3, 184, 80, false, 'HS', 1],
  [80, 3, 480, 112, true, 'HS', 1],
  [112, 3, 672, 112, true, 'HS', 1],
  [112, 5, 672, 160, true, 'HS', 2], // C4 (dilated in segmentation backbones)
  [160, 5, 960, 160, true, 'HS', 1],
  [160, 5, 960, 160, true, 'HS', 1],
]
/** Index of the first dilated block config (C4). */
const C4 = 12

/**
 * The 17 layers of MobileNetV3-Large's `features`: stem, 15 inverted residuals, the 960-wide 1x1 conv.
 * `reducedTail` is torchvision's reduced_tail=True (Table 6 of the paper; SSDlite without an ImageNet
 * backbone): the last stage's widths halve (160 -> 80, 960 -> 480). `momentum`: the BatchNorms'
 * (torchvision's default 0.01; SSDlite builds them with 0.03).
 */
export function mobilenetV3LargeFeatures(rng: Rng, dilated: boolean, o: { reducedTail?: boolean; momentum?: number } = {}): (ConvBnAct | InvertedResidualV3)[] {
  const m = o.momentum !== undefined ? { momentum: o.momentum } : {}
  const d = o.reducedTail ? 2 : 1
  const layers: (ConvBnAct | InvertedResidualV3)[] = [new ConvBnAct(3, 16, 3, rng, { stride: 2, act: 'HS', ...m })]
  LARGE.forEach((c, i) => {
    // the reduced tail halves C4's output and the expansions and outputs after it
    const cfg: BlockConfig = i < C4 ? c : [i === C4 ? c[0] : c[0] / d, c[1], i === C4 ? c[2] : c[2] / d, c[3] / d, c[4], c[5], c[6]]
    layers.push(new InvertedResidualV3(cfg, dilated && i >= C4 ? 2 : 1, rng, o.momentum))
  })
  layers.push(new ConvBnAct(160 / d, 960 / d, 1, rng, { act: 'HS', ...m }))
  return layers
}

/**
 * torchvision's stage_indices for the segmentation builders: the stem, every block that begins a
 * stage, and the last layer. [-4] is C2 (40 channels, output stride 8), [-1] the 960-wide output.
 */
export function stageIndices(features: readonly (ConvBnAct | InvertedResidualV3)[]): number[] {
  return [0, ...features.flatMap((b, i) => (b instanceof InvertedResidualV3 && b.isStageStart ? [i] : [])), features.length - 1]
}
