/**
 * `masked-lm`: pre-train or continue pre-training a BERT on unlabelled text (BertForMaskedLM, as
 * Hugging Face's run_mlm trains it). Plain text files give one example per line, or per
 * blank-line-separated paragraph with --text-unit paragraph; CSV/JSONL give a --text-column. The
 * saved folder is a base model for the other text tasks. Predict fills each [MASK] with its top-k.
 */
import { ConfigError } from '../../errors.js'
import { assertFiniteOutputs, softmax, type PredictRecord } from '../task.js'
import { textLogits, textTask } from '../text-node.js'
import { DEFAULT_MASKING, maskedLmHead } from './head.js'

export const maskedLm = textTask({
  name: 'masked-lm',
  summary: 'pre-train a BERT on unlabelled text (masked-token prediction)',
  head: maskedLmHead(),
  headFor: (o) => maskedLmHead({ probability: typeof o['mlmProbability'] === 'number' ? o['mlmProbability'] : DEFAULT_MASKING.probability, wholeWord: o['wholeWordMask'] === true }),
  options: {
    textColumn: { type: 'string', describe: 'text column of a CSV/JSONL (default: text, sentence, or the only text column)', placeholder: 'NAME', commands: ['train', 'eval', 'predict'] },
    textUnit: { type: 'enum', choices: ['line', 'paragraph'], describe: 'plain text files: one example per line, or per blank-line-separated paragraph (default: line)', commands: ['train', 'eval'] },
    wholeWordMask: { type: 'boolean', describe: 'mask all word pieces of a chosen word together (whole-word masking)', commands: ['train', 'eval'] },
    mlmProbability: { type: 'number', describe: 'share of tokens chosen for prediction', default: 0.15, min: 0.01, max: 0.99, commands: ['train', 'eval'] },
    topK: { type: 'int', describe: 'predict: candidates printed for each [MASK]', default: 5, min: 1, commands: ['predict'] },
  },
  examples: [
    'finetune train --task masked-lm --model ./bert-small --data corpus.txt --out ./bert-small-mlm --max-length 128',
    'finetune train --task masked-lm --model ./bert-small --data notes.jsonl --text-column body --whole-word-mask --out ./bert-notes',
    'finetune predict --model ./bert-small-mlm --top-k 3 "the package provides a [MASK] library"',
  ],
  defaultMetric: () => 'eval_loss',
  async predict(m, texts, batchSize, o) {
    const maskId = m.tokenizer.maskId
    const mask = maskId === undefined ? undefined : m.tokenizer.idToToken(maskId)
    if (maskId === undefined) throw new ConfigError('TOKENIZER_NO_MASK', `${m.dir} has a tokenizer without a mask token`, 'add "mask_token": "[MASK]" to its tokenizer_config.json')
    const k = typeof o?.['topK'] === 'number' ? o['topK'] : 5
    const out: PredictRecord[] = []
    await textLogits(m.runner, texts, batchSize, (lg, shape, first, encs) => {
      const [, T, V] = shape as [number, number, number]
      encs.forEach((enc, b) => {
        const text = texts[first + b]!
        const positions = enc.ids.flatMap((id, t) => (id === maskId ? [t] : []))
        if (positions.length === 0) throw new ConfigError('PREDICT_NO_MASK', `"${text.length > 40 ? `${text.slice(0, 37)}...` : text}" has no ${mask} token to fill`, `write ${mask} where a word should be predicted, e.g. "the ${mask} is blue"`)
        const masks = positions.map((t) => {
          const row = Array.from(lg.subarray((b * T + t) * V, (b * T + t + 1) * V))
          assertFiniteOutputs(row, m.dir, `"${text}"`)
          const p = softmax(row)
          const best = p.map((v, i) => [v, i] as const).sort((x, y) => y[0] - x[0]).slice(0, k)
          return { position: t, candidates: best.map(([score, id]) => ({ token: m.tokenizer.idToToken(id) ?? String(id), token_id: id, score })), logits: row }
        })
        const top = masks[0]!.candidates[0]!
        const filled = masks.reduce((s, mk) => s.replace(mask!, mk.candidates[0]!.token.replace(/^##/, '')), text)
        out.push({ text, filled, label: top.token, score: top.score, masks: masks.map(({ position, candidates }) => ({ position, candidates })), logits: masks.map((mk) => mk.logits) })
      })
    })
    return out
  },
})
