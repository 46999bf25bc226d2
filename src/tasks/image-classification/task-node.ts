/**
 * `image-classification`: one label per image. Checkpoints: torchvision state dicts (with --arch),
 * Hugging Face vision folders, TF.js Layers models; data: a folder per class, a CSV/JSONL of paths,
 * IDX files. Predict prints label, score and logits per image.
 */
import { progressReporter } from '../../train/events.js'
import { readdirSync, statSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { dirname } from 'node:path'
import { ConfigError, GraphError } from '../../errors.js'
import { trace } from '../../graph/graph.js'
import { writeSafetensorsFile } from '../../checkpoint/io-node.js'
import { loadImageData, loadImages, type ImageDataOptions } from '../../data/image-data-node.js'
import { labelNames } from '../../data/labels.js'
import { freezeImageBatchNorm, openImageCheckpoint, saveImageCheckpoint, setHead, type ImageCheckpoint } from '../../models/image-checkpoint-node.js'
import { modelTensors } from '../../models/pretrained-node.js'
import { chooseCut, isOnnxModelPath, ONNX_IMAGE_DEFAULTS, openOnnxImage, saveOnnxImage, type OnnxImageCheckpoint } from '../../models/onnx-imported-node.js'
import { ARCHS } from '../../models/vision.js'
import { Rng } from '../../runtime/rng.js'
import { Runtime } from '../../runtime/session.js'
import { ImageTaskRunner } from '../../train/image.js'
import { attachAdapters, unmergedAdapter } from '../adapter-node.js'
import { classesRow, copySourceGraph, exportClassifierOnnx, exportWeightsFolder, id2labelJson, predictLabels } from '../classification-node.js'
import { followEvaluation, subsetSplits, freezeByName, TASK_FIELD, type ExportResult, type OpenOptions, type Task } from '../task.js'

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined)
const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined)

type Checkpoint = ImageCheckpoint | OnnxImageCheckpoint

const open = (model: string, o: Record<string, unknown>, extra: { imageSize?: number; seed?: number } = {}): Promise<Checkpoint> =>
  isOnnxModelPath(model)
    ? openOnnxImage(model, { imageSize: num(o['imageSize']), imageWidth: num(o['imageWidth']), imageMean: str(o['imageMean']), imageStd: str(o['imageStd']) })
    : openImageCheckpoint(model, { ...(str(o['arch']) ? { arch: str(o['arch'])! } : {}), ...extra })

const save = (dir: string, ck: Checkpoint): Promise<void> => (ck.source === 'onnx' ? saveOnnxImage(dir, ck, { [TASK_FIELD]: 'image-classification' }) : saveImageCheckpoint(dir, ck, { [TASK_FIELD]: 'image-classification' }))

function evalRunner(ck: Checkpoint, runtime: Runtime, batchSize: number, train?: import('../../data/image-dataset.js').ImageSplit): ImageTaskRunner {
  return new ImageTaskRunner({ model: ck.model, labels: ck.labels, train: train ?? (null as never), batchSize, seed: 0, method: 'full', runtime, optimizer: { kind: 'sgd', lr: 0 }, constantWeights: true })
}

export const imageClassification: Task = {
  name: 'image-classification',
  summary: 'one label per image (ResNet, VGG, Inception, MobileNet, ViT; torchvision, Hugging Face, TF.js, ONNX)',
  modality: 'image',
  options: {
    arch: { type: 'enum', choices: ARCHS, describe: 'architecture of a bare torchvision state dict (.safetensors)', commands: ['train', 'eval', 'predict', 'export', 'inspect'] },
    imageSize: { type: 'int', describe: `square input side (default: the architecture's; a bare .onnx file: the size its input fixes, else ${ONNX_IMAGE_DEFAULTS.size}, for every command)`, min: 16, commands: ['train', 'eval', 'predict', 'export', 'inspect'] },
    imageWidth: { type: 'int', describe: 'a bare .onnx file: input width when it differs from --image-size', min: 1, commands: ['train', 'eval', 'predict', 'export', 'inspect'] },
    imageMean: { type: 'string', describe: `a bare .onnx file: per-channel mean after scaling to [0, 1] (default ${ONNX_IMAGE_DEFAULTS.mean.join(',')}, ImageNet's)`, placeholder: 'R,G,B', commands: ['train', 'eval', 'predict', 'export', 'inspect'] },
    imageStd: { type: 'string', describe: `a bare .onnx file: per-channel std (default ${ONNX_IMAGE_DEFAULTS.std.join(',')})`, placeholder: 'R,G,B', commands: ['train', 'eval', 'predict', 'export', 'inspect'] },
    features: { type: 'string', describe: 'an imported .onnx model: the value the new head reads (default: the input of the final classifier Gemm/MatMul)', placeholder: 'NAME', commands: ['train'] },
    freeze: { type: 'list', describe: 'freeze parameters whose name matches the regular expression (repeatable; commas separate patterns)', placeholder: 'REGEX', commands: ['train'] },
    augment: { type: 'boolean', describe: 'random resized crop + flip on training images (--no-augment)', default: true, commands: ['train'] },
    freezeBn: { type: 'boolean', describe: 'keep BatchNorm statistics frozen (inference mode) while training', default: false, commands: ['train'] },
    workers: { type: 'int', describe: 'decoding worker threads (default min(cores, 4); 0: in-process)', min: 0, commands: ['train', 'eval', 'predict'] },
    imageColumn: { type: 'string', describe: 'path column of a CSV/JSONL list', placeholder: 'NAME', commands: ['train', 'eval'] },
    labelColumn: { type: 'string', describe: 'label column of a CSV/JSONL list (default: label)', placeholder: 'NAME', commands: ['train', 'eval'] },
  },
  defaults: { batchSize: 16, lr: 1e-3, weightDecay: 0.01, schedule: 'cosine' },
  examples: [
    'finetune train --task image-classification --model resnet18.safetensors --arch resnet18 --data photos/ --out ./photos-model',
    'finetune train --task image-classification --model node_modules/nsfwjs/dist/models/mobilenet_v2 --data fashion/train-images-idx3-ubyte --method frozen --out ./fm',
    'finetune train --task image-classification --model classifier.onnx --image-size 48 --image-width 192 --image-mean 0.5 --image-std 0.5 --data photos/ --out ./onnx-model',
    'finetune predict --model ./photos-model cat.jpg dog.png',
  ],
  predictInputs: 'IMAGE...',
  recognises: (c) => typeof c['finetune_arch'] === 'string' || c['finetune_source'] === 'tfjs' || (Array.isArray(c['architectures']) && String(c['architectures'][0]).endsWith('ForImageClassification')),

  async prepare(o, runtime) {
    const imageSize = num(o['imageSize'])
    const ck = await open(o.model, o, { ...(imageSize ? { imageSize } : {}), seed: o.seed })
    const augment = o['augment'] !== false
    const dataOpts: ImageDataOptions = {
      data: o.data,
      preprocessing: ck.preprocessing,
      ...(augment ? {} : { augmentation: null }),
      validationFraction: o.validation || o.subset ? 0 : o.validationSplit,
      seed: o.seed,
      onBadRow: o.onBadRow,
      ...(o.validation ? { validation: o.validation } : {}),
      ...(num(o['workers']) !== undefined ? { workers: num(o['workers'])! } : {}),
      ...(str(o['imageColumn']) ? { imageColumn: str(o['imageColumn'])! } : {}),
      ...(str(o['labelColumn']) ? { labelColumn: str(o['labelColumn'])! } : {}),
    }
    const loaded = await loadImageData(dataOpts)
    const data = o.subset ? { ...loaded, ...subsetSplits(loaded.train, loaded.validation, loaded.train.labels(), o.subset) } : loaded
    try {
      const labels = labelNames(data.labels)
      // keep a trained head for the same labels; otherwise a new one
      const same = ck.labelled && ck.labels.length === labels.length && [...ck.labels].sort().join('\u0000') === [...labels].sort().join('\u0000')
      if (ck.labelled && !same && !o.reinitHead && ck.source !== 'tfjs' && !ck.labels.every((l, i) => l === `LABEL_${i}`))
        throw new ConfigError('MODEL_LABELS_DIFFER', `${o.model} has a head for [${ck.labels.join(', ')}] but the data has [${labels.join(', ')}]`, 'pass --reinit-head to train a new head for your labels')
      const headFromCheckpoint = same && !o.reinitHead && (ck.source !== 'onnx' || (ck.model.headPrefixes.length > 0 && !o['features']))
      if (ck.source === 'onnx') {
        if (!headFromCheckpoint) {
          const m = ck.model
          const cut = chooseCut(m, str(o['features']), () => m.probe(data.train.imageSize.height, data.train.imageSize.width))
          m.attachHead(cut, labels.length, new Rng(o.seed), () => m.probe(data.train.imageSize.height, data.train.imageSize.width))
          ck.labels = [...labels]
          ck.labelled = true
          o.log?.(`features: ${cut.name} (${cut.why}), ${m.featureSize} wide; new head finetune_head: ${m.featureSize} -> ${labels.length}`)
        }
      } else if (o['features'] !== undefined) throw new ConfigError('FEATURES_ONNX_ONLY', '--features names a value of an imported ONNX graph', `${o.model} is not an .onnx model; drop --features`)
      else if (!headFromCheckpoint) setHead(ck, labels, o.seed)
      else if (ck.labels.join('\u0000') !== labels.join('\u0000'))
        throw new ConfigError('MODEL_LABEL_ORDER', `${o.model}'s labels are in the order [${ck.labels.join(', ')}], the data's in [${labels.join(', ')}]`, "pass --reinit-head, or name the classes so they sort in the model's order")
      if (o['freezeBn'] === true) {
        if (ck.source === 'onnx') ck.model.graph.trainBatchNorm = false
        else freezeImageBatchNorm(ck)
      }
      const frozen = freezeByName(ck.model, o['freeze'])
      if (frozen) o.log?.(`--freeze: ${frozen} parameters frozen`)
      // trace the model once on the input size, so a size it cannot take fails before anything is written
      const size = data.train.imageSize
      try {
        trace((g) => ck.model.logits(g.input('pixels', [1, 3, size.height, size.width])))
      } catch (e) {
        if (e instanceof GraphError) throw new ConfigError('IMAGE_SIZE', `${ck.arch} cannot take ${size.height}x${size.width} images: ${e.message}`, ck.source === 'tfjs' ? `this TF.js model was built for ${ck.model.defaultImageSize}x${ck.model.defaultImageSize}; drop --image-size` : 'choose a larger --image-size')
        throw e
      }
      return {
        model: ck.model,
        headPrefixes: ck.model.headPrefixes,
        job: (optimizer) =>
          new ImageTaskRunner({
            model: ck.model,
            labels,
            train: data.train,
            validation: data.validation,
            batchSize: o.batchSize,
            ...(o.evalBatchSize ? { evalBatchSize: o.evalBatchSize } : {}),
            seed: o.seed,
            method: o.method === 'frozen' ? 'frozen' : 'full',
            onFeatureProgress: progressReporter(o.callbacks, 'features'),
            runtime,
            optimizer,
            clipNorm: o.clipNorm > 0 ? o.clipNorm : Infinity,
            accumulation: o.gradAccum,
          }).job(),
        defaultMetric: 'accuracy',
        labels,
        headFromCheckpoint,
        trainExamples: data.train.length,
        evalExamples: data.validation?.length ?? 0,
        get skipped() {
          return data.badRows().total
        },
        record: { source: ck.source, arch: ck.arch, ...(ck.source === 'onnx' ? { features: ck.model.cut?.name, features_why: ck.model.cut?.why, feature_size: ck.model.featureSize } : {}) },
        save: (dir) => save(dir, ck),
        close: () => data.close(),
      }
    } catch (e) {
      await data.close()
      throw e
    }
  },

  async open(model: string, o: OpenOptions) {
    const ck = await open(model, o)
    const lora = await attachAdapters(ck.model, model, o['adapter'])
    const runtime = new Runtime({ provider: o.device ?? 'cpu', ...(o.threads ? { threads: o.threads } : {}) })
    const workers = num(o['workers'])
    return {
      async evaluate(data, eo) {
        const ds = await loadImageData({ data, labels: ck.labels, preprocessing: ck.preprocessing, validationFraction: 0, onBadRow: eo.onBadRow, ...(workers !== undefined ? { workers } : {}), ...(str(eo['imageColumn']) ? { imageColumn: str(eo['imageColumn'])! } : {}), ...(str(eo['labelColumn']) ? { labelColumn: str(eo['labelColumn'])! } : {}) })
        try {
          const r = evalRunner(ck, runtime, eo.batchSize, ds.train)
          followEvaluation(r.session, eo, ds.train.length)
          const metrics = await r.evaluate(ds.train)
          return { metrics, examples: ds.train.length, skipped: ds.badRows().total }
        } finally {
          await ds.close()
        }
      },
      async predict(paths, po) {
        if (paths.length === 0) throw new ConfigError('CLI_USAGE', 'finetune predict: give image files or folders as arguments', 'run "finetune predict --help"')
        const set = await loadImages(paths, { preprocessing: ck.preprocessing, ...(workers !== undefined ? { workers } : {}) })
        const r = evalRunner(ck, runtime, po.batchSize)
        return predictLabels(set, po.batchSize, async (b) => (await r.session.evaluate({ pixels: { data: b.pixels, shape: b.shape, dtype: 'float32' } })).outputs['logits']!.data as Float32Array, ck.labels, model)
      },
      async export(eo) {
        const adapter = unmergedAdapter(ck.model, lora, eo)
        if (adapter && eo.out.endsWith('.safetensors')) throw new ConfigError('EXPORT_ADAPTER', `${model} carries a LoRA adapter; one .safetensors file holds plain weights`, 'add --merge to fold the adapter in, or export to a folder (base weights + adapter)')
        if (eo.format === 'safetensors') {
          if (eo.out.endsWith('.safetensors')) {
            // one state dict with torchvision's (or the source's) names: what load_state_dict reads
            await mkdir(dirname(eo.out) || '.', { recursive: true })
            await writeSafetensorsFile(eo.out, modelTensors(ck.model as never), { format: 'pt' })
            return { path: eo.out, inputs: {} }
          }
          return exportWeightsFolder(eo.out, ck.model, adapter, (d) => save(d, ck), { baseModel: model, task: 'image-classification', orFile: '(or one file when the path ends in .safetensors)' })
        }
        if (ck.source === 'onnx') return exportOnnxImage(ck, eo.out, eo.batchSize, eo.dynamicBatch, lora !== null)
        const p = ck.preprocessing
        const H = p.crop?.height ?? (p.resize && 'height' in p.resize ? p.resize.height : ck.model.defaultImageSize)
        const W = p.crop?.width ?? (p.resize && 'width' in p.resize ? p.resize.width : ck.model.defaultImageSize)
        const B = eo.batchSize
        return exportClassifierOnnx(eo.out, {
          dynamicBatch: eo.dynamicBatch,
          model: ck.model,
          input: 'pixel_values',
          shape: [B, 3, H, W],
          forward: (x) => ck.model.logits(x),
          metadata: { source: ck.source, arch: ck.arch, task: 'image-classification', id2label: id2labelJson(ck.labels) },
        })
      },
      async inspect() {
        const byModule: Record<string, number> = {}
        for (const [n, p] of ck.model.namedParameters()) if (p.kind === 'param') byModule[n.split('.')[0]!] = (byModule[n.split('.')[0]!] ?? 0) + p.data.length
        const labels = ck.labels
        const json = { path: model, task: 'image-classification', source: ck.source, arch: ck.arch, parameters: ck.model.countParameters(), numClasses: ck.model.numClasses, featureSize: ck.model.featureSize, head: ck.model.headPrefixes, labels, preprocessing: ck.preprocessing, byModule, files: statSync(model).isDirectory() ? readdirSync(model).sort() : [model] }
        return {
          json,
          byModule,
          rows: [
            ['model', model],
            ['task', 'image-classification'],
            ['source', ck.source],
            ['architecture', ck.arch],
            ['parameters', json.parameters.toLocaleString()],
            ['head', ck.model.headPrefixes.join(', ')],
            classesRow(labels),
            ['preprocessing', JSON.stringify(ck.preprocessing)],
          ],
        }
      },
      close: () => runtime.dispose(),
    }
  },
}

/**
 * ONNX export of an imported model: the graph's own input, the head's `logits` and the trained
 * weights (static shapes, as every export). Without a head (never trained) the file is the source
 * graph itself, byte for byte.
 */
async function exportOnnxImage(ck: OnnxImageCheckpoint, out: string, B: number, dynamicBatch: boolean, adapted: boolean): Promise<ExportResult> {
  const m = ck.model
  const name = m.inputName
  if (m.headPrefixes.length === 0 && !adapted) return copySourceGraph(ck.file, out, { name, shape: m.graph.inputs[0]!.shape })
  const r = ck.preprocessing.crop ?? (ck.preprocessing.resize && 'height' in ck.preprocessing.resize ? ck.preprocessing.resize : { height: m.defaultImageSize, width: m.defaultImageSize })
  return exportClassifierOnnx(out, {
    dynamicBatch,
    model: m,
    input: name,
    shape: [B, m.channels, r.height, r.width],
    forward: (x) => m.logits(x),
    metadata: { source: 'onnx', task: 'image-classification', features: m.cut?.name ?? '', id2label: id2labelJson(ck.labels) },
  })
}
