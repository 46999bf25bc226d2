/**
 * Text classification on an imported ONNX graph (an .onnx file with --tokenizer, a
 * Transformers.js-layout folder, or a folder finetune trained from one): the parts of textTask()
 * that differ from Hugging Face folders, i.e. opening, the cut and head, saving and export.
 */
import { progressReporter } from '../train/events.js'
import { copyFile, mkdir } from 'node:fs/promises'
import { dirname } from 'node:path'
import { ConfigError } from '../errors.js'
import { writeFileAtomic } from '../checkpoint/io-node.js'
import { labelNames } from '../data/text.js'
import type { TextDataset } from '../data/dataset.js'
import { exportInferenceOnnx } from '../export/onnx.js'
import { attachAdapters, saveWithAdapter, unmergedAdapter } from './adapter-node.js'
import { chooseCut, openOnnxText, saveOnnxText, type OnnxText } from '../models/onnx-imported-node.js'
import type { LoadedText } from '../models/pretrained-node.js'
import { Rng } from '../runtime/rng.js'
import { Runtime } from '../runtime/session.js'
import { TextTaskRunner, type TextExample } from '../train/text.js'
import { followEvaluation, freezeByName, subsetSplits, TASK_FIELD, type OpenedModel, type OpenOptions, type PreparedTraining, type TaskTrainOptions } from './task.js'
import { classesOf, dataOptionsOf, loadTextData, textsToPredict, type OpenedText, type TextTaskSpec } from './text-node.js'

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined)

function onlyClassification(spec: TextTaskSpec, model: string): void {
  if (spec.name !== 'text-classification') throw new ConfigError('ONNX_TASK', `${model} is an ONNX graph; finetune fine-tunes imported graphs for text-classification and image-classification, not ${spec.name}`, 'pass --task text-classification, or a Hugging Face folder (config.json + model.safetensors)')
}

/** An OnnxText in the shape the text runners and predict read. */
const asLoaded = (m: OnnxText, dir: string): LoadedText => ({
  dir,
  family: 'onnx',
  model: m.model,
  tokenizer: m.tokenizer,
  config: m.config,
  report: { loaded: m.model.namedParameters().length, initialised: [], reinitialised: [], ignored: [] },
  labels: m.labels,
  problemType: m.problemType,
  headFromCheckpoint: m.trained,
})

const cap = (m: OnnxText, maxLength: number): number => Math.min(maxLength, m.tokenizer.modelMaxLength ?? maxLength, m.model.maxPositions)

function runner(spec: TextTaskSpec, m: OnnxText, runtime: Runtime, maxLength: number, batchSize: number, dataLabels: string[], data?: TextDataset<TextExample>): TextTaskRunner {
  return new TextTaskRunner({
    head: spec.head,
    model: m.model,
    tokenizer: m.tokenizer,
    labels: m.labels,
    dataLabels: dataLabels.length ? dataLabels : m.labels,
    problemType: m.problemType,
    train: data?.train ?? ({ length: 0, getMany: async () => [], iterate: async function* () {} } as never),
    validation: data?.validation,
    batchSize,
    maxLength: cap(m, maxLength),
    seed: 0,
    method: 'full',
    runtime,
    optimizer: { kind: 'sgd', lr: 0 },
  })
}

/** `prepare` of a text task for an imported graph: a new head on the cut unless a trained one fits the labels. */
export async function prepareOnnxText(spec: TextTaskSpec, o: TaskTrainOptions, runtime: Runtime): Promise<PreparedTraining> {
  onlyClassification(spec, o.model)
  const maxLength = typeof o['maxLength'] === 'number' ? o['maxLength'] : 128
  const loaded = await loadTextData({ ...dataOptionsOf(o), data: o.data, task: spec.name, validation: o.validation, onBadRow: o.onBadRow, validationSplit: o.subset ? 0 : o.validationSplit, seed: o.seed })
  const data = o.subset ? { ...loaded, ...subsetSplits(loaded.train, loaded.validation, await classesOf(loaded.train), o.subset), close: () => loaded.close() } : loaded
  try {
    const m = await openOnnxText(o.model, { tokenizer: str(o['tokenizer']) })
    const problemType = data.labels?.problemType ?? 'single_label_classification'
    const dataLabels = data.labels ? labelNames(data.labels.labelMap) : []
    const labels = problemType === 'regression' ? ['LABEL_0'] : dataLabels
    const same = m.trained && m.labels.join('\u0000') === labels.join('\u0000') && m.problemType === problemType
    const keep = same && !o.reinitHead && !o['features']
    if (!keep) {
      const cut = chooseCut(m.model, str(o['features']), () => m.model.probe())
      m.model.attachHead(cut, labels.length, new Rng(o.seed), () => m.model.probe())
      m.labels = labels
      m.problemType = problemType
      m.trained = false
      o.log?.(`features: ${cut.name} (${cut.why}), ${m.model.featureSize} wide; new head finetune_head: ${m.model.featureSize} -> ${labels.length}`)
    }
    const frozen = freezeByName(m.model, o['freeze'])
    if (frozen) o.log?.(`--freeze: ${frozen} parameters frozen`)
    const cut = m.model.cut!
    return {
      model: m.model,
      headPrefixes: m.model.headPrefixes,
      job: (optimizer) =>
        new TextTaskRunner({
          head: spec.head,
          model: m.model,
          tokenizer: m.tokenizer,
          labels: m.labels,
          dataLabels,
          problemType: m.problemType,
          train: data.train,
          validation: data.validation,
          batchSize: o.batchSize,
          ...(o.evalBatchSize ? { evalBatchSize: o.evalBatchSize } : {}),
          maxLength: cap(m, maxLength),
          seed: o.seed,
          method: o.method === 'frozen' ? 'frozen' : 'full',
          onFeatureProgress: progressReporter(o.callbacks, 'features'),
          runtime,
          optimizer,
          clipNorm: o.clipNorm > 0 ? o.clipNorm : Infinity,
          accumulation: o.gradAccum,
        }).job(),
      defaultMetric: spec.defaultMetric(m.problemType),
      labels: m.labels,
      headFromCheckpoint: keep,
      trainExamples: data.train.length,
      evalExamples: data.validation?.length ?? 0,
      skipped: data.badRows.total,
      record: { source: 'onnx', features: cut.name, features_why: cut.why, feature_size: m.model.featureSize },
      save: (dir) => saveOnnxText(dir, m, { [TASK_FIELD]: spec.name }),
      close: () => data.close(),
    }
  } catch (e) {
    await data.close()
    throw e
  }
}

/** `open` of a text task for an imported graph; without a trained head it predicts the graph's own output. */
export async function openOnnxTextModel(spec: TextTaskSpec, dir: string, o: OpenOptions): Promise<OpenedModel> {
  onlyClassification(spec, dir)
  const m = await openOnnxText(dir, { tokenizer: str(o['tokenizer']) })
  const lora = await attachAdapters(m.model, dir, o['adapter'])
  const runtime = new Runtime({ provider: o.device ?? 'cpu', ...(o.threads ? { threads: o.threads } : {}) })
  const maxLength = typeof o['maxLength'] === 'number' ? o['maxLength'] : 512
  const opened: OpenedText = { ...asLoaded(m, dir), runner: runner(spec, m, runtime, maxLength, 16, []) }
  return {
    async evaluate(data, eo) {
      const ds = await loadTextData({ ...dataOptionsOf(eo), data, task: spec.name, onBadRow: eo.onBadRow, validationSplit: 0, seed: 0 }, m.problemType === 'regression' ? undefined : m.labels)
      try {
        const r = runner(spec, m, runtime, typeof eo['maxLength'] === 'number' ? eo['maxLength'] : 512, eo.batchSize, ds.labels ? labelNames(ds.labels.labelMap) : [], ds)
        followEvaluation(r.session, eo, ds.train.length)
        return { metrics: await r.evaluate(ds.train as never), examples: ds.train.length, skipped: ds.badRows.total }
      } finally {
        await ds.close()
      }
    },
    async predict(inputs, po) {
      return spec.predict(opened, await textsToPredict(inputs, po), po.batchSize, po)
    },
    async export(eo) {
      const adapter = unmergedAdapter(m.model, lora, eo)
      if (eo.format === 'safetensors') {
        if (eo.out.endsWith('.safetensors')) throw new ConfigError('EXPORT_ONNX_SOURCE', `${dir} is an imported ONNX graph; its weights alone do not make a model`, 'export --format safetensors to a folder (graph copy + weights), or --format onnx')
        await saveWithAdapter(eo.out, m.model, adapter, (d) => saveOnnxText(d, m, { [TASK_FIELD]: spec.name }), { merge: false, baseModel: dir, task: spec.name })
        return { path: eo.out, inputs: {} }
      }
      await mkdir(dirname(eo.out) || '.', { recursive: true })
      const infos = m.model.graph.inputs
      if (m.model.headPrefixes.length === 0 && !lora) {
        // never trained: the graph as it came, byte for byte
        await copyFile(m.file, eo.out)
        return { path: eo.out, inputs: Object.fromEntries(infos.map((i) => [i.name, i.shape.map((d) => (typeof d === 'number' ? d : -1))])) }
      }
      const B = eo.batchSize
      const T = Math.min(typeof eo['seqLength'] === 'number' ? eo['seqLength'] : 128, m.model.maxPositions)
      const inputs = Object.fromEntries(infos.map((i) => [i.name, { shape: [B, T], dtype: 'int64' as const }]))
      const bytes = exportInferenceOnnx({
        dynamicBatch: eo.dynamicBatch,
        model: m.model,
        inputs,
        forward: (i) => ({ logits: m.model.logits({ input_ids: i['input_ids']!, attention_mask: i['attention_mask'] ?? i['input_ids']!.mul(0).add(1), ...(i['token_type_ids'] ? { token_type_ids: i['token_type_ids'] } : {}) }) }),
        metadata: { source: 'onnx', task: spec.name, features: m.model.cut?.name ?? '', id2label: JSON.stringify(Object.fromEntries(m.labels.map((l, i) => [i, l]))), problem_type: String(m.problemType ?? '') },
      })
      await writeFileAtomic(eo.out, [bytes])
      return { path: eo.out, inputs: Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, v.shape])) }
    },
    async inspect() {
      const byModule: Record<string, number> = {}
      for (const [n, p] of m.model.namedParameters()) if (p.kind === 'param') byModule[n.split(/[./]/).filter(Boolean)[0] ?? n] = (byModule[n.split(/[./]/).filter(Boolean)[0] ?? n] ?? 0) + p.data.length
      const cut = m.model.cut
      const json = { path: dir, task: spec.name, source: 'onnx', file: m.file, parameters: m.model.countParameters(), inputs: m.model.graph.inputs, features: cut?.name ?? null, head: m.model.headPrefixes.slice(), labels: m.labels, problemType: m.problemType, byModule }
      return {
        json,
        byModule,
        rows: [
          ['model', dir],
          ['task', spec.name],
          ['source', `onnx (${m.file}, opset ${m.model.graph.opset})`],
          ['inputs', m.model.graph.inputs.map((i) => `${i.name} [${i.shape.map((d) => d ?? '?').join(', ')}]`).join(', ')],
          ['parameters', json.parameters.toLocaleString()],
          ['features', cut ? `${cut.name} (${cut.why})` : '(none: the graph output is the logits)'],
          ['head', json.head.join(', ') || '(the graph\'s own)'],
          ['labels', `${m.labels.length}: ${m.labels.slice(0, 20).join(', ')}`],
        ],
      }
    },
    close: () => runtime.dispose(),
  }
}
