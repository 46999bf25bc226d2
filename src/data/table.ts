/**
 * Records of a text data file in any supported format, as plain objects of column values, each
 * with its file, line, byte offset and byte length. Formats:
 * - csv / tsv: a header line, then one record per row (RFC 4180 quoting; `quoting: false` for
 *   plain TSV). Values are strings.
 * - jsonl: one JSON object per line (blank lines skipped). Values keep their JSON types.
 * - conll: one `token ... tag` per line (the first column is the token, the last the tag), a blank
 *   line between sentences, `-DOCSTART-` lines ignored. Values: `{ tokens, tags }`.
 * - text: plain text; `textUnit: 'line'` (default) makes each non-blank line a record,
 *   'paragraph' each blank-line-separated block. Values: `{ text }`.
 */
import { DataError } from '../errors.js'
import { BadRows, DataRowError, fileError, type OnBadRow } from './errors.js'
import { parseFields } from './csv.js'
import { jsonErrorPosition } from './json-position.js'
import { scanRecords, type RawRecord, type ScanOptions } from './records.js'
import type { DataSource } from './source.js'

export type DataFormat = 'csv' | 'tsv' | 'jsonl' | 'conll' | 'text'
export const DATA_FORMATS: readonly DataFormat[] = ['csv', 'tsv', 'jsonl', 'conll', 'text']

/** File extensions and the format each implies. `.json` is read as JSON Lines, as HF datasets does. */
export const FORMAT_BY_EXTENSION: Readonly<Record<string, DataFormat>> = {
  csv: 'csv',
  tsv: 'tsv',
  tab: 'tsv',
  jsonl: 'jsonl',
  ndjson: 'jsonl',
  json: 'jsonl',
  conll: 'conll',
  txt: 'text',
  text: 'text',
}

export interface TableOptions {
  /** Overrides the format implied by the file extension. */
  format?: DataFormat
  /** csv/tsv: the delimiter (default ',' for csv, tab for tsv). */
  delimiter?: string
  /** csv/tsv: whether double quotes are special (default true; false reads plain TSV). */
  quoting?: boolean
  /** text: a record per non-blank line, or per blank-line-separated paragraph. Default 'line'. */
  textUnit?: 'line' | 'paragraph'
}

/** One record: column name -> value, with where it came from. */
export interface DataRecord {
  file: string
  line: number
  offset: number
  length: number
  values: Record<string, unknown>
}

/** The format of `name` from `explicit`, else from its extension. */
export function formatFromName(name: string, explicit?: DataFormat): DataFormat {
  if (explicit !== undefined) {
    if (!DATA_FORMATS.includes(explicit)) {
      throw new DataError('DATA_UNKNOWN_FORMAT', `unknown data format "${explicit}"`, `use one of: ${DATA_FORMATS.join(', ')}`)
    }
    return explicit
  }
  const ext = /\.([A-Za-z0-9]+)$/.exec(name)?.[1]?.toLowerCase()
  const f = ext === undefined ? undefined : FORMAT_BY_EXTENSION[ext]
  if (f) return f
  throw fileError(
    'DATA_UNKNOWN_FORMAT',
    name,
    `cannot tell the data format from the file name (${ext ? `".${ext}"` : 'no extension'})`,
    `name the file ${Object.keys(FORMAT_BY_EXTENSION).map((e) => '.' + e).join(', ')}, or pass the format (--format ${DATA_FORMATS.join('|')})`,
  )
}

const decoder = new TextDecoder('utf-8', { ignoreBOM: true })

/** Turns raw records of one file into DataRecords; holds the CSV header once it has seen it. */
export class TableParser {
  readonly file: string
  readonly format: DataFormat
  readonly #delimiter: string
  readonly #quoting: boolean
  readonly #textUnit: 'line' | 'paragraph'
  /** Column names: the CSV header, the first JSON object's keys, or the fixed ones of conll/text. */
  columns: string[] | undefined

  constructor(file: string, opts: TableOptions = {}, columns?: string[]) {
    this.file = file
    this.format = formatFromName(file, opts.format)
    this.#delimiter = opts.delimiter ?? (this.format === 'tsv' ? '\t' : ',')
    this.#quoting = opts.quoting ?? true
    this.#textUnit = opts.textUnit ?? 'line'
    this.columns = columns ?? (this.format === 'conll' ? ['tokens', 'tags'] : this.format === 'text' ? ['text'] : undefined)
  }

  /** Whether the first record is a header (csv, tsv). */
  get hasHeader(): boolean {
    return this.format === 'csv' || this.format === 'tsv'
  }

  scanOptions(): ScanOptions {
    switch (this.format) {
      case 'csv':
      case 'tsv':
        return { mode: 'csv', delimiter: this.#delimiter.charCodeAt(0), quoting: this.#quoting }
      case 'jsonl':
        return { mode: 'lines' }
      case 'conll':
        return { mode: 'blocks' }
      case 'text':
        return { mode: this.#textUnit === 'paragraph' ? 'blocks' : 'lines' }
    }
  }

  /** Reads the CSV/TSV header record. */
  setHeader(raw: RawRecord): void {
    const names = this.#fields(raw)
    const seen = new Map<string, number>()
    this.columns = names.map((n, i) => {
      const name = n.trim() === '' ? `Unnamed: ${i}` : n
      const first = seen.get(name)
      if (first !== undefined) {
        throw new DataRowError(
          'DATA_DUPLICATE_COLUMN',
          { file: this.file, line: raw.line, field: name },
          `the header names column "${name}" twice (columns ${first + 1} and ${i + 1})`,
          'give every column a distinct name',
        )
      }
      seen.set(name, i)
      return name
    })
  }

  /** The record's values, or null when it holds nothing to use (a CoNLL -DOCSTART- block). */
  parse(raw: RawRecord): DataRecord | null {
    const rec = (values: Record<string, unknown>): DataRecord => ({
      file: this.file,
      line: raw.line,
      offset: raw.offset,
      length: raw.length,
      values,
    })
    switch (this.format) {
      case 'csv':
      case 'tsv': {
        const cols = this.columns
        if (!cols) throw new Error('TableParser: header not read yet')
        const fields = this.#fields(raw)
        if (fields.length !== cols.length) {
          throw new DataRowError(
            'DATA_RAGGED_ROW',
            { file: this.file, line: raw.line },
            `row has ${fields.length} field(s) but the header has ${cols.length} (${cols.join(', ')})`,
            this.#quoting
              ? `quote fields that contain the delimiter ${JSON.stringify(this.#delimiter)} or a newline ("like, this"), and give every row one value per column`
              : 'give every row one value per column',
          )
        }
        const values: Record<string, unknown> = {}
        for (let k = 0; k < cols.length; k++) values[cols[k]!] = fields[k]
        return rec(values)
      }
      case 'jsonl': {
        const text = decoder.decode(raw.bytes)
        let value: unknown
        try {
          value = JSON.parse(text)
        } catch (e) {
          const pos = Math.max(0, jsonErrorPosition(text))
          const reason = e instanceof Error ? e.message : String(e)
          throw new DataRowError(
            'DATA_INVALID_JSON',
            { file: this.file, line: raw.line, column: pos + 1 },
            `invalid JSON at column ${pos + 1} (near ${JSON.stringify(text.slice(Math.max(0, pos - 10), pos + 10))}): ${reason}`,
            'write one complete JSON object per line (JSON Lines); a pretty-printed object spanning several lines is not valid here',
          )
        }
        if (typeof value !== 'object' || value === null || Array.isArray(value)) {
          const what = Array.isArray(value) ? 'an array' : value === null ? 'null' : `a ${typeof value}`
          throw new DataRowError(
            'DATA_NOT_AN_OBJECT',
            { file: this.file, line: raw.line, column: 1 },
            `expected one JSON object per line, found ${what}`,
            Array.isArray(value)
              ? 'a file holding one JSON array must become JSON Lines first, e.g. `jq -c ".[]" data.json > data.jsonl`'
              : 'write each example as an object such as {"text": "...", "label": "..."}',
          )
        }
        const values = value as Record<string, unknown>
        if (!this.columns) this.columns = Object.keys(values)
        return rec(values)
      }
      case 'conll':
        return this.#conll(raw, rec)
      case 'text':
        return rec({ text: decoder.decode(raw.bytes) })
    }
  }

  #fields(raw: RawRecord): string[] {
    return parseFields(decoder.decode(raw.bytes), { delimiter: this.#delimiter, quoting: this.#quoting }, this.file, raw.line)
  }

  #conll(raw: RawRecord, rec: (v: Record<string, unknown>) => DataRecord): DataRecord | null {
    const lines = decoder.decode(raw.bytes).split('\n')
    const tokens: string[] = []
    const tags: string[] = []
    let first = -1
    for (let k = 0; k < lines.length; k++) {
      const line = lines[k]!.trim()
      if (line === '' || line.startsWith('-DOCSTART-')) continue
      const parts = line.split(/\s+/)
      if (parts.length < 2) {
        throw new DataRowError(
          'DATA_CONLL_LINE',
          { file: this.file, line: raw.line + k, column: 1 },
          `expected "token tag" (separated by a space or tab), found ${JSON.stringify(line)}`,
          'write one token and its tag per line, and a blank line between sentences',
        )
      }
      if (first < 0) first = k
      tokens.push(parts[0]!)
      tags.push(parts[parts.length - 1]!)
    }
    if (tokens.length === 0) return null
    const r = rec({ tokens, tags })
    r.line = raw.line + first
    return r
  }
}

/** Options for reading records in order. */
export interface ReadOptions extends TableOptions {
  /** Stop at a bad row ('error', default) or skip and count it. */
  onBadRow?: OnBadRow
  /** Where skipped rows are counted (pass one to read the counts afterwards). */
  badRows?: BadRows
}

/**
 * Streams the records of `source` in file order; memory stays bounded by the longest record.
 * Throws DATA_EMPTY for a file without rows (a header alone counts as empty).
 */
export async function* readRecords(source: DataSource, opts: ReadOptions = {}): AsyncGenerator<DataRecord> {
  const parser = new TableParser(source.name, opts)
  for await (const { record } of parsedRecords(source, parser, opts.badRows ?? new BadRows(opts.onBadRow ?? 'error'))) yield record
}

/**
 * Raw and parsed records of `source` (the header consumed into `parser`), bad rows handled by `bad`.
 * Throws DATA_EMPTY when the file has no records at all.
 */
export async function* parsedRecords(
  source: DataSource,
  parser: TableParser,
  bad: BadRows,
): AsyncGenerator<{ raw: RawRecord; record: DataRecord }> {
  let headerSeen = !parser.hasHeader
  let seen = 0
  for await (const raw of scanRecords(source, parser.scanOptions())) {
    if (!headerSeen) {
      parser.setHeader(raw)
      headerSeen = true
      continue
    }
    seen++
    let record: DataRecord | null
    try {
      record = parser.parse(raw)
    } catch (e) {
      bad.handle(e)
      continue
    }
    if (record) yield { raw, record }
  }
  if (seen === 0) throw emptyError(source.name, parser.hasHeader && headerSeen)
}

/** DATA_EMPTY for a file with no rows. */
export function emptyError(file: string, headerOnly: boolean): DataError {
  return fileError(
    'DATA_EMPTY',
    file,
    headerOnly ? 'has a header but no rows' : 'is empty: it holds no records',
    'point --data at a file with at least one example',
  )
}
