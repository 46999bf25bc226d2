/**
 * Parallel data for translation: TSV/CSV/JSONL rows with a source and a target column
 * (`--source-column`/`--target-column`, defaults `source`/`target`), or Hugging Face's
 * `{"translation": {"en": ..., "de": ...}}` rows with `--source-lang`/`--target-lang` (as
 * run_translation.py reads them). Pairs are small text, so they are read whole.
 */
import { DataError } from '../../errors.js'
import { fileSource } from '../../data/source-node.js'
import { BadRows, DataRowError } from '../../data/errors.js'
import { readRecords, type DataFormat } from '../../data/table.js'

export interface Pair {
  source: string
  target: string
}

export interface PairOptions {
  sourceColumn?: string | undefined
  targetColumn?: string | undefined
  sourceLang?: string | undefined
  targetLang?: string | undefined
  format?: DataFormat | undefined
  onBadRow: 'error' | 'skip'
  /** Column names tried in order when sourceColumn / targetColumn are not given (default source / target). */
  columns?: { source: readonly string[]; target: readonly string[] }
}

/** A row error whose message starts with the field it is about. */
const rowError = (code: string, where: { file: string; line: number }, field: string, message: string, hint: string) => new DataRowError(code, { ...where, field }, `${field} ${message}`, hint)

/** The pairs of `file`; a row without a usable pair stops with its file, line and field (or is skipped and counted). */
export async function readPairs(file: string, o: PairOptions): Promise<{ pairs: Pair[]; skipped: number }> {
  const bad = new BadRows(o.onBadRow)
  const pairs: Pair[] = []
  const src = await fileSource(file)
  const langs = o.sourceLang !== undefined || o.targetLang !== undefined
  if (langs && (o.sourceLang === undefined || o.targetLang === undefined))
    throw new DataError('DATA_TRANSLATION_LANGS', `--source-lang and --target-lang go together (got only --${o.sourceLang === undefined ? 'target' : 'source'}-lang)`, 'pass both, e.g. --source-lang en --target-lang de')
  const defaults = o.columns ?? { source: ['source'], target: ['target'] }
  let sc = o.sourceColumn
  let tc = o.targetColumn
  for await (const r of readRecords(src, { ...(o.format ? { format: o.format } : {}), onBadRow: o.onBadRow, badRows: bad })) {
    try {
      const where = { file, line: r.line }
      let s: unknown
      let t: unknown
      if (langs) {
        const tr = r.values['translation']
        if (tr === null || typeof tr !== 'object' || Array.isArray(tr)) throw rowError('DATA_TRANSLATION_ROW', where, 'translation', `has no "translation" object (keys: ${Object.keys(r.values).join(', ')})`, 'with --source-lang/--target-lang each JSONL row is {"translation": {"en": "...", "de": "..."}}; for columns use --source-column/--target-column')
        const obj = tr as Record<string, unknown>
        s = obj[o.sourceLang!]
        t = obj[o.targetLang!]
        for (const [lang, v] of [[o.sourceLang!, s], [o.targetLang!, t]] as const)
          if (typeof v !== 'string') throw rowError('DATA_TRANSLATION_ROW', where, `translation.${lang}`, v === undefined ? `has no "${lang}" (languages: ${Object.keys(obj).join(', ')})` : `must be a string, got ${JSON.stringify(v)}`, `pass the languages the rows have to --source-lang/--target-lang`)
      } else {
        // without a flag, the first default column the first row has (else the first default, for the error)
        sc ??= defaults.source.find((c) => c in r.values) ?? defaults.source[0]!
        tc ??= defaults.target.find((c) => c in r.values) ?? defaults.target[0]!
        s = r.values[sc]
        t = r.values[tc]
        for (const [flag, col, v, all] of [['--source-column', sc, s, defaults.source], ['--target-column', tc, t, defaults.target]] as const) {
          const named = o[flag === '--source-column' ? 'sourceColumn' : 'targetColumn'] !== undefined || all.length === 1 ? `"${col}"` : all.map((c) => `"${c}"`).join(' or ')
          if (v === undefined) throw new DataError('DATA_MISSING_COLUMN', `${file}: no column ${named} (columns: ${Object.keys(r.values).join(', ')})`, `name the column with ${flag}${r.values['translation'] !== undefined ? ', or pass --source-lang/--target-lang for {"translation": {...}} rows' : ''}`)
          if (typeof v !== 'string') throw rowError('DATA_BAD_TEXT', where, col, `must be text, got ${JSON.stringify(v)}`, 'fix the row or pass --on-bad-row skip')
        }
      }
      if ((s as string).trim() === '' || (t as string).trim() === '') throw rowError('DATA_EMPTY_TEXT', where, (s as string).trim() === '' ? (langs ? `translation.${o.sourceLang}` : sc!) : langs ? `translation.${o.targetLang}` : tc!, 'is empty', 'fill it in or pass --on-bad-row skip')
      pairs.push({ source: s as string, target: t as string })
    } catch (e) {
      bad.handle(e)
    }
  }
  if (pairs.length === 0) throw new DataError('DATA_EMPTY', `${file} has no usable source/target pairs${bad.total ? ` (${bad.total} rows skipped)` : ''}`, 'check the columns (--source-column/--target-column) or languages (--source-lang/--target-lang)')
  return { pairs, skipped: bad.total }
}
