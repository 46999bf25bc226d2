/**
 * Splits a byte stream into raw records without decoding it, so every record knows its byte offset
 * and length in the file (the row index stores exactly these) and its 1-based starting line.
 * Delimiters, quotes and newlines are ASCII, and UTF-8 never uses ASCII bytes inside a multi-byte
 * character, so scanning bytes is safe for any UTF-8 text. Only the current partial record is held
 * between chunks: memory does not grow with the file.
 *
 * Modes: 'csv' ends a record at a newline outside quotes (RFC 4180: a field is quoted only when its
 * first character is a quote; `""` inside is an escaped quote); 'lines' ends one at every newline;
 * 'blocks' makes one record of each run of non-blank lines (CoNLL sentences, paragraphs).
 * Empty records are skipped ('lines' and 'blocks' also skip whitespace-only lines); a UTF-8 BOM at
 * the start is skipped; a CR before the newline is not part of the record.
 */
import { DataError } from '../errors.js'
import { formatPosition } from './errors.js'
import type { DataSource } from './source.js'

export type ScanMode = 'csv' | 'lines' | 'blocks'

/** One record's bytes and where they are. */
export interface RawRecord {
  /** Byte offset of the record's first byte in the file. */
  offset: number
  /** Byte length (without the line terminator). */
  length: number
  /** 1-based line of the record's first byte. */
  line: number
  bytes: Uint8Array
}

export interface ScanOptions {
  mode: ScanMode
  /** 'csv' mode: the field delimiter byte (quotes open a field only right after it). Default ','. */
  delimiter?: number
  /** 'csv' mode: whether quotes are special. Default true. */
  quoting?: boolean
}

const LF = 10
const CR = 13
const QUOTE = 34
const isSpace = (b: number): boolean => b === 32 || b === 9 || b === CR

/** Incremental record splitter: `push` chunks, then `finish`; complete records are appended to `out`. */
export class RecordScanner {
  readonly #file: string
  readonly #mode: ScanMode
  readonly #delim: number
  readonly #quoting: boolean
  #chunks: { start: number; bytes: Uint8Array }[] = []
  #pos = 0 // absolute offset of the next byte to scan
  #line = 1 // line number at #pos
  #head: Uint8Array | null = new Uint8Array(0) // bytes before the BOM check is done
  // csv / lines state
  #recStart = 0
  #recLine = 1
  #q = 0 // 0 unquoted, 1 inside quotes, 2 just saw a quote inside quotes
  #fieldStart = true
  // blocks state
  #lineStart = 0
  #lineHasContent = false
  #blockStart = -1
  #blockLine = 0
  #blockEnd = 0

  constructor(file: string, opts: ScanOptions) {
    this.#file = file
    this.#mode = opts.mode
    this.#delim = opts.delimiter ?? 44
    this.#quoting = opts.quoting ?? true
  }

  push(chunk: Uint8Array, out: RawRecord[]): void {
    if (this.#head) {
      const head = concat([this.#head, chunk])
      if (head.length < 3) {
        this.#head = head
        return
      }
      this.#head = null
      this.#startAfterBom(head)
      chunk = head
    }
    this.#scan(chunk, out)
  }

  finish(out: RawRecord[]): void {
    if (this.#head) {
      const head = this.#head
      this.#head = null
      this.#startAfterBom(head)
      this.#scan(head, out)
    }
    const end = this.#pos
    if (this.#mode === 'blocks') {
      if (this.#lineStart < end) this.#endLine(end)
      if (this.#blockStart >= 0) this.#emit(this.#blockStart, this.#blockEnd, this.#blockLine, out)
    } else {
      if (this.#q === 1) {
        throw new DataError(
          'DATA_UNCLOSED_QUOTE',
          `${formatPosition({ file: this.#file, line: this.#recLine })}: a quoted field that starts in this record is never closed; the rest of the file was read as part of it`,
          'close the quote with a matching ", write a quote inside a quoted field as "", or read a file without quoting as plain TSV (quoting: false)',
        )
      }
      this.#emit(this.#recStart, end, this.#recLine, out)
    }
    this.#chunks = []
  }

  #startAfterBom(head: Uint8Array): void {
    if (head.length >= 3 && head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf) {
      this.#recStart = this.#lineStart = 3
    }
  }

  #scan(chunk: Uint8Array, out: RawRecord[]): void {
    const base = this.#pos
    this.#chunks.push({ start: base, bytes: chunk })
    const n = chunk.length
    // the BOM bytes belong to no record; skip them when they are in this chunk
    let i = Math.max(0, Math.min(n, (this.#mode === 'blocks' ? this.#lineStart : this.#recStart) - base))
    if (this.#mode === 'lines') {
      for (;;) {
        const k = chunk.indexOf(LF, i)
        if (k < 0) break
        this.#endRecord(base + k, out)
        i = k + 1
      }
    } else if (this.#mode === 'blocks') {
      for (; i < n; i++) {
        const b = chunk[i]!
        if (b === LF) this.#endLine(base + i, out)
        else if (!this.#lineHasContent && !isSpace(b)) this.#lineHasContent = true
      }
    } else {
      const delim = this.#delim
      const quoting = this.#quoting
      let q = this.#q
      let fieldStart = this.#fieldStart
      for (; i < n; i++) {
        const b = chunk[i]!
        if (q === 1) {
          if (b === QUOTE) q = 2
          else if (b === LF) this.#line++
          continue
        }
        if (q === 2) {
          if (b === QUOTE) {
            q = 1
            continue
          }
          q = 0
        }
        if (b === LF) {
          this.#endRecord(base + i, out)
          fieldStart = true
        } else if (b === delim) fieldStart = true
        else if (b === QUOTE && fieldStart && quoting) {
          q = 1
          fieldStart = false
        } else fieldStart = false
      }
      this.#q = q
      this.#fieldStart = fieldStart
    }
    this.#pos = base + n
    this.#drop(this.#mode === 'blocks' ? (this.#blockStart >= 0 ? this.#blockStart : this.#lineStart) : this.#recStart)
  }

  /** A newline at absolute offset `p` ends the current record ('csv', 'lines'). */
  #endRecord(p: number, out: RawRecord[]): void {
    this.#emit(this.#recStart, p, this.#recLine, out)
    this.#line++
    this.#recStart = p + 1
    this.#recLine = this.#line
  }

  /** A newline at `p` (or the end of data) ends the current line ('blocks'). */
  #endLine(p: number, out?: RawRecord[]): void {
    if (this.#lineHasContent) {
      if (this.#blockStart < 0) {
        this.#blockStart = this.#lineStart
        this.#blockLine = this.#line
      }
      this.#blockEnd = p
    } else if (this.#blockStart >= 0 && out) {
      this.#emit(this.#blockStart, this.#blockEnd, this.#blockLine, out)
      this.#blockStart = -1
    }
    this.#line++
    this.#lineStart = p + 1
    this.#lineHasContent = false
  }

  #emit(start: number, end: number, line: number, out: RawRecord[]): void {
    if (end <= start) return
    let bytes = this.#slice(start, end)
    if (bytes[bytes.length - 1] === CR) bytes = bytes.subarray(0, bytes.length - 1)
    if (bytes.length === 0) return
    if (this.#mode !== 'csv' && bytes.every(isSpace)) return
    out.push({ offset: start, length: bytes.length, line, bytes })
  }

  #slice(a: number, b: number): Uint8Array {
    const parts: Uint8Array[] = []
    for (const c of this.#chunks) {
      const s = Math.max(a, c.start)
      const e = Math.min(b, c.start + c.bytes.length)
      if (s < e) parts.push(c.bytes.subarray(s - c.start, e - c.start))
    }
    return parts.length === 1 ? parts[0]! : concat(parts)
  }

  #drop(before: number): void {
    let k = 0
    while (k < this.#chunks.length - 1 && this.#chunks[k]!.start + this.#chunks[k]!.bytes.length <= before) k++
    if (k > 0) this.#chunks = this.#chunks.slice(k)
  }
}

/** Concatenates byte arrays. */
export function concat(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0
  for (const p of parts) n += p.length
  const out = new Uint8Array(n)
  let o = 0
  for (const p of parts) {
    out.set(p, o)
    o += p.length
  }
  return out
}

/** The raw records of a source, in file order. */
export async function* scanRecords(source: DataSource, opts: ScanOptions): AsyncGenerator<RawRecord> {
  const scanner = new RecordScanner(source.name, opts)
  const out: RawRecord[] = []
  for await (const chunk of source.stream()) {
    scanner.push(chunk, out)
    for (const r of out) yield r
    out.length = 0
  }
  scanner.finish(out)
  yield* out
}
