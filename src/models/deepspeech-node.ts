/**
 * Node-only: DeepSpeech models in and out. `--model deepspeech-small` (or -lstm) is a built-in
 * from-scratch config with seeded random weights and no vocabulary yet (the task builds one from the
 * training transcripts), and so is a folder with only a config.json; a trained folder holds config.json (model_type "deepspeech"), model.safetensors,
 * vocab.json (+ tokenizer_config.json) and preprocessor_config.json, laid out as Wav2Vec2's.
 */
import { existsSync, readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { CheckpointError, ConfigError } from '../errors.js'
import { readJsonFile, writeFileAtomic, writeSafetensorsFile } from '../checkpoint/io-node.js'
import { CtcVocab } from '../tokenizers/ctc-vocab.js'
import { DEEPSPEECH_MODELS, DeepSpeechForCTC } from './deepspeech.js'
import type { HfConfig } from './hf.js'
import { loadWeights, type LoadReport } from './load.js'
import { assertModelDir, modelTensors, openWeights } from './pretrained-node.js'
import { readPreprocessor, type Wav2Vec2Preprocessor } from './wav2vec2-node.js'

export interface DeepSpeechFolder {
  dir: string
  model: DeepSpeechForCTC
  vocab: CtcVocab
  vocabFiles: { vocab: string; tokenizerConfig?: string }
  preprocessor: Wav2Vec2Preprocessor
  config: HfConfig
  report: LoadReport
  /** A built-in config or a config-only folder: random weights and a placeholder vocabulary (the task must build one). */
  builtin: boolean
}

/** Whether `model` names a built-in DeepSpeech config or a folder whose config.json says model_type "deepspeech". */
export function isDeepSpeech(model: string): boolean {
  if (model in DEEPSPEECH_MODELS) return true
  const path = join(model, 'config.json')
  if (!existsSync(path)) return false
  try {
    return (JSON.parse(readFileSync(path, 'utf8')) as HfConfig)['model_type'] === 'deepspeech'
  } catch {
    return false
  }
}

const PREPROCESSOR: Wav2Vec2Preprocessor = { sampling_rate: 16000, do_normalize: true, return_attention_mask: true, padding_value: 0 }

function scratch(raw: HfConfig, file: string, seed: number, preprocessor: Wav2Vec2Preprocessor, dir: string): DeepSpeechFolder {
  const m = new DeepSpeechForCTC(raw, { seed, file })
  const tokens = Array.from({ length: m.c.vocab_size }, (_, i) => (i === m.c.pad_token_id ? '<pad>' : `<${i}>`))
  const vocabFiles = { vocab: JSON.stringify(Object.fromEntries(tokens.map((t, i) => [t, i]))) }
  const report: LoadReport = { loaded: 0, initialised: m.namedParameters().map(([n]) => n), reinitialised: [], ignored: [] }
  return { dir, model: m, vocab: CtcVocab.fromFiles(vocabFiles), vocabFiles, preprocessor: { ...preprocessor, sampling_rate: m.c.sampling_rate }, config: m.toConfig(), report, builtin: true }
}

/**
 * Opens a built-in DeepSpeech config by name or a DeepSpeech folder (strict weight loading). Random
 * weights (a built-in name, or a folder without model.safetensors) only when `scratch` allows them:
 * training does, eval and predict do not.
 */
export async function openDeepSpeech(model: string, o: { seed?: number; newVocab?: boolean; scratch?: boolean } = {}): Promise<DeepSpeechFolder> {
  const seed = o.seed ?? 0
  const untrained = (): ConfigError => new ConfigError('MODEL_UNTRAINED', `${model} is a DeepSpeech configuration without trained weights or vocabulary`, `train it first: finetune train --task speech-recognition --model ${model} --data CLIPS --out DIR`)
  const builtin = DEEPSPEECH_MODELS[model]
  if (builtin) {
    if (!o.scratch) throw untrained()
    return scratch({ ...builtin }, model, seed, PREPROCESSOR, model)
  }
  assertModelDir(model)
  const configPath = join(model, 'config.json')
  const raw = (await readJsonFile(configPath, 'model config')) as HfConfig
  if (raw['model_type'] !== 'deepspeech')
    throw new ConfigError('MODEL_FAMILY', `${configPath} says model_type ${JSON.stringify(raw['model_type'])}, not "deepspeech"`, `pass a DeepSpeech folder or a built-in name (${Object.keys(DEEPSPEECH_MODELS).join(', ')})`)
  const preprocessor = existsSync(join(model, 'preprocessor_config.json')) ? await readPreprocessor(model) : PREPROCESSOR
  if (!existsSync(join(model, 'model.safetensors')) && !existsSync(join(model, 'model.safetensors.index.json'))) {
    if (!o.scratch) throw untrained()
    return scratch(raw, configPath, seed, preprocessor, model)
  }
  const m = new DeepSpeechForCTC(raw, { seed, file: configPath })
  if (preprocessor.sampling_rate !== m.c.sampling_rate)
    throw new ConfigError('PREPROCESSOR_INVALID', `${join(model, 'preprocessor_config.json')} says sampling_rate ${preprocessor.sampling_rate} but config.json's front-end runs at ${m.c.sampling_rate}`, 'make the two agree')
  let vocabFiles: { vocab: string; tokenizerConfig?: string }
  if (o.newVocab) {
    const tokens = Array.from({ length: m.c.vocab_size }, (_, i) => (i === m.c.pad_token_id ? '<pad>' : `<${i}>`))
    vocabFiles = { vocab: JSON.stringify(Object.fromEntries(tokens.map((t, i) => [t, i]))) }
  } else {
    const vocabPath = join(model, 'vocab.json')
    if (!existsSync(vocabPath)) throw new CheckpointError('MODEL_NO_VOCAB', `${model} has no vocab.json`, 'a CTC model needs its character vocabulary: copy vocab.json from the folder it was trained in, or train a new one with --new-vocab')
    const tcPath = join(model, 'tokenizer_config.json')
    vocabFiles = { vocab: await readFile(vocabPath, 'utf8'), ...(existsSync(tcPath) ? { tokenizerConfig: await readFile(tcPath, 'utf8') } : {}) }
  }
  const vocab = CtcVocab.fromFiles(vocabFiles)
  if (!o.newVocab && vocab.size !== m.c.vocab_size)
    throw new ConfigError('MODEL_VOCAB_SIZE', `${join(model, 'vocab.json')} has ${vocab.size} entries but config.json's vocab_size is ${m.c.vocab_size}`, 'the lm_head has one output per vocabulary entry: use the vocab.json that came with the weights')
  if (!o.newVocab && vocab.pad !== m.c.pad_token_id)
    throw new ConfigError('MODEL_PAD_TOKEN', `vocab.json's pad token has id ${vocab.pad} but config.json's pad_token_id is ${m.c.pad_token_id}`, 'the pad token is the CTC blank; make them agree')
  const weights = await openWeights(model)
  try {
    const report = await loadWeights(m, weights, o.newVocab ? { newOk: ['lm_head'], ignoreMismatchedSizes: true } : {})
    return { dir: model, model: m, vocab, vocabFiles, preprocessor, config: raw, report, builtin: false }
  } finally {
    await weights.close?.()
  }
}

/** Writes a DeepSpeech folder, each file atomically. */
export async function saveDeepSpeech(dir: string, f: Pick<DeepSpeechFolder, 'model' | 'vocabFiles' | 'preprocessor'>, extra: HfConfig = {}): Promise<void> {
  await writeSafetensorsFile(join(dir, 'model.safetensors'), modelTensors(f.model), { format: 'pt' })
  await writeFileAtomic(join(dir, 'vocab.json'), f.vocabFiles.vocab)
  if (f.vocabFiles.tokenizerConfig !== undefined) await writeFileAtomic(join(dir, 'tokenizer_config.json'), f.vocabFiles.tokenizerConfig)
  const p = f.preprocessor
  const pre = { do_normalize: p.do_normalize, feature_extractor_type: 'Wav2Vec2FeatureExtractor', feature_size: 1, padding_side: 'right', padding_value: p.padding_value, processor_class: 'Wav2Vec2Processor', return_attention_mask: true, sampling_rate: p.sampling_rate }
  await writeFileAtomic(join(dir, 'preprocessor_config.json'), `${JSON.stringify(pre, null, 2)}\n`)
  await writeFileAtomic(join(dir, 'config.json'), `${JSON.stringify({ ...f.model.toConfig(), ...extra }, null, 2)}\n`)
}
