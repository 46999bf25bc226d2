/** The `finetune` command line: dispatches to one command per file, prints errors without stack traces. */
import { FinetuneError, TASKS, VERSION } from '../index.js'
import type { Command, Io } from './command.js'
import { demo } from './demo.js'
import { train } from './train.js'
import { evaluate } from './evaluate.js'
import { predict } from './predict.js'
import { exportCmd } from './export.js'
import { inspect } from './inspect.js'
import { compareCmd } from './compare.js'
import { dashboard } from './dashboard.js'
import { helpText, parseFlags, type FlagSpecs } from './flags.js'

const commands = [demo, train, evaluate, predict, exportCmd, inspect, compareCmd, dashboard] as unknown as Command<FlagSpecs>[]

const io: Io = {
  out: (t) => process.stdout.write(`${t}\n`),
  err: (t) => process.stderr.write(`${t}\n`),
}

function usage(): string {
  const w = Math.max(...commands.map((c) => c.spec.name.length)) + 2
  const tw = Math.max(...TASKS.map((t) => t.name.length)) + 2
  return [
    `finetune ${VERSION}: fine-tune pre-trained networks from TypeScript`,
    '',
    'usage: finetune <command> [flags]',
    '',
    'commands:',
    ...commands.map((c) => `  ${c.spec.name.padEnd(w)}${c.spec.summary}`),
    '',
    'tasks (finetune train --task NAME):',
    ...TASKS.map((t) => `  ${t.name.padEnd(tw)}${t.summary}`),
    '',
    'run "finetune <command> --help" for its flags, "finetune train --task NAME --help" for a task\'s own',
  ].join('\n')
}

export async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.out(usage())
    return name ? 0 : 2
  }
  if (name === '--version' || name === '-v') {
    io.out(VERSION)
    return 0
  }
  const cmd = commands.find((c) => c.spec.name === name)
  if (!cmd) {
    io.err(`finetune: unknown command "${name}"\n\n${usage()}`)
    return 2
  }
  try {
    const spec = cmd.specFor?.(rest) ?? cmd.spec
    const { flags, positional, help, given } = parseFlags(spec, rest)
    if (help) {
      io.out(helpText(spec))
      return 0
    }
    return (await cmd.run(flags, positional, io, given)) ?? 0
  } catch (e) {
    if (e instanceof FinetuneError) {
      io.err(`error[${e.code}]: ${e.describe()}`)
      return e.code === 'CLI_USAGE' ? 2 : 1
    }
    io.err(`internal error (a bug in finetune; please report it with the command you ran):\n${e instanceof Error ? (e.stack ?? e.message) : String(e)}`)
    return 70
  }
}
