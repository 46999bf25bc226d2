import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { DataError } from '../errors.js'
import { parseFields } from './csv.js'
import { BadRows, DataRowError } from './errors.js'
import { jsonErrorPosition } from './json-position.js'
import { fileSource } from './source-node.js'
import { bytesSource } from './source.js'
import { formatFromName, readRecords, type DataRecord, type ReadOptions } from './table.js'

const fx = (name: string): string => join('test/fixtures/data', name)

async function read(name: string, opts: ReadOptions = {}): Promise<DataRecord[]> {
  const out: DataRecord[] = []
  for await (const r of readRecords(await fileSource(fx(name)), opts)) out.push(r)
  return out
}

async function failure(p: Promise<unknown>): Promise<DataError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  )
  if (!(e instanceof DataError)) throw new Error(`expected a DataError, got ${String(e)}`)
  return e
}

describe('CSV fields', () => {
  const opts = { delimiter: ',', quoting: true }
  it('unquotes quoted fields, unescapes doubled quotes and keeps delimiters and newlines inside', () => {
    expect(parseFields('a,"b,c","say ""hi""","x\ny",', opts, 'f', 1)).toEqual(['a', 'b,c', 'say "hi"', 'x\ny', ''])
  })
  it('keeps a quote in the middle of an unquoted field', () => {
    expect(parseFields('5" wide,ok', opts, 'f', 1)).toEqual(['5" wide', 'ok'])
  })
  it('rejects text after a closing quote, naming line and column', () => {
    const e = (() => {
      try {
        parseFields('ok,"a\nb"c,d', opts, 'f.csv', 7)
      } catch (err) {
        return err as DataRowError
      }
    })()
    expect(e).toBeInstanceOf(DataRowError)
    expect(e!.code).toBe('DATA_BAD_QUOTE')
    expect(e!.message).toMatch(/^f\.csv:8:3: field 2/)
  })
})

describe('JSON error positions', () => {
  it('points at the first bad character', () => {
    expect(jsonErrorPosition('{"a": 1}')).toBe(-1)
    expect(jsonErrorPosition('{"a": pos}')).toBe(6)
    expect(jsonErrorPosition('{"a": 1,}')).toBe(8)
    expect(jsonErrorPosition('{"a": [1, 2}')).toBe(11)
    expect(jsonErrorPosition('{"a": "x"} extra')).toBe(11)
    expect(jsonErrorPosition('{"a": "unterminated')).toBe(19)
  })
})

describe('formats', () => {
  it('come from the extension or an explicit option', () => {
    expect(formatFromName('a/b.CSV')).toBe('csv')
    expect(formatFromName('x.tsv')).toBe('tsv')
    expect(formatFromName('x.json')).toBe('jsonl')
    expect(formatFromName('x.ndjson')).toBe('jsonl')
    expect(formatFromName('x.conll')).toBe('conll')
    expect(formatFromName('x.txt')).toBe('text')
    expect(formatFromName('x.txt', 'conll')).toBe('conll')
    expect(() => formatFromName('data.parquet')).toThrow(/data\.parquet: cannot tell the data format.*"\.parquet"/)
  })

  it('reads RFC 4180 CSV with BOM, CRLF, quoted commas, escaped quotes and embedded newlines', async () => {
    const rs = await read('quoting.csv')
    expect(rs.map((r) => r.values)).toEqual([
      { id: '1', text: 'plain text', label: 'pos' },
      { id: '2', text: 'a, with comma', label: 'neg' },
      { id: '3', text: 'she said "hi"', label: 'pos' },
      { id: '4', text: 'two\r\nlines', label: 'neg' },
      { id: '5', text: 'a 5" screen', label: 'pos' },
      { id: '6', text: 'ünïcödé ✓', label: 'neg' },
    ])
    expect(rs.map((r) => r.line)).toEqual([2, 3, 4, 5, 7, 9])
    expect(rs.every((r) => r.file === fx('quoting.csv'))).toBe(true)
  })

  it('reads quoted TSV, and plain TSV with quoting off', async () => {
    const pairs = await read('pairs.tsv')
    expect(pairs[2]!.values).toEqual({ sentence1: 'Quoted\tsentence', sentence2: 'Something else.', label: '1' })
    const quoted = await failure(read('plain.tsv'))
    expect(quoted.code).toBe('DATA_BAD_QUOTE')
    expect(quoted.message).toContain(`${fx('plain.tsv')}:2:8: field 1 has text after its closing quote`)
    expect(quoted.hint).toContain('quoting: false')
    const plain = await read('plain.tsv', { quoting: false })
    expect(plain.map((r) => r.values.text)).toEqual(['"Great" was all he said', 'it\'s a 5" screen'])
  })

  it('reads JSON Lines, skipping blank lines and keeping JSON types', async () => {
    const rs = await read('reviews.jsonl')
    expect(rs.map((r) => [r.line, r.values.text])).toEqual([
      [1, 'loved it'],
      [3, 'hated it'],
      [5, 'it was fine'],
      [6, 'ünïcödé ✓'],
    ])
    const reg = await read('regression.jsonl')
    expect(reg.map((r) => r.values.label)).toEqual([5, 0.25, 4.2])
  })

  it('reads CoNLL sentences, ignoring -DOCSTART- and taking the last column as the tag', async () => {
    const rs = await read('ner.conll')
    expect(rs.map((r) => [r.line, r.values])).toEqual([
      [3, { tokens: ['EU', 'rejects', 'German', 'call'], tags: ['B-ORG', 'O', 'B-MISC', 'O'] }],
      [9, { tokens: ['Peter', 'Blackburn'], tags: ['B-PER', 'I-PER'] }],
      [12, { tokens: ['BRUSSELS', '1996-08-22'], tags: ['B-LOC', 'O'] }],
    ])
  })

  it('reads plain text by line or by paragraph', async () => {
    const lines = await read('corpus.txt')
    expect(lines.map((r) => r.values.text)).toEqual(['The first paragraph has', 'two lines.', 'The second paragraph.', 'The third, after several blank lines.'])
    const paras = await read('corpus.txt', { textUnit: 'paragraph' })
    expect(paras.map((r) => [r.line, r.values.text])).toEqual([
      [1, 'The first paragraph has\ntwo lines.'],
      [4, 'The second paragraph.'],
      [8, 'The third, after several blank lines.'],
    ])
  })
})

describe('file and row errors', () => {
  it('names a missing file and lists data files next to it', async () => {
    const e = await failure(fileSource(fx('reveiws.jsonl')))
    expect(e.code).toBe('DATA_FILE_MISSING')
    expect(e.message).toContain(fx('reveiws.jsonl'))
    expect(e.hint).toMatch(/closest names first: reviews.jsonl/)
  })

  it('rejects an empty file and a header without rows', async () => {
    const empty = await failure(fileSource(fx('empty.csv')))
    expect([empty.code, empty.message]).toEqual(['DATA_EMPTY', `${fx('empty.csv')}: is empty (0 bytes)`])
    const header = await failure(read('header-only.csv'))
    expect(header.code).toBe('DATA_EMPTY')
    expect(header.message).toContain(`${fx('header-only.csv')}: has a header but no rows`)
  })

  it('reports a ragged CSV row with file, line and the header it should match', async () => {
    const e = await failure(read('ragged.csv'))
    expect(e).toBeInstanceOf(DataRowError)
    expect(e.code).toBe('DATA_RAGGED_ROW')
    expect(e.message).toBe(`${fx('ragged.csv')}:3: row has 3 field(s) but the header has 2 (text, label)`)
    expect(e.hint).toMatch(/quote fields/)
  })

  it('reports invalid JSON with line, column and the parser message', async () => {
    const e = await failure(read('bad-json.jsonl'))
    expect(e.code).toBe('DATA_INVALID_JSON')
    expect(e.message).toMatch(new RegExp(`^${fx('bad-json.jsonl')}:2:29: invalid JSON at column 29`))
    expect((e as DataRowError).column).toBe(29)
    expect(e.message).toContain('"label": pos}')
  })

  it('explains a JSON array file and a pretty-printed JSON file', async () => {
    const arr = await failure(read('array.json'))
    expect(arr.code).toBe('DATA_NOT_AN_OBJECT')
    expect(arr.message).toContain(`${fx('array.json')}:1:1: expected one JSON object per line, found an array`)
    expect(arr.hint).toContain('jq')
    const pretty = await failure(read('pretty.json'))
    expect(pretty.code).toBe('DATA_INVALID_JSON')
    expect(pretty.message).toContain(`${fx('pretty.json')}:1:2:`)
  })

  it('reports an unclosed quote and text after a closing quote', async () => {
    const unclosed = await failure(read('unclosed.csv'))
    expect(unclosed.code).toBe('DATA_UNCLOSED_QUOTE')
    expect(unclosed.message).toContain(`${fx('unclosed.csv')}:3:`)
    const badQuote = await failure(read('bad-quote.csv'))
    expect(badQuote.code).toBe('DATA_BAD_QUOTE')
    expect(badQuote.message).toContain(`${fx('bad-quote.csv')}:3:9: field 1`)
  })

  it('skips bad rows when asked and counts them per reason', async () => {
    const bad = new BadRows('skip')
    const ragged = await read('ragged.csv', { badRows: bad })
    expect(ragged.map((r) => r.values.text)).toEqual(['fine', 'also fine'])
    const json = await read('bad-json.jsonl', { badRows: bad })
    expect(json.map((r) => r.values.text)).toEqual(['ok', 'ok too'])
    const report = bad.report()
    expect(report.counts).toEqual({ DATA_INVALID_JSON: 1, DATA_NOT_AN_OBJECT: 1, DATA_RAGGED_ROW: 2 })
    expect(report.total).toBe(4)
    expect(report.examples.map((x) => `${x.file}:${x.line}`)).toEqual([fx('ragged.csv') + ':3', fx('ragged.csv') + ':5', fx('bad-json.jsonl') + ':2', fx('bad-json.jsonl') + ':4'])
  })

  it('reads from memory and from a Blob like from a file', async () => {
    const text = 'text,label\n"a, b",x\n'
    const fromBytes: DataRecord[] = []
    for await (const r of readRecords(bytesSource('mem.csv', text, 3))) fromBytes.push(r)
    const { blobSource } = await import('./source.js')
    const fromBlob: DataRecord[] = []
    for await (const r of readRecords(blobSource(new Blob([text]), 'blob.csv'))) fromBlob.push(r)
    expect(fromBytes.map((r) => r.values)).toEqual([{ text: 'a, b', label: 'x' }])
    expect(fromBlob.map((r) => r.values)).toEqual(fromBytes.map((r) => r.values))
  })
})

describe('chunk streams', () => {
  it('stream records from text chunks split anywhere, once', async () => {
    const { chunkSource } = await import('./source.js')
    async function* chunks() {
      yield '{"text": "a", "la'
      yield 'bel": 1}\n{"text": "ü'
      yield new TextEncoder().encode('ß"}\n')
    }
    const source = chunkSource('stream.jsonl', chunks())
    const out: DataRecord[] = []
    for await (const r of readRecords(source)) out.push(r)
    expect(out.map((r) => [r.line, r.offset, r.values])).toEqual([
      [1, 0, { text: 'a', label: 1 }],
      [2, 26, { text: 'üß' }],
    ])
    await expect(source.read(0, 1)).rejects.toThrow(/cannot be read by position/)
  })
})
