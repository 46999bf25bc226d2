/**
 * `summarization`: the seq2seq training of `translation` (teacher forcing, labels shifted right,
 * label smoothing, length buckets, cached generation with beams) on document/summary columns, as
 * HF's run_summarization.py does; `eval` reports ROUGE-1/2/L F-measures of generated summaries
 * (rouge.ts) and gen_len; `predict` writes `summary_text`, as HF's summarization pipeline does.
 */
import { SEQ2SEQ_FAMILIES } from '../../models/seq2seq.js'
import type { Task } from '../task.js'
import { seq2seqOptions, seq2seqTask } from '../translation/task-node.js'
import { corpusRouge } from './rouge.js'

// {"translation": {...}} rows belong to translation
const { sourceLang: _sl, targetLang: _tl, ...shared } = seq2seqOptions

export const summarization: Task = seq2seqTask({
  name: 'summarization',
  summary: 'summarise documents with an encoder-decoder (BART, Marian); ROUGE-1/2/L',
  options: {
    ...shared,
    sourceColumn: { ...shared.sourceColumn, describe: 'document column of a CSV/TSV/JSONL (default: document, else text)' },
    targetColumn: { ...shared.targetColumn, describe: 'summary column (default: summary)' },
    maxSourceLength: { ...shared.maxSourceLength, describe: 'truncate documents to N tokens' },
  },
  examples: [
    'finetune train --task summarization --model ./bart-base --data articles.jsonl --out ./summarizer',
    'finetune train --task summarization --model ./bart-base --data news.csv --source-column article --target-column highlights --out ./summarizer',
    'finetune eval --model ./summarizer --data test.jsonl --num-beams 4',
    'finetune predict --model ./summarizer --num-beams 4 "$(cat article.txt)"',
  ],
  columns: { source: ['document', 'text'], target: ['summary'] },
  metrics: (hyps, refs) => corpusRouge(hyps, refs),
  outputKey: 'summary_text',
  // a checkpoint does not say whether it summarises or translates: folders finetune trained record it
  recognises: (c) => c['finetune_task'] === 'summarization' && typeof c['model_type'] === 'string' && SEQ2SEQ_FAMILIES.includes(c['model_type']),
})
