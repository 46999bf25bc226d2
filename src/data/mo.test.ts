import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { parseMo, writeMo, type MoEntry } from './mo.js'

const entries: MoEntry[] = [
  { msgid: 'Open', msgstr: ['Öffnen'] },
  { context: 'menu', msgid: 'Open', msgstr: ['Öffnen…'] },
  { msgid: '%d file', msgidPlural: '%d files', msgstr: ['%d Datei', '%d Dateien'] },
  { msgid: '設定', msgstr: ['Einstellungen 😀'] },
]
const key = (e: MoEntry): string => `${e.context ?? ''}\u0004${e.msgid}`
const sorted = (es: MoEntry[]): MoEntry[] => [...es].sort((a, b) => (key(a) < key(b) ? -1 : 1))

const dirs: string[] = []
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

describe('.mo catalogues', () => {
  it('round-trips messages with contexts, plurals and non-ASCII text', () => {
    const c = parseMo(writeMo(entries, { 'Content-Type': 'text/plain; charset=UTF-8', Language: 'de', 'Plural-Forms': 'nplurals=2; plural=(n != 1);' }))
    expect(sorted(c.entries)).toEqual(sorted(entries))
    expect(c.headers['Language']).toBe('de')
    expect(c.charset).toBe('UTF-8')
  })
  it('reads a big-endian file and decodes the charset the header declares', () => {
    const le = writeMo([{ msgid: 'Quit', msgstr: ['Beenden'] }], { 'Content-Type': 'text/plain; charset=ISO-8859-1' })
    // swap every header/table word to big-endian, then put Latin-1 bytes in the translation
    const be = le.slice()
    const v = new DataView(be.buffer)
    const n = v.getUint32(8, true)
    for (let off = 0; off < 28 + 16 * n; off += 4) v.setUint32(off, new DataView(le.buffer).getUint32(off, true), false)
    const c = parseMo(be)
    expect(c.entries).toEqual([{ msgid: 'Quit', msgstr: ['Beenden'] }])
    const latin = writeMo([{ msgid: 'Size', msgstr: ['Gr\u00f6\u00dfe'] }], { 'Content-Type': 'text/plain; charset=ISO-8859-1' })
    // re-encode the UTF-8 "Größe" (7 bytes) as Latin-1 (5 bytes) in place, padding with NULs
    const s = Buffer.from(latin)
    const at = s.indexOf(Buffer.from('Größe'))
    const lenOff = 28 + 8 + 8 * s.readUInt32LE(8) // translation table entry 1 (0 is the header)
    Buffer.from('Größe', 'latin1').copy(s, at)
    s.fill(0, at + 5, at + 7)
    s.writeUInt32LE(5, lenOff)
    expect(parseMo(new Uint8Array(s)).entries[0]!.msgstr).toEqual(['Größe'])
  })
  it('rejects a file that is not a catalogue, naming it', () => {
    expect(() => parseMo(new Uint8Array(40), 'x.mo')).toThrow(expect.objectContaining({ code: 'MO_BAD_MAGIC' }))
    expect(() => parseMo(new Uint8Array(4), 'x.mo')).toThrow(/x\.mo: has 4 bytes/)
    const cut = writeMo(entries).subarray(0, 60)
    expect(() => parseMo(cut)).toThrow(expect.objectContaining({ code: 'MO_TRUNCATED' }))
  })
  it('reads what GNU msgfmt writes, and msgunfmt reads what writeMo writes', () => {
    let msgfmt = true
    try {
      execFileSync('msgfmt', ['--version'])
    } catch {
      msgfmt = false
    }
    if (!msgfmt) return // gettext tools not installed: the round trip above still covers the format
    const dir = mkdtempSync(join(tmpdir(), 'mo-'))
    dirs.push(dir)
    writeFileSync(
      join(dir, 'a.po'),
      'msgid ""\nmsgstr "Content-Type: text/plain; charset=UTF-8\\nPlural-Forms: nplurals=2; plural=(n != 1);\\n"\n\n' +
        'msgid "Open"\nmsgstr "Öffnen"\n\nmsgctxt "menu"\nmsgid "Open"\nmsgstr "Öffnen…"\n\n' +
        'msgid "%d file"\nmsgid_plural "%d files"\nmsgstr[0] "%d Datei"\nmsgstr[1] "%d Dateien"\n\nmsgid "設定"\nmsgstr "Einstellungen 😀"\n',
    )
    execFileSync('msgfmt', ['-o', join(dir, 'a.mo'), join(dir, 'a.po')])
    expect(sorted(parseMo(readFileSync(join(dir, 'a.mo'))).entries)).toEqual(sorted(entries))
    writeFileSync(join(dir, 'b.mo'), writeMo(entries))
    const po = execFileSync('msgunfmt', [join(dir, 'b.mo')], { encoding: 'utf8' })
    expect(po).toContain('msgctxt "menu"')
    expect(po).toContain('msgstr[1] "%d Dateien"')
  })
})
