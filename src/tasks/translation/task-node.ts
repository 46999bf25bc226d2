/**
 * `translation`: fine-tune an encoder-decoder (MarianMT, T5, BART) on parallel text, as HF's
 * run_translation.py does: sources (with an optional `--source-prefix`) tokenised by the source
 * model, targets by the target model, teacher forcing with the labels shifted right behind the
 * decoder start token (padding -> -100, ignored by the loss), optional label smoothing, length
 * buckets on both sides. `eval` generates and reports sacreBLEU-compatible BLEU, chrF and gen_len;
 * `predict` translates. `seq2seqTask` is that machinery with the task's name, columns, metrics
 * and output key left open: `summarization` is the same training with ROUGE.
 */
import { existsSync, statSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { ConfigError } from '../../errors.js'
import { bucketBatches, bucketLength, splitTrainValidation } from '../../data/order.js'
import { CachedSeq2Seq } from '../../generate/cached-seq2seq.js'
import type { GenerationOptions } from '../../generate/search.js'
import * as nn from '../../graph/nn.js'
import { SEQ2SEQ_FAMILIES } from '../../models/seq2seq.js'
import type { HostTensor, Runtime } from '../../runtime/session.js'
import { Runtime as RuntimeClass } from '../../runtime/session.js'
import { MarianTokenizer } from '../../tokenizers/marian.js'
import { T5Tokenizer } from '../../tokenizers/t5.js'
import { corpusBleu, corpusChrf } from '../../train/metrics-text-gen.js'
import { TrainSession } from '../../train/step.js'
import type { TrainBatch, TrainingJob } from '../../train/trainer.js'
import { generationOf, generationOptions } from '../generation-options.js'
import { textsToPredict } from '../text-node.js'
import { followEvaluation, TASK_FIELD, type OpenedModel, type OpenOptions, type PreparedTraining, type Task, type TaskTrainOptions } from '../task.js'
import { readPairs, type Pair } from './data-node.js'
import { loadSeq2Seq, saveSeq2Seq, type LoadedSeq2Seq } from './model-node.js'
import { seq2seqOnnx } from './onnx.js'
import { join } from 'node:path'
import { writeFileAtomic } from '../../checkpoint/io-node.js'

const data = ['train', 'eval'] as const
/** Flags of translation; summarization takes them less the {"translation": ...} ones. */
export const seq2seqOptions = {
  sourceColumn: { type: 'string', describe: 'source text column of a CSV/TSV/JSONL (default: source)', placeholder: 'NAME', commands: data },
  targetColumn: { type: 'string', describe: 'target text column (default: target)', placeholder: 'NAME', commands: data },
  sourceLang: { type: 'string', describe: 'source language key of {"translation": {...}} JSONL rows (with --target-lang)', placeholder: 'LANG', commands: data },
  targetLang: { type: 'string', describe: 'target language key of {"translation": {...}} JSONL rows', placeholder: 'LANG', commands: data },
  sourcePrefix: { type: 'string', describe: 'text put before every source (T5-style task prefixes)', placeholder: 'TEXT', commands: ['train', 'eval', 'predict'] },
  maxSourceLength: { type: 'int', describe: 'truncate sources to N tokens', default: 128, min: 2, commands: ['train', 'eval', 'predict'] },
  maxTargetLength: { type: 'int', describe: 'truncate targets to N tokens (training labels; generation length cap in training-time evaluation)', default: 128, min: 2, commands: ['train', 'eval'] },
  labelSmoothing: { type: 'number', describe: 'label smoothing factor of the loss (HF label_smoothing_factor)', default: 0, commands: ['train'] },
  format: { type: 'enum', choices: ['csv', 'tsv', 'jsonl'], describe: 'data format (default: from the file extension)', commands: data },
  family: { type: 'string', describe: `model family, overriding config.json model_type (${SEQ2SEQ_FAMILIES.join(', ')})`, placeholder: 'NAME', commands: ['train', 'eval', 'predict', 'export', 'inspect'] },
  seqLength: { type: 'int', describe: 'ONNX: static source length (pad sources to it)', default: 64, min: 1, commands: ['export'] },
  cacheLength: { type: 'int', describe: 'ONNX: decoder cache slots (longest translation + 1)', default: 64, min: 2, commands: ['export'] },
  ...generationOptions(['eval', 'predict']),
} as const

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined)
const int = (v: unknown, d: number): number => (typeof v === 'number' ? v : d)
const i64 = (v: readonly number[], shape: number[]): HostTensor => ({ data: BigInt64Array.from(v, (x) => BigInt(x)), shape, dtype: 'int64' })

/** Tokenised pair: source ids (prefix applied, </s> last) and target ids (</s> last). */
interface EncodedPair {
  src: number[]
  tgt: number[]
}

function encodePairs(m: LoadedSeq2Seq, pairs: readonly Pair[], o: Record<string, unknown>): EncodedPair[] {
  const prefix = str(o['sourcePrefix']) ?? ''
  const ms = int(o['maxSourceLength'], 128)
  const mt = int(o['maxTargetLength'], 128)
  const cap = m.model.maxPositions
  return pairs.map((p) => ({ src: m.tokenizer.encode(prefix + p.source, { maxLength: Math.min(ms, cap) }), tgt: m.tokenizer.encode(p.target, { target: true, maxLength: Math.min(mt, cap) }) }))
}

/**
 * One batch's feeds: sources padded with pad (mask 0), labels padded with -100, decoder inputs = the
 * labels shifted right behind the decoder start token with -100 -> pad (HF shift_tokens_right).
 */
export function collatePairs(encs: readonly EncodedPair[], S: number, T: number, pad: number, start: number): Record<string, HostTensor> {
  const B = encs.length
  const ids: number[] = []
  const mask: number[] = []
  const labels: number[] = []
  const dec: number[] = []
  for (const e of encs) {
    const s = e.src.slice(0, S)
    ids.push(...s, ...new Array<number>(S - s.length).fill(pad))
    mask.push(...s.map(() => 1), ...new Array<number>(S - s.length).fill(0))
    const l = e.tgt.slice(0, T)
    const row = [...l, ...new Array<number>(T - l.length).fill(-100)]
    labels.push(...row)
    dec.push(start, ...row.slice(0, T - 1).map((v) => (v === -100 ? pad : v)))
  }
  return { input_ids: i64(ids, [B, S]), attention_mask: i64(mask, [B, S]), decoder_input_ids: i64(dec, [B, T]), labels: i64(labels, [B, T]) }
}

function trainSession(m: LoadedSeq2Seq, runtime: Runtime, o: { optimizer: TrainSession['optimizer']; labelSmoothing: number; seed: number; clipNorm?: number; accumulation?: number }): TrainSession {
  const model = m.model
  return new TrainSession({
    runtime,
    model,
    optimizer: o.optimizer,
    seed: o.seed,
    ...(o.clipNorm !== undefined ? { clipNorm: o.clipNorm } : {}),
    ...(o.accumulation !== undefined ? { accumulation: o.accumulation } : {}),
    forward: (i) => {
      const logits = model.logits({ input_ids: i['input_ids']!, attention_mask: i['attention_mask']!, decoder_input_ids: i['decoder_input_ids']! })
      return { loss: nn.crossEntropy(logits, i['labels']!, { labelSmoothing: o.labelSmoothing }) }
    },
  })
}

/** Batches of similar lengths: bucketed by the longer side, each side padded to its own bucket length. */
function batchesOf(encs: readonly EncodedPair[], batchSize: number, seed: number, epoch: number): { indices: number[]; S: number; T: number }[] {
  const maxLen = Math.max(...encs.map((e) => Math.max(e.src.length, e.tgt.length)), 1)
  const lengths = encs.map((e) => Math.max(e.src.length, e.tgt.length))
  return bucketBatches(lengths, { batchSize, maxLength: maxLen, seed, epoch }).map((b) => ({
    indices: b.indices,
    S: bucketLength(Math.max(...b.indices.map((i) => encs[i]!.src.length)), Math.max(...encs.map((e) => e.src.length))),
    T: bucketLength(Math.max(...b.indices.map((i) => encs[i]!.tgt.length)), Math.max(...encs.map((e) => e.tgt.length))),
  }))
}

/** eval_loss, the task's metrics of generated outputs and gen_len of a model on pairs. */
async function evaluatePairs(spec: Seq2SeqTaskSpec, m: LoadedSeq2Seq, session: TrainSession, gen: CachedSeq2Seq, pairs: readonly Pair[], encs: readonly EncodedPair[], g: GenerationOptions, batchSize: number): Promise<Record<string, number>> {
  let lossSum = 0
  let tokens = 0
  const hyps = new Array<string>(pairs.length)
  let genLen = 0
  for (const b of batchesOf(encs, batchSize, 0, 0)) {
    const feeds = collatePairs(b.indices.map((i) => encs[i]!), b.S, b.T, m.model.padId, m.model.decoderStartId)
    const n = b.indices.reduce((a, i) => a + Math.min(encs[i]!.tgt.length, b.T), 0)
    lossSum += (await session.evaluate(feeds)).loss! * n
    tokens += n
    const out = await gen.generate(b.indices.map((i) => encs[i]!.src.slice(0, b.S)), g)
    out.forEach((ids, k) => {
      hyps[b.indices[k]!] = m.tokenizer.decode(ids)
      // HF's gen_len counts the generated ids that are not pad (the decoder start token too, unless it is pad)
      genLen += (m.model.decoderStartId === m.model.padId ? 0 : 1) + ids.filter((t) => t !== m.model.padId).length
    })
  }
  return { eval_loss: lossSum / Math.max(tokens, 1), ...spec.metrics(hyps, pairs.map((p) => p.target)), gen_len: genLen / pairs.length }
}

function generationFor(m: LoadedSeq2Seq, o: Record<string, unknown>, fallbackMax?: number): GenerationOptions {
  const cfg = { ...m.config }
  if (fallbackMax !== undefined && o['maxNewTokens'] === undefined) cfg['max_length'] = fallbackMax + 1
  const eos = typeof m.config['eos_token_id'] === 'number' ? m.config['eos_token_id'] : m.tokenizer.eosId
  const g = generationOf(o, cfg, { eos, pad: m.model.padId }, 1)
  g.maxNewTokens = Math.min(g.maxNewTokens, m.model.maxPositions - 1)
  return g
}

async function loadData(spec: Seq2SeqTaskSpec, file: string, o: Record<string, unknown>, onBadRow: 'error' | 'skip'): Promise<{ pairs: Pair[]; skipped: number }> {
  return readPairs(file, { sourceColumn: str(o['sourceColumn']), targetColumn: str(o['targetColumn']), sourceLang: str(o['sourceLang']), targetLang: str(o['targetLang']), format: str(o['format']) as never, onBadRow, columns: spec.columns })
}

/** What differs between the encoder-decoder tasks (translation, summarization); data, training, generation and export are shared. */
export interface Seq2SeqTaskSpec {
  name: string
  summary: string
  examples: readonly string[]
  options: Task['options']
  /** Column names tried in order when --source-column / --target-column are not given. */
  columns: { source: readonly string[]; target: readonly string[] }
  /** Corpus metrics of generated texts against their references (eval_loss and gen_len are added). */
  metrics(hyps: readonly string[], refs: readonly string[]): Record<string, number>
  /** Key of the generated text in predict's records, as HF's pipelines name it. */
  outputKey: string
  recognises(config: Record<string, unknown>): boolean
}

/** An encoder-decoder task: `spec` says its name, columns, metrics and output; the rest is shared. */
export function seq2seqTask(spec: Seq2SeqTaskSpec): Task {
  return {
    name: spec.name,
    summary: spec.summary,
    modality: 'text',
    options: spec.options,
    defaults: { batchSize: 16, lr: 2e-5, weightDecay: 0.01, schedule: 'linear' },
    examples: spec.examples,
    predictInputs: 'TEXT...',
    recognises: spec.recognises,

    async prepare(o: TaskTrainOptions, runtime: Runtime): Promise<PreparedTraining> {
      if (o.method === 'frozen') throw new ConfigError('METHOD_FROZEN_UNSUPPORTED', 'the frozen method trains only a head on cached features; this task has no separate head', 'use --method full or --method lora')
      const all = await loadData(spec, o.data, o, o.onBadRow)
      let train = all.pairs
      let validation: Pair[] = []
      if (o.validation) validation = (await loadData(spec, o.validation, o, o.onBadRow)).pairs
      else if (o.validationSplit > 0 && train.length > 1) {
        const split = splitTrainValidation(train.length, { fraction: o.validationSplit, seed: o.seed })
        validation = Array.from(split.validation, (i) => train[i]!)
        train = Array.from(split.train, (i) => train[i]!)
      }
      const m = await loadSeq2Seq(o.model, { family: str(o['family']), seed: o.seed })
      // as run_translation.py warns: T5 was pre-trained with task prefixes and expects one
      if (m.family === 't5' && !str(o['sourcePrefix'])) o.log?.('warning: training a T5 model without --source-prefix; T5 expects a task prefix such as --source-prefix "translate English to German: " (pass the same prefix to eval and predict)')
      const trainEnc = encodePairs(m, train, o)
      const valEnc = encodePairs(m, validation, o)
      const ls = typeof o['labelSmoothing'] === 'number' ? o['labelSmoothing'] : 0
      if (!(ls >= 0 && ls < 1)) throw new ConfigError('CONFIG_LABEL_SMOOTHING', `--label-smoothing must be in [0, 1), got ${ls}`, 'HF run_translation uses 0 or 0.1')
      // training-time evaluation decodes greedily up to --max-target-length tokens
      const genOpts = generationFor(m, { numBeams: 1 }, int(o['maxTargetLength'], 128))
      return {
        model: m.model,
        headPrefixes: m.model.headPrefixes,
        async job(optimizer): Promise<TrainingJob> {
          const session = trainSession(m, runtime, { optimizer, labelSmoothing: ls, seed: o.seed, ...(o.clipNorm > 0 ? { clipNorm: o.clipNorm } : {}), accumulation: o.gradAccum })
          const gen = new CachedSeq2Seq(m.model, runtime)
          const perEpoch = batchesOf(trainEnc, o.batchSize, o.seed, 0).length
          return {
            session,
            trainExamples: train.length,
            evalExamples: validation.length,
            batchesPerEpoch: perEpoch,
            async *batches(epoch: number, start: number): AsyncIterable<TrainBatch> {
              const bs = batchesOf(trainEnc, o.batchSize, o.seed, epoch)
              for (let i = start; i < bs.length; i++) {
                const b = bs[i]!
                yield { feeds: collatePairs(b.indices.map((k) => trainEnc[k]!), b.S, b.T, m.model.padId, m.model.decoderStartId), examples: b.indices.length }
              }
            },
            ...(validation.length ? { evaluate: () => evaluatePairs(spec, m, session, gen, validation, valEnc, genOpts, o.evalBatchSize ?? o.batchSize) } : {}),
          }
        },
        // as HF's Trainer (metric_for_best_model defaults to the loss): BLEU ties at 0 early in training
        defaultMetric: 'eval_loss',
        labels: [],
        headFromCheckpoint: true,
        trainExamples: train.length,
        evalExamples: validation.length,
        skipped: all.skipped,
        record: { family: m.family },
        save: (dir) => saveSeq2Seq(dir, m, o.model, { [TASK_FIELD]: spec.name }),
        close: async () => {},
      }
    },

    async open(dir: string, o: OpenOptions): Promise<OpenedModel> {
      const m = await loadSeq2Seq(dir, { family: str(o['family']) })
      const runtime = new RuntimeClass({ provider: o.device ?? 'cpu', ...(o.threads ? { threads: o.threads } : {}) })
      const gen = new CachedSeq2Seq(m.model, runtime)
      return {
        async evaluate(file, eo) {
          const { pairs, skipped } = await loadData(spec, file, eo, eo.onBadRow)
          const encs = encodePairs(m, pairs, eo)
          const session = trainSession(m, runtime, { optimizer: { kind: 'sgd', lr: 0 }, labelSmoothing: 0, seed: 0 })
          followEvaluation(session, eo, pairs.length)
          const metrics = await evaluatePairs(spec, m, session, gen, pairs, encs, generationFor(m, eo), eo.batchSize)
          return { metrics, examples: pairs.length, skipped }
        },
        async predict(inputs, po) {
          const texts = await textsToPredict(inputs, po)
          const g = generationFor(m, po)
          const prefix = str(po['sourcePrefix']) ?? ''
          const ms = Math.min(int(po['maxSourceLength'], 128), m.model.maxPositions)
          const out = []
          for (let s = 0; s < texts.length; s += po.batchSize) {
            const chunk = texts.slice(s, s + po.batchSize)
            const ids = await gen.generate(chunk.map((t) => m.tokenizer.encode(prefix + t, { maxLength: ms })), g)
            out.push(...chunk.map((text, k) => ({ text, [spec.outputKey]: m.tokenizer.decode(ids[k]!), tokens: ids[k]!, logits: [] as number[] })))
          }
          return out
        },
        async export(eo) {
          if (existsSync(eo.out) && !statSync(eo.out).isDirectory()) throw new ConfigError('EXPORT_OUT', `${eo.out} is a file; the export writes a folder`, 'pass a folder path as --out')
          await mkdir(eo.out, { recursive: true })
          if (eo.format === 'safetensors') {
            await saveSeq2Seq(eo.out, m, dir)
            return { path: eo.out, inputs: {} }
          }
          const S = Math.min(int(eo['seqLength'], 64), m.model.maxPositions)
          const Tmax = Math.min(int(eo['cacheLength'], 64), m.model.maxPositions)
          const graphs = seq2seqOnnx(m.model, eo.batchSize, S, Tmax, spec.name)
          for (const [name, bytes] of Object.entries(graphs.files)) await writeFileAtomic(join(eo.out, name), [bytes])
          await saveSeq2Seq(eo.out, m, dir, {}, { weights: false })
          return { path: eo.out, inputs: graphs.inputs }
        },
        async inspect() {
          const c = m.config
          const sizes = Object.fromEntries(['vocab_size', 'd_model', 'encoder_layers', 'decoder_layers', 'encoder_attention_heads', 'encoder_ffn_dim', 'max_position_embeddings', 'num_layers', 'num_decoder_layers', 'num_heads', 'd_kv', 'd_ff'].filter((k) => typeof c[k] === 'number').map((k) => [k, c[k] as number]))
          const byModule: Record<string, number> = {}
          for (const [n, p] of m.model.namedParameters()) if (p.kind === 'param') byModule[n.split('.').slice(0, 2).join('.')] = (byModule[n.split('.').slice(0, 2).join('.')] ?? 0) + p.data.length
          const parameters = Object.values(byModule).reduce((a, b) => a + b, 0)
          const tok = m.tokenizer instanceof MarianTokenizer ? { type: 'marian', files: 'source.spm/target.spm' } : m.tokenizer instanceof T5Tokenizer ? { type: 't5', files: m.tokenizer.backend } : { type: 'bpe', files: 'tokenizer.json or vocab.json + merges.txt' }
          const json = { dir, task: spec.name, family: m.family, architecture: m.model.architecture, sizes, parameters, byModule, tokenizer: { type: tok.type, vocabSize: m.tokenizer.vocabSize } }
          return { json, byModule, rows: [['folder', dir], ['task', spec.name], ['family', m.family], ['architecture', m.model.architecture], ['sizes', Object.entries(sizes).map(([k, v]) => `${k}=${v}`).join(' ')], ['parameters', parameters.toLocaleString()], ['tokenizer', `${tok.type} (${tok.files}), ${m.tokenizer.vocabSize} tokens`]] }
        },
        close: () => runtime.dispose(),
      }
    },
  }
}

export const translation: Task = seq2seqTask({
  name: 'translation',
  summary: 'translate text with an encoder-decoder (MarianMT, T5, BART); BLEU and chrF',
  options: seq2seqOptions,
  examples: [
    'finetune train --task translation --model ./opus-mt-en-de --data pairs.tsv --source-column en --target-column de --out ./en-de',
    'finetune train --task translation --model ./opus-mt-en-de --data train.jsonl --source-lang en --target-lang de --out ./en-de',
    'finetune predict --model ./en-de "Cannot open file" --num-beams 4',
    'finetune train --task translation --model ./t5-small --data pairs.tsv --source-prefix "translate English to German: " --out ./t5-en-de',
  ],
  columns: { source: ['source'], target: ['target'] },
  metrics: (hyps, refs) => ({ bleu: corpusBleu(hyps, [refs]).bleu, chrf: corpusChrf(hyps, [refs]).chrf }),
  outputKey: 'translation_text',
  recognises: (c) => typeof c['model_type'] === 'string' && SEQ2SEQ_FAMILIES.includes(c['model_type']) && Array.isArray(c['architectures']) && /MTModel$|ForConditionalGeneration$/.test(String(c['architectures'][0])),
})
