/** `finetune train`: fine-tune a checkpoint on a data file; flags map 1:1 onto TextTrainOptions. */
import { ConfigError, imageTrainDefaults, textTrainDefaults, trainImages, trainText, type DataTask, type ImageTrainOptions, type TextTrainOptions, type TrainEvent } from '../index.js'
import { command } from './command.js'
import type { FlagSpec } from './flags.js'
import { ProgressBar } from './output.js'

const d = textTrainDefaults

export const trainFlags = {
  model: { type: 'string', describe: 'checkpoint: a Hugging Face folder; images also a torchvision .safetensors (with --arch), a TF.js model.json', required: true, placeholder: 'PATH' },
  data: { type: 'string', describe: 'training data: .csv, .tsv, .jsonl, .conll, .txt; images: a folder per class, a CSV/JSONL of paths, IDX files', required: true, placeholder: 'PATH' },
  out: { type: 'string', describe: 'output folder (Hugging Face layout + metrics.json, events.jsonl)', required: true, placeholder: 'DIR' },
  task: { type: 'enum', choices: ['text-classification', 'token-classification', 'causal-lm', 'image-classification'], describe: 'what to train', default: 'text-classification' },
  arch: { type: 'enum', choices: ['resnet18', 'resnet34', 'resnet50', 'vgg11', 'vgg16', 'vgg16_bn', 'inception_v3', 'mobilenet_v2', 'vit_b_16'], describe: 'images: architecture of a torchvision state dict (.safetensors)' },
  imageSize: { type: 'int', describe: 'images: square input side (default: the architecture\'s)', min: 16 },
  augment: { type: 'boolean', describe: 'images: random resized crop + flip on training images (--no-augment)', default: true },
  freezeBn: { type: 'boolean', describe: 'images: keep BatchNorm statistics frozen (inference mode) while training', default: false },
  workers: { type: 'int', describe: 'images: decoding worker threads (default min(cores, 4); 0: in-process)', min: 0 },
  imageColumn: { type: 'string', describe: 'images: path column of a CSV/JSONL list', placeholder: 'NAME' },
  validation: { type: 'string', describe: 'validation data (default: a seeded split of --data)', placeholder: 'FILE' },
  method: { type: 'enum', choices: ['full', 'frozen'], describe: 'full fine-tuning, or a frozen backbone with cached features (head only)', default: d.method },
  epochs: { type: 'number', describe: 'training epochs', default: d.epochs, min: 0 },
  maxSteps: { type: 'int', describe: 'stop after N optimizer updates (overrides --epochs)', min: 1 },
  batchSize: { type: 'int', describe: 'examples per micro-batch (images: 16 unless given)', default: d.batchSize, min: 1 },
  evalBatchSize: { type: 'int', describe: 'examples per evaluation batch (default: --batch-size)', min: 1 },
  lr: { type: 'number', describe: 'peak learning rate (images: 1e-3 unless given)', default: d.lr, min: 0 },
  weightDecay: { type: 'number', describe: 'decoupled weight decay, not on biases and norm weights (images: 0.01 unless given)', default: d.weightDecay, min: 0 },
  optimizer: { type: 'enum', choices: ['adamw', 'adam', 'sgd'], describe: 'optimizer', default: d.optimizer },
  gradAccum: { type: 'int', describe: 'micro-batches per optimizer update', default: d.gradAccum, min: 1 },
  clipNorm: { type: 'number', describe: 'clip the global gradient norm (0: off)', default: d.clipNorm, min: 0 },
  schedule: { type: 'enum', choices: ['constant', 'linear', 'cosine', 'one-cycle'], describe: 'learning-rate schedule (images: cosine unless given)', default: d.schedule },
  warmupSteps: { type: 'int', describe: 'linear warm-up steps', default: d.warmupSteps, min: 0 },
  warmupRatio: { type: 'number', describe: 'warm-up as a share of all steps (when --warmup-steps is 0)', default: d.warmupRatio, min: 0, max: 1 },
  maxLength: { type: 'int', describe: 'truncate sequences to N tokens', default: d.maxLength, min: 2 },
  seed: { type: 'int', describe: 'random seed (data order, dropout, new heads)', default: d.seed },
  textColumn: { type: 'string', describe: 'text column (default: text, sentence, sentence1, or the only text column)', placeholder: 'NAME' },
  textPairColumn: { type: 'string', describe: 'second text column of a text pair', placeholder: 'NAME' },
  labelColumn: { type: 'string', describe: 'label column (default: label or labels)', placeholder: 'NAME' },
  tokensColumn: { type: 'string', describe: 'token-classification: words column (default: tokens)', placeholder: 'NAME' },
  tagsColumn: { type: 'string', describe: 'token-classification: tags column (default: ner_tags, labels or tags)', placeholder: 'NAME' },
  format: { type: 'enum', choices: ['csv', 'tsv', 'jsonl', 'conll', 'text'], describe: 'data format (default: from the file extension)' },
  onBadRow: { type: 'enum', choices: ['error', 'skip'], describe: 'stop at a bad row, or skip and count bad rows', default: d.onBadRow },
  validationSplit: { type: 'number', describe: 'share of --data held out for validation when no --validation', default: d.validationSplit, min: 0, max: 0.9 },
  evalEvery: { type: 'string', describe: '"epoch" or a number of steps', default: 'epoch', placeholder: 'epoch|N' },
  saveEvery: { type: 'string', describe: '"epoch", a number of steps, or "none"', default: 'epoch', placeholder: 'epoch|N|none' },
  earlyStopping: { type: 'int', describe: 'stop after N evaluations without improvement', min: 1 },
  metric: { type: 'string', describe: 'metric for best model and early stopping (default: accuracy, f1 or eval_loss)', placeholder: 'NAME' },
  keepBest: { type: 'boolean', describe: 'save the best evaluated weights rather than the last (--no-keep-best)', default: d.keepBest },
  resume: { type: 'boolean', describe: 'continue the run in --out from its last checkpoint', default: false },
  overwrite: { type: 'boolean', describe: 'replace a non-empty --out', default: false },
  family: { type: 'string', describe: 'model family, overriding config.json model_type (bert, roberta, distilbert, gpt2)', placeholder: 'NAME' },
  reinitHead: { type: 'boolean', describe: 'start a new head even if the checkpoint has one (ignore_mismatched_sizes)', default: false },
  device: { type: 'enum', choices: ['cpu', 'webgpu', 'cuda'], describe: 'ONNX Runtime execution provider', default: d.device },
  threads: { type: 'int', describe: 'ONNX Runtime threads (default: all cores)', min: 1 },
  json: { type: 'boolean', describe: 'print the final result as JSON on stdout', default: false },
} as const satisfies Record<string, FlagSpec> & Partial<Record<keyof TextTrainOptions | keyof ImageTrainOptions | 'json', FlagSpec>>

function every(v: string, flag: string, allowNone: boolean): 'epoch' | 'none' | number {
  if (v === 'epoch' || (allowNone && v === 'none')) return v
  const n = Number(v)
  if (!Number.isInteger(n) || n < 1) throw new ConfigError('CLI_USAGE', `--${flag} must be "epoch"${allowNone ? ', "none"' : ''} or a positive number of steps (got "${v}")`, `run "finetune train --help"`)
  return n
}

export const train = command(
  {
    name: 'train',
    summary: 'fine-tune a checkpoint on your labelled data',
    usage: 'finetune train --model DIR --data FILE --task text-classification --out DIR [flags]',
    flags: trainFlags,
    examples: [
      'finetune train --model ./bert-base-uncased --data reviews.csv --task text-classification --out ./sentiment',
      'finetune train --model ./distilbert --data ner.jsonl --task token-classification --out ./ner --epochs 5',
      'finetune train --model ./gpt2 --data stories.txt --task causal-lm --out ./gpt2-stories --max-length 256',
    ],
  },
  async (f, _pos, io, rawArgs) => {
    const { json, evalEvery, saveEvery, ...rest } = f
    const image = f.task === 'image-classification'
    const opts = { ...rest, task: f.task as DataTask, evalEvery: every(evalEvery, 'eval-every', false) as 'epoch' | number, saveEvery: every(saveEvery, 'save-every', true) } as TextTrainOptions
    let bar: ProgressBar | null = null
    let lastLoss = NaN
    opts.callbacks = [
      {
        onEvent(e: TrainEvent) {
          if (e.type === 'start') {
            io.err(`training ${e.trainable.toLocaleString()} of ${e.parameters.toLocaleString()} parameters on ${e.trainExamples} examples (${e.evalExamples} for evaluation), ${e.totalSteps} steps${e.resumedFromStep !== null ? `, resuming at step ${e.resumedFromStep}` : ''}`)
            bar = new ProgressBar({ total: e.totalSteps, label: 'train', unit: 'step' })
            if (e.resumedFromStep) bar.tick(e.resumedFromStep)
          } else if (e.type === 'step') {
            lastLoss = e.loss
            bar?.tick(1, `loss ${e.loss.toFixed(4)} lr ${e.lr.toExponential(2)} ${e.examplesPerSec.toFixed(1)} ex/s`)
          } else if (e.type === 'eval') {
            const shown = Object.entries(e.metrics).filter(([k]) => !k.startsWith('f1_')).map(([k, v]) => `${k} ${v.toFixed(4)}`).join('  ')
            io.err(`\neval @ step ${e.step}: ${shown}`)
          }
        },
      },
    ]
    if (image) {
      // image defaults differ from text ones (lr, batch size, schedule) unless the user set them
      const io2 = opts as unknown as ImageTrainOptions
      for (const k of ['lr', 'batchSize', 'weightDecay', 'schedule'] as const) if (!rawArgs.has(k)) (io2 as unknown as Record<string, unknown>)[k] = imageTrainDefaults[k]
      const r = await trainImages(io2)
      if (json) io.out(JSON.stringify({ out: r.out, steps: r.steps, reason: r.reason, best_step: r.bestStep, metrics: r.metrics, train_loss: lastLoss, labels: r.labels, images_per_s: r.imagesPerSecond, runtime_s: r.elapsedMs / 1000, source: r.source, arch: r.arch }))
      else {
        io.out(`trained ${r.steps} steps in ${(r.elapsedMs / 1000).toFixed(1)} s (${r.reason}), ${r.imagesPerSecond.toFixed(1)} images/s`)
        const m = Object.entries(r.metrics).filter(([k]) => !k.startsWith('f1_'))
        if (m.length) io.out(`metrics${r.bestStep !== null ? ` (best, step ${r.bestStep})` : ''}: ${m.map(([k, v]) => `${k}=${v.toFixed(4)}`).join(' ')}`)
        io.out(`saved to ${r.out}`)
      }
      return
    }
    const r = await trainText(opts)
    if (json) io.out(JSON.stringify({ out: r.out, steps: r.steps, reason: r.reason, best_step: r.bestStep, metrics: r.metrics, train_loss: lastLoss, labels: r.labels, skipped_rows: r.badRows.total, runtime_s: r.elapsedMs / 1000 }))
    else {
      io.out(`trained ${r.steps} steps in ${(r.elapsedMs / 1000).toFixed(1)} s (${r.reason})${r.badRows.total ? `; skipped ${r.badRows.total} bad rows` : ''}`)
      const m = Object.entries(r.metrics).filter(([k]) => !k.startsWith('f1_'))
      if (m.length) io.out(`metrics${r.bestStep !== null ? ` (best, step ${r.bestStep})` : ''}: ${m.map(([k, v]) => `${k}=${v.toFixed(4)}`).join(' ')}`)
      io.out(`saved to ${r.out}`)
    }
  },
)
