/**
 * Export of a no-grad inference graph with its weights as initializers: a standalone .onnx file that
 * plain ONNX Runtime runs. Shapes are static (the ones traced); the file records them in its inputs.
 */
import { ConfigError } from '../errors.js'
import type { DType } from '../graph/dtype.js'
import { Graph, withGraph, type ConstData, type Tensor } from '../graph/graph.js'
import type { Module } from '../graph/module.js'
import { lower } from '../onnx/lower.js'

export interface InferenceExportOptions {
  model: Module
  /** Input names with their static shapes and dtypes, in the order the file should list them. */
  inputs: Readonly<Record<string, { shape: readonly number[]; dtype: DType }>>
  /** Traces the outputs (in inference mode) from the inputs. */
  forward: (inputs: Record<string, Tensor>, g: Graph) => Record<string, Tensor>
  metadata?: Record<string, string>
  graphName?: string
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
  return lowered.bytes()
}
