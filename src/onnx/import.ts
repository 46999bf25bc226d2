/**
 * ONNX ModelProto -> a trainable Module whose forward traces the ONNX graph into the IR. Float
 * weights (initializers and Constant nodes) become Parameters named as in the file; integer and
 * bool tensors, scalars and anything that feeds a shape stay constants. Dynamic dimensions take
 * the shapes of the tensors traced, and every op whose inputs are known at trace time is folded
 * (run on constants with the float64 reference interpreter), so shape arithmetic never reaches
 * the graph. Unsupported ops fail at import time with the op type, node name and opset.
 */
import { OnnxImportError } from '../errors.js'
import { Graph, Parameter, Tensor, currentGraph, withGraph } from '../graph/graph.js'
import { Module, markStructureChanged, type HostedLora, type LoraHost } from '../graph/module.js'
import * as nn from '../graph/nn.js'
import { evaluate } from '../runtime/reference.js'
import { Materializer, OpCtx, isTensor, type Value } from './import-context.js'
import { nnOps } from './import-nn.js'
import { basicOps, type OpImpl } from './import-ops.js'
import { decodeTensor, elemOf, elemType, irDType, isFloatElem, type ElemType, type ExternalReader, type HostValue } from './import-tensor.js'
import { decodeModel, type GraphProtoObj, type ModelProtoObj, type NodeProtoObj, type ValueInfoObj } from './proto.js'

export type { ElemType, ExternalReader, HostValue } from './import-tensor.js'

/** Every op type the importer implements. */
export const importedOps: Readonly<Record<string, OpImpl>> = { ...basicOps, ...nnOps }

const QUANTIZED = /^(QLinear\w+|MatMulInteger|ConvInteger|DynamicQuantize\w*|QuantizeLinear|DequantizeLinear|MatMulNBits|QGemm|QAttention)$/
const CONTROL_FLOW = new Set(['If', 'Loop', 'Scan', 'SequenceMap'])

/** Inputs each op reads as values at trace time (shapes, axes, scales, bounds). */
function staticInputs(op: string, opset: number, n: number): number[] {
  const all = Array.from({ length: n }, (_, i) => i)
  switch (op) {
    case 'Reshape': case 'Expand': case 'Tile': case 'Squeeze': case 'Unsqueeze': case 'Split': case 'Upsample': case 'CumSum': case 'TopK': case 'OneHot':
      return [1]
    case 'Slice': return opset >= 10 ? [1, 2, 3, 4] : []
    case 'Pad': case 'Resize': return [1, 2, 3]
    case 'Clip': case 'Dropout': return [1, 2]
    case 'ConstantOfShape': case 'Range': case 'NonZero': case 'Floor': case 'Ceil': case 'Round': case 'Mod':
      return all
    default: return op.startsWith('Reduce') ? [1] : []
  }
}

/** A graph input or output as the file declares it: dims are numbers, named (dynamic) or null. */
export interface OnnxValueInfo {
  name: string
  dtype: ElemType
  shape: (number | string | null)[]
}

export interface ImportOptions {
  /** Reads external-data weights (loadOnnxFile passes one that reads the files beside the model). */
  external?: ExternalReader
  /**
   * Make single-value float constants trainable too. Off by default: they are epsilons, exponents
   * and fixed scales (x^2, x/sqrt(d)) whose gradient is meaningless or NaN (d/db a^b = a^b log a).
   */
  trainScalars?: boolean
}

export interface ForwardOptions {
  /** Names of values to return instead of the graph outputs (any node output or input). */
  outputs?: readonly string[]
}

function valueInfo(v: ValueInfoObj): OnnxValueInfo {
  const tt = v.type?.tensorType
  if (!tt) throw new OnnxImportError('ONNX_VALUE_TYPE', `graph value "${v.name}" is not a tensor (a sequence, map or optional)`, 'finetune imports models whose inputs and outputs are tensors')
  const dtype = elemType(tt.elemType, `graph value "${v.name}"`)
  if (dtype === 'float16' || dtype === 'bfloat16') throw new OnnxImportError('ONNX_DTYPE', `graph value "${v.name}" is ${dtype}; imported graphs compute in float32`, 'use the float32 model')
  return { name: v.name, dtype, shape: (tt.shape?.dim ?? []).map((d) => (d.dimParam ? d.dimParam : d.dimValue ? Number(d.dimValue) : null)) }
}

/** A weight LoRA can adapt: a 2-D trainable initializer read as MatMul's or Gemm's B. */
interface LoraSite {
  init: string
  inF: number
  outF: number
  /** Stored (out, in), as Gemm with transB=1 reads it; otherwise (in, out). */
  outIn: boolean
}

/** An imported ONNX graph: a Module of its weights whose forward traces the graph. */
export class OnnxModel extends Module implements LoraHost {
  /** The default-domain opset the graph was written for. */
  readonly opset: number
  readonly inputs: readonly OnnxValueInfo[]
  readonly outputs: readonly OnnxValueInfo[]
  readonly producer: string
  readonly _graph: GraphProtoObj
  readonly _constants: ReadonlyMap<string, HostValue>
  readonly _params: ReadonlyMap<string, Parameter>
  #sites: Map<string, LoraSite> | null = null
  /** LoRA by initializer name (the weight a MatMul/Gemm node reads). */
  readonly #lora = new Map<string, { site: string; lora: HostedLora }>()
  #loraHidden = false
  /**
   * BatchNormalization in training graphs: batch statistics and running-statistic updates (torch's
   * train mode, the default), or false for the inference form the file holds (--freeze-bn).
   */
  trainBatchNorm = true

  constructor(model: ModelProtoObj, opts: ImportOptions = {}) {
    super()
    const graph = model.graph
    if (!graph) throw new OnnxImportError('ONNX_NO_GRAPH', 'the ONNX model has no graph', 'check that the file is an ONNX model (.onnx)')
    this._graph = graph
    this.producer = [model.producerName, model.producerVersion].filter(Boolean).join(' ')
    const std = model.opsetImport.find((o) => o.domain === '' || o.domain === 'ai.onnx')
    this.opset = Number(std?.version ?? 0)
    if (this.opset < 7) throw new OnnxImportError('ONNX_OPSET', `the model uses opset ${this.opset}; finetune imports opset 7 and later`, 'convert it with onnx.version_converter.convert_version(model, 13)')
    checkNodes(graph.node, this.opset)

    const inits = new Set(graph.initializer.map((t) => t.name ?? ''))
    this.inputs = graph.input.filter((v) => !inits.has(v.name)).map(valueInfo)
    this.outputs = graph.output.map(valueInfo)

    // which values depend on the model's inputs (Shape and Size read only shapes), which of the
    // others are read at trace time (transitively: a weight that feeds a shape stays constant),
    // and which are BatchNorm statistics (buffers, not trained)
    const dataDep = new Set(this.inputs.map((i) => i.name))
    for (const n of graph.node) {
      if (n.opType !== 'Shape' && n.opType !== 'Size' && n.input.some((i) => dataDep.has(i))) for (const o of n.output) dataDep.add(o)
    }
    const isStatic = new Set<string>()
    const stats = new Set<string>()
    for (let k = graph.node.length - 1; k >= 0; k--) {
      const n = graph.node[k]!
      const outStatic = n.output.some((o) => isStatic.has(o)) && n.opType !== 'Shape' && n.opType !== 'Size'
      const si = staticInputs(n.opType, this.opset, n.input.length)
      n.input.forEach((name, i) => {
        if (name && !dataDep.has(name) && (outStatic || si.includes(i))) isStatic.add(name)
      })
      if (n.opType === 'BatchNormalization') for (const i of [3, 4]) if (n.input[i]) stats.add(n.input[i]!)
    }
    const constants = new Map<string, HostValue>()
    const params = new Map<string, Parameter>()
    const add = (name: string, v: HostValue): void => {
      const trainable = isFloatElem(v.dtype) && !isStatic.has(name) && (v.data.length > 1 || opts.trainScalars === true)
      if (!trainable) {
        constants.set(name, v)
        return
      }
      const p = new Parameter(v.shape, { data: Float32Array.from(v.data), kind: stats.has(name) ? 'buffer' : 'param', decay: v.shape.length > 1 })
      p.name = name
      params.set(name, p)
      constants.set(name, { ...v, param: p })
    }
    for (const t of graph.initializer) add(t.name ?? '', decodeTensor(t, `initializer "${t.name}"`, opts.external))
    for (const n of graph.node) {
      if (n.opType !== 'Constant') continue
      const ctx = new OpCtx(n, this.opset, [], new Materializer(new Graph()))
      add(n.output[0]!, importedOps['Constant']!(ctx)[0] as HostValue)
    }
    this._constants = constants
    this._params = params
  }

  /** Parameters and buffers under their ONNX names (initializer or Constant output names). */
  override namedParameters(prefix = ''): [string, Parameter][] {
    const at = (k: string): string => (prefix ? `${prefix}.${k}` : k)
    const out: [string, Parameter][] = [...this._params].map(([k, p]) => [at(k), p])
    if (!this.#loraHidden) for (const { site, lora } of this.#lora.values()) out.push([at(`${site}.lora_A.weight`), lora.A], [at(`${site}.lora_B.weight`), lora.B])
    return out
  }

  /**
   * Weights LoRA can adapt: 2-D trainable initializers that MatMul reads as its second input, or
   * Gemm (transA=0) as B. Named as PEFT names modules: the initializer name without `.weight`
   * (`bert.pooler.dense`), or for torch.onnx.export's anonymous `onnx::MatMul_N` weights the module
   * scope of the node that reads them (`bert.encoder.layer.0.attention.self.query`).
   */
  loraSites(): { name: string; inF: number; outF: number }[] {
    if (!this.#sites) {
      const sites = new Map<string, LoraSite>()
      const used = new Map<string, boolean>()
      for (const n of this._graph.node) {
        if (n.opType !== 'MatMul' && n.opType !== 'Gemm') continue
        const w = n.input[1] ?? ''
        const p = this._params.get(w)
        const attr = (k: string): number | undefined => {
          const a = n.attribute?.find((x) => x.name === k)
          return a ? Number(a.i ?? 0) : undefined
        }
        if (!p || p.kind !== 'param' || p.shape.length !== 2 || this._params.has(n.input[0] ?? '') || (n.opType === 'Gemm' && attr('transA') === 1)) continue
        const outIn = n.opType === 'Gemm' && attr('transB') === 1
        if (used.has(w) && used.get(w) !== outIn) continue // read in both layouts: not a plain linear layer
        used.set(w, outIn)
        const [d0, d1] = p.shape as [number, number]
        // torch.onnx.export names pre-transposed weights `onnx::MatMul_N`; its node names carry the
        // module scope (`/bert/encoder/layer.0/attention/self/query/MatMul`): the module's name
        const scope = n.name?.startsWith('/') ? n.name.split('/').filter(Boolean).slice(0, -1).join('.') : ''
        const name = w.startsWith('onnx::') && scope && !sites.has(scope) ? scope : w.replace(/\.weight$/, '')
        sites.set(name, { init: w, inF: outIn ? d1 : d0, outF: outIn ? d0 : d1, outIn })
      }
      this.#sites = sites
    }
    return [...this.#sites].map(([name, s]) => ({ name, inF: s.inF, outF: s.outF }))
  }

  setLora(name: string, lora: HostedLora | null): void {
    this.loraSites()
    const s = this.#sites!.get(name)
    if (!s) throw new OnnxImportError('ONNX_LORA_SITE', `no MatMul/Gemm weight named "${name}"`, `weights LoRA can adapt here: ${this.loraSites().slice(0, 8).map((x) => x.name).join(', ')}`)
    if (lora) this.#lora.set(s.init, { site: name, lora })
    else this.#lora.delete(s.init)
    markStructureChanged()
  }

  hostedLora(): [string, HostedLora][] {
    return [...this.#lora.values()].map(({ site, lora }) => [site, lora])
  }

  foldLora(name: string): void {
    const s = this.#sites?.get(name)
    const held = s && this.#lora.get(s.init)
    if (!s || !held) return
    const { A, B, scaling } = held.lora
    const r = A.shape[0]!
    const w = this._params.get(s.init)!.data
    for (let o = 0; o < s.outF; o++)
      for (let i = 0; i < s.inF; i++) {
        let d = 0
        for (let k = 0; k < r; k++) d += B.data[o * r + k]! * A.data[k * s.inF + i]!
        const at = s.outIn ? o * s.inF + i : i * s.outF + o
        w[at] = w[at]! + scaling * d
      }
  }

  hideLora(hidden: boolean): void {
    this.#loraHidden = hidden
  }

  loraHost(): LoraHost {
    return this
  }

  /**
   * Traces the graph on `inputs` (by ONNX input name) into the current graph and returns its
   * outputs by name. Call inside trace() or a TrainSession forward. An input given as a host value
   * is specialised like a shape: a constant of the traced graph (for inputs that set shapes or axes).
   */
  forward(inputs: Readonly<Record<string, Tensor | HostValue>>, opts: ForwardOptions = {}): Record<string, Tensor> {
    const first = Object.values(inputs).find(isTensor)
    const g = first?.graph ?? currentGraph()
    const m = new Materializer(g, { trainBatchNorm: this.trainBatchNorm })
    const env = new Map<string, Value>(this._constants)
    for (const info of this.inputs) {
      const t = inputs[info.name]
      if (!t) throw new OnnxImportError('ONNX_INPUT_MISSING', `no tensor for model input "${info.name}"`, `the model's inputs are ${this.inputs.map((i) => `"${i.name}"`).join(', ')}`)
      if (isTensor(t)) checkInput(info, t)
      env.set(info.name, t)
    }
    const want = opts.outputs ?? this.outputs.map((o) => o.name)
    const pending = new Set(want.filter((w) => !env.has(w)))
    for (const n of this._graph.node) {
      if (pending.size === 0) break
      if (n.opType === 'Constant') continue
      const ins = n.input.map((name) => {
        if (!name) return undefined
        const v = env.get(name)
        if (v === undefined) throw new OnnxImportError('ONNX_GRAPH', `${n.opType} node "${n.name}" reads "${name}", which no earlier node produces`, 'the graph is not topologically sorted or is incomplete')
        return v
      })
      const outs = runNode(n, this.opset, ins, m)
      const held = this.#lora.size && (n.opType === 'MatMul' || n.opType === 'Gemm') ? this.#lora.get(n.input[1] ?? '') : undefined
      const y = outs[0]
      if (held && y !== undefined && isTensor(y)) {
        // y += s * B(A(dropout(x))), times Gemm's alpha (PEFT's LoRA forward on the node's input)
        const { A, B, scaling, dropout } = held.lora
        const x = ins[0]!
        const alpha = n.opType === 'Gemm' ? Number(n.attribute?.find((a) => a.name === 'alpha')?.f ?? 1) : 1
        const delta = nn.linear(nn.linear(nn.dropout(isTensor(x) ? x : m.tensor(x), dropout), A), B)
        outs[0] = y.add(delta.mul(scaling * alpha))
      }
      n.output.forEach((name, i) => {
        if (!name) return
        const v = outs[i]
        if (v === undefined) throw new OnnxImportError('ONNX_UNSUPPORTED_ATTR', `${n.opType} node "${n.name}" (opset ${this.opset}): output ${i} ("${name}") is not supported`, 'remove the consumers of that output')
        env.set(name, v)
        pending.delete(name)
      })
    }
    const result: Record<string, Tensor> = {}
    for (const name of want) {
      const v = env.get(name)
      if (v === undefined) throw new OnnxImportError('ONNX_UNKNOWN_VALUE', `the graph has no value named "${name}"`, 'pick a node output name (Netron shows them)')
      result[name] = isTensor(v) ? v : m.tensor(v)
    }
    return result
  }
}

function checkInput(info: OnnxValueInfo, t: Tensor): void {
  const want = irDType(info.dtype)
  if (t.dtype !== want) throw new OnnxImportError('ONNX_INPUT_DTYPE', `model input "${info.name}" is ${info.dtype}, got a ${t.dtype} tensor`, `pass ${want}`)
  const bad = info.shape.length !== t.rank || info.shape.some((d, i) => typeof d === 'number' && d !== t.shape[i])
  if (bad) throw new OnnxImportError('ONNX_INPUT_SHAPE', `model input "${info.name}" has shape [${info.shape.map((d) => d ?? '?').join(', ')}], got [${t.shape.join(', ')}]`, 'named dimensions may take any size; numbered ones are fixed by the model')
}

/** Rejects what can never be imported before any tracing: one error naming the first offender and counting the rest. */
function checkNodes(nodes: readonly NodeProtoObj[], opset: number): void {
  const bad = new Map<string, NodeProtoObj>()
  for (const n of nodes) {
    const domain = n.domain ?? ''
    const key = domain && domain !== 'ai.onnx' ? `${domain}::${n.opType}` : n.opType
    if (!bad.has(key) && (key !== n.opType || !importedOps[n.opType])) bad.set(key, n)
  }
  if (bad.size === 0) return
  const [key, n] = [...bad][0]!
  const others = bad.size > 1 ? `; also unsupported: ${[...bad.keys()].slice(1, 8).join(', ')}${bad.size > 8 ? ', ...' : ''}` : ''
  const where = `${n.opType} node "${n.name || n.output[0]}" (opset ${opset})`
  if (key !== n.opType) throw new OnnxImportError('ONNX_CUSTOM_DOMAIN', `${where} is in the custom domain "${n.domain}"${others}`, 'finetune imports the standard ONNX domain only; export without runtime-specific fusions (e.g. optimum: --no-post-process, onnxruntime optimisation off)')
  if (QUANTIZED.test(n.opType)) throw new OnnxImportError('ONNX_QUANTIZED', `${where} is a quantized op; quantized models cannot be fine-tuned${others}`, 'use the float model (Transformers.js repos ship onnx/model.onnx beside model_quantized.onnx)')
  if (CONTROL_FLOW.has(n.opType)) throw new OnnxImportError('ONNX_CONTROL_FLOW', `${where} is control flow, which cannot be traced to a static graph${others}`, 'export the model with control flow unrolled (e.g. torch.onnx.export of a traced, not scripted, module)')
  throw new OnnxImportError('ONNX_UNSUPPORTED_OP', `${where} is not supported${others}`, `finetune implements ${Object.keys(importedOps).length} ONNX ops; see importedOps`)
}

/** Runs one node: folded on constants when every input is known at trace time, traced otherwise. */
function runNode(n: NodeProtoObj, opset: number, ins: (Value | undefined)[], m: Materializer): Value[] {
  const impl = importedOps[n.opType]!
  const foldable = ins.length > 0 && ins.every((v) => v === undefined || (!isTensor(v) && !v.param))
  const ctx = new OpCtx(n, opset, ins, foldable ? new Materializer(new Graph()) : m)
  const outs = foldable ? withGraph(ctx.g, () => impl(ctx)) : impl(ctx)
  const unread = ctx.unread()
  if (unread.length) ctx.unsupported(`attribute ${unread.join(', ')}`)
  if (!foldable) return outs
  return fold(outs)
}

/** Evaluates an op's outputs computed on constants (in a scratch graph) to host values. */
function fold(outs: Value[]): Value[] {
  const tensors = outs.filter((v): v is Tensor => isTensor(v) && v.source.kind !== 'const')
  const vals = tensors.length ? evaluate(tensors) : []
  return outs.map((v) => {
    if (!isTensor(v)) return v
    const data = v.source.kind === 'const' ? v.source.data : vals[tensors.indexOf(v)]!.data
    const dtype = elemOf(v.dtype)
    const d = isFloatElem(dtype) ? Float32Array.from(data as ArrayLike<number>) : Array.from(data as ArrayLike<number>, Number)
    return { dtype, shape: v.shape, data: d } satisfies HostValue
  })
}

/** Reads an ONNX model (bytes of a .onnx file) as a trainable module. */
export function importOnnx(bytes: Uint8Array, opts: ImportOptions = {}): OnnxModel {
  let model: ModelProtoObj
  try {
    model = decodeModel(bytes)
  } catch (e) {
    throw new OnnxImportError('ONNX_DECODE', `not a readable ONNX model: ${e instanceof Error ? e.message : String(e)}`, 'check that the file is a complete .onnx file (not a Git LFS pointer or a TF/TFLite model)')
  }
  return new OnnxModel(model, opts)
}
