/**
 * MobileNetV2 as torchvision builds it (Sandler et al. 2018): inverted residual blocks with
 * depthwise convolutions and linear bottlenecks, ReLU6 activations.
 * https://arxiv.org/abs/1801.04381 · torchvision/models/mobilenetv2.py
 * Paths are torchvision's keys: features.0.{0,1} (stem conv, bn), features.N.conv.{0.0,0.1,1.0,1.1,2,3}
 * (expand, depthwise, project), features.18.{0,1}, classifier.1.
 */
import type { Tensor } from '../graph/graph.js'
import { markStructureChanged, Module } from '../graph/module.js'
import * as nn from '../graph/nn.js'
import { Rng } from '../runtime/rng.js'
import { BatchNorm2d, Conv2d, fill, Linear, normal } from './layers.js'
import type { VisionModel, VisionOptions } from './vision.js'

/** Conv2dNormActivation(..., activation_layer=ReLU6): indices 0 (conv) and 1 (bn) as in torchvision. */
type ConvBNReLU6 = [Conv2d, BatchNorm2d]

function convBn(i: number, o: number, k: number, rng: Rng, stride = 1, groups = 1): ConvBNReLU6 {
  return [new Conv2d(i, o, k, rng, { stride, padding: (k - 1) >> 1, groups, bias: false }), new BatchNorm2d(o)]
}
const runConvBn = (l: ConvBNReLU6, x: Tensor): Tensor => nn.relu6(l[1].forward(l[0].forward(x)))

export class InvertedResidual extends Module {
  /** [expand (when t > 1)], depthwise, project conv, project bn: torchvision's `conv` Sequential. */
  conv: (ConvBNReLU6 | Conv2d | BatchNorm2d)[]
  readonly #residual: boolean
  constructor(inp: number, oup: number, stride: number, expand: number, rng: Rng) {
    super()
    const hidden = Math.round(inp * expand)
    this.#residual = stride === 1 && inp === oup
    this.conv = [
      ...(expand !== 1 ? [convBn(inp, hidden, 1, rng)] : []),
      convBn(hidden, hidden, 3, rng, stride, hidden),
      new Conv2d(hidden, oup, 1, rng, { bias: false }),
      new BatchNorm2d(oup),
    ]
  }
  forward(x: Tensor): Tensor {
    let h = x
    for (const l of this.conv) h = Array.isArray(l) ? runConvBn(l, h) : l.forward(h)
    return this.#residual ? x.add(h) : h
  }
}

/** torchvision's _make_divisible: round to a multiple of `d`, never below 90% of `v`. */
function makeDivisible(v: number, d = 8): number {
  let n = Math.max(d, Math.floor(v + d / 2) - (Math.floor(v + d / 2) % d))
  if (n < 0.9 * v) n += d
  return n
}

// t (expansion), c (channels), n (repeats), s (stride of the first)
const SETTINGS: readonly [number, number, number, number][] = [
  [1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1],
]

export class MobileNetV2 extends Module implements VisionModel {
  readonly arch = 'mobilenet_v2'
  readonly defaultImageSize = 224
  readonly minImageSize = 1
  readonly headPrefixes = ['classifier.1'] as const
  readonly featureSize: number
  numClasses: number
  features: (ConvBNReLU6 | InvertedResidual)[]
  /** [Dropout (no weights), Linear]: index 1 is the checkpoint's classifier.1. */
  classifier: [null, Linear]
  readonly #dropout: number
  constructor(numClasses: number, opts: VisionOptions = {}) {
    super()
    const rng = new Rng(opts.seed ?? 0)
    let input = makeDivisible(32)
    const last = makeDivisible(1280)
    this.features = [convBn(3, input, 3, rng, 2)]
    for (const [t, c, n, s] of SETTINGS) {
      const out = makeDivisible(c)
      for (let i = 0; i < n; i++) {
        this.features.push(new InvertedResidual(input, out, i === 0 ? s : 1, t, rng))
        input = out
      }
    }
    this.features.push(convBn(input, last, 1, rng))
    this.featureSize = last
    this.numClasses = numClasses
    this.#dropout = opts.dropout ?? 0.2
    this.classifier = [null, this.#newHead(numClasses, rng)]
    // torchvision: kaiming_normal_(fan_out) for convs, BatchNorm 1/0, Linear N(0, 0.01) with zero bias
    if (opts.init !== false) {
      for (const [, p] of this.namedParameters()) if (p.shape.length === 4) normal(p, rng, Math.sqrt(2 / (p.shape[0]! * p.shape[2]! * p.shape[3]!)))
    }
  }
  #newHead(numClasses: number, rng: Rng): Linear {
    const fc = new Linear(this.featureSize, numClasses, rng)
    normal(fc.weight, rng, 0.01)
    fill(fc.bias!, 0)
    return fc
  }
  /** The pooled backbone output (B, 1280). */
  backbone(x: Tensor): Tensor {
    let h = x
    for (const l of this.features) h = Array.isArray(l) ? runConvBn(l, h) : l.forward(h)
    return nn.globalAvgPool(h)                                                    // (B, F)
  }
  head(f: Tensor): Tensor {
    return this.classifier[1].forward(nn.dropout(f, this.#dropout))
  }
  logits(x: Tensor): Tensor {
    return this.head(this.backbone(x))
  }
  forwardLoss(x: Tensor, loss: (logits: Tensor) => Tensor): { logits: Tensor; loss: Tensor } {
    const logits = this.logits(x)
    return { logits, loss: loss(logits) }
  }
  replaceHead(numClasses: number, rng: Rng): void {
    this.classifier = [null, this.#newHead(numClasses, rng)]
    this.numClasses = numClasses
    markStructureChanged()
  }
}
