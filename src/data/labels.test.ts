import { describe, expect, it } from 'vitest'
import { resolveColumns } from './columns.js'
import { DataRowError } from './errors.js'
import { buildLabelMap, encodeLabel, LabelCollector, labelNames, type LabelCollectorOptions } from './labels.js'

const where = { file: 'd.jsonl', line: 3, field: 'label' }

function scheme(values: unknown[], opts: LabelCollectorOptions = {}) {
  const c = new LabelCollector(opts)
  values.forEach((v, i) => c.add(v, { ...where, line: i + 1 }))
  return c.finish('d.jsonl')
}

describe('label maps', () => {
  it('are sorted and stored as HF config.json stores them', () => {
    expect(buildLabelMap(['pos', 'neg', 'neutral', 'neg'])).toEqual({
      id2label: { 0: 'neg', 1: 'neutral', 2: 'pos' },
      label2id: { neg: 0, neutral: 1, pos: 2 },
    })
    expect(labelNames(buildLabelMap(['b', 'a'], 'given'))).toEqual(['b', 'a'])
  })
})

describe('label schemes', () => {
  it('map strings to sorted ids whatever the row order', () => {
    const a = scheme(['pos', 'neg', 'pos', 'neutral'])
    const b = scheme(['neutral', 'pos', 'neg'])
    expect(a).toEqual(b)
    expect(a.problemType).toBe('single_label_classification')
    expect(encodeLabel(a, 'pos', where)).toBe(2)
  })

  it('follow a given label list', () => {
    const s = scheme(['pos', 'neg'], { labels: ['pos', 'neg', 'neutral'] })
    expect(s.labelMap.label2id).toEqual({ pos: 0, neg: 1, neutral: 2 })
    expect(() => scheme(['pos', 'meh'], { labels: ['pos', 'neg'] })).toThrow(/d\.jsonl:2: unknown label "meh" in column "label"; the label list has "pos", "neg"/)
  })

  it('keep integers as class ids, also when CSV gives them as text', () => {
    const s = scheme(['0', '3', '1'], { numericStrings: true })
    expect([s.kind, s.numLabels]).toEqual(['ids', 4])
    expect(s.labelMap.id2label).toEqual({ 0: '0', 1: '1', 2: '2', 3: '3' })
    expect(encodeLabel(s, '3', where, { numericStrings: true })).toBe(3)
    expect(() => scheme([1, -1])).toThrow(/d\.jsonl:2: label -1 is negative/)
  })

  it('treat decimals as regression', () => {
    const s = scheme([5.0, 0.25, '4.2'].map((v) => (typeof v === 'string' ? Number(v) : v)))
    expect([s.problemType, s.numLabels]).toEqual(['regression', 1])
    expect(encodeLabel(s, 0.25, where)).toBe(0.25)
    expect(scheme(['1.5', '2'], { numericStrings: true }).problemType).toBe('regression')
  })

  it('read lists and a|b strings as multi-hot multi-label targets', () => {
    const s = scheme([['b', 'a'], ['c'], []])
    expect([s.problemType, s.numLabels]).toEqual(['multi_label_classification', 3])
    expect(encodeLabel(s, ['a', 'c'], where)).toEqual([1, 0, 1])
    const t = scheme(['a|b', 'c'])
    expect(t.problemType).toBe('multi_label_classification')
    expect(encodeLabel(t, 'c|a', where)).toEqual([1, 0, 1])
    expect(scheme(['a|b'], { multiLabel: false }).labelMap.label2id).toEqual({ 'a|b': 0 })
  })

  it('name an unknown evaluation label and list the known ones', () => {
    const s = scheme(['pos', 'neg'])
    let err: DataRowError | undefined
    try {
      encodeLabel(s, 'neutral', { file: 'val.jsonl', line: 2, field: 'label' })
    } catch (e) {
      err = e as DataRowError
    }
    expect(err).toBeInstanceOf(DataRowError)
    expect(err!.code).toBe('DATA_UNKNOWN_LABEL')
    expect(err!.message).toBe('val.jsonl:2: unknown label "neutral" in column "label"; the training data has "neg", "pos"')
    expect([err!.file, err!.line, err!.field]).toEqual(['val.jsonl', 2, 'label'])
  })

  it('reject objects as labels', () => {
    expect(() => scheme([{ a: 1 }])).toThrow(/d\.jsonl:1: column "label" holds an object/)
  })
})

describe('column defaults', () => {
  const sample = (cols: string[]) => Object.fromEntries(cols.map((c) => [c, 'x']))
  const resolve = (cols: string[], opts = {}) => resolveColumns('text-classification', cols, sample(cols), opts, 'd.csv')

  it('follow run_glue: sentence1/sentence2, text, sentence, or the only string column', () => {
    expect(resolve(['sentence1', 'sentence2', 'label', 'idx'])).toEqual({ text: 'sentence1', textPair: 'sentence2', label: 'label' })
    expect(resolve(['idx', 'text', 'labels'])).toEqual({ text: 'text', label: 'labels' })
    expect(resolve(['sentence', 'label'])).toEqual({ text: 'sentence', label: 'label' })
    expect(resolve(['id', 'review', 'label'])).toEqual({ text: 'review', label: 'label' })
    expect(resolve(['q', 'a', 'label'], { textColumn: 'q', textPairColumn: 'a' })).toEqual({ text: 'q', textPair: 'a', label: 'label' })
  })

  it('list the columns that exist when one is missing or ambiguous', () => {
    expect(() => resolve(['text', 'sentiment'])).toThrow(/d\.csv: no label column: expected one named label or labels; the columns are "text", "sentiment"/)
    expect(() => resolve(['text', 'label'], { textColumn: 'body' })).toThrow(/d\.csv: column "body" does not exist; the columns are "text", "label"/)
    expect(() => resolve(['title', 'body', 'label'])).toThrow(/cannot tell which column holds the text: "title", "body"/)
  })

  it('find tokens and tags for token classification', () => {
    const cols = ['id', 'tokens', 'pos_tags', 'ner_tags']
    expect(resolveColumns('token-classification', cols, {}, {}, 'n.jsonl')).toEqual({ tokens: 'tokens', tags: 'ner_tags' })
    expect(resolveColumns('token-classification', cols, {}, { labelColumn: 'pos_tags' }, 'n.jsonl')).toEqual({ tokens: 'tokens', tags: 'pos_tags' })
  })
})
