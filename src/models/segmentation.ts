/**
 * torchvision's semantic segmentation families over the project's backbones:
 * - fcn_resnet50 (Long et al. 2015): FCNHead on a dilated ResNet-50;
 * - deeplabv3_resnet50, deeplabv3_mobilenet_v3_large (Chen et al. 2017): DeepLabHead = ASPP with
 *   rates 12/24/36 and image pooling, then 3x3 conv + BN + ReLU and a 1x1 classifier;
 * - lraspp_mobilenet_v3_large (Howard et al. 2019): Lite R-ASPP, a gated 1x1 branch on the output-
 *   stride-16 features added to a 1x1 classifier on the stride-8 ones.
 * https://arxiv.org/abs/1411.4038 · https://arxiv.org/abs/1706.05587 · https://arxiv.org/abs/1905.02244
 * torchvision/models/segmentation/{fcn,deeplabv3,lraspp,_utils}.py
 * Paths are torchvision's state_dict keys: backbone.{conv1,bn1,layer1..4} (ResNet-50 with
 * replace_stride_with_dilation=[False, True, True], output stride 8) or backbone.0..16 (MobileNetV3-
 * Large `features` with dilated=True, output stride 16); classifier.*; aux_classifier.* (an FCNHead on
 * ResNet's layer3 or MobileNet's C2, trained with weight 0.5 as torchvision's reference script).
 * Logits are bilinearly resized (align_corners=False) to the input size, as torchvision does.
 * - lraspp_hf_resnet (finetune's, for small pre-trained ResNets such as pretrained/fashion-mnist-resnet):
 *   torchvision's LRASPPHead over a Hugging Face ResNet (hf-resnet.ts, ResNetModel's names under
 *   `backbone.`): low = C3 (stride 8), high = C5 (stride 32, undilated; torchvision's LR-ASPP takes
 *   stride 16), no auxiliary head.
 */
import { ConfigError } from '../errors.js'
import { concat, type Tensor } from '../graph/graph.js'
import { markStructureChanged, Module } from '../graph/module.js'
import * as nn from '../graph/nn.js'
import { Rng } from '../runtime/rng.js'
import { BatchNorm2d, Conv2d, normal } from './layers.js'
import { mobilenetV3LargeFeatures, stageIndices, type ConvBnAct, type InvertedResidualV3 } from './mobilenet-v3.js'
import { Bottleneck } from './resnet.js'
import { HfResNetModel, type HfResNetConfig } from './hf-resnet.js'

export const SEGMENTATION_ARCHS = ['fcn_resnet50', 'deeplabv3_resnet50', 'deeplabv3_mobilenet_v3_large', 'lraspp_mobilenet_v3_large', 'lraspp_hf_resnet'] as const
export type SegmentationArch = (typeof SEGMENTATION_ARCHS)[number]

export interface SegmentationOptions {
  /** Seed of the initial weights (0). */
  seed?: number
  /** Initialise as torchvision does (true); false keeps torch.nn layer defaults, quicker before loading a checkpoint. */
  init?: boolean
  /** Build the auxiliary FCNHead (FCN and DeepLabV3; true). LR-ASPP has none. */
  aux?: boolean
  /** Dropout of the heads: torchvision's 0.1 (FCNHead) and 0.5 (ASPP projection) when unset; 0 turns both off. */
  dropout?: number
  /** lraspp_hf_resnet: the body's Hugging Face ResNet config (required there). */
  hfResNet?: HfResNetConfig | undefined
}

/** The segmentation logits at input resolution, (B, K, H, W); `aux` from the auxiliary head. */
export interface SegmentationOutput {
  out: Tensor
  aux?: Tensor
}

// ----------------------------------------------------------------------------- backbones

/** ResNet-50's feature layers, layer3 and layer4 dilated (2 and 4) instead of strided. */
export class ResNet50Backbone extends Module {
  conv1: Conv2d
  bn1: BatchNorm2d
  layer1: Bottleneck[]
  layer2: Bottleneck[]
  layer3: Bottleneck[]
  layer4: Bottleneck[]
  constructor(rng: Rng) {
    super()
    let inplanes = 64
    let dilation = 1
    // torchvision's _make_layer: a dilated stage's first block keeps the previous dilation
    const stage = (planes: number, n: number, stride: number, dilate: boolean): Bottleneck[] => {
      const previous = dilation
      if (dilate) {
        dilation *= stride
        stride = 1
      }
      return Array.from({ length: n }, (_, i) => {
        const b = new Bottleneck(inplanes, planes, i === 0 ? stride : 1, rng, i === 0 ? previous : dilation)
        inplanes = planes * Bottleneck.expansion
        return b
      })
    }
    this.conv1 = new Conv2d(3, 64, 7, rng, { stride: 2, padding: 3, bias: false })
    this.bn1 = new BatchNorm2d(64)
    this.layer1 = stage(64, 3, 1, false)
    this.layer2 = stage(128, 4, 2, false)
    this.layer3 = stage(256, 6, 2, true)
    this.layer4 = stage(512, 3, 2, true)
  }
  /** layer3 (B, 1024, H/8, W/8) for the auxiliary head and layer4 (B, 2048, H/8, W/8). */
  forward(x: Tensor): { aux: Tensor; out: Tensor } {
    let h = nn.maxPool2d(this.bn1.forward(this.conv1.forward(x)).relu(), 3, { stride: 2, padding: 1 })
    for (const b of [...this.layer1, ...this.layer2, ...this.layer3]) h = b.forward(h)
    const aux = h
    for (const b of this.layer4) h = b.forward(h)
    return { aux, out: h }
  }
}

type MobileLayer = ConvBnAct | InvertedResidualV3

/** Runs MobileNetV3 features and returns the C2 (stride 8, 40 channels) and last (stride 16, 960) maps. */
function mobileForward(layers: readonly MobileLayer[], x: Tensor): { low: Tensor; high: Tensor } {
  const lowAt = stageIndices(layers).at(-4)!
  let h = x
  let low: Tensor | null = null
  layers.forEach((l, i) => {
    h = l.forward(h)
    if (i === lowAt) low = h
  })
  return { low: low!, high: h }
}

// ----------------------------------------------------------------------------- heads

/** FCNHead: 3x3 conv to in/4 channels, BN, ReLU, Dropout(0.1), 1x1 conv to the classes (indices 0, 1, 4). */
export class FCNHead extends Module {
  0: Conv2d
  1: BatchNorm2d
  4: Conv2d
  readonly #dropout: number
  constructor(inC: number, numClasses: number, rng: Rng, dropout: number) {
    super()
    const inter = Math.floor(inC / 4)
    this[0] = new Conv2d(inC, inter, 3, rng, { padding: 1, bias: false })
    this[1] = new BatchNorm2d(inter)
    this[4] = new Conv2d(inter, numClasses, 1, rng)
    this.#dropout = dropout
  }
  forward(x: Tensor): Tensor {
    return this[4].forward(nn.dropout(this[1].forward(this[0].forward(x)).relu(), this.#dropout))
  }
}

/** Conv (no bias) + BatchNorm + ReLU, as nn.Sequential indices 0 and 1. */
class ConvBnRelu extends Module {
  0: Conv2d
  1: BatchNorm2d
  constructor(i: number, o: number, k: number, rng: Rng, dilation = 1) {
    super()
    this[0] = new Conv2d(i, o, k, rng, { padding: k === 1 ? 0 : dilation, dilation, bias: false })
    this[1] = new BatchNorm2d(o)
  }
  forward(x: Tensor): Tensor {
    return this[1].forward(this[0].forward(x)).relu()
  }
}

/** ASPPPooling: global average, 1x1 conv + BN + ReLU, broadcast back (indices 1, 2; 0 is the pooling). */
class AsppPooling extends Module {
  1: Conv2d
  2: BatchNorm2d
  constructor(i: number, o: number, rng: Rng) {
    super()
    this[1] = new Conv2d(i, o, 1, rng, { bias: false })
    this[2] = new BatchNorm2d(o)
  }
  forward(x: Tensor): Tensor {
    const p = this[2].forward(this[1].forward(nn.adaptiveAvgPool2d(x, 1))).relu()     // (B, 256, 1, 1)
    // bilinear resize of a 1x1 map is a broadcast
    return p.expand([x.shape[0]!, p.shape[1]!, x.shape[2]!, x.shape[3]!])
  }
}

/** Atrous spatial pyramid pooling: 1x1, three dilated 3x3 and image pooling branches, concatenated and projected to 256. */
class Aspp extends Module {
  convs: [ConvBnRelu, ConvBnRelu, ConvBnRelu, ConvBnRelu, AsppPooling]
  project: ConvBnRelu
  readonly #dropout: number
  constructor(inC: number, rates: readonly [number, number, number], rng: Rng, dropout: number) {
    super()
    this.convs = [new ConvBnRelu(inC, 256, 1, rng), ...rates.map((r) => new ConvBnRelu(inC, 256, 3, rng, r)), new AsppPooling(inC, 256, rng)] as Aspp['convs']
    this.project = new ConvBnRelu(5 * 256, 256, 1, rng)
    this.#dropout = dropout
  }
  forward(x: Tensor): Tensor {
    return nn.dropout(this.project.forward(concat(this.convs.map((c) => c.forward(x)), 1)), this.#dropout)   // (B, 256, h, w)
  }
}

/** DeepLabHead: ASPP, 3x3 conv + BN + ReLU, 1x1 classifier (indices 0, 1, 2, 4). */
export class DeepLabHead extends Module {
  0: Aspp
  1: Conv2d
  2: BatchNorm2d
  4: Conv2d
  constructor(inC: number, numClasses: number, rng: Rng, dropout: number) {
    super()
    this[0] = new Aspp(inC, [12, 24, 36], rng, dropout)
    this[1] = new Conv2d(256, 256, 3, rng, { padding: 1, bias: false })
    this[2] = new BatchNorm2d(256)
    this[4] = new Conv2d(256, numClasses, 1, rng)
  }
  forward(x: Tensor): Tensor {
    return this[4].forward(this[2].forward(this[1].forward(this[0].forward(x))).relu())
  }
}

/** LRASPPHead: relu(bn(conv1x1(high))) gated by sigmoid(conv1x1(mean(high))), resized to the low map, then two 1x1 classifiers summed. */
export class LRASPPHead extends Module {
  cbr: ConvBnRelu
  /** [AdaptiveAvgPool2d, Conv2d, Sigmoid]: only index 1 has weights. */
  scale: [null, Conv2d]
  low_classifier: Conv2d
  high_classifier: Conv2d
  constructor(lowC: number, highC: number, numClasses: number, rng: Rng, inter = 128) {
    super()
    this.cbr = new ConvBnRelu(highC, inter, 1, rng)
    this.scale = [null, new Conv2d(highC, inter, 1, rng, { bias: false })]
    this.low_classifier = new Conv2d(lowC, numClasses, 1, rng)
    this.high_classifier = new Conv2d(inter, numClasses, 1, rng)
  }
  forward(low: Tensor, high: Tensor): Tensor {
    const s = this.scale[1].forward(nn.adaptiveAvgPool2d(high, 1)).sigmoid()          // (B, 128, 1, 1)
    const x = nn.interpolateBilinear(this.cbr.forward(high).mul(s), [low.shape[2]!, low.shape[3]!])
    return this.low_classifier.forward(low).add(this.high_classifier.forward(x))
  }
}

// ----------------------------------------------------------------------------- models

/**
 * A segmentation model with torchvision's parameter names. `forward` gives logits at the input's
 * resolution; `headPrefixes` are the class-dependent convolutions a new label set replaces.
 */
export class SegmentationModel extends Module {
  numClasses: number
  backbone: ResNet50Backbone | MobileLayer[] | HfResNetModel
  classifier: FCNHead | DeepLabHead | LRASPPHead
  aux_classifier: FCNHead | null
  /** Weight of the auxiliary loss in training (torchvision's reference script: 0.5). */
  readonly auxWeight = 0.5
  readonly #dropout: { fcn: number; aspp: number }

  constructor(readonly arch: SegmentationArch, numClasses: number, o: SegmentationOptions = {}) {
    super()
    if (!(SEGMENTATION_ARCHS as readonly string[]).includes(arch)) throw new ConfigError('MODEL_UNKNOWN_ARCH', `"${arch}" is not a segmentation architecture finetune supports`, `supported: ${SEGMENTATION_ARCHS.join(', ')}`)
    const rng = new Rng(o.seed ?? 0)
    this.numClasses = numClasses
    this.#dropout = { fcn: o.dropout ?? 0.1, aspp: o.dropout ?? 0.5 }
    const aux = !arch.startsWith('lraspp_') && (o.aux ?? true)
    if (arch === 'lraspp_hf_resnet') {
      const c = o.hfResNet
      if (!c) throw new ConfigError('MODEL_CONFIG', 'lraspp_hf_resnet needs its backbone\'s ResNet config', 'start it from a Hugging Face ResNet folder (config.json model_type "resnet")')
      const n = c.hidden_sizes.length
      if (n < 3 || 4 * (c.downsample_in_first_stage ? 2 : 1) * 2 ** (n - 3) !== 8)
        throw new ConfigError('MODEL_CONFIG', `lraspp_hf_resnet takes its low features at stride 8 (the third stage from the end); this ResNet has ${n} stages${c.downsample_in_first_stage ? ' and downsample_in_first_stage' : ''}`, 'use a ResNet config with 4 stages (hidden_sizes, depths) and downsample_in_first_stage false')
      this.backbone = new HfResNetModel(c, rng)
      this.classifier = new LRASPPHead(c.hidden_sizes[n - 3]!, c.hidden_sizes[n - 1]!, numClasses, rng)
      this.aux_classifier = null
    } else if (arch.endsWith('resnet50')) {
      this.backbone = new ResNet50Backbone(rng)
      this.classifier = arch === 'fcn_resnet50' ? new FCNHead(2048, numClasses, rng, this.#dropout.fcn) : new DeepLabHead(2048, numClasses, rng, this.#dropout.aspp)
      this.aux_classifier = aux ? new FCNHead(1024, numClasses, rng, this.#dropout.fcn) : null
    } else {
      this.backbone = mobilenetV3LargeFeatures(rng, true)
      const low = (this.backbone[stageIndices(this.backbone).at(-4)!] as InvertedResidualV3).outChannels
      this.classifier = arch === 'lraspp_mobilenet_v3_large' ? new LRASPPHead(low, 960, numClasses, rng) : new DeepLabHead(960, numClasses, rng, this.#dropout.aspp)
      this.aux_classifier = aux ? new FCNHead(low, numClasses, rng, this.#dropout.fcn) : null
    }
    // torchvision: the backbones' convs kaiming_normal_(fan_out) (their BatchNorms 1/0, the layer
    // default); the heads keep torch.nn's default init
    if (o.init !== false) {
      // (HF's ResNet init is the same rule)
      for (const [, p] of Array.isArray(this.backbone) ? this.backbone.flatMap((l) => l.namedParameters()) : this.backbone.namedParameters()) {
        if (p.shape.length === 4) normal(p, rng, Math.sqrt(2 / (p.shape[0]! * p.shape[2]! * p.shape[3]!)))
      }
      if (Array.isArray(this.backbone)) for (const [n, p] of this.backbone.flatMap((l) => l.namedParameters())) if (n.endsWith('.bias') && p.shape.length === 1 && /fc[12]\.bias$/.test(n)) p.data.fill(0)
    }
  }

  /** Names of the class-dependent convolutions (torchvision's classifier.4 / aux_classifier.4; LR-ASPP's two classifiers). */
  get headPrefixes(): string[] {
    if (this.classifier instanceof LRASPPHead) return ['classifier.low_classifier', 'classifier.high_classifier']
    return ['classifier.4', ...(this.aux_classifier ? ['aux_classifier.4'] : [])]
  }

  /** Whether the model has an auxiliary head (its loss is added with weight `auxWeight` in training). */
  get hasAux(): boolean {
    return this.aux_classifier !== null
  }

  /** (B, 3, H, W) normalised images -> logits (B, K, H, W), and the auxiliary head's when it has one. */
  forward(x: Tensor, withAux = true): SegmentationOutput {
    const size: [number, number] = [x.shape[2]!, x.shape[3]!]
    let out: Tensor
    let auxIn: Tensor
    if (this.backbone instanceof HfResNetModel) {
      const b = this.backbone
      let h = nn.maxPool2d(b.embedder.embedder.forward(x), 3, { stride: 2, padding: 1 })
      const stages = b.encoder.stages
      let low = h
      for (const [i, st] of stages.entries()) {
        for (const l of st.layers) h = l.forward(h)
        if (i === stages.length - 3) low = h                                            // C3, stride 8
      }
      out = (this.classifier as LRASPPHead).forward(low, h)
      auxIn = low
    } else if (this.backbone instanceof ResNet50Backbone) {
      const f = this.backbone.forward(x)
      out = (this.classifier as FCNHead | DeepLabHead).forward(f.out)
      auxIn = f.aux
    } else {
      const f = mobileForward(this.backbone, x)
      out = this.classifier instanceof LRASPPHead ? this.classifier.forward(f.low, f.high) : this.classifier.forward(f.high)
      auxIn = f.low
    }
    const res: SegmentationOutput = { out: nn.interpolateBilinear(out, size) }
    if (withAux && this.aux_classifier) res.aux = nn.interpolateBilinear(this.aux_classifier.forward(auxIn), size)
    return res
  }

  /** Logits at input resolution (no auxiliary head). */
  logits(x: Tensor): Tensor {
    return this.forward(x, false).out
  }

  /** torchvision's reference criterion: CE(out) + 0.5 · CE(aux), 255 ignored; plus the logits. */
  forwardLoss(x: Tensor, target: Tensor): { logits: Tensor; loss: Tensor; aux?: Tensor } {
    const r = this.forward(x, x.graph.training)
    let loss = segmentationLoss(r.out, target)
    if (r.aux) loss = loss.add(segmentationLoss(r.aux, target).mul(this.auxWeight))
    return { logits: r.out, loss, ...(r.aux ? { aux: r.aux } : {}) }
  }

  /** From scratch: every weight and buffer re-drawn as this constructor draws them (torchvision's builders: kaiming-normal backbone convs, torch.nn defaults in the heads). */
  reinitialise(rng: Rng): void {
    const fresh = new SegmentationModel(this.arch, this.numClasses, { seed: rng.nextU32(), aux: this.hasAux, hfResNet: this.backbone instanceof HfResNetModel ? this.backbone.c : undefined })
    const mine = new Map(this.namedParameters())
    for (const [n, p] of fresh.namedParameters()) mine.get(n)!.data.set(p.data)
  }

  /** New class convolutions for `numClasses`, initialised as torch.nn.Conv2d (what replacing classifier[4] gives in PyTorch). */
  replaceHead(numClasses: number, rng: Rng): void {
    const c = this.classifier
    if (c instanceof LRASPPHead) {
      c.low_classifier = new Conv2d(c.low_classifier.weight.shape[1]!, numClasses, 1, rng)
      c.high_classifier = new Conv2d(c.high_classifier.weight.shape[1]!, numClasses, 1, rng)
    } else c[4] = new Conv2d(c[4].weight.shape[1]!, numClasses, 1, rng)
    if (this.aux_classifier) this.aux_classifier[4] = new Conv2d(this.aux_classifier[4].weight.shape[1]!, numClasses, 1, rng)
    this.numClasses = numClasses
    markStructureChanged()
  }
}

/** Builds a segmentation model by torchvision's builder name. */
export function buildSegmentationModel(arch: string, numClasses: number, o: SegmentationOptions = {}): SegmentationModel {
  return new SegmentationModel(arch as SegmentationArch, numClasses, o)
}

export function isSegmentationArch(name: string): name is SegmentationArch {
  return (SEGMENTATION_ARCHS as readonly string[]).includes(name)
}

/** The ignore index of segmentation masks (Pascal VOC's border and "difficult" pixels). */
export const IGNORE_INDEX = 255

/**
 * Per-pixel cross entropy over logits (B, K, H, W) and int64 targets (B, H, W), pixels equal to
 * `ignoreIndex` left out of the sum and the mean: F.cross_entropy(out, target, ignore_index=255).
 * The class axis stays at 1 (no transpose of the full-resolution logits), and the target's
 * log-probability is picked by a one-hot product rather than a gather: its gradient is elementwise,
 * not a scatter, and an ignored pixel (ignoreIndex >= K) matches no class.
 */
export function segmentationLoss(logits: Tensor, target: Tensor, ignoreIndex = IGNORE_INDEX): Tensor {
  const K = logits.shape[1]!
  if (ignoreIndex >= 0 && ignoreIndex < K) throw new ConfigError('SEGMENTATION_IGNORE_INDEX', `the ignore index ${ignoreIndex} is a class of this ${K}-class model`, 'use 255 for ignored pixels and at most 255 classes')
  const classes = logits.graph.constant(Array.from({ length: K }, (_, k) => k), [1, K, 1, 1], 'int64')
  const onehot = target.unsqueeze(1).eq(classes).cast('float32')                    // (B, K, H, W)
  const valid = target.ne(ignoreIndex).cast('float32')                               // (B, H, W)
  const nll = logits.logSoftmax(1).mul(onehot).sum().neg()
  return nll.div(valid.sum().maximum(1))
}
