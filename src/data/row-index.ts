/**
 * A row index: the byte offset, byte length and line of every record of a data file, built in one
 * streaming pass (quoted CSV newlines included, since it uses the same record splitter as the
 * parser). With it a data set is read in any order, one row at a time, while memory holds only
 * three numbers per row. It serialises to bytes so it can be kept next to the data (source-node.ts
 * caches it on disk) and checked against the file size before reuse.
 */
import { DataError } from '../errors.js'
import { BadRows, type OnBadRow } from './errors.js'
import { parsedRecords, TableParser, type DataFormat, type DataRecord, type TableOptions } from './table.js'
import type { DataSource } from './source.js'

export interface RowIndex {
  file: string
  format: DataFormat
  /** Options the file was parsed with (delimiter, quoting, text unit), reused to read rows. */
  options: TableOptions
  /** File size when indexed; a different size means the index is stale. */
  size: number
  /** Column names (CSV header, first JSON object's keys, or the fixed conll/text ones). */
  columns: string[] | undefined
  count: number
  offsets: Float64Array
  lengths: Uint32Array
  lines: Uint32Array
}

/** Grows typed arrays of row positions by doubling; `finish` trims them. */
export class RowIndexBuilder {
  #offsets = new Float64Array(1024)
  #lengths = new Uint32Array(1024)
  #lines = new Uint32Array(1024)
  #n = 0

  add(offset: number, length: number, line: number): number {
    if (this.#n === this.#offsets.length) {
      const grow = <T extends Float64Array | Uint32Array>(a: T, make: (n: number) => T): T => {
        const b = make(a.length * 2)
        b.set(a)
        return b
      }
      this.#offsets = grow(this.#offsets, (n) => new Float64Array(n))
      this.#lengths = grow(this.#lengths, (n) => new Uint32Array(n))
      this.#lines = grow(this.#lines, (n) => new Uint32Array(n))
    }
    const i = this.#n++
    this.#offsets[i] = offset
    this.#lengths[i] = length
    this.#lines[i] = line
    return i
  }

  get count(): number {
    return this.#n
  }

  finish(meta: Omit<RowIndex, 'count' | 'offsets' | 'lengths' | 'lines'>): RowIndex {
    const n = this.#n
    return {
      ...meta,
      count: n,
      offsets: this.#offsets.slice(0, n),
      lengths: this.#lengths.slice(0, n),
      lines: this.#lines.slice(0, n),
    }
  }
}

/** Indexes every parseable record of `source` in one pass. Bad rows stop it or are skipped (not indexed). */
export async function buildRowIndex(
  source: DataSource,
  opts: TableOptions & { onBadRow?: OnBadRow; badRows?: BadRows } = {},
): Promise<RowIndex> {
  const parser = new TableParser(source.name, opts)
  const builder = new RowIndexBuilder()
  for await (const { raw } of parsedRecords(source, parser, opts.badRows ?? new BadRows(opts.onBadRow ?? 'error'))) {
    builder.add(raw.offset, raw.length, raw.line)
  }
  return builder.finish({ file: source.name, format: parser.format, options: tableOptions(opts, parser.format), size: source.size, columns: parser.columns })
}

/** Only the options that change how a row is parsed. */
export function tableOptions(opts: TableOptions, format: DataFormat): TableOptions {
  const o: TableOptions = { format }
  if (opts.delimiter !== undefined) o.delimiter = opts.delimiter
  if (opts.quoting !== undefined) o.quoting = opts.quoting
  if (opts.textUnit !== undefined) o.textUnit = opts.textUnit
  return o
}

/** Reads single rows of an indexed file by position. */
export class RowReader {
  readonly source: DataSource
  readonly index: RowIndex
  readonly #parser: TableParser

  constructor(source: DataSource, index: RowIndex) {
    if (source.size !== index.size) {
      throw new DataError(
        'DATA_INDEX_STALE',
        `${source.name}: the file is ${source.size} bytes but its row index was built for ${index.size} bytes`,
        'the file changed after it was indexed; index it again',
      )
    }
    this.source = source
    this.index = index
    this.#parser = new TableParser(index.file, index.options, index.columns)
  }

  get count(): number {
    return this.index.count
  }

  /** Row `i` (0-based, in file order), parsed as in the streaming pass. */
  async get(i: number): Promise<DataRecord> {
    const { offsets, lengths, lines, count } = this.index
    if (!(i >= 0 && i < count)) throw new RangeError(`row ${i} is out of range (0..${count - 1})`)
    const offset = offsets[i]!
    const length = lengths[i]!
    const bytes = await this.source.read(offset, length)
    const rec = this.#parser.parse({ offset, length, line: lines[i]!, bytes })
    if (!rec) throw new DataError('DATA_INDEX_STALE', `${this.source.name}:${lines[i]}: indexed row ${i} holds no record`, 'index the file again')
    return rec
  }
}

const MAGIC = 'FTROWIDX1\n'

/** The index as bytes: a magic line, a JSON header line, then offsets, lengths and lines. */
export function serializeRowIndex(index: RowIndex): Uint8Array {
  const { offsets, lengths, lines, ...meta } = index
  const head = new TextEncoder().encode(MAGIC + JSON.stringify(meta) + '\n')
  const pad = (8 - (head.length % 8)) % 8
  const start = head.length + pad
  const out = new Uint8Array(start + index.count * 16)
  out.set(head)
  out.fill(32, head.length, start)
  new Float64Array(out.buffer, start, index.count).set(offsets)
  new Uint32Array(out.buffer, start + index.count * 8, index.count).set(lengths)
  new Uint32Array(out.buffer, start + index.count * 12, index.count).set(lines)
  return out
}

/** Reads bytes written by `serializeRowIndex`; throws DATA_INDEX_CORRUPT on anything else. */
export function deserializeRowIndex(bytes: Uint8Array): RowIndex {
  const corrupt = (why: string): DataError => new DataError('DATA_INDEX_CORRUPT', `row index is unreadable: ${why}`, 'delete the index file; it is rebuilt on the next run')
  const nl = bytes.indexOf(10, MAGIC.length)
  const dec = new TextDecoder()
  if (dec.decode(bytes.subarray(0, MAGIC.length)) !== MAGIC || nl < 0) throw corrupt('wrong magic')
  let meta: Omit<RowIndex, 'offsets' | 'lengths' | 'lines'>
  try {
    meta = JSON.parse(dec.decode(bytes.subarray(MAGIC.length, nl)))
  } catch {
    throw corrupt('bad header')
  }
  const n = meta.count
  let start = nl + 1
  start += (8 - (start % 8)) % 8
  if (!Number.isInteger(n) || bytes.length !== start + n * 16) throw corrupt('wrong length')
  const copy = bytes.slice(start) // aligned copy
  return {
    ...meta,
    offsets: new Float64Array(copy.buffer, 0, n).slice(),
    lengths: new Uint32Array(copy.buffer, n * 8, n).slice(),
    lines: new Uint32Array(copy.buffer, n * 12, n).slice(),
  }
}
