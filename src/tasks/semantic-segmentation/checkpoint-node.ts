/**
 * Segmentation models in and out. Sources:
 * - a folder finetune wrote (config.json: finetune_task "semantic-segmentation", finetune_arch,
 *   id2label; model.safetensors with torchvision's names);
 * - a torchvision segmentation state dict (.safetensors, keys backbone.* / classifier.* /
 *   aux_classifier.*) with --arch, e.g. torchvision's COCO-with-VOC-labels weights converted;
 * - a classification checkpoint for the backbone, with --arch naming the segmentation model: a
 *   torchvision resnet50 or mobilenet_v3_large state dict (.safetensors; `fc.*` / `classifier.*`
 *   left out, `features.N` read as `backbone.N`), or a folder image-classification trained
 *   (finetune_arch resnet50). The heads start as torch.nn initialises them.
 * - a Hugging Face ResNet classifier folder (config.json model_type "resnet", e.g.
 *   pretrained/fashion-mnist-resnet) for lraspp_hf_resnet's body (`resnet.*` read as backbone.*,
 *   `classifier.*` left out); its trained folder records the ResNet config as `backbone_config`.
 * The saved folder's model.safetensors loads into torchvision's builder with load_state_dict.
 */
import { existsSync, statSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { extname, join } from 'node:path'
import { CheckpointError, ConfigError } from '../../errors.js'
import { readJsonFile, writeFileAtomic, writeSafetensorsFile } from '../../checkpoint/io-node.js'
import { openSafetensorsFile } from '../../checkpoint/safetensors-node.js'
import type { SafetensorsFile } from '../../checkpoint/safetensors.js'
import { guardAllocation } from '../../models/config-sizes.js'
import { loadWeights, type LoadReport, type WeightSource } from '../../models/load.js'
import { modelTensors } from '../../models/pretrained-node.js'
import type { HfConfig } from '../../models/hf.js'
import { HfResNetModel, parseHfResNetConfig, type HfResNetConfig } from '../../models/hf-resnet.js'
import { isSegmentationArch, SEGMENTATION_ARCHS, SegmentationModel, type SegmentationArch } from '../../models/segmentation.js'
import { Rng } from '../../runtime/rng.js'

export const TASK = 'semantic-segmentation'

export interface SegCheckpoint {
  /** Where the weights came from: a segmentation model, or a classifier's backbone only. */
  source: 'segmentation' | 'backbone'
  arch: SegmentationArch
  model: SegmentationModel
  labels: string[]
  /** Whether the head's classes are named by the checkpoint (a trained head). */
  labelled: boolean
  /** Square input side a trained folder records. */
  imageSize: number | null
  report: LoadReport | null
}

export interface OpenSegOptions {
  arch?: string | undefined
  seed?: number | undefined
  /** Classes of a new head, when the checkpoint has none (a backbone). */
  numClasses?: number | undefined
}

const archError = (file: string): ConfigError =>
  new ConfigError('MODEL_ARCH_REQUIRED', `${file} is a bare state dict: which segmentation architecture is it (or is its backbone for)?`, `pass --arch with one of ${SEGMENTATION_ARCHS.join(', ')}`)

const build = (arch: SegmentationArch, numClasses: number, seed: number | undefined, where: string, hfResNet?: HfResNetConfig): SegmentationModel =>
  guardAllocation(() => {
    const m = new SegmentationModel(arch, numClasses, { init: false, ...(seed !== undefined ? { seed } : {}), hfResNet })
    m.nameParameters()
    return m
  }, where)

/** A classifier's state dict seen with segmentation names: backbone.* for its features, its classifier left out. */
function backboneView(f: SafetensorsFile, arch: SegmentationArch): WeightSource {
  const resnet = arch.endsWith('resnet50')
  const map = new Map<string, string>()
  for (const k of f.keys()) {
    if (resnet && !k.startsWith('fc.')) map.set(`backbone.${k}`, k)
    else if (!resnet && k.startsWith('features.')) map.set(`backbone.${k.slice('features.'.length)}`, k)
  }
  return { name: f.name, keys: () => [...map.keys()], info: (k) => f.info(map.get(k)!), readAsFloat32: (k) => f.readAsFloat32(map.get(k)!) }
}

const headKey = (arch: SegmentationArch): string => (arch.startsWith('lraspp_') ? 'classifier.low_classifier.weight' : 'classifier.4.weight')

/** A Hugging Face ResNet classifier's state dict seen as backbone.* (resnet.* renamed, classifier.* left out). */
function hfBackboneView(f: SafetensorsFile): WeightSource {
  const map = new Map<string, string>()
  for (const k of f.keys()) if (k.startsWith('resnet.')) map.set(`backbone.${k.slice('resnet.'.length)}`, k)
  return { name: f.name, keys: () => [...map.keys()], info: (k) => f.info(map.get(k)!), readAsFloat32: (k) => f.readAsFloat32(map.get(k)!) }
}

async function loadFile(file: string, arch: SegmentationArch, o: OpenSegOptions): Promise<{ model: SegmentationModel; source: SegCheckpoint['source']; report: LoadReport; classes: number }> {
  const f = await openSafetensorsFile(file)
  try {
    const isSeg = f.keys().some((k) => k.startsWith('backbone.'))
    if (isSeg) {
      const classes = f.has(headKey(arch)) ? f.info(headKey(arch)).shape[0]! : (o.numClasses ?? 21)
      const model = build(arch, classes, o.seed, file)
      // torchvision's pretrained weights carry the auxiliary head; a state dict without it gets a fresh one
      const report = await loadWeights(model, f, { newOk: ['aux_classifier', ...(f.has(headKey(arch)) ? [] : model.headPrefixes)] }).catch((e: unknown) => rehint(e, file, arch))
      return { model, source: 'segmentation', report, classes }
    }
    // the heads as torchvision initialises them (the backbone's weights come from the file)
    const model = guardAllocation(() => new SegmentationModel(arch, o.numClasses ?? 21, { seed: o.seed ?? 0 }), file)
    model.nameParameters()
    const report = await loadWeights(model, backboneView(f, arch), { newOk: ['classifier', 'aux_classifier'] }).catch((e: unknown) => rehint(e, file, arch))
    return { model, source: 'backbone', report, classes: o.numClasses ?? 21 }
  } finally {
    await f.close()
  }
}

function rehint(e: unknown, file: string, arch: string): never {
  if (e instanceof CheckpointError && /MISSING_KEYS|UNEXPECTED_KEYS|SHAPE_MISMATCH/.test(e.code))
    throw new CheckpointError(e.code, e.message, `is ${file} a ${arch} segmentation state dict, or a ${arch.endsWith('resnet50') ? 'resnet50' : 'mobilenet_v3_large'} classifier for its backbone? Check --arch (one of ${SEGMENTATION_ARCHS.join(', ')})`)
  throw e
}

/** Opens a segmentation model from any supported source (see the module comment). */
export async function openSegCheckpoint(path: string, o: OpenSegOptions = {}): Promise<SegCheckpoint> {
  if (!existsSync(path)) throw new CheckpointError('MODEL_NOT_FOUND', `model ${path} does not exist`, 'pass --model with a trained folder, a torchvision segmentation state dict (.safetensors) with --arch, or a resnet50 / mobilenet_v3_large classifier for the backbone')
  const dir = statSync(path).isDirectory() ? path : null
  if (o.arch !== undefined && !isSegmentationArch(o.arch)) throw new ConfigError('MODEL_UNKNOWN_ARCH', `--arch ${o.arch} is not a segmentation architecture`, `choose one of ${SEGMENTATION_ARCHS.join(', ')}`)
  const arch = o.arch as SegmentationArch | undefined
  if (dir && existsSync(join(dir, 'config.json'))) {
    const cfgPath = join(dir, 'config.json')
    const cfg = (await readJsonFile(cfgPath, 'model config')) as Record<string, unknown>
    const a = cfg['finetune_arch']
    if (cfg['finetune_task'] === TASK) {
      if (typeof a !== 'string' || !isSegmentationArch(a)) throw new ConfigError('MODEL_UNKNOWN_ARCH', `${cfgPath}: finetune_arch ${JSON.stringify(a)} is not one of ${SEGMENTATION_ARCHS.join(', ')}`, 'repair config.json')
      const id2 = (cfg['id2label'] ?? {}) as Record<string, string>
      const labels = Object.keys(id2).sort((x, y) => Number(x) - Number(y)).map((k) => id2[k]!)
      const bc = cfg['backbone_config']
      if (a === 'lraspp_hf_resnet' && (typeof bc !== 'object' || bc === null)) throw new ConfigError('MODEL_CONFIG', `${cfgPath}: finetune_arch lraspp_hf_resnet needs backbone_config (the body's ResNet config), got ${JSON.stringify(bc ?? null)}`, 'repair config.json, or retrain from the ResNet folder')
      const model = build(a, labels.length, o.seed, cfgPath, a === 'lraspp_hf_resnet' ? parseHfResNetConfig(bc as HfConfig, `${cfgPath} backbone_config`) : undefined)
      if (cfg['aux'] === false) model.aux_classifier = null
      const f = await openSafetensorsFile(join(dir, 'model.safetensors'))
      let report: LoadReport
      try {
        report = await loadWeights(model, f).catch((e: unknown) => rehint(e, f.name, a))
      } finally {
        await f.close()
      }
      return { source: 'segmentation', arch: a, model, labels, labelled: true, imageSize: typeof cfg['image_size'] === 'number' ? cfg['image_size'] : null, report }
    }
    // a Hugging Face ResNet classifier: the body of lraspp_hf_resnet (the one architecture for it)
    if (cfg['model_type'] === 'resnet') {
      if (arch && arch !== 'lraspp_hf_resnet') throw new ConfigError('MODEL_BACKBONE_ARCH', `${dir} is a Hugging Face ResNet classifier; ${arch} has another backbone`, 'pass --arch lraspp_hf_resnet (or leave --arch out)')
      const hf = parseHfResNetConfig(cfg as HfConfig, cfgPath)
      const classes = o.numClasses ?? 21
      const model = guardAllocation(() => new SegmentationModel('lraspp_hf_resnet', classes, { seed: o.seed ?? 0, hfResNet: hf }), cfgPath)
      model.nameParameters()
      const f = await openSafetensorsFile(join(dir, 'model.safetensors'))
      let report: LoadReport
      try {
        report = await loadWeights(model, hfBackboneView(f), { newOk: ['classifier'] }).catch((e: unknown) => rehint(e, f.name, 'lraspp_hf_resnet'))
      } finally {
        await f.close()
      }
      return { source: 'backbone', arch: 'lraspp_hf_resnet', model, labels: generic(classes), labelled: false, imageSize: null, report }
    }
    // a classifier image-classification trained: its backbone
    if (a === 'resnet50' || a === 'mobilenet_v3_large') {
      if (!arch) throw archError(dir)
      if (arch.endsWith('resnet50') !== (a === 'resnet50')) throw new ConfigError('MODEL_BACKBONE_ARCH', `${dir} is a ${a} classifier; ${arch} has a ${arch.endsWith('resnet50') ? 'resnet50' : 'mobilenet_v3_large'} backbone`, `pass --arch ${a === 'resnet50' ? 'fcn_resnet50 or deeplabv3_resnet50' : 'deeplabv3_mobilenet_v3_large or lraspp_mobilenet_v3_large'}`)
      const r = await loadFile(join(dir, 'model.safetensors'), arch, o)
      return { source: 'backbone', arch, model: r.model, labels: generic(r.classes), labelled: false, imageSize: null, report: r.report }
    }
    throw new ConfigError('MODEL_NOT_SEGMENTATION', `${cfgPath} describes no segmentation model (finetune_task ${JSON.stringify(cfg['finetune_task'] ?? null)}, finetune_arch ${JSON.stringify(a ?? null)})`, `pass a folder trained with --task ${TASK}, a segmentation state dict with --arch, or a resnet50 / mobilenet_v3_large classifier for the backbone`)
  }
  const file = dir ? join(dir, 'model.safetensors') : path
  if (!existsSync(file) || extname(file) !== '.safetensors') throw new CheckpointError('MODEL_FORMAT', `${path} is neither a .safetensors state dict nor a trained model folder`, 'convert torchvision weights with safetensors.torch.save_file(model.state_dict(), "model.safetensors") and pass --arch')
  if (!arch) throw archError(file)
  const r = await loadFile(file, arch, o)
  return { source: r.source, arch, model: r.model, labels: generic(r.classes), labelled: false, imageSize: null, report: r.report }
}

const generic = (n: number): string[] => Array.from({ length: n }, (_, i) => `LABEL_${i}`)

/** A new head for `labels`, initialised as torch.nn.Conv2d. */
export function setSegHead(ck: SegCheckpoint, labels: readonly string[], seed: number): void {
  ck.model.replaceHead(labels.length, new Rng(seed))
  ck.model.nameParameters()
  ck.labels = [...labels]
  ck.labelled = true
}

/** Writes a trained folder: config.json (task, arch, labels, image size) and model.safetensors with torchvision's names. */
export async function saveSegCheckpoint(dir: string, ck: SegCheckpoint, imageSize: number): Promise<void> {
  await mkdir(dir, { recursive: true })
  const config = {
    finetune_task: TASK,
    finetune_arch: ck.arch,
    architectures: [ck.arch],
    num_classes: ck.labels.length,
    id2label: Object.fromEntries(ck.labels.map((l, i) => [String(i), l])),
    label2id: Object.fromEntries(ck.labels.map((l, i) => [l, i])),
    ...(ck.model.backbone instanceof HfResNetModel ? { backbone_config: { model_type: 'resnet', ...ck.model.backbone.c } } : {}),
    image_size: imageSize,
    aux: ck.model.hasAux,
    ignore_index: 255,
    image_mean: [0.485, 0.456, 0.406],
    image_std: [0.229, 0.224, 0.225],
  }
  await writeSafetensorsFile(join(dir, 'model.safetensors'), modelTensors(ck.model as never), { format: 'pt' })
  await writeFileAtomic(join(dir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`)
}
