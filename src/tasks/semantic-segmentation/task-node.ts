/**
 * `semantic-segmentation`: a class per pixel. Models: torchvision's fcn_resnet50,
 * deeplabv3_resnet50, deeplabv3_mobilenet_v3_large, lraspp_mobilenet_v3_large (src/models/
 * segmentation.ts), from a segmentation state dict, a trained folder, or a classifier's backbone
 * (checkpoint-node.ts). Data: image + index-mask folders, Pascal VOC, COCO polygons (data-node.ts).
 * Loss: per-pixel cross entropy with 255 ignored, plus 0.5 x the auxiliary head's (torchvision's
 * reference training). Metrics: mIoU, mean class accuracy and pixel accuracy (metrics-segmentation.ts,
 * per class too). Predict writes palette PNG masks at each image's own size.
 */
import { existsSync, statSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { basename, dirname, extname, join } from 'node:path'
import { deflateSync } from 'node:zlib'
import { ConfigError, GraphError } from '../../errors.js'
import { trace } from '../../graph/graph.js'
import { writeFileAtomic, writeSafetensorsFile } from '../../checkpoint/io-node.js'
import { mergeReports } from '../../data/errors.js'
import { encodeIndexPng, vocPalette } from '../../data/index-mask.js'
import { canvasOf, overlayMask } from '../../data/draw.js'
import { Drawings, drawOption } from '../draw-node.js'
import { resizeImage } from '../../data/image-transforms.js'
import { decodeImageFile } from '../../data/image-decode-node.js'
import { exportInferenceOnnx } from '../../export/onnx.js'
import { IGNORE_INDEX, SEGMENTATION_ARCHS, segmentationLoss, type SegmentationModel } from '../../models/segmentation.js'
import { modelTensors } from '../../models/pretrained-node.js'
import { freezeBatchNorm } from '../../models/vision.js'
import type { OptimizerConfig } from '../../optim/optimizers.js'
import { Runtime } from '../../runtime/session.js'
import { SegmentationMeter } from '../../train/metrics-segmentation.js'
import { TrainSession } from '../../train/step.js'
import type { TrainingJob } from '../../train/trainer.js'
import { attachAdapters, saveWithAdapter, unmergedAdapter } from '../adapter-node.js'
import { followEvaluation, assertFiniteOutputs, freezeByName, softmax, type OpenOptions, type PredictRecord, type Task } from '../task.js'
import { openSegCheckpoint, saveSegCheckpoint, setSegHead, TASK, type SegCheckpoint } from './checkpoint-node.js'
import { normalise, readSegmentationSource, scanClasses, SegSplit, splitExamples, type SegBatch } from './data-node.js'

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined)
const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined)
const list = (v: unknown): string[] | undefined => (Array.isArray(v) && v.length ? v.flatMap((x) => String(x).split(',')).map((x) => x.trim()).filter((x) => x) : undefined)

const DEFAULT_SIZE = 480

const feeds = (b: SegBatch) => ({
  pixels: { data: b.pixels, shape: b.shape, dtype: 'float32' as const },
  masks: { data: b.masks, shape: [b.shape[0], b.shape[2], b.shape[3]], dtype: 'int64' as const },
})

/** The session every command shares: training loss (with aux), evaluation loss and per-pixel argmax. */
function session(model: SegmentationModel, runtime: Runtime, optimizer: OptimizerConfig, o: { seed?: number; clipNorm?: number; accumulation?: number } = {}): TrainSession {
  return new TrainSession({
    runtime,
    model,
    optimizer,
    ...o,
    forward: (i, g) => {
      if (g.training) return { loss: model.forwardLoss(i['pixels']!, i['masks']!).loss }
      const logits = model.logits(i['pixels']!)                                        // (B, K, H, W)
      return {
        ...(i['masks'] ? { loss: segmentationLoss(logits, i['masks']) } : {}),
        outputs: { pred: logits.argmax(1), mean_logits: logits.mean([2, 3]) },         // (B, H, W), (B, K)
      }
    },
  })
}

/** mIoU, mean class accuracy, pixel accuracy, per-class IoU and eval_loss over a split. */
async function evaluateSplit(session: TrainSession, split: SegSplit, labels: readonly string[], batchSize: number): Promise<Record<string, number>> {
  const meter = new SegmentationMeter(labels.length, IGNORE_INDEX)
  let lossSum = 0
  let n = 0
  // a long pass runs with today's weights as constants (BatchNorm folded, faster depthwise kernels)
  await session.forwardPass(split.batchCount(batchSize, false), async (s) => {
    for await (const b of split.batches(0, 0, { batchSize, train: false })) {
      const r = await s.evaluate(feeds(b))
      const pred = r.outputs['pred']!.data as BigInt64Array
      meter.update(Array.from(pred, Number), Array.from(b.masks, Number), 'validation masks')
      lossSum += (r.loss ?? 0) * b.indices.length
      n += b.indices.length
    }
  })
  const m = meter.compute()
  const perClass: Record<string, number> = {}
  labels.forEach((l, c) => {
    if (!Number.isNaN(m.iou[c]!)) perClass[`iou_${l}`] = m.iou[c]!
  })
  return { eval_loss: lossSum / Math.max(n, 1), mIoU: m.mIoU, mAcc: m.mAcc, pixel_accuracy: m.aAcc, ...perClass }
}

function traceCheck(ck: SegCheckpoint, size: number, batch: number): void {
  try {
    trace((g) => ck.model.logits(g.input('pixels', [batch, 3, size, size])))
  } catch (e) {
    if (e instanceof GraphError) throw new ConfigError('IMAGE_SIZE', `${ck.arch} cannot take ${size}x${size} images: ${e.message}`, 'choose a larger --image-size (at least 32)')
    throw e
  }
}

export const semanticSegmentation: Task = {
  name: TASK,
  summary: 'a class per pixel (FCN, DeepLabV3, LR-ASPP; torchvision names; image + index-PNG masks, VOC, COCO polygons)',
  modality: 'image',
  options: {
    arch: { type: 'enum', choices: SEGMENTATION_ARCHS, describe: 'architecture of a bare state dict (a segmentation model, or a resnet50 / mobilenet_v3_large classifier for the backbone)', commands: ['train', 'eval', 'predict', 'export', 'inspect'] },
    imageSize: { type: 'int', describe: `square training crop and evaluation size (default ${DEFAULT_SIZE}, torchvision's crop; a trained folder's own for other commands)`, min: 32, commands: ['train', 'eval', 'predict', 'export'] },
    masks: { type: 'string', describe: 'masks folder when --data is the images folder (<stem>.png per image, class index per pixel, 255 = ignore)', placeholder: 'DIR', commands: ['train', 'eval'] },
    images: { type: 'string', describe: 'COCO: the images folder of the instances JSON (default: images/ beside it, else its folder)', placeholder: 'DIR', commands: ['train', 'eval'] },
    labels: { type: 'list', describe: 'class names in index order (default: classes.txt beside the data, VOC\'s, COCO\'s, or the masks\' indices)', placeholder: 'NAME', commands: ['train'] },
    augment: { type: 'boolean', describe: 'random resize (0.5-2x), crop and flip of training images and masks together (--no-augment)', default: true, commands: ['train'] },
    freezeBn: { type: 'boolean', describe: 'keep BatchNorm statistics frozen (inference mode) while training', default: false, commands: ['train'] },
    freeze: { type: 'list', describe: 'freeze parameters whose name matches the regular expression (repeatable; e.g. "^backbone\\.")', placeholder: 'REGEX', commands: ['train'] },
    maskDir: { type: 'string', describe: 'where predict writes the masks (palette PNGs, <image stem>.png)', default: 'predicted-masks', placeholder: 'DIR', commands: ['predict'] },
    draw: drawOption('the mask over the image, half transparent, in the VOC palette (class 0 left clear)'),
  },
  defaults: { batchSize: 4, lr: 0.01, optimizer: 'sgd', weightDecay: 1e-4, schedule: 'linear', clipNorm: 0 },
  examples: [
    'finetune train --task semantic-segmentation --model deeplabv3_mobilenet_v3_large.safetensors --arch deeplabv3_mobilenet_v3_large --data scenes/ --out ./seg',
    'finetune train --task semantic-segmentation --model resnet50.safetensors --arch fcn_resnet50 --data VOCdevkit/VOC2012 --out ./voc-fcn',
    'finetune eval --model ./seg --data scenes-test/ --json',
    'finetune predict --model ./seg --mask-dir out/ street.jpg',
  ],
  predictInputs: 'IMAGE...',
  recognises: (c) => c['finetune_task'] === TASK,

  async prepare(o, runtime) {
    const size = num(o['imageSize']) ?? DEFAULT_SIZE
    const src = await readSegmentationSource({ data: o.data, masks: str(o['masks']), images: str(o['images']), onBadRow: o.onBadRow, labels: list(o['labels']) })
    let labels = list(o['labels']) ?? src.labels
    let skipped = src.skipped
    if (!labels) {
      const scan = await scanClasses(src.examples, o.onBadRow)
      skipped = mergeReports(skipped, scan.skipped)
      labels = Array.from({ length: scan.numClasses }, (_, i) => String(i))
      o.log?.(`classes: no names given (--labels or classes.txt); the masks hold indices 0..${scan.numClasses - 1}`)
    }
    if (labels.length > 255) throw new ConfigError('DATA_TOO_MANY_CLASSES', `${labels.length} classes; index masks hold 0..254 (255 = ignore)`, 'merge classes, or check --labels')
    let trainEx = src.examples
    let valEx = o.validation ? (await readSegmentationSource({ data: o.validation, masks: undefined, images: str(o['images']), onBadRow: o.onBadRow, labels, split: 'val' })).examples : []
    if (!o.validation) {
      if (src.labels && existsSync(join(o.data, 'ImageSets', 'Segmentation', 'val.txt'))) valEx = (await readSegmentationSource({ data: o.data, onBadRow: o.onBadRow, split: 'val' })).examples
      else ({ train: trainEx, validation: valEx } = splitExamples(src.examples, o.validationSplit, o.seed))
    }
    const augment = o['augment'] !== false
    const train = new SegSplit(trainEx, labels.length, size, o.seed, augment)
    const validation = valEx.length ? new SegSplit(valEx, labels.length, size, o.seed, false) : undefined
    if (train.batchCount(o.batchSize, true) === 0) throw new ConfigError('DATA_TOO_FEW', `${trainEx.length} training image(s), fewer than one batch of ${o.batchSize} (the last incomplete batch is dropped, as torchvision's reference does)`, 'lower --batch-size or add images')

    const ck = await openSegCheckpoint(o.model, { arch: str(o['arch']), seed: o.seed, numClasses: labels.length })
    const same = ck.labelled && ck.labels.join('\u0000') === labels.join('\u0000')
    if (ck.labelled && !same && !o.reinitHead) throw new ConfigError('MODEL_LABELS_DIFFER', `${o.model} has a head for [${ck.labels.join(', ')}] but the data has [${labels.join(', ')}]`, 'pass --reinit-head to train new class convolutions (classifier.4 / aux_classifier.4) for your labels')
    const headFromCheckpoint = same && !o.reinitHead
    // a backbone checkpoint already has fresh heads for the data's classes
    if (!headFromCheckpoint && !(ck.source === 'backbone' && ck.model.numClasses === labels.length)) setSegHead(ck, labels, o.seed)
    ck.labels = [...labels]
    ck.labelled = true
    if (o['freezeBn'] === true) freezeBatchNorm(ck.model as never)
    else if (ck.arch.startsWith('deeplabv3') && o.batchSize < 2) throw new ConfigError('CONFIG_BATCH', `${ck.arch} trains with batch statistics and its ASPP image pooling has one value per channel and image: batch size 1 cannot normalise it (PyTorch refuses it too)`, 'use --batch-size 2 or more, or --freeze-bn')
    if (o.method === 'frozen') {
      // the backbone is a fixed function (weights and BatchNorm statistics); the heads train. No
      // feature cache: augmentation changes every input.
      for (const [n, p] of ck.model.namedParameters()) if (n.startsWith('backbone.') && p.kind === 'param') p.requiresGrad = false
      freezeBatchNorm(ck.model.backbone as never)
    }
    const frozen = freezeByName(ck.model, o['freeze'])
    if (frozen) o.log?.(`--freeze: ${frozen} parameters frozen`)
    traceCheck(ck, size, 1)
    o.log?.(`${ck.arch}: ${ck.source === 'backbone' ? 'backbone from the checkpoint, new heads' : headFromCheckpoint ? 'heads from the checkpoint' : 'new class convolutions'} for ${labels.length} classes; ${train.length} training / ${validation?.length ?? 0} validation images at ${size}x${size}`)
    return {
      model: ck.model,
      headPrefixes: ck.model.headPrefixes,
      async job(optimizer): Promise<TrainingJob> {
        const s = session(ck.model, runtime, optimizer, { seed: o.seed, ...(o.clipNorm > 0 ? { clipNorm: o.clipNorm } : {}), accumulation: o.gradAccum })
        return {
          session: s,
          trainExamples: train.length,
          evalExamples: validation?.length ?? 0,
          batchesPerEpoch: train.batchCount(o.batchSize, true),
          async *batches(epoch, start) {
            for await (const b of train.batches(epoch, start, { batchSize: o.batchSize, train: true })) yield { feeds: feeds(b), examples: b.indices.length }
          },
          ...(validation ? { evaluate: () => evaluateSplit(s, validation, labels!, o.evalBatchSize ?? o.batchSize) } : {}),
        }
      },
      defaultMetric: 'mIoU',
      labels,
      headFromCheckpoint,
      trainExamples: train.length,
      evalExamples: validation?.length ?? 0,
      skipped: skipped.total,
      record: { arch: ck.arch, source: ck.source, image_size: size, aux_weight: ck.model.hasAux ? ck.model.auxWeight : 0 },
      save: (dir) => saveSegCheckpoint(dir, ck, size),
      close: async () => {},
    }
  },

  async open(model: string, o: OpenOptions) {
    const ck = await openSegCheckpoint(model, { arch: str(o['arch']) })
    const lora = await attachAdapters(ck.model, model, o['adapter'])
    const size = num(o['imageSize']) ?? ck.imageSize ?? DEFAULT_SIZE
    const runtime = new Runtime({ provider: o.device ?? 'cpu', ...(o.threads ? { threads: o.threads } : {}) })
    const s = session(ck.model, runtime, { kind: 'sgd', lr: 0 })
    return {
      async evaluate(data, eo) {
        const src = await readSegmentationSource({ data, masks: str(eo['masks']), images: str(eo['images']), onBadRow: eo.onBadRow, labels: ck.labels, split: 'val' })
        followEvaluation(s, eo, src.examples.length)
        const metrics = await evaluateSplit(s, new SegSplit(src.examples, ck.labels.length, size, 0, false), ck.labels, eo.batchSize)
        return { metrics, examples: src.examples.length, skipped: src.skipped.total }
      },
      async predict(paths, po) {
        if (paths.length === 0) throw new ConfigError('CLI_USAGE', 'finetune predict: give image files as arguments', 'run "finetune predict --help"')
        const dir = str(po['maskDir']) ?? 'predicted-masks'
        if (existsSync(dir) && !statSync(dir).isDirectory()) throw new ConfigError('PREDICT_MASK_DIR', `--mask-dir ${dir} is a file`, 'pass a folder for the predicted masks')
        await mkdir(dir, { recursive: true })
        const drawings = await Drawings.open(po['draw'])
        const out: PredictRecord[] = []
        for (const path of paths) {
          const img = await decodeImageFile(path)
          const small = img.width === size && img.height === size ? img : resizeImage(img, size, size, 'bilinear')
          const rgb = small.channels === 3 ? small : { ...small, channels: 3 as const, data: Uint8Array.from({ length: small.width * small.height * 3 }, (_, i) => small.data[Math.floor(i / 3)]!) }
          const r = await s.evaluate({ pixels: { data: normalise(rgb), shape: [1, 3, size, size], dtype: 'float32' } })
          const mean = Array.from(r.outputs['mean_logits']!.data as Float32Array)
          assertFiniteOutputs(mean, model, path)
          const pred = Uint8Array.from(r.outputs['pred']!.data as BigInt64Array, Number)
          // back to the image's own size, nearest neighbour (as masks are resized everywhere)
          const mask = img.width === size && img.height === size ? pred : resizeImage({ width: size, height: size, channels: 1, data: pred }, img.width, img.height, 'nearest').data
          const file = join(dir, `${basename(path, extname(path))}.png`)
          await writeFileAtomic(file, [encodeIndexPng({ width: img.width, height: img.height, data: mask }, (z) => deflateSync(z))])
          let drawn: string | undefined
          if (drawings) {
            const canvas = canvasOf(img)
            overlayMask(canvas, mask, vocPalette())
            drawn = await drawings.write(path, canvas)
          }
          const counts = new Array<number>(ck.labels.length).fill(0)
          for (const v of mask) counts[v]!++
          const pixels = Object.fromEntries(ck.labels.map((l, c) => [l, counts[c]!]).filter(([, c]) => (c as number) > 0))
          const best = counts.indexOf(Math.max(...counts))
          out.push({ path, mask: file, ...(drawn ? { drawn } : {}), label: ck.labels[best]!, score: counts[best]! / mask.length, pixels, probabilities: softmax(mean), logits: mean })
        }
        return out
      },
      async export(eo) {
        const adapter = unmergedAdapter(ck.model, lora, eo)
        if (eo.format === 'safetensors') {
          if (eo.out.endsWith('.safetensors')) {
            await mkdir(dirname(eo.out) || '.', { recursive: true })
            await writeSafetensorsFile(eo.out, modelTensors(ck.model as never), { format: 'pt' })
            return { path: eo.out, inputs: {} }
          }
          await saveWithAdapter(eo.out, ck.model, adapter, (d) => saveSegCheckpoint(d, ck, size), { merge: false, baseModel: model, task: TASK })
          return { path: eo.out, inputs: {} }
        }
        const B = eo.batchSize
        traceCheck(ck, size, B)
        const bytes = exportInferenceOnnx({
          dynamicBatch: eo.dynamicBatch,
          model: ck.model,
          inputs: { pixel_values: { shape: [B, 3, size, size], dtype: 'float32' } },
          forward: (i) => ({ logits: ck.model.logits(i['pixel_values']!) }),
          metadata: { arch: ck.arch, task: TASK, id2label: JSON.stringify(Object.fromEntries(ck.labels.map((l, i) => [i, l]))), image_mean: '0.485,0.456,0.406', image_std: '0.229,0.224,0.225' },
        })
        await mkdir(dirname(eo.out) || '.', { recursive: true })
        await writeFileAtomic(eo.out, [bytes])
        return { path: eo.out, inputs: { pixel_values: [B, 3, size, size] } }
      },
      async inspect() {
        const byModule: Record<string, number> = {}
        for (const [n, p] of ck.model.namedParameters()) if (p.kind === 'param') byModule[n.split('.')[0]!] = (byModule[n.split('.')[0]!] ?? 0) + p.data.length
        const json = { path: model, task: TASK, arch: ck.arch, parameters: ck.model.countParameters(), numClasses: ck.model.numClasses, head: ck.model.headPrefixes, aux: ck.model.hasAux, labels: ck.labels, imageSize: size, byModule }
        return {
          json,
          byModule,
          rows: [
            ['model', model],
            ['task', TASK],
            ['architecture', ck.arch],
            ['parameters', json.parameters.toLocaleString()],
            ['head', ck.model.headPrefixes.join(', ')],
            ['auxiliary head', ck.model.hasAux ? 'yes (loss weight 0.5)' : 'no'],
            ['classes', `${ck.labels.length}: ${ck.labels.slice(0, 20).join(', ')}${ck.labels.length > 20 ? ', ...' : ''}`],
            ['image size', `${size}x${size}`],
          ],
        }
      },
      close: () => runtime.dispose(),
    }
  },
}
