import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { DataError } from '../errors.js'
import { DataRowError } from './errors.js'
import { loadTextData, type TextDataOptions, type TextSplit } from './dataset.js'
import { fileSource, loadTextDataFiles } from './source-node.js'
import { bytesSource } from './source.js'
import type { TextTask } from './columns.js'

const fx = (name: string): string => join('test/fixtures/data', name)

async function all<E>(split: TextSplit<E>): Promise<E[]> {
  const out: E[] = []
  for await (const e of split.iterate()) out.push(e)
  return out
}

async function load<T extends TextTask>(data: string, opts: TextDataOptions<T>, validation?: string) {
  return loadTextDataFiles(fx(data), validation === undefined ? undefined : fx(validation), { validationFraction: 0, ...opts })
}

async function failure(p: Promise<unknown>): Promise<DataError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  )
  if (!(e instanceof DataError)) throw new Error(`expected a DataError, got ${String(e)}`)
  return e
}

describe('text classification data', () => {
  it('maps string labels to sorted ids and keeps text, file and line', async () => {
    const ds = await load('sst.csv', { task: 'text-classification' })
    expect(ds.columns).toEqual({ text: 'sentence', label: 'label' })
    expect(ds.labels?.labelMap).toEqual({ id2label: { 0: 'negative', 1: 'positive' }, label2id: { negative: 0, positive: 1 } })
    const rows = await all(ds.train)
    expect(rows[2]).toEqual({ text: 'funny, warm and wise', label: 1, file: fx('sst.csv'), line: 4 })
    expect(rows.map((r) => r.label)).toEqual([1, 0, 1, 0, 1, 0])
    await ds.close()
  })

  it('reads sentence pairs with integer class ids from TSV', async () => {
    const ds = await load('pairs.tsv', { task: 'text-classification' })
    expect(ds.columns).toEqual({ text: 'sentence1', textPair: 'sentence2', label: 'label' })
    expect([ds.labels?.kind, ds.labels?.numLabels]).toEqual(['ids', 3])
    expect(await ds.train.get(1)).toMatchObject({ text: 'A dog runs in the park.', textPair: 'A cat sleeps indoors.', label: 2 })
    const ints = await load('int-labels.csv', { task: 'text-classification' })
    expect([ints.labels?.kind, ints.labels?.numLabels]).toEqual(['ids', 4])
    expect((await all(ints.train)).map((r) => r.label)).toEqual([0, 3, 1])
    await ds.close()
    await ints.close()
  })

  it('reads regression pairs and multi-label lists', async () => {
    const reg = await load('regression.jsonl', { task: 'text-classification' })
    expect(reg.labels?.problemType).toBe('regression')
    expect((await all(reg.train)).map((r) => r.label)).toEqual([5, 0.25, 4.2])
    const multi = await load('multilabel.jsonl', { task: 'text-classification' })
    expect(multi.labels?.problemType).toBe('multi_label_classification')
    expect(multi.labels?.labelMap.id2label).toEqual({ 0: 'battery', 1: 'screen', 2: 'shipping' })
    expect((await all(multi.train)).map((r) => r.label)).toEqual([[1, 1, 0], [0, 1, 0], [0, 0, 0], [0, 0, 1]])
    const csv = await load('multilabel.csv', { task: 'text-classification' })
    expect(csv.labels?.labelMap.id2label).toEqual({ 0: 'battery', 1: 'screen', 2: 'shipping' })
    expect((await csv.train.get(0)).label).toEqual([1, 1, 0])
    for (const d of [reg, multi, csv]) await d.close()
  })

  it('stops at a missing text, a wrong type and a missing label, naming file, line and column', async () => {
    const missing = await failure(load('missing-text.jsonl', { task: 'text-classification' }))
    expect(missing).toBeInstanceOf(DataRowError)
    expect([missing.code, missing.message]).toEqual(['DATA_MISSING_TEXT', `${fx('missing-text.jsonl')}:2: column "text" is missing; every row needs text there`])
    const wrong = await failure(load('wrong-type.jsonl', { task: 'text-classification' }))
    expect(wrong.code).toBe('DATA_WRONG_TYPE')
    expect(wrong.message).toContain(`${fx('wrong-type.jsonl')}:2: column "text" holds an object`)
    const label = await failure(load('missing-label.csv', { task: 'text-classification' }))
    expect([label.code, label.message]).toEqual(['DATA_MISSING_LABEL', `${fx('missing-label.csv')}:3: column "label" is empty; every row needs a label`])
  })

  it('lists the columns found when the label or text column is missing', async () => {
    const noLabel = await failure(load('no-label-column.csv', { task: 'text-classification' }))
    expect(noLabel.code).toBe('DATA_NO_LABEL_COLUMN')
    expect(noLabel.message).toContain(`${fx('no-label-column.csv')}: no label column`)
    expect(noLabel.message).toContain('"text", "sentiment"')
    expect(noLabel.hint).toContain('--label-column')
    const named = await failure(load('sst.csv', { task: 'text-classification', textColumn: 'review' }))
    expect([named.code, named.message]).toEqual(['DATA_UNKNOWN_COLUMN', `${fx('sst.csv')}: column "review" does not exist; the columns are "sentence", "label"`])
    const ambiguous = await failure(load('two-text-columns.csv', { task: 'text-classification' }))
    expect(ambiguous.code).toBe('DATA_NO_TEXT_COLUMN')
  })

  it('names an evaluation label the training data never had, and lists the known ones', async () => {
    const train = bytesSource('train.jsonl', '{"text": "good", "label": "pos"}\n{"text": "bad", "label": "neg"}\n')
    const validation = await fileSource(fx('validation-unknown.jsonl'))
    const e = await failure(loadTextData(train, validation, { task: 'text-classification' }))
    expect(e.code).toBe('DATA_UNKNOWN_LABEL')
    expect(e.message).toBe(`${fx('validation-unknown.jsonl')}:2: unknown label "neutral" in column "label"; the training data has "neg", "pos"`)
    expect(e.hint).toMatch(/trained on/)
  })

  it('skips bad rows when asked and reports how many per reason', async () => {
    const ds = await load('missing-text.jsonl', { task: 'text-classification', onBadRow: 'skip' }, 'validation-unknown.jsonl')
    expect((await all(ds.train)).map((r) => r.text)).toEqual(['ok', 'also ok'])
    // validation rows with labels unknown to training ("neutral") are skipped too
    expect((await all(ds.validation!)).map((r) => r.text)).toEqual(['great', 'bad'])
    expect(ds.badRows.counts).toEqual({ DATA_MISSING_TEXT: 2, DATA_UNKNOWN_LABEL: 1 })
    expect(ds.badRows.total).toBe(3)
    expect(ds.badRows.examples.map((x) => x.line)).toEqual([2, 3, 2])
    await ds.close()
  })

  it('says so when every row was skipped', async () => {
    const e = await failure(loadTextData(bytesSource('x.jsonl', '{"text": 1, "label": "a"}\n{"label": "b"}\n'), undefined, { task: 'text-classification', onBadRow: 'skip' }))
    expect(e.code).toBe('DATA_NO_ROWS')
    expect(e.message).toBe('x.jsonl: has no usable rows: all 2 were skipped (DATA_MISSING_TEXT: 1, DATA_WRONG_TYPE: 1)')
  })

  it('rejects a validation file without the training columns', async () => {
    const e = await failure(load('sst.csv', { task: 'text-classification' }, 'no-label-column.csv'))
    expect(e.code).toBe('DATA_UNKNOWN_COLUMN')
    expect(e.message).toContain(`${fx('no-label-column.csv')}: column "sentence" (used in the training data) does not exist`)
  })

  it('holds out a seeded share of training rows when there is no validation file', async () => {
    const opts = { task: 'text-classification', validationFraction: 0.34, seed: 3 } as const
    const a = await loadTextDataFiles(fx('sst.csv'), undefined, opts)
    const b = await loadTextDataFiles(fx('sst.csv'), undefined, opts)
    expect(a.validationSource).toBe('split')
    expect([a.train.length, a.validation!.length]).toEqual([4, 2])
    expect(Array.from(a.validation!.rows)).toEqual(Array.from(b.validation!.rows))
    const seen = [...(await all(a.train)), ...(await all(a.validation!))].map((r) => r.line).sort((x, y) => x - y)
    expect(seen).toEqual([2, 3, 4, 5, 6, 7])
    const strat = await loadTextDataFiles(fx('sst.csv'), undefined, { ...opts, stratify: true })
    expect((await all(strat.validation!)).map((r) => r.label).sort()).toEqual([0, 1])
    for (const d of [a, b, strat]) await d.close()
  })

  it('refuses formats a task cannot read', async () => {
    const e = await failure(load('ner.conll', { task: 'text-classification' }))
    expect([e.code, e.message]).toEqual(['DATA_FORMAT_TASK', `${fx('ner.conll')}: conll files cannot be used for text-classification`])
  })
})

describe('token classification data', () => {
  it('reads JSONL tokens with string tags and CoNLL files to the same examples', async () => {
    const json = await load('ner.jsonl', { task: 'token-classification' })
    const conll = await load('ner.conll', { task: 'token-classification' })
    expect(json.labels?.labelMap.id2label).toEqual({ 0: 'B-LOC', 1: 'B-MISC', 2: 'B-ORG', 3: 'B-PER', 4: 'I-PER', 5: 'O' })
    expect(conll.labels?.labelMap).toEqual(json.labels?.labelMap)
    const j = (await all(json.train)).map(({ tokens, tags }) => ({ tokens, tags }))
    const c = (await all(conll.train)).map(({ tokens, tags }) => ({ tokens, tags }))
    expect(c).toEqual(j)
    expect(j[0]).toEqual({ tokens: ['EU', 'rejects', 'German', 'call'], tags: [2, 5, 1, 5] })
    expect((await conll.train.get(1)).line).toBe(9)
    await json.close()
    await conll.close()
  })

  it('keeps integer tags as ids, named by a label list', async () => {
    const names = ['O', 'B-PER', 'I-PER', 'B-ORG', 'I-ORG', 'B-LOC', 'I-LOC', 'B-MISC', 'I-MISC']
    const ds = await load('ner-ids.jsonl', { task: 'token-classification', labels: names })
    expect(ds.labels?.labelMap.id2label[7]).toBe('B-MISC')
    expect((await ds.train.get(0)).tags).toEqual([3, 0, 7, 0])
    await ds.close()
  })

  it('reports tokens and tags of different lengths', async () => {
    const e = await failure(load('ner-mismatch.jsonl', { task: 'token-classification' }))
    expect([e.code, e.message]).toEqual(['DATA_LENGTH_MISMATCH', `${fx('ner-mismatch.jsonl')}:2: 3 tokens in "tokens" but 2 tags in "ner_tags"`])
  })
})

describe('causal LM data', () => {
  it('reads a text column or plain text by paragraph', async () => {
    const docs = await load('docs.jsonl', { task: 'causal-lm' })
    expect((await all(docs.train)).map((d) => d.text)).toEqual(['one document', 'another document\nwith a newline', 'third'])
    expect(docs.labels).toBeUndefined()
    const txt = await load('corpus.txt', { task: 'causal-lm', textUnit: 'paragraph' })
    expect((await all(txt.train)).map((d) => [d.line, d.text])).toEqual([
      [1, 'The first paragraph has\ntwo lines.'],
      [4, 'The second paragraph.'],
      [8, 'The third, after several blank lines.'],
    ])
    await docs.close()
    await txt.close()
  })
})
