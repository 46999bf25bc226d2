import { describe, expect, it } from 'vitest'
import { dedupePairs, gettextPairs, isFormatOnly, splitByPackage, stripAccelerators, type ParallelPair } from './gettext-pairs.js'
import { parseMo, writeMo } from './mo.js'

describe('gettext pair extraction', () => {
  it('skips plurals, format-only and over-long messages, trims whitespace, records the package', () => {
    const mo = writeMo([
      { msgid: 'Cannot open %s\n', msgstr: ['Kann %s nicht öffnen\n'] },
      { msgid: '%d item', msgidPlural: '%d items', msgstr: ['%d Element', '%d Elemente'] },
      { msgid: '%s: %s', msgstr: ['%s: %s'] },
      { msgid: '%(name)s (%1$d%%)', msgstr: ['%(name)s (%1$d %%)'] },
      { msgid: 'Value: {0}', msgstr: ['{0}'] },
      { msgid: 'x'.repeat(301), msgstr: ['y'] },
      { context: 'verb', msgid: 'Print', msgstr: ['Drucken'] },
    ])
    const { pairs, skipped } = gettextPairs(parseMo(mo), 'demo')
    expect(pairs).toEqual([
      { source: 'Cannot open %s', target: 'Kann %s nicht öffnen', package: 'demo' },
      { source: 'Print', target: 'Drucken', package: 'demo' },
    ])
    expect(skipped).toEqual({ plural: 1, untranslated: 0, empty: 0, 'format-only': 3, 'too-long': 1 })
  })
  it('format-only means no letter outside printf, Python and brace directives', () => {
    expect(isFormatOnly('%-10.3lu %s%%')).toBe(true)
    expect(isFormatOnly('%<PRId64> / ${HOME} {name}')).toBe(true)
    expect(isFormatOnly('%s files')).toBe(false)
    expect(isFormatOnly('—')).toBe(true)
    expect(isFormatOnly('日本')).toBe(false)
  })
  it('strips GTK and Qt accelerators, and the CJK (_X) suffix', () => {
    expect(stripAccelerators('_Open', 'Ö_ffnen')).toEqual(['Open', 'Öffnen'])
    expect(stripAccelerators('Save _As…', 'Speichern _unter …')).toEqual(['Save As…', 'Speichern unter …'])
    expect(stripAccelerators('&File', '&Datei')).toEqual(['File', 'Datei'])
    expect(stripAccelerators('_File', 'ファイル(_F)')).toEqual(['File', 'ファイル'])
    expect(stripAccelerators('_Open…', '開く(_O)…')).toEqual(['Open…', '開く…'])
  })
  it('leaves identifiers, entities and prose ampersands alone', () => {
    expect(stripAccelerators('LC_ALL is set', 'LC_ALL ist gesetzt')).toEqual(['LC_ALL is set', 'LC_ALL ist gesetzt'])
    expect(stripAccelerators('bad max_size', 'ungültige max_size')).toEqual(['bad max_size', 'ungültige max_size'])
    expect(stripAccelerators('Drag & Drop', 'Ziehen & Ablegen')).toEqual(['Drag & Drop', 'Ziehen & Ablegen'])
    expect(stripAccelerators('A &amp; B', 'A &amp; B')).toEqual(['A &amp; B', 'A &amp; B'])
    expect(stripAccelerators('__init__', '__init__')).toEqual(['__init__', '__init__'])
    expect(stripAccelerators('_a and _b', '_x und _y')).toEqual(['_a and _b', '_x und _y'])
  })
  it('dedupes identical pairs, keeping the first package', () => {
    const p = (source: string, target: string, pkg: string): ParallelPair => ({ source, target, package: pkg })
    expect(dedupePairs([p('a', 'A', 'x'), p('a', 'A', 'y'), p('a', 'B', 'y')])).toEqual([p('a', 'A', 'x'), p('a', 'B', 'y')])
  })
  it('splits by package without a source on both sides', () => {
    const pairs: ParallelPair[] = []
    for (let i = 0; i < 200; i++) pairs.push({ source: `s${i}`, target: `t${i}`, package: i % 4 === 0 ? 'gui' : 'cli' })
    pairs.push({ source: 's0', target: 'other', package: 'cli' })
    const s = splitByPackage(pairs, new Set(['gui']), 0.5)
    expect(s.finetune.length + s.test.length).toBe(50)
    expect(Math.abs(s.test.length - 25)).toBeLessThan(12)
    expect(s.pretrain.length).toBe(150)
    expect(s.pretrain.some((p) => p.source === 's0')).toBe(false)
    const test = new Set(s.test.map((p) => p.source))
    expect(s.finetune.some((p) => test.has(p.source))).toBe(false)
  })
})
