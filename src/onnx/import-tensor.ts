/**
 * ONNX TensorProto -> host values for the importer: every storage form (raw little-endian bytes,
 * the typed repeated fields, external data) decoded to numbers. Floats are kept as Float32Array
 * (float16 and bfloat16 widened), float64 as Float64Array, integers and bools as plain numbers
 * (int64 exact below 2^53, which shapes and indices never exceed).
 */
import { OnnxImportError } from '../errors.js'
import type { DType } from '../graph/dtype.js'
import type { Parameter } from '../graph/graph.js'
import type { TensorProtoObj } from './proto.js'

export type ElemType =
  | 'float32' | 'float64' | 'float16' | 'bfloat16'
  | 'int8' | 'int16' | 'int32' | 'int64' | 'uint8' | 'uint16' | 'uint32' | 'uint64' | 'bool'

const CODES: Record<number, ElemType> = {
  1: 'float32', 2: 'uint8', 3: 'int8', 4: 'uint16', 5: 'int16', 6: 'int32', 7: 'int64', 9: 'bool',
  10: 'float16', 11: 'float64', 12: 'uint32', 13: 'uint64', 16: 'bfloat16',
}
const NAMES: Record<number, string> = { 8: 'string', 14: 'complex64', 15: 'complex128', 17: 'float8e4m3fn', 18: 'float8e4m3fnuz', 19: 'float8e5m2', 20: 'float8e5m2fnuz', 21: 'uint4', 22: 'int4' }

/** A value known while tracing: a constant, or a Parameter's initial value. */
export interface HostValue {
  readonly dtype: ElemType
  readonly shape: readonly number[]
  readonly data: Float32Array | Float64Array | readonly number[]
  /** Set when the value is a trainable weight (or a BatchNorm statistic): it enters graphs as that parameter. */
  readonly param?: Parameter
}

export const isFloatElem = (t: ElemType): boolean => t === 'float32' || t === 'float64' || t === 'float16' || t === 'bfloat16'

/** The element type of an ONNX dtype code, or an error naming it. */
export function elemType(code: number, where: string): ElemType {
  const t = CODES[code]
  if (!t) throw new OnnxImportError('ONNX_DTYPE', `${where}: element type ${NAMES[code] ?? `#${code}`} is not supported`, 'finetune imports float, integer and bool tensors')
  return t
}

/** The graph dtype a value of this element type is held in at run time. */
export function irDType(t: ElemType): DType {
  if (isFloatElem(t)) return 'float32'
  if (t === 'bool') return 'bool'
  return 'int64'
}

/** The element type a graph dtype reads back as. */
export function elemOf(d: DType): ElemType {
  return d === 'float16' ? 'float32' : d
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1
  const e = (h >> 10) & 0x1f
  const f = h & 0x3ff
  if (e === 0) return s * 2 ** -14 * (f / 1024)
  if (e === 31) return f ? NaN : s * Infinity
  return s * 2 ** (e - 15) * (1 + f / 1024)
}

function bf16ToFloat(h: number): number {
  const b = new DataView(new ArrayBuffer(4))
  b.setUint32(0, h << 16, true)
  return b.getFloat32(0, true)
}

function fromBytes(bytes: Uint8Array, t: ElemType, n: number, where: string): HostValue['data'] {
  const per: Record<ElemType, number> = { float32: 4, float64: 8, float16: 2, bfloat16: 2, int8: 1, int16: 2, int32: 4, int64: 8, uint8: 1, uint16: 2, uint32: 4, uint64: 8, bool: 1 }
  if (bytes.length !== n * per[t]) throw new OnnxImportError('ONNX_TENSOR_SIZE', `${where}: ${bytes.length} bytes of ${t} data for ${n} values`, 'the model file is truncated or corrupt')
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  switch (t) {
    case 'float32': {
      const out = new Float32Array(n)
      for (let i = 0; i < n; i++) out[i] = v.getFloat32(4 * i, true)
      return out
    }
    case 'float64': {
      const out = new Float64Array(n)
      for (let i = 0; i < n; i++) out[i] = v.getFloat64(8 * i, true)
      return out
    }
    case 'float16':
      return Float32Array.from({ length: n }, (_, i) => halfToFloat(v.getUint16(2 * i, true)))
    case 'bfloat16':
      return Float32Array.from({ length: n }, (_, i) => bf16ToFloat(v.getUint16(2 * i, true)))
    case 'int8': return Array.from({ length: n }, (_, i) => v.getInt8(i))
    case 'uint8': return Array.from(bytes)
    case 'bool': return Array.from(bytes, (b) => (b ? 1 : 0))
    case 'int16': return Array.from({ length: n }, (_, i) => v.getInt16(2 * i, true))
    case 'uint16': return Array.from({ length: n }, (_, i) => v.getUint16(2 * i, true))
    case 'int32': return Array.from({ length: n }, (_, i) => v.getInt32(4 * i, true))
    case 'uint32': return Array.from({ length: n }, (_, i) => v.getUint32(4 * i, true))
    case 'int64': return Array.from({ length: n }, (_, i) => Number(v.getBigInt64(8 * i, true)))
    case 'uint64': return Array.from({ length: n }, (_, i) => Number(v.getBigUint64(8 * i, true)))
  }
}

/** Reads an external-data tensor's bytes: (location, offset, length) -> bytes. */
export type ExternalReader = (location: string, offset: number, length: number | undefined) => Uint8Array

type FullTensorProto = TensorProtoObj & { doubleData?: number[]; uint64Data?: number[]; segment?: unknown }

/** Decodes a TensorProto; `where` names it in errors. */
export function decodeTensor(p: TensorProtoObj, where: string, external?: ExternalReader): HostValue {
  const t = elemType(p.dataType, where)
  const shape = p.dims.map(Number)
  const n = shape.reduce((a, b) => a * b, 1)
  const q = p as FullTensorProto
  let data: HostValue['data']
  if (p.dataLocation === 1) {
    const kv = new Map((p.externalData ?? []).map((e) => [e.key, e.value]))
    const loc = kv.get('location')
    if (!loc) throw new OnnxImportError('ONNX_EXTERNAL_DATA', `${where}: external data without a location`, 'the model file is corrupt')
    if (!external)
      throw new OnnxImportError('ONNX_EXTERNAL_DATA', `${where}: weights are stored in the external file "${loc}", which importOnnx cannot read from bytes alone`, 'load the model with loadOnnxFile(path) so the files beside it are read, or pass opts.external')
    const len = kv.has('length') ? Number(kv.get('length')) : undefined
    data = fromBytes(external(loc, Number(kv.get('offset') ?? 0), len), t, n, where)
  } else if (p.rawData && p.rawData.length > 0) data = fromBytes(p.rawData, t, n, where)
  else {
    let vals: ArrayLike<unknown> = []
    if (t === 'float32') vals = p.floatData ?? []
    else if (t === 'float64') vals = q.doubleData ?? []
    else if (t === 'int64') vals = p.int64Data ?? []
    else if (t === 'uint32' || t === 'uint64') vals = q.uint64Data ?? []
    else vals = p.int32Data ?? []
    const nums = Array.from(vals, (x) => Number(x))
    if (nums.length !== n && !(n === 0 && nums.length === 0))
      throw new OnnxImportError('ONNX_TENSOR_SIZE', `${where}: ${nums.length} values for shape [${shape.join(', ')}]`, 'the model file is corrupt')
    if (t === 'float16') data = Float32Array.from(nums, halfToFloat)
    else if (t === 'bfloat16') data = Float32Array.from(nums, bf16ToFloat)
    else if (t === 'float32') data = Float32Array.from(nums)
    else if (t === 'float64') data = Float64Array.from(nums)
    else if (t === 'bool') data = nums.map((x) => (x ? 1 : 0))
    else data = nums
  }
  return { dtype: t, shape, data }
}

/** A host value of numbers (shape arithmetic results). */
export function hostValue(dtype: ElemType, shape: readonly number[], data: ArrayLike<number>): HostValue {
  const d = isFloatElem(dtype) ? (dtype === 'float64' ? Float64Array.from(data) : Float32Array.from(data)) : Array.from(data, (x) => (dtype === 'bool' ? (x ? 1 : 0) : Math.trunc(x)))
  return { dtype, shape: [...shape], data: d }
}
