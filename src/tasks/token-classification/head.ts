/**
 * Token classification (NER, POS) as Hugging Face's run_ner trains it: words joined with spaces, the
 * first sub-token of each word carries its tag, the others are ignored (-100); seqeval-style entity F1.
 */
import type { Tensor } from '../../graph/graph.js'
import { tokenClassificationLoss } from '../../heads/losses.js'
import type { TokenClassificationExample } from '../../data/dataset.js'
import { entityMetrics } from '../../train/metrics.js'
import type { TextHead } from '../../train/text.js'
import { tokenLabelTensor } from '../causal-lm/head.js'

export const tokenClassificationHead: TextHead = {
  modelTask: 'token-classification',
  perToken: true,
  encode(ctx, e) {
    const x = e as TokenClassificationExample
    const starts: number[] = []
    let text = ''
    x.tokens.forEach((w, i) => {
      if (i > 0) text += ' '
      starts.push(text.length)
      text += w
    })
    const enc = ctx.tokenizer.encode(text, null, { truncation: true, maxLength: ctx.maxLength })
    const byStart = new Map(starts.map((s, i) => [s, i]))
    const tokenLabels = enc.offsets.map(([s, end], k) => {
      if (enc.specialTokensMask[k] || end <= s) return -100
      // byte-level BPE offsets may include the leading space
      const w = byStart.get(s) ?? (text[s] === ' ' ? byStart.get(s + 1) : undefined)
      return w === undefined ? -100 : ctx.remap[x.tags[w]!]!
    })
    return { ids: enc.ids, typeIds: enc.typeIds, tokenLabels }
  },
  labels: (_ctx, encs, len) => tokenLabelTensor(encs, len),
  loss: (_ctx, logits: Tensor, labels: Tensor) => tokenClassificationLoss(logits, labels),
  evalOutputs: (logits) => ({ preds: logits.argmax(-1) }),
  metrics(ctx) {
    const tagPred: string[][] = []
    const tagGold: string[][] = []
    let tokens = 0
    let tokensOk = 0
    return {
      add(outputs, feeds, indices, len) {
        const p = outputs['preds']!.data as BigInt64Array
        const g = feeds['labels']!.data as BigInt64Array
        indices.forEach((_, k) => {
          const ps: string[] = []
          const gs: string[] = []
          for (let t = 0; t < len; t++) {
            const gv = Number(g[k * len + t])
            if (gv === -100) continue
            const pv = Number(p[k * len + t])
            ps.push(ctx.labels[pv] ?? 'O')
            gs.push(ctx.labels[gv]!)
            tokens++
            if (pv === gv) tokensOk++
          }
          tagPred.push(ps)
          tagGold.push(gs)
        })
      },
      result(evalLoss) {
        const e = entityMetrics(tagPred, tagGold)
        return { eval_loss: evalLoss, f1: e.f1, precision: e.precision, recall: e.recall, accuracy: tokens ? tokensOk / tokens : 0 }
      },
    }
  },
}
