/**
 * `token-classification`: a tag per word (NER, POS), from JSONL `tokens` + `ner_tags` or CoNLL files.
 * Predict splits each text on whitespace and prints every word's tag, score and logits.
 */
import { assertFiniteOutputs, softmax, type PredictRecord } from '../task.js'
import { textLogits, textTask } from '../text-node.js'
import { tokenClassificationHead } from './head.js'

export const tokenClassification = textTask({
  name: 'token-classification',
  summary: 'a tag per word (named entities, parts of speech)',
  head: tokenClassificationHead,
  options: {
    tokensColumn: { type: 'string', describe: 'words column (default: tokens)', placeholder: 'NAME', commands: ['train', 'eval'] },
    tagsColumn: { type: 'string', describe: 'tags column (default: ner_tags, labels or tags)', placeholder: 'NAME', commands: ['train', 'eval'] },
    textColumn: { type: 'string', describe: 'predict --data: text column', placeholder: 'NAME', commands: ['predict'] },
  },
  examples: ['finetune train --task token-classification --model ./distilbert --data ner.jsonl --out ./ner --epochs 5', 'finetune predict --model ./ner --json "alice flew to paris"'],
  defaultMetric: () => 'f1',
  async predict(m, texts, batchSize) {
    // words joined by single spaces, as in training; a word's tag is its first sub-token's
    const words = texts.map((t) => t.split(/\s+/).filter(Boolean))
    const joined = words.map((w) => w.join(' '))
    const out: PredictRecord[] = []
    await textLogits(m.runner, joined, batchSize, (lg, shape, first, encs) => {
      const [, T, L] = shape as [number, number, number]
      encs.forEach((enc, b) => {
        const i = first + b
        const text = joined[i]!
        const starts = new Map<number, number>()
        let at = 0
        words[i]!.forEach((w, k) => {
          starts.set(at, k)
          at += w.length + 1
        })
        const perWord: number[][] = new Array(words[i]!.length)
        enc.offsets.forEach(([s, e], t) => {
          if (e <= s) return
          const k = starts.get(s) ?? (text[s] === ' ' ? starts.get(s + 1) : undefined)
          if (k === undefined || perWord[k]) return
          perWord[k] = Array.from(lg.subarray((b * T + t) * L, (b * T + t + 1) * L))
        })
        const tags = words[i]!.map((word, k) => {
          const row = perWord[k]
          if (!row) return { word, label: 'O', score: 0 } // truncated away
          assertFiniteOutputs(row, m.dir, `"${word}"`)
          const p = softmax(row)
          const best = p.indexOf(Math.max(...p))
          return { word, label: m.labels[best] ?? String(best), score: p[best]! }
        })
        out.push({ text: texts[i]!, tags, logits: perWord.map((r) => r ?? []) })
      })
    })
    return out
  },
})
