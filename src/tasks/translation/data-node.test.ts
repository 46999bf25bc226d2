// Reading parallel data: columns or {"translation": {...}} rows, and errors that name the file, line
// and field of a bad row and say what to pass instead.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { readPairs } from './data-node.js'
import { collatePairs } from './task-node.js'

const dir = mkdtempSync(join(tmpdir(), 'ft-pairs-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const file = (name: string, text: string) => {
  writeFileSync(join(dir, name), text)
  return join(dir, name)
}

describe('readPairs', () => {
  it('reads named TSV columns and HF translation rows alike', async () => {
    const t = file('a.tsv', 'en\tde\nOpen\tÖffnen\nClose\tSchließen\n')
    expect((await readPairs(t, { sourceColumn: 'en', targetColumn: 'de', onBadRow: 'error' })).pairs).toEqual([{ source: 'Open', target: 'Öffnen' }, { source: 'Close', target: 'Schließen' }])
    const j = file('a.jsonl', '{"translation": {"en": "Open", "de": "Öffnen"}}\n{"translation": {"en": "Close", "de": "Schließen"}}\n')
    expect((await readPairs(j, { sourceLang: 'en', targetLang: 'de', onBadRow: 'error' })).pairs).toHaveLength(2)
  })
  it('names the missing language of a row, or skips and counts it', async () => {
    const j = file('b.jsonl', '{"translation": {"en": "Open", "de": "Öffnen"}}\n{"translation": {"en": "Close", "fr": "Fermer"}}\n')
    await expect(readPairs(j, { sourceLang: 'en', targetLang: 'de', onBadRow: 'error' })).rejects.toThrow(/b\.jsonl:2: translation\.de has no "de" \(languages: en, fr\)/)
    const r = await readPairs(j, { sourceLang: 'en', targetLang: 'de', onBadRow: 'skip' })
    expect(r).toEqual({ pairs: [{ source: 'Open', target: 'Öffnen' }], skipped: 1 })
  })
  it('wants both languages, and says so', async () => {
    const j = file('c.jsonl', '{"translation": {"en": "Open", "de": "Öffnen"}}\n')
    await expect(readPairs(j, { sourceLang: 'en', onBadRow: 'error' })).rejects.toThrow(/--source-lang and --target-lang go together/)
  })
  it('without column flags takes the first default column a row has, and names them all when none is there', async () => {
    const columns = { source: ['document', 'text'], target: ['summary'] }
    const t = file('s.csv', 'text,summary\nA long text.,Short.\n')
    expect((await readPairs(t, { onBadRow: 'error', columns })).pairs).toEqual([{ source: 'A long text.', target: 'Short.' }])
    const bad = file('s2.csv', 'article,summary\nA long text.,Short.\n')
    await expect(readPairs(bad, { onBadRow: 'error', columns })).rejects.toThrow(/no column "document" or "text" \(columns: article, summary\)/)
    await expect(readPairs(bad, { onBadRow: 'error', columns, sourceColumn: 'body' })).rejects.toThrow(/no column "body" \(columns: article, summary\)/)
  })
  it('refuses an empty target, naming the row and column', async () => {
    const t = file('d.csv', 'source,target\nOpen,\n')
    await expect(readPairs(t, { onBadRow: 'error' })).rejects.toThrow(/d\.csv:2: target is empty/)
  })
})

describe('collatePairs', () => {
  it('pads sources with pad, labels with -100, and shifts labels right behind the start token (-100 -> pad)', () => {
    const f = collatePairs([{ src: [5, 6, 0], tgt: [7, 8, 0] }, { src: [9, 0], tgt: [4, 0] }], 3, 3, 99, 99)
    expect(Array.from(f['input_ids']!.data as BigInt64Array, Number)).toEqual([5, 6, 0, 9, 0, 99])
    expect(Array.from(f['attention_mask']!.data as BigInt64Array, Number)).toEqual([1, 1, 1, 1, 1, 0])
    expect(Array.from(f['labels']!.data as BigInt64Array, Number)).toEqual([7, 8, 0, 4, 0, -100])
    expect(Array.from(f['decoder_input_ids']!.data as BigInt64Array, Number)).toEqual([99, 7, 8, 99, 4, 0])
  })
})
