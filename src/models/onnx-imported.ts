/**
 * Imported ONNX graphs as models the tasks train: an image classifier (ImageModel) or a text
 * classifier (TextModel) made of any ONNX graph (src/onnx/import.ts), cut at a named value (the
 * features) with a new Linear head on top; or, before training, the graph itself, whose first output
 * is the logits, so an untrained import predicts exactly what the file computes.
 *
 * Parameters keep their ONNX initializer names (the graph's) plus `finetune_head.weight/bias`, so a
 * trained folder's model.safetensors loads back by name onto the same graph.
 *
 * References: Transformers.js model layout (config.json, onnx/model.onnx); Optimum's ONNX export
 * names (input_ids, attention_mask, token_type_ids; last_hidden_state, pooler_output, logits).
 */
import { OnnxImportError } from '../errors.js'
import { Graph, concat, type Parameter, type Tensor } from '../graph/graph.js'
import { Module } from '../graph/module.js'
import type { OnnxModel, OnnxValueInfo } from '../onnx/import.js'
import { irDType } from '../onnx/import-tensor.js'
import type { Rng } from '../runtime/rng.js'
import type { HfConfig, TextInputs, TextModel, TextTask } from './hf.js'
import type { ImageModel } from './image-model.js'
import { Linear } from './layers.js'

/** Name prefix of the head finetune attaches (chosen not to clash with exporters' initializer names). */
export const IMPORTED_HEAD = 'finetune_head'

/**
 * How a cut value becomes one feature vector per example: as it is (flattened), the first token of
 * (B, T, C), the mean over time of (B, T, C) (audio encoders), the mean over H, W of (B, C, H, W).
 */
export type FeatureReduce = 'none' | 'first-token' | 'time-mean' | 'spatial-mean'

/** Where the new head reads: a named value of the graph and how it is pooled to (B, F). */
export interface FeatureCut {
  /** The ONNX value name (a node output or graph output). */
  name: string
  reduce: FeatureReduce
  /** Why this value (for the log and training_args.json). */
  why: string
}

// ops that the path from a classifier's matmul to the graph output may pass through
const AFTER_CLASSIFIER = new Set(['Add', 'Softmax', 'LogSoftmax', 'Sigmoid', 'Identity', 'Reshape', 'Flatten', 'Squeeze', 'Unsqueeze', 'Cast', 'Dropout'])

/** Values of the graph that do not depend on its inputs (initializers, constants and what folds from them). */
function staticValues(m: OnnxModel): Set<string> {
  const dep = new Set(m.inputs.map((i) => i.name))
  const out = new Set<string>()
  for (const n of m._graph.node) {
    if (n.input.some((i) => dep.has(i))) for (const o of n.output) dep.add(o)
    else for (const o of n.output) out.add(o)
  }
  for (const t of m._graph.initializer) out.add(t.name ?? '')
  return out
}

/**
 * The default cut: the input of the final classifier (a Gemm or MatMul by a weight that the first
 * output is reached from through bias adds, softmax, reshapes); else `pooler_output`; else the first
 * output, pooled by its rank (first token of a (B, T, C) hidden state, mean of a (B, C, H, W) map).
 */
export function defaultCut(m: OnnxModel): FeatureCut {
  const producer = new Map<string, (typeof m._graph.node)[number]>()
  for (const n of m._graph.node) for (const o of n.output) producer.set(o, n)
  const fixed = staticValues(m)
  const out = m.outputs[0]
  if (!out) throw new OnnxImportError('ONNX_NO_OUTPUT', 'the ONNX graph has no outputs', 'export the model with its outputs')
  let v = out.name
  for (let hops = 0; hops < 16; hops++) {
    const n = producer.get(v)
    if (!n) break
    if ((n.opType === 'Gemm' || n.opType === 'MatMul') && fixed.has(n.input[1] ?? '') && !fixed.has(n.input[0] ?? '')) {
      return { name: n.input[0]!, reduce: 'none', why: `the input of the final classifier ${n.opType} "${n.name || n.output[0]}"` }
    }
    if (!AFTER_CLASSIFIER.has(n.opType)) break
    // follow the data-dependent input (a bias add's other operand is a weight)
    const next = n.input.find((i) => i && !fixed.has(i))
    if (!next) break
    v = next
  }
  const pooled = m.outputs.find((o) => o.name === 'pooler_output')
  if (pooled) return { name: pooled.name, reduce: 'none', why: 'the pooled output (pooler_output)' }
  const rank = out.shape.length
  if (rank === 3) return { name: out.name, reduce: 'first-token', why: `the first token of the output "${out.name}"` }
  if (rank === 4) return { name: out.name, reduce: 'spatial-mean', why: `the spatial mean of the output "${out.name}"` }
  return { name: out.name, reduce: 'none', why: `the output "${out.name}"` }
}

/** Every value name of the graph (inputs, node outputs), in graph order. */
export function valueNames(m: OnnxModel): string[] {
  return [...m.inputs.map((i) => i.name), ...m._graph.node.flatMap((n) => n.output.filter(Boolean))]
}

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0]!
    d[0] = i
    for (let j = 1; j <= b.length; j++) {
      const t = d[j]!
      d[j] = Math.min(d[j]! + 1, d[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1))
      prev = t
    }
  }
  return d[b.length]!
}

/** Value names close to `name` (shared substrings first, then edit distance), for error messages. */
export function nearbyNames(m: OnnxModel, name: string, k = 6): string[] {
  const lower = name.toLowerCase()
  return valueNames(m)
    .map((v) => ({ v, score: editDistance(lower, v.toLowerCase()) - (v.toLowerCase().includes(lower) || lower.includes(v.toLowerCase()) ? 100 : 0) }))
    .sort((a, b) => a.score - b.score)
    .slice(0, k)
    .map((x) => x.v)
}

/** The cut `--features NAME` asks for, pooled by the value's rank; unknown names list nearby ones. */
export function namedCut(m: OnnxModel, name: string, rank: number): FeatureCut {
  if (!valueNames(m).includes(name)) throw new OnnxImportError('ONNX_FEATURES_UNKNOWN', `--features "${name}": the graph has no value of that name`, `values with similar names: ${nearbyNames(m, name).join(', ')} (Netron shows every node output)`)
  const reduce: FeatureReduce = rank === 2 ? 'none' : rank === 3 ? 'first-token' : rank === 4 ? 'spatial-mean' : 'none'
  if (rank < 2 || rank > 4) throw new OnnxImportError('ONNX_FEATURES_RANK', `--features "${name}" has rank ${rank}; the head reads (B, F), (B, T, F) or (B, C, H, W) values`, 'name a value with a batch axis first')
  return { name, reduce, why: `--features ${name}` }
}

/**
 * An ONNX graph with an optional new head. Batch and other fixed dimensions of the graph's inputs
 * are met by padding (and, for a fixed batch, by running the graph once per chunk), so a graph
 * exported with static shapes still trains on any batch.
 */
export class ImportedGraphModel extends Module {
  readonly _onnx: OnnxModel
  _cut: FeatureCut | null = null
  _head: Linear | null = null
  #featureSize = 0

  constructor(onnx: OnnxModel) {
    super()
    this._onnx = onnx
  }

  get graph(): OnnxModel {
    return this._onnx
  }
  get cut(): FeatureCut | null {
    return this._cut
  }
  get featureSize(): number {
    return this.#featureSize
  }
  /** Width of the logits: the head's, or the graph's first output's last axis. */
  get numClasses(): number {
    if (this._head) return this._head.outFeatures
    const d = this._onnx.outputs[0]?.shape.at(-1)
    return typeof d === 'number' ? d : 0
  }
  get headPrefixes(): readonly string[] {
    return this._head ? [IMPORTED_HEAD] : []
  }

  /** LoRA adapts the graph's MatMul/Gemm weights by their initializer names. */
  loraHost(): OnnxModel {
    return this._onnx
  }

  /**
   * Default LoRA targets: query and value where the graph keeps such names (Optimum's BERT/ViT
   * exports, as PEFT's defaults for those families); otherwise every MatMul/Gemm weight except the
   * old classifier the cut bypasses.
   */
  get loraTargets(): string[] {
    const sites = this._onnx.loraSites().map((s) => s.name)
    const qv = sites.filter((n) => /(^|\.)(query|value)$/.test(n))
    if (qv.length) return ['query', 'value']
    const cut = this._cut?.name
    const bypassed = new Set(this._onnx._graph.node.filter((n) => cut && n.input[0] === cut && (n.opType === 'MatMul' || n.opType === 'Gemm')).map((n) => (n.input[1] ?? '').replace(/\.weight$/, '')))
    return sites.filter((n) => !bypassed.has(n))
  }

  override namedParameters(prefix = ''): [string, Parameter][] {
    const p = (n: string): string => (prefix ? `${prefix}.${n}` : n)
    const graph = this._onnx.namedParameters(prefix)
    if (!this._head) return graph
    return [...graph, [p(`${IMPORTED_HEAD}.weight`), this._head.weight], ...(this._head.bias ? [[p(`${IMPORTED_HEAD}.bias`), this._head.bias] as [string, Parameter]] : [])]
  }

  /**
   * Sets the cut and a new head of `numClasses` outputs (torch.nn.Linear's initialisation). The
   * feature width is found by tracing the graph once on `probe` inputs (shapes only, nothing runs).
   */
  attachHead(cut: FeatureCut, numClasses: number, rng: Rng, probe: () => Record<string, Tensor>): void {
    this.#featureSize = this.probeFeatures(cut, probe)
    this._cut = cut
    this._head = new Linear(this.#featureSize, numClasses, rng)
    this.nameParameters()
  }

  /** The width the cut gives, traced on `probe` inputs; errors name the value. */
  probeFeatures(cut: FeatureCut, probe: () => Record<string, Tensor>): number {
    const result = this.#reduce(this.#run(probe(), [cut.name])[cut.name]!, cut)
    if (result.rank !== 2) throw new OnnxImportError('ONNX_FEATURES_RANK', `features "${cut.name}" pool to shape [${result.shape.join(', ')}], not (batch, features)`, 'pass --features with a (B, F), (B, T, F) or (B, C, H, W) value')
    return result.shape[1]!
  }

  /** Shape of a value when the graph runs on `probe` inputs (for --features checks). */
  probeShape(name: string, probe: () => Record<string, Tensor>): number[] {
    return [...this.#run(probe(), [name])[name]!.shape]
  }

  #reduce(x: Tensor, cut: FeatureCut): Tensor {
    const B = x.shape[0]!
    if (cut.reduce === 'first-token') return x.slice(1, 0, 1).reshape([B, x.shape[2]!]) // (B, C)
    if (cut.reduce === 'spatial-mean') return x.mean([2, 3]) // (B, C)
    if (cut.reduce === 'time-mean') return x.mean(1) // (B, T, C) -> (B, C)
    return x.rank === 2 ? x : x.reshape([B, -1])
  }

  /** The cut value pooled to (B, F) as `cut.reduce` says. */
  pool(x: Tensor, cut: FeatureCut): Tensor {
    return this.#reduce(x, cut)
  }

  /** Named values of the graph run on `inputs` (fixed input dimensions met as for the features). */
  valuesOf(inputs: Record<string, Tensor>, names: string[]): Record<string, Tensor> {
    return this.#run(inputs, names)
  }

  /** Features (B, F) at the cut. */
  featuresOf(inputs: Record<string, Tensor>): Tensor {
    if (!this._cut) throw new OnnxImportError('ONNX_NO_HEAD', 'this imported model has no cut (no head attached)', 'train it first (finetune train) to attach a head')
    return this.#reduce(this.#run(inputs, [this._cut.name])[this._cut.name]!, this._cut)
  }

  headOf(features: Tensor): Tensor {
    if (!this._head) throw new OnnxImportError('ONNX_NO_HEAD', 'this imported model has no head', 'train it first (finetune train) to attach a head')
    return this._head.forward(features)
  }

  /** Logits: the head on the cut's features, or (no head) the graph's first output as it computes it. */
  logitsOf(inputs: Record<string, Tensor>): Tensor {
    if (this._head) return this.headOf(this.featuresOf(inputs))
    const name = this._onnx.outputs[0]!.name
    const y = this.#run(inputs, [name])[name]!
    return y.rank <= 2 ? y : y.reshape([y.shape[0]!, -1])
  }

  /** Runs the graph to `outputs`, meeting the fixed dimensions of its inputs. */
  #run(inputs: Record<string, Tensor>, outputs: string[]): Record<string, Tensor> {
    const infos = this._onnx.inputs
    const feed: Record<string, Tensor> = {}
    let B = 0
    for (const info of infos) {
      let t = inputs[info.name]
      if (!t) throw new OnnxImportError('ONNX_INPUT_MISSING', `no tensor for model input "${info.name}"`, `the model's inputs are ${infos.map((i) => `"${i.name}"`).join(', ')}`)
      const want = irDType(info.dtype)
      if (t.dtype !== want) t = t.cast(want)
      feed[info.name] = padTo(t, info)
      B = t.shape[0]!
    }
    const fixedB = infos.map((i) => i.shape[0]).find((d): d is number => typeof d === 'number')
    if (fixedB === undefined || fixedB === B) return this._onnx.forward(feed, { outputs })
    // a graph exported for batch fixedB: run it per chunk (the last padded with zeros) and join
    const parts: Record<string, Tensor>[] = []
    for (let s = 0; s < B; s += fixedB) {
      const n = Math.min(fixedB, B - s)
      const chunk = Object.fromEntries(Object.entries(feed).map(([k, t]) => [k, t.slice(0, s, s + n).pad(t.shape.map((_, a) => [0, a === 0 ? fixedB - n : 0] as const))]))
      const r = this._onnx.forward(chunk, { outputs })
      parts.push(Object.fromEntries(Object.entries(r).map(([k, y]) => [k, y.slice(0, 0, n)])))
    }
    return Object.fromEntries(outputs.map((o) => [o, concat(parts.map((p) => p[o]!), 0)]))
  }
}

/** Pads non-batch axes up to the sizes the graph fixes (token inputs: 0 ids with mask 0 are padding). */
function padTo(t: Tensor, info: OnnxValueInfo): Tensor {
  if (info.shape.length !== t.rank) throw new OnnxImportError('ONNX_INPUT_SHAPE', `model input "${info.name}" has rank ${info.shape.length}, got [${t.shape.join(', ')}]`, 'check --image-size / the tokenizer against the model')
  const pads = t.shape.map((d, a): [number, number] => {
    const want = info.shape[a]
    if (a === 0 || typeof want !== 'number' || want === d) return [0, 0]
    if (want < d) throw new OnnxImportError('ONNX_INPUT_SHAPE', `model input "${info.name}" has axis ${a} fixed to ${want}, got ${d}`, a === 1 && t.rank === 2 ? `use --max-length ${want} or less` : 'preprocess inputs to the size the model was exported for')
    return [0, want - d]
  })
  return t.pad(pads)
}

/** An imported graph as an image classifier: one float (B, C, H, W) input. */
export class ImportedImageModel extends ImportedGraphModel implements ImageModel {
  readonly inputName: string
  readonly defaultImageSize: number

  constructor(onnx: OnnxModel) {
    super(onnx)
    const floats = onnx.inputs.filter((i) => i.dtype === 'float32' && i.shape.length === 4)
    if (onnx.inputs.length !== 1 || floats.length !== 1)
      throw new OnnxImportError('ONNX_IMAGE_INPUTS', `an image classifier takes one (B, C, H, W) float input; this graph takes ${onnx.inputs.map((i) => `${i.name} ${i.dtype} [${i.shape.map((d) => d ?? '?').join(', ')}]`).join(', ')}`, 'pass --task text-classification for a text model, or export the image model with a single pixel input')
    this.inputName = floats[0]!.name
    const [, , h] = floats[0]!.shape
    this.defaultImageSize = typeof h === 'number' ? h : 224
  }
  /** Fixed [height, width] of the graph's input, where it fixes them. */
  get fixedSize(): [number | null, number | null] {
    const s = this.graph.inputs[0]!.shape
    return [typeof s[2] === 'number' ? s[2] : null, typeof s[3] === 'number' ? s[3] : null]
  }
  get channels(): number {
    const c = this.graph.inputs[0]!.shape[1]
    return typeof c === 'number' ? c : 3
  }
  logits(x: Tensor): Tensor {
    return this.logitsOf({ [this.inputName]: x })
  }
  backbone(x: Tensor): Tensor {
    return this.featuresOf({ [this.inputName]: x })
  }
  head(features: Tensor): Tensor {
    return this.headOf(features)
  }
  forwardLoss(x: Tensor, loss: (logits: Tensor) => Tensor): { logits: Tensor; loss: Tensor } {
    const logits = this.logits(x)
    return { logits, loss: loss(logits) }
  }
  replaceHead(numClasses: number, rng: Rng): void {
    const cut = this.cut ?? defaultCut(this.graph)
    this.attachHead(cut, numClasses, rng, () => this.probe(32, 32))
  }
  /** Probe inputs of one image (sizes the graph fixes win over h, w). */
  probe(h: number, w: number): Record<string, Tensor> {
    const [fh, fw] = this.fixedSize
    const g = new Graph()
    return { [this.inputName]: g.input(this.inputName, [1, this.channels, fh ?? h, fw ?? w]) }
  }
}

const TEXT_INPUTS = ['input_ids', 'attention_mask', 'token_type_ids'] as const

/** An imported graph as a sequence classifier: inputs named as Optimum names them. */
export class ImportedTextModel extends ImportedGraphModel implements TextModel {
  readonly family = 'onnx'
  readonly task: TextTask = 'sequence-classification'
  readonly architecture = 'OnnxImportedForSequenceClassification'
  readonly basePrefix = ''
  readonly usesTokenTypes: boolean
  readonly maxPositions: number
  config: HfConfig

  constructor(onnx: OnnxModel, config: HfConfig) {
    super(onnx)
    const unknown = onnx.inputs.filter((i) => !(TEXT_INPUTS as readonly string[]).includes(i.name))
    if (unknown.length || !onnx.inputs.some((i) => i.name === 'input_ids'))
      throw new OnnxImportError('ONNX_TEXT_INPUTS', `a text classifier's graph takes input_ids (and attention_mask, token_type_ids); this one takes ${onnx.inputs.map((i) => i.name).join(', ')}`, 'export the model with Optimum / transformers.onnx input names, or pass --task image-classification for an image model')
    this.usesTokenTypes = onnx.inputs.some((i) => i.name === 'token_type_ids')
    const T = onnx.inputs.find((i) => i.name === 'input_ids')!.shape[1]
    const maxPos = typeof config['max_position_embeddings'] === 'number' ? (config['max_position_embeddings'] as number) : 512
    this.maxPositions = typeof T === 'number' ? T : maxPos
    this.config = config
  }
  #inputs(x: TextInputs): Record<string, Tensor> {
    const out: Record<string, Tensor> = { input_ids: x.input_ids }
    if (this.graph.inputs.some((i) => i.name === 'attention_mask')) out['attention_mask'] = x.attention_mask
    if (this.usesTokenTypes) out['token_type_ids'] = x.token_type_ids ?? x.input_ids.mul(0)
    return out
  }
  logits(x: TextInputs): Tensor {
    return this.logitsOf(this.#inputs(x))
  }
  features(x: TextInputs): Tensor {
    return this.featuresOf(this.#inputs(x))
  }
  head(features: Tensor): Tensor {
    return this.headOf(features)
  }
  /** Probe inputs of one sequence of length `T` (a length the graph fixes wins). */
  probe(T = 8): Record<string, Tensor> {
    const g = new Graph()
    const fixed = this.graph.inputs.find((i) => i.name === 'input_ids')!.shape[1]
    const len = typeof fixed === 'number' ? fixed : Math.min(T, this.maxPositions)
    const out: Record<string, Tensor> = {}
    for (const i of this.graph.inputs) out[i.name] = g.input(i.name, [1, len], irDType(i.dtype))
    return out
  }
}
