/** `finetune export`: a standalone ONNX file, a safetensors folder, or one .safetensors file. */
import { exportModel, TASK_NAMES } from '../index.js'
import { command } from './command.js'
import { peek, taskOfArgs, withTask } from './task-flags.js'

const spec = {
  name: 'export',
  summary: 'export a trained model as ONNX or safetensors',
  usage: 'finetune export --model PATH --format onnx|safetensors --out PATH',
  flags: {
    model: { type: 'string', describe: 'trained model folder', required: true, placeholder: 'PATH' },
    task: { type: 'enum', choices: TASK_NAMES, describe: 'the task (default: the one the model folder records)' },
    adapter: { type: 'string', describe: 'a PEFT LoRA adapter folder to apply to --model', placeholder: 'DIR' },
    merge: { type: 'boolean', describe: 'fold a LoRA adapter into plain weights (ONNX always does)', default: false },
    format: { type: 'enum', choices: ['onnx', 'safetensors'], describe: 'output format', required: true },
    out: { type: 'string', describe: 'output: a .onnx file; safetensors: a folder, or one file when it ends in .safetensors', required: true, placeholder: 'PATH' },
    batchSize: { type: 'int', describe: 'ONNX: a static batch size (default: any batch size; the graph runs per example in a Scan)', min: 1 },
    json: { type: 'boolean', describe: 'print the result as JSON', default: false },
  },
} as const

export const exportCmd = command(
  spec,
  async (f, _pos, io) => {
    const { model, json, ...o } = f
    const r = await exportModel(model, { ...o, format: f.format as 'onnx' | 'safetensors' })
    if (json) io.out(JSON.stringify(r))
    else io.out(`wrote ${r.path}${Object.keys(r.inputs).length ? ` (inputs: ${Object.entries(r.inputs).map(([k, v]) => `${k} [${v.map((d) => (d < 0 ? 'batch' : d)).join(', ')}]`).join(', ')}; output: logits)` : ''}`)
  },
  (argv) => withTask(spec, 'export', taskOfArgs(argv, peek(argv, 'model'))),
)
