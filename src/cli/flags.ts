/**
 * Command-line flags declared once as a typed spec: parsing, defaults, validation and --help all
 * come from the same object, so the CLI cannot drift from the options it documents.
 */
import { ConfigError, type OptionSpec } from '../index.js'

export type FlagSpec = OptionSpec

export type FlagSpecs = Readonly<Record<string, FlagSpec>>

type ValueOf<S extends FlagSpec> = S extends { type: 'string' } ? string : S extends { type: 'number' | 'int' } ? number : S extends { type: 'boolean' } ? boolean : S extends { type: 'enum' } ? string : string[]

export type ParsedFlags<S extends FlagSpecs> = { [K in keyof S]: S[K] extends { required: true } | { default: unknown } | { type: 'boolean' | 'list' } ? ValueOf<S[K]> : ValueOf<S[K]> | undefined }

export interface CommandSpec<S extends FlagSpecs> {
  name: string
  summary: string
  usage: string
  flags: S
  /** Name of positional arguments in help, e.g. "TEXT..." */
  positional?: string
  examples?: readonly string[]
  /** Flags of other tasks (kebab name -> the tasks that have it), so a misplaced one is explained. */
  elsewhere?: Record<string, { tasks: string[]; takesValue: boolean }>
  /** Extra sections at the end of --help (the tasks, say). */
  epilogue?: string[]
}

const kebab = (s: string): string => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)

/** Parses argv for one command. Every problem is collected and reported at once. */
export function parseFlags<S extends FlagSpecs>(cmd: CommandSpec<S>, argv: readonly string[]): { flags: ParsedFlags<S>; positional: string[]; help: boolean; given: Set<string> } {
  const byName = new Map<string, string>()
  for (const [k, s] of Object.entries(cmd.flags)) {
    byName.set(kebab(k), k)
    if (s.alias) byName.set(s.alias, k)
  }
  const out: Record<string, unknown> = {}
  const positional: string[] = []
  const problems: string[] = []
  let help = false
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (a === '--help' || a === '-h') {
      help = true
      continue
    }
    if (a === '--') {
      positional.push(...argv.slice(i + 1))
      break
    }
    if (!a.startsWith('-') || a === '-') {
      positional.push(a)
      continue
    }
    let name = a.replace(/^--?/, '')
    let value: string | undefined
    const eq = name.indexOf('=')
    if (eq >= 0) {
      value = name.slice(eq + 1)
      name = name.slice(0, eq)
    }
    let negate = false
    let key = byName.get(name)
    if (!key && name.startsWith('no-') && byName.has(name.slice(3))) {
      key = byName.get(name.slice(3))
      negate = true
    }
    if (!key && cmd.elsewhere?.[name]) {
      const { tasks: ts, takesValue } = cmd.elsewhere[name]!
      problems.push(`--${name} is an option of ${ts.join(', ')}, not of this task (pass ${ts.map((t) => `--task ${t}`).join(' or ')} if that is the task)`)
      if (takesValue && value === undefined) i++
      continue
    }
    if (!key) {
      const near = [...byName.keys()].filter((n) => n.startsWith(name.slice(0, 3)))
      problems.push(`unknown flag --${name}${near.length ? ` (did you mean ${near.map((n) => `--${n}`).join(', ')}?)` : ''}`)
      continue
    }
    const spec = cmd.flags[key]!
    if (negate && spec.type === 'list') {
      // --no-augment on a list flag: the list "none"
      out[key] = ['none']
      continue
    }
    if (spec.type === 'boolean') {
      out[key] = negate ? false : value === undefined ? true : !['false', '0', 'no'].includes(value)
      continue
    }
    if (value === undefined) {
      const next = argv[i + 1]
      if (next === undefined || (next.startsWith('--') && next.length > 2)) {
        problems.push(`--${kebab(key)} needs a value`)
        continue
      }
      value = next
      i++
    }
    switch (spec.type) {
      case 'string':
        out[key] = value
        break
      case 'list':
        out[key] = [...((out[key] as string[] | undefined) ?? []), ...value.split(',').filter(Boolean)]
        break
      case 'enum':
        if (!spec.choices.includes(value)) problems.push(`--${kebab(key)} must be one of ${spec.choices.join(', ')} (got "${value}")`)
        else out[key] = value
        break
      default: {
        const n = Number(value)
        if (!Number.isFinite(n) || (spec.type === 'int' && !Number.isInteger(n))) problems.push(`--${kebab(key)} must be ${spec.type === 'int' ? 'an integer' : 'a number'} (got "${value}")`)
        else if ((spec.min !== undefined && n < spec.min) || (spec.max !== undefined && n > spec.max))
          problems.push(`--${kebab(key)} must be ${spec.min !== undefined ? `>= ${spec.min}` : ''}${spec.min !== undefined && spec.max !== undefined ? ' and ' : ''}${spec.max !== undefined ? `<= ${spec.max}` : ''} (got ${n})`)
        else out[key] = n
      }
    }
  }
  const given = new Set(Object.keys(out))
  for (const [k, s] of Object.entries(cmd.flags)) {
    if (out[k] !== undefined) continue
    if ('default' in s && s.default !== undefined) out[k] = s.default
    else if (s.type === 'boolean') out[k] = false
    else if (s.type === 'list') out[k] = []
    else if ('required' in s && s.required && !help) problems.push(`--${kebab(k)} is required`)
  }
  if (problems.length && !help) {
    throw new ConfigError('CLI_USAGE', `finetune ${cmd.name}: ${problems.length === 1 ? problems[0] : `\n  - ${problems.join('\n  - ')}`}`, `run "finetune ${cmd.name} --help" for the flags`)
  }
  return { flags: out as ParsedFlags<S>, positional, help, given }
}

export function helpText<S extends FlagSpecs>(cmd: CommandSpec<S>): string {
  const lines = [`finetune ${cmd.name}: ${cmd.summary}`, '', `usage: ${cmd.usage}`, '']
  const rows = Object.entries(cmd.flags).map(([k, s]) => {
    const ph = s.type === 'boolean' ? '' : s.type === 'enum' ? ` ${s.choices.join('|')}` : s.type === 'list' ? ` ${s.placeholder ?? 'A,B'}` : s.type === 'string' ? ` ${s.placeholder ?? 'VALUE'}` : ' N'
    const left = `  --${kebab(k)}${ph}${s.alias ? `, -${s.alias}` : ''}`
    const def = 'default' in s && s.default !== undefined ? ` (default ${String(s.default)})` : 'required' in s && s.required ? ' (required)' : ''
    return [left, `${s.describe}${def}`] as const
  })
  const w = Math.min(Math.max(...rows.map(([l]) => l.length), 10) + 2, 44)
  for (const [l, r] of rows) lines.push(l.length + 2 > w ? `${l}\n${' '.repeat(w)}${r}` : `${l.padEnd(w)}${r}`)
  lines.push(`  --help${' '.repeat(Math.max(w - 8, 1))}show this help`)
  if (cmd.examples?.length) lines.push('', 'examples:', ...cmd.examples.map((e) => `  ${e}`))
  if (cmd.epilogue?.length) lines.push('', ...cmd.epilogue)
  return lines.join('\n')
}
