/** Element types a graph tensor can have. float32 for values, int64 for indices and labels. */
export type DType = 'float32' | 'int64' | 'bool' | 'uint8' | 'float16'

export const isFloat = (d: DType): boolean => d === 'float32' || d === 'float16'

/** ONNX TensorProto.DataType codes. */
export const onnxDType: Record<DType, number> = { float32: 1, uint8: 2, int64: 7, bool: 9, float16: 10 }

export const bytesPer: Record<DType, number> = { float32: 4, uint8: 1, int64: 8, bool: 1, float16: 2 }
