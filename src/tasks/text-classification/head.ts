/**
 * Sequence classification as Hugging Face's *ForSequenceClassification heads train it: one label
 * (cross entropy), several (BCE with logits) or a value (MSE), chosen by the config's problem_type.
 */
import type { Tensor } from '../../graph/graph.js'
import { sequenceClassificationLoss } from '../../heads/losses.js'
import type { TextClassificationExample } from '../../data/dataset.js'
import type { HostTensor } from '../../runtime/session.js'
import { classificationMetrics, multiLabelMetrics, regressionMetrics, reportedClassificationMetrics } from '../../train/metrics.js'
import type { Encoded, TextHead, TextHeadContext } from '../../train/text.js'

function modelLabel(ctx: TextHeadContext, l: number | number[]): number | number[] {
  if (ctx.problemType === 'regression') return l
  if (Array.isArray(l)) {
    const out = new Array<number>(ctx.labels.length).fill(0)
    l.forEach((v, i) => {
      if (v) out[ctx.remap[i]!] = 1
    })
    return out
  }
  return ctx.remap[l]!
}

export const sequenceClassificationHead: TextHead = {
  modelTask: 'sequence-classification',
  perToken: false,
  frozenFixedLength: true,
  encode(ctx, e) {
    const x = e as TextClassificationExample
    const enc = ctx.tokenizer.encode(x.text, x.textPair ?? null, { truncation: true, maxLength: ctx.maxLength })
    return { ids: enc.ids, typeIds: enc.typeIds, label: modelLabel(ctx, x.label) }
  },
  labels(ctx, encs: readonly Encoded[]): HostTensor {
    const B = encs.length
    if (ctx.problemType === 'multi_label_classification') {
      const L = ctx.labels.length
      const l = new Float32Array(B * L)
      encs.forEach((e, b) => (e.label as number[]).forEach((v, i) => (l[b * L + i] = v)))
      return { data: l, shape: [B, L], dtype: 'float32' }
    }
    if (ctx.problemType === 'regression') return { data: Float32Array.from(encs.map((e) => e.label as number)), shape: [B], dtype: 'float32' }
    return { data: BigInt64Array.from(encs.map((e) => BigInt(e.label as number))), shape: [B], dtype: 'int64' }
  },
  loss: (ctx, logits: Tensor, labels: Tensor) => sequenceClassificationLoss(logits, labels, ctx.problemType ?? 'single_label_classification'),
  evalOutputs: (logits) => ({ logits }),
  metrics(ctx, examples) {
    const L = ctx.labels.length
    const preds = new Float64Array(examples * Math.max(L, 1))
    const gold = new Float64Array(examples * Math.max(L, 1))
    return {
      add(outputs, feeds, indices) {
        const lg = outputs['logits']!.data as Float32Array
        const labels = feeds['labels']!
        indices.forEach((ix, k) => {
          if (ctx.problemType === 'multi_label_classification')
            for (let j = 0; j < L; j++) {
              preds[ix * L + j] = lg[k * L + j]! > 0 ? 1 : 0
              gold[ix * L + j] = (labels.data as Float32Array)[k * L + j]!
            }
          else if (ctx.problemType === 'regression') {
            preds[ix] = lg[k]!
            gold[ix] = (labels.data as Float32Array)[k]!
          } else {
            let best = 0
            for (let j = 1; j < L; j++) if (lg[k * L + j]! > lg[k * L + best]!) best = j
            preds[ix] = best
            gold[ix] = Number((labels.data as BigInt64Array)[k])
          }
        })
      },
      result(evalLoss, n) {
        const m: Record<string, number> = { eval_loss: evalLoss }
        if (ctx.problemType === 'regression') Object.assign(m, regressionMetrics(preds.subarray(0, n), gold.subarray(0, n)))
        else if (ctx.problemType === 'multi_label_classification') {
          const r = multiLabelMetrics(preds, gold, ctx.labels)
          Object.assign(m, { micro_f1: r.micro_f1, macro_f1: r.macro_f1, subset_accuracy: r.subset_accuracy, accuracy: r.subset_accuracy })
        } else Object.assign(m, reportedClassificationMetrics(classificationMetrics(preds, gold, ctx.labels)))
        return m
      },
    }
  },
}
