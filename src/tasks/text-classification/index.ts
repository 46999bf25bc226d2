/**
 * `text-classification`: one label, several labels or a value per text (or text pair), as Hugging
 * Face's run_glue trains *ForSequenceClassification models. Predict prints label, score and logits.
 */
import { softmax, assertFiniteOutputs, type PredictRecord } from '../task.js'
import { textLogits, textTask } from '../text-node.js'
import { sequenceClassificationHead } from './head.js'

export const textClassification = textTask({
  name: 'text-classification',
  summary: 'one label (or several, or a value) per text or text pair',
  head: sequenceClassificationHead,
  options: {
    textColumn: { type: 'string', describe: 'text column (default: text, sentence, sentence1, or the only text column)', placeholder: 'NAME', commands: ['train', 'eval', 'predict'] },
    textPairColumn: { type: 'string', describe: 'second text column of a text pair', placeholder: 'NAME', commands: ['train', 'eval'] },
    labelColumn: { type: 'string', describe: 'label column (default: label or labels)', placeholder: 'NAME', commands: ['train', 'eval'] },
    tokenizer: { type: 'string', describe: 'a bare .onnx model: its tokenizer.json (or a folder with tokenizer files)', placeholder: 'PATH', commands: ['train', 'eval', 'predict', 'export', 'inspect'] },
    features: { type: 'string', describe: 'an imported .onnx model: the value the new head reads (default: the input of the final classifier Gemm/MatMul, else pooler_output, else the first token of the first output)', placeholder: 'NAME', commands: ['train'] },
    freeze: { type: 'list', describe: 'freeze parameters whose name matches the regular expression (repeatable; commas separate patterns)', placeholder: 'REGEX', commands: ['train'] },
  },
  examples: [
    'finetune train --task text-classification --model ./bert-base-uncased --data reviews.csv --out ./sentiment',
    'finetune train --task text-classification --model ./distilbert-onnx --data reviews.csv --out ./sentiment  # Transformers.js folder: config.json, tokenizer.json, onnx/model.onnx',
    'finetune predict --model ./sentiment "great film" "dull and long"',
  ],
  defaultMetric: (problemType) => (problemType === 'single_label_classification' ? 'accuracy' : 'eval_loss'),
  async predict(m, texts, batchSize) {
    const out: PredictRecord[] = []
    await textLogits(m.runner, texts, batchSize, (lg, shape, first) => {
      const [B, L] = shape as [number, number]
      for (let b = 0; b < B; b++) {
        const row = Array.from(lg.subarray(b * L, (b + 1) * L))
        const text = texts[first + b]!
        assertFiniteOutputs(row, m.dir, `"${text.length > 40 ? `${text.slice(0, 37)}...` : text}"`)
        if (m.problemType === 'regression') out.push({ text, label: 'value', score: row[0]!, logits: row })
        else if (m.problemType === 'multi_label_classification') {
          const p = row.map((v) => 1 / (1 + Math.exp(-v)))
          const on = p.map((v, i) => [v, i] as const).filter(([v]) => v > 0.5)
          const best = p.indexOf(Math.max(...p))
          out.push({ text, label: on.length ? on.map(([, i]) => m.labels[i]).join('|') : '', score: p[best]!, logits: row })
        } else {
          const p = softmax(row)
          const best = p.indexOf(Math.max(...p))
          out.push({ text, label: m.labels[best] ?? String(best), score: p[best]!, logits: row })
        }
      }
    })
    return out
  },
})
