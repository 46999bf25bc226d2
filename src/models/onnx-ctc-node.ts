/**
 * Node-only: imported ONNX CTC models in and out (the model is in onnx-ctc.ts). Sources: a bare
 * .onnx file (vocabulary from `--vocab vocab.json`, sample rate and normalisation from flags), a
 * Transformers.js-layout folder as Xenova exports Wav2Vec2ForCTC (config.json, vocab.json,
 * tokenizer_config.json, preprocessor_config.json, onnx/model.onnx; the float model is preferred
 * over model_quantized.onnx), or a folder finetune trained from either: source.onnx, model.safetensors
 * (the graph's initializer names, plus finetune_head.* for a new head), config.json (the cut, the
 * frame rule, `finetune_source: "onnx"`), vocab.json, tokenizer_config.json and
 * preprocessor_config.json as Hugging Face writes them.
 */
import { existsSync, readFileSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { ConfigError, FinetuneError, OnnxImportError } from '../errors.js'
import { writeFileAtomic } from '../checkpoint/io-node.js'
import { Rng } from '../runtime/rng.js'
import { CtcVocab } from '../tokenizers/ctc-vocab.js'
import type { HfConfig } from './hf.js'
import { audioInputContract } from './onnx-audio.js'
import { convFrameRule, ImportedCtcModel, ONNX_CTC_DEFAULTS, type FrameRule } from './onnx-ctc.js'
import { importedConfig, loadTrainedWeights, openSource, writeImported } from './onnx-imported-node.js'
import { readPreprocessor, type Wav2Vec2Preprocessor } from './wav2vec2-node.js'

export interface OnnxCtcOptions {
  /** `--vocab`: vocab.json for a bare .onnx (or a folder without one). */
  vocab?: string | undefined
  /** `--sampling-rate` (a bare .onnx; default 16000). */
  samplingRate?: number | undefined
  /** `--normalize` (a bare .onnx; default false). */
  normalize?: boolean | undefined
  /** The caller builds a vocabulary from transcripts (`--new-vocab`): none is needed here. */
  newVocab?: boolean | undefined
  /** `--features`: a new head is coming, so the vocabulary need not fit the graph's output. */
  features?: string | undefined
}

export interface OnnxCtcFolder {
  model: ImportedCtcModel
  /** The .onnx file imported. */
  file: string
  config: HfConfig
  vocab: CtcVocab
  vocabFiles: { vocab: string; tokenizerConfig?: string }
  /** Where the vocabulary came from (for messages). */
  vocabFile: string
  preprocessor: Wav2Vec2Preprocessor
  /** A folder finetune trained. */
  trained: boolean
}

const read = (f: string): string => readFileSync(f, 'utf8')

/** The vocabulary files: the folder's vocab.json, else --vocab (with tokenizer_config.json beside it); null when neither. */
function vocabOf(folder: string | null, flag: string | undefined, file: string): { files: { vocab: string; tokenizerConfig?: string }; from: string } | null {
  const own = folder && existsSync(join(folder, 'vocab.json')) ? join(folder, 'vocab.json') : null
  if (own && flag) throw new ConfigError('CLI_USAGE', `--vocab ${flag}: ${folder} has its own vocab.json`, 'drop --vocab (it is for a bare .onnx file or a folder without vocab.json)')
  const from = own ?? flag
  if (!from) return null
  if (!existsSync(from) || statSync(from).isDirectory()) throw new ConfigError('MODEL_NO_VOCAB', `--vocab ${from} is not a file`, `pass the vocab.json of ${file}'s output characters (<pad> = the CTC blank)`)
  const tc = join(dirname(from), 'tokenizer_config.json')
  return { files: { vocab: read(from), ...(existsSync(tc) ? { tokenizerConfig: read(tc) } : {}) }, from }
}

/**
 * Sample rate, normalisation and the attention mask: a folder's preprocessor_config.json, else the
 * flags (defaults in ONNX_CTC_DEFAULTS). The runner's own frame mask stays off (the graph is opaque;
 * the CTC loss reads each clip's own frames); `attentionMask` says whether the graph's attention_mask
 * input marks each clip's samples.
 */
async function preprocessorOf(folder: string | null, o: OnnxCtcOptions): Promise<{ pre: Wav2Vec2Preprocessor; attentionMask: boolean }> {
  const file = folder ? join(folder, 'preprocessor_config.json') : null
  if (!file || !existsSync(file)) return { pre: { sampling_rate: o.samplingRate ?? ONNX_CTC_DEFAULTS.sampleRate, do_normalize: o.normalize ?? ONNX_CTC_DEFAULTS.normalize, return_attention_mask: false, padding_value: 0 }, attentionMask: false }
  const p = await readPreprocessor(folder!)
  if (o.samplingRate !== undefined && o.samplingRate !== p.sampling_rate) throw new ConfigError('CONFIG_SAMPLING_RATE', `${file} says sampling_rate ${p.sampling_rate}; --sampling-rate is ${o.samplingRate}`, "drop --sampling-rate: files are resampled to the model's rate")
  if (o.normalize !== undefined && o.normalize !== p.do_normalize) throw new ConfigError('CLI_USAGE', `${file} says do_normalize ${p.do_normalize}; --normalize is ${o.normalize}`, 'drop --normalize: the folder states how its model was trained')
  return { pre: { ...p, return_attention_mask: false }, attentionMask: p.return_attention_mask }
}

/** The raw-audio input contract, its errors worded for speech recognition. */
function ctcContract(s: ReturnType<typeof openSource>, sampleRate: number): ReturnType<typeof audioInputContract> {
  try {
    return audioInputContract(s.onnx, s.file, { frontEnd: 'none', sampleRate })
  } catch (e) {
    if (!(e instanceof FinetuneError) || (e.code !== 'ONNX_AUDIO_INPUTS' && e.code !== 'ONNX_AUDIO_INPUT_SHAPE')) throw e
    const message = e.message.replace("an audio classifier's graph takes one float input (raw samples or mel frames)", "a speech recogniser's graph takes one float input of raw samples").replace(' for --front-end none', '')
    throw new OnnxImportError(e.code, message, 'export the graph with one raw-audio input, [batch, samples] or [batch, 1, samples] (Wav2Vec2ForCTC exports take input_values); a model that reads spectrograms needs its front-end inside the graph')
  }
}

/** config.json's HF convolution fields as a frame rule, if it has them. */
function configRule(config: HfConfig): FrameRule | null {
  const k = config['conv_kernel']
  const s = config['conv_stride']
  if (Array.isArray(k) && Array.isArray(s) && k.length === s.length && k.length > 0 && [...k, ...s].every((v) => Number.isInteger(v) && v > 0)) return convFrameRule(k as number[], s as number[], "config.json's conv_kernel and conv_stride (Hugging Face's feature encoder lengths)")
  const r = config['onnx_ctc_frames'] as FrameRule | undefined
  return r && r.kind === 'conv' ? r : null
}

/** Opens an imported CTC model (untrained, or a folder trained from one); the vocabulary is checked against the graph. */
export async function openOnnxCtc(path: string, o: OnnxCtcOptions = {}): Promise<OnnxCtcFolder> {
  const s = openSource(path)
  const { pre, attentionMask } = await preprocessorOf(s.folder, o)
  if (s.trained && o.features !== undefined) throw new ConfigError('CLI_USAGE', `--features ${o.features}: ${path} was trained with features ${JSON.stringify(s.config['onnx_features'] ?? "the graph's own logits")}`, 'drop --features, or start from the original .onnx')
  const contract = ctcContract(s, pre.sampling_rate)
  const reduction = s.config['ctc_loss_reduction'] === 'sum' ? 'sum' : ONNX_CTC_DEFAULTS.ctcLossReduction
  const v = vocabOf(s.folder, o.vocab, s.file)
  const vocab = v ? CtcVocab.fromFiles(v.files) : null
  const model = new ImportedCtcModel(s.onnx, contract, s.file, { blank: vocab?.pad ?? 0, reduction, zeroInfinity: s.config['ctc_zero_infinity'] === true, attentionMask }, configRule(s.config))
  if (s.trained) await loadTrainedWeights(model, s.trained.dir, s.trained.cut, () => ({}))
  if (!vocab) {
    if (!o.newVocab) throw new ConfigError('MODEL_NO_VOCAB', `${s.file}: which characters are its ${model.c.vocab_size} outputs? ${s.folder ? `${s.folder} has no vocab.json` : 'a bare .onnx file carries no vocabulary'}`, 'pass --vocab vocab.json (character -> output index, <pad> = the CTC blank, | between words), or --new-vocab to build one from the training transcripts and train a new CTC head')
    return { model, file: s.file, config: s.config, vocab: CtcVocab.fromFiles({ vocab: '{"<pad>": 0}' }), vocabFiles: { vocab: '{"<pad>": 0}' }, vocabFile: '', preprocessor: pre, trained: s.trained !== null }
  }
  if (vocab.size !== model.c.vocab_size && !o.newVocab && o.features === undefined)
    throw new ConfigError('MODEL_VOCAB_SIZE', `${v!.from} has ${vocab.size} entries but ${s.trained ? 'the trained head' : `the output "${s.onnx.outputs[0]!.name}" of ${s.file}`} has ${model.c.vocab_size} per frame`, s.trained ? 'the folder\'s vocab.json must be the one it was trained with' : 'pass the vocab.json the graph was exported with, or train a new CTC head for this vocabulary: --features NAME (or --new-vocab for one built from the transcripts)')
  return { model, file: s.file, config: s.config, vocab, vocabFiles: v!.files, vocabFile: v!.from, preprocessor: pre, trained: s.trained !== null }
}

/** A new CTC head of the vocabulary's size on `features` (or the default cut); returns the cut's description. */
export function attachCtcHead(ck: OnnxCtcFolder, features: string | undefined, seed: number): string {
  const m = ck.model
  const cut = m.chooseFrameCut(features)
  m.attachHead(cut, ck.vocab.size, new Rng(seed))
  m.c.pad_token_id = ck.vocab.pad
  return `features: ${cut.name} (${cut.why}, ${m.cutLayout}), ${m.featureSize} wide; new CTC head finetune_head: ${m.featureSize} -> ${ck.vocab.size}`
}

/**
 * The graph's final MatMul/Gemm as finetune_head (its weights copied), so head-only training
 * (--method frozen) starts from exactly what the graph predicts; false where it ends otherwise.
 */
export function headFromGraph(ck: OnnxCtcFolder): boolean {
  const m = ck.model
  const cls = m.graphClassifier()
  if (!cls) return false
  m.attachHead(m.chooseFrameCut(undefined), m.c.vocab_size, new Rng(0))
  const head = m._head!
  head.weight.data.set(cls.weight)
  if (head.bias) head.bias.data.set(cls.bias ?? new Float32Array(head.bias.data.length))
  return true
}

/** Writes a trained imported CTC model (see the file comment for the layout). */
export async function saveOnnxCtc(dir: string, ck: OnnxCtcFolder, extra: Record<string, unknown> = {}): Promise<void> {
  const m = ck.model
  const p = ck.preprocessor
  const config = importedConfig(ck.config, ck.file, m, [], {
    ...extra,
    model_type: 'onnx',
    vocab_size: m.c.vocab_size,
    pad_token_id: m.c.pad_token_id,
    ctc_loss_reduction: m.c.ctc_loss_reduction,
    ctc_zero_infinity: m.c.ctc_zero_infinity,
    sampling_rate: p.sampling_rate,
    onnx_audio: m.contract,
    onnx_ctc_frames: m.frameRule,
    onnx_ctc_layout: { output: m.outputLayout, features: m._cut ? m.cutLayout : null },
  })
  for (const k of ['num_labels', 'id2label', 'label2id']) delete config[k]
  await writeImported(dir, ck.file, m, config)
  await writeFileAtomic(join(dir, 'vocab.json'), ck.vocabFiles.vocab)
  if (ck.vocabFiles.tokenizerConfig !== undefined) await writeFileAtomic(join(dir, 'tokenizer_config.json'), ck.vocabFiles.tokenizerConfig)
  const pre = { do_normalize: p.do_normalize, feature_extractor_type: 'Wav2Vec2FeatureExtractor', feature_size: 1, padding_side: 'right', padding_value: p.padding_value, processor_class: 'Wav2Vec2Processor', return_attention_mask: m.takesInputLengths, sampling_rate: p.sampling_rate }
  await writeFileAtomic(join(dir, 'preprocessor_config.json'), `${JSON.stringify(pre, null, 2)}\n`)
}
