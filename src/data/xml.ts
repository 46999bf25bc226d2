/**
 * A small XML reader for annotation files (Pascal VOC): elements, attributes, text, comments,
 * CDATA, processing instructions and the DOCTYPE line (skipped), the five named entities and
 * numeric character references. No namespaces, no DTD entities. Errors carry the 1-based line.
 */

export interface XmlElement {
  name: string
  attrs: Record<string, string>
  children: XmlElement[]
  /** The element's own text (children's text not included), entities decoded, not trimmed. */
  text: string
  line: number
}

/** Malformed XML at `line`. */
export class XmlSyntaxError extends Error {
  readonly line: number
  constructor(message: string, line: number) {
    super(message)
    this.line = line
  }
}

const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" }

function decodeEntities(s: string, line: number): string {
  if (!s.includes('&')) return s
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-zA-Z]+);|&/g, (m, ref: string | undefined) => {
    if (ref === undefined) throw new XmlSyntaxError('a bare "&" (write &amp;)', line)
    if (ref[0] === '#') return String.fromCodePoint(ref[1] === 'x' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10))
    const e = ENTITIES[ref]
    if (e === undefined) throw new XmlSyntaxError(`unknown entity ${m}`, line)
    return e
  })
}

/** Parses a document and returns its root element. */
export function parseXml(src: string): XmlElement {
  let i = 0
  let line = 1
  const n = src.length
  const advance = (to: number): void => {
    for (let k = i; k < to; k++) if (src.charCodeAt(k) === 10) line++
    i = to
  }
  const skipPast = (end: string, what: string): void => {
    const j = src.indexOf(end, i)
    if (j < 0) throw new XmlSyntaxError(`${what} is not closed`, line)
    advance(j + end.length)
  }
  const stack: XmlElement[] = []
  let root: XmlElement | undefined
  while (i < n) {
    const lt = src.indexOf('<', i)
    const textEnd = lt < 0 ? n : lt
    if (textEnd > i) {
      const raw = src.slice(i, textEnd)
      const top = stack[stack.length - 1]
      if (top) top.text += decodeEntities(raw, line)
      else if (raw.trim()) throw new XmlSyntaxError('text outside the root element', line)
      advance(textEnd)
    }
    if (i >= n) break
    if (src.startsWith('<!--', i)) skipPast('-->', 'a comment')
    else if (src.startsWith('<![CDATA[', i)) {
      const j = src.indexOf(']]>', i)
      if (j < 0) throw new XmlSyntaxError('a CDATA section is not closed', line)
      const top = stack[stack.length - 1]
      if (top) top.text += src.slice(i + 9, j)
      advance(j + 3)
    } else if (src.startsWith('<?', i)) skipPast('?>', 'a processing instruction')
    else if (src.startsWith('<!', i)) skipPast('>', 'a declaration')
    else if (src.startsWith('</', i)) {
      const m = /^<\/([^\s>]+)\s*>/.exec(src.slice(i, i + 300))
      if (!m) throw new XmlSyntaxError('a malformed closing tag', line)
      const top = stack.pop()
      if (!top) throw new XmlSyntaxError(`</${m[1]}> closes nothing`, line)
      if (top.name !== m[1]) throw new XmlSyntaxError(`</${m[1]}> closes <${top.name}> (opened on line ${top.line})`, line)
      advance(i + m[0].length)
    } else {
      const end = src.indexOf('>', i)
      if (end < 0) throw new XmlSyntaxError('a tag is not closed', line)
      const tag = src.slice(i + 1, end)
      const selfClosing = tag.endsWith('/')
      const body = selfClosing ? tag.slice(0, -1) : tag
      const nm = /^[^\s/>=]+/.exec(body)
      if (!nm) throw new XmlSyntaxError('a tag without a name', line)
      const el: XmlElement = { name: nm[0], attrs: {}, children: [], text: '', line }
      const attrRe = /\s+([^\s=]+)\s*=\s*("([^"]*)"|'([^']*)')/gy
      attrRe.lastIndex = nm[0].length
      let attrEnd = nm[0].length
      let am: RegExpExecArray | null
      while ((am = attrRe.exec(body))) {
        el.attrs[am[1]!] = decodeEntities(am[3] ?? am[4] ?? '', line)
        attrEnd = attrRe.lastIndex
      }
      const rest = body.slice(attrEnd).trim()
      if (rest) throw new XmlSyntaxError(`<${el.name}> has a malformed attribute near ${JSON.stringify(rest.slice(0, 20))}`, line)
      const parent = stack[stack.length - 1]
      if (parent) parent.children.push(el)
      else if (root) throw new XmlSyntaxError(`a second root element <${el.name}>`, line)
      else root = el
      if (!selfClosing) stack.push(el)
      advance(end + 1)
    }
  }
  if (stack.length) throw new XmlSyntaxError(`<${stack[stack.length - 1]!.name}> (line ${stack[stack.length - 1]!.line}) is not closed`, line)
  if (!root) throw new XmlSyntaxError('no root element', line)
  return root
}

/** The first child element called `name`, if any. */
export function xmlChild(el: XmlElement, name: string): XmlElement | undefined {
  return el.children.find((c) => c.name === name)
}

/** The trimmed text of the first child called `name`, if any. */
export function xmlChildText(el: XmlElement, name: string): string | undefined {
  return xmlChild(el, name)?.text.trim()
}
