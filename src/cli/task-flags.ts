/**
 * The commands that work on a task (train, eval, predict, export, inspect) take the shared flags plus
 * the flags of one task: the task named by --task, or the one the model folder records. Both --help
 * and parsing use the spec built here, so a task's flags show only where they apply.
 */
import { existsSync } from 'node:fs'
import { resolveTask, TASKS, getTask, type CommandName, type Task } from '../index.js'
import type { CommandSpec, FlagSpec, FlagSpecs } from './flags.js'

/** The value of `--name V` or `--name=V` in argv, without parsing the rest. */
export function peek(argv: readonly string[], name: string): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (a === '--') break
    if (a === `--${name}`) return argv[i + 1]
    if (a.startsWith(`--${name}=`)) return a.slice(name.length + 3)
  }
  return undefined
}

export const isHelp = (argv: readonly string[]): boolean => argv.includes('--help') || argv.includes('-h')

/**
 * The task the arguments select: --task, else the task a model folder records (null when neither
 * says; the command then fails with resolveTask's message, or --help lists the tasks).
 */
export function taskOfArgs(argv: readonly string[], model: string | undefined, fallback?: string): Task | null {
  const named = peek(argv, 'task') ?? fallback
  if (named !== undefined) return TASKS.find((t) => t.name === named) ?? null
  if (!model || !existsSync(model)) return null
  try {
    return resolveTask(model)
  } catch {
    return null
  }
}

/** `base` with the flags `task` declares for `command`, its defaults, and the other tasks' flags explained. */
export function withTask<S extends FlagSpecs>(base: CommandSpec<S>, command: CommandName, task: Task | null): CommandSpec<FlagSpecs> {
  const flags: Record<string, FlagSpec> = { ...base.flags }
  if (task && command === 'train') for (const [k, v] of Object.entries(task.defaults)) if (flags[k] && 'default' in flags[k]!) flags[k] = { ...flags[k]!, default: v } as FlagSpec
  if (task) for (const [k, s] of Object.entries(task.options)) if (s.commands.includes(command)) {
    const { commands: _c, commandDefaults, ...spec } = s
    const d = commandDefaults?.[command]
    flags[k] = (d !== undefined ? { ...spec, default: d } : spec) as FlagSpec
  }
  const kebab = (s: string): string => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)
  const elsewhere: Record<string, { tasks: string[]; takesValue: boolean }> = {}
  for (const t of TASKS)
    for (const [k, s] of Object.entries(t.options))
      if (!flags[k] && s.commands.includes(command)) (elsewhere[kebab(k)] ??= { tasks: [], takesValue: s.type !== 'boolean' }).tasks.push(t.name)
  const w = Math.max(...TASKS.map((t) => t.name.length)) + 2
  const epilogue = task
    ? [`task ${task.name}: ${task.summary}`]
    : ['tasks (--task):', ...TASKS.map((t) => `  ${t.name.padEnd(w)}${t.summary}`), '', `run "finetune ${command} --task NAME --help" for a task's own flags`]
  return {
    ...base,
    flags,
    elsewhere,
    epilogue,
    ...(task && command === 'train' ? { examples: [...task.examples.filter((e) => e.startsWith('finetune train'))] } : {}),
    ...(task && command === 'predict' ? { positional: task.predictInputs } : {}),
  }
}

export { getTask }
