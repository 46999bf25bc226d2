/**
 * Masked language modelling as BERT pre-trains (Devlin et al. 2018, section 3.1) and Hugging Face's
 * DataCollatorForLanguageModeling / DataCollatorForWholeWordMask mask: 15% of the non-special tokens
 * are chosen; of those 80% become [MASK], 10% a random token of the vocabulary, 10% stay. Labels are
 * the original ids at chosen positions and -100 elsewhere; eval reports loss, perplexity and the
 * accuracy of the masked tokens.
 */
import { ConfigError } from '../../errors.js'
import type { Tensor } from '../../graph/graph.js'
import { maskedLmLoss } from '../../heads/losses.js'
import type { CausalLmExample } from '../../data/dataset.js'
import type { Rng } from '../../runtime/rng.js'
import { perplexity } from '../../train/metrics.js'
import type { Encoded, TextHead, TextHeadContext } from '../../train/text.js'
import { tokenLabelTensor } from '../causal-lm/head.js'

export interface MaskingOptions {
  /** Share of tokens chosen for prediction (HF mlm_probability). Default 0.15. */
  probability: number
  /** Choose whole words (all their word pieces) rather than single tokens. */
  wholeWord: boolean
}

export const DEFAULT_MASKING: MaskingOptions = { probability: 0.15, wholeWord: false }

/** The [MASK] id of the tokenizer; an error names the fix when it has none. */
export function maskTokenId(ctx: Pick<TextHeadContext, 'tokenizer'>): number {
  const id = ctx.tokenizer.maskId
  if (id === undefined)
    throw new ConfigError('TOKENIZER_NO_MASK', 'the tokenizer has no mask token, which masked-lm replaces chosen tokens with', 'add "mask_token": "[MASK]" to tokenizer_config.json (the token must be in the vocabulary)')
  return id
}

/**
 * Which positions of one sequence are chosen (1) for prediction. Token level: each non-special token
 * with probability p (HF's bernoulli over the probability matrix). Whole words: words in random order
 * until round(p * length) tokens are covered, skipping words that would overshoot (HF's
 * _whole_word_mask; length counts the special tokens, as HF's does).
 */
export function chooseMasked(e: Encoded, o: MaskingOptions, rng: Rng): Uint8Array {
  const n = e.ids.length
  const chosen = new Uint8Array(n)
  const special = e.specialTokensMask ?? []
  if (!o.wholeWord) {
    for (let i = 0; i < n; i++) if (!special[i] && rng.next() < o.probability) chosen[i] = 1
    return chosen
  }
  const words = new Map<number, number[]>()
  e.ids.forEach((_, i) => {
    const w = e.wordIds?.[i]
    if (special[i] || w === null || w === undefined) return
    const list = words.get(w)
    if (list) list.push(i)
    else words.set(w, [i])
  })
  const order = [...words.values()]
  for (let i = order.length - 1; i > 0; i--) {
    const j = rng.int(i + 1)
    ;[order[i], order[j]] = [order[j]!, order[i]!]
  }
  const want = Math.max(1, Math.round(n * o.probability))
  let covered = 0
  for (const w of order) {
    if (covered >= want) break
    if (covered + w.length > want) continue
    for (const i of w) chosen[i] = 1
    covered += w.length
  }
  return chosen
}

/** BERT's corruption of one sequence: chosen tokens become [MASK] (80%), a random id (10%) or stay (10%). */
export function maskSequence(e: Encoded, o: MaskingOptions, rng: Rng, maskId: number, vocabSize: number): Encoded {
  const chosen = chooseMasked(e, o, rng)
  const ids = e.ids.slice()
  const labels = new Array<number>(ids.length).fill(-100)
  for (let i = 0; i < ids.length; i++) {
    if (!chosen[i]) continue
    labels[i] = e.ids[i]!
    const r = rng.next()
    if (r < 0.8) ids[i] = maskId
    else if (r < 0.9) ids[i] = rng.int(vocabSize)
  }
  return { ...e, ids, tokenLabels: labels }
}

export function maskedLmHead(o: MaskingOptions = DEFAULT_MASKING): TextHead {
  return {
    modelTask: 'masked-lm',
    perToken: true,
    frozenUnsupported: 'the frozen method trains only a head on cached features; masked-lm changes the inputs every step, so there are no fixed features to cache',
    encode(ctx, e) {
      const enc = ctx.tokenizer.encode((e as CausalLmExample).text, null, { truncation: true, maxLength: ctx.maxLength })
      return { ids: enc.ids, typeIds: enc.typeIds, specialTokensMask: enc.specialTokensMask, wordIds: enc.wordIds }
    },
    corrupt(ctx, encs, rng) {
      const maskId = maskTokenId(ctx)
      const V = ctx.tokenizer.vocabSize
      return encs.map((e) => maskSequence(e, o, rng, maskId, V))
    },
    labels: (_ctx, encs, len) => tokenLabelTensor(encs, len),
    loss: (_ctx, logits: Tensor, labels: Tensor) => maskedLmLoss(logits, labels),
    evalOutputs: (logits) => ({ predictions: logits.argmax(-1) }),
    metrics() {
      let right = 0
      let total = 0
      return {
        add(outputs, feeds) {
          const pred = outputs['predictions']!.data as BigInt64Array
          const gold = feeds['labels']!.data as BigInt64Array
          for (let i = 0; i < gold.length; i++) {
            if (gold[i] === -100n) continue
            total++
            if (pred[i] === gold[i]) right++
          }
        },
        result: (evalLoss) => ({ eval_loss: evalLoss, perplexity: perplexity(evalLoss), accuracy: total ? right / total : 0, masked_tokens: total }),
      }
    },
  }
}
