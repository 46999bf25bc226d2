/** `finetune compare`: fine-tuned vs from scratch by label budget, with report.json (and report.html). */
import { join } from 'node:path'
import { compare as runCompare, compareTable, ConfigError, RANDOM, TASK_NAMES, type Budget } from '../index.js'
import { command } from './command.js'
import { isHelp, peek, taskOfArgs, withTask } from './task-flags.js'

const spec = {
  name: 'compare',
  summary: 'fine-tuned vs trained from scratch, by label budget: accuracy, learning curves, time to target',
  usage: 'finetune compare --task TASK --model PRETRAINED --data TRAIN --test TEST --budgets 1,3,10,all --out DIR',
  flags: {
    task: { type: 'enum', choices: TASK_NAMES, describe: 'what to train', default: 'text-classification' },
    model: { type: 'string', describe: 'the pre-trained checkpoint', required: true, placeholder: 'PATH' },
    data: { type: 'string', describe: 'labelled training data (subsets are drawn from it)', required: true, placeholder: 'PATH' },
    test: { type: 'string', describe: 'labelled test data (every run is evaluated on it)', required: true, placeholder: 'PATH' },
    budgets: { type: 'list', describe: 'label budgets: numbers of examples (per class with --per-class) or "all"', placeholder: '1,3,10,all' },
    perClass: { type: 'boolean', describe: 'budgets count examples per class', default: false },
    seeds: { type: 'int', describe: 'repetitions per budget (different subsets and initialisations)', default: 3, min: 1 },
    out: { type: 'string', describe: 'output folder: report.json, report.html, report.svg, runs/', required: true, placeholder: 'DIR' },
    scratchModel: { type: 'list', describe: 'train this model from its own weights as the scratch side (default: --model re-initialised); several (repeated or commas) give several scratch sides, "random" names --model re-initialised', placeholder: 'PATH|random' },
    lrGrid: { type: 'list', describe: "learning rates each side chooses from (default: the task's lr x 0.1, 1, 10)", placeholder: 'LR,LR' },
    steps: { type: 'int', describe: 'steps of every run (default: 10 epochs of the subset, 30 to 300)', min: 1 },
    evalPoints: { type: 'int', describe: 'evaluations on the test data per run (learning curves)', default: 8, min: 1 },
    batchSize: { type: 'int', describe: 'examples per batch', min: 1 },
    method: { type: 'enum', choices: ['full', 'frozen', 'lora'], describe: 'how the pre-trained side is fine-tuned (the scratch side always trains in full)', default: 'full' },
    overwrite: { type: 'boolean', describe: 'replace a non-empty --out', default: false },
    device: { type: 'enum', choices: ['cpu', 'webgpu', 'cuda'], describe: 'ONNX Runtime execution provider', default: 'cpu' },
    threads: { type: 'int', describe: 'ONNX Runtime threads', min: 1 },
    json: { type: 'boolean', describe: 'print report.json on stdout', default: false },
  },
  examples: ['finetune compare --task audio-classification --model speech-embedding --method frozen --data train.csv --test unseen-voices.csv --budgets 1,3,10 --per-class --scratch-model random,keyword-cnn --out ./cmp-kws', 'finetune compare --task image-classification --model node_modules/nsfwjs/dist/models/mobilenet_v2 --data train-images-idx3-ubyte --test t10k-images-idx3-ubyte --budgets 1,10 --per-class --seeds 2 --out ./cmp'],
} as const

export const compareCmd = command(
  spec,
  async (f, _pos, io) => {
    const budgets: Budget[] = (f.budgets.length ? f.budgets : ['1', '10', 'all']).map((b) => {
      if (b === 'all') return 'all'
      const n = Number(b)
      if (!Number.isInteger(n) || n < 1) throw new ConfigError('CLI_USAGE', `--budgets takes positive whole numbers or "all" (got "${b}")`, 'e.g. --budgets 1,3,10,all')
      return n
    })
    const lrGrid = f.lrGrid.map((x) => {
      const n = Number(x)
      if (!(n > 0)) throw new ConfigError('CLI_USAGE', `--lr-grid takes positive numbers (got "${x}")`, 'e.g. --lr-grid 1e-4,1e-3')
      return n
    })
    const { task, model, data, test, perClass, seeds, out, scratchModel, steps, evalPoints, overwrite, json, budgets: _b, lrGrid: _l, ...rest } = f
    const [first, ...more] = scratchModel
    const r = await runCompare({
      task, model, data, test, budgets, perClass, seeds, out, overwrite, evalPoints,
      ...(first && first !== RANDOM ? { scratchModel: first } : {}),
      ...(more.length ? { moreScratch: more } : {}),
      ...(lrGrid.length ? { lrGrid } : {}),
      ...(steps ? { steps } : {}),
      train: Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined)) as never,
      log: (l) => io.err(l),
    })
    if (json) io.out(JSON.stringify(r))
    else {
      io.out(compareTable(r))
      io.out(`\nreport: ${join(out, 'report.html')} (and report.json, report.svg)`)
    }
  },
  (argv) => withTask(spec as never, 'train', isHelp(argv) && !peek(argv, 'task') ? null : taskOfArgs(argv, undefined, 'text-classification')),
)
