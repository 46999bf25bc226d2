/**
 * The ResNet-50 + feature pyramid backbone of torchvision's one-stage detectors (FCOS, RetinaNet):
 * `_resnet_fpn_extractor(resnet50(norm_layer=FrozenBatchNorm2d), returned_layers=[2, 3, 4],
 * extra_blocks=LastLevelP6P7(256, 256))`.
 * Lin et al. 2017, Feature Pyramid Networks: https://arxiv.org/abs/1612.03144
 * torchvision/models/detection/backbone_utils.py · torchvision/ops/feature_pyramid_network.py
 * Paths are torchvision's keys under `backbone.`: body.{conv1,bn1,layer1..4} (IntermediateLayerGetter
 * over ResNet-50 without avgpool/fc), fpn.inner_blocks.{0,1,2}.0 (1x1 lateral convs),
 * fpn.layer_blocks.{0,1,2}.0 (3x3 output convs), fpn.extra_blocks.{p6,p7}.
 * The backbone's BatchNorms are frozen as torchvision's FrozenBatchNorm2d (what it builds whenever
 * it starts from pre-trained weights): running statistics, and weight and bias fixed (buffers there).
 */
import { ConfigError } from '../errors.js'
import type { Tensor } from '../graph/graph.js'
import { Module } from '../graph/module.js'
import * as nn from '../graph/nn.js'
import type { Rng } from '../runtime/rng.js'
import { HfResNetModel, type HfResNetConfig } from './hf-resnet.js'
import { BatchNorm2d, Conv2d, normal, uniform } from './layers.js'
import { Bottleneck } from './resnet.js'

/** FPN output channels (torchvision's out_channels = 256 for every level). */
export const FPN_CHANNELS = 256

/** ResNet-50 without its classifier, returning C3, C4, C5 (strides 8, 16, 32; 512, 1024, 2048 channels). */
export class ResNet50Body extends Module {
  conv1: Conv2d
  bn1: BatchNorm2d
  layer1: Bottleneck[]
  layer2: Bottleneck[]
  layer3: Bottleneck[]
  layer4: Bottleneck[]
  constructor(rng: Rng) {
    super()
    let inplanes = 64
    const stage = (planes: number, n: number, stride: number): Bottleneck[] =>
      Array.from({ length: n }, (_, i) => {
        const b = new Bottleneck(inplanes, planes, i === 0 ? stride : 1, rng)
        inplanes = planes * Bottleneck.expansion
        return b
      })
    this.conv1 = new Conv2d(3, 64, 7, rng, { stride: 2, padding: 3, bias: false })
    this.bn1 = new BatchNorm2d(64)
    this.layer1 = stage(64, 3, 1)
    this.layer2 = stage(128, 4, 2)
    this.layer3 = stage(256, 6, 2)
    this.layer4 = stage(512, 3, 2)
    // torchvision's resnet init: kaiming_normal_(fan_out) on convs
    for (const [, p] of this.namedParameters()) if (p.shape.length === 4) normal(p, rng, Math.sqrt(2 / (p.shape[0]! * p.shape[2]! * p.shape[3]!)))
    for (const [, m] of this.#batchNorms()) m.freezeStats(true).requiresGrad(false)
  }
  *#batchNorms(): Generator<[string, BatchNorm2d]> {
    yield ['bn1', this.bn1]
    for (const [s, blocks] of [['layer1', this.layer1], ['layer2', this.layer2], ['layer3', this.layer3], ['layer4', this.layer4]] as const) {
      for (const [i, b] of blocks.entries()) {
        for (const k of ['bn1', 'bn2', 'bn3'] as const) yield [`${s}.${i}.${k}`, b[k]]
        if (b.downsample) yield [`${s}.${i}.downsample.1`, b.downsample[1]]
      }
    }
  }
  /** (B, 3, H, W) -> [C3, C4, C5]. */
  forward(x: Tensor): [Tensor, Tensor, Tensor] {
    let h = nn.maxPool2d(this.bn1.forward(this.conv1.forward(x)).relu(), 3, { stride: 2, padding: 1 })
    for (const b of this.layer1) h = b.forward(h)
    const out: Tensor[] = []
    for (const stage of [this.layer2, this.layer3, this.layer4]) {
      for (const b of stage) h = b.forward(h)
      out.push(h)
    }
    return out as [Tensor, Tensor, Tensor]
  }
}

/** Conv2d with kaiming_uniform_(a=1) weights and zero bias (torchvision's FPN init). */
function fpnConv(i: number, o: number, k: number, rng: Rng, stride = 1): Conv2d {
  const c = new Conv2d(i, o, k, rng, { stride, padding: (k - 1) >> 1 })
  uniform(c.weight, rng, Math.sqrt(3 / (i * k * k)))
  c.bias!.data.fill(0)
  return c
}

/** LastLevelP6P7: P6 = conv3x3/2(P5), P7 = conv3x3/2(relu(P6)) (from P5, since in = out channels). */
export class LastLevelP6P7 extends Module {
  p6: Conv2d
  p7: Conv2d
  constructor(channels: number, rng: Rng) {
    super()
    this.p6 = fpnConv(channels, channels, 3, rng, 2)
    this.p7 = fpnConv(channels, channels, 3, rng, 2)
  }
  forward(p5: Tensor): [Tensor, Tensor] {
    const p6 = this.p6.forward(p5)
    return [p6, this.p7.forward(p6.relu())]
  }
}

/** torchvision's FeaturePyramidNetwork with LastLevelP6P7: [C3, C4, C5] -> [P3 .. P7], 256 channels each. */
export class FeaturePyramidNetwork extends Module {
  inner_blocks: [Conv2d][]
  layer_blocks: [Conv2d][]
  extra_blocks: LastLevelP6P7
  constructor(inChannels: readonly number[], rng: Rng, out = FPN_CHANNELS) {
    super()
    this.inner_blocks = inChannels.map((c) => [fpnConv(c, out, 1, rng)])
    this.layer_blocks = inChannels.map(() => [fpnConv(out, out, 3, rng)])
    this.extra_blocks = new LastLevelP6P7(out, rng)
  }
  forward(xs: readonly Tensor[]): Tensor[] {
    const n = xs.length
    let last = this.inner_blocks[n - 1]![0].forward(xs[n - 1]!)
    const results = [this.layer_blocks[n - 1]![0].forward(last)]
    for (let i = n - 2; i >= 0; i--) {
      const lateral = this.inner_blocks[i]![0].forward(xs[i]!)
      // the padded batch is a multiple of 32, so each level is exactly twice the next: nearest = repeat
      last = lateral.add(nn.upsampleNearest(last, lateral.shape[2]! / last.shape[2]!))
      results.unshift(this.layer_blocks[i]![0].forward(last))
    }
    return [...results, ...this.extra_blocks.forward(results[n - 1]!)]
  }
}

/** backbone.body + backbone.fpn: normalised images (B, 3, H, W), H and W multiples of 32 -> [P3 .. P7]. */
export class ResNetFpnBackbone extends Module {
  body: ResNet50Body
  fpn: FeaturePyramidNetwork
  readonly out_channels = FPN_CHANNELS
  constructor(rng: Rng) {
    super()
    this.body = new ResNet50Body(rng)
    this.fpn = new FeaturePyramidNetwork([512, 1024, 2048], rng)
  }
  forward(x: Tensor): Tensor[] {
    return this.fpn.forward(this.body.forward(x))
  }
}

/**
 * The same FPN over a Hugging Face ResNet (hf-resnet.ts, ResNetModel's names under `backbone.body.`:
 * embedder.embedder.*, encoder.stages.S.layers.L.*), e.g. a small one pre-trained by finetune: its
 * last three stages are C3, C4, C5 (strides 8, 16, 32 with the default first-stage stride 1). FPN
 * width: the C3 width rounded down to a multiple of 32 (the head's GroupNorm(32)), from 32 to 256
 * (torchvision's 256 for ResNet-50's 512-wide C3). The body's
 * BatchNorms train (torchvision's choice for a backbone not frozen from pre-training); the head is
 * torchvision's FCOSHead at that width (GroupNorm(32)).
 */
export class HfResNetFpnBackbone extends Module {
  body: HfResNetModel
  fpn: FeaturePyramidNetwork
  readonly out_channels: number
  constructor(readonly config: HfResNetConfig, rng: Rng) {
    super()
    // stage i's output stride: 4 (stem) x 2 (first stage, if it downsamples) x 2^i; FCOS wants C5 at 32
    const n = config.hidden_sizes.length
    if (4 * (config.downsample_in_first_stage ? 2 : 1) * 2 ** (n - 1) !== 32)
      throw new ConfigError('MODEL_CONFIG', `a ResNet with ${n} stages${config.downsample_in_first_stage ? ' and downsample_in_first_stage' : ''} ends at stride ${4 * (config.downsample_in_first_stage ? 2 : 1) * 2 ** (n - 1)}; the feature pyramid takes C3..C5 at strides 8, 16, 32`, 'use a ResNet config with 4 stages (hidden_sizes, depths) and downsample_in_first_stage false')
    this.body = new HfResNetModel(config, rng)
    // HF's ResNet init: kaiming_normal_(fan_out, relu) on convs
    for (const [, p] of this.body.namedParameters()) if (p.shape.length === 4) normal(p, rng, Math.sqrt(2 / (p.shape[0]! * p.shape[2]! * p.shape[3]!)))
    const c = config.hidden_sizes.slice(-3)
    this.out_channels = Math.min(FPN_CHANNELS, Math.max(32, 32 * Math.floor(c[0]! / 32)))
    this.fpn = new FeaturePyramidNetwork(c, rng, this.out_channels)
  }
  forward(x: Tensor): Tensor[] {
    let h = nn.maxPool2d(this.body.embedder.embedder.forward(x), 3, { stride: 2, padding: 1 })
    const stages = this.body.encoder.stages
    const out: Tensor[] = []
    for (const [i, s] of stages.entries()) {
      for (const l of s.layers) h = l.forward(h)
      if (i >= stages.length - 3) out.push(h)
    }
    return this.fpn.forward(out)
  }
}
