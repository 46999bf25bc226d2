/**
 * Building blocks shared by the model families, with PyTorch's parameter names and default
 * initialisations (so a fresh layer matches torch.nn statistically and checkpoints map 1:1).
 */
import { Parameter, type Tensor } from '../graph/graph.js'
import { markStructureChanged, Module } from '../graph/module.js'
import * as nn from '../graph/nn.js'
import { Rng } from '../runtime/rng.js'

/** A deterministic source of initial weights; every layer takes one so models are reproducible. */
export type Init = Rng

export function uniform(p: Parameter, rng: Init, bound: number): Parameter {
  for (let i = 0; i < p.data.length; i++) p.data[i] = (rng.next() * 2 - 1) * bound
  return p
}

export function normal(p: Parameter, rng: Init, std: number, mean = 0): Parameter {
  for (let i = 0; i < p.data.length; i++) p.data[i] = mean + rng.normal() * std
  return p
}

export function fill(p: Parameter, v: number): Parameter {
  p.data.fill(v)
  return p
}

export class Linear extends Module {
  weight: Parameter
  bias: Parameter | null
  /** torch.nn.Linear init: U(-1/sqrt(in), 1/sqrt(in)) for weight and bias. */
  constructor(readonly inFeatures: number, readonly outFeatures: number, rng: Init, opts: { bias?: boolean } = {}) {
    super()
    const bound = 1 / Math.sqrt(inFeatures)
    this.weight = uniform(new Parameter([outFeatures, inFeatures]), rng, bound)
    this.bias = opts.bias === false ? null : uniform(new Parameter([outFeatures], { decay: false }), rng, bound)
  }
  forward(x: Tensor): Tensor {
    return nn.linear(x, this.weight, this.bias)
  }
}

/**
 * Keras' Normalization layer: (x - mean) / std per feature, with the statistics `adapt`ed once on
 * training data and kept as buffers (saved with the model, never trained). Identity until adapted.
 * A head on raw features of a pre-trained network (means of 10, spreads of 5-10) trains slowly and
 * unevenly with a learning rate that suits standardised inputs.
 */
export class Standardize extends Module {
  mean: Parameter
  std: Parameter
  constructor(readonly size: number) {
    super()
    this.mean = new Parameter([size], { kind: 'buffer' })
    this.std = fill(new Parameter([size], { kind: 'buffer' }), 1)
  }
  /** Sets mean and std from `n` rows of `size` values (population statistics); a constant feature keeps std 1. */
  adapt(rows: Float32Array, n: number): void {
    if (n < 1 || rows.length < n * this.size) throw new RangeError(`adapt needs ${n} x ${this.size} values, got ${rows.length}`)
    const F = this.size
    for (let j = 0; j < F; j++) {
      let s = 0
      for (let i = 0; i < n; i++) s += rows[i * F + j]!
      const m = s / n
      let v = 0
      for (let i = 0; i < n; i++) v += (rows[i * F + j]! - m) ** 2
      const sd = Math.sqrt(v / n)
      this.mean.data[j] = m
      this.std.data[j] = sd > 1e-6 * Math.max(1, Math.abs(m)) ? sd : 1
    }
  }
  /** Back to the identity. */
  reset(): void {
    this.mean.data.fill(0)
    this.std.data.fill(1)
  }
  forward(x: Tensor): Tensor {
    return x.sub(this.mean).div(this.std)
  }
}

export class LayerNorm extends Module {
  weight: Parameter
  bias: Parameter | null
  constructor(readonly size: number, readonly eps = 1e-5, opts: { bias?: boolean } = {}) {
    super()
    this.weight = fill(new Parameter([size], { decay: false }), 1)
    this.bias = opts.bias === false ? null : new Parameter([size], { decay: false })
  }
  forward(x: Tensor): Tensor {
    return nn.layerNorm(x, this.weight, this.bias, this.eps)
  }
}

export class Embedding extends Module {
  weight: Parameter
  /** torch.nn.Embedding init: N(0, 1). Model families usually re-initialise with their own std. */
  constructor(readonly num: number, readonly dim: number, rng: Init, std = 1) {
    super()
    this.weight = normal(new Parameter([num, dim]), rng, std)
  }
  forward(ids: Tensor): Tensor {
    return nn.embedding(ids, this.weight)
  }
}

export interface Conv2dConfig extends nn.Conv2dOptions {
  bias?: boolean
}

export class Conv2d extends Module {
  weight: Parameter
  bias: Parameter | null
  readonly opts: nn.Conv2dOptions
  /** torch.nn.Conv2d init (kaiming_uniform with a=sqrt(5)): U(-1/sqrt(fanIn), 1/sqrt(fanIn)). */
  constructor(inC: number, outC: number, kernel: number | [number, number], rng: Init, c: Conv2dConfig = {}) {
    super()
    const [kh, kw] = typeof kernel === 'number' ? [kernel, kernel] : kernel
    const groups = c.groups ?? 1
    const fanIn = (inC / groups) * kh * kw
    const bound = 1 / Math.sqrt(fanIn)
    this.weight = uniform(new Parameter([outC, inC / groups, kh, kw]), rng, bound)
    this.bias = c.bias === false ? null : uniform(new Parameter([outC], { decay: false }), rng, bound)
    const { bias: _b, ...opts } = c
    this.opts = opts
  }
  forward(x: Tensor): Tensor {
    return nn.conv2d(x, this.weight, this.bias, this.opts)
  }
}

export class BatchNorm2d extends Module {
  weight: Parameter
  bias: Parameter
  running_mean: Parameter
  running_var: Parameter
  num_batches_tracked: Parameter
  /** Use running statistics even in training graphs (BatchNorm frozen in inference mode). */
  _frozenStats = false
  /** Keeps BatchNorm in inference mode while the rest trains (the usual advice for small data sets). */
  freezeStats(flag = true): this {
    this._frozenStats = flag
    markStructureChanged()
    return this
  }
  constructor(readonly channels: number, readonly eps = 1e-5, readonly momentum = 0.1) {
    super()
    this.weight = fill(new Parameter([channels], { decay: false }), 1)
    this.bias = new Parameter([channels], { decay: false })
    this.running_mean = new Parameter([channels], { kind: 'buffer' })
    this.running_var = fill(new Parameter([channels], { kind: 'buffer' }), 1)
    // torchvision state dicts carry this int64 counter; kept so checkpoints round-trip.
    this.num_batches_tracked = new Parameter([], { kind: 'buffer' })
  }
  forward(x: Tensor): Tensor {
    if (x.graph.training && !this._frozenStats) x.graph.setState(this.num_batches_tracked, x.graph.param(this.num_batches_tracked).add(1))
    return nn.batchNorm(
      x,
      { weight: this.weight, bias: this.bias, runningMean: this.running_mean, runningVar: this.running_var, momentum: this.momentum, eps: this.eps },
      this._frozenStats,
    )
  }
}

/** Multi-layer perceptron with ReLU/GELU between layers; used by the demo, tests and benchmarks. */
export class MLP extends Module {
  layers: Linear[]
  constructor(sizes: readonly number[], rng: Init, readonly act: (x: Tensor) => Tensor = nn.relu) {
    super()
    this.layers = sizes.slice(1).map((n, i) => new Linear(sizes[i]!, n, rng))
  }
  forward(x: Tensor): Tensor {
    let h = x
    this.layers.forEach((l, i) => {
      h = l.forward(h)
      if (i < this.layers.length - 1) h = this.act(h)
    })
    return h
  }
}

export { Rng }

/** torch.nn.GroupNorm: `groups` groups over the channels, affine weight 1 and bias 0 at init. */
export class GroupNorm extends Module {
  weight: Parameter
  bias: Parameter
  constructor(readonly groups: number, readonly channels: number, readonly eps = 1e-5) {
    super()
    this.weight = fill(new Parameter([channels], { decay: false }), 1)
    this.bias = new Parameter([channels], { decay: false })
  }
  forward(x: Tensor): Tensor {
    return nn.groupNorm(x, this.groups, this.weight, this.bias, this.eps)
  }
}
