/**
 * A task is everything that differs between, say, text classification and image classification:
 * how its data is read and validated, how the model gets its head, the loss, how examples become
 * batches, the metrics, what predict prints and what the output folder records. The trainer, the
 * output folder, events, checkpoints and the runtime are shared (src/train/run-node.ts).
 *
 * Adding a task: a folder under src/tasks/ whose index.ts exports a `Task`, one line in
 * src/tasks/registry.ts, and its tests.
 */
import { ConfigError, RuntimeError } from '../errors.js'
import { markStructureChanged, type Module } from '../graph/module.js'
import type { OptimizerConfig } from '../optim/optimizers.js'
import type { Provider, Runtime } from '../runtime/session.js'
import type { TrainingJob } from '../train/trainer.js'
import type { MethodOptions } from '../methods/index.js'
import { selectSubset, type SubsetSpec } from '../data/subset.js'
import type { RunOptions } from '../train/run-node.js'
import type { PhaseProgress } from '../train/events.js'
import type { TrainSession } from '../train/step.js'

/** The commands a task serves; a task's own options say which of them they apply to. */
export type CommandName = 'train' | 'eval' | 'predict' | 'export' | 'inspect'

/** One option, declared once: the CLI derives its flag, parsing, default and --help line from it. */
export type OptionSpec =
  | { type: 'string'; describe: string; default?: string; required?: boolean; alias?: string; placeholder?: string }
  | { type: 'number' | 'int'; describe: string; default?: number; required?: boolean; alias?: string; min?: number; max?: number }
  | { type: 'boolean'; describe: string; default?: boolean; alias?: string }
  | { type: 'enum'; describe: string; choices: readonly string[]; default?: string; required?: boolean; alias?: string }
  | { type: 'list'; describe: string; alias?: string; placeholder?: string }

/** A task's own option: the commands it applies to, and defaults that differ by command. */
export type TaskOption = OptionSpec & { commands: readonly CommandName[]; commandDefaults?: Partial<Record<CommandName, string | number | boolean>> }

/** Options of `finetune train` for any task: the shared run options plus the task's own. */
export interface TaskTrainOptions extends RunOptions, MethodOptions {
  task: string
  model: string
  data: string
  validation?: string
  /** A PEFT LoRA adapter to put on the model and train further (--method lora). */
  adapter?: string
  /** LoRA: write the adapter folded into plain weights instead of the adapter. */
  merge: boolean
  /** 'random': the same architecture with every weight re-drawn (training from scratch). */
  init?: 'pretrained' | 'random' | undefined
  /** Train on a labelled subset of the data (label-budget experiments: finetune compare). */
  subset?: SubsetSpec | undefined
  /** Steps and evaluation interval from the number of training examples (once the data is read). */
  plan?: ((trainExamples: number) => { maxSteps: number; evalEvery: number }) | undefined
  /**
   * The runtime to train on, left open afterwards: runs that share one also share its compiled
   * sessions (compare's runs of one network). By default each train() starts and disposes its own.
   */
  runtime?: Runtime | undefined
  /** Receives lines worth telling the user before training starts (the CLI prints them on stderr). */
  log?: (line: string) => void
  /** The task's own options (keys of its `options`). */
  [option: string]: unknown
}

/** What a task hands the shared runner: a model ready to train on validated data. */
export interface PreparedTraining {
  model: Module
  /** Name prefixes of the head (trained by every method; a LoRA adapter saves it in full). */
  headPrefixes: readonly string[]
  /**
   * Batches (collation), loss (in the session's forward) and metrics (evaluate). Called once the
   * method has adapted the model (LoRA, frozen layers) with the optimizer the shared runner chose.
   */
  job(optimizer: OptimizerConfig): Promise<TrainingJob>
  /** Metric for the best checkpoint and early stopping when --metric is not given. */
  defaultMetric: string | undefined
  /** Labels the head predicts, in id order (empty for tasks without labels). */
  labels: string[]
  headFromCheckpoint: boolean
  trainExamples: number
  evalExamples: number
  /** Training rows skipped as bad (--on-bad-row skip). */
  skipped: number
  /** Fields added to training_args.json and metrics.json (source, arch...). */
  record: Record<string, unknown>
  /** Writes the trained model; its config.json names the task (`finetune_task`) and the labels. */
  save(dir: string): Promise<void>
  /** Releases data readers and workers. */
  close(): Promise<void>
}

export interface OpenOptions {
  device?: Provider | undefined
  threads?: number | undefined
  /** Told how far an evaluation has got (`finetune eval` draws its bar with it). */
  onProgress?: ((p: PhaseProgress) => void) | undefined
  /** The task's own options, as parsed from the command line. */
  [option: string]: unknown
}

/** Reports an evaluation of `total` examples through `o.onProgress` as `session` runs its batches. */
export function followEvaluation(session: TrainSession, o: OpenOptions, total: number): void {
  const report = o.onProgress
  session.countEvaluations(total, report && ((done, all) => report({ phase: 'eval', done, total: all })))
}

export interface EvalResult {
  metrics: Record<string, number>
  examples: number
  skipped: number
}

/** One prediction: the input (text or path), what the task predicts, and always the raw logits. */
export interface PredictRecord {
  label?: string
  score?: number
  logits: number[] | number[][]
  [field: string]: unknown
}

export interface ExportResult {
  path: string
  /** Input names and shapes of an ONNX export, -1 for a dynamic batch axis (empty for weights). */
  inputs: Record<string, number[]>
}

export interface Inspection {
  /** Rows of the human-readable table. */
  rows: [string, string][]
  /** Parameters per top-level module. */
  byModule: Record<string, number>
  /** The JSON form (`finetune inspect --json`). */
  json: Record<string, unknown>
}

/** A trained (or any) model opened for one task's inference-side commands. */
export interface OpenedModel {
  evaluate(data: string, o: OpenOptions & { batchSize: number; onBadRow: 'error' | 'skip' }): Promise<EvalResult>
  /** `inputs`: the command's positional arguments (texts, image paths); the task may read more from its options. */
  predict(inputs: readonly string[], o: OpenOptions & { batchSize: number }): Promise<PredictRecord[]>
  export(o: OpenOptions & { format: 'onnx' | 'safetensors'; out: string; batchSize: number; dynamicBatch: boolean }): Promise<ExportResult>
  inspect(): Promise<Inspection>
  close(): Promise<void>
}

export interface Task {
  readonly name: string
  readonly summary: string
  readonly modality: 'text' | 'image' | 'audio'
  /** The task's own options (flags such as --text-column or --arch), each with the commands it applies to. */
  readonly options: Readonly<Record<string, TaskOption>>
  /** Shared run options whose defaults differ for this task (learning rate, batch size...). */
  readonly defaults: Partial<RunOptions>
  readonly examples: readonly string[]
  /** Positional arguments of `finetune predict` for this task, for --help. */
  readonly predictInputs: string
  /**
   * Whether a config.json of a model this task can open but finetune did not train says it is this
   * task's (Hugging Face `architectures`); folders finetune trained record `finetune_task`.
   */
  recognises(config: Record<string, unknown>): boolean
  /** Reads and validates the data, opens the checkpoint and fits its head to the data's labels. Writes nothing. */
  prepare(o: TaskTrainOptions, runtime: Runtime): Promise<PreparedTraining>
  /** Opens a model for eval, predict, export and inspect. */
  open(model: string, o: OpenOptions): Promise<OpenedModel>
}

/** The task a trained folder records. */
export const TASK_FIELD = 'finetune_task'

/**
 * `--freeze REGEX...`: stops training every learnable parameter whose name matches one of the
 * patterns; returns how many it froze. An invalid pattern or one that matches nothing is an error
 * (a typo would otherwise train everything).
 */
export function freezeByName(model: Module, patterns: unknown): number {
  const list = Array.isArray(patterns) ? patterns.filter((p): p is string => typeof p === 'string') : []
  if (list.length === 0) return 0
  const params = model.namedParameters().filter(([, p]) => p.kind === 'param')
  let n = 0
  for (const pattern of list) {
    let re: RegExp
    try {
      re = new RegExp(pattern)
    } catch (e) {
      throw new ConfigError('FREEZE_PATTERN', `--freeze "${pattern}" is not a regular expression: ${(e as Error).message}`, 'pass a JavaScript regular expression, e.g. --freeze "^conv1\\."')
    }
    const hit = params.filter(([name]) => re.test(name))
    if (hit.length === 0) throw new ConfigError('FREEZE_NO_MATCH', `--freeze "${pattern}" matches no parameter`, `parameter names look like ${params.slice(0, 4).map(([k]) => k).join(', ')} (finetune inspect lists them)`)
    for (const [, p] of hit) if (p.requiresGrad) {
      p.requiresGrad = false
      n++
    }
  }
  markStructureChanged()
  return n
}

/** Softmax of one row (for scores). */
export function softmax(x: ArrayLike<number>): number[] {
  let m = -Infinity
  for (let i = 0; i < x.length; i++) m = Math.max(m, x[i]!)
  const e = Array.from(x, (v) => Math.exp(v - m))
  const s = e.reduce((a, b) => a + b, 0)
  return e.map((v) => v / s)
}

/**
 * Refuses non-finite model outputs (NaN or infinite logits come from weights that are not finite or
 * overflow) instead of printing a made-up label.
 */
export function assertFiniteOutputs(values: ArrayLike<number>, model: string, input: string): void {
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!
    if (!Number.isFinite(v))
      throw new RuntimeError('OUTPUT_NOT_FINITE', `${model} gave ${Number.isNaN(v) ? 'NaN' : v > 0 ? '+Infinity' : '-Infinity'} logits for ${input}`, 'its weights are not finite or overflow (training diverged?): use an earlier checkpoint, or retrain with a lower --lr')
  }
}

/**
 * Restricts a training split to a labelled subset (`o.subset`); its held-out part, if any, replaces
 * the validation split. `labels[i]`: class of example i, -1 where there are none.
 */
export function subsetSplits<S extends { length: number; subset(positions: ArrayLike<number>, name: 'validation'): S; subset(positions: ArrayLike<number>): S }>(train: S, validation: S | undefined, labels: ArrayLike<number>, spec: SubsetSpec | undefined): { train: S; validation: S | undefined } {
  if (!spec) return { train, validation }
  const pick = selectSubset(labels, spec)
  return { train: train.subset(pick.train), validation: pick.holdout.length ? train.subset(pick.holdout, 'validation') : validation }
}
