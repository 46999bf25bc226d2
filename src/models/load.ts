/**
 * Loading weights into a model by name. Model property paths are checkpoint keys, so this is a
 * lookup with the few aliases real checkpoints need: a missing or extra base-model prefix
 * ("bert.", "transformer."), and TF-era LayerNorm names (gamma/beta).
 */
import { countNonFinite, nonFiniteError, type NonFinite } from '../checkpoint/finite.js'
import { CheckpointError } from '../errors.js'
import type { Module } from '../graph/module.js'
import { fmt } from '../graph/shape.js'

/** What loading needs from a weights file (SafetensorsFile satisfies it). */
export interface WeightSource {
  readonly name: string
  keys(): string[]
  info(name: string): { shape: number[] }
  readAsFloat32(name: string): Promise<Float32Array>
  /** The file that holds a tensor, where it differs from `name` (a shard of a sharded checkpoint). */
  fileOf?(name: string): string
}

export interface LoadOptions {
  /** Prefix of the backbone in the model's names (checkpoints saved from the bare model lack it). */
  basePrefix?: string
  /** Name prefixes that may be absent from the checkpoint: a new head, initialised fresh. */
  newOk?: readonly string[]
  /** Checkpoint keys to skip silently (other heads, buffers). */
  ignorable?: RegExp
  /** Re-initialise (keep the fresh values of) head weights whose shapes differ (HF's ignore_mismatched_sizes). */
  ignoreMismatchedSizes?: boolean
}

export interface LoadReport {
  loaded: number
  /** Model parameters the checkpoint lacked and that were initialised fresh (a new head). */
  initialised: string[]
  /** Head parameters whose checkpoint shapes differed and were re-initialised. */
  reinitialised: { name: string; checkpoint: number[]; model: readonly number[] }[]
  /** Checkpoint keys the model does not use (other heads, buffers). */
  ignored: string[]
}

function candidates(name: string, base: string | undefined): string[] {
  const out = [name]
  if (base && name.startsWith(`${base}.`)) out.push(name.slice(base.length + 1))
  for (const n of [...out]) {
    if (/LayerNorm\.weight$/.test(n)) out.push(n.replace(/weight$/, 'gamma'))
    if (/LayerNorm\.bias$/.test(n)) out.push(n.replace(/bias$/, 'beta'))
  }
  return out
}

export async function loadWeights(model: Module, src: WeightSource, o: LoadOptions = {}): Promise<LoadReport> {
  const keys = new Set(src.keys())
  const used = new Set<string>()
  const report: LoadReport = { loaded: 0, initialised: [], reinitialised: [], ignored: [] }
  const missing: string[] = []
  const mismatched: string[] = []
  const isHead = (n: string): boolean => (o.newOk ?? []).some((p) => n === p || n.startsWith(`${p}.`))
  const notFinite = new Map<string, NonFinite[]>() // by file
  const params = model.namedParameters()
  for (const [name, p] of params) {
    const key = candidates(name, o.basePrefix).find((k) => keys.has(k))
    if (!key) {
      if (isHead(name) || (p.kind === 'buffer' && name.endsWith('num_batches_tracked'))) report.initialised.push(name)
      else missing.push(`${name} ${fmt(p.shape)}`)
      continue
    }
    used.add(key)
    const shape = src.info(key).shape
    const n = shape.reduce((a, b) => a * b, 1)
    if (n !== p.data.length || (shape.length !== p.shape.length && !(shape.length === 0 && p.shape.length === 0))) {
      if (isHead(name) && o.ignoreMismatchedSizes) report.reinitialised.push({ name, checkpoint: shape, model: p.shape })
      else mismatched.push(`${key}: checkpoint ${fmt(shape)}, model ${fmt(p.shape)}`)
      continue
    }
    if (shape.some((d, i) => d !== p.shape[i])) {
      mismatched.push(`${key}: checkpoint ${fmt(shape)}, model ${fmt(p.shape)}`)
      continue
    }
    p.data = await src.readAsFloat32(key)
    const bad = countNonFinite(key, p.data)
    if (bad) {
      const file = src.fileOf?.(key) ?? src.name
      notFinite.set(file, [...(notFinite.get(file) ?? []), bad])
    }
    report.loaded++
  }
  // a NaN weight makes every prediction NaN; refuse it here rather than print label -1 later
  const firstBad = [...notFinite][0] // by file; a sharded checkpoint reports its first bad shard
  if (firstBad) throw nonFiniteError(...firstBad)
  if (mismatched.length) {
    const head = mismatched.every((m) => isHead(m.split(':')[0]!))
    throw new CheckpointError(
      'CHECKPOINT_SHAPE_MISMATCH',
      `${src.name}: ${mismatched.length} weight(s) have a different shape than the model:\n  ${mismatched.slice(0, 12).join('\n  ')}${mismatched.length > 12 ? `\n  ... and ${mismatched.length - 12} more` : ''}`,
      head ? 'the head was trained for a different number of labels; pass --reinit-head (ignore_mismatched_sizes) to start a new head' : 'the config.json does not match the weights; check hidden sizes and vocabulary size',
    )
  }
  if (missing.length) {
    throw new CheckpointError(
      'CHECKPOINT_MISSING_KEYS',
      `${src.name} lacks ${missing.length} weight(s) the model expects:\n  ${missing.slice(0, 12).join('\n  ')}${missing.length > 12 ? `\n  ... and ${missing.length - 12} more` : ''}`,
      'is config.json\'s model_type right for these weights? Checkpoints from another family or a truncated download look like this',
    )
  }
  const unexpected: string[] = []
  for (const k of keys) {
    if (used.has(k)) continue
    if (o.ignorable?.test(k)) report.ignored.push(k)
    else unexpected.push(`${k} ${fmt(src.info(k).shape)}`)
  }
  if (unexpected.length) {
    throw new CheckpointError(
      'CHECKPOINT_UNEXPECTED_KEYS',
      `${src.name} has ${unexpected.length} weight(s) the model does not use:\n  ${unexpected.slice(0, 12).join('\n  ')}${unexpected.length > 12 ? `\n  ... and ${unexpected.length - 12} more` : ''}`,
      'the weights look like a different architecture than config.json describes; check model_type (or --family)',
    )
  }
  return report
}
