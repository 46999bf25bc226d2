/**
 * The compiled training step: forward, backward and optimizer update traced into one graph, run by
 * ONNX Runtime with parameters and optimizer state resident between steps. One TrainSession owns
 * that state; it builds a graph per input-shape signature and reuses it.
 */
import { grad } from '../autodiff/grad.js'
import { ConfigError, RuntimeError } from '../errors.js'
import type { DType } from '../graph/dtype.js'
import { Graph, withGraph, type Parameter, type Tensor } from '../graph/graph.js'
import { currentStructureVersion, type Module } from '../graph/module.js'
import { lower } from '../onnx/lower.js'
import { clipByGlobalNorm, emitUpdates, resolveGroups, stateKeys, stateScale, stepScalars, validateOptimizer, type OptimizerConfig, type ResolvedGroup } from '../optim/optimizers.js'
import { Program, ResidentState, type InputBinding, type OutputBinding, type ProgramInput, type ProgramOutput } from '../runtime/program.js'
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

  /** No-grad forward in inference mode (dropout off, BatchNorm running statistics). */
  async evaluate(batch: Readonly<Record<string, HostTensor>>): Promise<{ loss?: number; outputs: Record<string, HostTensor> }> {
    const prog = await this.#program('eval', specOf(batch))
    const out = await prog.run(this.state, batch)
    const res: { loss?: number; outputs: Record<string, HostTensor> } = { outputs: pick(out, 'out.') }
    const loss = out['loss']
    if (loss) res.loss = (loss.data as Float32Array)[0]!
    return res
  }

  /** Number of distinct compiled graphs (one per kind and input-shape signature). */
  get compiledGraphs(): number {
    return this.#programs.size
  }

  #program(kind: Kind, spec: InputSpec): Promise<Program> {
    const trainable = this.#params.filter((p) => p.kind === 'param' && p.requiresGrad).map((p) => p.name)
    const key = `session${this.#id}:` + JSON.stringify([kind, spec, kind === 'eval' ? [] : trainable, currentStructureVersion()])
    let p = this.#programs.get(key)
    // the runtime keeps a bounded number of sessions: one it released must be compiled again
    if (p && !this.runtime.has(key)) {
      this.#programs.delete(key)
      p = undefined
    }
    if (!p) {
      p = this.#build(kind, spec, key)
      this.#programs.set(key, p)
      p.catch(() => this.#programs.delete(key))
    }
    return p
  }

  async #build(kind: Kind, spec: InputSpec, key: string): Promise<Program> {
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
    const lowered = lower({ outputs: outputs.map((o) => ({ name: o.name, tensor: o.tensor })), graphName: `finetune_${kind}` })
    const session = await this.runtime.session(key, () => lowered.bytes())
    const pin: ProgramInput[] = lowered.inputs.map((t) => {
      const b = bindings.get(t)
      if (!b) throw new RuntimeError('RUNTIME_BINDING', `internal: graph input ${t.source.kind === 'input' ? t.source.name : t.id} has no binding`)
      return { name: (t.source as { name: string }).name, shape: t.shape, dtype: t.dtype, bind: b }
    })
    const pout: ProgramOutput[] = outputs.map((o) => ({ name: o.name, shape: o.tensor.shape, dtype: o.tensor.dtype, bind: o.bind }))
    return new Program(session, pin, pout)
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
   * Everything a resumed run needs: parameters and buffers under their checkpoint names, optimizer
   * and accumulation buffers under their state keys, and the counters. Arrays are copies.
   */
  exportState(): TrainState {
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
    this.state.dropSpares()
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
