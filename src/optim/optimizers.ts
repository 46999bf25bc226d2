/**
 * Optimizers as in-graph update rules. The learning rate of each parameter group and the Adam bias
 * corrections are scalar inputs computed on the host each step, so a schedule never rebuilds a graph.
 * Semantics follow torch.optim: SGD (momentum, dampening, Nesterov, L2 decay), Adam (L2 decay),
 * AdamW (decoupled decay).
 */
import { ConfigError } from '../errors.js'
import { concat, type Graph, type Parameter, type Tensor } from '../graph/graph.js'

export type OptimizerConfig =
  | { kind: 'sgd'; lr: number; momentum?: number; dampening?: number; nesterov?: boolean; weightDecay?: number; groups?: ParamGroup[] }
  | { kind: 'adam' | 'adamw'; lr: number; betas?: [number, number]; eps?: number; weightDecay?: number; groups?: ParamGroup[] }

/** Parameters matched by `match` (a name prefix, a RegExp or a predicate) get their own settings. */
export interface ParamGroup {
  name?: string
  match: string | RegExp | ((p: Parameter) => boolean)
  /** Learning rate for this group (defaults to the optimizer's `lr` times `lrScale`). */
  lr?: number
  lrScale?: number
  weightDecay?: number
}

export interface ResolvedGroup {
  name: string
  lr: number
  weightDecay: number
  params: Parameter[]
}

const defaults = { momentum: 0, dampening: 0, betas: [0.9, 0.999] as [number, number], eps: 1e-8 }

/** Default weight decay: AdamW 0.01 as torch, others 0. */
export function defaultWeightDecay(c: OptimizerConfig): number {
  return c.weightDecay ?? (c.kind === 'adamw' ? 0.01 : 0)
}

export function validateOptimizer(c: OptimizerConfig): void {
  const bad = (m: string): never => {
    throw new ConfigError('CONFIG_OPTIMIZER', `optimizer ${c.kind}: ${m}`)
  }
  if (!(c.lr >= 0) || !Number.isFinite(c.lr)) bad(`lr must be a non-negative number, got ${c.lr}`)
  if (c.kind === 'sgd') {
    if (c.nesterov && !((c.momentum ?? 0) > 0 && (c.dampening ?? 0) === 0)) bad('Nesterov momentum needs momentum > 0 and dampening 0')
  } else {
    const [b1, b2] = c.betas ?? defaults.betas
    if (!(b1 >= 0 && b1 < 1 && b2 >= 0 && b2 < 1)) bad(`betas must be in [0, 1), got [${b1}, ${b2}]`)
  }
}

/**
 * Splits trainable parameters into groups. Parameters with `decay=false` (biases, norm weights) get
 * no weight decay, as HF Trainer does by default.
 */
export function resolveGroups(c: OptimizerConfig, params: readonly Parameter[]): ResolvedGroup[] {
  const wd = defaultWeightDecay(c)
  const spec = c.groups ?? []
  const out: ResolvedGroup[] = spec.map((g, i) => ({ name: g.name ?? `group${i}`, lr: g.lr ?? c.lr * (g.lrScale ?? 1), weightDecay: g.weightDecay ?? wd, params: [] }))
  const base: ResolvedGroup = { name: 'default', lr: c.lr, weightDecay: wd, params: [] }
  const match = (g: ParamGroup, p: Parameter): boolean =>
    typeof g.match === 'string' ? p.name === g.match || p.name.startsWith(g.match.endsWith('.') ? g.match : `${g.match}.`) : g.match instanceof RegExp ? g.match.test(p.name) : g.match(p)
  for (const p of params) {
    const i = spec.findIndex((g) => match(g, p))
    ;(i >= 0 ? out[i]! : base).params.push(p)
  }
  return [base, ...out].filter((g) => g.params.length > 0)
}

/** Scalar inputs the update reads, computed on the host per step. */
export interface StepScalars {
  [name: string]: number
}

/** Host-side scalars for step `t` (1-based) with per-group learning rates `lrs`. */
export function stepScalars(c: OptimizerConfig, groups: readonly ResolvedGroup[], lrs: readonly number[], t: number): StepScalars {
  const s: StepScalars = {}
  groups.forEach((g, i) => {
    const lr = lrs[i]!
    if (c.kind === 'adam' || c.kind === 'adamw') {
      const [b1, b2] = c.betas ?? defaults.betas
      // torch: p -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps). The graph keeps M = m/(1-b1) and
      // V = v/(1-b2) (two fewer passes per step, see emitUpdates), so with s2 = sqrt(1-b2):
      // p -= (lr*sqrt(bc2)*(1-b1)/(bc1*s2)) * M / (sqrt(V) + eps*sqrt(bc2)/s2)
      const sbc2 = Math.sqrt(1 - b2 ** t)
      const s2 = Math.sqrt(1 - b2)
      s[`opt.${i}.alpha`] = (lr * sbc2 * (1 - b1)) / ((1 - b1 ** t) * s2)
      s[`opt.${i}.eps`] = ((c.eps ?? defaults.eps) * sbc2) / s2
      s[`opt.${i}.decay`] = c.kind === 'adamw' ? 1 - lr * g.weightDecay : 1
    } else {
      s[`opt.${i}.lr`] = lr
      // torch starts the momentum buffer at the first gradient, undampened
      const damp = c.kind === 'sgd' ? (c.dampening ?? 0) : 0
      if (damp !== 0) s[`opt.${i}.damp`] = t === 1 ? 1 : 1 - damp
    }
  })
  return s
}

export interface UpdateOutputs {
  params: Map<Parameter, Tensor>
  state: Map<string, Tensor>
}

/** Names of the resident buffers an optimizer keeps per parameter. */
export function stateKeys(c: OptimizerConfig, p: Parameter): string[] {
  if (c.kind === 'sgd') return (c.momentum ?? 0) > 0 ? [`optim.${p.name}.momentum_buffer`] : []
  return [`optim.${p.name}.exp_avg`, `optim.${p.name}.exp_avg_sq`]
}

/**
 * Factor from a resident buffer's in-graph scale to torch.optim's semantics: Adam keeps its moments
 * divided by (1 - beta), so that M' = beta*M + g needs one multiply fewer than
 * m' = beta*m + (1 - beta)*g. importState divides states saved in torch's form by it.
 */
export function stateScale(c: OptimizerConfig, key: string): number {
  if (c.kind === 'sgd' || !key.startsWith('optim.')) return 1
  const [b1, b2] = c.betas ?? defaults.betas
  return key.endsWith('.exp_avg') ? 1 - b1 : key.endsWith('.exp_avg_sq') ? 1 - b2 : 1
}

/**
 * Parameters of at most this many values are updated together: per group and weight-decay setting,
 * their gradients, values and optimizer state are concatenated into one flat tensor, the update runs
 * once on it, and Splits hand each parameter its part (PyTorch's foreach/fused optimizers batch the
 * same way). AdamW is 11 elementwise ops per parameter; on a bias or a norm weight each costs its
 * per-op overhead, not its data (ResNet-18 has 41 such parameters, 451 ops a step, BENCHMARKS.md).
 */
export const PACK_MAX_NUMEL = 16384

const numel = (p: Parameter): number => p.shape.reduce((a, b) => a * b, 1)

/**
 * Emits the update of each parameter. `state(key, p)` returns the graph input for a resident buffer,
 * `scalar(name)` a float scalar input. Small parameters are updated packed (PACK_MAX_NUMEL); the
 * values are the same as one update each, elementwise.
 */
export function emitUpdates(
  g: Graph,
  c: OptimizerConfig,
  groups: readonly ResolvedGroup[],
  grads: ReadonlyMap<Parameter, Tensor>,
  state: (key: string, p: Parameter) => Tensor,
  scalar: (name: string) => Tensor,
  opts: { packMaxNumel?: number } = {},
): UpdateOutputs {
  const packMax = opts.packMaxNumel ?? PACK_MAX_NUMEL
  const params = new Map<Parameter, Tensor>()
  const newState = new Map<string, Tensor>()
  /** The update of one parameter, or of several packed into one flat tensor; `st(i)` is its i-th state buffer. */
  const update = (gi: number, w: Tensor, gr: Tensor, wd: number, st: (i: number) => Tensor): { param: Tensor; state: Tensor[] } => {
    if (c.kind === 'sgd') {
      const mom = c.momentum ?? defaults.momentum
      const damp = c.dampening ?? defaults.dampening
      let d = wd ? gr.add(w.mul(wd)) : gr
      const out: Tensor[] = []
      if (mom > 0) {
        // torch initialises the buffer to the first gradient: with a zero buffer that is momentum*0 + grad
        const buf = st(0).mul(mom).add(damp ? d.mul(scalar(`opt.${gi}.damp`)) : d)
        out.push(buf)
        d = c.nesterov ? d.add(buf.mul(mom)) : buf
      }
      return { param: w.sub(d.mul(scalar(`opt.${gi}.lr`))), state: out }
    }
    const [b1, b2] = c.betas ?? defaults.betas
    const d = c.kind === 'adam' && wd ? gr.add(w.mul(wd)) : gr
    // moments scaled by 1/(1-b1) and 1/(1-b2) (stateScale); the scalars absorb the factors
    const m = st(0).mul(b1).add(d)
    const v = st(1).mul(b2).add(d.square())
    const denom = v.sqrt().add(scalar(`opt.${gi}.eps`))
    const step = m.div(denom).mul(scalar(`opt.${gi}.alpha`))
    const base = c.kind === 'adamw' && wd ? w.mul(scalar(`opt.${gi}.decay`)) : w
    return { param: base.sub(step), state: [m, v] }
  }
  groups.forEach((grp, gi) => {
    const packs = new Map<number, Parameter[]>()
    for (const p of grp.params) {
      const gr = grads.get(p)
      if (!gr) continue
      const wd = p.decay ? grp.weightDecay : 0
      if (numel(p) <= packMax) {
        const pack = packs.get(wd) ?? []
        pack.push(p)
        packs.set(wd, pack)
        continue
      }
      const keys = stateKeys(c, p)
      const u = update(gi, g.param(p), gr, wd, (i) => state(keys[i]!, p))
      params.set(p, u.param)
      u.state.forEach((t, i) => newState.set(keys[i]!, t))
    }
    for (const [wd, ps] of packs) {
      const join = (f: (p: Parameter) => Tensor): Tensor => concat(ps.map((p) => f(p).reshape([numel(p)])))
      const u = update(gi, join((p) => g.param(p)), join((p) => grads.get(p)!), wd, (i) => join((p) => state(stateKeys(c, p)[i]!, p)))
      const sizes = ps.map(numel)
      const parts = (t: Tensor): Tensor[] => t.split(sizes, 0).map((x, j) => x.reshape(ps[j]!.shape))
      parts(u.param).forEach((t, j) => params.set(ps[j]!, t))
      u.state.forEach((t, i) => parts(t).forEach((x, j) => newState.set(stateKeys(c, ps[j]!)[i]!, x)))
    }
  })
  return { params, state: newState }
}

/** Scales gradients so their global L2 norm is at most `maxNorm` (torch.nn.utils.clip_grad_norm_). */
export function clipByGlobalNorm(g: Graph, grads: Map<Parameter, Tensor>, maxNorm: number): { grads: Map<Parameter, Tensor>; norm: Tensor } {
  let total: Tensor | null = null
  for (const t of grads.values()) {
    const s = t.sumSquares()
    total = total ? total.add(s) : s
  }
  const norm = total ? total.sqrt() : g.scalar(0)
  if (!Number.isFinite(maxNorm)) return { grads, norm }
  const coef = norm.add(1e-6).reciprocal().mul(maxNorm).minimum(1)
  const out = new Map<Parameter, Tensor>()
  for (const [p, t] of grads) out.set(p, t.mul(coef))
  return { grads: out, norm }
}
