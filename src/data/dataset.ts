/**
 * A text data set for one task, read from data sources without holding rows in memory.
 *
 * One streaming pass per file checks every row (columns, types, labels), counts or stops at bad
 * rows, learns the label scheme from the training rows, and builds a row index of the good rows.
 * Rows are then read by index in any order (`epochOrder`, `bucketBatches`); only three numbers per
 * row (plus one label key for text classification) stay in memory.
 */
import { DataError } from '../errors.js'
import { BadRows, DataRowError, fileError, mergeReports, type BadRowReport, type DataPosition, type OnBadRow } from './errors.js'
import { resolveColumns, TEXT_TASKS, type ColumnOptions, type ResolvedColumns, type TextTask } from './columns.js'
import { encodeLabel, LabelCollector, wrongType, type LabelScheme } from './labels.js'
import { splitTrainValidation } from './order.js'
import { RowIndexBuilder, RowReader, tableOptions, type RowIndex } from './row-index.js'
import { parsedRecords, TableParser, type DataFormat, type DataRecord, type TableOptions } from './table.js'
import type { DataSource } from './source.js'

export interface TextClassificationExample {
  text: string
  textPair?: string
  /** Class id, multi-hot vector (multi-label) or number (regression). */
  label: number | number[]
  file: string
  line: number
}

export interface TokenClassificationExample {
  tokens: string[]
  /** One tag id per token. */
  tags: number[]
  file: string
  line: number
}

export interface CausalLmExample {
  text: string
  file: string
  line: number
}

export type ExampleFor<T extends TextTask> = T extends 'text-classification'
  ? TextClassificationExample
  : T extends 'token-classification'
    ? TokenClassificationExample
    : CausalLmExample

export interface TextDataOptions<T extends TextTask = TextTask> extends TableOptions, ColumnOptions {
  task: T
  /** The label (or tag) list, ids in this order; by default learnt from the training data, sorted. */
  labels?: readonly string[]
  /** Force multi-label on/off (default: on when labels are lists or hold the separator). */
  multiLabel?: boolean
  /** Separator of several labels in one string (default '|'). */
  labelSeparator?: string
  /** Stop at the first bad row (default) or skip bad rows and count them per reason. */
  onBadRow?: OnBadRow
  /** Without a validation file: the share of training rows held out (default 0.1; 0 for none). */
  validationFraction?: number
  /** Seed of the held-out split. Default 42. */
  seed?: number
  /** Hold out the same share of every class (single-label classification). Default false. */
  stratify?: boolean
}

/** The rows of one side of a data set, read by position. */
export class TextSplit<E> {
  readonly name: 'train' | 'validation'
  readonly file: string
  /** Positions of this split's rows in the file's row index. */
  readonly rows: Uint32Array
  readonly #reader: RowReader
  readonly #convert: (r: DataRecord) => E

  constructor(name: 'train' | 'validation', reader: RowReader, rows: Uint32Array, convert: (r: DataRecord) => E) {
    this.name = name
    this.file = reader.source.name
    this.rows = rows
    this.#reader = reader
    this.#convert = convert
  }

  get length(): number {
    return this.rows.length
  }

  /** Example `i` of this split (0-based). */
  async get(i: number): Promise<E> {
    const row = this.rows[i]
    if (row === undefined) throw new RangeError(`example ${i} is out of range (0..${this.rows.length - 1})`)
    return this.#convert(await this.#reader.get(row))
  }

  /** The split restricted to its examples at `positions` (a labelled subset). */
  subset(positions: ArrayLike<number>, name: 'train' | 'validation' = this.name): TextSplit<E> {
    return new TextSplit(name, this.#reader, Uint32Array.from(positions, (i) => this.rows[i]!), this.#convert)
  }

  /** Examples at `indices`, in that order (a batch). */
  getMany(indices: ArrayLike<number>): Promise<E[]> {
    return Promise.all(Array.from(indices, (i) => this.get(i)))
  }

  /** All examples in `order` (default: file order), read a few at a time. */
  async *iterate(order?: ArrayLike<number>): AsyncGenerator<E> {
    const n = order ? order.length : this.length
    const step = 64
    for (let s = 0; s < n; s += step) {
      const ids = Array.from({ length: Math.min(step, n - s) }, (_, k) => (order ? order[s + k]! : s + k))
      yield* await this.getMany(ids)
    }
  }
}

export interface TextDataset<E> {
  task: TextTask
  columns: ResolvedColumns
  /** Labels (text-classification) or tags (token-classification); undefined for causal-lm and masked-lm. */
  labels: LabelScheme | undefined
  train: TextSplit<E>
  validation: TextSplit<E> | undefined
  /** Where the validation rows come from: a file, a held-out share of train, or none. */
  validationSource: 'file' | 'split' | 'none'
  /** Skipped rows per reason, train and validation together (all zero with onBadRow 'error'). */
  badRows: BadRowReport
  close(): Promise<void>
}

/**
 * Reads and checks `train` (and `validation`, or holds out `validationFraction` of train) for
 * `opts.task`. Every problem is a DataError naming the file, line and column.
 */
export async function loadTextData<T extends TextTask>(
  train: DataSource,
  validation: DataSource | undefined,
  opts: TextDataOptions<T>,
): Promise<TextDataset<ExampleFor<T>>> {
  if (!TEXT_TASKS.includes(opts.task)) {
    throw new DataError('DATA_UNKNOWN_TASK', `unknown task "${opts.task}"`, `use one of: ${TEXT_TASKS.join(', ')}`)
  }
  const trainPass = await scanFile(train, opts, undefined, undefined)
  const scheme = trainPass.collector?.finish(train.name)
  let valPass: FilePass | undefined
  if (validation) valPass = await scanFile(validation, opts, trainPass.columns, scheme)
  const trainReader = new RowReader(train, trainPass.index)
  const convert = converter(opts, trainPass.columns, scheme, trainPass.index.format) as (r: DataRecord) => ExampleFor<T>
  let trainRows = allRows(trainPass.index.count)
  let val: TextSplit<ExampleFor<T>> | undefined
  let validationSource: TextDataset<unknown>['validationSource'] = 'none'
  if (valPass && validation) {
    val = new TextSplit('validation', new RowReader(validation, valPass.index), allRows(valPass.index.count), convert)
    validationSource = 'file'
  } else {
    const fraction = opts.validationFraction ?? 0.1
    if (fraction > 0 && trainPass.index.count > 1) {
      const stratify = opts.stratify && scheme && scheme.problemType === 'single_label_classification' ? trainPass.labelKeys : undefined
      const split = splitTrainValidation(trainPass.index.count, { fraction, seed: opts.seed ?? 42, ...(stratify ? { stratify } : {}) })
      trainRows = split.train
      val = new TextSplit('validation', trainReader, split.validation, convert)
      validationSource = 'split'
    }
  }
  return {
    task: opts.task,
    columns: trainPass.columns,
    labels: scheme,
    train: new TextSplit('train', trainReader, trainRows, convert),
    validation: val,
    validationSource,
    badRows: mergeReports(trainPass.bad, ...(valPass ? [valPass.bad] : [])),
    async close() {
      await train.close?.()
      await validation?.close?.()
    },
  }
}

interface FilePass {
  index: RowIndex
  columns: ResolvedColumns
  collector: LabelCollector | undefined
  labelKeys: Int32Array
  bad: BadRowReport
}

const allRows = (n: number): Uint32Array => Uint32Array.from({ length: n }, (_, i) => i)

const FORMATS_FOR: Record<TextTask, readonly DataFormat[]> = {
  'text-classification': ['csv', 'tsv', 'jsonl'],
  'token-classification': ['jsonl', 'conll'],
  'causal-lm': ['csv', 'tsv', 'jsonl', 'text'],
  'masked-lm': ['csv', 'tsv', 'jsonl', 'text'],
}

/**
 * One streaming pass over a file: checks each row, indexes the good ones, and (train) collects the
 * labels or (validation, `scheme` given) checks them against the training labels.
 */
async function scanFile(
  source: DataSource,
  opts: TextDataOptions,
  trainColumns: ResolvedColumns | undefined,
  scheme: LabelScheme | undefined,
): Promise<FilePass> {
  const parser = new TableParser(source.name, opts)
  if (!FORMATS_FOR[opts.task].includes(parser.format)) {
    throw fileError(
      'DATA_FORMAT_TASK',
      source.name,
      `${parser.format} files cannot be used for ${opts.task}`,
      `${opts.task} reads ${FORMATS_FOR[opts.task].join(', ')} files; convert the data or pass another --format`,
    )
  }
  const bad = new BadRows(opts.onBadRow ?? 'error')
  const builder = new RowIndexBuilder()
  const isTrain = scheme === undefined
  const collector =
    isTrain && opts.task !== 'causal-lm' && opts.task !== 'masked-lm'
      ? new LabelCollector({
          ...(opts.labels ? { labels: opts.labels } : {}),
          ...(opts.multiLabel !== undefined ? { multiLabel: opts.multiLabel } : {}),
          ...(opts.labelSeparator !== undefined ? { separator: opts.labelSeparator } : {}),
          numericStrings: parser.format === 'csv' || parser.format === 'tsv',
          ...(opts.task === 'token-classification' ? { allowRegression: false, allowMulti: false, noun: 'tag' } : {}),
        })
      : undefined
  // label keys are kept only for a stratified split (4 bytes a row)
  const wantKeys = collector !== undefined && opts.stratify === true && opts.task === 'text-classification'
  let keys = new Int32Array(wantKeys ? 1024 : 0)
  let columns = trainColumns
  for await (const { raw, record } of parsedRecords(source, parser, bad)) {
    if (!columns) columns = resolveColumns(opts.task, parser.columns ?? Object.keys(record.values), record.values, opts, source.name)
    else if (builder.count === 0 && parser.hasHeader && parser.columns) checkSameColumns(source.name, columns, parser.columns)
    let key = 0
    try {
      key = checkRecord(record, columns, opts, collector, scheme, parser.format)
    } catch (e) {
      bad.handle(e)
      continue
    }
    const i = builder.add(raw.offset, raw.length, raw.line)
    if (!wantKeys) continue
    if (i === keys.length) {
      const k2 = new Int32Array(keys.length * 2)
      k2.set(keys)
      keys = k2
    }
    keys[i] = key
  }
  if (builder.count === 0) {
    const report = bad.report()
    throw fileError(
      'DATA_NO_ROWS',
      source.name,
      `has no usable rows: all ${report.total} were skipped (${Object.entries(report.counts).map(([k, v]) => `${k}: ${v}`).join(', ')})`,
      report.examples[0] ? `the first one: ${report.examples[0].message}` : 'check the file',
    )
  }
  if (!columns) throw new Error('unreachable: rows without columns')
  const index = builder.finish({ file: source.name, format: parser.format, options: tableOptions(opts, parser.format), size: source.size, columns: parser.columns })
  return { index, columns, collector, labelKeys: keys.slice(0, wantKeys ? builder.count : 0), bad: bad.report() }
}

/** Validation data must have the columns training used. */
function checkSameColumns(file: string, cols: ResolvedColumns, have: readonly string[]): void {
  for (const c of Object.values(cols)) {
    if (c !== undefined && !have.includes(c)) {
      throw fileError('DATA_UNKNOWN_COLUMN', file, `column "${c}" (used in the training data) does not exist; the columns are ${have.map((h) => JSON.stringify(h)).join(', ')}`, 'give the validation file the same columns as the training file')
    }
  }
}

/** Checks one record; returns its label key (train) or 0. Throws DataRowError for a bad row. */
function checkRecord(
  record: DataRecord,
  cols: ResolvedColumns,
  opts: TextDataOptions,
  collector: LabelCollector | undefined,
  scheme: LabelScheme | undefined,
  format: DataFormat,
): number {
  const numericStrings = format === 'csv' || format === 'tsv'
  switch (opts.task) {
    case 'text-classification': {
      textOf(record, cols.text!)
      if (cols.textPair !== undefined) textOf(record, cols.textPair)
      const value = labelOf(record, cols.label!)
      const where = at(record, cols.label!)
      if (collector) return collector.add(value, where)
      encodeLabel(scheme!, value, where, { numericStrings })
      return 0
    }
    case 'token-classification': {
      const { tags } = tokensOf(record, cols)
      const where = at(record, cols.tags!)
      for (const tag of tags) {
        if (collector) collector.add(tag, where)
        else encodeLabel(scheme!, tag, where, { noun: 'tag' })
      }
      return 0
    }
    case 'causal-lm':
    case 'masked-lm':
      textOf(record, cols.text!)
      return 0
  }
}

/** Turns a checked record into the task's example. */
function converter(opts: TextDataOptions, cols: ResolvedColumns, scheme: LabelScheme | undefined, format: DataFormat): (r: DataRecord) => unknown {
  const numericStrings = format === 'csv' || format === 'tsv'
  switch (opts.task) {
    case 'text-classification':
      return (r): TextClassificationExample => {
        const ex: TextClassificationExample = {
          text: textOf(r, cols.text!),
          label: encodeLabel(scheme!, labelOf(r, cols.label!), at(r, cols.label!), { numericStrings }),
          file: r.file,
          line: r.line,
        }
        if (cols.textPair !== undefined) ex.textPair = textOf(r, cols.textPair)
        return ex
      }
    case 'token-classification':
      return (r): TokenClassificationExample => {
        const { tokens, tags } = tokensOf(r, cols)
        const where = at(r, cols.tags!)
        return { tokens, tags: tags.map((t) => encodeLabel(scheme!, t, where, { noun: 'tag' }) as number), file: r.file, line: r.line }
      }
    case 'causal-lm':
    case 'masked-lm':
      return (r): CausalLmExample => ({ text: textOf(r, cols.text!), file: r.file, line: r.line })
  }
}

const at = (r: DataRecord, field: string): DataPosition => ({ file: r.file, line: r.line, field })

function textOf(r: DataRecord, col: string): string {
  const v = r.values[col]
  if (v === undefined || v === null || v === '') {
    throw new DataRowError(
      'DATA_MISSING_TEXT',
      at(r, col),
      `column "${col}" is ${v === undefined ? 'missing' : v === null ? 'null' : 'empty'}; every row needs text there`,
      'fill in the text, or skip such rows (onBadRow: skip)',
    )
  }
  if (typeof v !== 'string') throw wrongType(at(r, col), 'text', v, 'a string')
  return v
}

function labelOf(r: DataRecord, col: string): unknown {
  const v = r.values[col]
  if (v === undefined || v === null || v === '') {
    throw new DataRowError(
      'DATA_MISSING_LABEL',
      at(r, col),
      `column "${col}" is ${v === undefined ? 'missing' : v === null ? 'null' : 'empty'}; every row needs a label`,
      'fill in the label, or skip unlabelled rows (onBadRow: skip)',
    )
  }
  return v
}

function tokensOf(r: DataRecord, cols: ResolvedColumns): { tokens: string[]; tags: unknown[] } {
  const tokens = r.values[cols.tokens!]
  const tags = r.values[cols.tags!]
  for (const [col, v] of [
    [cols.tokens!, tokens],
    [cols.tags!, tags],
  ] as const) {
    if (v === undefined || v === null || (Array.isArray(v) && v.length === 0)) {
      throw new DataRowError('DATA_MISSING_TEXT', at(r, col), `column "${col}" is ${v === undefined ? 'missing' : v === null ? 'null' : 'an empty list'}`, 'give every row a list of tokens and one tag per token')
    }
    if (!Array.isArray(v)) throw wrongType(at(r, col), col, v, 'a list')
  }
  const tk = tokens as unknown[]
  const tg = tags as unknown[]
  tk.forEach((t, k) => {
    if (typeof t !== 'string') throw wrongType({ ...at(r, cols.tokens!), field: `${cols.tokens}[${k}]` }, 'token', t, 'a string')
  })
  if (tk.length !== tg.length) {
    throw new DataRowError(
      'DATA_LENGTH_MISMATCH',
      at(r, cols.tags!),
      `${tk.length} tokens in "${cols.tokens}" but ${tg.length} tags in "${cols.tags}"`,
      'give exactly one tag per token',
    )
  }
  return { tokens: tk as string[], tags: tg }
}
