/**
 * Every error a user can cause is a FinetuneError: a stable `code` for programs, a message that says
 * what happened and what was expected, and a `hint` that says what to do. The CLI prints these
 * without a stack trace; anything else reaching the top is a bug in finetune.
 */
export class FinetuneError extends Error {
  readonly code: string
  readonly hint: string | undefined
  constructor(code: string, message: string, hint?: string) {
    super(message)
    this.name = new.target.name
    this.code = code
    this.hint = hint
  }
  /** The message, plus the hint on its own line when there is one. */
  describe(): string {
    return this.hint ? `${this.message}\n  hint: ${this.hint}` : this.message
  }
}

/** A shape, dtype or argument problem found while tracing a graph. */
export class GraphError extends FinetuneError {}
/** A problem building, compiling or running a graph in the runtime. */
export class RuntimeError extends FinetuneError {}
/** A checkpoint that is missing, corrupt or does not match the model. */
export class CheckpointError extends FinetuneError {}
/** Bad configuration: a flag, a config file field, an impossible combination. */
export class ConfigError extends FinetuneError {}
/** Bad training or evaluation data: a missing column, an unknown label, an unreadable file. */
export class DataError extends FinetuneError {}
/** Tokenizer files that are missing or use features finetune does not implement. */
export class TokenizerError extends FinetuneError {}
/** An ONNX model that cannot be imported: an unsupported op, attribute, dtype or file layout. */
export class OnnxImportError extends FinetuneError {}

export interface Issue {
  path: string
  message: string
}

/** Collects every problem of a parse before throwing once, so a user fixes them all in one go. */
export class IssueList {
  readonly issues: Issue[] = []
  add(path: string, message: string): void {
    this.issues.push({ path, message })
  }
  get ok(): boolean {
    return this.issues.length === 0
  }
  throwIfAny(code: string, what: string, hint?: string): void {
    if (this.ok) return
    const lines = this.issues.map((i) => `  - ${i.path}: ${i.message}`).join('\n')
    throw new ConfigError(code, `${what} has ${this.issues.length} problem(s):\n${lines}`, hint)
  }
}
