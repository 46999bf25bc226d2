/**
 * ResNet-18/34/50 as torchvision builds them (He et al. 2015, "v1.5": in the bottleneck the stride
 * sits on the 3x3 conv, not the first 1x1).
 * https://arxiv.org/abs/1512.03385 · torchvision/models/resnet.py
 * Parameter paths are torchvision's state_dict keys: conv1, bn1, layer1..4.N.{conv1,bn1,conv2,bn2,
 * conv3,bn3,downsample.0,downsample.1}, fc.
 */
import type { Tensor } from '../graph/graph.js'
import * as nn from '../graph/nn.js'
import { Rng } from '../runtime/rng.js'
import { markStructureChanged, Module } from '../graph/module.js'
import { BatchNorm2d, Conv2d, Linear, normal } from './layers.js'
import type { VisionModel, VisionOptions } from './vision.js'

export type ResNetArch = 'resnet18' | 'resnet34' | 'resnet50'

const CONFIGS: Record<ResNetArch, { block: 'basic' | 'bottleneck'; layers: [number, number, number, number] }> = {
  resnet18: { block: 'basic', layers: [2, 2, 2, 2] },
  resnet34: { block: 'basic', layers: [3, 4, 6, 3] },
  resnet50: { block: 'bottleneck', layers: [3, 4, 6, 3] },
}

const conv = (i: number, o: number, k: number, rng: Rng, stride = 1): Conv2d =>
  new Conv2d(i, o, k, rng, { stride, padding: (k - 1) >> 1, bias: false })

/** conv1x1 + BatchNorm on the shortcut when the shape changes. */
type Downsample = [Conv2d, BatchNorm2d]

const shortcut = (x: Tensor, d: Downsample | null): Tensor => (d ? d[1].forward(d[0].forward(x)) : x)

export class BasicBlock extends Module {
  static readonly expansion = 1
  conv1: Conv2d
  bn1: BatchNorm2d
  conv2: Conv2d
  bn2: BatchNorm2d
  downsample: Downsample | null
  constructor(inplanes: number, planes: number, stride: number, rng: Rng) {
    super()
    this.conv1 = conv(inplanes, planes, 3, rng, stride)
    this.bn1 = new BatchNorm2d(planes)
    this.conv2 = conv(planes, planes, 3, rng)
    this.bn2 = new BatchNorm2d(planes)
    this.downsample = stride !== 1 || inplanes !== planes ? [conv(inplanes, planes, 1, rng, stride), new BatchNorm2d(planes)] : null
  }
  forward(x: Tensor): Tensor {
    const h = this.bn1.forward(this.conv1.forward(x)).relu()
    return this.bn2.forward(this.conv2.forward(h)).add(shortcut(x, this.downsample)).relu()
  }
}

export class Bottleneck extends Module {
  static readonly expansion = 4
  conv1: Conv2d
  bn1: BatchNorm2d
  conv2: Conv2d
  bn2: BatchNorm2d
  conv3: Conv2d
  bn3: BatchNorm2d
  downsample: Downsample | null
  /** `dilation` > 1: the 3x3 conv dilated (padding = dilation), as replace_stride_with_dilation builds it. */
  constructor(inplanes: number, planes: number, stride: number, rng: Rng, dilation = 1) {
    super()
    const out = planes * Bottleneck.expansion
    this.conv1 = conv(inplanes, planes, 1, rng)
    this.bn1 = new BatchNorm2d(planes)
    this.conv2 = dilation === 1 ? conv(planes, planes, 3, rng, stride) : new Conv2d(planes, planes, 3, rng, { stride, padding: dilation, dilation, bias: false })
    this.bn2 = new BatchNorm2d(planes)
    this.conv3 = conv(planes, out, 1, rng)
    this.bn3 = new BatchNorm2d(out)
    this.downsample = stride !== 1 || inplanes !== out ? [conv(inplanes, out, 1, rng, stride), new BatchNorm2d(out)] : null
  }
  forward(x: Tensor): Tensor {
    let h = this.bn1.forward(this.conv1.forward(x)).relu()
    h = this.bn2.forward(this.conv2.forward(h)).relu()
    return this.bn3.forward(this.conv3.forward(h)).add(shortcut(x, this.downsample)).relu()
  }
}

type Block = BasicBlock | Bottleneck

export class ResNet extends Module implements VisionModel {
  readonly defaultImageSize = 224
  readonly minImageSize = 1
  readonly headPrefixes = ['fc'] as const
  readonly featureSize: number
  numClasses: number
  conv1: Conv2d
  bn1: BatchNorm2d
  layer1: Block[]
  layer2: Block[]
  layer3: Block[]
  layer4: Block[]
  fc: Linear
  constructor(readonly arch: ResNetArch, numClasses: number, opts: VisionOptions = {}) {
    super()
    const rng = new Rng(opts.seed ?? 0)
    const { block, layers } = CONFIGS[arch]
    const expansion = block === 'basic' ? BasicBlock.expansion : Bottleneck.expansion
    let inplanes = 64
    const stage = (planes: number, n: number, stride: number): Block[] =>
      Array.from({ length: n }, (_, i) => {
        const b = block === 'basic' ? new BasicBlock(inplanes, planes, i === 0 ? stride : 1, rng) : new Bottleneck(inplanes, planes, i === 0 ? stride : 1, rng)
        inplanes = planes * expansion
        return b
      })
    this.conv1 = new Conv2d(3, 64, 7, rng, { stride: 2, padding: 3, bias: false })
    this.bn1 = new BatchNorm2d(64)
    this.layer1 = stage(64, layers[0], 1)
    this.layer2 = stage(128, layers[1], 2)
    this.layer3 = stage(256, layers[2], 2)
    this.layer4 = stage(512, layers[3], 2)
    this.featureSize = 512 * expansion
    this.numClasses = numClasses
    this.fc = new Linear(this.featureSize, numClasses, rng)
    // torchvision: kaiming_normal_(fan_out, relu) for convs; BatchNorm 1/0 (the layer default); fc as nn.Linear
    if (opts.init !== false) {
      for (const [name, p] of this.namedParameters()) {
        if (name.startsWith('fc.') || p.shape.length !== 4) continue
        normal(p, rng, Math.sqrt(2 / (p.shape[0]! * p.shape[2]! * p.shape[3]!)))
      }
    }
  }
  /** The pooled backbone output (B, F). */
  backbone(x: Tensor): Tensor {
    let h = nn.maxPool2d(this.bn1.forward(this.conv1.forward(x)).relu(), 3, { stride: 2, padding: 1 })
    for (const stage of [this.layer1, this.layer2, this.layer3, this.layer4]) for (const b of stage) h = b.forward(h)
    return nn.globalAvgPool(h)                                                    // (B, F)
  }
  head(f: Tensor): Tensor {
    return this.fc.forward(f)
  }
  logits(x: Tensor): Tensor {
    return this.head(this.backbone(x))
  }
  forwardLoss(x: Tensor, loss: (logits: Tensor) => Tensor): { logits: Tensor; loss: Tensor } {
    const logits = this.logits(x)
    return { logits, loss: loss(logits) }
  }
  /** A new fc for `numClasses`, initialised as nn.Linear (torchvision leaves it at the default). */
  replaceHead(numClasses: number, rng: Rng): void {
    this.fc = new Linear(this.featureSize, numClasses, rng)
    this.numClasses = numClasses
    markStructureChanged()
  }
}
