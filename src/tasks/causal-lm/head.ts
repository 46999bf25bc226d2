/** Causal language modelling: every token predicts the next; eval_loss and perplexity. */
import type { Tensor } from '../../graph/graph.js'
import { causalLmLoss } from '../../heads/losses.js'
import type { CausalLmExample } from '../../data/dataset.js'
import type { HostTensor } from '../../runtime/session.js'
import { perplexity } from '../../train/metrics.js'
import type { Encoded, TextHead } from '../../train/text.js'

/** (B, len) int64 per-token targets, -100 where padded. */
export function tokenLabelTensor(encs: readonly Encoded[], len: number): HostTensor {
  const B = encs.length
  const l = new BigInt64Array(B * len).fill(-100n)
  encs.forEach((e, b) => e.tokenLabels!.slice(0, len).forEach((v, i) => (l[b * len + i] = BigInt(v))))
  return { data: l, shape: [B, len], dtype: 'int64' }
}

export const causalLmHead: TextHead = {
  modelTask: 'causal-lm',
  perToken: true,
  frozenUnsupported: 'the frozen method trains only a head on cached features; causal-lm has no separate head',
  encode(ctx, e) {
    const enc = ctx.tokenizer.encode((e as CausalLmExample).text, null, { truncation: true, maxLength: ctx.maxLength })
    return { ids: enc.ids, typeIds: enc.typeIds, tokenLabels: enc.ids.slice() }
  },
  labels: (_ctx, encs, len) => tokenLabelTensor(encs, len),
  loss: (_ctx, logits: Tensor, labels: Tensor) => causalLmLoss(logits, labels),
  evalOutputs: () => ({}),
  metrics: () => ({
    add() {},
    result: (evalLoss) => ({ eval_loss: evalLoss, perplexity: perplexity(evalLoss) }),
  }),
}
