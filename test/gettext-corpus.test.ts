// The committed corpus (data/gettext, written by scripts/gettext-corpus.ts) reads with the
// project's own TSV reader, and its splits do not leak: a test source never occurs in pretraining.
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { bytesSource } from '../src/data/source.js'
import { readRecords } from '../src/data/table.js'

const dir = new URL('../data/gettext/', import.meta.url)
const manifest = JSON.parse(readFileSync(new URL('manifest.json', dir), 'utf8')) as {
  options: { heldOut: string[] }
  languages: Record<string, { counts: Record<string, number> }>
}
async function rows(name: string): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = []
  for await (const r of readRecords(bytesSource(name, readFileSync(new URL(name, dir))))) out.push(r.values)
  return out
}

describe('gettext corpus', () => {
  for (const [lang, info] of Object.entries(manifest.languages))
    it(`en-${lang}: splits read as TSV with the manifest's counts and do not share sources`, async () => {
      const split: Record<string, Record<string, unknown>[]> = {}
      for (const s of ['pretrain', 'finetune', 'test']) {
        split[s] = await rows(`en-${lang}.${s}.tsv`)
        expect(split[s]!.length).toBe(info.counts[s])
        for (const r of split[s]!) {
          expect(typeof r['source'] === 'string' && r['source'] !== '').toBe(true)
          expect(typeof r['target'] === 'string' && r['target'] !== '').toBe(true)
        }
      }
      const held = new Set(manifest.options.heldOut)
      expect(split['test']!.every((r) => held.has(r['package'] as string))).toBe(true)
      expect(split['pretrain']!.some((r) => held.has(r['package'] as string))).toBe(false)
      const pre = new Set(split['pretrain']!.map((r) => r['source']))
      expect(split['test']!.filter((r) => pre.has(r['source']))).toEqual([])
    })
})
