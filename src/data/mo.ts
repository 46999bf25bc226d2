/**
 * GNU gettext message catalogues (`.mo`): reading and writing the binary format described in the
 * gettext manual, "The Format of GNU MO Files". A catalogue is a header (magic 0x950412de in the
 * file's byte order, revision, string count N, offsets of the original and translation tables)
 * and two tables of N (length, offset) pairs pointing at NUL-terminated strings. A context is
 * stored as `context \x04 msgid`; a plural entry as `msgid \0 msgid_plural` with translations
 * `form0 \0 form1 ...`. The entry with the empty msgid holds the header (`Content-Type: ...;
 * charset=...`, `Language:`, `Plural-Forms:`), from which the charset of all strings is read.
 * Only revision 0/1's regular strings are read; revision 1's system-dependent strings (the
 * `<PRIxx>` variants) are left out.
 */
import { DataError } from '../errors.js'

/** One message of a catalogue. */
export interface MoEntry {
  /** msgctxt, when the message has one. */
  context?: string
  msgid: string
  /** The English plural form, for plural messages. */
  msgidPlural?: string
  /** One translation, or one per plural form. */
  msgstr: string[]
}

export interface MoCatalog {
  /** The header entry's fields (`Content-Type`, `Language`, `Plural-Forms` ...), as written. */
  headers: Record<string, string>
  /** The charset the strings were decoded from (from the header; UTF-8 when none is given). */
  charset: string
  /** All messages except the header, in the file's order (sorted by msgid). */
  entries: MoEntry[]
}

const MAGIC = 0x950412de

function moError(code: string, name: string, message: string, hint?: string): never {
  throw new DataError(code, `${name}: ${message}`, hint ?? 'the file may be truncated or not a gettext .mo catalogue; recompile it with msgfmt')
}

/** Header fields of the msgid "" entry: `Key: value` lines. */
export function parseMoHeader(text: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const line of text.split('\n')) {
    const i = line.indexOf(':')
    if (i > 0) out[line.slice(0, i).trim()] = line.slice(i + 1).trim()
  }
  return out
}

/** Parses a .mo file. `name` is used in error messages. */
export function parseMo(bytes: Uint8Array, name = 'catalogue.mo'): MoCatalog {
  if (bytes.length < 28) moError('MO_TRUNCATED', name, `has ${bytes.length} bytes, fewer than a .mo header (28)`)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  let le: boolean
  if (view.getUint32(0, true) === MAGIC) le = true
  else if (view.getUint32(0, false) === MAGIC) le = false
  else moError('MO_BAD_MAGIC', name, `starts with 0x${view.getUint32(0, true).toString(16)}, not the .mo magic number 0x950412de`)
  const u32 = (off: number): number => {
    if (off + 4 > bytes.length) moError('MO_TRUNCATED', name, `ends at byte ${bytes.length}, inside a table at ${off}`)
    return view.getUint32(off, le)
  }
  const major = u32(4) >>> 16
  if (major > 1) moError('MO_BAD_REVISION', name, `has major revision ${major}; only 0 and 1 exist`, 'the file may come from a newer gettext; recompile it with this msgfmt')
  const n = u32(8)
  const origTable = u32(12)
  const transTable = u32(16)
  const raw = (table: number, i: number): Uint8Array => {
    const len = u32(table + 8 * i)
    const off = u32(table + 8 * i + 4)
    if (off + len > bytes.length) moError('MO_TRUNCATED', name, `string ${i} runs to byte ${off + len}, past the end (${bytes.length})`)
    return bytes.subarray(off, off + len)
  }
  const originals: Uint8Array[] = []
  const translations: Uint8Array[] = []
  for (let i = 0; i < n; i++) {
    originals.push(raw(origTable, i))
    translations.push(raw(transTable, i))
  }
  // The header (msgid "") is decoded as UTF-8 first: its charset applies to every other string.
  const utf8 = new TextDecoder('utf-8')
  const hi = originals.findIndex((o) => o.length === 0)
  const headers = hi >= 0 ? parseMoHeader(utf8.decode(translations[hi])) : {}
  const charset = /charset=\s*([^\s;]+)/i.exec(headers['Content-Type'] ?? '')?.[1] ?? 'UTF-8'
  let decoder: TextDecoder
  try {
    decoder = new TextDecoder(charset.toUpperCase() === 'CHARSET' ? 'utf-8' : charset, { ignoreBOM: true })
  } catch {
    moError('MO_UNKNOWN_CHARSET', name, `declares charset "${charset}", which this runtime cannot decode`, 'convert the catalogue to UTF-8 with msgconv and recompile it')
  }
  const entries: MoEntry[] = []
  for (let i = 0; i < n; i++) {
    if (i === hi) continue
    let id = decoder.decode(originals[i])
    const entry: MoEntry = { msgid: '', msgstr: decoder.decode(translations[i]).split('\0') }
    const ctx = id.indexOf('\x04')
    if (ctx >= 0) {
      entry.context = id.slice(0, ctx)
      id = id.slice(ctx + 1)
    }
    const nul = id.indexOf('\0')
    if (nul >= 0) {
      entry.msgidPlural = id.slice(nul + 1)
      id = id.slice(0, nul)
    }
    entry.msgid = id
    entries.push(entry)
  }
  return { headers, charset, entries }
}

/**
 * Writes a little-endian revision-0 .mo catalogue (UTF-8, no hash table; gettext falls back to a
 * binary search, which needs the originals sorted, as done here). `headers` become the msgid ""
 * entry. Used by tests and for small catalogues.
 */
export function writeMo(entries: readonly MoEntry[], headers: Record<string, string> = { 'Content-Type': 'text/plain; charset=UTF-8' }): Uint8Array {
  const enc = new TextEncoder()
  const key = (e: MoEntry): string => (e.context !== undefined ? `${e.context}\x04` : '') + e.msgid + (e.msgidPlural !== undefined ? `\0${e.msgidPlural}` : '')
  const headerText = Object.entries(headers).map(([k, v]) => `${k}: ${v}\n`).join('')
  const pairs: [Uint8Array, Uint8Array][] = [[new Uint8Array(0), enc.encode(headerText)], ...entries.map((e): [Uint8Array, Uint8Array] => [enc.encode(key(e)), enc.encode(e.msgstr.join('\0'))])]
  // gettext compares originals as unsigned bytes (strcmp)
  pairs.sort(([a], [b]) => {
    for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! - b[i]!
    return a.length - b.length
  })
  const n = pairs.length
  const origTable = 28
  const transTable = origTable + 8 * n
  let off = transTable + 8 * n
  const size = off + pairs.reduce((s, [a, b]) => s + a.length + b.length + 2, 0)
  const out = new Uint8Array(size)
  const view = new DataView(out.buffer)
  view.setUint32(0, MAGIC, true)
  view.setUint32(4, 0, true)
  view.setUint32(8, n, true)
  view.setUint32(12, origTable, true)
  view.setUint32(16, transTable, true)
  view.setUint32(20, 0, true) // hash table size
  view.setUint32(24, off, true)
  const put = (table: number, i: number, s: Uint8Array): void => {
    view.setUint32(table + 8 * i, s.length, true)
    view.setUint32(table + 8 * i + 4, off, true)
    out.set(s, off)
    off += s.length + 1 // NUL terminator (already 0)
  }
  pairs.forEach(([a], i) => put(origTable, i, a))
  pairs.forEach(([, b], i) => put(transTable, i, b))
  return out
}
