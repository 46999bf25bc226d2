/**
 * Evaluation of a single-label classifier, shared by the image and audio runners: argmax
 * predictions and the example-weighted eval loss over batches, then the reported metrics; and the
 * head run over cached (frozen-method) features in batches.
 */
import { classificationMetrics, reportedClassificationMetrics } from './metrics.js'
import type { TrainSession } from './step.js'

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
