/**
 * A data file as the parsers see it: a name for messages, a size, a stream of byte chunks for one
 * sequential pass, and random reads for rows found by the row index. Node files come from
 * `fileSource` in source-node.ts; a browser passes a File/Blob to `blobSource`.
 */

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

/** A JSON Lines source built from objects in memory (built-in data sets go through the same parser). */
export function recordsSource(name: string, records: readonly object[]): DataSource {
  return bytesSource(name, records.map((r) => JSON.stringify(r)).join('\n') + '\n')
}
