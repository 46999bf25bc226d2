/**
 * The compiled training step: forward, backward and optimizer update traced into one graph, run by
 * ONNX Runtime with parameters and optimizer state resident between steps. One TrainSession owns
 * that state; it builds a graph per input-shape signature and reuses it.
 */
import { grad } from '../autodiff/grad.js'
import { ConfigError, RuntimeError } from '../errors.js'
import type { DType } from '../graph/dtype.js'
import { Graph, withGraph, type Parameter, type Tensor } from '../graph/graph.js'
import { size } from '../graph/shape.js'
import { currentStructureVersion, type Module } from '../graph/module.js'
import { lower } from '../onnx/lower.js'
import type { ModelProtoObj } from '../onnx/proto.js'
import { scanSteps } from '../onnx/scan.js'
import { clipByGlobalNorm, emitUpdates, resolveGroups, stateKeys, stateScale, stepScalars, validateOptimizer, type OptimizerConfig, type ResolvedGroup } from '../optim/optimizers.js'
import { Program, ResidentState, type InputBinding, type OutputBinding, type ProgramInput, type ProgramOutput } from '../runtime/program.js'
import type { OrtTensor } from '../runtime/ort.js'
import type { HostTensor, Runtime } from '../runtime/session.js'

export type InputSpec = Readonly<Record<string, { shape: readonly number[]; dtype: DType }>>

export interface ForwardResult {
  loss?: Tensor
  /** Extra tensors to fetch (logits for metrics, ...). */
  outputs?: Record<string, Tensor>
}

/** Model code for one batch: receives the batch as graph inputs, returns the loss and outputs. */
export type ForwardFn = (inputs: Record<string, Tensor>, g: Graph) => ForwardResult

export interface TrainSessionOptions {
  runtime: Runtime
  model: Module
  forward: ForwardFn
  optimizer: OptimizerConfig
  /** Clip gradients to this global L2 norm (none by default). */
  clipNorm?: number
  /** Micro-batches per optimizer update. */
  accumulation?: number
  /** Seed of the dropout random streams. */
  seed?: number
  /**
   * The parameters and buffers never change while this session lives (a frozen backbone computing
   * features, a model only evaluated): its forward-only graphs carry their values as initializers,
   * so ONNX Runtime can fold and re-lay them out for its faster kernels (MobileNetV2 at 224 px: 3x).
   * Only for convolutional networks (a ViT-B/16 gains nothing, compiles twice as long and holds a
   * second copy of its weights), and not on a device provider, where the state stays resident.
   * Call dispose() when done.
   */
  constantWeights?: boolean
}

type Kind = 'step' | 'first' | 'accum' | 'apply' | 'eval'

export interface StepResult {
  loss: number
  /** Global gradient norm before clipping, on update steps. */
  gradNorm?: number
  /** Whether this call applied an optimizer update (false on accumulation micro-steps). */
  updated: boolean
  outputs: Record<string, HostTensor>
}

export const hostF32 = (data: ArrayLike<number>, shape: readonly number[]): HostTensor => ({ data: data instanceof Float32Array ? data : Float32Array.from(data), shape, dtype: 'float32' })
export const hostI64 = (data: ArrayLike<number>, shape: readonly number[]): HostTensor => ({ data: BigInt64Array.from(Array.from(data, (v) => BigInt(v))), shape, dtype: 'int64' })

export function scalarHost(v: number): HostTensor {
  return { data: new Float32Array([v]), shape: [], dtype: 'float32' }
}

export interface TrainState {
  tensors: Record<string, { shape: readonly number[]; data: Float32Array }>
  step: number
  micro: number
  randomCounter: number
  seed: number
  /**
   * How Adam's moments are stored: 'scaled' as the graph keeps them (divided by 1 - beta, see
   * stateScale; exact round trip), 'torch' as torch.optim does (states written before format 2).
   */
  moments?: 'scaled' | 'torch'
}

let nextSessionId = 0

/**
 * Forward-only passes of at least this many batches run on graphs with the weights as constants
 * (TrainSession.forwardPass): a compile costs about what two or three batches gain (BENCHMARKS.md,
 * "Forward passes with the weights as constants").
 */
export const CONSTANT_WEIGHTS_MIN_BATCHES = 8

export class TrainSession {
  readonly model: Module
  readonly runtime: Runtime
  readonly state = new ResidentState()
  readonly optimizer: OptimizerConfig
  readonly accumulation: number
  readonly clipNorm: number | undefined
  /** Optimizer updates applied so far. */
  step = 0
  #micro = 0
  #forward: ForwardFn
  #params: Parameter[]
  #programs = new Map<string, Promise<Program>>()
  readonly #id = nextSessionId++
  readonly #constantWeights: boolean
  constructor(o: TrainSessionOptions) {
    validateOptimizer(o.optimizer)
    if (o.accumulation !== undefined && !(Number.isInteger(o.accumulation) && o.accumulation >= 1))
      throw new ConfigError('CONFIG_ACCUMULATION', `gradient accumulation must be a positive integer, got ${o.accumulation}`)
    this.model = o.model
    this.runtime = o.runtime
    this.optimizer = o.optimizer
    this.accumulation = o.accumulation ?? 1
    this.clipNorm = o.clipNorm
    this.#forward = o.forward
    this.#params = o.model.nameParameters()
    this.state.seed = o.seed ?? 0
    this.#constantWeights = o.constantWeights === true && !o.runtime.resident && this.#convolutional()
  }

  /** More than one 4-D weight: convolutions beyond a ViT's patch embedding, where constant weights pay. */
  #convolutional(): boolean {
    return this.#params.filter((p) => p.kind === 'param' && p.shape.length === 4).length > 1
  }

  /**
   * Runs a forward-only pass of `batches` batches (`pass` calls evaluate() on the session it is
   * given). On a convolutional network, a pass long enough to repay a compile
   * (CONSTANT_WEIGHTS_MIN_BATCHES) runs on a twin over the same model and forward whose graphs carry
   * today's weights as constants, released afterwards; a shorter one, another network (a ViT-B/16
   * gains nothing and compiles twice as long), a device, or a session whose weights are already
   * constants runs here.
   */
  async forwardPass<T>(batches: number, pass: (s: TrainSession) => Promise<T>): Promise<T> {
    if (this.#constantWeights || this.runtime.resident || batches < CONSTANT_WEIGHTS_MIN_BATCHES || !this.#convolutional()) return pass(this)
    const twin = new TrainSession({ runtime: this.runtime, model: this.model, forward: this.#forward, optimizer: this.optimizer, seed: this.state.seed, constantWeights: true })
    // whoever follows this session's evaluations (the trainer's progress) follows the pass
    twin.onEvaluate = this.onEvaluate
    try {
      return await pass(twin)
    } finally {
      await twin.dispose()
    }
  }

  /** Releases the runtime sessions of this session's graphs (a later call compiles them again). */
  async dispose(): Promise<void> {
    const keys = [...this.#programs.keys()]
    this.#programs.clear()
    for (const k of keys) await this.runtime.release(k)
  }

  /** Trainable parameters, split into optimizer groups. */
  groups(): ResolvedGroup[] {
    return resolveGroups(this.optimizer, this.#params.filter((p) => p.kind === 'param' && p.requiresGrad))
  }

  /**
   * One micro-batch: forward and backward; on the last micro-batch of an accumulation cycle also the
   * optimizer update. `lrFactor` scales every group's base learning rate (the schedule's value).
   */
  async trainStep(batch: Readonly<Record<string, HostTensor>>, lrFactor = 1): Promise<StepResult> {
    const k = this.accumulation
    const kind: Kind = k === 1 ? 'step' : this.#micro === 0 ? 'first' : this.#micro === k - 1 ? 'apply' : 'accum'
    const prog = await this.#program(kind, specOf(batch))
    const feeds: Record<string, HostTensor> = { ...batch }
    const update = kind === 'step' || kind === 'apply'
    const groups = this.groups()
    if (update) {
      const scal = stepScalars(this.optimizer, groups, groups.map((g) => g.lr * lrFactor), this.step + 1)
      for (const [n, v] of Object.entries(scal)) feeds[n] = scalarHost(v)
    }
    const out = await prog.run(this.state, feeds)
    this.#micro = update ? 0 : this.#micro + 1
    if (update) this.step++
    const loss = out['loss']
    const res: StepResult = { loss: loss ? (loss.data as Float32Array)[0]! : NaN, updated: update, outputs: pick(out, 'out.') }
    const gn = out['gradnorm']
    if (gn) res.gradNorm = (gn.data as Float32Array)[0]!
    return res
  }

  /**
   * Several optimizer updates in one runtime call: the step graph runs once per batch inside a Scan,
   * with parameters, optimizer state and buffers carried between iterations and only the per-step
   * loss, gradient norm and outputs coming back. Equal to one trainStep per batch, in order. The
   * batches must share their shapes (one length bucket); `lrFactors[k]` is step k's schedule value.
   */
  async trainSteps(batches: readonly Readonly<Record<string, HostTensor>>[], lrFactors: readonly number[]): Promise<StepResult[]> {
    const K = batches.length
    if (K === 0) return []
    if (lrFactors.length !== K) throw new RuntimeError('TRAIN_STEPS_LR', `internal: ${K} batches but ${lrFactors.length} learning-rate factors`)
    if (K === 1) return [await this.trainStep(batches[0]!, lrFactors[0])]
    if (this.runtime.resident) throw new ConfigError('CONFIG_STEPS_PER_RUN', `several steps per run use a Scan, which the ${this.runtime.provider} provider has no kernel for`, 'train one step per run (trainStep): the state stays on the device between runs')
    if (this.accumulation !== 1 || this.#micro !== 0)
      throw new ConfigError('CONFIG_STEPS_PER_RUN', `several steps per run need one micro-batch per update; gradient accumulation is ${this.accumulation}`, 'use --steps-per-run 1 with --grad-accum, or drop --grad-accum')
    const spec = specOf(batches[0]!)
    const sig = JSON.stringify(spec)
    batches.forEach((b, k) => {
      if (JSON.stringify(specOf(b)) !== sig) throw new RuntimeError('TRAIN_STEPS_SHAPES', `batch ${k} of a ${K}-step run has other input shapes than batch 0: ${JSON.stringify(specOf(b))} vs ${sig}`, 'group only batches of one length bucket into a run')
    })
    const prog = await this.#program('step', spec, K)
    const feeds: Record<string, HostTensor> = {}
    for (const [name, s] of Object.entries(spec)) feeds[name] = stackHost(batches.map((b) => b[name]!), s.shape, s.dtype)
    const groups = this.groups()
    const scal = lrFactors.map((f, k) => stepScalars(this.optimizer, groups, groups.map((g) => g.lr * f), this.step + k + 1))
    for (const n of Object.keys(scal[0]!)) feeds[n] = { data: Float32Array.from(scal, (s) => s[n]!), shape: [K], dtype: 'float32' }
    const out = await prog.run(this.state, feeds)
    this.step += K
    const loss = out['loss']
    const gn = out['gradnorm']
    const fetched = pick(out, 'out.')
    return batches.map((_, k) => {
      const r: StepResult = { loss: loss ? (loss.data as Float32Array)[k]! : NaN, updated: true, outputs: Object.fromEntries(Object.entries(fetched).map(([n, t]) => [n, sliceHost(t, k, K)])) }
      if (gn) r.gradNorm = (gn.data as Float32Array)[k]!
      return r
    })
  }

  /**
   * Told the batch size (the leading axis of the first input that has one) after each evaluate()
   * run; the trainer shows an evaluation's progress with it.
   */
  onEvaluate: ((examples: number) => void) | null = null

  /**
   * Tells `report` how many of `total` examples the following evaluate() runs have covered (0 at
   * once, then after each run, never past `total`); without a report, stops telling anyone.
   */
  countEvaluations(total: number, report: ((done: number, total: number) => void) | undefined): void {
    if (!report) {
      this.onEvaluate = null
      return
    }
    let done = 0
    report(0, total)
    this.onEvaluate = (n) => report((done = Math.min(total, done + n)), total)
  }

  /** No-grad forward in inference mode (dropout off, BatchNorm running statistics). */
  async evaluate(batch: Readonly<Record<string, HostTensor>>): Promise<{ loss?: number; outputs: Record<string, HostTensor> }> {
    const prog = await this.#program('eval', specOf(batch))
    const out = await prog.run(this.state, batch)
    if (this.onEvaluate) this.onEvaluate(Object.values(batch).find((t) => t.shape.length > 0)?.shape[0] ?? 1)
    const res: { loss?: number; outputs: Record<string, HostTensor> } = { outputs: pick(out, 'out.') }
    const loss = out['loss']
    if (loss) res.loss = (loss.data as Float32Array)[0]!
    return res
  }

  /** Number of distinct compiled graphs (one per kind and input-shape signature). */
  get compiledGraphs(): number {
    return this.#programs.size
  }

  #program(kind: Kind, spec: InputSpec, steps = 1): Promise<Program> {
    const trainable = this.#params.filter((p) => p.kind === 'param' && p.requiresGrad).map((p) => p.name)
    const key = `session${this.#id}:` + JSON.stringify([kind, spec, kind === 'eval' ? [] : trainable, currentStructureVersion(), ...(steps > 1 ? [steps] : [])])
    let p = this.#programs.get(key)
    // the runtime keeps a bounded number of sessions: one it released must be compiled again
    if (p && !this.runtime.has(key)) {
      this.#programs.delete(key)
      p = undefined
    }
    if (!p) {
      p = this.#build(kind, spec, key, steps)
      this.#programs.set(key, p)
      p.catch(() => this.#programs.delete(key))
    }
    return p
  }

  async #build(kind: Kind, spec: InputSpec, key: string, steps = 1): Promise<Program> {
    const g = new Graph()
    g.training = kind !== 'eval'
    const bindings = new Map<Tensor, InputBinding>()
    const outputs: { name: string; tensor: Tensor; bind: OutputBinding }[] = []
    withGraph(g, () => {
      const inputs: Record<string, Tensor> = {}
      for (const [name, s] of Object.entries(spec)) {
        inputs[name] = g.input(name, s.shape, s.dtype)
        bindings.set(inputs[name], { kind: 'feed', name })
      }
      const { loss, outputs: outs } = this.#forward(inputs, g)
      for (const [name, t] of Object.entries(outs ?? {})) outputs.push({ name: `out.${name}`, tensor: t, bind: { kind: 'fetch', name: `out.${name}` } })
      if (loss) outputs.push({ name: 'loss', tensor: loss, bind: { kind: 'fetch', name: 'loss' } })
      if (kind !== 'eval') {
        for (const [p, t] of g.stateUpdates) outputs.push({ name: `buf:${p.name}`, tensor: t, bind: { kind: 'param', param: p } })
        if (!loss) throw new RuntimeError('TRAIN_NO_LOSS', 'the forward function returned no loss to train on', 'return { loss } from the forward function')
        this.#emitBackward(kind, g, loss, bindings, outputs)
      }
    })
    for (const [p, t] of g.params) bindings.set(t, { kind: 'param', param: p })
    for (const t of g.inputs) {
      if (t.source.kind === 'input' && t.source.role === 'random') bindings.set(t, { kind: 'random', stream: Number(t.source.name.split('.')[1]) })
    }
    const baked = kind === 'eval' && this.#constantWeights ? new Map([...g.params].map(([p, t]) => [t, p.data] as const)) : undefined
    const lowered = lower({ outputs: outputs.map((o) => ({ name: o.name, tensor: o.tensor })), graphName: `finetune_${kind}`, ...(baked ? { initializers: baked } : {}) })
    const pin: ProgramInput[] = lowered.inputs.map((t) => {
      const b = bindings.get(t)
      if (!b) throw new RuntimeError('RUNTIME_BINDING', `internal: graph input ${t.source.kind === 'input' ? t.source.name : t.id} has no binding`)
      return { name: (t.source as { name: string }).name, shape: t.shape, dtype: t.dtype, bind: b }
    })
    const pout: ProgramOutput[] = outputs.map((o) => ({ name: o.name, shape: o.tensor.shape, dtype: o.tensor.dtype, bind: o.bind }))
    const rt = this.runtime
    const residency = rt.resident ? { device: rt.provider, upload: (t: readonly HostTensor[]) => rt.upload(t), download: (t: readonly OrtTensor[]) => rt.download(t) } : undefined
    if (steps === 1) return new Program(await rt.session(key, () => lowered.model, Program.deviceOutputs(pout)), pin, pout, 1, residency)
    const scan = scanProgram(lowered.model, pin, pout, steps)
    return new Program(await rt.session(key, () => scan.model, Program.deviceOutputs(scan.outputs)), scan.inputs, scan.outputs, steps, residency)
  }

  #emitBackward(kind: Kind, g: Graph, loss: Tensor, bindings: Map<Tensor, InputBinding>, outputs: { name: string; tensor: Tensor; bind: OutputBinding }[]): void {
    const groups = this.groups()
    const params = groups.flatMap((gr) => gr.params)
    if (params.length === 0) throw new ConfigError('TRAIN_NOTHING_TRAINABLE', 'every parameter is frozen, so there is nothing to train', 'unfreeze at least the head')
    const pt = params.map((p) => g.param(p))
    const gs = grad(loss, pt)
    let grads = new Map<Parameter, Tensor>()
    params.forEach((p, i) => {
      const d = gs[i]
      if (d) grads.set(p, d)
    })
    const stateInput = (key: string, shape: readonly number[]): Tensor => {
      const t = g.input(key, shape, 'float32', 'state')
      bindings.set(t, { kind: 'state', key })
      return t
    }
    const k = this.accumulation
    if (kind === 'first' || kind === 'accum') {
      for (const [p, d] of grads) {
        const key = `grad.${p.name}`
        const acc = kind === 'first' ? d : stateInput(key, p.shape).add(d)
        outputs.push({ name: `state:${key}`, tensor: acc, bind: { kind: 'state', key } })
      }
      return
    }
    if (kind === 'apply') {
      const sum = new Map<Parameter, Tensor>()
      for (const [p, d] of grads) sum.set(p, stateInput(`grad.${p.name}`, p.shape).add(d).mul(1 / k))
      grads = sum
    }
    const clipped = clipByGlobalNorm(g, grads, this.clipNorm ?? Infinity)
    outputs.push({ name: 'gradnorm', tensor: clipped.norm, bind: { kind: 'fetch', name: 'gradnorm' } })
    const scalars = new Map<string, Tensor>()
    const scalar = (name: string): Tensor => {
      let t = scalars.get(name)
      if (!t) {
        t = g.input(name, [], 'float32', 'scalar')
        bindings.set(t, { kind: 'feed', name })
        scalars.set(name, t)
      }
      return t
    }
    const upd = emitUpdates(g, this.optimizer, groups, clipped.grads, (key, p) => stateInput(key, p.shape), scalar)
    for (const [p, t] of upd.params) outputs.push({ name: `upd:${p.name}`, tensor: t, bind: { kind: 'param', param: p } })
    for (const [key, t] of upd.state) outputs.push({ name: `state:${key}`, tensor: t, bind: { kind: 'state', key } })
  }

  /**
   * Copies parameters, buffers and optimizer state that a resident provider (WebGPU) updated in
   * device memory back to the host; until then reading `Parameter.data` is an error.
   */
  async syncToHost(): Promise<void> {
    await this.state.syncToHost()
  }

  /** syncToHost, then frees the device memory the state held (a later step uploads it again). */
  async releaseDevice(): Promise<void> {
    await this.state.releaseDevice()
  }

  /**
   * Everything a resumed run needs: parameters and buffers under their checkpoint names, optimizer
   * and accumulation buffers under their state keys, and the counters. Arrays are copies.
   */
  async exportState(): Promise<TrainState> {
    await this.syncToHost()
    const tensors: Record<string, { shape: readonly number[]; data: Float32Array }> = {}
    for (const p of this.#params) tensors[p.name] = { shape: p.shape, data: p.data.slice() }
    const byName = new Map(this.#params.map((p) => [p.name, p]))
    for (const [k, v] of this.state.buffers) {
      // optim.<param>.<slot> and grad.<param> have their parameter's shape
      const pname = k.startsWith('grad.') ? k.slice(5) : k.replace(/^optim\./, '').replace(/\.[^.]+$/, '')
      const p = byName.get(pname)
      tensors[k] = { shape: p && p.data.length === v.length ? p.shape : [v.length], data: v.slice() }
    }
    return { tensors, step: this.step, micro: this.#micro, randomCounter: this.state.randomCounter, seed: this.state.seed, moments: 'scaled' }
  }

  /** Restores what exportState produced; every parameter must be present with its shape. */
  importState(s: TrainState): void {
    const missing: string[] = []
    for (const p of this.#params) {
      const t = s.tensors[p.name]
      if (!t) {
        missing.push(p.name)
        continue
      }
      if (t.data.length !== p.data.length) throw new ConfigError('STATE_SHAPE', `saved state "${p.name}" has ${t.data.length} values, the model needs ${p.data.length} (shape [${p.shape}])`, 'resume with the same model configuration')
      p.data = t.data.slice()
    }
    if (missing.length) throw new ConfigError('STATE_MISSING', `saved state lacks ${missing.length} parameter(s): ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', ...' : ''}`, 'resume with the same model configuration')
    this.state.buffers.clear()
    this.state.dropDeviceBuffers()
    for (const [k, t] of Object.entries(s.tensors)) {
      if (!k.startsWith('optim.') && !k.startsWith('grad.')) continue
      const scale = s.moments === 'torch' ? stateScale(this.optimizer, k) : 1
      this.state.buffers.set(k, scale === 1 ? t.data.slice() : t.data.map((x) => x / scale))
    }
    this.step = s.step
    this.#micro = s.micro
    this.state.randomCounter = s.randomCounter
    this.state.seed = s.seed
  }

  /** Bytes a training run carries and fetches back: trainable parameters and their optimizer state. */
  carriedBytes(): number {
    const params = this.groups().flatMap((gr) => gr.params)
    const slots = params.length ? this.optimizerStateKeys().length / params.length : 0
    return params.reduce((n, p) => n + size(p.shape), 0) * 4 * (1 + slots)
  }

  /** Optimizer buffer names for the current trainable parameters. */
  optimizerStateKeys(): string[] {
    return this.groups().flatMap((gr) => gr.params.flatMap((p) => stateKeys(this.optimizer, p)))
  }
}

function specOf(batch: Readonly<Record<string, HostTensor>>): InputSpec {
  const s: Record<string, { shape: readonly number[]; dtype: DType }> = {}
  for (const k of Object.keys(batch).sort()) s[k] = { shape: [...batch[k]!.shape], dtype: batch[k]!.dtype }
  return s
}

function pick(o: Record<string, HostTensor>, prefix: string): Record<string, HostTensor> {
  const r: Record<string, HostTensor> = {}
  for (const [k, v] of Object.entries(o)) if (k.startsWith(prefix)) r[k.slice(prefix.length)] = v
  return r
}

/** Batches of one shape stacked along a new leading axis: [K, ...shape]. */
function stackHost(ts: readonly HostTensor[], shape: readonly number[], dtype: DType): HostTensor {
  const n = ts[0]!.data.length
  const data = dtype === 'int64' ? new BigInt64Array(n * ts.length) : dtype === 'float32' ? new Float32Array(n * ts.length) : new Uint8Array(n * ts.length)
  ts.forEach((t, k) => (data as Float32Array).set(t.data as Float32Array, k * n))
  return { data, shape: [ts.length, ...shape], dtype }
}

/** Step k of a [K, ...] output, as a view. */
function sliceHost(t: HostTensor, k: number, K: number): HostTensor {
  const n = t.data.length / K
  return { data: t.data.subarray(k * n, (k + 1) * n), shape: t.shape.slice(1), dtype: t.dtype }
}

/**
 * The step graph as a K-step Scan: parameters, buffers and optimizer state it updates are carried;
 * batch inputs, step scalars and random bytes are scanned; fetched values are stacked. Parameters
 * it only reads (frozen ones) stay outer inputs the body reads in place.
 */
function scanProgram(model: ModelProtoObj, pin: readonly ProgramInput[], pout: readonly ProgramOutput[], K: number): { model: ModelProtoObj; inputs: ProgramInput[]; outputs: ProgramOutput[] } {
  const same = (a: InputBinding, b: OutputBinding): boolean => (a.kind === 'param' && b.kind === 'param' && a.param === b.param) || (a.kind === 'state' && b.kind === 'state' && a.key === b.key)
  const carried = pout.filter((o) => o.bind.kind !== 'fetch').map((o) => {
    const i = pin.find((x) => same(x.bind, o.bind))
    const input = i?.name ?? (o.bind.kind === 'param' ? o.bind.param.name : (o.bind as { key: string }).key)
    return { input, output: o.name, init: `init:${input}`, final: `final:${o.name}`, o }
  })
  const carriedIn = new Set(carried.map((c) => c.input))
  const scanned = pin.filter((i) => i.bind.kind === 'feed' || i.bind.kind === 'random')
  const stacked = pout.filter((o) => o.bind.kind === 'fetch')
  const scan = scanSteps(model, {
    steps: K,
    carried,
    scanned: scanned.map((i) => ({ input: i.name, outer: `steps:${i.name}` })),
    stacked: stacked.map((o) => ({ output: o.name, outer: `steps:${o.name}` })),
  })
  const inputs: ProgramInput[] = [
    ...carried.map((c) => ({ name: c.init, shape: c.o.shape, dtype: c.o.dtype, bind: c.o.bind as InputBinding })),
    ...scanned.map((i) => ({ ...i, name: `steps:${i.name}`, shape: [K, ...i.shape] })),
    ...pin.filter((i) => !carriedIn.has(i.name) && i.bind.kind !== 'feed' && i.bind.kind !== 'random'),
  ]
  const outputs: ProgramOutput[] = [...carried.map((c) => ({ ...c.o, name: c.final })), ...stacked.map((o) => ({ ...o, name: `steps:${o.name}`, shape: [K, ...o.shape] }))]
  return { model: scan, inputs, outputs }
}
