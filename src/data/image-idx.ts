/**
 * The IDX format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/): a 4-byte magic
 * (two zero bytes, a type code, the number of dimensions), one big-endian uint32 per dimension, then
 * the values row-major. Images are `idx3-ubyte` (count, rows, cols), labels `idx1-ubyte` (count).
 *
 * Images are read by offset from a seekable DataSource, so memory holds only the images being
 * used. A gzipped file must be decompressed first: `gunzipToMemory` does it in memory (browsers);
 * Node decompresses once to a cache file (image-idx-node.ts) and reads that by offset.
 */
import { DataError } from '../errors.js'
import { fileError } from './errors.js'
import type { RawImage } from './image.js'
import { bytesSource, type DataSource } from './source.js'

const TYPES: Record<number, { name: string; bytes: number }> = {
  0x08: { name: 'ubyte', bytes: 1 },
  0x09: { name: 'byte', bytes: 1 },
  0x0b: { name: 'short', bytes: 2 },
  0x0c: { name: 'int', bytes: 4 },
  0x0d: { name: 'float', bytes: 4 },
  0x0e: { name: 'double', bytes: 8 },
}

export interface IdxHeader {
  /** Value type: ubyte, byte, short, int, float, double. */
  type: string
  dims: number[]
  /** Where the values start (4 + 4 * dims.length). */
  dataOffset: number
}

/** Whether `bytes` start with the gzip magic (1f 8b). */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b
}

/** The header at the start of `bytes` (at least 4 + 4 * dims bytes). Throws DATA_BAD_IDX naming `file`. */
export function parseIdxHeader(bytes: Uint8Array, file: string): IdxHeader {
  if (isGzip(bytes)) throw fileError('DATA_BAD_IDX', file, 'is gzipped; decompress it before parsing', 'open it with openIdxImages/readIdxLabels, which decompress gzipped files')
  const type = TYPES[bytes[2] ?? -1]
  if (bytes.length < 4 || bytes[0] !== 0 || bytes[1] !== 0 || !type || bytes[3] === 0) {
    const magic = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ')
    throw fileError('DATA_BAD_IDX', file, `is not an IDX file (magic bytes ${magic || 'missing'}; expected 00 00 08 03 for images, 00 00 08 01 for labels)`, 'point at MNIST-style *-images-idx3-ubyte and *-labels-idx1-ubyte files (gzipped or not)')
  }
  const n = bytes[3]!
  if (bytes.length < 4 + 4 * n) throw fileError('DATA_BAD_IDX', file, `is cut short inside its header (${bytes.length} bytes)`, 'the file is truncated: download it again')
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const dims = Array.from({ length: n }, (_, i) => view.getUint32(4 + 4 * i, false))
  return { type: type.name, dims, dataOffset: 4 + 4 * n }
}

/** Bytes the values of `h` take. */
const dataBytes = (h: IdxHeader): number => h.dims.reduce((a, b) => a * b, 1) * (Object.values(TYPES).find((t) => t.name === h.type)?.bytes ?? 1)

function checkSize(h: IdxHeader, size: number, file: string): void {
  const want = h.dataOffset + dataBytes(h)
  if (Number.isFinite(size) && size < want) throw fileError('DATA_BAD_IDX', file, `is ${size} bytes where its header (${h.dims.join(' x ')} ${h.type}) needs ${want}`, 'the file is truncated: download it again')
}

/** Grayscale images of an idx3-ubyte file, read one at a time by offset. */
export class IdxImages {
  readonly source: DataSource
  /** The file named in messages. */
  readonly name: string
  readonly count: number
  readonly rows: number
  readonly cols: number
  readonly #offset: number

  private constructor(source: DataSource, h: IdxHeader, name: string) {
    this.source = source
    this.name = name
    this.count = h.dims[0]!
    this.rows = h.dims[1]!
    this.cols = h.dims[2]!
    this.#offset = h.dataOffset
  }

  /** Reads and checks the header of an (uncompressed) idx3-ubyte source; `name` (default the source's) is shown in messages. */
  static async open(source: DataSource, name = source.name): Promise<IdxImages> {
    const h = parseIdxHeader(await source.read(0, 16), name)
    if (h.type !== 'ubyte' || h.dims.length !== 3) {
      throw fileError('DATA_BAD_IDX', name, `holds ${h.dims.join(' x ')} ${h.type} values where images (count x rows x cols ubyte, idx3-ubyte) are expected`, 'pass the *-images-idx3-ubyte file as the data and the labels file beside it')
    }
    checkSize(h, source.size, name)
    return new IdxImages(source, h, name)
  }

  /** Image `i` (0-based): rows x cols, one channel. */
  async read(i: number): Promise<RawImage> {
    if (!(i >= 0 && i < this.count)) throw new RangeError(`image ${i} is out of range (0..${this.count - 1})`)
    const n = this.rows * this.cols
    const data = await this.source.read(this.#offset + i * n, n)
    if (data.length !== n) throw fileError('DATA_BAD_IDX', this.name, `ends inside image ${i}`, 'the file is truncated: download it again')
    return { width: this.cols, height: this.rows, channels: 1, data: data.slice() }
  }
}

/** The labels of an (uncompressed) idx1-ubyte source, one byte each. */
export async function readIdxLabels(source: DataSource): Promise<Uint8Array> {
  const head = await source.read(0, 8)
  const h = parseIdxHeader(head, source.name)
  if (h.type !== 'ubyte' || h.dims.length !== 1) {
    throw fileError('DATA_BAD_IDX', source.name, `holds ${h.dims.join(' x ')} ${h.type} values where labels (count ubyte, idx1-ubyte) are expected`, 'pass the *-labels-idx1-ubyte file')
  }
  checkSize(h, source.size, source.name)
  return (await source.read(h.dataOffset, h.dims[0]!)).slice()
}

/** An IDX file as bytes: a header for `dims` (ubyte values) followed by `values`. */
export function idxBytes(dims: readonly number[], values: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + values.length)
  const view = new DataView(out.buffer)
  out[2] = 0x08
  out[3] = dims.length
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false))
  out.set(values, 4 + 4 * dims.length)
  return out
}

/** A gzipped source decompressed in memory (DecompressionStream; browsers and Node alike). */
export async function gunzipToMemory(source: DataSource): Promise<DataSource> {
  if (typeof DecompressionStream === 'undefined') throw new DataError('DATA_NO_GUNZIP', `${source.name}: this runtime cannot decompress gzip`, 'decompress the file first')
  const chunks: Uint8Array[] = []
  const ds = new DecompressionStream('gzip')
  const writer = ds.writable.getWriter()
  const pump = (async () => {
    for await (const c of source.stream()) await writer.write(c as Uint8Array<ArrayBuffer>)
    await writer.close()
  })()
  const reader = ds.readable.getReader()
  let total = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    chunks.push(value)
    total += value.length
  }
  await pump
  const all = new Uint8Array(total)
  let o = 0
  for (const c of chunks) {
    all.set(c, o)
    o += c.length
  }
  return bytesSource(source.name, all)
}

/** The Fashion-MNIST class names, ids 0-9 (Zalando's labels, as HF's fashion_mnist names them). */
export const FASHION_MNIST_LABELS: readonly string[] = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot']
