/**
 * A data file as the parsers see it: a name for messages, a size, a stream of byte chunks for one
 * sequential pass, and random reads for rows found by the row index. Node files come from
 * `fileSource` in source-node.ts; a browser passes a File/Blob to `blobSource`.
 */
import { DataError } from '../errors.js'

/** Bytes of a data file, readable in order (stream) or by position (read). */
export interface DataSource {
  /** Shown in every message about this file (a path, or a name the caller chose). */
  readonly name: string
  /** Size in bytes. */
  readonly size: number
  /** The bytes from `start` (default 0) to the end, in chunks of any size. */
  stream(start?: number): AsyncIterable<Uint8Array>
  /** Exactly `length` bytes from `offset` (fewer only at the end of the data). */
  read(offset: number, length: number): Promise<Uint8Array>
  /** Releases an open file handle, if any. */
  close?(): Promise<void>
}

const encoder = new TextEncoder()

/** A source over bytes or text held in memory; `chunkSize` splits the stream (tests use small ones). */
export function bytesSource(name: string, data: Uint8Array | string, chunkSize = 1 << 16): DataSource {
  const bytes = typeof data === 'string' ? encoder.encode(data) : data
  return {
    name,
    size: bytes.length,
    async *stream(start = 0) {
      for (let i = start; i < bytes.length; i += chunkSize) yield bytes.subarray(i, Math.min(bytes.length, i + chunkSize))
    },
    async read(offset, length) {
      return bytes.subarray(offset, Math.min(bytes.length, offset + length))
    },
  }
}

/** A source over a Blob or File (browser, or Node's global Blob); nothing is read until asked. */
export function blobSource(blob: Blob, name = (blob as { name?: string }).name ?? 'data', chunkSize = 1 << 20): DataSource {
  return {
    name,
    size: blob.size,
    async *stream(start = 0) {
      for (let i = start; i < blob.size; i += chunkSize) {
        yield new Uint8Array(await blob.slice(i, Math.min(blob.size, i + chunkSize)).arrayBuffer())
      }
    },
    async read(offset, length) {
      return new Uint8Array(await blob.slice(offset, Math.min(blob.size, offset + length)).arrayBuffer())
    },
  }
}

/**
 * A one-pass source over chunks of bytes or text (a network stream, a decompressor): records can be
 * streamed once, but not read by position, so it suits `readRecords`, not a row index.
 */
export function chunkSource(name: string, chunks: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>): DataSource {
  let used = false
  return {
    name,
    size: Number.NaN,
    async *stream(start = 0) {
      if (used || start !== 0) throw new DataError('DATA_NOT_SEEKABLE', `${name}: a chunk stream can be read only once, from the start`, 'read it from a file or a Blob to index it')
      used = true
      for await (const c of chunks) yield typeof c === 'string' ? encoder.encode(c) : c
    },
    read() {
      return Promise.reject(new DataError('DATA_NOT_SEEKABLE', `${name}: a chunk stream cannot be read by position`, 'read it from a file or a Blob to index it'))
    },
  }
}

/** A JSON Lines source built from objects in memory (built-in data sets go through the same parser); name it `*.jsonl` or pass `format: 'jsonl'`. */
export function recordsSource(name: string, records: readonly object[]): DataSource {
  return bytesSource(name, records.map((r) => JSON.stringify(r)).join('\n') + '\n')
}
