/** Builds small ONNX models for importer tests. */
import { onnxDType, type DType } from '../src/graph/dtype.js'
import { tensorProto } from '../src/onnx/lower.js'
import { AttrType, encodeModel, type AttributeProtoObj, type NodeProtoObj, type TensorProtoObj, type ValueInfoObj } from '../src/onnx/proto.js'

export const aInt = (name: string, i: number): AttributeProtoObj => ({ name, type: AttrType.INT, i })
export const aInts = (name: string, ints: number[]): AttributeProtoObj => ({ name, type: AttrType.INTS, ints })
export const aFloat = (name: string, f: number): AttributeProtoObj => ({ name, type: AttrType.FLOAT, f })
export const aStr = (name: string, s: string): AttributeProtoObj => ({ name, type: AttrType.STRING, s: new TextEncoder().encode(s) })
export const aTensor = (name: string, t: TensorProtoObj): AttributeProtoObj => ({ name, type: AttrType.TENSOR, t })

export const node = (opType: string, input: string[], output: string[], attribute: AttributeProtoObj[] = [], extra: Partial<NodeProtoObj> = {}): NodeProtoObj => ({ opType, input, output, attribute, name: `${opType}_${output[0]}`, ...extra })

export const vi = (name: string, dims: (number | string)[], dtype: DType = 'float32'): ValueInfoObj => ({
  name,
  type: { tensorType: { elemType: onnxDType[dtype], shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
})

export const init = (name: string, data: ArrayLike<number>, shape: number[], dtype: DType = 'float32'): TensorProtoObj => tensorProto(name, Array.from(data), shape, dtype)

export interface ModelSpec {
  nodes: NodeProtoObj[]
  inputs: ValueInfoObj[]
  outputs: ValueInfoObj[]
  inits?: TensorProtoObj[]
  opset?: number
  domains?: { domain: string; version: number }[]
}

export function buildModel(s: ModelSpec): Uint8Array {
  return encodeModel({
    irVersion: 8,
    opsetImport: [{ domain: '', version: s.opset ?? 17 }, ...(s.domains ?? [])],
    producerName: 'finetune-test',
    graph: { name: 'test', node: s.nodes, initializer: s.inits ?? [], input: s.inputs, output: s.outputs },
  })
}
