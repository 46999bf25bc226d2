import type { CommandSpec, FlagSpecs, ParsedFlags } from './flags.js'

export interface Io {
  out(text: string): void
  err(text: string): void
}

export interface Command<S extends FlagSpecs = FlagSpecs> {
  spec: CommandSpec<S>
  /** The spec for these arguments, where the flags depend on them (the task's own flags). */
  specFor?(argv: readonly string[]): CommandSpec<FlagSpecs>
  /** `given`: the flags the user set (the rest hold defaults). */
  run(flags: ParsedFlags<S>, positional: string[], io: Io, given: ReadonlySet<string>): Promise<number | void>
}

/** Declares a command with its flags typed from the spec. */
export function command<S extends FlagSpecs>(spec: CommandSpec<S>, run: Command<S>['run'], specFor?: Command<S>['specFor']): Command<S> {
  return { spec, run, ...(specFor ? { specFor } : {}) }
}
