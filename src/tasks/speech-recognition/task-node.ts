/**
 * `speech-recognition`: a transcript per clip, as Hugging Face's run_speech_recognition_ctc trains
 * Wav2Vec2ForCTC. Checkpoints: Wav2Vec2 folders (config.json, model.safetensors, vocab.json,
 * preprocessor_config.json), any ONNX graph from raw audio to frame logits (a bare .onnx with
 * --vocab, a Transformers.js-layout folder; src/models/onnx-ctc.ts), or a DeepSpeech-style model
 * (src/models/deepspeech.ts) from scratch by a built-in name (deepspeech-small, deepspeech-small-lstm: a vocabulary is built from the training
 * transcripts) or from a folder finetune trained; data: CSV/JSONL of path,transcript (paths relative to the file).
 * eval reports WER, CER and the CTC loss; predict prints the transcript per file (--json: path,
 * text and logits, frames x vocabulary); export writes the HF folder or a static-shape ONNX file.
 */
import { readdirSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { dirname } from 'node:path'
import { ConfigError } from '../../errors.js'
import { writeFileAtomic } from '../../checkpoint/io-node.js'
import { loadAudioFile } from '../../data/audio-decode-node.js'
import { loadAudioData } from '../../data/audio-data-node.js'
import type { AudioSplit } from '../../data/audio-dataset.js'
import { BadRows, DataRowError } from '../../data/errors.js'
import { exportInferenceOnnx } from '../../export/onnx.js'
import { isDeepSpeech, openDeepSpeech, saveDeepSpeech, type DeepSpeechFolder } from '../../models/deepspeech-node.js'
import { ImportedCtcModel, ONNX_CTC_DEFAULTS } from '../../models/onnx-ctc.js'
import { openOnnxCtc, saveOnnxCtc, type OnnxCtcFolder, type OnnxCtcOptions } from '../../models/onnx-ctc-node.js'
import { isOnnxModelPath } from '../../models/onnx-imported-node.js'
import { Wav2Vec2ForCTC } from '../../models/wav2vec2.js'
import { openWav2Vec2, saveWav2Vec2, type Wav2Vec2Folder } from '../../models/wav2vec2-node.js'
import { Rng } from '../../runtime/rng.js'
import { Runtime } from '../../runtime/session.js'
import { CtcVocab } from '../../tokenizers/ctc-vocab.js'
import { SpeechTaskRunner, type Utterance } from '../../train/speech.js'
import { attachAdapters, saveWithAdapter, unmergedAdapter } from '../adapter-node.js'
import { followEvaluation, assertFiniteOutputs, freezeByName, TASK_FIELD, type OpenOptions, type PredictRecord, type Task } from '../task.js'
import { chooseOnnxHead, exportOnnxCtc, inspectOnnxCtc } from './onnx-node.js'

const TASK = 'speech-recognition'
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined)
const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined)
type TextCase = 'keep' | 'upper' | 'lower'
type CtcFolder = Wav2Vec2Folder | DeepSpeechFolder | OnnxCtcFolder

/** The imported-ONNX flags (--vocab, --sampling-rate, --do-normalize, --features) of the options. */
const onnxOptions = (o: Record<string, unknown>): OnnxCtcOptions => ({ vocab: str(o['vocab']), samplingRate: num(o['samplingRate']), normalize: o['doNormalize'] === undefined ? undefined : o['doNormalize'] === 'true', features: str(o['features']) })

/** A Wav2Vec2 folder, an ONNX graph (file or folder), or a DeepSpeech built-in name or folder. */
async function openCtc(model: string, o: { seed?: number; newVocab?: boolean; scratch?: boolean; onnx?: OnnxCtcOptions } = {}): Promise<CtcFolder> {
  if (!isDeepSpeech(model) && isOnnxModelPath(model)) return openOnnxCtc(model, { ...o.onnx, newVocab: o.newVocab })
  const given = Object.entries(o.onnx ?? {}).find(([k, v]) => v !== undefined && k !== 'newVocab')
  if (given) throw new ConfigError('CLI_USAGE', `--${given[0].replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`).replace('normalize', 'do-normalize')} applies to an imported .onnx model; ${model} is not one`, 'drop it, or pass --model with an .onnx file or a Transformers.js-layout folder')
  return isDeepSpeech(model) ? openDeepSpeech(model, o) : openWav2Vec2(model, o)
}

function saveCtc(dir: string, ck: CtcFolder): Promise<void> {
  const m = ck.model
  if (m instanceof ImportedCtcModel) return saveOnnxCtc(dir, ck as OnnxCtcFolder, { [TASK_FIELD]: TASK })
  return m instanceof Wav2Vec2ForCTC ? saveWav2Vec2(dir, { ...ck, model: m }, { [TASK_FIELD]: TASK }) : saveDeepSpeech(dir, { ...ck, model: m }, { [TASK_FIELD]: TASK })
}

function applyCase(t: string, c: TextCase): string {
  return c === 'upper' ? t.toUpperCase() : c === 'lower' ? t.toLowerCase() : t
}

/** Decodes every clip of a split whole (mono, resampled); bad files stop or are skipped and counted. */
async function readUtterances(split: AudioSplit | undefined, sampleRate: number, bad: BadRows, textCase: TextCase): Promise<Utterance[]> {
  if (!split) return []
  const out: Utterance[] = []
  for (let i = 0; i < split.length; i++) {
    const path = split.exampleName(i)
    try {
      const samples = await loadAudioFile(path, sampleRate)
      if (samples.length === 0) throw new DataRowError('DATA_AUDIO_EMPTY', { file: path }, 'holds no samples', 'remove the row, or skip bad files (--on-bad-row skip)')
      out.push({ path, text: applyCase(split.transcript(i), textCase), samples })
    } catch (e) {
      bad.handle(e)
    }
  }
  return out
}

/** A Wav2CTCTokenizer-style vocabulary of the characters in `texts` (as HF's CTC fine-tuning guide builds one). */
export function vocabularyOf(texts: readonly string[]): string {
  const chars = [...new Set(texts.flatMap((t) => [...t.trim().replace(/\s+/g, ' ')]))].filter((ch) => ch !== ' ').sort()
  const tokens = ['<pad>', '<s>', '</s>', '<unk>', '|', ...chars]
  return `${JSON.stringify(Object.fromEntries(tokens.map((t, i) => [t, i])), null, 2)}\n`
}

const TOKENIZER_CONFIG = `${JSON.stringify({ bos_token: '<s>', do_lower_case: false, eos_token: '</s>', pad_token: '<pad>', tokenizer_class: 'Wav2Vec2CTCTokenizer', unk_token: '<unk>', word_delimiter_token: '|' }, null, 2)}\n`

export const speechRecognition: Task = {
  name: TASK,
  summary: 'a transcript per audio clip: Wav2Vec2, a DeepSpeech-style GRU/LSTM or an .onnx graph from audio to frame logits, with a CTC head over characters (WER, CER)',
  modality: 'audio',
  options: {
    newVocab: { type: 'boolean', describe: 'build a character vocabulary from the training transcripts and start a new lm_head (a checkpoint without a CTC head, or another alphabet)', default: false, commands: ['train'] },
    textCase: { type: 'enum', choices: ['keep', 'upper', 'lower'], describe: 'change transcripts to the case vocab.json spells (wav2vec2-base-960h: upper)', default: 'keep', commands: ['train', 'eval'] },
    freezeFeatureEncoder: { type: 'boolean', describe: "Wav2Vec2: keep the convolutional feature encoder frozen, as HF's CTC recipe does (--no-freeze-feature-encoder trains it)", default: true, commands: ['train'] },
    freeze: { type: 'list', describe: 'freeze parameters whose name matches the regular expression (repeatable; commas separate patterns)', placeholder: 'REGEX', commands: ['train'] },
    audioColumn: { type: 'string', describe: 'audio path column of the CSV/JSONL (default: path, audio, file...)', placeholder: 'NAME', commands: ['train', 'eval'] },
    transcriptColumn: { type: 'string', describe: 'transcript column (default: transcript, text, sentence...)', placeholder: 'NAME', commands: ['train', 'eval'] },
    vocab: { type: 'string', describe: "an .onnx model: vocab.json naming its output characters (<pad> = the CTC blank, | between words; a Transformers.js folder's own vocab.json is used otherwise). Frames per clip of n samples: floor((n - R) / S) + 1, R and S from config.json's conv_kernel/conv_stride, else found by tracing the graph; the CTC loss and decoding read each clip's own frames of a padded batch", placeholder: 'FILE', commands: ['train', 'eval', 'predict', 'export', 'inspect'] },
    features: { type: 'string', describe: "an .onnx model: train a new CTC head on this (batch, frames, features) value (default with --new-vocab: the input of the final MatMul/Gemm before the logits; without either the graph's own logits are trained)", placeholder: 'NAME', commands: ['train'] },
    samplingRate: { type: 'int', describe: `a bare .onnx model: the sample rate (Hz) its graph expects (default ${ONNX_CTC_DEFAULTS.sampleRate}; a folder's preprocessor_config.json wins)`, min: 1000, max: 192000, commands: ['train', 'eval', 'predict', 'export', 'inspect'] },
    doNormalize: { type: 'enum', choices: ['true', 'false'], describe: `a bare .onnx model: scale each clip to zero mean and unit variance first, as Wav2Vec2FeatureExtractor's do_normalize (default ${ONNX_CTC_DEFAULTS.normalize}; a folder's preprocessor_config.json wins)`, commands: ['train', 'eval', 'predict', 'export', 'inspect'] },
    seconds: { type: 'number', describe: 'ONNX export: the clip length the file takes (static shape; pad shorter clips with zeros; DeepSpeech also takes input_lengths, an imported graph that normalises clips or reads a mask attention_mask)', default: 5, min: 0.03, commands: ['export'] },
  },
  defaults: { batchSize: 8, lr: 1e-4, weightDecay: 0.005, schedule: 'linear', warmupRatio: 0.1 },
  examples: [
    'finetune train --task speech-recognition --model ./wav2vec2-base-960h --data clips.csv --text-case upper --out ./asr',
    'finetune train --task speech-recognition --model ./wav2vec2-base --new-vocab --data train.jsonl --validation dev.jsonl --out ./asr',
    'finetune eval --model ./asr --data test.csv --json          # wer, cer, eval_loss',
    'finetune predict --model ./asr hello.wav call-me.flac',
    'finetune train --task speech-recognition --model ./wav2vec2-onnx --data clips.csv --method lora --out ./asr   # Transformers.js layout (onnx/model.onnx)',
    'finetune train --task speech-recognition --model model.onnx --vocab vocab.json --data clips.csv --out ./asr',
    'finetune train --task speech-recognition --model deepspeech-small --data train.jsonl --lr 1e-3 --out ./ds   # from scratch',
  ],
  predictInputs: 'AUDIO...',
  recognises: (c) => Array.isArray(c['architectures']) && (c['architectures'][0] === 'Wav2Vec2ForCTC' || c['architectures'][0] === 'DeepSpeechForCTC'),

  async prepare(o, runtime) {
    const textCase = (str(o['textCase']) ?? 'keep') as TextCase
    const ck = await openCtc(o.model, { seed: o.seed, newVocab: o['newVocab'] === true, scratch: true, onnx: onnxOptions(o) })
    if (o['features'] !== undefined && !(ck.model instanceof ImportedCtcModel)) throw new ConfigError('FEATURES_ONNX_ONLY', '--features names a value of an imported ONNX graph', `${o.model} is not an .onnx model; drop --features`)
    // a built-in DeepSpeech config has no vocabulary yet: it always gets one from the transcripts
    const builtin = 'builtin' in ck && ck.builtin
    const newVocab = o['newVocab'] === true || builtin
    const ds = await loadAudioData({
      data: o.data,
      ...(o.validation ? { validation: o.validation } : {}),
      target: 'transcript',
      sampleRate: ck.preprocessor.sampling_rate,
      augmentation: null,
      validationFraction: o.validation || o.subset ? 0 : o.validationSplit,
      seed: o.seed,
      onBadRow: o.onBadRow,
      workers: 0,
      ...(str(o['audioColumn']) ? { audioColumn: str(o['audioColumn'])! } : {}),
      ...(str(o['transcriptColumn']) ? { transcriptColumn: str(o['transcriptColumn'])! } : {}),
    })
    try {
      if (ds.target !== 'transcript') throw new ConfigError('DATA_NOT_TRANSCRIPTS', `${o.data} holds labels, not transcripts`, 'give a CSV/JSONL with path and transcript columns (--transcript-column NAME)')
      const bad = new BadRows(o.onBadRow)
      const train = await readUtterances(ds.train, ck.preprocessor.sampling_rate, bad, textCase)
      const validation = await readUtterances(ds.validation, ck.preprocessor.sampling_rate, bad, textCase)
      if (train.length === 0) throw new ConfigError('DATA_EMPTY', `${o.data} has no usable clips`, 'see the skipped files above')
      if (newVocab) {
        // HF's CTC guide takes the characters of train and test: a held-out clip must be spellable too
        const files = { vocab: vocabularyOf([...train, ...validation].map((u) => u.text)), tokenizerConfig: TOKENIZER_CONFIG }
        ck.vocab = CtcVocab.fromFiles(files)
        ck.vocabFiles = files
        if (!(ck.model instanceof ImportedCtcModel)) ck.model.replaceHead(ck.vocab.size, ck.vocab.pad, new Rng(o.seed + 7))
        o.log?.(`new vocabulary: ${ck.vocab.size} tokens (${ck.vocab.tokens.slice(5).join('')}); new ${ck.model instanceof ImportedCtcModel ? 'CTC head' : 'lm_head'}`)
      }
      if (ck.model instanceof ImportedCtcModel) for (const l of chooseOnnxHead(ck as OnnxCtcFolder, { features: str(o['features']), newVocab, method: o.method, seed: o.seed + 7 })) o.log?.(l)
      if (o['freezeFeatureEncoder'] !== false && ck.model instanceof Wav2Vec2ForCTC) ck.model.freezeFeatureEncoder()
      const frozen = freezeByName(ck.model, o['freeze'])
      if (frozen) o.log?.(`--freeze: ${frozen} parameters frozen`)
      // frozen: only the CTC head trains (LoRA freezes the base itself, keeping lm_head trainable)
      if (o.method === 'frozen') for (const [n, p] of ck.model.namedParameters()) if (p.kind === 'param' && !ck.model.headPrefixes.some((h) => n.startsWith(`${h}.`))) p.requiresGrad = false
      const runnerFor = (optimizer: Parameters<typeof makeRunner>[2]): SpeechTaskRunner => makeRunner(ck, runtime, optimizer, { train, validation: validation.length ? validation : undefined, batchSize: o.batchSize, evalBatchSize: o.evalBatchSize, seed: o.seed, clipNorm: o.clipNorm > 0 ? o.clipNorm : undefined, accumulation: o.gradAccum, frozen: o.method === 'frozen' })
      // transcripts and lengths are checked before anything is written
      const probe = runnerFor({ kind: 'sgd', lr: 0 })
      probe.check(train)
      if (validation.length) probe.check(validation)
      return {
        model: ck.model,
        headPrefixes: ck.model.headPrefixes,
        job: (optimizer) => runnerFor(optimizer).job(),
        defaultMetric: 'wer',
        labels: [],
        headFromCheckpoint: !newVocab && !(ck.model instanceof ImportedCtcModel && o['features'] !== undefined),
        trainExamples: train.length,
        evalExamples: validation.length,
        get skipped() {
          return bad.total + ds.badRows().total
        },
        record: { source: builtin ? 'builtin' : ck.model instanceof ImportedCtcModel ? 'onnx' : 'hf', arch: ck.model instanceof ImportedCtcModel ? 'onnx' : ck.model.architecture, ...(ck.model instanceof ImportedCtcModel ? { features: ck.model.cut?.name ?? null, frame_rule: ck.model.frameRule.why } : {}), vocab_size: ck.vocab.size, sampling_rate: ck.preprocessor.sampling_rate, longest_clip_s: SpeechTaskRunner.lengthOf(train) / ck.preprocessor.sampling_rate, frozen_feature_encoder: o['freezeFeatureEncoder'] !== false && ck.model instanceof Wav2Vec2ForCTC },
        save: (dir) => saveCtc(dir, ck),
        close: () => ds.close(),
      }
    } catch (e) {
      await ds.close()
      throw e
    }
  },

  async open(model: string, o: OpenOptions) {
    const ck = await openCtc(model, { onnx: onnxOptions(o) })
    const lora = await attachAdapters(ck.model, model, o['adapter'])
    const runtime = new Runtime({ provider: o.device ?? 'cpu', ...(o.threads ? { threads: o.threads } : {}) })
    const runner = (batchSize: number): SpeechTaskRunner => makeRunner(ck, runtime, { kind: 'sgd', lr: 0 }, { train: [], batchSize, seed: 0 })
    const sr = ck.preprocessor.sampling_rate
    return {
      async evaluate(data, eo) {
        const textCase = (str(eo['textCase']) ?? 'keep') as TextCase
        const ds = await loadAudioData({ data, target: 'transcript', sampleRate: sr, augmentation: null, validationFraction: 0, onBadRow: eo.onBadRow, workers: 0, ...(str(eo['audioColumn']) ? { audioColumn: str(eo['audioColumn'])! } : {}), ...(str(eo['transcriptColumn']) ? { transcriptColumn: str(eo['transcriptColumn'])! } : {}) })
        try {
          const bad = new BadRows(eo.onBadRow)
          const us = await readUtterances(ds.train, sr, bad, textCase)
          if (us.length === 0) throw new ConfigError('DATA_EMPTY', `${data} has no usable clips`, 'see the skipped files above')
          const r = runner(eo.batchSize)
          followEvaluation(r.session, eo, us.length)
          const metrics = await r.evaluate(us)
          return { metrics, examples: us.length, skipped: bad.total + ds.badRows().total }
        } finally {
          await ds.close()
        }
      },
      async predict(paths, po) {
        if (paths.length === 0) throw new ConfigError('CLI_USAGE', 'finetune predict: give audio files as arguments', 'run "finetune predict --help"')
        const us: Utterance[] = []
        for (const p of paths) us.push({ path: p, text: '', samples: await loadAudioFile(p, sr) })
        const r = runner(po.batchSize)
        for (const u of us) if (ck.model.frames(u.samples.length) < 1) throw new ConfigError('AUDIO_TOO_SHORT', `${u.path}: ${u.samples.length} samples are too short for the model`, 'give clips of at least 25 ms')
        const out: PredictRecord[] = []
        // one clip at a time: each is its own length, as a user's files are
        for (const u of us) {
          const t = await r.transcribe([u])
          const V = ck.vocab.size
          const rows: number[][] = []
          for (let f = 0; f < t.frames[0]!; f++) rows.push(Array.from(t.logits[0]!.subarray(f * V, (f + 1) * V)))
          assertFiniteOutputs(t.logits[0]!, model, u.path)
          out.push({ path: u.path, text: t.texts[0]!, logits: rows })
        }
        return out
      },
      async export(eo) {
        const adapter = unmergedAdapter(ck.model, lora, eo)
        if (eo.format === 'safetensors') {
          if (eo.out.endsWith('.safetensors')) throw new ConfigError('EXPORT_OUT', 'a speech-recognition model exports as a folder (weights, vocab.json, preprocessor_config.json)', 'pass a folder path as --out')
          await mkdir(eo.out, { recursive: true })
          await saveWithAdapter(eo.out, ck.model, adapter, (d) => saveCtc(d, ck), { merge: false, baseModel: model, task: TASK })
          return { path: eo.out, inputs: {} }
        }
        const N = Math.round((num(eo['seconds']) ?? 5) * sr)
        const B = eo.batchSize
        const m = ck.model
        if (m instanceof ImportedCtcModel) {
          const x = exportOnnxCtc(ck as OnnxCtcFolder, { batchSize: B, samples: N, dynamicBatch: eo.dynamicBatch, task: TASK })
          await mkdir(dirname(eo.out) || '.', { recursive: true })
          await writeFileAtomic(eo.out, [x.bytes])
          return { path: eo.out, inputs: x.inputs }
        }
        // DeepSpeech masks padding itself: the file takes each clip's real sample count too
        const lengths = m instanceof Wav2Vec2ForCTC ? {} : { input_lengths: { shape: [B], dtype: 'int64' as const } }
        const bytes = exportInferenceOnnx({
          dynamicBatch: eo.dynamicBatch,
          model: m,
          inputs: { input_values: { shape: [B, N], dtype: 'float32' }, ...lengths },
          forward: (i) => ({ logits: m instanceof Wav2Vec2ForCTC ? m.logits(i['input_values']!) : m.logits(i['input_values']!, null, null, i['input_lengths']!) }),
          metadata: { task: TASK, arch: m.architecture, sampling_rate: String(sr), do_normalize: String(ck.preprocessor.do_normalize), vocab: JSON.stringify(ck.vocab.tokens), blank: String(ck.vocab.pad), word_delimiter: ck.vocab.wordDelimiter },
        })
        await mkdir(dirname(eo.out) || '.', { recursive: true })
        await writeFileAtomic(eo.out, [bytes])
        return { path: eo.out, inputs: { input_values: [B, N], ...(m instanceof Wav2Vec2ForCTC ? {} : { input_lengths: [B] }) } }
      },
      async inspect() {
        if (ck.model instanceof ImportedCtcModel) return inspectOnnxCtc(model, ck as OnnxCtcFolder, TASK)
        const byModule: Record<string, number> = {}
        for (const [n, p] of ck.model.namedParameters()) if (p.kind === 'param') {
          const k = n.split('.').slice(0, n.startsWith('wav2vec2.') ? 2 : 1).join('.')
          byModule[k] = (byModule[k] ?? 0) + p.data.length
        }
        if (!(ck.model instanceof Wav2Vec2ForCTC)) return inspectDeepSpeech(model, ck as DeepSpeechFolder, byModule)
        const c = ck.model.c
        const json = { path: model, task: TASK, arch: 'Wav2Vec2ForCTC', parameters: ck.model.countParameters(), hidden_size: c.hidden_size, layers: c.num_hidden_layers, feat_extract_norm: c.feat_extract_norm, do_stable_layer_norm: c.do_stable_layer_norm, vocab: ck.vocab.tokens, preprocessing: ck.preprocessor, frames_per_second: ck.model.frames(sr * 10) / 10, byModule, files: readdirSync(model).sort() }
        return {
          json,
          byModule,
          rows: [
            ['model', model],
            ['task', TASK],
            ['architecture', `Wav2Vec2ForCTC (${c.num_hidden_layers} layers, hidden ${c.hidden_size}, ${c.feat_extract_norm}-norm feature encoder${c.do_stable_layer_norm ? ', stable layer norm' : ''})`],
            ['parameters', json.parameters.toLocaleString()],
            ['vocabulary', `${ck.vocab.size}: ${ck.vocab.tokens.join(' ')}`],
            ['audio', `${sr} Hz, ${ck.preprocessor.do_normalize ? 'normalised per clip' : 'not normalised'}, ${ck.preprocessor.return_attention_mask ? 'attention mask' : 'no attention mask'}, ${json.frames_per_second} frames/s`],
          ],
        }
      },
      close: () => runtime.dispose(),
    }
  },
}

function makeRunner(ck: CtcFolder, runtime: Runtime, optimizer: import('../../optim/optimizers.js').OptimizerConfig, o: { train: Utterance[]; validation?: Utterance[] | undefined; batchSize: number; evalBatchSize?: number | undefined; seed: number; clipNorm?: number | undefined; accumulation?: number | undefined; frozen?: boolean }): SpeechTaskRunner {
  return new SpeechTaskRunner({
    model: ck.model,
    vocab: ck.vocab,
    prep: ck.preprocessor,
    train: o.train,
    validation: o.validation,
    batchSize: o.batchSize,
    ...(o.evalBatchSize ? { evalBatchSize: o.evalBatchSize } : {}),
    seed: o.seed,
    runtime,
    optimizer,
    ...(o.clipNorm !== undefined ? { clipNorm: o.clipNorm } : {}),
    ...(o.accumulation !== undefined ? { accumulation: o.accumulation } : {}),
    ...(o.frozen ? { frozen: true } : {}),
  })
}


function inspectDeepSpeech(model: string, ck: DeepSpeechFolder, byModule: Record<string, number>): { json: Record<string, unknown>; byModule: Record<string, number>; rows: [string, string][] } {
  const c = ck.model.c
  const sr = ck.preprocessor.sampling_rate
  const json = { path: model, task: TASK, arch: ck.model.architecture, parameters: ck.model.countParameters(), rnn_type: c.rnn_type, rnn_hidden_size: c.rnn_hidden_size, layers: c.rnn_layers, bidirectional: c.bidirectional, n_mels: c.n_mels, vocab: ck.vocab.tokens, preprocessing: ck.preprocessor, frames_per_second: ck.model.frames(sr * 10) / 10, byModule, files: readdirSync(model).sort() }
  return {
    json,
    byModule,
    rows: [
      ['model', model],
      ['task', TASK],
      ['architecture', `DeepSpeechForCTC (${c.conv_channels.length} conv, ${c.rnn_layers} ${c.bidirectional ? 'bidirectional ' : ''}${c.rnn_type.toUpperCase()} layers of ${c.rnn_hidden_size}, ${c.n_mels} log-mel bins)`],
      ['parameters', json.parameters.toLocaleString()],
      ['vocabulary', `${ck.vocab.size}: ${ck.vocab.tokens.join(' ')}`],
      ['audio', `${sr} Hz, ${ck.preprocessor.do_normalize ? 'normalised per clip' : 'not normalised'}, ${json.frames_per_second} frames/s`],
    ],
  }
}
