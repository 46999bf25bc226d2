/**
 * Keras models saved as TF.js Layers files (model.json + shards), rebuilt as a finetune Module from
 * their topology so they train like any other family. Enough layers for the Keras applications
 * (MobileNet v1/v2, Inception, plain CNNs and MLPs); anything else is named in one error.
 *
 * References: Keras layers https://keras.io/api/layers/ ; tfjs-layers src/layers (the semantics the
 * weights were trained and exported with); MobileNetV2 https://arxiv.org/abs/1801.04381 .
 *
 * Layout. Keras tensors are NHWC, finetune's are NCHW: a rank-4 Keras tensor (N,H,W,C) is held as
 * (N,C,H,W), images are fed NCHW, and the layers that name axes (Concatenate, Softmax, Flatten,
 * Reshape, Permute, Dense on images) translate them, so Flatten still orders features H,W,C.
 * 'same' padding follows TF: total = max((ceil(in/s)-1)*s + (k-1)*d + 1 - in, 0), the odd pixel at
 * the end; asymmetric cases pad explicitly before a 'valid' conv or pool.
 *
 * Parameter names are `<layer>.<param>` with <layer> the Keras layer name (characters outside
 * [A-Za-z0-9_] become '_'); `kerasNames` maps each back to its Keras weight:
 *   Conv2D   kernel (kh,kw,I,O)           -> <layer>.weight (O,I,kh,kw)       bias -> <layer>.bias
 *   DepthwiseConv2D depthwise_kernel (kh,kw,C,M) -> <layer>.weight (C*M,1,kh,kw)
 *   SeparableConv2D depthwise_kernel / pointwise_kernel / bias
 *                                         -> <layer>.depthwise.weight / <layer>.pointwise.weight / .bias
 *   Dense    kernel (in,out)              -> <layer>.weight (out,in)          bias -> <layer>.bias
 *   BatchNormalization gamma, beta, moving_mean, moving_variance
 *                                         -> <layer>.weight, .bias, .running_mean, .running_var
 * BatchNormalization becomes BatchNorm2d with PyTorch momentum = 1 - Keras momentum; without
 * `scale`/`center` its weight/bias stay 1/0 and frozen. Keras `trainable: false` flags are reported
 * (`kerasNonTrainable`), not applied: the fine-tuning method decides what trains.
 */
import { CheckpointError, FinetuneError, GraphError } from '../errors.js'
import { concat, trace, type Parameter, type Tensor } from '../graph/graph.js'
import { markStructureChanged, Module } from '../graph/module.js'
import * as nn from '../graph/nn.js'
import { fmt } from '../graph/shape.js'
import type { KerasLayerSpec, KerasRef, TfjsLayersModel } from '../checkpoint/tfjs.js'
import { BatchNorm2d, Conv2d, Linear, Rng, uniform } from './layers.js'

/** How images are prepared for the model; Keras files do not record it, so this is a default. */
export interface ImagePreprocessing {
  /** [height, width] images are resized to (bilinear). */
  size: [number, number]
  /** Pixel values 0..255 become value * scale + offset (nsfwjs: 1/255 and 0). */
  scale: number
  offset: number
  /** Per-channel mean and std applied after scaling, or null (Keras models usually have none). */
  mean: number[] | null
  std: number[] | null
  /** finetune feeds RGB images as NCHW float32. */
  layout: 'NCHW'
}

export type KerasOutputActivation = 'softmax' | 'sigmoid' | 'linear'

export interface ReplaceHeadOptions {
  /** 'keep' (default) replaces only the final Dense; 'drop' also removes the hidden Dense layers of the head. */
  hidden?: 'keep' | 'drop'
  /** Activation of the model's output (what `forward` applies to the logits); default: the old one. */
  activation?: KerasOutputActivation
}

/** One layer call: its inputs and output as slots of the run's value table. */
interface Step {
  readonly op: Op
  readonly inputs: readonly number[]
  readonly output: number
}

interface Op {
  readonly spec: KerasLayerSpec
  /** The model property holding this layer's parameters, or null for layers without any. */
  readonly prop: string | null
  /** `linear: true` leaves out a fused activation (Dense/Conv), for logits. */
  call(xs: Tensor[], o?: { linear?: boolean }): Tensor
  readonly activation?: string
}

const HEAD_LAYERS = new Set(['Dense', 'Dropout', 'Activation', 'ReLU', 'LeakyReLU', 'ELU', 'Softmax', 'BatchNormalization'])
const RESERVED = new Set(['constructor', 'prototype', '__proto__'])

/** A Keras Layers model as a Module: `features` (backbone, pooled), `head`, `logits`, `forward`. */
export class KerasModel extends Module {
  #name: string
  #steps: Step[] = []
  #head: Op[] = []
  #outAct: KerasOutputActivation = 'linear'
  /** Whether the last head op is a Dense whose fused activation is the output activation. */
  #actInDense = false
  #featuresSlot = 0
  #outputRank = 2
  #featureSize = 0
  #numClasses = 0
  #inputShape: number[] = []
  #kerasNames = new Map<Parameter, string>()
  #nonTrainable: string[] = []
  #headSplit = true

  constructor(source: TfjsLayersModel) {
    super()
    this.#name = source.topology.name
    const p = new Builder(source, (name, m) => this.#register(name, m)).build()
    this.#steps = p.steps
    this.#head = p.head
    this.#featuresSlot = p.featuresSlot
    this.#outAct = p.outAct
    this.#actInDense = p.actInDense
    this.#featureSize = p.featureSize
    this.#numClasses = p.numClasses
    this.#inputShape = p.inputShape
    this.#kerasNames = p.kerasNames
    this.#nonTrainable = p.nonTrainable
    this.#headSplit = p.headSplit
    this.#outputRank = p.outputRank
  }

  /** The Keras model name. */
  get modelName(): string { return this.#name }
  /** The Keras input shape without the batch axis, e.g. [224, 224, 3] (H, W, C). */
  get inputShape(): readonly number[] { return this.#inputShape }
  /** [height, width] of the model's image input (the topology's input shape); null for a model of vectors. */
  get imageSize(): [number, number] | null {
    const [h, w, c] = this.#inputShape
    return c === undefined ? null : [h!, w!]
  }
  /** The input side the model was built for (its height; Keras image models are square), 0 for vectors. As VisionModel. */
  get defaultImageSize(): number {
    return this.imageSize?.[0] ?? 0
  }
  /** The smallest side known to work: the built size (fixed-size pools such as nsfwjs's 7x7 need exactly it). */
  get minImageSize(): number {
    return this.defaultImageSize
  }
  get numClasses(): number { return this.#numClasses }
  /** Width of `features(x)`. */
  get featureSize(): number { return this.#featureSize }
  /** What `forward` applies to `logits` (the Keras output layer's activation). */
  get outputActivation(): KerasOutputActivation { return this.#outAct }
  /** Dotted-name prefixes of the layers `head` runs (all trainable when the backbone is frozen). */
  get headPrefixes(): string[] { return this.#head.flatMap((op) => (op.prop ? [op.prop] : [])) }
  /** Keras layers saved with `trainable: false`, as parameter prefixes. */
  get kerasNonTrainable(): readonly string[] { return this.#nonTrainable }
  /** finetune parameter name -> Keras weight name (`Conv1.weight` -> `Conv1/kernel`). */
  get kerasNames(): Map<string, string> {
    const out = new Map<string, string>()
    for (const [n, p] of this.namedParameters()) {
      const k = this.#kerasNames.get(p)
      if (k) out.set(n, k)
    }
    return out
  }
  /** Every BatchNorm of the model. */
  batchNorms(): BatchNorm2d[] {
    return Object.values(this).filter((m): m is BatchNorm2d => m instanceof BatchNorm2d)
  }
  /** Keeps every BatchNorm in inference mode (running statistics used and left unchanged) while training. */
  freezeBatchNormStats(flag = true): this {
    for (const bn of this.batchNorms()) bn.freezeStats(flag)
    return this
  }

  /** The model's output as TF.js computes it (output activation applied). `x`: (B, C, H, W) images. */
  forward(x: Tensor): Tensor {
    if (!this.#headSplit) return this.#run(x, this.#featuresSlot)
    return this.#activate(this.logits(x))
  }
  /** Pre-activation outputs (B, numClasses): what a cross-entropy loss takes. */
  logits(x: Tensor): Tensor {
    return this.head(this.features(x))
  }
  /** The backbone's pooled output (B, featureSize) that the head reads. */
  features(x: Tensor): Tensor {
    this.#needHead('features')
    return this.#run(x, this.#featuresSlot)
  }
  /** `features` under VisionModel's name for it. */
  backbone(x: Tensor): Tensor {
    return this.features(x)
  }
  /** Logits and `loss(logits)` from one forward pass, as VisionModel. */
  forwardLoss(x: Tensor, loss: (logits: Tensor) => Tensor): { logits: Tensor; loss: Tensor } {
    const logits = this.logits(x)
    return { logits, loss: loss(logits) }
  }
  /** The head alone: (B, featureSize) -> logits (B, numClasses). */
  head(f: Tensor): Tensor {
    this.#needHead('head')
    let h = f
    this.#head.forEach((op, i) => {
      h = op.call([h], { linear: this.#actInDense && i === this.#head.length - 1 })
    })
    return h
  }

  /**
   * A new classifier for `numClasses` classes in place of the final Dense (same layer name), weights
   * drawn as Keras' default glorot_uniform, bias zero. With `hidden: 'drop'` the head becomes that one
   * Dense on the pooled features.
   */
  replaceHead(numClasses: number, rng: Rng, o: ReplaceHeadOptions = {}): this {
    this.#needHead('replaceHead')
    if (!Number.isInteger(numClasses) || numClasses < 1) throw new GraphError('KERAS_HEAD', `replaceHead: numClasses must be a positive integer, got ${numClasses}`)
    const denseAt = this.#head.map((op) => op.spec.className).lastIndexOf('Dense')
    const old = denseAt >= 0 ? this.#head[denseAt]! : null
    const name = old?.spec.name ?? 'classifier'
    // 'drop': on the features; 'keep': where the old Dense read, or after the whole head when it has none
    const inF = o.hidden === 'drop' ? this.#featureSize : old ? (this.#module(old) as Linear).inFeatures : this.#numClasses
    const lin = new Linear(inF, numClasses, rng)
    uniform(lin.weight, rng, Math.sqrt(6 / (inF + numClasses)))
    lin.bias!.data.fill(0)
    const act = o.activation ?? (this.#outAct === 'linear' && !old ? 'softmax' : this.#outAct)
    const spec: KerasLayerSpec = { className: 'Dense', name, config: { units: numClasses, activation: act, use_bias: true }, inbound: [] }
    if (o.hidden === 'drop') {
      for (const op of this.#head) if (op.prop) delete (this as unknown as Record<string, unknown>)[op.prop]
      this.#head = []
    } else if (old) {
      this.#head.splice(denseAt)
      delete (this as unknown as Record<string, unknown>)[old.prop!]
    }
    const prop = this.#register(name, lin)
    this.#kerasNames.set(lin.weight, `${name}/kernel`)
    this.#kerasNames.set(lin.bias!, `${name}/bias`)
    this.#head.push(denseOp(spec, prop, lin, 'linear'))
    this.#outAct = act
    this.#actInDense = false
    this.#numClasses = numClasses
    markStructureChanged()
    return this
  }

  #module(op: Op): Module {
    return (this as unknown as Record<string, Module>)[op.prop!]!
  }

  #activate(logits: Tensor): Tensor {
    if (this.#outAct === 'softmax') return logits.softmax(-1)
    if (this.#outAct === 'sigmoid') return logits.sigmoid()
    return logits
  }

  #needHead(what: string): void {
    if (!this.#headSplit) {
      throw new GraphError('KERAS_NO_HEAD', `${what}: model "${this.#name}" has no (batch, classes) output (its output has rank ${this.#outputRank}), so it has no classification head`, 'use forward(x) for its raw output')
    }
  }

  #run(x: Tensor, until: number): Tensor {
    const want = this.#inputShape
    if (want.length === 3) {
      if (x.rank !== 4 || x.shape[1] !== want[2]) throw new GraphError('KERAS_INPUT', `model "${this.#name}" takes (batch, ${want[2]}, height, width) images (NCHW), got ${fmt(x.shape)}`, 'images are fed channels-first; transpose NHWC data with x.transpose([0, 3, 1, 2])')
    } else if (x.rank !== want.length + 1 || x.shape.slice(1).some((d, i) => want[i]! > 0 && d !== want[i])) {
      throw new GraphError('KERAS_INPUT', `model "${this.#name}" takes (batch, ${want.join(', ')}), got ${fmt(x.shape)}`)
    }
    const vals: Tensor[] = [x]
    for (const s of this.#steps) {
      vals[s.output] = s.op.call(s.inputs.map((i) => vals[i]!))
      if (s.output === until) break
    }
    return vals[until]!
  }

  /** Adds a layer's module as a property named after the layer; returns the property name. */
  #register(layerName: string, m: Module): string {
    let prop = layerName.replace(/[^A-Za-z0-9_]/g, '_').replace(/^_/, 'l_')
    while (RESERVED.has(prop) || prop in this) prop += '_'
    Object.defineProperty(this, prop, { value: m, enumerable: true, writable: true, configurable: true })
    return prop
  }
}

/** What the builder derives from a topology: the run order, the head and the model's shapes. */
interface Plan {
  steps: Step[]
  head: Op[]
  featuresSlot: number
  outAct: KerasOutputActivation
  actInDense: boolean
  featureSize: number
  numClasses: number
  inputShape: number[]
  kerasNames: Map<Parameter, string>
  nonTrainable: string[]
  headSplit: boolean
  outputRank: number
}

export interface LoadedKerasModel {
  model: KerasModel
  /** Keras input shape without batch, e.g. [224, 224, 3]. */
  inputShape: readonly number[]
  /** How to prepare images; null for a model of vectors. */
  preprocessing: ImagePreprocessing | null
  classNames?: string[]
}

/**
 * Builds the model of a decoded TF.js Layers file. Keras files do not record their preprocessing:
 * it defaults to pixels / 255 (what nsfwjs expects), or raw 0..255 pixels when the model starts
 * with a Rescaling layer. Pass `preprocessing` for others (the Keras applications' MobileNets
 * take [-1, 1]: scale 1/127.5, offset -1).
 */
export function loadKerasModel(source: TfjsLayersModel, o: { preprocessing?: Partial<ImagePreprocessing> } = {}): LoadedKerasModel {
  const model = new KerasModel(source)
  const firstReal = source.topology.layers.find((l) => l.className !== 'InputLayer')
  const rescales = firstReal?.className === 'Rescaling'
  const size = model.imageSize
  const preprocessing: ImagePreprocessing | null = size && { size, scale: rescales ? 1 : 1 / 255, offset: 0, mean: null, std: null, layout: 'NCHW', ...o.preprocessing }
  const out: LoadedKerasModel = { model, inputShape: model.inputShape, preprocessing }
  if (source.classNames) out.classNames = source.classNames
  return out
}

// ---------------------------------------------------------------------------------------------
// Building

const HINT_UNSUPPORTED = 'finetune rebuilds Keras models layer by layer; rebuild the model from the supported layers, or ask for the layer to be added'

class Builder {
  readonly file: string
  readonly byName = new Map<string, KerasLayerSpec>()
  readonly used = new Set<string>()
  readonly kerasNames = new Map<Parameter, string>()
  readonly rng = new Rng(0)
  #weightIndex = new Map<string, string>()
  #ops = new Map<string, Op>()
  constructor(readonly src: TfjsLayersModel, readonly register: (layerName: string, m: Module) => string) {
    this.file = src.file
    for (const l of src.topology.layers) this.byName.set(l.name, l)
    for (const k of src.weights.keys()) this.#weightIndex.set(k.replace(/:0$/, ''), k)
  }

  build(): Plan {
    const topo = this.src.topology
    const unsupported = new Map<string, string[]>()
    for (const l of topo.layers) if (!(l.className in LAYERS) && l.className !== 'InputLayer') unsupported.set(l.className, [...(unsupported.get(l.className) ?? []), l.name])
    if (unsupported.size) {
      const list = [...unsupported].map(([c, ns]) => `${c} (${ns.slice(0, 3).map((n) => `"${n}"`).join(', ')}${ns.length > 3 ? ', ...' : ''})`)
      throw new CheckpointError('TFJS_UNSUPPORTED_LAYER', `${this.file}: finetune cannot build ${unsupported.size} layer type(s) of this model: ${list.join('; ')}`, `supported: InputLayer, ${Object.keys(LAYERS).join(', ')}. ${HINT_UNSUPPORTED}`)
    }
    if (topo.inputs.length !== 1 || topo.outputs.length !== 1) {
      throw new CheckpointError('TFJS_UNSUPPORTED_MODEL', `${this.file}: the model has ${topo.inputs.length} inputs and ${topo.outputs.length} outputs; finetune trains models with one of each`, 'save a sub-model with one input and one output')
    }
    const inputSpec = this.byName.get(topo.inputs[0]![0])!
    const shapeRaw = inputSpec.config['batch_input_shape'] ?? inputSpec.config['batch_shape']
    if (!Array.isArray(shapeRaw) || shapeRaw.length < 2) throw new CheckpointError('TFJS_BAD_TOPOLOGY', `${this.file}: input layer "${inputSpec.name}" has no batch_input_shape`, 'save the model with a fixed input shape')
    // unknown image sizes trace at 224, the usual size of the Keras applications
    const inputShape = shapeRaw.slice(1).map((d, i, a) => (typeof d === 'number' ? d : a.length === 3 && i < 2 ? 224 : -1))
    if (inputShape.some((d) => d < 1)) throw new CheckpointError('TFJS_BAD_TOPOLOGY', `${this.file}: input "${inputSpec.name}" has shape ${JSON.stringify(shapeRaw)}; finetune needs every size but the batch known (images may leave height and width open)`, 'save the model with a fixed input shape')
    if (inputShape.length !== 3 && inputShape.length !== 1) throw new CheckpointError('TFJS_UNSUPPORTED_MODEL', `${this.file}: input shape ${JSON.stringify(shapeRaw)} is neither an image (batch, h, w, c) nor a vector (batch, features)`, 'finetune reads Keras image and vector models')

    const steps: Step[] = []
    const slots = new Map<string, number>()
    const shapes: (readonly number[])[] = []
    const consumers: number[] = []
    const producer = new Map<number, Step>()
    const layerCalls = new Map<string, number>()
    trace((g) => {
      const nchw = inputShape.length === 3 ? [1, inputShape[2]!, inputShape[0]!, inputShape[1]!] : [1, ...inputShape]
      const vals: Tensor[] = [g.input('x', nchw)]
      shapes.push(vals[0]!.shape)
      consumers.push(0)
      slots.set(`${inputSpec.name}:0`, 0)
      const visiting = new Set<string>()
      const resolveRef = (ref: KerasRef, from: string): number => {
        const [name, node, tensor] = ref
        const key = `${name}:${node}`
        const known = slots.get(key)
        if (known !== undefined) return known
        const spec = this.byName.get(name)!
        if (spec.className === 'InputLayer') throw new CheckpointError('TFJS_UNSUPPORTED_MODEL', `${this.file}: layer "${from}" reads input "${name}", which is not the model's input`, 'save a model with one input')
        if (tensor !== 0) throw new CheckpointError('TFJS_BAD_TOPOLOGY', `${this.file}: layer "${from}" reads output ${tensor} of "${name}", which has one output`, HINT_UNSUPPORTED)
        const refs = spec.inbound[node]
        if (!refs) throw new CheckpointError('TFJS_BAD_TOPOLOGY', `${this.file}: layer "${from}" reads call ${node} of "${name}", which has ${spec.inbound.length} call(s)`, HINT_UNSUPPORTED)
        if (visiting.has(key)) throw new CheckpointError('TFJS_BAD_TOPOLOGY', `${this.file}: layer "${name}" depends on itself`, HINT_UNSUPPORTED)
        visiting.add(key)
        const inputs = refs.map((r) => resolveRef(r, name))
        visiting.delete(key)
        const xs = inputs.map((i) => vals[i]!)
        let layerOp = this.#ops.get(name)
        let y: Tensor
        try {
          layerOp ??= this.#buildOp(spec, xs)
          this.#ops.set(name, layerOp)
          y = layerOp.call(xs)
        } catch (e) {
          if (e instanceof FinetuneError && !(e instanceof GraphError)) throw e
          const msg = e instanceof FinetuneError ? e.message : String(e)
          throw new CheckpointError('TFJS_LAYER_SHAPE', `${this.file}: layer "${name}" (${spec.className}) cannot take inputs ${xs.map((x) => fmt(keras(x.shape))).join(', ')}: ${msg}`, 'the topology and weights do not fit together; export the model again')
        }
        const out = vals.length
        vals.push(y)
        shapes.push(y.shape)
        consumers.push(0)
        for (const i of inputs) consumers[i]!++
        const step: Step = { op: layerOp, inputs, output: out }
        steps.push(step)
        producer.set(out, step)
        layerCalls.set(name, (layerCalls.get(name) ?? 0) + 1)
        slots.set(key, out)
        return out
      }
      resolveRef(topo.outputs[0]!, '(model output)')
    })

    const unused = [...this.src.weights.keys()].filter((k) => !this.used.has(k))
    if (unused.length) {
      throw new CheckpointError('TFJS_UNUSED_WEIGHTS', `${this.file}: ${unused.length} weight(s) belong to no layer finetune built: ${unused.slice(0, 8).join(', ')}${unused.length > 8 ? ', ...' : ''}`, 'the weights manifest does not match the topology (or names layers the output does not depend on); export the model again')
    }

    if (steps.length === 0) throw new CheckpointError('TFJS_UNSUPPORTED_MODEL', `${this.file}: the model's output is its input; it has no layers to train`, 'export the model with its layers')
    // The head: the chain of per-sample layers (Dense, Dropout, activations) ending at the output.
    const outSlot = steps[steps.length - 1]!.output
    const outputRank = shapes[outSlot]!.length
    const head: Step[] = []
    let s = outSlot
    for (;;) {
      const st = producer.get(s)
      if (!st || st.inputs.length !== 1 || !HEAD_LAYERS.has(st.op.spec.className) || layerCalls.get(st.op.spec.name) !== 1) break
      const i = st.inputs[0]!
      if (shapes[i]!.length !== 2 || consumers[i] !== 1) break
      head.unshift(st)
      s = i
    }
    const headSplit = outputRank === 2
    const headOps = headSplit ? head.map((h) => h.op) : []
    let outAct: KerasOutputActivation = 'linear'
    let actInDense = false
    const last = headOps[headOps.length - 1]
    const lastAct = last ? (last.spec.className === 'Softmax' ? 'softmax' : last.activation) : undefined
    if (last && (lastAct === 'softmax' || lastAct === 'sigmoid')) {
      outAct = lastAct
      if (last.spec.className === 'Dense') actInDense = true
      else headOps.pop()
    }
    return {
      steps: headSplit ? steps.filter((st) => !head.includes(st)) : steps,
      head: headOps,
      featuresSlot: headSplit ? s : outSlot,
      outAct,
      actInDense,
      featureSize: shapes[s]![1]!,
      numClasses: keras(shapes[outSlot]!)[outputRank - 1]!,
      inputShape,
      kerasNames: this.kerasNames,
      nonTrainable: [...this.#ops.values()].filter((op) => op.prop && op.spec.config['trainable'] === false).map((op) => op.prop!),
      headSplit,
      outputRank,
    }
  }

  #buildOp(spec: KerasLayerSpec, xs: Tensor[]): Op {
    const ctx = new LayerCtx(spec, this)
    const df = spec.config['data_format']
    if (df !== undefined && df !== null && df !== 'channels_last') ctx.fail('data_format', df, 'only channels_last')
    return LAYERS[spec.className]!(ctx, xs)
  }

  /** The manifest key of a layer's weight: `<layer>/<weight>`, also under an outer scope or with ':0'. */
  weightKey(layer: string, weight: string): string | undefined {
    const exact = this.#weightIndex.get(`${layer}/${weight}`)
    if (exact) return exact
    const tail = `/${layer}/${weight}`
    const hits = [...this.#weightIndex.keys()].filter((k) => k.endsWith(tail))
    return hits.length === 1 ? this.#weightIndex.get(hits[0]!) : undefined
  }
}

/** Keras-order shape of an internal tensor shape (for messages). */
const keras = (s: readonly number[]): readonly number[] => (s.length === 4 ? [s[0]!, s[2]!, s[3]!, s[1]!] : s)

class LayerCtx {
  constructor(readonly spec: KerasLayerSpec, readonly b: Builder) {}
  get name(): string { return this.spec.name }
  get c(): Readonly<Record<string, unknown>> { return this.spec.config }
  fail(field: string, value: unknown, supported: string): never {
    throw new CheckpointError('TFJS_UNSUPPORTED_CONFIG', `${this.b.file}: layer "${this.name}" (${this.spec.className}) has ${field} = ${JSON.stringify(value)}, which finetune does not support (${supported})`, HINT_UNSUPPORTED)
  }
  num(field: string, dflt?: number): number {
    const v = this.c[field] ?? dflt
    if (typeof v !== 'number' || !Number.isFinite(v)) return this.fail(field, v, 'a number is required')
    return v
  }
  int(field: string, dflt?: number): number {
    const v = this.num(field, dflt)
    if (!Number.isInteger(v) || v < 1) return this.fail(field, v, 'a positive integer is required')
    return v
  }
  pair(field: string, dflt?: number): [number, number] {
    const v = this.c[field] ?? dflt
    const a = typeof v === 'number' ? [v, v] : v
    if (!Array.isArray(a) || a.length !== 2 || !a.every((d) => Number.isInteger(d) && d >= 1)) return this.fail(field, v, 'two positive integers')
    return [a[0] as number, a[1] as number]
  }
  bool(field: string, dflt: boolean): boolean {
    const v = this.c[field] ?? dflt
    if (typeof v !== 'boolean') return this.fail(field, v, 'true or false')
    return v
  }
  padding(): 'same' | 'valid' {
    const p = this.c['padding'] ?? 'valid'
    if (p !== 'same' && p !== 'valid') return this.fail('padding', p, "'same' or 'valid'")
    return p
  }
  activation(field = 'activation'): Act {
    const v = this.c[field] ?? 'linear'
    const name = typeof v === 'string' ? v : (v as { class_name?: unknown } | null)?.class_name
    // Keras writes snake_case ('hard_sigmoid'), TF.js its class names ('hardSigmoid')
    const key = typeof name === 'string' ? name.toLowerCase().replace(/_/g, '') : ''
    const f = ACTIVATIONS[key]
    if (!f) return this.fail(field, v, `supported: ${Object.keys(ACTIVATIONS).join(', ')}`)
    return { name: key, f }
  }
  /** Loads weight `<layer>/<weight>` of Keras shape `shape` into `p`, converted by `convert`. */
  load(p: Parameter, weight: string, shape: readonly number[], convert: (d: Float32Array) => Float32Array = (d) => d): void {
    const key = this.b.weightKey(this.name, weight)
    if (!key) {
      throw new CheckpointError('TFJS_MISSING_WEIGHT', `${this.b.file}: layer "${this.name}" (${this.spec.className}) needs weight "${this.name}/${weight}" ${fmt(shape)}, which the weights manifest lacks`, 'the weights manifest does not match the topology; export the model again')
    }
    const w = this.b.src.weights.get(key)!
    if (w.shape.join() !== shape.join()) {
      throw new CheckpointError('TFJS_WEIGHT_SHAPE', `${this.b.file}: weight "${key}" has shape ${fmt(w.shape)}, layer "${this.name}" (${this.spec.className}) with its config and input needs ${fmt(shape)}`, 'the weights manifest does not match the topology; export the model again')
    }
    this.b.used.add(key)
    p.data = convert(w.data)
    this.b.kerasNames.set(p, key)
  }
}

// ---------------------------------------------------------------------------------------------
// Activations

interface Act {
  name: string
  f: (x: Tensor) => Tensor
}
/** Channel axis of an internal tensor: Keras' last axis. */
const chan = (x: Tensor): number => (x.rank === 4 ? 1 : x.rank - 1)
const softplus = (x: Tensor): Tensor => x.relu().add(x.abs().neg().exp().add(1).log())
const elu = (x: Tensor, a = 1): Tensor => x.relu().add(x.minimum(0).exp().sub(1).mul(a))
const ACTIVATIONS: Readonly<Record<string, (x: Tensor) => Tensor>> = {
  linear: (x) => x,
  relu: (x) => x.relu(),
  relu6: (x) => x.clip(0, 6),
  sigmoid: (x) => x.sigmoid(),
  tanh: (x) => x.tanh(),
  softmax: (x) => x.softmax(chan(x)),
  swish: nn.silu,
  silu: nn.silu,
  elu: (x) => elu(x),
  selu: (x) => elu(x, 1.6732632423543772).mul(1.0507009873554805),
  softplus: (x) => softplus(x),
  softsign: (x) => x.div(x.abs().add(1)),
  // Keras 2 and TF.js: a piecewise-linear sigmoid, clip(0.2x + 0.5, 0, 1)
  hardsigmoid: (x) => x.mul(0.2).add(0.5).clip(0, 1),
  gelu: (x) => nn.gelu(x),
  gelunew: (x) => nn.gelu(x, 'tanh'),
  mish: (x) => x.mul(softplus(x).tanh()),
  exponential: (x) => x.exp(),
}

// ---------------------------------------------------------------------------------------------
// Layers

const toKeras = (x: Tensor): Tensor => (x.rank === 4 ? x.transpose([0, 2, 3, 1]) : x)   // (N, H, W, C)
const fromKeras = (x: Tensor): Tensor => (x.rank === 4 ? x.transpose([0, 3, 1, 2]) : x) // (N, C, H, W)
/** Internal axis of a Keras axis of a tensor of rank `rank`. */
function axisOf(ctx: LayerCtx, axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis
  if (a < 1 || a >= rank) return ctx.fail('axis', axis, `an axis of a rank-${rank} tensor other than the batch axis`)
  return rank === 4 ? [0, 2, 3, 1][a]! : a
}

/** TF's 'same' padding of one spatial axis: [before, after], the odd pixel after. */
function samePad(size: number, k: number, s: number, d: number): [number, number] {
  const total = Math.max((Math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
  return [Math.floor(total / 2), total - Math.floor(total / 2)]
}

interface ConvGeom {
  k: [number, number]
  s: [number, number]
  d: [number, number]
  padding: 'same' | 'valid'
}
function convGeom(ctx: LayerCtx): ConvGeom {
  const g = { k: ctx.pair('kernel_size'), s: ctx.pair('strides', 1), d: ctx.pair('dilation_rate', 1), padding: ctx.padding() }
  if (g.s.some((v) => v > 1) && g.d.some((v) => v > 1)) ctx.fail('dilation_rate', ctx.c['dilation_rate'], 'dilation with strides > 1 is not defined in Keras')
  return g
}

function conv(x: Tensor, w: Parameter, b: Parameter | null, g: ConvGeom, groups: number): Tensor {
  let pad: [number, number] = [0, 0]
  if (g.padding === 'same') {
    const [t, bt] = samePad(x.shape[2]!, g.k[0], g.s[0], g.d[0])
    const [l, r] = samePad(x.shape[3]!, g.k[1], g.s[1], g.d[1])
    if (t === bt && l === r) pad = [t, l]
    else x = x.pad([[0, 0], [0, 0], [t, bt], [l, r]])
  }
  return nn.conv2d(x, w, b, { stride: g.s, dilation: g.d, groups, padding: pad })
}

/** (kh, kw, I, O) -> (O, I, kh, kw) */
function hwioToOihw(src: Float32Array, kh: number, kw: number, I: number, O: number): Float32Array {
  const dst = new Float32Array(src.length)
  for (let h = 0; h < kh; h++) for (let w = 0; w < kw; w++) for (let i = 0; i < I; i++) for (let o = 0; o < O; o++)
    dst[((o * I + i) * kh + h) * kw + w] = src[((h * kw + w) * I + i) * O + o]!
  return dst
}
/** Depthwise (kh, kw, C, M) -> (C*M, 1, kh, kw): output channel c*M + m, as grouped convolution orders them. */
const depthwiseToOihw = (src: Float32Array, kh: number, kw: number, C: number, M: number): Float32Array => hwioToOihw(src, kh, kw, 1, C * M)
/** (in, out) -> (out, in) */
function transpose2d(src: Float32Array, rows: number, cols: number): Float32Array {
  const dst = new Float32Array(src.length)
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) dst[c * rows + r] = src[r * cols + c]!
  return dst
}

const op = (spec: KerasLayerSpec, call: Op['call'], prop: string | null = null, activation?: string): Op =>
  activation === undefined ? { spec, prop, call } : { spec, prop, call, activation }
function need4(ctx: LayerCtx, x: Tensor): void {
  if (x.rank !== 4) ctx.fail('input rank', keras(x.shape), 'this layer takes images (batch, height, width, channels)')
}

function denseOp(spec: KerasLayerSpec, prop: string, lin: Linear, act: string): Op {
  const f = ACTIVATIONS[act]!
  return op(spec, ([x], o) => {
    const y = x!.rank === 4 ? fromKeras(lin.forward(toKeras(x!))) : lin.forward(x!)
    return o?.linear ? y : f(y)
  }, prop, act)
}

type Builderfn = (ctx: LayerCtx, xs: Tensor[]) => Op

const LAYERS: Readonly<Record<string, Builderfn>> = {
  Conv2D(ctx, [x]) {
    need4(ctx, x!)
    const g = convGeom(ctx)
    const filters = ctx.int('filters')
    const groups = ctx.int('groups', 1)
    const inC = x!.shape[1]!
    const bias = ctx.bool('use_bias', true)
    const act = ctx.activation()
    const m = new Conv2d(inC, filters, g.k, ctx.b.rng, { groups, bias })
    ctx.load(m.weight, 'kernel', [...g.k, inC / groups, filters], (d) => hwioToOihw(d, g.k[0], g.k[1], inC / groups, filters))
    if (m.bias) ctx.load(m.bias, 'bias', [filters])
    const prop = ctx.b.register(ctx.name, m)
    return op(ctx.spec, ([v], o) => {
      const y = conv(v!, m.weight, m.bias, g, groups)
      return o?.linear ? y : act.f(y)
    }, prop, act.name)
  },
  DepthwiseConv2D(ctx, [x]) {
    need4(ctx, x!)
    const g = convGeom(ctx)
    const M = ctx.int('depth_multiplier', 1)
    const C = x!.shape[1]!
    const bias = ctx.bool('use_bias', true)
    const act = ctx.activation()
    const m = new Conv2d(C, C * M, g.k, ctx.b.rng, { groups: C, bias })
    ctx.load(m.weight, 'depthwise_kernel', [...g.k, C, M], (d) => depthwiseToOihw(d, g.k[0], g.k[1], C, M))
    if (m.bias) ctx.load(m.bias, 'bias', [C * M])
    const prop = ctx.b.register(ctx.name, m)
    return op(ctx.spec, ([v]) => act.f(conv(v!, m.weight, m.bias, g, C)), prop, act.name)
  },
  SeparableConv2D(ctx, [x]) {
    need4(ctx, x!)
    const g = convGeom(ctx)
    const M = ctx.int('depth_multiplier', 1)
    const filters = ctx.int('filters')
    const C = x!.shape[1]!
    const act = ctx.activation()
    const m = new Separable(new Conv2d(C, C * M, g.k, ctx.b.rng, { groups: C, bias: false }), new Conv2d(C * M, filters, 1, ctx.b.rng, { bias: ctx.bool('use_bias', true) }))
    ctx.load(m.depthwise.weight, 'depthwise_kernel', [...g.k, C, M], (d) => depthwiseToOihw(d, g.k[0], g.k[1], C, M))
    ctx.load(m.pointwise.weight, 'pointwise_kernel', [1, 1, C * M, filters], (d) => hwioToOihw(d, 1, 1, C * M, filters))
    if (m.pointwise.bias) ctx.load(m.pointwise.bias, 'bias', [filters])
    const prop = ctx.b.register(ctx.name, m)
    return op(ctx.spec, ([v]) => act.f(nn.conv2d(conv(v!, m.depthwise.weight, null, g, C), m.pointwise.weight, m.pointwise.bias)), prop, act.name)
  },
  Dense(ctx, [x]) {
    const units = ctx.int('units')
    const inF = x!.rank === 4 ? x!.shape[1]! : x!.shape[x!.rank - 1]!
    const act = ctx.activation()
    const lin = new Linear(inF, units, ctx.b.rng, { bias: ctx.bool('use_bias', true) })
    ctx.load(lin.weight, 'kernel', [inF, units], (d) => transpose2d(d, inF, units))
    if (lin.bias) ctx.load(lin.bias, 'bias', [units])
    return denseOp(ctx.spec, ctx.b.register(ctx.name, lin), lin, act.name)
  },
  BatchNormalization(ctx, [x]) {
    const axis = ctx.c['axis'] ?? -1
    const ax = Array.isArray(axis) && axis.length === 1 ? axis[0] : axis
    if (typeof ax !== 'number' || axisOf(ctx, ax, x!.rank) !== chan(x!)) ctx.fail('axis', axis, 'the channel axis (-1)')
    const C = x!.shape[chan(x!)]!
    const bn = new BatchNorm2d(C, ctx.num('epsilon', 1e-3), 1 - ctx.num('momentum', 0.99))
    if (ctx.bool('scale', true)) ctx.load(bn.weight, 'gamma', [C])
    else bn.weight.requiresGrad = false
    if (ctx.bool('center', true)) ctx.load(bn.bias, 'beta', [C])
    else bn.bias.requiresGrad = false
    ctx.load(bn.running_mean, 'moving_mean', [C])
    ctx.load(bn.running_var, 'moving_variance', [C])
    const prop = ctx.b.register(ctx.name, bn)
    return op(ctx.spec, ([v]) => (v!.rank === 3 ? bn.forward(v!.swap(1, 2)).swap(1, 2) : bn.forward(v!)), prop)
  },
  Activation(ctx) {
    const act = ctx.activation()
    return op(ctx.spec, ([x]) => act.f(x!), null, act.name)
  },
  ReLU(ctx) {
    const max = ctx.c['max_value'] ?? null
    if (max !== null && typeof max !== 'number') ctx.fail('max_value', max, 'a number or null')
    if (ctx.num('negative_slope', 0) !== 0) ctx.fail('negative_slope', ctx.c['negative_slope'], 'use a LeakyReLU layer')
    if (ctx.num('threshold', 0) !== 0) ctx.fail('threshold', ctx.c['threshold'], 'only 0')
    const hi = max === null ? Infinity : (max as number)
    return op(ctx.spec, ([x]) => x!.clip(0, hi), null, hi === 6 ? 'relu6' : 'relu')
  },
  LeakyReLU(ctx) {
    const a = ctx.num(ctx.c['negative_slope'] !== undefined ? 'negative_slope' : 'alpha', 0.3)
    return op(ctx.spec, ([x]) => x!.relu().add(x!.minimum(0).mul(a)))
  },
  ELU(ctx) {
    const a = ctx.num('alpha', 1)
    return op(ctx.spec, ([x]) => elu(x!, a))
  },
  Softmax(ctx, [x]) {
    const ax = ctx.c['axis'] ?? -1
    if (typeof ax !== 'number') ctx.fail('axis', ax, 'one axis')
    const a = axisOf(ctx, ax as number, x!.rank)
    return op(ctx.spec, ([v]) => v!.softmax(a), null, a === chan(x!) ? 'softmax' : undefined)
  },
  Dropout(ctx) {
    const rate = ctx.num('rate')
    if (ctx.c['noise_shape'] !== undefined && ctx.c['noise_shape'] !== null) ctx.fail('noise_shape', ctx.c['noise_shape'], 'null')
    return op(ctx.spec, ([x]) => nn.dropout(x!, rate))
  },
  Flatten: (ctx) => op(ctx.spec, ([x]) => (x!.rank === 4 && x!.shape[2]! * x!.shape[3]! > 1 ? toKeras(x!) : x!).flatten(1)),
  Reshape(ctx, [x]) {
    const t = ctx.c['target_shape']
    if (!Array.isArray(t) || !t.every((d) => Number.isInteger(d) && (d >= 1 || d === -1))) ctx.fail('target_shape', t, 'a list of sizes, one of them may be -1')
    return op(ctx.spec, ([v]) => fromKeras(toKeras(v!).reshape([v!.shape[0]!, ...(t as number[])])))
  },
  Permute(ctx) {
    const dims = ctx.c['dims']
    if (!Array.isArray(dims) || !dims.every((d) => Number.isInteger(d) && d >= 1)) ctx.fail('dims', dims, 'a permutation of 1..rank-1')
    return op(ctx.spec, ([v]) => fromKeras(toKeras(v!).transpose([0, ...(dims as number[])])))
  },
  ZeroPadding2D(ctx, [x]) {
    need4(ctx, x!)
    const [t, b, l, r] = pads2d(ctx, 'padding')
    return op(ctx.spec, ([v]) => v!.pad([[0, 0], [0, 0], [t, b], [l, r]]))
  },
  Cropping2D(ctx, [x]) {
    need4(ctx, x!)
    const [t, b, l, r] = pads2d(ctx, 'cropping')
    return op(ctx.spec, ([v]) => v!.slice(2, t, v!.shape[2]! - b).slice(3, l, v!.shape[3]! - r))
  },
  MaxPooling2D: (ctx, [x]) => pool(ctx, x!, 'MaxPool'),
  AveragePooling2D: (ctx, [x]) => pool(ctx, x!, 'AveragePool'),
  GlobalAveragePooling2D(ctx, [x]) {
    need4(ctx, x!)
    const keep = ctx.bool('keepdims', false)
    return op(ctx.spec, ([v]) => v!.mean([2, 3], keep))
  },
  GlobalMaxPooling2D(ctx, [x]) {
    need4(ctx, x!)
    const keep = ctx.bool('keepdims', false)
    return op(ctx.spec, ([v]) => v!.max([2, 3], keep))
  },
  Add: (ctx) => op(ctx.spec, (xs) => xs.reduce((a, b) => a.add(b))),
  Subtract: (ctx) => op(ctx.spec, ([a, b]) => a!.sub(b!)),
  Multiply: (ctx) => op(ctx.spec, (xs) => xs.reduce((a, b) => a.mul(b))),
  Average: (ctx) => op(ctx.spec, (xs) => xs.reduce((a, b) => a.add(b)).mul(1 / xs.length)),
  Maximum: (ctx) => op(ctx.spec, (xs) => xs.reduce((a, b) => a.maximum(b))),
  Minimum: (ctx) => op(ctx.spec, (xs) => xs.reduce((a, b) => a.minimum(b))),
  Concatenate(ctx, [x]) {
    const ax = ctx.c['axis'] ?? -1
    if (typeof ax !== 'number') ctx.fail('axis', ax, 'one axis')
    const a = axisOf(ctx, ax as number, x!.rank)
    return op(ctx.spec, (xs) => concat(xs, a))
  },
  Rescaling(ctx) {
    const scale = ctx.num('scale')
    const offset = ctx.num('offset', 0)
    return op(ctx.spec, ([x]) => x!.mul(scale).add(offset))
  },
}

function pads2d(ctx: LayerCtx, field: string): [number, number, number, number] {
  const v = ctx.c[field]
  const ok = (d: unknown): d is number => Number.isInteger(d) && (d as number) >= 0
  if (ok(v)) return [v, v, v, v]
  if (Array.isArray(v) && v.length === 2) {
    const [h, w] = v
    if (ok(h) && ok(w)) return [h, h, w, w]
    if (Array.isArray(h) && Array.isArray(w) && h.length === 2 && w.length === 2 && [...h, ...w].every(ok)) return [h[0], h[1], w[0], w[1]] as [number, number, number, number]
  }
  return ctx.fail(field, v, 'n, [h, w] or [[top, bottom], [left, right]]')
}

function pool(ctx: LayerCtx, x: Tensor, kind: 'MaxPool' | 'AveragePool'): Op {
  need4(ctx, x)
  const k = ctx.pair('pool_size', 2)
  const s = ctx.c['strides'] === null || ctx.c['strides'] === undefined ? k : ctx.pair('strides')
  const padding = ctx.padding()
  return op(ctx.spec, ([v]) => {
    let pads = [0, 0, 0, 0]
    if (padding === 'same') {
      const [t, b] = samePad(v!.shape[2]!, k[0], s[0], 1)
      const [l, r] = samePad(v!.shape[3]!, k[1], s[1], 1)
      pads = [t, l, b, r]
    }
    // Keras averages over the window cells inside the image: padding is not counted
    return kind === 'MaxPool'
      ? v!.graph.emit('MaxPool', [v!], { kernel: k, strides: s, pads })[0]!
      : v!.graph.emit('AveragePool', [v!], { kernel: k, strides: s, pads, countIncludePad: false })[0]!
  })
}

class Separable extends Module {
  constructor(public depthwise: Conv2d, public pointwise: Conv2d) {
    super()
  }
}
