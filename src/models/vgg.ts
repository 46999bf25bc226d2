/**
 * VGG-11/16 and VGG-16 with BatchNorm as torchvision builds them (Simonyan & Zisserman 2014).
 * https://arxiv.org/abs/1409.1556 · torchvision/models/vgg.py
 * Paths are torchvision's keys: features.N (convs, and BatchNorms in _bn models, at their Sequential
 * index), classifier.0/3/6. An AdaptiveAvgPool2d((7, 7)) sits between features and classifier, so any
 * input of at least 32x32 works with the 25088-wide first classifier layer.
 */
import type { Tensor } from '../graph/graph.js'
import { markStructureChanged, Module } from '../graph/module.js'
import * as nn from '../graph/nn.js'
import { Rng } from '../runtime/rng.js'
import { BatchNorm2d, Conv2d, fill, Linear, normal } from './layers.js'
import type { VisionModel, VisionOptions } from './vision.js'

export type VggArch = 'vgg11' | 'vgg16' | 'vgg16_bn'

// torchvision's cfgs "A" and "D": channels of 3x3 convs, "M" for a 2x2 max pool
const CFG_A = [64, 'M', 128, 'M', 256, 256, 'M', 512, 512, 'M', 512, 512, 'M'] as const
const CFG_D = [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512, 'M'] as const

/** A weightless entry of torchvision's Sequential (ReLU, MaxPool2d, Dropout): keeps the indices. */
type Op = 'relu' | 'pool'
type Layer = Conv2d | BatchNorm2d | Op

export class VGG extends Module implements VisionModel {
  readonly defaultImageSize = 224
  readonly minImageSize = 32
  readonly headPrefixes = ['classifier.6'] as const
  readonly featureSize = 4096
  numClasses: number
  features: Layer[]
  /** Linear, ReLU, Dropout, Linear, ReLU, Dropout, Linear: weights at 0, 3 and 6. */
  classifier: [Linear, null, null, Linear, null, null, Linear]
  readonly #dropout: number
  constructor(readonly arch: VggArch, numClasses: number, opts: VisionOptions = {}) {
    super()
    const rng = new Rng(opts.seed ?? 0)
    const bn = arch === 'vgg16_bn'
    this.features = []
    let c = 3
    for (const v of arch === 'vgg11' ? CFG_A : CFG_D) {
      if (v === 'M') {
        this.features.push('pool')
        continue
      }
      this.features.push(new Conv2d(c, v, 3, rng, { padding: 1 }))
      if (bn) this.features.push(new BatchNorm2d(v))
      this.features.push('relu')
      c = v
    }
    this.numClasses = numClasses
    this.#dropout = opts.dropout ?? 0.5
    this.classifier = [new Linear(512 * 7 * 7, 4096, rng), null, null, new Linear(4096, 4096, rng), null, null, this.#newHead(numClasses, rng)]
    // torchvision: kaiming_normal_(fan_out, relu) convs with zero bias, BatchNorm 1/0, Linear N(0, 0.01) with zero bias
    if (opts.init !== false) {
      for (const [name, p] of this.namedParameters()) {
        if (p.kind !== 'param') continue
        if (p.shape.length === 4) normal(p, rng, Math.sqrt(2 / (p.shape[0]! * p.shape[2]! * p.shape[3]!)))
        else if (p.shape.length === 2) normal(p, rng, 0.01)
        else if (name.endsWith('.bias') && (name.startsWith('classifier.') || this.#isConvBias(name))) fill(p, 0)
      }
    }
  }
  #isConvBias(name: string): boolean {
    return this.features[Number(name.split('.')[1])] instanceof Conv2d
  }
  #newHead(numClasses: number, rng: Rng): Linear {
    const fc = new Linear(4096, numClasses, rng)
    normal(fc.weight, rng, 0.01)
    fill(fc.bias!, 0)
    return fc
  }
  /** classifier.0 .. classifier.5 on the pooled convolutional features: (B, 4096). */
  backbone(x: Tensor): Tensor {
    let h = x
    for (const l of this.features) {
      if (l === 'pool') h = nn.maxPool2d(h, 2, { stride: 2 })
      else if (l === 'relu') h = h.relu()
      else h = l.forward(h)
    }
    h = nn.adaptiveAvgPool2d(h, 7).flatten(1)                                     // (B, 25088)
    h = nn.dropout(this.classifier[0].forward(h).relu(), this.#dropout)
    return nn.dropout(this.classifier[3].forward(h).relu(), this.#dropout)        // (B, 4096)
  }
  head(f: Tensor): Tensor {
    return this.classifier[6].forward(f)
  }
  logits(x: Tensor): Tensor {
    return this.head(this.backbone(x))
  }
  forwardLoss(x: Tensor, loss: (logits: Tensor) => Tensor): { logits: Tensor; loss: Tensor } {
    const logits = this.logits(x)
    return { logits, loss: loss(logits) }
  }
  replaceHead(numClasses: number, rng: Rng): void {
    this.classifier[6] = this.#newHead(numClasses, rng)
    this.numClasses = numClasses
    markStructureChanged()
  }
}
