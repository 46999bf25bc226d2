/**
 * Fields of one CSV/TSV record (RFC 4180). The record splitter in records.ts has already found the
 * record's end (respecting quoted newlines); this turns its text into fields. A field is quoted only
 * when it starts with a quote; inside, `""` is a quote and delimiters and newlines are literal. A
 * quote in the middle of an unquoted field is kept as it is (as Python's csv module does). With
 * `quoting: false` (plain TSV) only the delimiter is special.
 */
import { DataRowError } from './errors.js'

export interface FieldOptions {
  delimiter: string
  quoting: boolean
}

/**
 * Splits `text` (one record, no line terminator) into fields. `line` is the record's first line in
 * `file`, used to place errors.
 */
export function parseFields(text: string, opts: FieldOptions, file: string, line: number): string[] {
  const { delimiter, quoting } = opts
  const fields: string[] = []
  const n = text.length
  let i = 0
  for (;;) {
    if (quoting && text.charCodeAt(i) === 34) {
      let j = i + 1
      let escaped = false
      let close: number
      for (;;) {
        close = text.indexOf('"', j)
        if (close < 0) {
          throw new DataRowError(
            'DATA_UNCLOSED_QUOTE',
            { file, ...place(text, i, line), field: `#${fields.length + 1}` },
            `field ${fields.length + 1} opens a quote that is never closed`,
            'close the quote with a matching ", or write a quote inside a quoted field as ""',
          )
        }
        if (text.charCodeAt(close + 1) === 34) {
          escaped = true
          j = close + 2
        } else break
      }
      const body = text.slice(i + 1, close)
      fields.push(escaped ? body.replaceAll('""', '"') : body)
      i = close + 1
      if (i >= n) break
      if (text.startsWith(delimiter, i)) {
        i += delimiter.length
        continue
      }
      throw new DataRowError(
        'DATA_BAD_QUOTE',
        { file, ...place(text, i, line), field: `#${fields.length}` },
        `field ${fields.length} has text after its closing quote (${JSON.stringify(text.slice(i, i + 12))})`,
        `quote the whole field and write quotes inside it as "", or read the file without quoting (quoting: false) if it is plain ${delimiter === '\t' ? 'TSV' : 'delimited text'}`,
      )
    }
    let k = text.indexOf(delimiter, i)
    if (k < 0) k = n
    fields.push(text.slice(i, k))
    if (k >= n) break
    i = k + delimiter.length
  }
  return fields
}

/** Line and 1-based column of character `pos` of a record that starts on `line`. */
function place(text: string, pos: number, line: number): { line: number; column: number } {
  let l = line
  let lineStart = 0
  for (let k = text.indexOf('\n'); k >= 0 && k < pos; k = text.indexOf('\n', k + 1)) {
    l++
    lineStart = k + 1
  }
  return { line: l, column: pos - lineStart + 1 }
}

/** Quotes a field when needed (writing fixtures and exporting predictions). */
export function quoteField(value: string, delimiter = ','): string {
  return /["\r\n]/.test(value) || value.includes(delimiter) || value.startsWith(' ') ? `"${value.replaceAll('"', '""')}"` : value
}
