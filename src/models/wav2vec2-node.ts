/**
 * Node-only: Wav2Vec2ForCTC folders in and out, as transformers' save_pretrained lays them out:
 * config.json, model.safetensors, vocab.json (+ tokenizer_config.json) and preprocessor_config.json.
 */
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { CheckpointError, ConfigError } from '../errors.js'
import { readJsonFile, writeFileAtomic, writeSafetensorsFile } from '../checkpoint/io-node.js'
import { CtcVocab } from '../tokenizers/ctc-vocab.js'
import type { HfConfig } from './hf.js'
import { loadWeights, type LoadReport, type WeightSource } from './load.js'
import { assertModelDir, modelTensors, openWeights } from './pretrained-node.js'
import { Wav2Vec2ForCTC } from './wav2vec2.js'
import { Wav2Vec2ForSequenceClassification } from './wav2vec2-classifier.js'

/** preprocessor_config.json of Wav2Vec2FeatureExtractor: what the audio needs before the model. */
export interface Wav2Vec2Preprocessor {
  sampling_rate: number
  /** Zero mean, unit variance per clip over its real samples (HF adds 1e-7 to the variance). */
  do_normalize: boolean
  /** Whether the model is given an attention mask (padded frames masked; layer-norm encoders). */
  return_attention_mask: boolean
  padding_value: number
}

export interface Wav2Vec2Folder {
  dir: string
  model: Wav2Vec2ForCTC
  vocab: CtcVocab
  vocabFiles: { vocab: string; tokenizerConfig?: string }
  preprocessor: Wav2Vec2Preprocessor
  config: HfConfig
  report: LoadReport
}

/** transformers >= 4.40 with torch >= 2.1 saves the weight-normed conv under parametrizations. */
const PARAMETRIZED: Record<string, string> = {
  'wav2vec2.encoder.pos_conv_embed.conv.weight_g': 'wav2vec2.encoder.pos_conv_embed.conv.parametrizations.weight.original0',
  'wav2vec2.encoder.pos_conv_embed.conv.weight_v': 'wav2vec2.encoder.pos_conv_embed.conv.parametrizations.weight.original1',
}

function withAliases(src: WeightSource): WeightSource {
  const keys = src.keys()
  const rename = new Map<string, string>()
  for (const [ours, theirs] of Object.entries(PARAMETRIZED)) {
    for (const prefix of ['', 'wav2vec2.']) {
      const t = prefix ? theirs.slice('wav2vec2.'.length) : theirs
      if (keys.includes(t) && !keys.includes(ours)) rename.set(prefix ? ours.slice('wav2vec2.'.length) : ours, t)
    }
  }
  if (rename.size === 0) return src
  const back = new Map([...rename].map(([a, b]) => [b, a]))
  return {
    name: src.name,
    keys: () => keys.map((k) => back.get(k) ?? k),
    info: (k) => src.info(rename.get(k) ?? k),
    readAsFloat32: (k) => src.readAsFloat32(rename.get(k) ?? k),
    ...(src.fileOf ? { fileOf: (k: string) => src.fileOf!(rename.get(k) ?? k) } : {}),
  }
}

export async function readPreprocessor(dir: string): Promise<Wav2Vec2Preprocessor> {
  const path = join(dir, 'preprocessor_config.json')
  const d: Wav2Vec2Preprocessor = { sampling_rate: 16000, do_normalize: true, return_attention_mask: false, padding_value: 0 }
  if (!existsSync(path)) return d
  const raw = (await readJsonFile(path, 'preprocessor config')) as Record<string, unknown>
  const bad: string[] = []
  const num = (k: keyof Wav2Vec2Preprocessor, ok: (v: number) => boolean): number => {
    const v = raw[k] ?? d[k]
    if (typeof v !== 'number' || !ok(v)) bad.push(`${k}: ${JSON.stringify(v)}`)
    return typeof v === 'number' ? v : (d[k] as number)
  }
  const bool = (k: keyof Wav2Vec2Preprocessor): boolean => {
    const v = raw[k] ?? d[k]
    if (typeof v !== 'boolean') bad.push(`${k}: ${JSON.stringify(v)} (want true or false)`)
    return v === true
  }
  const p: Wav2Vec2Preprocessor = {
    sampling_rate: num('sampling_rate', (v) => Number.isInteger(v) && v > 0),
    do_normalize: bool('do_normalize'),
    return_attention_mask: bool('return_attention_mask'),
    padding_value: num('padding_value', Number.isFinite),
  }
  if (raw['feature_size'] !== undefined && raw['feature_size'] !== 1) bad.push(`feature_size: ${JSON.stringify(raw['feature_size'])} (Wav2Vec2 takes mono audio, 1)`)
  if (bad.length) throw new ConfigError('PREPROCESSOR_INVALID', `${path} has invalid fields:\n  ${bad.join('\n  ')}`, 'fix them, or delete the file to use 16 kHz with per-clip normalisation')
  return p
}

/** Opens a Wav2Vec2ForCTC folder: strict weight loading, its vocabulary and its preprocessor. */
export async function openWav2Vec2(dir: string, o: { seed?: number; newVocab?: boolean } = {}): Promise<Wav2Vec2Folder> {
  assertModelDir(dir)
  const configPath = join(dir, 'config.json')
  const raw = (await readJsonFile(configPath, 'model config')) as HfConfig
  if (raw['model_type'] !== 'wav2vec2')
    throw new ConfigError('MODEL_FAMILY', `${configPath} says model_type ${JSON.stringify(raw['model_type'])}; speech recognition takes Wav2Vec2 (model_type "wav2vec2")`, 'pass a Wav2Vec2ForCTC folder (config.json, model.safetensors, vocab.json)')
  const vocabPath = join(dir, 'vocab.json')
  const model = new Wav2Vec2ForCTC(raw, { file: configPath, init: o.newVocab === true, ...(o.seed !== undefined ? { seed: o.seed } : {}) })
  if (o.newVocab) {
    // the caller builds the vocabulary and a new lm_head; a placeholder stands in until then
    const tokens = Array.from({ length: model.c.vocab_size }, (_, i) => (i === model.c.pad_token_id ? '<pad>' : `<${i}>`))
    const vocabFiles = { vocab: JSON.stringify(Object.fromEntries(tokens.map((t, i) => [t, i]))) }
    const weights = await openWeights(dir)
    try {
      const report = await loadWeights(model, withAliases(weights), { basePrefix: 'wav2vec2', newOk: ['lm_head', 'wav2vec2.masked_spec_embed'], ignoreMismatchedSizes: true, ignorable: /^(quantizer|project_q|project_hid)\./ })
      return { dir, model, vocab: CtcVocab.fromFiles(vocabFiles), vocabFiles, preprocessor: await readPreprocessor(dir), config: raw, report }
    } finally {
      await weights.close?.()
    }
  }
  if (!existsSync(vocabPath)) throw new CheckpointError('MODEL_NO_VOCAB', `${dir} has no vocab.json`, 'a CTC model needs its character vocabulary: copy vocab.json (and tokenizer_config.json) from the checkpoint you started from, or train a new one with --new-vocab')
  const tcPath = join(dir, 'tokenizer_config.json')
  const vocabFiles = { vocab: await readFile(vocabPath, 'utf8'), ...(existsSync(tcPath) ? { tokenizerConfig: await readFile(tcPath, 'utf8') } : {}) }
  const vocab = CtcVocab.fromFiles(vocabFiles)
  if (vocab.size !== model.c.vocab_size)
    throw new ConfigError('MODEL_VOCAB_SIZE', `${vocabPath} has ${vocab.size} entries but config.json's vocab_size is ${model.c.vocab_size}`, 'the lm_head has one output per vocabulary entry: use the vocab.json that came with the weights')
  if (vocab.pad !== model.c.pad_token_id)
    throw new ConfigError('MODEL_PAD_TOKEN', `vocab.json's pad token has id ${vocab.pad} but config.json's pad_token_id is ${model.c.pad_token_id}`, 'the pad token is the CTC blank; make them agree')
  const weights = await openWeights(dir)
  try {
    const report = await loadWeights(model, withAliases(weights), { basePrefix: 'wav2vec2', ignorable: /^(quantizer|project_q|project_hid)\./ })
    return { dir, model, vocab, vocabFiles, preprocessor: await readPreprocessor(dir), config: raw, report }
  } finally {
    await weights.close?.()
  }
}

/** Writes a Wav2Vec2ForCTC folder (each file atomically) that transformers' from_pretrained reads. */
export async function saveWav2Vec2(dir: string, f: Pick<Wav2Vec2Folder, 'model' | 'vocabFiles' | 'preprocessor'>, extra: HfConfig = {}): Promise<void> {
  await writeSafetensorsFile(join(dir, 'model.safetensors'), modelTensors(f.model), { format: 'pt' })
  await writeFileAtomic(join(dir, 'vocab.json'), f.vocabFiles.vocab)
  if (f.vocabFiles.tokenizerConfig !== undefined) await writeFileAtomic(join(dir, 'tokenizer_config.json'), f.vocabFiles.tokenizerConfig)
  const pre = { do_normalize: f.preprocessor.do_normalize, feature_extractor_type: 'Wav2Vec2FeatureExtractor', feature_size: 1, padding_side: 'right', padding_value: f.preprocessor.padding_value, processor_class: 'Wav2Vec2Processor', return_attention_mask: f.preprocessor.return_attention_mask, sampling_rate: f.preprocessor.sampling_rate }
  await writeFileAtomic(join(dir, 'preprocessor_config.json'), `${JSON.stringify(pre, null, 2)}\n`)
  await writeFileAtomic(join(dir, 'config.json'), `${JSON.stringify({ ...f.model.toConfig(), ...extra }, null, 2)}\n`)
}

export interface Wav2Vec2ClassifierFolder {
  model: Wav2Vec2ForSequenceClassification
  /** The head's labels in id order (empty for a backbone without a classification head). */
  labels: string[]
  preprocessor: Wav2Vec2Preprocessor
  report: LoadReport
}

/**
 * A Wav2Vec2 folder as a sequence classifier: a Wav2Vec2ForSequenceClassification folder keeps its
 * head and labels; any other Wav2Vec2 folder (pre-training, CTC) gives its backbone, and a new head
 * is drawn for `numClasses` labels (its lm_head and quantizer are left out, as HF does).
 */
export async function openWav2Vec2Classifier(dir: string, o: { seed?: number; numClasses?: number } = {}): Promise<Wav2Vec2ClassifierFolder> {
  assertModelDir(dir)
  const configPath = join(dir, 'config.json')
  const raw = (await readJsonFile(configPath, 'model config')) as HfConfig
  if (raw['model_type'] !== 'wav2vec2') throw new ConfigError('MODEL_FAMILY', `${configPath} says model_type ${JSON.stringify(raw['model_type'])}, not "wav2vec2"`, 'pass a Wav2Vec2 folder (config.json, model.safetensors, preprocessor_config.json)')
  const arch = Array.isArray(raw['architectures']) ? raw['architectures'][0] : undefined
  const id2label = raw['id2label'] as Record<string, unknown> | undefined
  const labelled = arch === 'Wav2Vec2ForSequenceClassification' && !!id2label && Object.keys(id2label).length > 0
  const labels = labelled ? Object.keys(id2label!).sort((a, b) => Number(a) - Number(b)).map((k) => String(id2label![k])) : []
  const preprocessor = await readPreprocessor(dir)
  const model = new Wav2Vec2ForSequenceClassification(raw, labelled ? labels.length : (o.numClasses ?? 2), { file: configPath, normalize: preprocessor.do_normalize, ...(o.seed !== undefined ? { seed: o.seed } : {}) })
  const weights = await openWeights(dir)
  try {
    const report = await loadWeights(model, withAliases(weights), { basePrefix: 'wav2vec2', newOk: labelled ? ['wav2vec2.masked_spec_embed'] : ['projector', 'classifier', 'layer_weights', 'wav2vec2.masked_spec_embed'], ignorable: /^(quantizer|project_q|project_hid|lm_head)\./ })
    return { model, labels, preprocessor, report }
  } finally {
    await weights.close?.()
  }
}

/** Writes a Wav2Vec2ForSequenceClassification folder that transformers' from_pretrained reads. */
export async function saveWav2Vec2Classifier(dir: string, model: Wav2Vec2ForSequenceClassification, labels: readonly string[], preprocessor: Wav2Vec2Preprocessor, extra: HfConfig = {}): Promise<void> {
  await writeSafetensorsFile(join(dir, 'model.safetensors'), modelTensors(model), { format: 'pt' })
  const pre = { do_normalize: preprocessor.do_normalize, feature_extractor_type: 'Wav2Vec2FeatureExtractor', feature_size: 1, padding_side: 'right', padding_value: preprocessor.padding_value, return_attention_mask: preprocessor.return_attention_mask, sampling_rate: preprocessor.sampling_rate }
  await writeFileAtomic(join(dir, 'preprocessor_config.json'), `${JSON.stringify(pre, null, 2)}\n`)
  await writeFileAtomic(join(dir, 'config.json'), `${JSON.stringify({ ...model.toConfig(labels), ...extra }, null, 2)}\n`)
}
