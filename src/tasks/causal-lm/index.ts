/**
 * `causal-lm`: continue training a language model on plain text (GPT-2 and its kin). Predict prints
 * each text's most likely next token, its probability and the next-token logits.
 */
import { assertFiniteOutputs, softmax, type PredictRecord } from '../task.js'
import { textLogits, textTask } from '../text-node.js'
import { causalLmHead } from './head.js'

export const causalLm = textTask({
  name: 'causal-lm',
  summary: 'a language model on your text (next-token prediction)',
  head: causalLmHead,
  options: {
    textColumn: { type: 'string', describe: 'text column of a CSV/JSONL (default: text)', placeholder: 'NAME', commands: ['train', 'eval', 'predict'] },
  },
  examples: ['finetune train --task causal-lm --model ./gpt2 --data stories.txt --out ./gpt2-stories --max-length 256'],
  defaultMetric: () => 'eval_loss',
  async predict(m, texts, batchSize) {
    const out: PredictRecord[] = []
    await textLogits(m.runner, texts, batchSize, (lg, shape, first, encs) => {
      const [, T, V] = shape as [number, number, number]
      encs.forEach((enc, b) => {
        // the last position of the text itself: causal attention means a trailing special token
        // (a [SEP] some tokenizers append) does not change what that position saw
        let t = enc.ids.length - 1
        while (t > 0 && enc.specialTokensMask[t]) t--
        const row = Array.from(lg.subarray((b * T + t) * V, (b * T + t + 1) * V))
        assertFiniteOutputs(row, m.dir, `"${texts[first + b]}"`)
        const p = softmax(row)
        const best = p.indexOf(Math.max(...p))
        out.push({ text: texts[first + b]!, next_token: m.tokenizer.decode([best]), next_token_id: best, score: p[best]!, label: m.tokenizer.idToToken(best) ?? String(best), logits: row })
      })
    })
    return out
  },
})
