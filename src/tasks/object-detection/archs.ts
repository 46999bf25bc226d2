/**
 * What differs between the one-stage detectors the object-detection task trains: FCOS
 * (src/models/fcos.ts) and RetinaNet (src/models/retinanet.ts). Both are torchvision's ResNet-50 FPN
 * detectors with sigmoid classes; they differ in anchors, matching, loss targets, loss terms, how
 * head outputs become scored boxes, and their post-processing settings. Everything else (data,
 * transform, metrics, checkpoints, the ONNX NMS tail) is shared by the task.
 */
import { ConfigError } from '../../errors.js'
import type { Graph, Tensor } from '../../graph/graph.js'
import { FCOS, FCOS_DEFAULTS, fcosAnchors, fcosLevels, fcosLoss, fcosPostprocess, fcosTargets, type Detections, type FcosSettings } from '../../models/fcos.js'
import { RetinaNet, RETINANET_DEFAULTS, retinanetAnchors, retinanetDecode, retinanetLevelCounts, retinanetLevels, retinanetLoss, retinanetPostprocess, retinanetTargets, type RetinaNetSettings } from '../../models/retinanet.js'
import type { HostTensor } from '../../runtime/session.js'

export const DETECTION_ARCHS = ['fcos_resnet50_fpn', 'retinanet_resnet50_fpn', 'fcos_hf_resnet_fpn'] as const
export type DetectionArch = (typeof DETECTION_ARCHS)[number]
export type DetModel = FCOS | RetinaNet
export type DetSettings = FcosSettings | RetinaNetSettings

/** The anchors of one padded canvas (every batch shares them) and their count per level. */
export interface Geometry {
  anchors: Float32Array
  counts: number[]
}

type Images = readonly { boxes: ArrayLike<number>; labels: ArrayLike<number> }[]

export interface DetectorKit {
  readonly arch: DetectionArch
  readonly defaults: DetSettings
  build(numClasses: number, seed: number | undefined): DetModel
  /** True when a state dict with these keys (backbone.* present) is this detector. */
  recognises(has: (key: string) => boolean): boolean
  geometry(canvas: number): Geometry
  /** The loss targets of a batch, as feeds named t_*. */
  targets(geo: Geometry, numClasses: number, images: Images, s: DetSettings): Record<string, HostTensor>
  /** The head outputs to fetch, and the summed loss dict when the t_* inputs are there. */
  forward(model: DetModel, inputs: Record<string, Tensor>, geo: Geometry): { loss?: Tensor; outputs: Record<string, Tensor> }
  /** One image's detections (resized frame) from its host outputs, image `k` of the batch. */
  postprocess(outputs: Record<string, Float32Array>, k: number, geo: Geometry, numClasses: number, size: readonly [number, number], s: DetSettings): Detections
  /** Every anchor's decoded box (1, A, 4), clipped to `limits` (4: w h w h), and its class scores (1, A, K), for the ONNX detector. */
  scoredBoxes(model: DetModel, pixels: Tensor, limits: Tensor, g: Graph, geo: Geometry): { anchor_boxes: Tensor; anchor_scores: Tensor }
  /** config.json fields of the settings beyond score_thresh, nms_thresh, detections_per_img, topk_candidates. */
  settingsConfig(s: DetSettings): Record<string, number>
  settingsFrom(read: (key: string, d: number) => number): DetSettings
}

const f32 = (data: Float32Array, shape: number[]): HostTensor => ({ data, shape, dtype: 'float32' })
const slice = (a: Float32Array, k: number, n: number): Float32Array => a.subarray(k * n, (k + 1) * n)

const fcos: DetectorKit = {
  arch: 'fcos_resnet50_fpn',
  defaults: FCOS_DEFAULTS,
  build: (k, seed) => new FCOS(k, seed !== undefined ? { seed } : {}),
  recognises: (has) => has('head.regression_head.bbox_ctrness.weight'),
  geometry(canvas) {
    const levels = fcosLevels(canvas, canvas)
    return { anchors: fcosAnchors(canvas, canvas, levels), counts: levels.map(([h, w]) => h * w) }
  },
  targets(geo, K, images, s) {
    const [B, A] = [images.length, geo.anchors.length / 4]
    const t = fcosTargets(geo.anchors, geo.counts, K, images, (s as FcosSettings).centerSamplingRadius)
    return { t_cls: f32(t.cls, [B, A, K]), t_boxes: f32(t.boxes, [B, A, 4]), t_fg: f32(t.fg, [B, A]), t_ctr: f32(t.ctr, [B, A]), t_norm: f32(new Float32Array([t.norm]), []) }
  },
  forward(model, i, geo) {
    const out = (model as FCOS).forward(i['pixels']!)
    const outputs = { cls: out.cls_logits, reg: out.bbox_regression, ctr: out.bbox_ctrness }
    if (!i['t_cls']) return { outputs }
    const l = fcosLoss(out, geo.anchors, { cls: i['t_cls'], boxes: i['t_boxes']!, fg: i['t_fg']!, ctr: i['t_ctr']!, norm: i['t_norm']! })
    return { loss: l.classification.add(l.bbox_regression).add(l.bbox_ctrness), outputs }
  },
  postprocess(o, k, geo, K, size, s) {
    const A = geo.anchors.length / 4
    return fcosPostprocess({ cls: slice(o['cls']!, k, A * K), reg: slice(o['reg']!, k, A * 4), ctr: slice(o['ctr']!, k, A) }, geo.anchors, geo.counts, size, s as FcosSettings)
  },
  scoredBoxes(model, pixels, limits, g, geo) {
    const A = geo.anchors.length / 4
    const centre = new Float32Array(4 * A)
    const scale = new Float32Array(4 * A)
    for (let a = 0; a < A; a++) {
      const [x1, y1, x2, y2] = Array.from(geo.anchors.subarray(4 * a, 4 * a + 4)) as [number, number, number, number]
      centre.set([(x1 + x2) / 2, (y1 + y2) / 2, (x1 + x2) / 2, (y1 + y2) / 2], 4 * a)
      scale.set([-(x2 - x1), -(y2 - y1), x2 - x1, y2 - y1], 4 * a)
    }
    const out = (model as FCOS).forward(pixels)
    const boxes = out.bbox_regression.mul(g.constant(scale, [A, 4])).add(g.constant(centre, [A, 4])).maximum(0).minimum(limits)
    return { anchor_boxes: boxes, anchor_scores: out.cls_logits.sigmoid().mul(out.bbox_ctrness.sigmoid()).sqrt() }
  },
  settingsConfig: (s) => ({ center_sampling_radius: (s as FcosSettings).centerSamplingRadius }),
  settingsFrom: (read) => ({
    scoreThresh: read('score_thresh', FCOS_DEFAULTS.scoreThresh),
    nmsThresh: read('nms_thresh', FCOS_DEFAULTS.nmsThresh),
    detectionsPerImg: read('detections_per_img', FCOS_DEFAULTS.detectionsPerImg),
    topkCandidates: read('topk_candidates', FCOS_DEFAULTS.topkCandidates),
    centerSamplingRadius: read('center_sampling_radius', FCOS_DEFAULTS.centerSamplingRadius),
  }),
}

const retinanet: DetectorKit = {
  arch: 'retinanet_resnet50_fpn',
  defaults: RETINANET_DEFAULTS,
  build: (k, seed) => new RetinaNet(k, seed !== undefined ? { seed } : {}),
  recognises: (has) => has('head.regression_head.bbox_reg.weight') && !has('head.regression_head.bbox_ctrness.weight'),
  geometry(canvas) {
    const levels = retinanetLevels(canvas, canvas)
    return { anchors: retinanetAnchors(canvas, canvas, levels), counts: retinanetLevelCounts(levels) }
  },
  targets(geo, K, images, s) {
    const [B, A] = [images.length, geo.anchors.length / 4]
    const t = retinanetTargets(geo.anchors, K, images, s as RetinaNetSettings)
    return { t_cls: f32(t.cls, [B, A, K]), t_wcls: f32(t.clsWeight, [B, A]), t_reg: f32(t.reg, [B, A, 4]), t_wreg: f32(t.regWeight, [B, A]) }
  },
  forward(model, i) {
    const out = (model as RetinaNet).forward(i['pixels']!)
    const outputs = { cls: out.cls_logits, reg: out.bbox_regression }
    if (!i['t_cls']) return { outputs }
    const l = retinanetLoss(out, { cls: i['t_cls'], clsWeight: i['t_wcls']!, reg: i['t_reg']!, regWeight: i['t_wreg']! })
    return { loss: l.classification.add(l.bbox_regression), outputs }
  },
  postprocess(o, k, geo, K, size, s) {
    const A = geo.anchors.length / 4
    return retinanetPostprocess({ cls: slice(o['cls']!, k, A * K), reg: slice(o['reg']!, k, A * 4) }, geo.anchors, geo.counts, size, s as RetinaNetSettings)
  },
  scoredBoxes(model, pixels, limits, _g, geo) {
    const out = (model as RetinaNet).forward(pixels)
    return { anchor_boxes: retinanetDecode(out.bbox_regression, geo.anchors).maximum(0).minimum(limits), anchor_scores: out.cls_logits.sigmoid() }
  },
  settingsConfig: (s) => ({ fg_iou_thresh: (s as RetinaNetSettings).fgIouThresh, bg_iou_thresh: (s as RetinaNetSettings).bgIouThresh }),
  settingsFrom: (read) => ({
    scoreThresh: read('score_thresh', RETINANET_DEFAULTS.scoreThresh),
    nmsThresh: read('nms_thresh', RETINANET_DEFAULTS.nmsThresh),
    detectionsPerImg: read('detections_per_img', RETINANET_DEFAULTS.detectionsPerImg),
    topkCandidates: read('topk_candidates', RETINANET_DEFAULTS.topkCandidates),
    fgIouThresh: read('fg_iou_thresh', RETINANET_DEFAULTS.fgIouThresh),
    bgIouThresh: read('bg_iou_thresh', RETINANET_DEFAULTS.bgIouThresh),
  }),
}

/**
 * FCOS over a Hugging Face ResNet body (detection-backbone.ts: HfResNetFpnBackbone): FCOS in every
 * respect but the body, which is built from a ResNet config (checkpoint-node.ts: a ResNet folder, or
 * a trained folder's backbone_config), never from a bare state dict.
 */
const fcosHfResNet: DetectorKit = {
  ...fcos,
  arch: 'fcos_hf_resnet_fpn',
  build: () => {
    throw new ConfigError('MODEL_CONFIG', 'fcos_hf_resnet_fpn is built from a Hugging Face ResNet config', 'pass --model with a ResNet folder (config.json model_type "resnet") or a folder trained from one')
  },
  recognises: () => false,
}

export const DETECTOR_KITS: Record<DetectionArch, DetectorKit> = { fcos_resnet50_fpn: fcos, retinanet_resnet50_fpn: retinanet, fcos_hf_resnet_fpn: fcosHfResNet }
