/**
 * Checking a config.json's sizes before anything is allocated. Building a model allocates every
 * parameter from the config's sizes, so `hidden_size: 1e9` used to end in V8's "RangeError: Invalid
 * typed array length", and a config that merely disagrees with its weights allocated the whole
 * model before loading said so. Each family states which checkpoint tensors its sizes determine,
 * how many layers it has and about how many parameters; this file compares that with the
 * checkpoint's header (shapes only, no tensor data) and with the machine's memory.
 */
import { ConfigError } from '../errors.js'
import { fmt } from '../graph/shape.js'

/** A checkpoint tensor whose shape follows from config fields. */
export interface SizedTensor {
  /** The checkpoint key with the backbone prefix ("bert.embeddings.word_embeddings.weight"). */
  key: string
  shape: readonly number[]
  /** The config field behind each dimension (null: fixed by the architecture, or not checked). */
  fields: readonly (string | null)[]
}

/** A repeated block whose count is a config field (layers, stages). */
export interface BlockCount {
  field: string
  value: number
  /** Matches checkpoint keys of the blocks; group 1 is the block index. */
  pattern: RegExp
  /** How a block's keys look, for messages ("bert.encoder.layer.N"). */
  example: string
}

/** What a family's config says about sizes, computed from the parsed config alone. */
export interface ConfigSizes {
  /** The size fields and their values, for messages. */
  fields: Readonly<Record<string, number>>
  /** About how many float parameters the model has (an estimate; the head is left out). */
  params: number
  tensors: readonly SizedTensor[]
  blocks: readonly BlockCount[]
  /** The backbone prefix that checkpoints of the bare model lack ("bert"). */
  basePrefix?: string
}

/** What the check needs from a checkpoint: keys and shapes (a SafetensorsFile's header). */
export interface ShapeSource {
  readonly name: string
  keys(): string[]
  info(name: string): { shape: number[] }
}

export interface CheckSizesOptions {
  /** config.json's path, for messages. */
  file: string
  /** Memory the parameters must fit in (os.totalmem() in Node); unchecked when absent. */
  memoryBytes?: number
}

const HINT_MATCH = 'config.json does not describe these weights: use the config.json that came with the checkpoint, or fix the named fields to match the shapes'

const gb = (bytes: number): string => (bytes >= 1e12 ? `${(bytes / 1e12).toPrecision(3)} TB` : `${(bytes / 1e9).toPrecision(3)} GB`)

const count = (n: number): string => (n >= 1e6 ? n.toExponential(2).replace('e+', 'e') : String(Math.round(n)))

/** `fields` with their values, "hidden_size = 1000000000, vocab_size = 30522". */
function fieldList(s: ConfigSizes, names: Iterable<string>): string {
  return [...new Set(names)].map((f) => `${f} = ${s.fields[f] ?? '?'}`).join(', ')
}

/**
 * Throws CONFIG_SIZE when the config's sizes disagree with the checkpoint's tensor shapes or block
 * counts, or when the parameters would not fit in `memoryBytes`. Every disagreement is listed.
 */
export function checkConfigSizes(s: ConfigSizes, src: ShapeSource | null, o: CheckSizesOptions): void {
  const problems: string[] = []
  if (src) {
    const keys = new Set(src.keys())
    const strip = (k: string): string | null => (s.basePrefix && k.startsWith(`${s.basePrefix}.`) ? k.slice(s.basePrefix.length + 1) : null)
    const blamed = new Set<string>()
    for (const t of s.tensors) {
      const key = [t.key, strip(t.key)].find((k): k is string => k !== null && keys.has(k))
      if (!key) continue // a missing tensor is the loader's to report
      const have = src.info(key).shape
      const differ = have.length !== t.shape.length ? t.fields.map((_, i) => i) : t.shape.map((d, i) => (have[i] !== d ? i : -1)).filter((i) => i >= 0)
      const fields = differ.map((i) => t.fields[i]).filter((f): f is string => !!f)
      if (differ.length === 0 || fields.length === 0 || fields.every((f) => blamed.has(f))) continue
      for (const f of fields) blamed.add(f)
      problems.push(`${fieldList(s, fields)}: ${src.name} has ${key} of shape ${fmt(have)}, but the config makes it ${fmt(t.shape)}`)
    }
    for (const b of s.blocks) {
      const found = new Set<number>()
      for (const k of keys) {
        const m = b.pattern.exec(k)
        if (m) found.add(Number(m[1]))
      }
      if (found.size === 0 || blamed.has(b.field)) continue
      const have = Math.max(...found) + 1
      if (have !== b.value) problems.push(`${b.field} = ${b.value}: ${src.name} holds ${have} (${b.example} for N = 0..${have - 1})`)
    }
  }
  if (problems.length) {
    throw new ConfigError('CONFIG_SIZE', `${o.file} does not match the checkpoint's shapes (${problems.length} problem(s)):\n  - ${problems.join('\n  - ')}`, HINT_MATCH)
  }
  const bytes = s.params * 4
  if (o.memoryBytes !== undefined && !(bytes <= o.memoryBytes)) {
    throw new ConfigError(
      'CONFIG_SIZE',
      `${o.file} describes a model of about ${count(s.params)} parameters (${gb(bytes)} as float32), more than this machine's ${gb(o.memoryBytes)} of memory; its sizes: ${fieldList(s, Object.keys(s.fields))}`,
      'check these fields: a config.json with absurd sizes is damaged or belongs to another model; use the one that came with the checkpoint',
    )
  }
}

/**
 * Runs `build` and turns V8's allocation failures ("Invalid typed array length", "Array buffer
 * allocation failed") into CONFIG_SIZE naming the config's size fields: the last line of defence
 * when a size slipped past checkConfigSizes (a model built without a checkpoint to compare with).
 */
export function guardAllocation<T>(build: () => T, file: string, sizes?: () => ConfigSizes): T {
  try {
    return build()
  } catch (e) {
    if (!(e instanceof RangeError) || !/typed array length|allocation failed|Array buffer/i.test(e.message)) throw e
    let detail = ''
    try {
      const s = sizes?.()
      if (s) detail = `: about ${count(s.params)} parameters from ${fieldList(s, Object.keys(s.fields))}`
    } catch {
      // the sizes are only for the message
    }
    throw new ConfigError('CONFIG_SIZE', `${file}: the model's sizes are too large to allocate (${e.message})${detail}`, 'check the size fields of config.json: a config.json with absurd sizes is damaged or belongs to another model')
  }
}
