/**
 * `causal-lm`: continue training a language model on plain text (GPT-2 and its kin). Predict
 * continues each text (greedy, beam search or sampling with a key/value cache; the generation flags)
 * and reports the most likely next token, its probability and the next-token logits.
 */
import { ConfigError } from '../../errors.js'
import { CachedLm } from '../../generate/cached-lm.js'
import { isCachedCausalLm } from '../../models/decoder.js'
import { generationOf, generationOptions } from '../generation-options.js'
import { assertFiniteOutputs, softmax, type PredictRecord } from '../task.js'
import { textLogits, textTask } from '../text-node.js'
import { causalLmHead } from './head.js'

export const causalLm = textTask({
  name: 'causal-lm',
  summary: 'a language model on your text (next-token prediction)',
  head: causalLmHead,
  options: {
    textColumn: { type: 'string', describe: 'text column of a CSV/JSONL (default: text)', placeholder: 'NAME', commands: ['train', 'eval', 'predict'] },
    ...generationOptions(['predict']),
  },
  examples: ['finetune train --task causal-lm --model ./gpt2 --data stories.txt --out ./gpt2-stories --max-length 256', 'finetune predict --model ./gpt2-stories "Once upon a time" --max-new-tokens 40 --num-beams 4'],
  defaultMetric: () => 'eval_loss',
  async predict(m, texts, batchSize, o = {}) {
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
    const model = m.runner.c.model
    if (!isCachedCausalLm(model)) {
      const flag = Object.keys(generationOptions(['predict'])).find((k) => o[k] !== undefined)
      if (flag) throw new ConfigError('GENERATION_UNSUPPORTED', `${m.dir} (${m.family}) cannot generate text: it has no key/value-cache decoder`, 'generation works with GPT-2 folders; drop the generation flags to get the next token only')
      return out
    }
    const lm = new CachedLm(model as never, m.runner.c.runtime)
    const eos = m.tokenizer.eosId ?? (typeof m.config['eos_token_id'] === 'number' ? m.config['eos_token_id'] : null)
    for (const rec of out) {
      const enc = m.tokenizer.encode(rec.text as string, null, { truncation: true, maxLength: m.runner.c.maxLength })
      let n = enc.ids.length
      while (n > 1 && enc.specialTokensMask[n - 1]) n--
      const prompt = enc.ids.slice(0, n)
      const g = generationOf(o, {}, { eos, pad: m.tokenizer.padId ?? eos ?? 0 })
      g.maxNewTokens = Math.min(g.maxNewTokens, model.maxPositions - prompt.length)
      const [tokens] = await lm.generate([prompt], g)
      // as HF's text-generation pipeline: decode prompt + new tokens, cut the decoded prompt off
      const full = m.tokenizer.decode([...prompt, ...tokens!], { skipSpecialTokens: true })
      const pre = m.tokenizer.decode(prompt, { skipSpecialTokens: true })
      const continuation = full.startsWith(pre) ? full.slice(pre.length) : m.tokenizer.decode(tokens!, { skipSpecialTokens: true })
      rec['generated_text'] = `${rec.text as string}${continuation}`
      rec['continuation'] = continuation
      rec['tokens'] = tokens
      rec['prompt_tokens'] = prompt
    }
    return out
  },
})
