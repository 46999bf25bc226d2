/** `finetune inspect`: what a model holds: task, family, sizes, parameters by module, head, labels. */
import { inspectModel, TASK_NAMES } from '../index.js'
import { command } from './command.js'
import { table } from './output.js'
import { peek, taskOfArgs, withTask } from './task-flags.js'

const spec = {
  name: 'inspect',
  summary: 'show a model: task, family, sizes, parameters, head, labels',
  usage: 'finetune inspect PATH [--json]',
  positional: 'PATH',
  flags: {
    json: { type: 'boolean', describe: 'print as JSON', default: false },
    model: { type: 'string', describe: 'model folder or file (or give it as the argument)', placeholder: 'PATH' },
    task: { type: 'enum', choices: TASK_NAMES, describe: 'the task (default: the one the model folder records)' },
    adapter: { type: 'string', describe: 'a PEFT LoRA adapter folder to apply to the model', placeholder: 'DIR' },
  },
} as const

/** The model path: --model, else the first argument that is not a flag's value. */
const modelOf = (argv: readonly string[]): string | undefined => peek(argv, 'model') ?? argv.find((a, i) => !a.startsWith('-') && (i === 0 || !argv[i - 1]!.startsWith('--') || ['--json', '--help'].includes(argv[i - 1]!)))

export const inspect = command(
  spec,
  async (f, pos, io) => {
    const { json, model, ...o } = f
    const dir = model ?? pos[0]
    if (!dir) {
      io.err('finetune inspect: give a model folder or file')
      return 2
    }
    const r = await inspectModel(dir, o)
    if (json) {
      io.out(JSON.stringify(r.json))
      return
    }
    io.out(table(r.rows))
    io.out('\nparameters by module:')
    io.out(table(Object.entries(r.byModule).map(([k, v]) => [`  ${k}`, v.toLocaleString()])))
  },
  (argv) => withTask(spec, 'inspect', taskOfArgs(argv, modelOf(argv))),
)
