/**
 * The safetensors format (https://github.com/huggingface/safetensors): an 8-byte little-endian
 * header length N, N bytes of JSON `{name: {dtype, shape, data_offsets: [begin, end]},
 * "__metadata__": {string: string}}`, then the data section, tensors packed back to back.
 *
 * Reading is lazy: opening reads only the header, and each tensor's bytes are read when asked for,
 * so a multi-gigabyte checkpoint never sits in memory whole. Works in a browser (a `ByteSource` can
 * wrap a `Blob`); the Node file source lives in safetensors-node.ts.
 */
import { CheckpointError } from '../errors.js'
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from './dtypes.js'

/** The safetensors dtypes finetune reads. */
export type StDType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'U8' | 'BOOL'
/** The dtypes `serializeSafetensors` writes. */
export type StWriteDType = 'F32' | 'F16' | 'BF16' | 'I64'

export const ST_DTYPE_BYTES: Readonly<Record<StDType, number>> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, U8: 1, BOOL: 1,
}
const ST_DTYPES = Object.keys(ST_DTYPE_BYTES) as StDType[]
// dtypes the format defines that finetune does not read; named so the error can say so
const FOREIGN_DTYPES = new Set(['I8', 'I16', 'U16', 'U32', 'U64', 'F8_E4M3', 'F8_E5M2', 'F8_E8M0', 'F6_E2M3', 'F6_E3M2', 'F4', 'C64'])
// the reference implementation refuses headers over 100 MB; anything larger is not a real header
const MAX_HEADER_BYTES = 100_000_000

/** Random access to the bytes of a file, a Blob or a buffer. `name` is used in error messages. */
export interface ByteSource {
  readonly size: number
  readonly name: string
  /** Exactly `length` bytes from `offset`; rejects rather than returning fewer. */
  read(offset: number, length: number): Promise<Uint8Array>
  /** Releases a file handle or similar, when the source holds one. */
  close?(): Promise<void>
}

/** A tensor's bytes in the typed array that holds its dtype; F16 and BF16 stay as raw 16-bit patterns. */
export interface LoadedTensor {
  dtype: StDType
  shape: number[]
  data: Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array | Uint16Array
}

export interface TensorInfo {
  dtype: StDType
  shape: number[]
  byteLength: number
}

/** An opened checkpoint: header parsed, tensor data read on demand. */
export interface SafetensorsFile {
  /** The file (or, for sharded checkpoints, folder) name used in messages. */
  readonly name: string
  readonly metadata: Readonly<Record<string, string>>
  /** Tensor names in data-section order. */
  keys(): string[]
  has(name: string): boolean
  info(name: string): TensorInfo
  read(name: string): Promise<LoadedTensor>
  /** The tensor converted to float32 (F64 and I64 values are rounded). Shape via `info`. */
  readAsFloat32(name: string): Promise<Float32Array>
  /** The file holding a tensor, where it is not `name` (the shard of a sharded checkpoint). */
  fileOf?(name: string): string
  close(): Promise<void>
}

/** A tensor to write: Float32Array data is converted when dtype is F16 or BF16. */
export interface TensorToWrite {
  dtype: StWriteDType
  shape: readonly number[]
  data: Float32Array | Uint16Array | BigInt64Array
}

const REEXPORT_HINT = 'the file looks truncated or corrupt: download or export it again'

/** A ByteSource over bytes already in memory (tests, small files, `fetch` results). */
export function bytesSource(buf: Uint8Array, name = 'buffer'): ByteSource {
  return {
    size: buf.byteLength,
    name,
    async read(offset: number, length: number): Promise<Uint8Array> {
      if (offset < 0 || length < 0 || offset + length > buf.byteLength) {
        throw new CheckpointError(
          'CHECKPOINT_TRUNCATED',
          `${name}: cannot read ${length} bytes at offset ${offset}; it has only ${buf.byteLength} bytes`,
          REEXPORT_HINT,
        )
      }
      return buf.slice(offset, offset + length) // a copy: callers may modify what they load
    },
  }
}

/** A ByteSource over a Blob or File (a browser file input, a fetched response's blob); reads slices lazily. */
export function blobSource(blob: Blob, name = 'blob'): ByteSource {
  return {
    size: blob.size,
    name,
    async read(offset: number, length: number): Promise<Uint8Array> {
      const bytes = new Uint8Array(await blob.slice(offset, offset + length).arrayBuffer())
      if (bytes.length !== length) {
        throw new CheckpointError('CHECKPOINT_TRUNCATED', `${name}: wanted ${length} bytes at offset ${offset}, got ${bytes.length}`, REEXPORT_HINT)
      }
      return bytes
    },
  }
}

interface Entry extends TensorInfo {
  begin: number // offset within the data section
}

const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1)

const isIndex = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0

/** Names of the top-level keys of a JSON object text, in order, duplicates included. */
function topLevelKeys(text: string): string[] {
  const keys: string[] = []
  let depth = 0
  for (let i = 0; i < text.length; i++) {
    const c = text[i]
    if (c === '{' || c === '[') depth++
    else if (c === '}' || c === ']') depth--
    else if (c === '"') {
      const start = i
      for (i++; text[i] !== '"'; i++) if (text[i] === '\\') i++
      if (depth === 1) {
        let j = i + 1
        while (j < text.length && /\s/.test(text[j]!)) j++
        if (text[j] === ':') keys.push(JSON.parse(text.slice(start, i + 1)) as string)
      }
    }
  }
  return keys
}

const header = (file: string, problem: string): CheckpointError =>
  new CheckpointError('CHECKPOINT_BAD_HEADER', `${file}: ${problem}`, REEXPORT_HINT)

const truncated = (file: string, problem: string): CheckpointError =>
  new CheckpointError('CHECKPOINT_TRUNCATED', `${file}: ${problem}; the file looks truncated or corrupt`, 'download or export it again')

function parseEntry(file: string, key: string, raw: unknown): Entry {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw header(file, `header entry "${key}" is ${JSON.stringify(raw)}, expected {dtype, shape, data_offsets}`)
  }
  const { dtype, shape, data_offsets: offsets } = raw as Record<string, unknown>
  if (typeof dtype !== 'string' || !(ST_DTYPES as string[]).includes(dtype)) {
    const known = typeof dtype === 'string' && FOREIGN_DTYPES.has(dtype)
    throw new CheckpointError(
      'CHECKPOINT_DTYPE',
      `${file}: tensor "${key}" has ${known ? 'dtype' : 'unknown dtype'} ${JSON.stringify(dtype)}` +
        `${known ? ', which finetune does not read' : ''}; supported: ${ST_DTYPES.join(', ')}`,
      known ? 'convert the checkpoint to float32, float16 or bfloat16 and save it again' : REEXPORT_HINT,
    )
  }
  if (!Array.isArray(shape) || !shape.every(isIndex)) {
    throw header(file, `tensor "${key}" has shape ${JSON.stringify(shape)}, expected a list of non-negative integers`)
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isIndex) || offsets[0]! > offsets[1]!) {
    throw header(file, `tensor "${key}" has data_offsets ${JSON.stringify(offsets)}, expected [begin, end] with 0 <= begin <= end`)
  }
  const d = dtype as StDType
  const [begin, end] = offsets as [number, number]
  const expected = numel(shape as number[]) * ST_DTYPE_BYTES[d]
  if (end - begin !== expected) {
    throw header(
      file,
      `tensor "${key}" (${d}, shape [${(shape as number[]).join(', ')}]) needs ${expected} bytes but data_offsets [${begin}, ${end}] span ${end - begin}`,
    )
  }
  return { dtype: d, shape: shape as number[], byteLength: expected, begin }
}

function parseMetadata(file: string, raw: unknown): Record<string, string> {
  if (raw === undefined) return {}
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw header(file, `"__metadata__" is ${JSON.stringify(raw)}, expected an object of strings`)
  }
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v !== 'string') throw header(file, `"__metadata__"."${k}" is ${JSON.stringify(v)}, expected a string`)
  }
  return raw as Record<string, string>
}

/** Checks that the tensors tile the data section exactly: no overlap, no gap, nothing past its end. */
function checkLayout(file: string, entries: Map<string, Entry>, dataBytes: number): string[] {
  const order = [...entries.keys()].sort((a, b) => {
    const x = entries.get(a)!
    const y = entries.get(b)!
    return x.begin - y.begin || x.byteLength - y.byteLength
  })
  let cursor = 0
  let prev = ''
  for (const key of order) {
    const e = entries.get(key)!
    if (e.begin < cursor) {
      throw header(file, `tensor "${key}" starts at byte ${e.begin} of the data section, inside "${prev}" (which ends at ${cursor}): tensors overlap`)
    }
    if (e.begin > cursor) {
      throw header(file, `the data section has a gap of ${e.begin - cursor} bytes before tensor "${key}" (bytes ${cursor}..${e.begin})`)
    }
    cursor = e.begin + e.byteLength
    prev = key
  }
  if (cursor > dataBytes) {
    throw truncated(file, `tensor "${prev}" ends at byte ${cursor} of the data section, but the file holds only ${dataBytes} data bytes`)
  }
  if (cursor < dataBytes) {
    throw header(file, `${dataBytes - cursor} bytes follow the last tensor "${prev}" in the data section`)
  }
  return order
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1

/** Reads and validates the header of a safetensors file; tensor data is read later, on demand. */
export async function openSafetensors(src: ByteSource): Promise<SafetensorsFile> {
  const file = src.name
  if (!LITTLE_ENDIAN) throw new CheckpointError('CHECKPOINT_ENDIAN', 'safetensors reading needs a little-endian host')
  if (src.size < 8) {
    throw truncated(file, `it has ${src.size} bytes, fewer than the 8-byte header length every safetensors file starts with`)
  }
  const lenBytes = await src.read(0, 8)
  const view = new DataView(lenBytes.buffer, lenBytes.byteOffset, 8)
  const headerLen = view.getUint32(0, true) + view.getUint32(4, true) * 2 ** 32
  if (headerLen > MAX_HEADER_BYTES) {
    throw header(file, `its first 8 bytes give a header length of ${headerLen} bytes, more than any safetensors header; is it a safetensors file?`)
  }
  if (8 + headerLen > src.size) {
    throw truncated(file, `its header length is ${headerLen} bytes but the file has only ${src.size - 8} bytes after the length field`)
  }
  const headerBytes = await src.read(8, headerLen)
  let text: string
  let parsed: unknown
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes)
  } catch {
    throw header(file, 'its header is not valid UTF-8; is it a safetensors file?')
  }
  try {
    parsed = JSON.parse(text)
  } catch (e) {
    throw header(file, `its header is not valid JSON (${(e as Error).message}); is it a safetensors file?`)
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw header(file, 'its header is JSON but not an object of tensors')
  }
  const seen = new Set<string>()
  for (const k of topLevelKeys(text)) {
    if (seen.has(k)) throw header(file, `its header lists "${k}" twice`)
    seen.add(k)
  }
  const raw = parsed as Record<string, unknown>
  const metadata = parseMetadata(file, raw['__metadata__'])
  const entries = new Map<string, Entry>()
  for (const [k, v] of Object.entries(raw)) if (k !== '__metadata__') entries.set(k, parseEntry(file, k, v))
  const dataStart = 8 + headerLen
  const order = checkLayout(file, entries, src.size - dataStart)

  const entry = (name: string): Entry => {
    const e = entries.get(name)
    if (!e) throw missingTensor(file, name, order)
    return e
  }
  const read = async (name: string): Promise<LoadedTensor> => {
    const e = entry(name)
    const bytes = await src.read(dataStart + e.begin, e.byteLength)
    return { dtype: e.dtype, shape: [...e.shape], data: typedView(e.dtype, bytes) }
  }
  return {
    name: file,
    metadata,
    keys: () => [...order],
    has: (name) => entries.has(name),
    info: (name) => {
      const { dtype, shape, byteLength } = entry(name)
      return { dtype, shape: [...shape], byteLength }
    },
    read,
    readAsFloat32: async (name) => toFloat32(await read(name)),
    close: async () => {
      await src.close?.()
    },
  }
}

/** The error for a tensor name that is not in a checkpoint, with a few names that are. */
export function missingTensor(file: string, name: string, keys: readonly string[]): CheckpointError {
  // A prefix difference ("bert.encoder..." vs "encoder...") is the usual cause, then a renamed layer.
  const parts = name.split('.')
  const tries = [
    (k: string) => k.endsWith('.' + name) || name.endsWith('.' + k),
    (k: string) => parts.length > 2 && k.endsWith('.' + parts.slice(-2).join('.')),
    (k: string) => k.endsWith('.' + parts[parts.length - 1]),
    () => true,
  ]
  const near = tries.map((t) => keys.filter(t)).find((ks) => ks.length > 0) ?? []
  const some = near.slice(0, 5).map((k) => `"${k}"`).join(', ')
  return new CheckpointError(
    'CHECKPOINT_MISSING_TENSOR',
    `${file} has no tensor "${name}"; it has ${keys.length} tensors${keys.length ? `, e.g. ${some}` : ''}`,
    'check the checkpoint matches the model (family, size) and the tensor name prefix',
  )
}

/** The right typed array over `bytes`, copied when the bytes are not aligned for it. */
function typedView(dtype: StDType, bytes: Uint8Array): LoadedTensor['data'] {
  const size = ST_DTYPE_BYTES[dtype]
  const aligned = bytes.byteOffset % size === 0 ? bytes : bytes.slice()
  const { buffer, byteOffset, byteLength } = aligned
  const n = byteLength / size
  switch (dtype) {
    case 'F64': return new Float64Array(buffer, byteOffset, n)
    case 'F32': return new Float32Array(buffer, byteOffset, n)
    case 'F16':
    case 'BF16': return new Uint16Array(buffer, byteOffset, n)
    case 'I64': return new BigInt64Array(buffer, byteOffset, n)
    case 'I32': return new Int32Array(buffer, byteOffset, n)
    case 'U8':
    case 'BOOL': return aligned
  }
}

/** Converts a loaded tensor's values to float32. */
export function toFloat32(t: LoadedTensor): Float32Array {
  switch (t.dtype) {
    case 'F32': return t.data as Float32Array
    case 'F16': return f16ToF32(t.data as Uint16Array)
    case 'BF16': return bf16ToF32(t.data as Uint16Array)
    case 'I64': {
      const src = t.data as BigInt64Array
      const out = new Float32Array(src.length)
      for (let i = 0; i < src.length; i++) out[i] = Number(src[i]!)
      return out
    }
    case 'BOOL': {
      const out = new Float32Array(t.data.length)
      for (let i = 0; i < out.length; i++) out[i] = t.data[i] ? 1 : 0
      return out
    }
    default: return Float32Array.from(t.data as Float64Array | Int32Array | Uint8Array)
  }
}

const invalid = (problem: string): CheckpointError =>
  new CheckpointError('CHECKPOINT_WRITE_TENSOR', problem, 'pass data whose length is the product of the shape, in a typed array matching the dtype')

const WRITE_DATA: Readonly<Record<StWriteDType, string>> = {
  F32: 'Float32Array', F16: 'Float32Array or Uint16Array', BF16: 'Float32Array or Uint16Array', I64: 'BigInt64Array',
}

/** Throws unless `t` can be written as given. */
function checkWritable(name: string, t: TensorToWrite): void {
  const { dtype, shape, data } = t
  if (!Object.hasOwn(WRITE_DATA, dtype)) {
    throw invalid(`tensor "${name}" has dtype ${JSON.stringify(dtype)}; finetune writes ${Object.keys(WRITE_DATA).join(', ')}`)
  }
  const ok =
    (dtype === 'F32' && data instanceof Float32Array) ||
    ((dtype === 'F16' || dtype === 'BF16') && (data instanceof Float32Array || data instanceof Uint16Array)) ||
    (dtype === 'I64' && data instanceof BigInt64Array)
  if (!ok) {
    throw invalid(`tensor "${name}" is ${dtype} but its data is ${data?.constructor?.name ?? typeof data}; expected ${WRITE_DATA[dtype]}`)
  }
  if (!Array.isArray(shape) || !shape.every(isIndex)) {
    throw invalid(`tensor "${name}" has shape ${JSON.stringify(shape)}, expected a list of non-negative integers`)
  }
  if (data.length !== numel(shape)) {
    throw invalid(`tensor "${name}" has shape [${shape.join(', ')}] (${numel(shape)} values) but its data holds ${data.length}`)
  }
}

/** Bytes of one tensor in its on-disk dtype; a view (no copy) when no conversion is needed. */
function tensorBytes(t: TensorToWrite): Uint8Array {
  const { dtype, data } = t
  const out = data instanceof Float32Array && dtype !== 'F32' ? (dtype === 'F16' ? f32ToF16(data) : f32ToBf16(data)) : data
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength)
}

/**
 * The safetensors header for these tensors, laid out in the order given, and a lazy sequence of
 * the data chunks after it (each tensor is converted only when its chunk is pulled). Everything is
 * validated before anything is produced.
 */
export function safetensorsChunks(
  tensors: Iterable<readonly [string, TensorToWrite]>,
  metadata?: Record<string, string>,
): { header: Uint8Array; data: Iterable<Uint8Array>; byteLength: number } {
  const list = [...tensors]
  const json: Record<string, unknown> = {}
  if (metadata !== undefined) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw invalid(`metadata "${k}" is ${JSON.stringify(v)}; safetensors metadata values must be strings`)
    }
    json['__metadata__'] = metadata
  }
  let offset = 0
  for (const [name, t] of list) {
    if (name === '__metadata__' || Object.hasOwn(json, name)) {
      throw invalid(name === '__metadata__' ? 'a tensor cannot be named "__metadata__"' : `tensor "${name}" is given twice`)
    }
    checkWritable(name, t)
    const bytes = numel(t.shape) * ST_DTYPE_BYTES[t.dtype]
    json[name] = { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + bytes] }
    offset += bytes
  }
  const text = new TextEncoder().encode(JSON.stringify(json))
  // pad with spaces to a multiple of 8 so the data section starts aligned, as the reference writer does
  const padded = Math.ceil(text.length / 8) * 8
  const head = new Uint8Array(8 + padded).fill(0x20, 8 + text.length)
  new DataView(head.buffer).setBigUint64(0, BigInt(padded), true)
  head.set(text, 8)
  function* data(): Generator<Uint8Array> {
    for (const [, t] of list) yield tensorBytes(t)
  }
  return { header: head, data: data(), byteLength: head.length + offset }
}

/** A safetensors file as chunks (header, then one per tensor), ready to stream to disk without concatenating. */
export function serializeSafetensors(
  tensors: Iterable<readonly [string, TensorToWrite]>,
  metadata?: Record<string, string>,
): Uint8Array[] {
  const { header: head, data } = safetensorsChunks(tensors, metadata)
  return [head, ...data]
}

/** A whole safetensors file in one buffer; for small checkpoints and tests. */
export function encodeSafetensors(
  tensors: Iterable<readonly [string, TensorToWrite]>,
  metadata?: Record<string, string>,
): Uint8Array<ArrayBuffer> {
  const chunks = serializeSafetensors(tensors, metadata)
  const out = new Uint8Array(chunks.reduce((a, c) => a + c.length, 0))
  let at = 0
  for (const c of chunks) {
    out.set(c, at)
    at += c.length
  }
  return out
}
