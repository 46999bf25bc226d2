/**
 * Inception v3 as torchvision builds it (Szegedy et al. 2015), with the auxiliary classifier used in
 * training graphs. https://arxiv.org/abs/1512.00567 · torchvision/models/inception.py
 * Paths are torchvision's keys: Conv2d_1a_3x3 ... Mixed_7c, each BasicConv2d a {conv, bn} pair
 * (BatchNorm eps 0.001), AuxLogits.{conv0, conv1, fc}, fc.
 *
 * `transformInput` re-normalises ImageNet-normalised inputs to [-1, 1], which Google's original
 * weights expect: torchvision turns it on when it loads its pretrained weights and leaves it off
 * otherwise, so the option defaults to off and a loader of those weights sets it.
 * The auxiliary classifier needs a 17x17 Mixed_6e map, i.e. 299x299 inputs, in training graphs;
 * the training loss is main + auxWeight * aux (0.4, as torchvision's reference training script).
 */
import { ConfigError } from '../errors.js'
import { concat, type Tensor } from '../graph/graph.js'
import { markStructureChanged, Module } from '../graph/module.js'
import * as nn from '../graph/nn.js'
import { Rng } from '../runtime/rng.js'
import { BatchNorm2d, Conv2d, Linear } from './layers.js'
import type { VisionModel, VisionOptions } from './vision.js'

type K = number | [number, number]

/** torchvision's init: truncated N(0, std) at ±2 (absolute, so only relevant for large std). */
function truncNormal(w: Float32Array, rng: Rng, std: number): void {
  for (let i = 0; i < w.length; i++) {
    let v: number
    do v = rng.normal() * std
    while (v < -2 || v > 2)
    w[i] = v
  }
}

export class BasicConv2d extends Module {
  conv: Conv2d
  bn: BatchNorm2d
  constructor(i: number, o: number, k: K, rng: Rng, o2: { stride?: number; padding?: K } = {}) {
    super()
    this.conv = new Conv2d(i, o, k, rng, { stride: o2.stride ?? 1, padding: o2.padding ?? 0, bias: false })
    this.bn = new BatchNorm2d(o, 0.001)
  }
  forward(x: Tensor): Tensor {
    return this.bn.forward(this.conv.forward(x)).relu()
  }
}

const avg3 = (x: Tensor): Tensor => nn.avgPool2d(x, 3, { stride: 1, padding: 1 })
const max3s2 = (x: Tensor): Tensor => nn.maxPool2d(x, 3, { stride: 2 })

export class InceptionA extends Module {
  branch1x1: BasicConv2d
  branch5x5_1: BasicConv2d
  branch5x5_2: BasicConv2d
  branch3x3dbl_1: BasicConv2d
  branch3x3dbl_2: BasicConv2d
  branch3x3dbl_3: BasicConv2d
  branch_pool: BasicConv2d
  constructor(c: number, poolFeatures: number, rng: Rng) {
    super()
    this.branch1x1 = new BasicConv2d(c, 64, 1, rng)
    this.branch5x5_1 = new BasicConv2d(c, 48, 1, rng)
    this.branch5x5_2 = new BasicConv2d(48, 64, 5, rng, { padding: 2 })
    this.branch3x3dbl_1 = new BasicConv2d(c, 64, 1, rng)
    this.branch3x3dbl_2 = new BasicConv2d(64, 96, 3, rng, { padding: 1 })
    this.branch3x3dbl_3 = new BasicConv2d(96, 96, 3, rng, { padding: 1 })
    this.branch_pool = new BasicConv2d(c, poolFeatures, 1, rng)
  }
  forward(x: Tensor): Tensor {
    return concat([
      this.branch1x1.forward(x),
      this.branch5x5_2.forward(this.branch5x5_1.forward(x)),
      this.branch3x3dbl_3.forward(this.branch3x3dbl_2.forward(this.branch3x3dbl_1.forward(x))),
      this.branch_pool.forward(avg3(x)),
    ], 1)
  }
}

export class InceptionB extends Module {
  branch3x3: BasicConv2d
  branch3x3dbl_1: BasicConv2d
  branch3x3dbl_2: BasicConv2d
  branch3x3dbl_3: BasicConv2d
  constructor(c: number, rng: Rng) {
    super()
    this.branch3x3 = new BasicConv2d(c, 384, 3, rng, { stride: 2 })
    this.branch3x3dbl_1 = new BasicConv2d(c, 64, 1, rng)
    this.branch3x3dbl_2 = new BasicConv2d(64, 96, 3, rng, { padding: 1 })
    this.branch3x3dbl_3 = new BasicConv2d(96, 96, 3, rng, { stride: 2 })
  }
  forward(x: Tensor): Tensor {
    return concat([
      this.branch3x3.forward(x),
      this.branch3x3dbl_3.forward(this.branch3x3dbl_2.forward(this.branch3x3dbl_1.forward(x))),
      max3s2(x),
    ], 1)
  }
}

export class InceptionC extends Module {
  branch1x1: BasicConv2d
  branch7x7_1: BasicConv2d
  branch7x7_2: BasicConv2d
  branch7x7_3: BasicConv2d
  branch7x7dbl_1: BasicConv2d
  branch7x7dbl_2: BasicConv2d
  branch7x7dbl_3: BasicConv2d
  branch7x7dbl_4: BasicConv2d
  branch7x7dbl_5: BasicConv2d
  branch_pool: BasicConv2d
  constructor(c: number, c7: number, rng: Rng) {
    super()
    const row = { padding: [0, 3] as [number, number] }
    const col = { padding: [3, 0] as [number, number] }
    this.branch1x1 = new BasicConv2d(c, 192, 1, rng)
    this.branch7x7_1 = new BasicConv2d(c, c7, 1, rng)
    this.branch7x7_2 = new BasicConv2d(c7, c7, [1, 7], rng, row)
    this.branch7x7_3 = new BasicConv2d(c7, 192, [7, 1], rng, col)
    this.branch7x7dbl_1 = new BasicConv2d(c, c7, 1, rng)
    this.branch7x7dbl_2 = new BasicConv2d(c7, c7, [7, 1], rng, col)
    this.branch7x7dbl_3 = new BasicConv2d(c7, c7, [1, 7], rng, row)
    this.branch7x7dbl_4 = new BasicConv2d(c7, c7, [7, 1], rng, col)
    this.branch7x7dbl_5 = new BasicConv2d(c7, 192, [1, 7], rng, row)
    this.branch_pool = new BasicConv2d(c, 192, 1, rng)
  }
  forward(x: Tensor): Tensor {
    let d = this.branch7x7dbl_1.forward(x)
    for (const l of [this.branch7x7dbl_2, this.branch7x7dbl_3, this.branch7x7dbl_4, this.branch7x7dbl_5]) d = l.forward(d)
    return concat([
      this.branch1x1.forward(x),
      this.branch7x7_3.forward(this.branch7x7_2.forward(this.branch7x7_1.forward(x))),
      d,
      this.branch_pool.forward(avg3(x)),
    ], 1)
  }
}

export class InceptionD extends Module {
  branch3x3_1: BasicConv2d
  branch3x3_2: BasicConv2d
  branch7x7x3_1: BasicConv2d
  branch7x7x3_2: BasicConv2d
  branch7x7x3_3: BasicConv2d
  branch7x7x3_4: BasicConv2d
  constructor(c: number, rng: Rng) {
    super()
    this.branch3x3_1 = new BasicConv2d(c, 192, 1, rng)
    this.branch3x3_2 = new BasicConv2d(192, 320, 3, rng, { stride: 2 })
    this.branch7x7x3_1 = new BasicConv2d(c, 192, 1, rng)
    this.branch7x7x3_2 = new BasicConv2d(192, 192, [1, 7], rng, { padding: [0, 3] })
    this.branch7x7x3_3 = new BasicConv2d(192, 192, [7, 1], rng, { padding: [3, 0] })
    this.branch7x7x3_4 = new BasicConv2d(192, 192, 3, rng, { stride: 2 })
  }
  forward(x: Tensor): Tensor {
    let b = this.branch7x7x3_1.forward(x)
    for (const l of [this.branch7x7x3_2, this.branch7x7x3_3, this.branch7x7x3_4]) b = l.forward(b)
    return concat([this.branch3x3_2.forward(this.branch3x3_1.forward(x)), b, max3s2(x)], 1)
  }
}

export class InceptionE extends Module {
  branch1x1: BasicConv2d
  branch3x3_1: BasicConv2d
  branch3x3_2a: BasicConv2d
  branch3x3_2b: BasicConv2d
  branch3x3dbl_1: BasicConv2d
  branch3x3dbl_2: BasicConv2d
  branch3x3dbl_3a: BasicConv2d
  branch3x3dbl_3b: BasicConv2d
  branch_pool: BasicConv2d
  constructor(c: number, rng: Rng) {
    super()
    this.branch1x1 = new BasicConv2d(c, 320, 1, rng)
    this.branch3x3_1 = new BasicConv2d(c, 384, 1, rng)
    this.branch3x3_2a = new BasicConv2d(384, 384, [1, 3], rng, { padding: [0, 1] })
    this.branch3x3_2b = new BasicConv2d(384, 384, [3, 1], rng, { padding: [1, 0] })
    this.branch3x3dbl_1 = new BasicConv2d(c, 448, 1, rng)
    this.branch3x3dbl_2 = new BasicConv2d(448, 384, 3, rng, { padding: 1 })
    this.branch3x3dbl_3a = new BasicConv2d(384, 384, [1, 3], rng, { padding: [0, 1] })
    this.branch3x3dbl_3b = new BasicConv2d(384, 384, [3, 1], rng, { padding: [1, 0] })
    this.branch_pool = new BasicConv2d(c, 192, 1, rng)
  }
  forward(x: Tensor): Tensor {
    const b3 = this.branch3x3_1.forward(x)
    const d = this.branch3x3dbl_2.forward(this.branch3x3dbl_1.forward(x))
    return concat([
      this.branch1x1.forward(x),
      concat([this.branch3x3_2a.forward(b3), this.branch3x3_2b.forward(b3)], 1),
      concat([this.branch3x3dbl_3a.forward(d), this.branch3x3dbl_3b.forward(d)], 1),
      this.branch_pool.forward(avg3(x)),
    ], 1)
  }
}

export class InceptionAux extends Module {
  conv0: BasicConv2d
  conv1: BasicConv2d
  fc: Linear
  constructor(c: number, numClasses: number, rng: Rng) {
    super()
    this.conv0 = new BasicConv2d(c, 128, 1, rng)
    this.conv1 = new BasicConv2d(128, 768, 5, rng)
    this.fc = new Linear(768, numClasses, rng)
  }
  forward(x: Tensor): Tensor {
    const h = this.conv1.forward(this.conv0.forward(nn.avgPool2d(x, 5, { stride: 3 })))   // (B, 768, 1, 1)
    return this.fc.forward(nn.adaptiveAvgPool2d(h, 1).flatten(1))
  }
}

/** Mean/std of ImageNet normalisation, undone into Google's [-1, 1] input range by transform_input. */
const MEAN = [0.485, 0.456, 0.406]
const STD = [0.229, 0.224, 0.225]

export class Inception3 extends Module implements VisionModel {
  readonly arch = 'inception_v3'
  readonly defaultImageSize = 299
  readonly minImageSize = 75
  readonly headPrefixes: readonly string[]
  readonly featureSize = 2048
  readonly transformInput: boolean
  readonly auxWeight: number
  numClasses: number
  Conv2d_1a_3x3: BasicConv2d
  Conv2d_2a_3x3: BasicConv2d
  Conv2d_2b_3x3: BasicConv2d
  Conv2d_3b_1x1: BasicConv2d
  Conv2d_4a_3x3: BasicConv2d
  Mixed_5b: InceptionA
  Mixed_5c: InceptionA
  Mixed_5d: InceptionA
  Mixed_6a: InceptionB
  Mixed_6b: InceptionC
  Mixed_6c: InceptionC
  Mixed_6d: InceptionC
  Mixed_6e: InceptionC
  AuxLogits: InceptionAux | null
  Mixed_7a: InceptionD
  Mixed_7b: InceptionE
  Mixed_7c: InceptionE
  fc: Linear
  readonly #dropout: number
  constructor(numClasses: number, opts: VisionOptions = {}) {
    super()
    const rng = new Rng(opts.seed ?? 0)
    this.numClasses = numClasses
    this.transformInput = opts.transformInput ?? false
    this.auxWeight = opts.auxWeight ?? 0.4
    this.#dropout = opts.dropout ?? 0.5
    this.Conv2d_1a_3x3 = new BasicConv2d(3, 32, 3, rng, { stride: 2 })
    this.Conv2d_2a_3x3 = new BasicConv2d(32, 32, 3, rng)
    this.Conv2d_2b_3x3 = new BasicConv2d(32, 64, 3, rng, { padding: 1 })
    this.Conv2d_3b_1x1 = new BasicConv2d(64, 80, 1, rng)
    this.Conv2d_4a_3x3 = new BasicConv2d(80, 192, 3, rng)
    this.Mixed_5b = new InceptionA(192, 32, rng)
    this.Mixed_5c = new InceptionA(256, 64, rng)
    this.Mixed_5d = new InceptionA(288, 64, rng)
    this.Mixed_6a = new InceptionB(288, rng)
    this.Mixed_6b = new InceptionC(768, 128, rng)
    this.Mixed_6c = new InceptionC(768, 160, rng)
    this.Mixed_6d = new InceptionC(768, 160, rng)
    this.Mixed_6e = new InceptionC(768, 192, rng)
    this.AuxLogits = opts.auxLogits === false ? null : new InceptionAux(768, numClasses, rng)
    this.Mixed_7a = new InceptionD(768, rng)
    this.Mixed_7b = new InceptionE(1280, rng)
    this.Mixed_7c = new InceptionE(2048, rng)
    this.fc = new Linear(2048, numClasses, rng)
    this.headPrefixes = this.AuxLogits ? ['fc', 'AuxLogits.fc'] : ['fc']
    // torchvision: truncated normal, std 0.1 (AuxLogits.conv1 0.01, AuxLogits.fc 0.001), for convs and
    // Linear weights (biases keep nn.Linear's default); BatchNorm 1/0
    if (opts.init !== false) {
      for (const [name, p] of this.namedParameters()) {
        if (p.kind !== 'param' || p.shape.length < 2) continue
        truncNormal(p.data, rng, name.startsWith('AuxLogits.conv1.') ? 0.01 : name.startsWith('AuxLogits.fc.') ? 0.001 : 0.1)
      }
    }
  }
  #input(x: Tensor): Tensor {
    const [, C, H, W] = x.shape as [number, number, number, number]
    if (x.rank !== 4 || C !== 3) throw new ConfigError('VISION_INPUT', `inception_v3 expects images (B, 3, H, W), got [${x.shape.join(', ')}]`, 'feed normalised RGB images')
    if (H < this.minImageSize || W < this.minImageSize) throw new ConfigError('VISION_INPUT_SIZE', `inception_v3 needs images of at least 75x75, got ${H}x${W}`, 'resize to 299x299 (crop 299, resize 342)')
    if (!this.transformInput) return x
    const g = x.graph
    // x * (std / 0.5) + (mean - 0.5) / 0.5 per channel, as torchvision's _transform_input
    return x.mul(g.constant(STD.map((s) => s / 0.5), [1, 3, 1, 1])).add(g.constant(MEAN.map((m) => (m - 0.5) / 0.5), [1, 3, 1, 1]))
  }
  /** Backbone up to Mixed_6e (B, 768, 17, 17 at 299x299), where the auxiliary classifier branches off. */
  #trunk(x: Tensor): Tensor {
    let h = this.#input(x)
    h = this.Conv2d_2b_3x3.forward(this.Conv2d_2a_3x3.forward(this.Conv2d_1a_3x3.forward(h)))
    h = this.Conv2d_4a_3x3.forward(this.Conv2d_3b_1x1.forward(max3s2(h)))
    h = max3s2(h)
    for (const m of [this.Mixed_5b, this.Mixed_5c, this.Mixed_5d, this.Mixed_6a, this.Mixed_6b, this.Mixed_6c, this.Mixed_6d, this.Mixed_6e]) h = m.forward(h)
    return h
  }
  #top(h: Tensor): Tensor {
    for (const m of [this.Mixed_7a, this.Mixed_7b, this.Mixed_7c]) h = m.forward(h)
    return nn.adaptiveAvgPool2d(h, 1).flatten(1)                                   // (B, 2048)
  }
  /** Pooled Mixed_7c output (B, 2048). */
  backbone(x: Tensor): Tensor {
    return this.#top(this.#trunk(x))
  }
  head(f: Tensor): Tensor {
    return this.fc.forward(nn.dropout(f, this.#dropout))
  }
  logits(x: Tensor): Tensor {
    return this.head(this.backbone(x))
  }
  /**
   * In training graphs with the auxiliary classifier: loss(main) + auxWeight * loss(aux), from one
   * forward pass (the aux branch reads Mixed_6e). Otherwise loss(main).
   */
  forwardLoss(x: Tensor, loss: (logits: Tensor) => Tensor): { logits: Tensor; loss: Tensor; auxLogits?: Tensor } {
    const h = this.#trunk(x)
    const logits = this.head(this.#top(h))
    if (!x.graph.training || !this.AuxLogits || this.auxWeight === 0) return { logits, loss: loss(logits) }
    if (h.shape[2]! < 17 || h.shape[3]! < 17)
      throw new ConfigError('VISION_INPUT_SIZE', `inception_v3's auxiliary classifier needs 299x299 inputs in training, got ${x.shape[2]}x${x.shape[3]}`, 'train at 299x299, or build with auxLogits: false (or auxWeight: 0)')
    const auxLogits = this.AuxLogits.forward(h)
    return { logits, loss: loss(logits).add(loss(auxLogits).mul(this.auxWeight)), auxLogits }
  }
  /** New fc (and AuxLogits.fc) for `numClasses`, initialised as torchvision does. */
  replaceHead(numClasses: number, rng: Rng): void {
    this.fc = new Linear(2048, numClasses, rng)
    truncNormal(this.fc.weight.data, rng, 0.1)
    if (this.AuxLogits) {
      this.AuxLogits.fc = new Linear(768, numClasses, rng)
      truncNormal(this.AuxLogits.fc.weight.data, rng, 0.001)
    }
    this.numClasses = numClasses
    markStructureChanged()
  }
}
