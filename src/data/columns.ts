/**
 * Which columns hold the text and the labels. Names the user gives must exist; otherwise defaults
 * follow HF's run_glue / run_ner / run_clm: text `sentence1`(+`sentence2`), `text`, `sentence`, or
 * the only non-label string column; labels `label`, then `labels`; tokens `tokens` with tags
 * `ner_tags`, `labels` or `tags`.
 */
import { fileError } from './errors.js'

export type TextTask = 'text-classification' | 'token-classification' | 'causal-lm' | 'masked-lm'
export const TEXT_TASKS: readonly TextTask[] = ['text-classification', 'token-classification', 'causal-lm', 'masked-lm']

export interface ColumnOptions {
  /** Column with the text (or the first text of a pair). */
  textColumn?: string
  /** Column with the second text of a pair (text-classification). */
  textPairColumn?: string
  /** Column with the labels (text-classification), or the tags (token-classification). */
  labelColumn?: string
  /** Column with the token lists (token-classification). Default 'tokens'. */
  tokensColumn?: string
  /** Column with the tag lists (token-classification); overrides labelColumn. */
  tagsColumn?: string
}

/** The columns a task reads. */
export interface ResolvedColumns {
  text?: string
  textPair?: string
  label?: string
  tokens?: string
  tags?: string
}

const LABEL_DEFAULTS = ['label', 'labels']
const TAG_DEFAULTS = ['ner_tags', 'labels', 'tags']
// identifiers and pandas' index column are never picked as text on their own
const NOT_TEXT = /^(id|idx|index|guid|Unnamed: \d+)$/i

/**
 * Resolves the columns of `task` among `columns`; `sample` (the first record's values) tells which
 * columns hold strings. Throws DATA_UNKNOWN_COLUMN / DATA_NO_TEXT_COLUMN / DATA_NO_LABEL_COLUMN,
 * each listing the columns that exist.
 */
export function resolveColumns(
  task: TextTask,
  columns: readonly string[],
  sample: Record<string, unknown>,
  opts: ColumnOptions,
  file: string,
): ResolvedColumns {
  const has = (c: string): boolean => columns.includes(c)
  const list = columns.map((c) => JSON.stringify(c)).join(', ')
  const need = (name: string, flag: string): string => {
    if (has(name)) return name
    throw fileError('DATA_UNKNOWN_COLUMN', file, `column "${name}" does not exist; the columns are ${list}`, `pass ${flag} with one of them`)
  }
  if (task === 'token-classification') {
    const tokens = need(opts.tokensColumn ?? 'tokens', '--tokens-column')
    const named = opts.tagsColumn ?? opts.labelColumn
    let tags: string | undefined
    if (named !== undefined) tags = need(named, '--label-column')
    else tags = TAG_DEFAULTS.find(has)
    if (tags === undefined) {
      throw fileError('DATA_NO_LABEL_COLUMN', file, `no tag column: expected one named ${TAG_DEFAULTS.join(', ')}; the columns are ${list}`, 'pass --label-column with the column holding the tag lists')
    }
    return { tokens, tags }
  }
  let label: string | undefined
  if (task === 'text-classification') {
    label = opts.labelColumn !== undefined ? need(opts.labelColumn, '--label-column') : LABEL_DEFAULTS.find(has)
    if (label === undefined) {
      throw fileError('DATA_NO_LABEL_COLUMN', file, `no label column: expected one named ${LABEL_DEFAULTS.join(' or ')}; the columns are ${list}`, 'pass --label-column with the column holding the labels')
    }
  }
  if (opts.textColumn !== undefined) {
    const text = need(opts.textColumn, '--text-column')
    const out: ResolvedColumns = { text }
    if (opts.textPairColumn !== undefined) out.textPair = need(opts.textPairColumn, '--text-pair-column')
    if (label !== undefined) out.label = label
    return out
  }
  if (opts.textPairColumn !== undefined) need(opts.textPairColumn, '--text-pair-column')
  let text: string | undefined
  let textPair: string | undefined = opts.textPairColumn
  if (task === 'text-classification' && has('sentence1')) {
    text = 'sentence1'
    if (textPair === undefined && has('sentence2')) textPair = 'sentence2'
  } else if (has('text')) text = 'text'
  else if (has('sentence')) text = 'sentence'
  else {
    const candidates = columns.filter((c) => c !== label && c !== textPair && !NOT_TEXT.test(c) && typeof sample[c] === 'string')
    if (candidates.length === 1) text = candidates[0]
    else {
      throw fileError(
        'DATA_NO_TEXT_COLUMN',
        file,
        candidates.length === 0
          ? `no text column: expected one named text, sentence or sentence1, or a single string column; the columns are ${list}`
          : `cannot tell which column holds the text: ${candidates.map((c) => JSON.stringify(c)).join(', ')} all hold strings`,
        task === 'text-classification' ? 'pass --text-column (and --text-pair-column for sentence pairs)' : 'pass --text-column',
      )
    }
  }
  const out: ResolvedColumns = { text: text! }
  if (textPair !== undefined) out.textPair = textPair
  if (label !== undefined) out.label = label
  return out
}
