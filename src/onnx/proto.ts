/**
 * The official ONNX schema (proto/onnx.proto, as a protobufjs JSON descriptor) and typed shapes of
 * the messages finetune writes and reads. Encoding and decoding go through protobufjs.
 */
import protobuf from 'protobufjs'
import descriptor from './onnx-proto.json' with { type: 'json' }

const root = protobuf.Root.fromJSON(descriptor as protobuf.INamespace)
export const ModelProto = root.lookupType('onnx.ModelProto')

export const AttrType = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, GRAPH: 5, FLOATS: 6, INTS: 7, STRINGS: 8 } as const

export interface TensorProtoObj {
  name?: string
  dims: number[]
  dataType: number
  rawData?: Uint8Array
  floatData?: number[]
  int64Data?: (number | protobuf.Long)[]
  int32Data?: number[]
  externalData?: { key: string; value: string }[]
  dataLocation?: number
}

export interface AttributeProtoObj {
  name: string
  type: number
  f?: number
  i?: number
  s?: Uint8Array
  t?: TensorProtoObj
  g?: GraphProtoObj
  floats?: number[]
  ints?: number[]
  strings?: Uint8Array[]
}

export interface NodeProtoObj {
  opType: string
  input: string[]
  output: string[]
  name?: string
  domain?: string
  attribute?: AttributeProtoObj[]
}

export interface ValueInfoObj {
  name: string
  type: { tensorType: { elemType: number; shape: { dim: { dimValue?: number; dimParam?: string }[] } } }
}

export interface GraphProtoObj {
  name: string
  node: NodeProtoObj[]
  initializer: TensorProtoObj[]
  input: ValueInfoObj[]
  output: ValueInfoObj[]
  /** Shapes of intermediate values, where a later rewrite needs them. */
  valueInfo?: ValueInfoObj[]
}

export interface ModelProtoObj {
  irVersion: number
  opsetImport: { domain: string; version: number }[]
  producerName: string
  producerVersion?: string
  graph: GraphProtoObj
  metadataProps?: { key: string; value: string }[]
}

export function encodeModel(m: ModelProtoObj): Uint8Array {
  return ModelProto.encode(ModelProto.fromObject(m)).finish()
}

export function decodeModel(bytes: Uint8Array): ModelProtoObj {
  const msg = ModelProto.decode(bytes)
  return ModelProto.toObject(msg, { longs: Number, bytes: Uint8Array, defaults: true, arrays: true }) as unknown as ModelProtoObj
}

const TensorProtoType = root.lookupType('onnx.TensorProto')

/** Decodes a serialised TensorProto (the .pb files of the ONNX backend test suite). */
export function decodeTensorProto(bytes: Uint8Array): TensorProtoObj {
  return TensorProtoType.toObject(TensorProtoType.decode(bytes), { longs: Number, bytes: Uint8Array, defaults: true, arrays: true }) as unknown as TensorProtoObj
}
