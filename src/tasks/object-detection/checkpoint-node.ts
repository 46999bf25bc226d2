/**
 * FCOS and RetinaNet models in and out (archs.ts: fcos_resnet50_fpn, retinanet_resnet50_fpn). Sources:
 * - a folder finetune wrote (config.json: finetune_task "object-detection", finetune_arch, id2label,
 *   the transform and post-processing settings; model.safetensors with torchvision's names);
 * - a torchvision fcos_resnet50_fpn or retinanet_resnet50_fpn state dict (.safetensors: backbone.body.*,
 *   backbone.fpn.*, head.*; which one is read from the head's keys), e.g. torchvision's COCO weights
 *   converted (91 classes: its head is replaced for the data's labels). RetinaNet's COCO file keeps the
 *   head convs under their version-1 names (conv.0, conv.2, ...), read as torchvision reads them (conv.0.0, conv.1.0, ...);
 * - a ResNet-50 classifier for the backbone: a torchvision resnet50 state dict (.safetensors, `fc.*`
 *   left out, keys read as backbone.body.*) or a folder image-classification trained (finetune_arch
 *   resnet50), for --arch (FCOS unless given). The FPN and heads start as torchvision initialises them.
 * - a Hugging Face ResNet classifier folder (config.json model_type "resnet", any widths and depths
 *   with 4 stages, e.g. pretrained/fashion-mnist-resnet) for the body of `fcos_hf_resnet_fpn`
 *   (detection-backbone.ts: HfResNetFpnBackbone): `resnet.*` read as backbone.body.*, `classifier.*`
 *   left out; its trained folder records the ResNet config as `backbone_config`.
 * The saved model.safetensors loads into torchvision's builder with load_state_dict (the frozen
 * BatchNorms carry no num_batches_tracked, as FrozenBatchNorm2d).
 */
import { existsSync, statSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { extname, join } from 'node:path'
import { CheckpointError, ConfigError } from '../../errors.js'
import { readJsonFile, writeFileAtomic, writeSafetensorsFile } from '../../checkpoint/io-node.js'
import { openSafetensorsFile } from '../../checkpoint/safetensors-node.js'
import type { SafetensorsFile } from '../../checkpoint/safetensors.js'
import { guardAllocation } from '../../models/config-sizes.js'
import { HfResNetFpnBackbone } from '../../models/detection-backbone.js'
import { FCOS } from '../../models/fcos.js'
import type { HfConfig } from '../../models/hf.js'
import { parseHfResNetConfig, type HfResNetConfig } from '../../models/hf-resnet.js'
import { loadWeights, type LoadReport, type WeightSource } from '../../models/load.js'
import { modelTensors } from '../../models/pretrained-node.js'
import { Rng } from '../../runtime/rng.js'
import { DETECTION_ARCHS, DETECTOR_KITS, type DetectionArch, type DetModel, type DetSettings } from './archs.js'
import type { DetTransform } from './data-node.js'

export { DETECTION_ARCHS } from './archs.js'
export const TASK = 'object-detection'
const HEAD_KEY = 'head.classification_head.cls_logits.weight'

export interface DetCheckpoint {
  source: 'detection' | 'backbone'
  arch: DetectionArch
  model: DetModel
  labels: string[]
  labelled: boolean
  /** The transform a trained folder records. */
  transform: DetTransform | null
  settings: DetSettings
  report: LoadReport | null
}

const build = (arch: DetectionArch, numClasses: number, seed: number | undefined, where: string, hfResNet?: HfResNetConfig): DetModel =>
  guardAllocation(() => {
    const m = hfResNet ? new FCOS(numClasses, { ...(seed !== undefined ? { seed } : {}), hfResNet }) : DETECTOR_KITS[arch].build(numClasses, seed)
    m.nameParameters()
    return m
  }, where)

const generic = (n: number): string[] => Array.from({ length: n }, (_, i) => `LABEL_${i}`)

/** A ResNet-50 classifier's state dict seen as backbone.body.* (its fc left out). */
function bodyView(f: SafetensorsFile): WeightSource {
  const map = new Map<string, string>()
  for (const k of f.keys()) if (!k.startsWith('fc.')) map.set(`backbone.body.${k}`, k)
  return { name: f.name, keys: () => [...map.keys()], info: (k) => f.info(map.get(k)!), readAsFloat32: (k) => f.readAsFloat32(map.get(k)!) }
}

/** RetinaNetClassificationHead / RegressionHead version 1 names (conv.{0,2,4,6}) as version 2's (conv.{0..3}.0), as torchvision's _v1_to_v2_weights. */
function v2View(f: SafetensorsFile): WeightSource {
  const map = new Map<string, string>()
  for (const k of f.keys()) map.set(k.replace(/^(head\.(?:classification|regression)_head\.conv\.)([0246])\.(weight|bias)$/, (_, p: string, i: string, t: string) => `${p}${Number(i) / 2}.0.${t}`), k)
  return { name: f.name, keys: () => [...map.keys()], info: (k) => f.info(map.get(k)!), readAsFloat32: (k) => f.readAsFloat32(map.get(k)!) }
}

/** A Hugging Face ResNet classifier's state dict seen as backbone.body.* (resnet.* renamed, classifier.* left out). */
function hfBodyView(f: SafetensorsFile): WeightSource {
  const map = new Map<string, string>()
  for (const k of f.keys()) if (k.startsWith('resnet.')) map.set(`backbone.body.${k.slice('resnet.'.length)}`, k)
  return { name: f.name, keys: () => [...map.keys()], info: (k) => f.info(map.get(k)!), readAsFloat32: (k) => f.readAsFloat32(map.get(k)!) }
}

function rehint(e: unknown, file: string, arch: DetectionArch): never {
  if (e instanceof CheckpointError && /MISSING_KEYS|UNEXPECTED_KEYS|SHAPE_MISMATCH/.test(e.code))
    throw new CheckpointError(e.code, e.message, `is ${file} a torchvision ${arch} state dict, or a resnet50 classifier for its backbone? (--arch picks one of ${DETECTION_ARCHS.join(', ')})`)
  throw e
}

interface OpenOpts { seed?: number | undefined; numClasses?: number | undefined; arch?: DetectionArch | undefined }

async function loadFile(file: string, o: OpenOpts): Promise<{ model: DetModel; arch: DetectionArch; source: DetCheckpoint['source']; report: LoadReport; classes: number }> {
  const f = await openSafetensorsFile(file)
  try {
    if (f.keys().some((k) => k.startsWith('backbone.body.'))) {
      const found = DETECTION_ARCHS.find((a) => DETECTOR_KITS[a].recognises((k) => f.has(k)))
      if (found && o.arch && found !== o.arch) throw new ConfigError('MODEL_ARCH_MISMATCH', `${file} is a ${found} state dict (its head's keys say so), not ${o.arch}`, `leave --arch out, or pass --arch ${found}`)
      const arch = found ?? o.arch ?? 'fcos_resnet50_fpn'
      const classes = f.has(HEAD_KEY) ? f.info(HEAD_KEY).shape[0]! / (arch === 'retinanet_resnet50_fpn' ? 9 : 1) : (o.numClasses ?? 91)
      const model = build(arch, classes, o.seed, file)
      const report = await loadWeights(model, arch === 'retinanet_resnet50_fpn' ? v2View(f) : f, { newOk: f.has(HEAD_KEY) ? [] : [...model.headPrefixes] }).catch((e: unknown) => rehint(e, file, arch))
      return { model, arch, source: 'detection', report, classes }
    }
    if (!f.has('conv1.weight') || !f.has('layer4.2.conv3.weight')) throw new CheckpointError('MODEL_NOT_DETECTION', `${file} is neither a detection state dict (backbone.body.*, head.*) nor a ResNet-50 classifier (conv1.*, layer1..4.*)`, `pass a torchvision ${DETECTION_ARCHS.join(' or ')} or resnet50 state dict, or a folder trained with --task object-detection`)
    const arch = o.arch ?? 'fcos_resnet50_fpn'
    const model = build(arch, o.numClasses ?? 91, o.seed, file)
    const report = await loadWeights(model, bodyView(f), { newOk: ['backbone.fpn', 'head'] }).catch((e: unknown) => rehint(e, file, arch))
    return { model, arch, source: 'backbone', report, classes: o.numClasses ?? 91 }
  } finally {
    await f.close()
  }
}

const numberOr = (v: unknown, d: number): number => (typeof v === 'number' && Number.isFinite(v) ? v : d)

/** Opens an FCOS or RetinaNet model from any supported source (see the module comment). */
export async function openDetCheckpoint(path: string, o: OpenOpts = {}): Promise<DetCheckpoint> {
  if (!existsSync(path)) throw new CheckpointError('MODEL_NOT_FOUND', `model ${path} does not exist`, `pass --model with a trained folder, a torchvision ${DETECTION_ARCHS.join(' or ')} state dict (.safetensors), a resnet50 classifier for the backbone, or ssdlite320-mobilenet-v3-large (a new SSDlite)`)
  const dir = statSync(path).isDirectory() ? path : null
  if (dir && existsSync(join(dir, 'config.json'))) {
    const cfgPath = join(dir, 'config.json')
    const cfg = (await readJsonFile(cfgPath, 'model config')) as Record<string, unknown>
    if (cfg['finetune_task'] === TASK) {
      const a = cfg['finetune_arch']
      if (!DETECTION_ARCHS.includes(a as DetectionArch)) throw new ConfigError('MODEL_UNKNOWN_ARCH', `${cfgPath}: finetune_arch ${JSON.stringify(a)} is not one of ${DETECTION_ARCHS.join(', ')}`, 'repair config.json')
      const id2 = (cfg['id2label'] ?? {}) as Record<string, string>
      const labels = Object.keys(id2).sort((x, y) => Number(x) - Number(y)).map((k) => id2[k]!)
      const arch = a as DetectionArch
      if (o.arch && o.arch !== arch) throw new ConfigError('MODEL_ARCH_MISMATCH', `${cfgPath}: the folder holds a ${arch}, not ${o.arch}`, `leave --arch out, or pass --arch ${arch}`)
      const bc = cfg['backbone_config']
      if (arch === 'fcos_hf_resnet_fpn' && (typeof bc !== 'object' || bc === null)) throw new ConfigError('MODEL_CONFIG', `${cfgPath}: finetune_arch fcos_hf_resnet_fpn needs backbone_config (the body's ResNet config), got ${JSON.stringify(bc ?? null)}`, 'repair config.json, or retrain from the ResNet folder')
      const model = build(arch, labels.length, o.seed, cfgPath, arch === 'fcos_hf_resnet_fpn' ? parseHfResNetConfig(bc as HfConfig, `${cfgPath} backbone_config`) : undefined)
      const f = await openSafetensorsFile(join(dir, 'model.safetensors'))
      let report: LoadReport
      try {
        report = await loadWeights(model, f).catch((e: unknown) => rehint(e, f.name, arch))
      } finally {
        await f.close()
      }
      const settings = DETECTOR_KITS[arch].settingsFrom((k, d) => numberOr(cfg[k], d))
      const transform = typeof cfg['min_size'] === 'number' && typeof cfg['max_size'] === 'number' ? { minSize: cfg['min_size'], maxSize: cfg['max_size'] } : null
      return { source: 'detection', arch, model, labels, labelled: true, transform, settings, report }
    }
    if (cfg['model_type'] === 'resnet') {
      // a Hugging Face ResNet classifier: its body under a new FPN and FCOS heads
      if (o.arch && o.arch !== 'fcos_hf_resnet_fpn') throw new ConfigError('MODEL_ARCH_MISMATCH', `${cfgPath} is a Hugging Face ResNet classifier, a body for fcos_hf_resnet_fpn, not ${o.arch}`, 'leave --arch out, or pass --arch fcos_hf_resnet_fpn')
      const hf = parseHfResNetConfig(cfg as HfConfig, cfgPath)
      const classes = o.numClasses ?? 91
      const model = build('fcos_hf_resnet_fpn', classes, o.seed, cfgPath, hf)
      const f = await openSafetensorsFile(join(dir, 'model.safetensors'))
      let report: LoadReport
      try {
        report = await loadWeights(model, hfBodyView(f), { newOk: ['backbone.fpn', 'head'] }).catch((e: unknown) => rehint(e, f.name, 'fcos_hf_resnet_fpn'))
      } finally {
        await f.close()
      }
      return { source: 'backbone', arch: 'fcos_hf_resnet_fpn', model, labels: generic(classes), labelled: false, transform: null, settings: { ...DETECTOR_KITS.fcos_hf_resnet_fpn.defaults }, report }
    }
    if (cfg['finetune_arch'] === 'resnet50') {
      const r = await loadFile(join(dir, 'model.safetensors'), o)
      return { source: 'backbone', arch: r.arch, model: r.model, labels: generic(r.classes), labelled: false, transform: null, settings: { ...DETECTOR_KITS[r.arch].defaults }, report: r.report }
    }
    throw new ConfigError('MODEL_NOT_DETECTION', `${cfgPath} describes no detection model (finetune_task ${JSON.stringify(cfg['finetune_task'] ?? null)}, finetune_arch ${JSON.stringify(cfg['finetune_arch'] ?? null)})`, `pass a folder trained with --task ${TASK}, a ${DETECTION_ARCHS.join(' or ')} state dict, or a resnet50 classifier`)
  }
  const file = dir ? join(dir, 'model.safetensors') : path
  if (!existsSync(file) || extname(file) !== '.safetensors') throw new CheckpointError('MODEL_FORMAT', `${path} is neither a .safetensors state dict nor a trained model folder`, 'convert torchvision weights with safetensors.torch.save_file(model.state_dict(), "model.safetensors")')
  const r = await loadFile(file, o)
  return { source: r.source, arch: r.arch, model: r.model, labels: generic(r.classes), labelled: false, transform: null, settings: { ...DETECTOR_KITS[r.arch].defaults }, report: r.report }
}

/** A new cls_logits conv for `labels`. */
export function setDetHead(ck: DetCheckpoint, labels: readonly string[], seed: number): void {
  ck.model.replaceHead(labels.length, new Rng(seed))
  ck.model.nameParameters()
  ck.labels = [...labels]
  ck.labelled = true
}

/** The state dict as torchvision's builder has it (FrozenBatchNorm2d: no num_batches_tracked in the body). */
export const detTensors = (model: DetModel): ReturnType<typeof modelTensors> => modelTensors(model as never).filter(([n]) => !(n.startsWith('backbone.body.') && n.endsWith('num_batches_tracked')))

/** Writes a trained folder: config.json (task, arch, labels, transform, post-processing) and model.safetensors. */
export async function saveDetCheckpoint(dir: string, ck: DetCheckpoint, transform: DetTransform): Promise<void> {
  await mkdir(dir, { recursive: true })
  const s = ck.settings
  const config = {
    finetune_task: TASK,
    finetune_arch: ck.arch,
    architectures: [ck.arch],
    num_classes: ck.labels.length,
    id2label: Object.fromEntries(ck.labels.map((l, i) => [String(i), l])),
    label2id: Object.fromEntries(ck.labels.map((l, i) => [l, i])),
    ...(ck.model instanceof FCOS && ck.model.backbone instanceof HfResNetFpnBackbone ? { backbone_config: { model_type: 'resnet', ...ck.model.backbone.config } } : {}),
    // torchvision's GeneralizedRCNNTransform and the detector's post-processing, as this model was trained and is run
    min_size: transform.minSize,
    max_size: transform.maxSize,
    image_mean: [0.485, 0.456, 0.406],
    image_std: [0.229, 0.224, 0.225],
    score_thresh: s.scoreThresh,
    nms_thresh: s.nmsThresh,
    detections_per_img: s.detectionsPerImg,
    topk_candidates: s.topkCandidates,
    ...DETECTOR_KITS[ck.arch].settingsConfig(s),
  }
  await writeSafetensorsFile(join(dir, 'model.safetensors'), detTensors(ck.model), { format: 'pt' })
  await writeFileAtomic(join(dir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`)
}
