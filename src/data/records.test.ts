import { describe, expect, it } from 'vitest'
import { DataError } from '../errors.js'
import { RecordScanner, scanRecords, type RawRecord, type ScanOptions } from './records.js'
import { bytesSource } from './source.js'

const dec = new TextDecoder()

async function scan(text: string | Uint8Array, opts: ScanOptions, chunk = 1 << 16): Promise<RawRecord[]> {
  const out: RawRecord[] = []
  for await (const r of scanRecords(bytesSource('t', text, chunk), opts)) out.push({ ...r, bytes: r.bytes.slice() })
  return out
}
const texts = (rs: RawRecord[]): string[] => rs.map((r) => dec.decode(r.bytes))

describe('record scanner', () => {
  const csv = '\ufeffa,b\r\n1,"x\r\ny"\r\n\r\n2,"q""\n""",z\n3,5" wide\n4,last'

  it('ends CSV records only at newlines outside quotes, skipping BOM, blank lines and CR', async () => {
    const rs = await scan(csv, { mode: 'csv' })
    expect(texts(rs)).toEqual(['a,b', '1,"x\r\ny"', '2,"q""\n""",z', '3,5" wide', '4,last'])
    expect(rs.map((r) => r.line)).toEqual([1, 2, 5, 7, 8])
  })

  it('gives byte offsets and lengths that address the record in the file', async () => {
    const bytes = new TextEncoder().encode(csv + '\nü,"ß\n"\n')
    const rs = await scan(bytes, { mode: 'csv' })
    expect(rs[0]!.offset).toBe(3) // after the BOM
    for (const r of rs) expect(bytes.subarray(r.offset, r.offset + r.length)).toEqual(r.bytes)
    expect(texts(rs).at(-1)).toBe('ü,"ß\n"')
  })

  it('gives the same records whatever the chunk size', async () => {
    const whole = await scan(csv, { mode: 'csv' })
    for (const chunk of [1, 2, 3, 5, 7, 13]) expect(await scan(csv, { mode: 'csv' }, chunk)).toEqual(whole)
    const conll = 'a B\nb C\r\n\r\n  \n\nc D\n'
    const blocks = await scan(conll, { mode: 'blocks' })
    for (const chunk of [1, 2, 3, 4]) expect(await scan(conll, { mode: 'blocks' }, chunk)).toEqual(blocks)
  })

  it('treats quotes as literal when quoting is off (plain TSV)', async () => {
    const rs = await scan('a\tb\n"x\ty\n"z"\tw', { mode: 'csv', delimiter: 9, quoting: false })
    expect(texts(rs)).toEqual(['a\tb', '"x\ty', '"z"\tw'])
  })

  it('splits lines, skipping whitespace-only ones', async () => {
    const rs = await scan('{"a":1}\n  \n\n{"a":2}\r\n{"a":3}', { mode: 'lines' })
    expect(texts(rs)).toEqual(['{"a":1}', '{"a":2}', '{"a":3}'])
    expect(rs.map((r) => r.line)).toEqual([1, 4, 5])
  })

  it('makes one record per blank-line-separated block', async () => {
    const rs = await scan('\n\nfirst\nsecond\n\n \t\nthird\r\n', { mode: 'blocks' })
    expect(texts(rs)).toEqual(['first\nsecond', 'third'])
    expect(rs.map((r) => r.line)).toEqual([3, 7])
  })

  it('reports a quote that is never closed with the line it opened on', async () => {
    const err = await scan('a,b\n1,2\n3,"open\n4,5\n', { mode: 'csv' }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(DataError)
    expect((err as DataError).code).toBe('DATA_UNCLOSED_QUOTE')
    expect((err as DataError).message).toContain('t:3:')
  })

  it('handles a BOM split across chunks', () => {
    const sc = new RecordScanner('t', { mode: 'lines' })
    const out: RawRecord[] = []
    const bytes = new TextEncoder().encode('\ufeffhello\nworld')
    for (const b of bytes) sc.push(Uint8Array.of(b), out)
    sc.finish(out)
    expect(texts(out)).toEqual(['hello', 'world'])
    expect(out[0]!.offset).toBe(3)
  })
})
