/**
 * What the image and audio classification runners share: evaluation of a single-label classifier
 * (argmax predictions and the example-weighted eval loss over batches, then the reported metrics),
 * and the frozen method (only the head trains; its batches are rows of cached backbone features,
 * which evaluation also runs the head over).
 */
import type { Module } from '../graph/module.js'
import { epochOrder } from '../data/order.js'
import type { HostTensor } from '../runtime/session.js'
import { classificationMetrics, reportedClassificationMetrics } from './metrics.js'
import type { TrainSession } from './step.js'
import type { TrainBatch } from './trainer.js'

export class ClassificationTally {
  readonly #preds: number[] = []
  readonly #gold: number[] = []
  #lossSum = 0
  #n = 0
  constructor(readonly labels: readonly string[]) {}

  /** One batch: logits (B x L, row-major), int64 labels, the batch's mean loss. */
  add(logits: Float32Array, labels: BigInt64Array, loss: number | undefined): void {
    const L = this.labels.length
    for (let k = 0; k < labels.length; k++) {
      let best = 0
      for (let j = 1; j < L; j++) if (logits[k * L + j]! > logits[k * L + best]!) best = j
      this.#preds.push(best)
      this.#gold.push(Number(labels[k]))
    }
    this.#lossSum += (loss ?? 0) * labels.length
    this.#n += labels.length
  }

  /** eval_loss and accuracy, macro F1, per-class F1. */
  result(): Record<string, number> {
    return { eval_loss: this.#lossSum / Math.max(this.#n, 1), ...reportedClassificationMetrics(classificationMetrics(this.#preds, this.#gold, this.labels)) }
  }
}

/** Runs a head session (inputs `features`, `labels`) over `n` cached feature rows of width F, in batches of `bs`. */
export async function tallyFeatureBatches(session: TrainSession, tally: ClassificationTally, f: Float32Array, l: BigInt64Array, n: number, F: number, bs: number): Promise<void> {
  for (let s = 0; s < n; s += bs) {
    const e = Math.min(n, s + bs)
    const labels = l.slice(s, e)
    const r = await session.evaluate({ features: { data: f.slice(s * F, e * F), shape: [e - s, F], dtype: 'float32' }, labels: { data: labels, shape: [e - s], dtype: 'int64' } })
    tally.add(r.outputs['logits']!.data as Float32Array, labels, r.loss)
  }
}

/** Tallies the session's logits over batches of a split (`feedsOf` gives a batch's inputs and int64 labels). */
export async function tallyBatches<B extends { labels: BigInt64Array }>(session: TrainSession, tally: ClassificationTally, batches: AsyncIterable<B>, feedsOf: (b: B) => Record<string, HostTensor>): Promise<void> {
  for await (const b of batches) {
    const r = await session.evaluate(feedsOf(b))
    tally.add(r.outputs['logits']!.data as Float32Array, b.labels, r.loss)
  }
}

/** The frozen method: every parameter frozen but the head's (those under one of `headPrefixes`). */
export function trainHeadOnly(m: Module & { headPrefixes: readonly string[] }): void {
  m.requiresGrad(false)
  for (const [n, p] of m.namedParameters()) if (p.kind === 'param' && m.headPrefixes.some((h) => n === h || n.startsWith(`${h}.`))) p.requiresGrad = true
}

/**
 * The frozen method's training batches of one epoch from batch `start`: `n` cached feature rows of
 * width F (and their labels) in the epoch's seeded order, fed as `features` and `labels`.
 */
export function* featureBatches(f: Float32Array, l: BigInt64Array, n: number, F: number, batchSize: number, seed: number, epoch: number, start: number): Generator<TrainBatch> {
  const order = epochOrder(n, seed, epoch)
  const batches = Math.ceil(n / batchSize)
  for (let b = start; b < batches; b++) {
    const ix = order.subarray(b * batchSize, Math.min(order.length, (b + 1) * batchSize))
    const feats = new Float32Array(ix.length * F)
    const labels = new BigInt64Array(ix.length)
    ix.forEach((e, k) => {
      feats.set(f.subarray(e * F, (e + 1) * F), k * F)
      labels[k] = l[e]!
    })
    yield { feeds: { features: { data: feats, shape: [ix.length, F], dtype: 'float32' }, labels: { data: labels, shape: [ix.length], dtype: 'int64' } }, examples: ix.length }
  }
}
