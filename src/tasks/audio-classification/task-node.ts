/**
 * `audio-classification`: one label per clip (keywords, commands, speakers, accents). Models: the
 * pre-trained speech embedding (`--model speech-embedding`), the keyword CNN from scratch
 * (`--model keyword-cnn`), a Hugging Face Wav2Vec2 folder (Wav2Vec2ForSequenceClassification), any
 * ONNX graph that reads raw audio or openWakeWord's mel frames (a bare .onnx file or a
 * Transformers.js-layout folder; src/models/onnx-audio.ts) or a folder trained with this task; data:
 * a folder per class or a CSV/JSONL of path,label, decoded, resampled to the model's rate (16 kHz
 * for the built-ins) and cut to a fixed clip length whose policy the output folder records. Predict
 * prints label, score and logits per file.
 */
import { progressReporter } from '../../train/events.js'
import { readdirSync, statSync } from 'node:fs'
import { ConfigError } from '../../errors.js'
import { clipPolicyOf, loadAudioData, loadAudioFiles, type AudioDataOptions } from '../../data/audio-data-node.js'
import type { ClipPolicy } from '../../data/audio-transforms.js'
import { labelNames } from '../../data/labels.js'
import { AUDIO_FRONT_ENDS, ONNX_AUDIO_DEFAULTS } from '../../models/onnx-audio.js'
import { Rng } from '../../runtime/rng.js'
import { Runtime } from '../../runtime/session.js'
import { followEvaluation, freezeByName, subsetSplits, TASK_FIELD, type OpenOptions, type Task } from '../task.js'
import { attachAdapters, unmergedAdapter } from '../adapter-node.js'
import { classesRow, copySourceGraph, exportClassifierOnnx, exportWeightsFolder, id2labelJson, predictLabels } from '../classification-node.js'
import { AUDIO_MODELS, openAudioCheckpoint, saveAudioCheckpoint, type AudioCheckpoint } from './checkpoint-node.js'
import { AudioTaskRunner } from './runner.js'

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined)
const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined)
const TASK = 'audio-classification'

/** The --front-end / --sampling-rate of the options (imported .onnx models only). */
const onnxOptions = (o: Record<string, unknown>): { frontEnd?: string; samplingRate?: number } => ({ ...(str(o['frontEnd']) ? { frontEnd: str(o['frontEnd'])! } : {}), ...(num(o['samplingRate']) !== undefined ? { samplingRate: num(o['samplingRate'])! } : {}) })

/** The length a graph with a fixed number of input samples fixes (null: any). */
const fixedSamples = (ck: AudioCheckpoint): number | null => (ck.onnx?.model.contract.frontEnd === 'none' ? ck.onnx.model.contract.fixed : null)

/** The clip policy without flags: the folder's, else the length the graph fixes, else 1 s padded at the end. */
const defaultClip = (ck: AudioCheckpoint): ClipPolicy => ck.clip ?? clipPolicyOf({ sampleRate: ck.sampleRate, clip: { ...(fixedSamples(ck) ? { length: fixedSamples(ck)! } : {}), ...(ck.model.defaultClipPad ? { pad: ck.model.defaultClipPad } : {}) } })

/** The clip policy of a training run: the flags, else the folder's, else 1 s padded where the model prefers (at the end by default). */
function trainClip(o: Record<string, unknown>, ck: AudioCheckpoint): ClipPolicy {
  const seconds = num(o['clipSeconds'])
  const RATE = ck.sampleRate
  const base = defaultClip(ck)
  const clip = clipPolicyOf({ sampleRate: RATE, clip: { length: seconds !== undefined ? Math.round(seconds * RATE) : base.length, pad: (str(o['clipPad']) as ClipPolicy['pad']) ?? base.pad, crop: (str(o['clipCrop']) as ClipPolicy['crop']) ?? base.crop, trainCrop: base.trainCrop } })
  const min = ck.model.minSamples
  if (clip.length < min) {
    const need = Math.ceil((min / RATE) * 100) / 100
    throw new ConfigError('CONFIG_CLIP_TOO_SHORT', `--clip-seconds ${seconds ?? clip.length / RATE} gives clips of ${clip.length} samples; ${ck.arch === 'onnx' ? ck.onnx!.file : ck.arch} needs at least ${min} (${(min / RATE).toFixed(3)} s)`, `pass --clip-seconds ${need} or more`)
  }
  const fixed = fixedSamples(ck)
  if (fixed !== null && clip.length > fixed)
    throw new ConfigError('CONFIG_CLIP_TOO_LONG', `--clip-seconds ${seconds ?? clip.length / RATE} gives clips of ${clip.length} samples; ${ck.onnx!.file} takes exactly ${fixed} (${fixed / RATE} s at ${RATE} Hz)`, `pass --clip-seconds ${fixed / RATE} or less (shorter clips are padded), or drop --clip-seconds`)
  return clip
}

function evalRunner(ck: AudioCheckpoint, runtime: Runtime, batchSize: number): AudioTaskRunner {
  return new AudioTaskRunner({ model: ck.model, labels: ck.labels, batchSize, seed: 0, method: 'full', runtime, optimizer: { kind: 'sgd', lr: 0 }, constantWeights: true })
}

const dataColumns = (o: Record<string, unknown>): Partial<AudioDataOptions> => ({
  ...(num(o['workers']) !== undefined ? { workers: num(o['workers'])! } : {}),
  ...(str(o['audioColumn']) ? { audioColumn: str(o['audioColumn'])! } : {}),
  ...(str(o['labelColumn']) ? { labelColumn: str(o['labelColumn'])! } : {}),
})

export const audioClassification: Task = {
  name: TASK,
  summary: `one label per audio clip: keywords, commands, speakers (${AUDIO_MODELS.join(', ')}, Wav2Vec2 folders, .onnx graphs)`,
  modality: 'audio',
  options: {
    clipSeconds: { type: 'number', describe: 'clip length in seconds; shorter files are padded, longer ones cropped (default: the model folder\'s, else 1)', min: 0.05, max: 60, commands: ['train'] },
    clipPad: { type: 'enum', choices: ['end', 'center'], describe: 'where a short clip gets its zeros (default: the model folder\'s, else center for speech-embedding, end otherwise)', commands: ['train'] },
    clipCrop: { type: 'enum', choices: ['start', 'center'], describe: 'which part of a long clip eval and predict keep (training crops at random; default center)', commands: ['train'] },
    augment: { type: 'boolean', describe: 'seeded gain, shift, noise and speed perturbation of training clips (--no-augment)', default: true, commands: ['train'] },
    frontEnd: { type: 'enum', choices: AUDIO_FRONT_ENDS, describe: `an .onnx model: what its graph reads, raw audio [B, N] or [B, 1, N] (none) or openWakeWord's 32-bin log-mel frames (speech-mel: its fixed front-end at 16 kHz in front of the graph; a fixed frame count means 8-frame-step windows, averaged) (default ${ONNX_AUDIO_DEFAULTS.frontEnd})`, commands: ['train', 'eval', 'predict', 'export', 'inspect'] },
    samplingRate: { type: 'int', describe: `a bare .onnx model: the sample rate (Hz) its graph expects; files are resampled to it (default ${ONNX_AUDIO_DEFAULTS.sampleRate}; a folder's preprocessor_config.json sampling_rate wins)`, min: 1000, max: 192000, commands: ['train', 'eval', 'predict', 'export', 'inspect'] },
    features: { type: 'string', describe: "an .onnx model: the value the new head reads (default: the input of the final classifier Gemm/MatMul, else the graph's first output), pooled to (batch, features): (B, T, C) averaged over time, (B, C, H, W) over H and W", placeholder: 'NAME', commands: ['train'] },
    freeze: { type: 'list', describe: 'freeze parameters whose name matches the regular expression (repeatable; commas separate patterns)', placeholder: 'REGEX', commands: ['train'] },
    workers: { type: 'int', describe: 'decoding worker threads (default min(cores, 4); 0: in-process)', min: 0, commands: ['train', 'eval', 'predict'] },
    audioColumn: { type: 'string', describe: 'audio path column of a CSV/JSONL list (default: path, audio, file...)', placeholder: 'NAME', commands: ['train', 'eval'] },
    labelColumn: { type: 'string', describe: 'label column of a CSV/JSONL list (default: label, class, word...)', placeholder: 'NAME', commands: ['train', 'eval'] },
  },
  defaults: { batchSize: 16, lr: 1e-3, weightDecay: 0.01, schedule: 'cosine' },
  examples: [
    'finetune train --task audio-classification --model speech-embedding --data keywords/ --out ./kws',
    'finetune train --task audio-classification --model speech-embedding --data clips.csv --method frozen --epochs 20 --out ./kws',
    'finetune train --task audio-classification --model keyword-cnn --data keywords/ --clip-seconds 1 --out ./kws-cnn',
    'finetune train --task audio-classification --model ./wav2vec2-base --data keywords/ --method lora --out ./kws-w2v',
    'finetune train --task audio-classification --model embedding_model.onnx --front-end speech-mel --data keywords/ --out ./kws-onnx',
    'finetune train --task audio-classification --model wav2vec2-onnx/ --data keywords/ --method lora --out ./kws-lora',
    'finetune predict --model ./kws yes.wav no.flac',
  ],
  predictInputs: 'AUDIO...',
  // built-in model folders, Wav2Vec2ForSequenceClassification, and Hugging Face's *ForAudioClassification (AST, Whisper) as Transformers.js lays them out
  recognises: (c) => (typeof c['model_type'] === 'string' && (AUDIO_MODELS as readonly string[]).includes(c['model_type'])) || (Array.isArray(c['architectures']) && (c['architectures'][0] === 'Wav2Vec2ForSequenceClassification' || String(c['architectures'][0]).endsWith('ForAudioClassification'))),

  async prepare(o, runtime) {
    const ck = await openAudioCheckpoint(o.model, { seed: o.seed, ...onnxOptions(o) })
    const clip = trainClip(o, ck)
    const RATE = ck.sampleRate
    const augment = o['augment'] !== false
    const loaded = await loadAudioData({
      data: o.data,
      ...(o.validation ? { validation: o.validation } : {}),
      sampleRate: RATE,
      clip,
      target: 'label',
      ...(augment ? {} : { augmentation: null }),
      validationFraction: o.validation || o.subset ? 0 : o.validationSplit,
      seed: o.seed,
      onBadRow: o.onBadRow,
      ...dataColumns(o),
    })
    const data = o.subset ? { ...loaded, ...subsetSplits(loaded.train, loaded.validation, loaded.train.labels(), o.subset) } : loaded
    try {
      const labels = labelNames(data.labels)
      const same = ck.labelled && ck.labels.join('\u0000') === labels.join('\u0000')
      if (ck.labelled && !same && !o.reinitHead && !(ck.onnx && ck.model.headPrefixes.length === 0)) throw new ConfigError('MODEL_LABELS_DIFFER', `${o.model} has a head for [${ck.labels.join(', ')}] but the data has [${labels.join(', ')}]`, 'pass --reinit-head to train a new head for your labels')
      const features = str(o['features'])
      if (features !== undefined && !ck.onnx) throw new ConfigError('FEATURES_ONNX_ONLY', '--features names a value of an imported ONNX graph', `${o.model} is not an .onnx model; drop --features`)
      const headFromCheckpoint = same && !o.reinitHead && (!ck.onnx || (ck.model.headPrefixes.length > 0 && features === undefined))
      if (!headFromCheckpoint) {
        if (ck.onnx) {
          const m = ck.onnx.model
          const cut = m.chooseCut(features, clip.length)
          m.attachHead(cut, labels.length, new Rng(o.seed), () => m.probe(clip.length))
          o.log?.(`features: ${cut.name} (${cut.why}), ${m.featureSize} wide; new head finetune_head: ${m.featureSize} -> ${labels.length}`)
        } else ck.model.setHead(labels.length, new Rng(o.seed))
        ck.labels = [...labels]
        ck.labelled = true
      }
      const frozen = freezeByName(ck.model, o['freeze'])
      if (frozen) o.log?.(`--freeze: ${frozen} parameters frozen`)
      return {
        model: ck.model,
        headPrefixes: ck.model.headPrefixes,
        job: (optimizer) =>
          new AudioTaskRunner({
            model: ck.model,
            labels,
            train: data.train,
            validation: data.validation,
            batchSize: o.batchSize,
            evalBatchSize: o.evalBatchSize,
            seed: o.seed,
            method: o.method === 'frozen' ? 'frozen' : 'full',
            onFeatureProgress: progressReporter(o.callbacks, 'features'),
            adaptFeatureNorm: !headFromCheckpoint,
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
        record: { arch: ck.arch, weights: ck.weights, clip, ...(ck.onnx ? { source: 'onnx', front_end: ck.onnx.model.contract.frontEnd, sampling_rate: RATE, features: ck.onnx.model.cut?.name, features_why: ck.onnx.model.cut?.why, feature_size: ck.model.featureSize } : {}) },
        save: (dir) => saveAudioCheckpoint(dir, ck, clip, { [TASK_FIELD]: TASK }),
        close: () => data.close(),
      }
    } catch (e) {
      await data.close()
      throw e
    }
  },

  async open(model: string, o: OpenOptions) {
    const ck = await openAudioCheckpoint(model, onnxOptions(o))
    const untrained = `train it first: finetune train --task ${TASK} --model ${model} --data CLIPS --out DIR`
    const lora = await attachAdapters(ck.model, model, o['adapter'])
    if (!ck.labelled && !ck.onnx) throw new ConfigError('MODEL_UNTRAINED', `${model} is a built-in model without a head for any labels`, untrained)
    const RATE = ck.sampleRate
    const clip = defaultClip(ck)
    const runtime = new Runtime({ provider: o.device ?? 'cpu', ...(o.threads ? { threads: o.threads } : {}) })
    const workers = num(o['workers'])
    return {
      async evaluate(data, eo) {
        if (!ck.labelled) throw new ConfigError('MODEL_UNTRAINED', `${model} has no head for labels (its graph's outputs are not named by an id2label)`, untrained)
        const ds = await loadAudioData({ data, labels: ck.labels, sampleRate: RATE, clip, target: 'label', augmentation: null, validationFraction: 0, onBadRow: eo.onBadRow, ...dataColumns({ ...eo, workers }) })
        try {
          const r = evalRunner(ck, runtime, eo.batchSize)
          followEvaluation(r.session, eo, ds.train.length)
          const metrics = await r.evaluate(ds.train)
          return { metrics, examples: ds.train.length, skipped: ds.badRows().total }
        } finally {
          await ds.close()
        }
      },
      async predict(paths, po) {
        if (paths.length === 0) throw new ConfigError('CLI_USAGE', 'finetune predict: give audio files or folders as arguments', 'run "finetune predict --help"')
        const set = await loadAudioFiles(paths, { sampleRate: RATE, clip, ...(workers !== undefined ? { workers } : {}) })
        const r = evalRunner(ck, runtime, po.batchSize)
        return predictLabels(set, po.batchSize, async (b) => (await r.session.evaluate({ audio: { data: b.samples, shape: b.shape, dtype: 'float32' } })).outputs['logits']!.data as Float32Array, ck.labels, model)
      },
      async export(eo) {
        const adapter = unmergedAdapter(ck.model, lora, eo)
        if (eo.format === 'safetensors') return exportWeightsFolder(eo.out, ck.model, adapter, (d) => saveAudioCheckpoint(d, ck, clip, { [TASK_FIELD]: TASK }), { baseModel: model, task: TASK })
        const B = eo.batchSize
        const N = clip.length
        const c = ck.onnx?.model.contract
        // an untrained graph that reads raw audio as it comes exports as itself, byte for byte
        if (ck.onnx && c?.frontEnd === 'none' && !c.normalize && ck.model.headPrefixes.length === 0 && !lora) return copySourceGraph(ck.onnx.file, eo.out, ck.onnx.model.graph.inputs.find((i) => i.name === c.input)!)
        // the graph's own input name and layout where it reads raw audio; \`audio\` (B, N) in front of a mel front-end
        const name = c?.frontEnd === 'none' ? c.input : 'audio'
        const shape = c?.frontEnd === 'none' && c.layout === 'channel-samples' ? [B, 1, N] : [B, N]
        return exportClassifierOnnx(eo.out, {
          dynamicBatch: eo.dynamicBatch,
          model: ck.model,
          input: name,
          shape,
          forward: (x) => ck.model.logits(x.reshape([x.shape[0]!, N])),
          metadata: { task: TASK, model_type: ck.arch, sampling_rate: String(RATE), clip: JSON.stringify(clip), input: `${name}: ${shape.join(' x ')} mono samples at ${RATE} Hz in [-1, 1), padded/cropped as "clip" says`, id2label: id2labelJson(ck.labels), ...(ck.onnx ? { source: 'onnx', front_end: c!.frontEnd, features: ck.onnx.model.cut?.name ?? '' } : {}) },
        })
      },
      async inspect() {
        const byModule: Record<string, number> = {}
        for (const [n, p] of ck.model.namedParameters()) if (p.kind === 'param') {
          const top = ck.model.headPrefixes.find((h) => n.startsWith(`${h}.`)) ?? (n.startsWith('classifier.') ? 'classifier' : (ck.model.blockOf?.(n) ?? n.split('.').slice(0, 2).join('.')))
          byModule[top] = (byModule[top] ?? 0) + p.data.length
        }
        const cut = ck.onnx?.model.cut
        const onnx = ck.onnx ? { source: 'onnx', file: ck.onnx.file, front_end: ck.onnx.model.contract.frontEnd, sampling_rate: RATE, input: ck.onnx.model.contract, features: cut?.name ?? null, features_why: cut?.why ?? null } : {}
        const json = { path: model, task: TASK, model_type: ck.arch, ...onnx, parameters: ck.model.countParameters(), numClasses: ck.model.numClasses, featureSize: ck.model.featureSize, head: ck.model.headPrefixes, labels: ck.labels, clip, byModule, files: statSync(model).isDirectory() ? readdirSync(model).sort() : [model] }
        return {
          json,
          byModule,
          rows: [
            ['model', model],
            ['task', TASK],
            ['model type', ck.arch],
            ...(ck.onnx ? [['graph', `${ck.onnx.file}; front-end ${ck.onnx.model.contract.frontEnd}, input ${ck.onnx.model.contract.input} (${ck.onnx.model.contract.layout}) at ${RATE} Hz`] as [string, string], ['features', cut ? `${cut.name} (${cut.why})` : "none: the graph's first output are the logits"] as [string, string]] : []),
            ['parameters', json.parameters.toLocaleString()],
            ['head', `${ck.model.headPrefixes.join(', ')} (${ck.model.featureSize} -> ${ck.model.numClasses})`],
            classesRow(ck.labels),
            ['clip', `${clip.length} samples (${clip.length / clip.sampleRate} s) at ${clip.sampleRate} Hz, pad ${clip.pad}, crop ${clip.crop}`],
          ],
        }
      },
      close: () => runtime.dispose(),
    }
  },
}
