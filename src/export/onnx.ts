/**
 * Export of a no-grad inference graph with its weights as initializers: a standalone .onnx file that
 * plain ONNX Runtime runs. Shapes are the ones traced; with `dynamicBatch` the graph is traced for
 * one example and wrapped in a standard `Scan` over the batch axis, so the file takes any batch size.
 */
import { ConfigError } from '../errors.js'
import type { DType } from '../graph/dtype.js'
import { Graph, withGraph, type ConstData, type Tensor } from '../graph/graph.js'
import type { Module } from '../graph/module.js'
import { lower } from '../onnx/lower.js'
import { AttrType, encodeModel, type GraphProtoObj, type ModelProtoObj, type NodeProtoObj, type ValueInfoObj } from '../onnx/proto.js'

export interface InferenceExportOptions {
  model: Module
  /** Input names with their static shapes and dtypes, in the order the file should list them. */
  inputs: Readonly<Record<string, { shape: readonly number[]; dtype: DType }>>
  /** Traces the outputs (in inference mode) from the inputs. */
  forward: (inputs: Record<string, Tensor>, g: Graph) => Record<string, Tensor>
  metadata?: Record<string, string>
  graphName?: string
  /**
   * A batch axis of any size (`batch`): every input's first dimension must be 1; the traced graph
   * runs once per example inside a Scan over the batch, the outputs stacked along axis 0.
   */
  dynamicBatch?: boolean
  /** Rewrites the lowered model before it is encoded (appending ops the graph IR has no form for, such as NonMaxSuppression). Not with `dynamicBatch`. */
  rewrite?: (model: ModelProtoObj) => ModelProtoObj
}

/** Traces `forward` in inference mode and serialises it with the current weights. */
export function exportInferenceOnnx(o: InferenceExportOptions): Uint8Array {
  o.model.nameParameters()
  const g = new Graph()
  g.training = false
  const outputs = withGraph(g, () => {
    const ins: Record<string, Tensor> = {}
    for (const [name, s] of Object.entries(o.inputs)) ins[name] = g.input(name, s.shape, s.dtype)
    return o.forward(ins, g)
  })
  const names = Object.keys(outputs)
  if (names.length === 0) throw new ConfigError('EXPORT_NO_OUTPUTS', 'the export forward function returned no outputs')
  const inits = new Map<Tensor, ConstData>()
  for (const [p, t] of g.params) inits.set(t, p.data)
  const data = g.inputs.filter((t) => t.source.kind === 'input' && t.source.role === 'data')
  const lowered = lower({
    outputs: names.map((n) => ({ name: n, tensor: outputs[n]! })),
    initializers: inits,
    keepInputs: data,
    graphName: o.graphName ?? 'finetune_inference',
    ...(o.metadata ? { metadata: o.metadata } : {}),
  })
  if (o.rewrite) {
    if (o.dynamicBatch) throw new ConfigError('EXPORT_DYNAMIC_BATCH', 'this export appends post-processing to a graph of fixed batch size', 'export without a dynamic batch (--batch-size 1)')
    return encodeModel(o.rewrite(lowered.model))
  }
  if (!o.dynamicBatch) return lowered.bytes()
  const one = Object.entries(o.inputs).find(([, s]) => s.shape[0] !== 1)
  if (one) throw new ConfigError('EXPORT_DYNAMIC_BATCH', `a dynamic-batch export traces one example; input ${one[0]} has batch ${one[1].shape[0]}`, 'trace the inputs with batch 1')
  return encodeModel(batchScan(lowered.model))
}

const dims = (v: ValueInfoObj): { dimValue?: number; dimParam?: string }[] => v.type.tensorType.shape.dim
const withDims = (v: ValueInfoObj, name: string, d: { dimValue?: number; dimParam?: string }[]): ValueInfoObj => ({ name, type: { tensorType: { elemType: v.type.tensorType.elemType, shape: { dim: d } } } })

/**
 * Wraps a graph traced for batch 1 in a Scan over axis 0 of every input: the body unsqueezes each
 * row to a batch of one, runs the graph (its weights stay initializers of the outer graph, which the
 * body reads from the enclosing scope) and squeezes each output; Scan stacks the rows.
 */
export function batchScan(model: ModelProtoObj): ModelProtoObj {
  const inner = model.graph
  const rename = new Map<string, string>()
  for (const v of inner.input) rename.set(v.name, `${v.name}__one`)
  for (const v of inner.output) rename.set(v.name, `${v.name}__one`)
  const r = (n: string): string => rename.get(n) ?? n
  const nodes: NodeProtoObj[] = [
    { opType: 'Constant', input: [], output: ['finetune_axis0'], attribute: [{ name: 'value', type: AttrType.TENSOR, t: { name: '', dims: [1], dataType: 7, int64Data: [0] } }] },
    ...inner.input.map((v): NodeProtoObj => ({ opType: 'Unsqueeze', input: [`${v.name}__row`, 'finetune_axis0'], output: [r(v.name)] })),
    ...inner.node.map((n): NodeProtoObj => ({ ...n, input: n.input.map(r), output: n.output.map(r) })),
    ...inner.output.map((v): NodeProtoObj => ({ opType: 'Squeeze', input: [r(v.name), 'finetune_axis0'], output: [`${v.name}__row`] })),
  ]
  const body: GraphProtoObj = {
    name: `${inner.name}_row`,
    node: nodes,
    initializer: [],
    input: inner.input.map((v) => withDims(v, `${v.name}__row`, dims(v).slice(1))),
    output: inner.output.map((v) => withDims(v, `${v.name}__row`, dims(v).slice(1))),
  }
  const scan: NodeProtoObj = {
    opType: 'Scan',
    name: 'batch',
    input: inner.input.map((v) => v.name),
    output: inner.output.map((v) => v.name),
    attribute: [
      { name: 'body', type: AttrType.GRAPH, g: body },
      { name: 'num_scan_inputs', type: AttrType.INT, i: inner.input.length },
    ],
  }
  const batch = (v: ValueInfoObj): ValueInfoObj => withDims(v, v.name, [{ dimParam: 'batch' }, ...dims(v).slice(1)])
  return { ...model, graph: { name: inner.name, node: [scan], initializer: inner.initializer, input: inner.input.map(batch), output: inner.output.map(batch) } }
}
