/** `finetune train`: fine-tune a checkpoint for a task; the shared flags map 1:1 onto RunOptions, the rest come from the task. */
import { ConfigError, METHODS, startDashboard, methodDefaults, runDefaults, TASK_NAMES, train as trainTask, type MethodOptions, type RunOptions, type TaskTrainOptions, type TrainEvent } from '../index.js'
import { command } from './command.js'
import type { FlagSpec } from './flags.js'
import { passProgress, ProgressBar } from './output.js'
import { isHelp, peek, taskOfArgs, withTask } from './task-flags.js'

const d = runDefaults

/** Flags every task shares; each task adds its own (finetune train --task NAME --help). */
export const trainFlags = {
  model: { type: 'string', describe: 'starting checkpoint (what the task reads: a Hugging Face folder, a torchvision .safetensors, a TF.js model.json...)', required: true, placeholder: 'PATH' },
  data: { type: 'string', describe: 'training data (the formats the task reads)', required: true, placeholder: 'PATH' },
  out: { type: 'string', describe: 'output folder (model + metrics.json, events.jsonl, checkpoints/)', required: true, placeholder: 'DIR' },
  task: { type: 'enum', choices: TASK_NAMES, describe: 'what to train', default: 'text-classification' },
  validation: { type: 'string', describe: 'validation data (default: a seeded split of --data)', placeholder: 'PATH' },
  method: { type: 'enum', choices: METHODS, describe: 'full fine-tuning; frozen: backbone frozen, its features cached, head only; lora: low-rank adapters + head', default: 'full' },
  loraR: { type: 'int', describe: 'LoRA rank r', default: methodDefaults.loraR, min: 1 },
  loraAlpha: { type: 'number', describe: 'LoRA alpha (scaling alpha / r)', default: methodDefaults.loraAlpha, min: 0 },
  loraDropout: { type: 'number', describe: 'dropout on the LoRA input', default: methodDefaults.loraDropout, min: 0, max: 0.99 },
  loraTargets: { type: 'list', describe: "modules LoRA adapts (PEFT target_modules; default: the family's, e.g. query,value for BERT, c_attn for GPT-2)", placeholder: 'NAME,NAME' },
  loraBias: { type: 'enum', choices: ['none', 'all', 'lora_only'], describe: 'biases that train with LoRA', default: methodDefaults.loraBias },
  rslora: { type: 'boolean', describe: 'rsLoRA scaling alpha / sqrt(r)', default: false },
  merge: { type: 'boolean', describe: 'LoRA: save the adapter folded into plain weights instead of a PEFT adapter folder', default: false },
  adapter: { type: 'string', describe: 'a PEFT LoRA adapter folder to put on --model and train further (with --method lora)', placeholder: 'DIR' },
  unfreeze: { type: 'enum', choices: ['none', 'gradual'], describe: 'gradual: train the head first, then unfreeze one more layer group from the top every --unfreeze-every (ULMFiT)', default: 'none' },
  unfreezeEvery: { type: 'string', describe: '"epoch" or a number of steps between unfreezing stages', default: 'epoch', placeholder: 'epoch|N' },
  lrMult: { type: 'number', describe: 'discriminative learning rates: each layer group below the head gets lr / X more (fastai)', min: 1 },
  layerDecay: { type: 'number', describe: 'layer-wise learning-rate decay: block i of L gets lr * X^(L+1-i), embeddings X^(L+1)', min: 0, max: 1 },
  epochs: { type: 'number', describe: 'training epochs', default: d.epochs, min: 0 },
  maxSteps: { type: 'int', describe: 'stop after N optimizer updates (overrides --epochs)', min: 1 },
  batchSize: { type: 'int', describe: 'examples per micro-batch', default: 8, min: 1 },
  evalBatchSize: { type: 'int', describe: 'examples per evaluation batch (default: --batch-size)', min: 1 },
  lr: { type: 'number', describe: 'peak learning rate', default: 5e-5, min: 0 },
  weightDecay: { type: 'number', describe: 'decoupled weight decay, not on biases and norm weights', default: 0, min: 0 },
  optimizer: { type: 'enum', choices: ['adamw', 'adam', 'sgd'], describe: 'optimizer', default: d.optimizer },
  gradAccum: { type: 'int', describe: 'micro-batches per optimizer update', default: d.gradAccum, min: 1 },
  clipNorm: { type: 'number', describe: 'clip the global gradient norm (0: off)', default: d.clipNorm, min: 0 },
  schedule: { type: 'enum', choices: ['constant', 'linear', 'cosine', 'one-cycle'], describe: 'learning-rate schedule', default: 'linear' },
  warmupSteps: { type: 'int', describe: 'linear warm-up steps', default: d.warmupSteps, min: 0 },
  warmupRatio: { type: 'number', describe: 'warm-up as a share of all steps (when --warmup-steps is 0)', default: d.warmupRatio, min: 0, max: 1 },
  seed: { type: 'int', describe: 'random seed (data order, dropout, new heads)', default: d.seed },
  onBadRow: { type: 'enum', choices: ['error', 'skip'], describe: 'stop at a bad row, or skip and count bad rows', default: d.onBadRow },
  validationSplit: { type: 'number', describe: 'share of --data held out for validation when no --validation', default: d.validationSplit, min: 0, max: 0.9 },
  evalEvery: { type: 'string', describe: '"epoch" or a number of steps', default: 'epoch', placeholder: 'epoch|N' },
  saveEvery: { type: 'string', describe: '"epoch", a number of steps, or "none"', default: 'epoch', placeholder: 'epoch|N|none' },
  earlyStopping: { type: 'int', describe: 'stop after N evaluations without improvement', min: 1 },
  metric: { type: 'string', describe: "metric for best model and early stopping (default: the task's: accuracy, f1 or eval_loss)", placeholder: 'NAME' },
  keepBest: { type: 'boolean', describe: 'save the best evaluated weights rather than the last (--no-keep-best)', default: d.keepBest },
  resume: { type: 'boolean', describe: 'continue the run in --out from its last checkpoint', default: false },
  overwrite: { type: 'boolean', describe: 'replace a non-empty --out', default: false },
  reinitHead: { type: 'boolean', describe: 'start a new head even if the checkpoint has one (ignore_mismatched_sizes)', default: false },
  device: { type: 'enum', choices: ['cpu', 'webgpu', 'cuda'], describe: 'ONNX Runtime execution provider', default: d.device },
  threads: { type: 'int', describe: 'ONNX Runtime threads (default: all cores)', min: 1 },
  stepsPerRun: { type: 'string', describe: 'optimizer updates per runtime call (one Scan over K batches of one shape; same results as K=1): "auto" times the first steps and picks K so the per-call cost stays under 2% of a step', default: 'auto', placeholder: 'auto|K' },
  json: { type: 'boolean', describe: 'print the final result as JSON on stdout', default: false },
  dashboard: { type: 'boolean', describe: 'serve a live page of the run on 127.0.0.1 (URL printed); it stops when the run ends ("finetune dashboard DIR" reopens it)', default: false },
} as const satisfies Record<string, FlagSpec> & Partial<Record<keyof RunOptions | keyof MethodOptions | 'task' | 'model' | 'data' | 'validation' | 'adapter' | 'merge' | 'json' | 'dashboard', FlagSpec>>

function every(v: string, flag: string, allowNone: boolean): 'epoch' | 'none' | number {
  if (v === 'epoch' || (allowNone && v === 'none')) return v
  const n = Number(v)
  if (!Number.isInteger(n) || n < 1) throw new ConfigError('CLI_USAGE', `--${flag} must be "epoch"${allowNone ? ', "none"' : ''} or a positive number of steps (got "${v}")`, `run "finetune train --help"`)
  return n
}

function stepsOf(v: string): 'auto' | number {
  if (v === 'auto') return v
  const n = Number(v)
  if (!Number.isInteger(n) || n < 1) throw new ConfigError('CLI_USAGE', `--steps-per-run must be "auto" or a positive whole number of steps (got "${v}")`, 'pass --steps-per-run auto, or a number such as 8')
  return n
}

const spec = {
  name: 'train',
  summary: 'fine-tune a checkpoint on your labelled data',
  usage: 'finetune train --task TASK --model PATH --data PATH --out DIR [flags]',
  flags: trainFlags,
  examples: [
    'finetune train --task text-classification --model ./bert-base-uncased --data reviews.csv --out ./sentiment',
    'finetune train --task image-classification --model resnet18.safetensors --arch resnet18 --data photos/ --out ./photos-model',
  ],
}

export const train = command(
  spec,
  async (f, _pos, io) => {
    const { json, dashboard, evalEvery, saveEvery, unfreezeEvery, stepsPerRun, ...rest } = f
    const opts = { ...rest, evalEvery: every(evalEvery, 'eval-every', false) as 'epoch' | number, saveEvery: every(saveEvery, 'save-every', true), unfreezeEvery: every(unfreezeEvery, 'unfreeze-every', false), stepsPerRun: stepsOf(stepsPerRun) } as unknown as TaskTrainOptions
    let bar: ProgressBar | null = null
    let lastLoss = NaN
    opts.log = (line) => io.err(line)
    const passes = passProgress(() => bar)
    opts.callbacks = [
      {
        onProgress: passes.progress,
        onEvent(e: TrainEvent) {
          if (e.type !== 'step') passes.end()
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
    // the dashboard lives as long as the run: once a page has read the last events it stops, and the page keeps what it shows
    const dash = dashboard ? await startDashboard({ dir: f.out }) : null
    if (dash) io.err(`dashboard: ${dash.url}  (read only; it stops when the run ends)`)
    let r: Awaited<ReturnType<typeof trainTask>>
    try {
      r = await trainTask(opts)
    } finally {
      if (dash) {
        await dash.settle()
        await dash.close()
        io.err(`dashboard stopped; "finetune dashboard ${f.out}" shows the run again`)
      }
    }
    if (json) io.out(JSON.stringify({ out: r.out, task: r.task, steps: r.steps, reason: r.reason, best_step: r.bestStep, metrics: r.metrics, train_loss: lastLoss, labels: r.labels, skipped_rows: r.skipped, examples_per_s: r.examplesPerSecond, runtime_s: r.elapsedMs / 1000, ...r.record }))
    else {
      io.out(`trained ${r.steps} steps in ${(r.elapsedMs / 1000).toFixed(1)} s (${r.reason}), ${r.examplesPerSecond.toFixed(1)} examples/s${r.skipped ? `; skipped ${r.skipped} bad rows` : ''}`)
      const m = Object.entries(r.metrics).filter(([k]) => !k.startsWith('f1_'))
      if (m.length) io.out(`metrics${r.bestStep !== null ? ` (best, step ${r.bestStep})` : ''}: ${m.map(([k, v]) => `${k}=${v.toFixed(4)}`).join(' ')}`)
      io.out(`saved to ${r.out}`)
    }
  },
  // --help without --task lists the tasks; a run without --task trains the default task
  (argv) => withTask(spec, 'train', isHelp(argv) && !peek(argv, 'task') ? null : taskOfArgs(argv, undefined, 'text-classification')),
)
