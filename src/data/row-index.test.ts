import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { DataError } from '../errors.js'
import { epochOrder } from './order.js'
import { buildRowIndex, deserializeRowIndex, RowReader, serializeRowIndex } from './row-index.js'
import { cachedRowIndex, fileSource } from './source-node.js'
import { bytesSource } from './source.js'
import { readRecords, type DataRecord, type TableOptions } from './table.js'

const fx = (name: string): string => join('test/fixtures/data', name)
const dirs: string[] = []
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

async function streamed(path: string, opts: TableOptions): Promise<DataRecord[]> {
  const out: DataRecord[] = []
  for await (const r of readRecords(await fileSource(path), opts)) out.push(r)
  return out
}

describe('row index', () => {
  const cases: [string, TableOptions][] = [
    ['quoting.csv', {}],
    ['pairs.tsv', {}],
    ['plain.tsv', { quoting: false }],
    ['reviews.jsonl', {}],
    ['ner.conll', {}],
    ['corpus.txt', { textUnit: 'paragraph' }],
  ]
  for (const [name, opts] of cases) {
    it(`reads every row of ${name} by offset exactly as the stream gave it, in any order`, async () => {
      const source = await fileSource(fx(name))
      const index = await buildRowIndex(source, opts)
      const expected = await streamed(fx(name), opts)
      expect(index.count).toBe(expected.length)
      const reader = new RowReader(source, index)
      for (const i of epochOrder(index.count, 7, 0)) expect(await reader.get(i)).toEqual(expected[i])
      await source.close?.()
    })
  }

  it('respects quoted newlines when indexing a CSV read in small chunks', async () => {
    const text = 'text,label\n"line one\nline two",a\n"x ""quoted""\n\nmore",b\nplain,c\n'
    const source = bytesSource('mem.csv', text, 4)
    const index = await buildRowIndex(source)
    expect(Array.from(index.lines)).toEqual([2, 4, 7])
    const reader = new RowReader(source, index)
    expect((await reader.get(1)).values).toEqual({ text: 'x "quoted"\n\nmore', label: 'b' })
    expect((await reader.get(2)).values).toEqual({ text: 'plain', label: 'c' })
  })

  it('round-trips through bytes', async () => {
    const index = await buildRowIndex(await fileSource(fx('quoting.csv')))
    const back = deserializeRowIndex(serializeRowIndex(index))
    expect(back).toEqual(index)
    expect(() => deserializeRowIndex(new TextEncoder().encode('not an index'))).toThrow(DataError)
  })

  it('is cached on disk and rebuilt when the file changes size', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ft-index-'))
    dirs.push(dir)
    const data = join(dir, 'd.csv')
    await writeFile(data, 'text,label\na,x\nb,y\n')
    const first = await cachedRowIndex(data, join(dir, 'd.idx'))
    expect(first.count).toBe(2)
    const again = await cachedRowIndex(data, join(dir, 'd.idx'))
    expect(again).toEqual(first)
    await writeFile(data, 'text,label\na,x\nb,y\nc,z\n')
    expect(() => new RowReader(bytesSource(data, 'text,label\na,x\nb,y\nc,z\n'), first)).toThrow(/row index was built for 19 bytes/)
    const rebuilt = await cachedRowIndex(data, join(dir, 'd.idx'))
    expect(rebuilt.count).toBe(3)
  })
})
