/**
 * Turns a raw e-mail of the SpamAssassin public corpus into classification text: the decoded
 * Subject plus the readable body. Headers are dropped; MIME multipart messages contribute their
 * text/plain parts (text/html, tags stripped, when there is no plain part); quoted-printable and
 * base64 are decoded, then the declared charset. Whitespace is collapsed and the body capped.
 * Browser-safe; spam-assassin-node.ts reads the corpus files.
 */

export type SpamAssassinLabel = 'ham' | 'spam'

/** The corpus's message groups, in the package's order. */
export const SPAM_ASSASSIN_GROUPS = ['easy-ham-1', 'easy-ham-2', 'hard-ham-1', 'spam-1', 'spam-2'] as const
export type SpamAssassinGroup = (typeof SPAM_ASSASSIN_GROUPS)[number]

export interface SpamAssassinRecord {
  /** Subject, a newline, then the body text. */
  text: string
  label: SpamAssassinLabel
  /** `group/number`, e.g. `spam-2/00001`. */
  id: string
}

/** Default cap on body characters: enough for a 512-token model, small enough to keep 6k mails light. */
export const DEFAULT_MAX_BODY_CHARS = 2000

export const spamAssassinLabel = (group: string): SpamAssassinLabel => (group.startsWith('spam') ? 'spam' : 'ham')

/** Subject and body text of a raw message. */
export function parseEmail(raw: Uint8Array): { subject: string; body: string } {
  const { headers, body } = splitEntity(binaryString(raw).replace(/\r\n?/g, '\n'))
  const subject = collapse(decodeEncodedWords(headers.get('subject') ?? ''))
  const texts = { plain: [] as string[], html: [] as string[] }
  collectText(headers, body, texts, 0)
  const parts = texts.plain.length ? texts.plain : texts.html
  return { subject, body: collapse(parts.join('\n')) }
}

/** The classification text of a raw message: subject, newline, body capped at `maxBodyChars`. */
export function emailToText(raw: Uint8Array, maxBodyChars = DEFAULT_MAX_BODY_CHARS): string {
  const { subject, body } = parseEmail(raw)
  return `${subject}\n${cap(body, maxBodyChars)}`
}

function cap(s: string, n: number): string {
  if (s.length <= n) return s
  const cut = s.lastIndexOf(' ', n)
  return s.slice(0, cut > n * 0.8 ? cut : n)
}

const collapse = (s: string): string => s.replace(/\s+/g, ' ').trim()

/** Bytes as a string of char codes 0..255 (lossless; MIME parsing works on it, charsets later). */
function binaryString(bytes: Uint8Array): string {
  let s = ''
  for (let i = 0; i < bytes.length; i += 8192) s += String.fromCharCode(...bytes.subarray(i, i + 8192))
  return s
}

function toBytes(s: string): Uint8Array {
  const b = new Uint8Array(s.length)
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i) & 255
  return b
}

/** Decodes bytes (a binary string) in `charset`; without one, UTF-8 if valid, else Windows-1252. */
function decodeCharset(s: string, charset?: string): string {
  const bytes = toBytes(s)
  if (charset) {
    try {
      return new TextDecoder(charset.trim().toLowerCase()).decode(bytes)
    } catch {
      // unknown label: fall through
    }
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch {
    return new TextDecoder('windows-1252').decode(bytes)
  }
}

/** Header map (lower-case names, first occurrence, folded lines joined) and body of an entity. */
function splitEntity(s: string): { headers: Map<string, string>; body: string } {
  const end = s.indexOf('\n\n')
  const head = end < 0 ? s : s.slice(0, end)
  const body = end < 0 ? '' : s.slice(end + 2)
  const headers = new Map<string, string>()
  for (const line of head.replace(/\n[ \t]+/g, ' ').split('\n')) {
    const colon = line.indexOf(':')
    if (colon <= 0) continue
    const name = line.slice(0, colon).trim().toLowerCase()
    if (!headers.has(name)) headers.set(name, line.slice(colon + 1).trim())
  }
  return { headers, body }
}

/** `type/subtype` and lower-cased parameters of a Content-Type value. */
function contentType(value: string | undefined): { type: string; params: Map<string, string> } {
  const [type = 'text/plain', ...rest] = (value ?? 'text/plain').split(';')
  const params = new Map<string, string>()
  for (const p of rest) {
    const eq = p.indexOf('=')
    if (eq > 0) params.set(p.slice(0, eq).trim().toLowerCase(), p.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1'))
  }
  return { type: type.trim().toLowerCase() || 'text/plain', params }
}

function collectText(headers: Map<string, string>, body: string, out: { plain: string[]; html: string[] }, depth: number): void {
  const { type, params } = contentType(headers.get('content-type'))
  if (type.startsWith('multipart/')) {
    const boundary = params.get('boundary')
    if (!boundary || depth > 8) return
    const marker = '--' + boundary
    // a delimiter is a whole line (an inner boundary may extend the outer one); the closing one ends in --
    let part: string[] | null = null
    for (const line of body.split('\n')) {
      const t = line.trimEnd()
      if (t === marker || t === marker + '--') {
        if (part) {
          const entity = splitEntity(part.join('\n'))
          collectText(entity.headers, entity.body, out, depth + 1)
        }
        if (t !== marker) return
        part = []
      } else part?.push(line)
    }
    if (part && part.length) {
      const entity = splitEntity(part.join('\n'))
      collectText(entity.headers, entity.body, out, depth + 1)
    }
    return
  }
  if (type === 'message/rfc822') {
    const inner = splitEntity(body)
    if (depth <= 8) collectText(inner.headers, inner.body, out, depth + 1)
    return
  }
  if (!type.startsWith('text/')) return
  const encoding = (headers.get('content-transfer-encoding') ?? '').toLowerCase()
  let bytes = body
  if (encoding.includes('quoted-printable')) bytes = decodeQuotedPrintable(body)
  else if (encoding.includes('base64')) bytes = decodeBase64(body)
  const text = decodeCharset(bytes, params.get('charset'))
  if (type === 'text/html' || (type === 'text/plain' && /^\s*<(!doctype|html)/i.test(text))) out.html.push(stripHtml(text))
  else out.plain.push(text)
}

function decodeQuotedPrintable(s: string): string {
  return s.replace(/=\n/g, '').replace(/=([0-9A-Fa-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)))
}

function decodeBase64(s: string): string {
  const clean = s.replace(/[^A-Za-z0-9+/]/g, '')
  try {
    return atob(clean.slice(0, clean.length - (clean.length % 4)))
  } catch {
    return ''
  }
}

/** RFC 2047 encoded words (`=?charset?Q?...?=`, `=?charset?B?...?=`); other bytes as UTF-8 or 1252. */
function decodeEncodedWords(v: string): string {
  const joined = v.replace(/(\?=)\s+(=\?)/g, '$1$2')
  let out = ''
  let last = 0
  const re = /=\?([^?]+)\?([BbQq])\?([^?]*)\?=/g
  for (let m = re.exec(joined); m; m = re.exec(joined)) {
    out += decodeCharset(joined.slice(last, m.index))
    const [, charset, enc, data] = m as unknown as [string, string, string, string]
    const bytes = enc.toUpperCase() === 'B' ? decodeBase64(data) : decodeQuotedPrintable(data.replace(/_/g, ' '))
    out += decodeCharset(bytes, charset.split('*')[0])
    last = re.lastIndex
  }
  return out + decodeCharset(joined.slice(last))
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ', copy: '©', reg: '®', trade: '™', euro: '€', pound: '£' }

/** Readable text of an HTML part: no scripts, styles, comments or tags; entities decoded. */
export function stripHtml(html: string): string {
  return html
    .replace(/<!--[\s\S]*?-->/g, ' ')
    .replace(/<(script|style|head)\b[\s\S]*?<\/\1\s*>/gi, ' ')
    .replace(/<(br|p|div|tr|li|h[1-6])\b[^>]*>/gi, '\n')
    .replace(/<[^>]*>/g, ' ')
    .replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (m, e: string) => {
      if (e[0] === '#') {
        const code = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10)
        return code > 0 && code < 0x110000 ? String.fromCodePoint(code) : ' '
      }
      return ENTITIES[e.toLowerCase()] ?? m
    })
}
