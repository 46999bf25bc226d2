/**
 * `object-detection` with torchvision's ssdlite320_mobilenet_v3_large (src/models/ssdlite.ts): the
 * task's train / eval / predict / export / inspect for this architecture; task-node.ts hands a model
 * over here when isSsdlite() says it is one. Sources (--model):
 * - the name `ssdlite320-mobilenet-v3-large` (or torchvision's `ssdlite320_mobilenet_v3_large`): the
 *   network as torchvision's builder makes it without weights (reduced tail, N(0, 0.03) convs);
 * - a torchvision ssdlite320_mobilenet_v3_large state dict (.safetensors: backbone.features.*,
 *   backbone.extra.*, head.*), e.g. its COCO weights converted (91 classes: the classification head is
 *   replaced for the data's labels); the tail (reduced or full) is read from the weights;
 * - a torchvision mobilenet_v3_large classifier (.safetensors: features.*, classifier.* left out) for
 *   the backbone, as the builder does with an ImageNet backbone (full tail); extra blocks and heads new;
 * - a folder finetune trained (config.json: finetune_arch "ssdlite320_mobilenet_v3_large").
 * Transform: SSD's, not the R-CNN family's: every image resized to a fixed square (--image-size,
 * torchvision's 320) without keeping its aspect ratio and without padding, normalised with mean and
 * std 0.5; boxes scale by the two ratios, and detections scale back to the original image.
 * Classes: the head has K + 1 outputs, background first, as torchvision's num_classes counts it.
 * The saved model.safetensors loads into torchvision's ssdlite320_mobilenet_v3_large(num_classes=K + 1)
 * (reduced_tail as config.json records) with load_state_dict, strict.
 */
import { existsSync, statSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { dirname, extname, join } from 'node:path'
import { CheckpointError, ConfigError } from '../../errors.js'
import { readJsonFile, writeFileAtomic, writeSafetensorsFile } from '../../checkpoint/io-node.js'
import { openSafetensorsFile } from '../../checkpoint/safetensors-node.js'
import type { SafetensorsFile } from '../../checkpoint/safetensors.js'
import { exportInferenceOnnx } from '../../export/onnx.js'
import { concat, type Tensor } from '../../graph/graph.js'
import { guardAllocation } from '../../models/config-sizes.js'
import { rescaleBoxes } from '../../models/fcos.js'
import { loadWeights, type WeightSource } from '../../models/load.js'
import { modelTensors } from '../../models/pretrained-node.js'
import { SSDLite, SSDLITE_DEFAULTS, SSDLITE_MEAN, SSDLITE_SIZE, SSDLITE_STD, ssdDefaultBoxes, ssdLevels, ssdLoss, ssdPostprocess, ssdTargets, type SsdSettings } from '../../models/ssdlite.js'
import type { OptimizerConfig } from '../../optim/optimizers.js'
import { Rng } from '../../runtime/rng.js'
import { Runtime, type HostTensor } from '../../runtime/session.js'
import type { DetectionPrediction } from '../../train/metrics-detection.js'
import { TrainSession } from '../../train/step.js'
import type { TrainingJob } from '../../train/trainer.js'
import { followEvaluation, assertFiniteOutputs, freezeByName, type OpenedModel, type OpenOptions, type PreparedTraining, type TaskTrainOptions } from '../task.js'
import { TASK } from './checkpoint-node.js'
import { predictDetections } from './predict-node.js'
import { DetSplit, evaluateDetectionSplit, loadDetectionImage, readDetectionSource, readDetectionTrainSource, detectionTrainingData, type DetBatch, type DetFormat, type DetTransform } from './data-node.js'
import { appendDetectionNms } from './onnx.js'
import { keepTopkPerClass } from './ssdlite-onnx.js'

export const SSDLITE_ARCH = 'ssdlite320_mobilenet_v3_large'
/** The names --model accepts for a new SSDlite. */
export const SSDLITE_NAMES = ['ssdlite320-mobilenet-v3-large', SSDLITE_ARCH] as const
const HEAD_KEY = 'head.classification_head.module_list.0.1.weight'
const TAIL_KEY = 'backbone.features.1.3.0.weight'
const CLASSIFIER_TAIL_KEY = 'features.16.0.weight'

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined)
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined)

interface SsdCheckpoint {
  source: 'detection' | 'backbone' | 'scratch'
  model: SSDLite
  labels: string[]
  labelled: boolean
  imageSize: number | null
  settings: SsdSettings
}

/** Whether `model` names an SSDlite: the name, a folder whose config.json says so, or a state dict with its keys. */
export async function isSsdlite(model: string): Promise<boolean> {
  if ((SSDLITE_NAMES as readonly string[]).includes(model)) return true
  if (!existsSync(model)) return false
  let file = model
  if (statSync(model).isDirectory()) {
    const cfg = join(model, 'config.json')
    if (existsSync(cfg)) return ((await readJsonFile(cfg, 'model config')) as Record<string, unknown>)['finetune_arch'] === SSDLITE_ARCH
    file = join(model, 'model.safetensors')
    if (!existsSync(file)) return false
  }
  if (extname(file) !== '.safetensors') return false
  const f = await openSafetensorsFile(file)
  try {
    return f.has(TAIL_KEY)
  } finally {
    await f.close()
  }
}

const build = (numClasses: number, reducedTail: boolean, seed: number | undefined, where: string): SSDLite =>
  guardAllocation(() => {
    const m = new SSDLite(numClasses, { reducedTail, ...(seed !== undefined ? { seed } : {}) })
    m.nameParameters()
    return m
  }, where)

const generic = (n: number): string[] => Array.from({ length: n }, (_, i) => `LABEL_${i}`)

/** A mobilenet_v3_large classifier's `features` seen as the SSDlite backbone's keys (C4 split at its expansion conv). */
function backboneView(f: SafetensorsFile): WeightSource {
  const map = new Map<string, string>()
  for (const k of f.keys()) {
    const m = /^features\.(\d+)\.(.*)$/.exec(k)
    if (!m) continue
    const [i, rest] = [Number(m[1]), m[2]!]
    if (i < 13) map.set(`backbone.features.0.${i}.${rest}`, k)
    else if (i === 13) {
      const b = /^block\.(\d)\.(.*)$/.exec(rest)!
      map.set(b[1] === '0' ? `backbone.features.0.13.${b[2]}` : `backbone.features.1.0.${b[1]}.${b[2]}`, k)
    } else map.set(`backbone.features.1.${i - 13}.${rest}`, k)
  }
  return { name: f.name, keys: () => [...map.keys()], info: (k) => f.info(map.get(k)!), readAsFloat32: (k) => f.readAsFloat32(map.get(k)!) }
}

const rehint = (file: string) => (e: unknown): never => {
  if (e instanceof CheckpointError && /MISSING_KEYS|UNEXPECTED_KEYS|SHAPE_MISMATCH/.test(e.code))
    throw new CheckpointError(e.code, e.message, `is ${file} a torchvision ssdlite320_mobilenet_v3_large state dict, or a mobilenet_v3_large classifier for its backbone?`)
  throw e
}

async function loadFile(file: string, seed: number | undefined): Promise<SsdCheckpoint> {
  const f = await openSafetensorsFile(file)
  try {
    if (f.has(TAIL_KEY)) {
      const classes = f.has(HEAD_KEY) ? f.info(HEAD_KEY).shape[0]! / 6 : 91
      const model = build(classes, f.info(TAIL_KEY).shape[0] === 480, seed, file)
      await loadWeights(model, f, { newOk: f.has(HEAD_KEY) ? [] : [...model.headPrefixes] }).catch(rehint(file))
      return { source: 'detection', model, labels: generic(classes - 1), labelled: false, imageSize: null, settings: { ...SSDLITE_DEFAULTS } }
    }
    if (!f.has(CLASSIFIER_TAIL_KEY)) throw new CheckpointError('MODEL_NOT_DETECTION', `${file} is neither an SSDlite state dict (backbone.features.*, backbone.extra.*, head.*) nor a MobileNetV3-Large classifier (features.0..16.*)`, 'pass a torchvision ssdlite320_mobilenet_v3_large or mobilenet_v3_large state dict, a folder trained with --task object-detection, or --model ssdlite320-mobilenet-v3-large for a new one')
    const model = build(91, f.info(CLASSIFIER_TAIL_KEY).shape[0] === 480, seed, file)
    await loadWeights(model, backboneView(f), { newOk: ['backbone.extra', 'head'] }).catch(rehint(file))
    return { source: 'backbone', model, labels: generic(90), labelled: false, imageSize: null, settings: { ...SSDLITE_DEFAULTS } }
  } finally {
    await f.close()
  }
}

/** Opens an SSDlite from any source the module comment lists. */
export async function openSsdCheckpoint(path: string, o: { seed?: number | undefined } = {}): Promise<SsdCheckpoint> {
  if ((SSDLITE_NAMES as readonly string[]).includes(path)) return { source: 'scratch', model: build(91, true, o.seed, path), labels: generic(90), labelled: false, imageSize: null, settings: { ...SSDLITE_DEFAULTS } }
  const dir = statSync(path).isDirectory() ? path : null
  if (dir && existsSync(join(dir, 'config.json'))) {
    const cfgPath = join(dir, 'config.json')
    const cfg = (await readJsonFile(cfgPath, 'model config')) as Record<string, unknown>
    const id2 = (cfg['id2label'] ?? {}) as Record<string, string>
    const labels = Object.keys(id2).sort((x, y) => Number(x) - Number(y)).map((k) => id2[k]!)
    if (labels.length === 0) throw new ConfigError('MODEL_CONFIG_FIELD', `${cfgPath}: id2label is empty or missing`, 'repair config.json (id2label maps "0".."K-1" to the class names, background not included)')
    const model = build(labels.length + 1, cfg['reduced_tail'] !== false, o.seed, cfgPath)
    const f = await openSafetensorsFile(join(dir, 'model.safetensors'))
    try {
      await loadWeights(model, f).catch(rehint(f.name))
    } finally {
      await f.close()
    }
    const settings: SsdSettings = {
      scoreThresh: num(cfg['score_thresh']) ?? SSDLITE_DEFAULTS.scoreThresh,
      nmsThresh: num(cfg['nms_thresh']) ?? SSDLITE_DEFAULTS.nmsThresh,
      detectionsPerImg: num(cfg['detections_per_img']) ?? SSDLITE_DEFAULTS.detectionsPerImg,
      topkCandidates: num(cfg['topk_candidates']) ?? SSDLITE_DEFAULTS.topkCandidates,
      iouThresh: num(cfg['iou_thresh']) ?? SSDLITE_DEFAULTS.iouThresh,
      negToPos: SSDLITE_DEFAULTS.negToPos,
    }
    return { source: 'detection', model, labels, labelled: true, imageSize: num(cfg['image_size']) ?? null, settings }
  }
  return loadFile(dir ? join(dir, 'model.safetensors') : path, o.seed)
}

/** The state dict as torchvision's ssdlite320_mobilenet_v3_large has it (num_batches_tracked as int64). */
export const ssdTensors = (model: SSDLite): ReturnType<typeof modelTensors> => modelTensors(model as never)

async function saveSsd(dir: string, ck: SsdCheckpoint, size: number): Promise<void> {
  await mkdir(dir, { recursive: true })
  const s = ck.settings
  const config = {
    finetune_task: TASK,
    finetune_arch: SSDLITE_ARCH,
    architectures: [SSDLITE_ARCH],
    // torchvision's num_classes counts the background (class 0); id2label lists the others, label i being class i + 1
    num_classes: ck.labels.length + 1,
    id2label: Object.fromEntries(ck.labels.map((l, i) => [String(i), l])),
    label2id: Object.fromEntries(ck.labels.map((l, i) => [l, i])),
    reduced_tail: ck.model.reducedTail,
    image_size: size,
    image_mean: [...SSDLITE_MEAN],
    image_std: [...SSDLITE_STD],
    score_thresh: s.scoreThresh,
    nms_thresh: s.nmsThresh,
    detections_per_img: s.detectionsPerImg,
    topk_candidates: s.topkCandidates,
    iou_thresh: s.iouThresh,
  }
  await writeSafetensorsFile(join(dir, 'model.safetensors'), ssdTensors(ck.model), { format: 'pt' })
  await writeFileAtomic(join(dir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`)
}

const transformOf = (size: number): DetTransform => ({ minSize: size, maxSize: size, fixedSize: size, mean: SSDLITE_MEAN, std: SSDLITE_STD })

/** The image size: --image-size, else a trained folder's, else torchvision's 320; --min-size / --max-size / --arch do not apply. */
function sizeFrom(o: Record<string, unknown>, recorded: number | null): number {
  if (o['arch'] !== undefined) throw new ConfigError('MODEL_ARCH_MISMATCH', `--arch ${String(o['arch'])} names another detector than ${SSDLITE_ARCH}`, 'drop --arch: an SSDlite is chosen by --model ssdlite320-mobilenet-v3-large, its state dict or its trained folder')
  for (const k of ['minSize', 'maxSize'] as const) if (o[k] !== undefined) throw new ConfigError('CONFIG_IMAGE_SIZE', `--${k === 'minSize' ? 'min' : 'max'}-size ${String(o[k])} does not apply to ${SSDLITE_ARCH}: SSD resizes every image to one fixed square`, `pass --image-size (default ${SSDLITE_SIZE}, torchvision's) instead`)
  const size = num(o['imageSize']) ?? recorded ?? SSDLITE_SIZE
  if (size < 32) throw new ConfigError('CONFIG_IMAGE_SIZE', `--image-size ${size} is below 32`, `pass --image-size 32 or more (torchvision's is ${SSDLITE_SIZE})`)
  return size
}

function settingsFrom(o: Record<string, unknown>, base: SsdSettings): SsdSettings {
  return {
    ...base,
    ...(num(o['scoreThresh']) !== undefined ? { scoreThresh: num(o['scoreThresh'])! } : {}),
    ...(num(o['nmsThresh']) !== undefined ? { nmsThresh: num(o['nmsThresh'])! } : {}),
    ...(num(o['detectionsPerImg']) !== undefined ? { detectionsPerImg: num(o['detectionsPerImg'])! } : {}),
  }
}

interface Geometry {
  size: number
  anchors: Float32Array
}
const geometryOf = (size: number): Geometry => ({ size, anchors: ssdDefaultBoxes(size, size, ssdLevels(size)) })

/** Pixels, plus SSD's matched targets when `withTargets` (training and eval loss). */
function feeds(b: DetBatch, model: SSDLite, geo: Geometry, iouThresh: number, withTargets: boolean): Record<string, HostTensor> {
  const f: Record<string, HostTensor> = { pixels: { data: b.pixels, shape: b.shape, dtype: 'float32' } }
  if (!withTargets) return f
  const B = b.shape[0]
  const A = geo.anchors.length / 4
  const t = ssdTargets(geo.anchors, model.numClasses, b.targets, iouThresh)
  f['t_cls'] = { data: t.cls, shape: [B, A, model.numClasses], dtype: 'float32' }
  f['t_reg'] = { data: t.reg, shape: [B, A, 4], dtype: 'float32' }
  f['t_fg'] = { data: t.fg, shape: [B, A], dtype: 'float32' }
  f['t_norm'] = { data: new Float32Array([t.norm]), shape: [], dtype: 'float32' }
  return f
}

function session(model: SSDLite, runtime: Runtime, optimizer: OptimizerConfig, negToPos: number, o: { seed?: number; clipNorm?: number; accumulation?: number } = {}): TrainSession {
  return new TrainSession({
    runtime,
    model,
    optimizer,
    ...o,
    forward: (i) => {
      const out = model.forward(i['pixels']!)
      let loss: Tensor | undefined
      if (i['t_cls']) {
        const l = ssdLoss(out, { cls: i['t_cls'], reg: i['t_reg']!, fg: i['t_fg']!, norm: i['t_norm']! }, negToPos)
        loss = l.classification.add(l.bbox_regression)
      }
      return { ...(loss ? { loss } : {}), outputs: { cls: out.cls_logits, reg: out.bbox_regression } }
    },
  })
}

function detectionsOf(r: { outputs: Record<string, HostTensor> }, b: DetBatch, geo: Geometry, C: number, s: SsdSettings, what: string): DetectionPrediction[] {
  const cls = r.outputs['cls']!.data as Float32Array
  const reg = r.outputs['reg']!.data as Float32Array
  const A = geo.anchors.length / 4
  return b.indices.map((_, k) => {
    const c = cls.subarray(k * A * C, (k + 1) * A * C)
    assertFiniteOutputs(c, what, `image ${k + 1} of a batch`)
    const d = ssdPostprocess({ cls: c, reg: reg.subarray(k * A * 4, (k + 1) * A * 4) }, geo.anchors, [geo.size, geo.size], s)
    return { boxes: rescaleBoxes(d.boxes, [geo.size, geo.size], b.originals[k]!), scores: d.scores, labels: d.labels }
  })
}

async function evaluateSplit(s: TrainSession, split: DetSplit, ck: SsdCheckpoint, geo: Geometry, batchSize: number, what: string): Promise<Record<string, number>> {
  // a long pass runs with today's weights as constants (BatchNorm folded, faster depthwise kernels)
  return s.forwardPass(split.batchCount(batchSize, false), (t) =>
    evaluateDetectionSplit(split, batchSize, ck.labels, async (b) => {
      const r = await t.evaluate(feeds(b, ck.model, geo, ck.settings.iouThresh, true))
      return { detections: detectionsOf(r, b, geo, ck.model.numClasses, ck.settings, what), loss: r.loss ?? 0 }
    }),
  )
}

/** `finetune train --task object-detection` for an SSDlite (see task-node.ts for the shared flow). */
export async function prepareSsdlite(o: TaskTrainOptions, runtime: Runtime): Promise<PreparedTraining> {
  sizeFrom(o, null) // the flags' mistakes before a checkpoint is read
  const ck = await openSsdCheckpoint(o.model, { seed: o.seed })
  const size = sizeFrom(o, ck.imageSize)
  const transform = transformOf(size)
  // the data as task-node.ts reads it (COCO, VOC or YOLO; a folder's own val split)
  const { labels, train, validation, format, augment, skipped } = await detectionTrainingData(o, await readDetectionTrainSource(o), ck, transform)

  const same = ck.labelled && ck.labels.join('\u0000') === labels.join('\u0000')
  if (ck.labelled && !same && !o.reinitHead) throw new ConfigError('MODEL_LABELS_DIFFER', `${o.model} has a head for [${ck.labels.join(', ')}] but the data has [${labels.join(', ')}]`, 'pass --reinit-head to train a new classification head for your labels')
  const headFromCheckpoint = same && !o.reinitHead
  if (!headFromCheckpoint) {
    ck.model.replaceHead(labels.length + 1, new Rng(o.seed))
    ck.model.nameParameters()
    ck.labels = [...labels]
    ck.labelled = true
  }
  ck.settings = settingsFrom(o, ck.settings)
  if (o.method === 'frozen') for (const [n, p] of ck.model.namedParameters()) if (n.startsWith('backbone.features.') && p.kind === 'param') p.requiresGrad = false
  const frozen = freezeByName(ck.model, o['freeze'])
  if (frozen) o.log?.(`--freeze: ${frozen} parameters frozen`)
  const geo = geometryOf(size)
  const from = { scratch: 'a new network (torchvision initialisation)', backbone: 'MobileNetV3-Large backbone from the checkpoint, new extra blocks and heads', detection: headFromCheckpoint ? 'head from the checkpoint' : 'new classification head' }[ck.source]
  o.log?.(`${SSDLITE_ARCH}: ${from} for ${labels.length} classes + background; ${train.length} training / ${validation?.length ?? 0} validation images, resized to ${size}x${size} (aspect ratio not kept)`)
  return {
    model: ck.model,
    headPrefixes: ck.model.headPrefixes,
    async job(optimizer): Promise<TrainingJob> {
      const s = session(ck.model, runtime, optimizer, ck.settings.negToPos, { seed: o.seed, ...(o.clipNorm > 0 ? { clipNorm: o.clipNorm } : {}), accumulation: o.gradAccum })
      return {
        session: s,
        trainExamples: train.length,
        evalExamples: validation?.length ?? 0,
        batchesPerEpoch: train.batchCount(o.batchSize, true),
        async *batches(epoch, start) {
          for await (const b of train.batches(epoch, start, { batchSize: o.batchSize, train: true })) yield { feeds: feeds(b, ck.model, geo, ck.settings.iouThresh, true), examples: b.indices.length }
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
    record: { data_format: format, augment: augment.join(','), arch: SSDLITE_ARCH, source: ck.source, image_size: size, reduced_tail: ck.model.reducedTail, score_thresh: ck.settings.scoreThresh, nms_thresh: ck.settings.nmsThresh, detections_per_img: ck.settings.detectionsPerImg },
    save: (dir) => saveSsd(dir, ck, size),
    close: async () => {},
  }
}

/** eval / predict / export / inspect for an SSDlite. */
export async function openSsdlite(model: string, o: OpenOptions): Promise<OpenedModel> {
  const ck = await openSsdCheckpoint(model)
  const size = sizeFrom(o, ck.imageSize)
  const transform = transformOf(size)
  ck.settings = settingsFrom(o, ck.settings)
  const geo = geometryOf(size)
  const runtime = new Runtime({ provider: o.device ?? 'cpu', ...(o.threads ? { threads: o.threads } : {}) })
  const s = session(ck.model, runtime, { kind: 'sgd', lr: 0 }, ck.settings.negToPos)
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
        const b: DetBatch = { pixels: img.pixels, shape: [1, 3, size, size], indices: [0], sizes: [img.size], originals: [img.original], targets: [] }
        return detectionsOf(await s.evaluate(feeds(b, ck.model, geo, 0, false)), b, geo, ck.model.numClasses, ck.settings, model)[0]!
      })
    },
    async export(eo) {
      if (eo.format === 'safetensors') {
        if (eo.out.endsWith('.safetensors')) {
          await mkdir(dirname(eo.out) || '.', { recursive: true })
          await writeSafetensorsFile(eo.out, ssdTensors(ck.model), { format: 'pt' })
        } else await saveSsd(eo.out, ck, size)
        return { path: eo.out, inputs: {} }
      }
      // the network with box decoding (BoxCoder 10, 10, 5, 5), clipping and softmax scores in the graph, then
      // top-k per class and NMS appended in plain ONNX (onnx.ts): a standalone detector for one resized, normalised image
      if (eo.batchSize !== 1) throw new ConfigError('EXPORT_BATCH', `the detector export takes one image at a time (got --batch-size ${eo.batchSize})`, 'export without --batch-size, or with --batch-size 1')
      const A = geo.anchors.length / 4
      const wh = new Float32Array(2 * A)
      const ctr = new Float32Array(2 * A)
      for (let a = 0; a < A; a++) {
        const [x1, y1, x2, y2] = Array.from(geo.anchors.subarray(4 * a, 4 * a + 4)) as [number, number, number, number]
        wh.set([x2 - x1, y2 - y1], 2 * a)
        ctr.set([x1 + 0.5 * (x2 - x1), y1 + 0.5 * (y2 - y1)], 2 * a)
      }
      const bytes = exportInferenceOnnx({
        model: ck.model,
        inputs: { pixel_values: { shape: [1, 3, size, size], dtype: 'float32' } },
        forward: (i, g) => {
          const out = ck.model.forward(i['pixel_values']!)
          const [dxy, dwh] = out.bbox_regression.split([2, 2], -1)                                   // (1, A, 2) each
          const whc = g.constant(wh, [A, 2])
          const c = dxy!.div(10).mul(whc).add(g.constant(ctr, [A, 2]))
          const half = dwh!.div(5).minimum(Math.log(1000 / 16)).exp().mul(whc).mul(0.5)
          const boxes = concat([c.sub(half), c.add(half)], -1).maximum(0).minimum(size) // (1, A, 4) x1 y1 x2 y2
          const scores = out.cls_logits.softmax(-1).slice(-1, 1)                                     // (1, A, K): background dropped
          return { anchor_boxes: boxes, anchor_scores: scores }
        },
        rewrite: (m) => appendDetectionNms(keepTopkPerClass(m, ck.settings.topkCandidates), ck.settings),
        metadata: { arch: SSDLITE_ARCH, task: TASK, id2label: JSON.stringify(Object.fromEntries(ck.labels.map((l, i) => [i, l]))), image_mean: SSDLITE_MEAN.join(','), image_std: SSDLITE_STD.join(','), image_size: String(size), score_thresh: String(ck.settings.scoreThresh), nms_thresh: String(ck.settings.nmsThresh), detections_per_img: String(ck.settings.detectionsPerImg), topk_candidates: String(ck.settings.topkCandidates) },
      })
      await mkdir(dirname(eo.out) || '.', { recursive: true })
      await writeFileAtomic(eo.out, [bytes])
      return { path: eo.out, inputs: { pixel_values: [1, 3, size, size] } }
    },
    async inspect() {
      const byModule: Record<string, number> = {}
      for (const [n, p] of ck.model.namedParameters()) if (p.kind === 'param') byModule[n.split('.').slice(0, 2).join('.')] = (byModule[n.split('.').slice(0, 2).join('.')] ?? 0) + p.data.length
      const json = { path: model, task: TASK, arch: SSDLITE_ARCH, parameters: ck.model.countParameters(), trainable: ck.model.countParameters(true), numClasses: ck.model.numClasses, labels: ck.labels, imageSize: size, reducedTail: ck.model.reducedTail, ...ck.settings, byModule }
      return {
        json,
        byModule,
        rows: [
          ['model', model],
          ['task', TASK],
          ['architecture', `${SSDLITE_ARCH} (${ck.model.reducedTail ? 'reduced' : 'full'} tail)`],
          ['parameters', `${json.parameters.toLocaleString()} (${json.trainable.toLocaleString()} trainable)`],
          ['classes', `${ck.labels.length} + background: ${ck.labels.slice(0, 20).join(', ')}${ck.labels.length > 20 ? ', ...' : ''}`],
          ['transform', `resized to ${size}x${size} (aspect ratio not kept), mean 0.5, std 0.5`],
          ['post-processing', `softmax score > ${ck.settings.scoreThresh}, best ${ck.settings.topkCandidates} per class, NMS IoU ${ck.settings.nmsThresh}, at most ${ck.settings.detectionsPerImg} per image`],
        ],
      }
    },
    close: () => runtime.dispose(),
  }
}
