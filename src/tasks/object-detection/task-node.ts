/**
 * `object-detection`: boxes with labels and scores. Model: torchvision's fcos_resnet50_fpn (src/models/
 * fcos.ts) or retinanet_resnet50_fpn (src/models/retinanet.ts; what differs between them: archs.ts)
 * from a detection state dict, a trained folder, or a ResNet-50 classifier's backbone
 * (checkpoint-node.ts). Data: COCO instances JSON, Pascal VOC or YOLO folders (data-node.ts). Loss: the detector's loss dict
 * (FCOS: focal + GIoU + centerness; RetinaNet: focal + L1), summed as torchvision's reference script sums it. Metrics: COCO
 * mAP@[.5:.95], mAP@.5, mAP@.75, by size and per class (pycocotools' algorithm,
 * src/train/metrics-detection.ts). Predict prints x1 y1 x2 y2, label and score per detection;
 * `--draw DIR` draws them (src/data/draw.ts).
 */
import { dirname } from 'node:path'
import { mkdir } from 'node:fs/promises'
import { ConfigError } from '../../errors.js'
import { writeFileAtomic, writeSafetensorsFile } from '../../checkpoint/io-node.js'
import { exportInferenceOnnx } from '../../export/onnx.js'
import { rescaleBoxes } from '../../models/fcos.js'
import type { OptimizerConfig } from '../../optim/optimizers.js'
import { Runtime, type HostTensor } from '../../runtime/session.js'
import type { DetectionPrediction } from '../../train/metrics-detection.js'
import { TrainSession } from '../../train/step.js'
import type { TrainingJob } from '../../train/trainer.js'
import { followEvaluation, assertFiniteOutputs, freezeByName, type OpenOptions, type Task } from '../task.js'
import { DETECTOR_KITS, type DetectionArch, type DetSettings, type Geometry } from './archs.js'
import { detTensors, DETECTION_ARCHS, openDetCheckpoint, saveDetCheckpoint, setDetHead, TASK, type DetCheckpoint } from './checkpoint-node.js'
import { appendDetectionNms } from './onnx.js'
import { drawOption } from '../draw-node.js'
import { predictDetections } from './predict-node.js'
import { canvasSize, CROP_FRACTION_RANGE, DET_AUGMENTATIONS, DET_FORMATS, SCALE_JITTER_RANGE, DetSplit, evaluateDetectionSplit, loadDetectionImage, readDetectionSource, readDetectionTrainSource, detectionTrainingData, type DetBatch, type DetFormat, type DetTransform } from './data-node.js'
import { isSsdlite, openSsdlite, prepareSsdlite } from './ssdlite-node.js'

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined)
const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined)

const DEFAULT_TRANSFORM = { minSize: 512, maxSize: 512 } satisfies DetTransform

/** The network's anchors for a canvas (every batch shares it). */
const geometry = (arch: DetectionArch, canvas: number): Geometry => DETECTOR_KITS[arch].geometry(canvas)

/** Pixels, plus the loss targets of the detector's matching when `withTargets` (training and eval loss). */
function feeds(b: DetBatch, ck: DetCheckpoint, geo: Geometry, withTargets: boolean): Record<string, HostTensor> {
  const f: Record<string, HostTensor> = { pixels: { data: b.pixels, shape: b.shape, dtype: 'float32' } }
  return withTargets ? { ...f, ...DETECTOR_KITS[ck.arch].targets(geo, ck.model.numClasses, b.targets, ck.settings) } : f
}

/** The session every command shares: training loss, and head outputs (with the loss when targets come). */
function session(ck: DetCheckpoint, geo: Geometry, runtime: Runtime, optimizer: OptimizerConfig, o: { seed?: number; clipNorm?: number; accumulation?: number } = {}): TrainSession {
  const kit = DETECTOR_KITS[ck.arch]
  return new TrainSession({ runtime, model: ck.model, optimizer, ...o, forward: (i) => kit.forward(ck.model, i, geo) })
}

/** Post-processed detections of every image of a batch, in original image coordinates. */
function detectionsOf(r: { outputs: Record<string, HostTensor> }, b: DetBatch, geo: Geometry, ck: DetCheckpoint, what: string): DetectionPrediction[] {
  const outputs = Object.fromEntries(Object.entries(r.outputs).map(([k, v]) => [k, v.data as Float32Array]))
  const K = ck.model.numClasses
  const A = geo.anchors.length / 4
  return b.indices.map((_, k) => {
    assertFiniteOutputs(outputs['cls']!.subarray(k * A * K, (k + 1) * A * K), what, `image ${k + 1} of a batch`)
    const d = DETECTOR_KITS[ck.arch].postprocess(outputs, k, geo, K, b.sizes[k]!, ck.settings)
    return { boxes: rescaleBoxes(d.boxes, b.sizes[k]!, b.originals[k]!), scores: d.scores, labels: d.labels }
  })
}

/** COCO mAP (pycocotools' algorithm) and eval_loss over a split. */
async function evaluateSplit(s: TrainSession, split: DetSplit, ck: DetCheckpoint, geo: Geometry, batchSize: number, what: string): Promise<Record<string, number>> {
  // a long pass runs with today's weights as constants (BatchNorm folded, faster depthwise kernels)
  return s.forwardPass(split.batchCount(batchSize, false), (t) =>
    evaluateDetectionSplit(split, batchSize, ck.labels, async (b) => {
      const r = await t.evaluate(feeds(b, ck, geo, true))
      return { detections: detectionsOf(r, b, geo, ck, what), loss: r.loss ?? 0 }
    }),
  )
}

function settingsFrom(o: Record<string, unknown>, base: DetSettings): DetSettings {
  return {
    ...base,
    ...(num(o['scoreThresh']) !== undefined ? { scoreThresh: num(o['scoreThresh'])! } : {}),
    ...(num(o['nmsThresh']) !== undefined ? { nmsThresh: num(o['nmsThresh'])! } : {}),
    ...(num(o['detectionsPerImg']) !== undefined ? { detectionsPerImg: num(o['detectionsPerImg'])! } : {}),
  }
}

function transformFrom(o: Record<string, unknown>, base: DetTransform): DetTransform {
  if (o['imageSize'] !== undefined) throw new ConfigError('CONFIG_IMAGE_SIZE', `--image-size ${String(o['imageSize'])} applies to ssdlite320-mobilenet-v3-large only: FCOS and RetinaNet resize by --min-size / --max-size`, 'pass --min-size and --max-size instead')
  const t = { minSize: num(o['minSize']) ?? base.minSize, maxSize: num(o['maxSize']) ?? base.maxSize }
  if (t.minSize > t.maxSize) throw new ConfigError('CONFIG_IMAGE_SIZE', `--min-size ${t.minSize} is larger than --max-size ${t.maxSize}`, 'the shorter side goes to --min-size unless the longer would pass --max-size: give min <= max')
  return t
}

const commands = ['train', 'eval', 'predict', 'export'] as const

export const objectDetection: Task = {
  name: TASK,
  summary: 'boxes with labels and scores (FCOS or RetinaNet ResNet-50 FPN, SSDlite320 MobileNetV3-Large; torchvision names; COCO JSON, VOC or YOLO; COCO mAP)',
  modality: 'image',
  options: {
    arch: { type: 'enum', choices: DETECTION_ARCHS, describe: 'the detector to build on a resnet50 classifier (default fcos_resnet50_fpn); a detection state dict or trained folder names its own', commands: ['train', 'eval', 'predict', 'export', 'inspect'] },
    images: { type: 'string', describe: 'the images folder of the COCO instances JSON (default: images/ beside it, else its folder)', placeholder: 'DIR', commands: ['train', 'eval'] },
    format: { type: 'enum', choices: DET_FORMATS, describe: 'the annotation format of --data (default: from its layout: a .json is COCO, a folder with Annotations/ VOC, one with images/ + labels/ or a data.yaml YOLO)', commands: ['train', 'eval'] },
    minSize: { type: 'int', describe: `torchvision's transform: the shorter side is resized to this (default ${DEFAULT_TRANSFORM.minSize}; a trained folder's own for other commands)`, min: 32, commands },
    maxSize: { type: 'int', describe: `...unless the longer side would pass this (default ${DEFAULT_TRANSFORM.maxSize}); images are padded to a square of this, rounded up to 32`, min: 32, commands },
    scoreThresh: { type: 'number', describe: "keep detections scoring above this (default torchvision's: FCOS 0.2, RetinaNet 0.05, SSDlite 0.001; recorded by train)", min: 0, max: 1, commands: ['train', 'eval', 'predict', 'export'] },
    nmsThresh: { type: 'number', describe: 'IoU above which class-wise NMS drops the lower-scoring box (default FCOS 0.6, RetinaNet 0.5, SSDlite 0.55)', min: 0, max: 1, commands: ['train', 'eval', 'predict', 'export'] },
    detectionsPerImg: { type: 'int', describe: 'the most detections kept per image (default FCOS 100, RetinaNet 300, SSDlite 300)', min: 1, commands: ['train', 'eval', 'predict', 'export'] },
    augment: { type: 'list', describe: `training augmentations that move the boxes with the image, seeded: ${DET_AUGMENTATIONS.join(', ')} (default flip; none or --no-augment: off). flip: horizontal, p 0.5; scale: the resized size x U(${SCALE_JITTER_RANGE.join('-')}), cropped to the canvas; crop: a window of U(${CROP_FRACTION_RANGE.join('-')}) x each side, keeping a box whose centre stays inside (clipped), dropping the rest`, placeholder: 'flip,scale,crop', commands: ['train'] },
    draw: drawOption('the boxes, each in its class colour with its label and score'),
    imageSize: { type: 'int', describe: "ssdlite320-mobilenet-v3-large: every image is resized to this square, aspect ratio not kept (default 320, torchvision's; a trained folder's own for other commands)", min: 32, commands },
    freeze: { type: 'list', describe: 'freeze parameters whose name matches the regular expression (repeatable; e.g. "^backbone\\.body\\.layer1")', placeholder: 'REGEX', commands: ['train'] },
  },
  defaults: { batchSize: 2, lr: 0.01, optimizer: 'sgd', weightDecay: 1e-4, schedule: 'linear', clipNorm: 0 },
  examples: [
    'finetune train --task object-detection --model fcos_resnet50_fpn_coco.safetensors --data train/instances.json --validation val/instances.json --out ./det',
    'finetune train --task object-detection --model resnet50.safetensors --data shapes/instances.json --min-size 320 --max-size 320 --out ./det',
    'finetune train --task object-detection --model resnet50.safetensors --arch retinanet_resnet50_fpn --data shapes/instances.json --out ./retina',
    'finetune train --task object-detection --model fcos_resnet50_fpn_coco.safetensors --data VOCdevkit/VOC2012 --augment flip,scale,crop --out ./voc-det',
    'finetune train --task object-detection --model ssdlite320-mobilenet-v3-large --data shapes/instances.json --out ./ssd',
    'finetune eval --model ./det --data val/instances.json --json',
    'finetune predict --model ./det --json street.jpg',
  ],
  predictInputs: 'IMAGE...',
  recognises: (c) => c['finetune_task'] === TASK,

  async prepare(o, runtime) {
    if (await isSsdlite(o.model)) return prepareSsdlite(o, runtime)
    const transform = transformFrom(o, DEFAULT_TRANSFORM)
    // the data first, so that its mistakes surface before a large checkpoint is read
    const first = await readDetectionTrainSource(o)
    const ck = await openDetCheckpoint(o.model, { seed: o.seed, arch: o['arch'] as DetectionArch | undefined })
    const { labels, train, validation, format, augment, skipped } = await detectionTrainingData(o, first, ck, transform)
    const same = ck.labelled && ck.labels.join('\u0000') === labels.join('\u0000')
    if (ck.labelled && !same && !o.reinitHead) throw new ConfigError('MODEL_LABELS_DIFFER', `${o.model} has a head for [${ck.labels.join(', ')}] but the data has [${labels.join(', ')}]`, 'pass --reinit-head to train a new cls_logits for your labels')
    const headFromCheckpoint = same && !o.reinitHead
    if (!headFromCheckpoint) setDetHead(ck, labels, o.seed)
    ck.settings = settingsFrom(o, ck.settings)
    if (o.method === 'frozen') for (const [n, p] of ck.model.namedParameters()) if (n.startsWith('backbone.body.') && p.kind === 'param') p.requiresGrad = false
    const frozen = freezeByName(ck.model, o['freeze'])
    if (frozen) o.log?.(`--freeze: ${frozen} parameters frozen`)
    const canvas = canvasSize(transform)
    const geo = geometry(ck.arch, canvas)
    o.log?.(`${ck.arch}: ${ck.source === 'backbone' ? `${ck.arch === 'fcos_hf_resnet_fpn' ? 'ResNet' : 'ResNet-50'} backbone from the checkpoint, new FPN and heads` : headFromCheckpoint ? 'head from the checkpoint' : 'new cls_logits'} for ${labels.length} classes; ${train.length} training / ${validation?.length ?? 0} validation images, resized to min ${transform.minSize} / max ${transform.maxSize}, padded to ${canvas}x${canvas}`)
    return {
      model: ck.model,
      headPrefixes: ck.model.headPrefixes,
      async job(optimizer): Promise<TrainingJob> {
        const s = session(ck, geo, runtime, optimizer, { seed: o.seed, ...(o.clipNorm > 0 ? { clipNorm: o.clipNorm } : {}), accumulation: o.gradAccum })
        return {
          session: s,
          trainExamples: train.length,
          evalExamples: validation?.length ?? 0,
          batchesPerEpoch: train.batchCount(o.batchSize, true),
          async *batches(epoch, start) {
            for await (const b of train.batches(epoch, start, { batchSize: o.batchSize, train: true })) yield { feeds: feeds(b, ck, geo, true), examples: b.indices.length }
          },
          ...(validation ? { evaluate: () => evaluateSplit(s, validation, ck, geo, o.evalBatchSize ?? o.batchSize, o.model) } : {}),
        }
      },
      defaultMetric: 'map',
      labels,
      headFromCheckpoint,
      trainExamples: train.length,
      evalExamples: validation?.length ?? 0,
      skipped,
      record: { data_format: format, augment: augment.join(','), arch: ck.arch, source: ck.source, min_size: transform.minSize, max_size: transform.maxSize, canvas, score_thresh: ck.settings.scoreThresh, nms_thresh: ck.settings.nmsThresh, detections_per_img: ck.settings.detectionsPerImg },
      save: (dir) => saveDetCheckpoint(dir, ck, transform),
      close: async () => {},
    }
  },

  async open(model: string, o: OpenOptions) {
    if (await isSsdlite(model)) return openSsdlite(model, o)
    const ck = await openDetCheckpoint(model, { arch: o['arch'] as DetectionArch | undefined })
    const transform = transformFrom(o, ck.transform ?? DEFAULT_TRANSFORM)
    ck.settings = settingsFrom(o, ck.settings)
    const canvas = canvasSize(transform)
    const geo = geometry(ck.arch, canvas)
    const runtime = new Runtime({ provider: o.device ?? 'cpu', ...(o.threads ? { threads: o.threads } : {}) })
    const s = session(ck, geo, runtime, { kind: 'sgd', lr: 0 })
    return {
      async evaluate(data, eo) {
        const src = await readDetectionSource({ data, format: str(eo['format']) as DetFormat | undefined, split: 'val', images: str(eo['images']), onBadRow: eo.onBadRow, labels: ck.labels })
        followEvaluation(s, eo, src.images.length)
        const metrics = await evaluateSplit(s, new DetSplit(src.images, transform, 0, false), ck, geo, eo.batchSize, model)
        return { metrics, examples: src.images.length, skipped: src.skipped.total }
      },
      async predict(paths, po) {
        return predictDetections(paths, po['draw'], ck.labels, async (path) => {
          const img = await loadDetectionImage(path, transform)
          const b: DetBatch = { pixels: img.pixels, shape: [1, 3, canvas, canvas], indices: [0], sizes: [img.size], originals: [img.original], targets: [] }
          return detectionsOf(await s.evaluate(feeds(b, ck, geo, false)), b, geo, ck, model)[0]!
        })
      },
      async export(eo) {
        if (eo.format === 'safetensors') {
          if (eo.out.endsWith('.safetensors')) {
            await mkdir(dirname(eo.out) || '.', { recursive: true })
            await writeSafetensorsFile(eo.out, detTensors(ck.model), { format: 'pt' })
          } else await saveDetCheckpoint(eo.out, ck, transform)
          return { path: eo.out, inputs: {} }
        }
        // the network with box decoding, clipping and scores in the graph, then NMS appended in
        // plain ONNX (onnx.ts): a standalone detector for one resized, normalised, padded image
        if (eo.batchSize !== 1) throw new ConfigError('EXPORT_BATCH', `the detector export takes one image at a time (got --batch-size ${eo.batchSize})`, 'export without --batch-size, or with --batch-size 1')
        const bytes = exportInferenceOnnx({
          model: ck.model,
          inputs: { pixel_values: { shape: [1, 3, canvas, canvas], dtype: 'float32' }, image_size: { shape: [2], dtype: 'float32' } },
          forward: (i, g) => {
            const limits = i['image_size']!.gather(g.constant([1, 0, 1, 0], [4], 'int64'), 0)       // (4): w h w h
            return DETECTOR_KITS[ck.arch].scoredBoxes(ck.model, i['pixel_values']!, limits, g, geo)
          },
          rewrite: (m) => appendDetectionNms(m, ck.settings, geo.counts),
          metadata: { arch: ck.arch, task: TASK, id2label: JSON.stringify(Object.fromEntries(ck.labels.map((l, i) => [i, l]))), image_mean: '0.485,0.456,0.406', image_std: '0.229,0.224,0.225', min_size: String(transform.minSize), max_size: String(transform.maxSize), canvas: String(canvas), score_thresh: String(ck.settings.scoreThresh), nms_thresh: String(ck.settings.nmsThresh), detections_per_img: String(ck.settings.detectionsPerImg) },
        })
        await mkdir(dirname(eo.out) || '.', { recursive: true })
        await writeFileAtomic(eo.out, [bytes])
        return { path: eo.out, inputs: { pixel_values: [1, 3, canvas, canvas], image_size: [2] } }
      },
      async inspect() {
        const byModule: Record<string, number> = {}
        for (const [n, p] of ck.model.namedParameters()) if (p.kind === 'param') byModule[n.split('.').slice(0, 2).join('.')] = (byModule[n.split('.').slice(0, 2).join('.')] ?? 0) + p.data.length
        const json = { path: model, task: TASK, arch: ck.arch, parameters: ck.model.countParameters(), trainable: ck.model.countParameters(true), numClasses: ck.model.numClasses, labels: ck.labels, minSize: transform.minSize, maxSize: transform.maxSize, ...ck.settings, byModule }
        return {
          json,
          byModule,
          rows: [
            ['model', model],
            ['task', TASK],
            ['architecture', `${ck.arch} (${DETECTION_ARCHS.join(', ')})`],
            ['parameters', `${json.parameters.toLocaleString()} (${json.trainable.toLocaleString()} trainable${ck.arch === 'fcos_hf_resnet_fpn' ? '' : "; the backbone's BatchNorms are frozen"})`],
            ['classes', `${ck.labels.length}: ${ck.labels.slice(0, 20).join(', ')}${ck.labels.length > 20 ? ', ...' : ''}`],
            ['transform', `min ${transform.minSize}, max ${transform.maxSize}, canvas ${canvas}x${canvas}`],
            ['post-processing', `score > ${ck.settings.scoreThresh}, NMS IoU ${ck.settings.nmsThresh}, at most ${ck.settings.detectionsPerImg} per image`],
          ],
        }
      },
      close: () => runtime.dispose(),
    }
  },
}
