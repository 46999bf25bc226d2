/** `finetune eval`: metrics of a trained model on a labelled data file. */
import { evaluateModel, TASK_NAMES } from '../index.js'
import { command } from './command.js'
import { passProgress } from './output.js'
import { peek, taskOfArgs, withTask } from './task-flags.js'

const spec = {
  name: 'eval',
  summary: 'evaluate a trained model on a labelled data file',
  usage: 'finetune eval --model PATH --data PATH [--json]',
  flags: {
    model: { type: 'string', describe: 'trained model folder', required: true, placeholder: 'PATH' },
    data: { type: 'string', describe: 'labelled data (the formats the task reads)', required: true, placeholder: 'PATH' },
    task: { type: 'enum', choices: TASK_NAMES, describe: 'the task (default: the one the model folder records)' },
    adapter: { type: 'string', describe: 'a PEFT LoRA adapter folder to apply to --model', placeholder: 'DIR' },
    onBadRow: { type: 'enum', choices: ['error', 'skip'], describe: 'stop at a bad row or skip and count', default: 'error' },
    batchSize: { type: 'int', describe: 'examples per batch', default: 16, min: 1 },
    device: { type: 'enum', choices: ['cpu', 'webgpu', 'cuda'], describe: 'execution provider', default: 'cpu' },
    threads: { type: 'int', describe: 'ONNX Runtime threads', min: 1 },
    json: { type: 'boolean', describe: 'print metrics as JSON', default: false },
  },
} as const

export const evaluate = command(
  spec,
  async (f, _pos, io) => {
    const { model, data, json, onBadRow, ...o } = f
    // a bar once the evaluation has taken a second
    const bar = passProgress(() => null)
    const r = await evaluateModel(model, data, { ...o, onBadRow: onBadRow as 'error' | 'skip', device: f.device as never, onProgress: bar.progress }).finally(bar.end)
    if (json) io.out(JSON.stringify({ ...r.metrics, examples: r.examples, skipped_rows: r.skipped }))
    else {
      io.out(`${r.examples} examples${r.skipped ? ` (${r.skipped} bad rows skipped)` : ''}`)
      for (const [k, v] of Object.entries(r.metrics)) io.out(`${k.padEnd(18)} ${v.toFixed(4)}`)
    }
  },
  (argv) => withTask(spec, 'eval', taskOfArgs(argv, peek(argv, 'model'))),
)
