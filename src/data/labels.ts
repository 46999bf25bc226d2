/**
 * Labels: what kind they are, the id <-> name maps saved in config.json, and encoding a row's label.
 * Decided from the whole training column, as HF's run_glue does:
 * - strings: classes named by the strings, ids in sorted order (or the order of a given label list);
 * - integers: kept as class ids (names "0", "1", ... unless a label list names them);
 * - numbers with decimals: regression (`problem_type: regression`, one output);
 * - lists, or strings holding the separator (`a|b`): multi-label, encoded multi-hot.
 * CSV/TSV values are text, so there a column whose every value looks like an integer (or a decimal
 * number) is read as one, as pandas would.
 */
import { DataError } from '../errors.js'
import { DataRowError, type DataPosition } from './errors.js'

export type ProblemType = 'single_label_classification' | 'multi_label_classification' | 'regression'

/** The label maps as HF config.json stores them. */
export interface LabelMap {
  id2label: Record<number, string>
  label2id: Record<string, number>
}

/** How a column's labels become model targets. */
export interface LabelScheme {
  problemType: ProblemType
  /** Output size: classes, or 1 for regression. */
  numLabels: number
  /** How values are read: class names, integer class ids, numbers, or multi-label lists. */
  kind: 'names' | 'ids' | 'regression' | 'multi'
  labelMap: LabelMap
  /** The multi-label separator inside strings. */
  separator: string
}

/**
 * `{ id2label, label2id }` for `labels`: duplicates dropped, then sorted (default, deterministic
 * whatever the row order) or kept in the given order (`order: 'given'`, for a user's label list).
 */
export function buildLabelMap(labels: Iterable<string>, order: 'sorted' | 'given' = 'sorted'): LabelMap {
  const names = [...new Set(labels)]
  if (order === 'sorted') names.sort()
  const id2label: Record<number, string> = {}
  const label2id: Record<string, number> = {}
  names.forEach((name, id) => {
    id2label[id] = name
    label2id[name] = id
  })
  return { id2label, label2id }
}

/** Label names in id order. */
export function labelNames(map: LabelMap): string[] {
  return Object.keys(map.id2label)
    .map(Number)
    .sort((a, b) => a - b)
    .map((id) => map.id2label[id]!)
}

export interface LabelCollectorOptions {
  /** The label list (ids in this order); labels outside it are errors. */
  labels?: readonly string[]
  /** Force multi-label on or off; by default lists or separator-holding strings turn it on. */
  multiLabel?: boolean
  /** Separator of labels inside a string (default '|'). */
  separator?: string
  /** Values are text (CSV/TSV): read integer- or number-looking text as numbers. */
  numericStrings?: boolean
  /** Whether decimal numbers (regression) are allowed; token tags are not. Default true. */
  allowRegression?: boolean
  /** Whether lists and separated strings (multi-label) are allowed; token tags are not. Default true. */
  allowMulti?: boolean
  /** Words used in messages ('label', 'tag'). */
  noun?: string
}

const INT = /^[+-]?\d+$/
const NUM = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/

/**
 * Sees every training label once (a streaming pass), then decides the scheme. `add` returns a small
 * integer key per distinct value (for stratified splits) and throws DataRowError for a bad value.
 */
export class LabelCollector {
  readonly #opts: LabelCollectorOptions
  readonly #sep: string
  readonly #given: Map<string, number> | undefined
  readonly #keys = new Map<string, number>()
  readonly #names = new Set<string>()
  #hasString = false
  #hasInt = false
  #hasFloat = false
  #hasMulti = false
  #maxInt = -1

  constructor(opts: LabelCollectorOptions = {}) {
    this.#opts = opts
    this.#sep = opts.separator ?? '|'
    this.#given = opts.labels ? new Map(opts.labels.map((l, i) => [l, i])) : undefined
  }

  add(value: unknown, where: DataPosition): number {
    const noun = this.#opts.noun ?? 'label'
    const multiOff = this.#opts.multiLabel === false
    if (Array.isArray(value)) {
      if (multiOff || this.#opts.allowMulti === false) throw wrongType(where, noun, value, 'a string or an integer')
      this.#hasMulti = true
      for (const item of value) this.#addName(itemName(item, where, noun), where, noun)
      return this.#key(JSON.stringify(value))
    }
    if (typeof value === 'number' || (this.#opts.numericStrings && typeof value === 'string' && NUM.test(value.trim()))) {
      const num = Number(value)
      const isInt = typeof value === 'number' ? Number.isInteger(value) : INT.test(value.trim())
      if (isInt) {
        if (num < 0) {
          throw new DataRowError('DATA_BAD_LABEL', where, `${noun} ${num} is negative; class ids start at 0`, `use ids 0..N-1, or class names`)
        }
        if (this.#given && num >= this.#given.size) throw unknownLabel(where, noun, String(num), [...this.#given.keys()], true)
        this.#hasInt = true
        this.#maxInt = Math.max(this.#maxInt, num)
        return this.#key(typeof value === 'string' ? value : String(num))
      }
      if (this.#opts.allowRegression === false) throw wrongType(where, noun, value, 'a string or an integer')
      this.#hasFloat = true
      return this.#key(typeof value === 'string' ? value : String(num))
    }
    if (typeof value === 'string' || typeof value === 'boolean') {
      const s = String(value)
      if (this.#opts.multiLabel === true || (!multiOff && this.#opts.allowMulti !== false && s.includes(this.#sep))) {
        this.#hasMulti = true
        for (const part of splitLabels(s, this.#sep)) this.#addName(part, where, noun)
      } else {
        this.#hasString = true
        this.#addName(s, where, noun)
      }
      return this.#key(s)
    }
    throw wrongType(where, noun, value, 'a string, an integer, a number or a list')
  }

  #addName(name: string, where: DataPosition, noun: string): void {
    if (this.#given && !this.#given.has(name)) throw unknownLabel(where, noun, name, [...this.#given.keys()], true)
    this.#names.add(name)
  }

  #key(s: string): number {
    let k = this.#keys.get(s)
    if (k === undefined) this.#keys.set(s, (k = this.#keys.size))
    return k
  }

  /** Number of distinct values seen. */
  get distinct(): number {
    return this.#keys.size
  }

  /** Decides the scheme from everything seen. `file` names the data in messages. */
  finish(file: string): LabelScheme {
    const noun = this.#opts.noun ?? 'label'
    const given = this.#opts.labels
    const separator = this.#sep
    if (this.#hasMulti) {
      if (this.#hasInt || this.#hasFloat) {
        throw new DataError('DATA_LABEL_KIND', `${file}: the ${noun} column mixes lists with numbers`, 'write every label as a list (or a "a|b" string) of class names')
      }
      const labelMap = given ? buildLabelMap(given, 'given') : buildLabelMap(this.#names)
      return { problemType: 'multi_label_classification', numLabels: size(labelMap), kind: 'multi', labelMap, separator }
    }
    if (this.#hasFloat && !this.#hasString) {
      if (given) {
        throw new DataError(
          'DATA_LABEL_KIND',
          `${file}: the ${noun} column holds decimal numbers (regression) but a label list was given`,
          'drop the label list for regression, or use class names or integer ids as labels',
        )
      }
      return { problemType: 'regression', numLabels: 1, kind: 'regression', labelMap: buildLabelMap(['LABEL_0']), separator }
    }
    if (this.#hasString) {
      // numbers mixed with names are names too (CSV "1" next to "positive")
      const names = new Set(this.#names)
      for (const k of this.#keys.keys()) if (this.#hasInt || this.#hasFloat) names.add(k)
      const labelMap = given ? buildLabelMap(given, 'given') : buildLabelMap(names)
      return { problemType: 'single_label_classification', numLabels: size(labelMap), kind: 'names', labelMap, separator }
    }
    if (this.#hasInt) {
      const labelMap = given ? buildLabelMap(given, 'given') : buildLabelMap(Array.from({ length: this.#maxInt + 1 }, (_, i) => String(i)), 'given')
      return { problemType: 'single_label_classification', numLabels: size(labelMap), kind: 'ids', labelMap, separator }
    }
    if (given) return { problemType: 'single_label_classification', numLabels: given.length, kind: 'names', labelMap: buildLabelMap(given, 'given'), separator }
    throw new DataError('DATA_NO_LABELS', `${file}: no ${noun}s found`, 'give every example a label')
  }
}

/** A row's label as a model target: a class id, a multi-hot vector, or a number (regression). */
export function encodeLabel(scheme: LabelScheme, value: unknown, where: DataPosition, opts: { numericStrings?: boolean; noun?: string } = {}): number | number[] {
  const noun = opts.noun ?? 'label'
  const known = (): string[] => Object.values(scheme.labelMap.id2label)
  switch (scheme.kind) {
    case 'regression': {
      if (typeof value === 'number' && Number.isFinite(value)) return value
      if (typeof value === 'string' && NUM.test(value.trim())) return Number(value)
      throw wrongType(where, noun, value, 'a number (the training labels are numbers: regression)')
    }
    case 'ids': {
      const isInt = typeof value === 'number' ? Number.isInteger(value) : typeof value === 'string' && opts.numericStrings === true && INT.test(value.trim())
      if (!isInt) throw unknownLabel(where, noun, display(value), known(), false, 'the training labels are integer class ids')
      const id = Number(value)
      if (id < 0 || id >= scheme.numLabels) throw unknownLabel(where, noun, String(id), known(), false, `class ids run 0..${scheme.numLabels - 1}`)
      return id
    }
    case 'names': {
      if (typeof value === 'object' && value !== null) throw wrongType(where, noun, value, 'a string or an integer')
      const name = typeof value === 'number' ? String(value) : typeof value === 'string' ? value : String(value)
      const id = scheme.labelMap.label2id[name]
      if (id === undefined) throw unknownLabel(where, noun, name, known(), false)
      return id
    }
    case 'multi': {
      const items = Array.isArray(value) ? value.map((v) => itemName(v, where, noun)) : typeof value === 'string' ? splitLabels(value, scheme.separator) : undefined
      if (!items) throw wrongType(where, noun, value, `a list of labels or a "a${scheme.separator}b" string`)
      const hot = new Array<number>(scheme.numLabels).fill(0)
      for (const item of items) {
        const id = scheme.labelMap.label2id[item]
        if (id === undefined) throw unknownLabel(where, noun, item, known(), false)
        hot[id] = 1
      }
      return hot
    }
  }
}

/** Labels of a multi-label string; an empty string is no labels. */
export function splitLabels(s: string, separator: string): string[] {
  return s
    .split(separator)
    .map((p) => p.trim())
    .filter((p) => p !== '')
}

function itemName(item: unknown, where: DataPosition, noun: string): string {
  if (typeof item === 'string') return item
  if (typeof item === 'number' && Number.isInteger(item)) return String(item)
  throw wrongType(where, noun, item, 'a label name inside the list')
}

const size = (m: LabelMap): number => Object.keys(m.id2label).length

/** A short description of a JSON value's type for messages. */
export function describeType(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'a list'
  if (typeof v === 'object') return 'an object'
  return `a ${typeof v}`
}

function display(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v) ?? String(v)
}

export function wrongType(where: DataPosition, noun: string, value: unknown, expected: string): DataRowError {
  const field = where.field ? `column "${where.field}"` : noun
  return new DataRowError(
    'DATA_WRONG_TYPE',
    where,
    `${field} holds ${describeType(value)} (${truncate(display(value))}) where ${expected} is expected`,
    `fix the value, or pick another column`,
  )
}

function unknownLabel(where: DataPosition, noun: string, name: string, known: string[], fromList: boolean, note?: string): DataRowError {
  const list = known.length > 20 ? `${known.slice(0, 20).map((k) => JSON.stringify(k)).join(', ')}, ... (${known.length} in all)` : known.map((k) => JSON.stringify(k)).join(', ')
  return new DataRowError(
    'DATA_UNKNOWN_LABEL',
    where,
    `unknown ${noun} ${JSON.stringify(name)}${where.field ? ` in column "${where.field}"` : ''}; ${fromList ? 'the label list has' : 'the training data has'} ${list}${note ? ` (${note})` : ''}`,
    fromList ? 'add the label to the label list, or fix the row' : 'evaluation data can only use labels the model was trained on: fix the row, add examples of it to the training data, or skip such rows (onBadRow: skip)',
  )
}

const truncate = (s: string): string => (s.length > 40 ? s.slice(0, 37) + '...' : s)
