/**
 * Aligned English -> xx sentence pairs from gettext catalogues (software messages: the kind of
 * text the KDE4 corpus has). The rules, applied per message:
 * - the header, plural messages (their forms do not align one to one) and untranslated messages
 *   (empty msgstr) are skipped;
 * - leading and trailing whitespace is trimmed on both sides (trailing "\n" in CLI messages is
 *   layout, not text); a message empty after that is skipped;
 * - a message whose source or target has no letter once format directives are removed
 *   (`%s`, `%1$d`, `%(name)s`, `{0}`, `${var}`, `<PRId64>` ...) is "format-only" and skipped;
 * - keyboard accelerators are removed (a documented choice, see `stripAccelerators`), so the model
 *   learns text, not mnemonics;
 * - messages longer than `maxChars` (usage screens, licences) are skipped;
 * - the msgctxt is dropped; the pair records its package (the catalogue's domain, the .mo name).
 * `dedupePairs` and `splitByPackage` then make the committed splits.
 */
import type { MoCatalog } from './mo.js'

/** One aligned pair and the gettext domain it came from. */
export interface ParallelPair {
  source: string
  target: string
  package: string
}

export type GettextSkip = 'plural' | 'untranslated' | 'empty' | 'format-only' | 'too-long'

export interface GettextPairOptions {
  /** Skip messages whose source or target is longer than this many characters (default 300). */
  maxChars?: number
  /** Remove keyboard accelerators (default true). */
  stripAccelerators?: boolean
}

// printf (with positional args, flags, width, precision, length, and C99 <inttypes.h> macros),
// Python %(name)s, brace fields ({0}, {name}, {}), shell/Perl variables.
const FORMAT_RE =
  /%(?:\d+\$)?[-+ #0'I]*(?:\d+|\*)?(?:\.(?:\d+|\*))?(?:hh|h|ll|l|L|q|j|z|Z|t)?(?:<PRI\w+>|[diouxXeEfFgGaAcCsSpnm%])|%\([\w.-]+\)[-+ #0]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa%]|\{[\w.:!\[\]-]*\}|\$\{\w+\}|\$\w+/g

/** Removes format directives, leaving the literal text. */
export function stripFormatDirectives(s: string): string {
  return s.replace(FORMAT_RE, '')
}

/** True when the message has no letter outside its format directives (`"%s: %s"`, `"%d%%"`). */
export function isFormatOnly(s: string): boolean {
  return !/\p{L}/u.test(stripFormatDirectives(s))
}

const CJK_ACCEL = /\s*\([_&][\p{L}\p{N}]\)/u

/** Positions of `mark` that can be a mnemonic: followed by a letter or digit, not an HTML entity, not a `__`. */
function accelerators(s: string, mark: '_' | '&'): number[] {
  const out: number[] = []
  for (let i = s.indexOf(mark); i >= 0; i = s.indexOf(mark, i + 1)) {
    const rest = s.slice(i + 1)
    if (!/^[\p{L}\p{N}]/u.test(rest)) continue
    if (mark === '&' && /^#?\w+;/.test(rest)) continue
    if (mark === '_' && s[i - 1] === '_') continue
    out.push(i)
  }
  return out
}

/** The whitespace-delimited word around position i. */
function wordAt(s: string, i: number): string {
  let a = i
  let b = i
  while (a > 0 && !/\s/.test(s[a - 1]!)) a--
  while (b < s.length && !/\s/.test(s[b]!)) b++
  return s.slice(a, b)
}

const cut = (s: string, i: number): string => s.slice(0, i) + s.slice(i + 1)

/**
 * Removes keyboard accelerators from a pair: GTK's `_` and Qt/KDE's `&` before the mnemonic letter
 * ("_Open" / "Ö_ffnen", "&File" / "&Datei"), and the "(_F)" suffix CJK translations add
 * ("ファイル(_F)"). A mark is removed only where it is unambiguous: exactly one candidate on each
 * side (or a CJK suffix in the target and one candidate in the source), and the source word that
 * carries it does not occur verbatim in the target: identifiers such as `LC_ALL` or `max_size`
 * are copied into translations unchanged, mnemonics move to another letter.
 */
export function stripAccelerators(source: string, target: string): [string, string] {
  const cjk = CJK_ACCEL.exec(target)
  if (cjk) {
    const mark = cjk[0].includes('_') ? '_' : '&'
    target = target.slice(0, cjk.index) + target.slice(cjk.index + cjk[0].length)
    const cs = accelerators(source, mark)
    if (cs.length === 1) source = cut(source, cs[0]!)
    return [source, target]
  }
  for (const mark of ['_', '&'] as const) {
    const cs = accelerators(source, mark)
    const ct = accelerators(target, mark)
    if (cs.length === 1 && ct.length === 1 && !target.includes(wordAt(source, cs[0]!))) {
      source = cut(source, cs[0]!)
      target = cut(target, ct[0]!)
    }
  }
  return [source, target]
}

/** The usable pairs of one catalogue and how many messages each rule skipped. */
export function gettextPairs(catalog: MoCatalog, pkg: string, opts: GettextPairOptions = {}): { pairs: ParallelPair[]; skipped: Record<GettextSkip, number> } {
  const maxChars = opts.maxChars ?? 300
  const skipped: Record<GettextSkip, number> = { plural: 0, untranslated: 0, empty: 0, 'format-only': 0, 'too-long': 0 }
  const pairs: ParallelPair[] = []
  for (const e of catalog.entries) {
    if (e.msgidPlural !== undefined || e.msgstr.length > 1) {
      skipped.plural++
      continue
    }
    let source = e.msgid.trim()
    let target = (e.msgstr[0] ?? '').trim()
    if (target === '') {
      skipped[source === '' ? 'empty' : 'untranslated']++
      continue
    }
    if (source === '') {
      skipped.empty++
      continue
    }
    if (isFormatOnly(source) || isFormatOnly(target)) {
      skipped['format-only']++
      continue
    }
    if (source.length > maxChars || target.length > maxChars) {
      skipped['too-long']++
      continue
    }
    if (opts.stripAccelerators ?? true) [source, target] = stripAccelerators(source, target)
    pairs.push({ source, target, package: pkg })
  }
  return { pairs, skipped }
}

/** Keeps the first of each identical (source, target) pair. */
export function dedupePairs(pairs: readonly ParallelPair[]): ParallelPair[] {
  const seen = new Set<string>()
  return pairs.filter((p) => {
    const k = `${p.source}\u0000${p.target}`
    if (seen.has(k)) return false
    seen.add(k)
    return true
  })
}

/** FNV-1a over UTF-16 units: a stable hash for assigning a source to a split. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i)
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return h
}

export interface PackageSplits {
  /** Pairs of all packages not held out. */
  pretrain: ParallelPair[]
  /** Held-out packages, the part for fine-tuning. */
  finetune: ParallelPair[]
  /** Held-out packages, the part for evaluation. */
  test: ParallelPair[]
}

/**
 * Splits by package: the `heldOut` packages' pairs go to finetune/test (by a hash of the source, so
 * a source never lands on both sides; `testFraction` of sources go to test), all others to
 * pretrain. Pairs are deduplicated within each split, and a source that occurs in finetune or test
 * is removed from pretrain, so a score on test never rewards memorised pretraining pairs.
 */
export function splitByPackage(pairs: readonly ParallelPair[], heldOut: ReadonlySet<string>, testFraction = 0.5): PackageSplits {
  const held = dedupePairs(pairs.filter((p) => heldOut.has(p.package)))
  const heldSources = new Set(held.map((p) => p.source))
  const cutoff = Math.round(testFraction * 1000)
  const isTest = (p: ParallelPair): boolean => fnv1a(p.source) % 1000 < cutoff
  return {
    pretrain: dedupePairs(pairs.filter((p) => !heldOut.has(p.package) && !heldSources.has(p.source))),
    finetune: held.filter((p) => !isTest(p)),
    test: held.filter(isTest),
  }
}
