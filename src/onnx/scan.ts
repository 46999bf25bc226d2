/**
 * Repeats a graph K times inside one standard ONNX `Scan`: some inputs are carried from one iteration
 * to the next (the graph's matching outputs feed them), some take one slice of a stacked [K, ...]
 * input per iteration, and some outputs are stacked into [K, ...]. Every other input stays in the
 * outer graph, which the body reads from its enclosing scope; the constants move into the body.
 *
 * ONNX Runtime keeps Scan's loop state in two buffers it alternates and writes the last iteration
 * straight into the outer output (scan_utils.h, LoopStateVariable), so carried values are not copied
 * between iterations the way Loop's are.
 */
import { RuntimeError } from '../errors.js'
import { AttrType, type GraphProtoObj, type ModelProtoObj, type ValueInfoObj } from './proto.js'

export interface ScanPlan {
  /** Iterations (the leading axis of scanned inputs and stacked outputs). */
  steps: number
  /** Body input fed by body output from the previous iteration; `init`/`final` name the outer values. */
  carried: readonly { input: string; output: string; init: string; final: string }[]
  /** Body inputs read from slice k of the outer input `outer` ([steps, ...the body's shape]). */
  scanned: readonly { input: string; outer: string }[]
  /** Body outputs stacked into the outer output `outer` ([steps, ...]). */
  stacked: readonly { output: string; outer: string }[]
}

const dimsOf = (v: ValueInfoObj): { dimValue?: number; dimParam?: string }[] => v.type.tensorType.shape.dim
const named = (v: ValueInfoObj, name: string, dims = dimsOf(v)): ValueInfoObj => ({ name, type: { tensorType: { elemType: v.type.tensorType.elemType, shape: { dim: dims } } } })

/**
 * The model whose graph runs `model`'s graph `plan.steps` times in a Scan. Outer inputs: the carried
 * initial values, the scanned stacks, then the graph's other inputs under their own names. Outer
 * outputs: the carried final values, then the stacked outputs.
 */
export function scanSteps(model: ModelProtoObj, plan: ScanPlan): ModelProtoObj {
  const inner = model.graph
  const inputs = new Map(inner.input.map((v) => [v.name, v]))
  const outputs = new Map(inner.output.map((v) => [v.name, v]))
  const need = <T>(m: Map<string, T>, n: string, what: string): T => {
    const v = m.get(n)
    if (!v) throw new RuntimeError('ONNX_SCAN_PLAN', `internal: the step graph has no ${what} "${n}" to scan over`)
    return v
  }
  // a carried value the body never reads (it is only overwritten) still needs a body input
  const carriedIn = plan.carried.map((c) => inputs.get(c.input) ?? named(need(outputs, c.output, 'output'), c.input))
  const scannedIn = plan.scanned.map((s) => need(inputs, s.input, 'input'))
  const inBody = new Set([...plan.carried.map((c) => c.input), ...plan.scanned.map((s) => s.input)])
  const body: GraphProtoObj = {
    name: `${inner.name}_step`,
    node: inner.node,
    // constants inside the body: ONNX Runtime's fusions (GELU, LayerNorm, Gemm) match only constants
    // of the graph they optimise, not outer-scope ones
    initializer: inner.initializer,
    input: [...carriedIn, ...scannedIn],
    output: [...plan.carried.map((c) => need(outputs, c.output, 'output')), ...plan.stacked.map((s) => need(outputs, s.output, 'output'))],
  }
  const k = { dimValue: plan.steps }
  const outerIn = [
    ...plan.carried.map((c, i) => named(carriedIn[i]!, c.init)),
    ...plan.scanned.map((s, i) => named(scannedIn[i]!, s.outer, [k, ...dimsOf(scannedIn[i]!)])),
    ...inner.input.filter((v) => !inBody.has(v.name)),
  ]
  const outerOut = [...plan.carried.map((c) => named(need(outputs, c.output, 'output'), c.final)), ...plan.stacked.map((s) => named(need(outputs, s.output, 'output'), s.outer, [k, ...dimsOf(need(outputs, s.output, 'output'))]))]
  return {
    ...model,
    graph: {
      name: `${inner.name}_x${plan.steps}`,
      node: [
        {
          opType: 'Scan',
          name: 'steps',
          input: outerIn.slice(0, plan.carried.length + plan.scanned.length).map((v) => v.name),
          output: outerOut.map((v) => v.name),
          attribute: [
            { name: 'body', type: AttrType.GRAPH, g: body },
            { name: 'num_scan_inputs', type: AttrType.INT, i: plan.scanned.length },
          ],
        },
      ],
      initializer: [],
      input: outerIn,
      output: outerOut,
    },
  }
}
