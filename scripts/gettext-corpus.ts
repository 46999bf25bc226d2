/**
 * Builds the committed English -> xx corpus from the gettext catalogues Debian packages install
 * (see src/data/gettext-pairs.ts for the extraction rules). Run by hand:
 *   npx tsx scripts/gettext-corpus.ts [--root /usr/share] [--out data/gettext] [--per-package 200] [--max-chars 160] [de fr ja]
 * Writes, per language, <out>/en-<lang>.{pretrain,finetune,test}.tsv (columns source, target,
 * package; RFC 4180 quoting, tab-delimited) and <out>/manifest.json (the Debian package and version
 * of each catalogue, the counts, the options). The held-out packages are desktop/GUI catalogues,
 * a different style from the command-line messages of the pretraining packages.
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { quoteField } from '../src/data/csv.js'
import { dedupePairs, fnv1a, gettextPairs, splitByPackage, type GettextSkip, type ParallelPair } from '../src/data/gettext-pairs.js'
import { findMoFiles, readMoFile } from '../src/data/mo-node.js'

const args = process.argv.slice(2)
const opt = (name: string, dflt: string): string => {
  const i = args.indexOf(`--${name}`)
  if (i < 0) return dflt
  const v = args[i + 1] ?? dflt
  args.splice(i, 2)
  return v
}
const root = opt('root', '/usr/share')
const out = opt('out', 'data/gettext')
const perPackage = Number(opt('per-package', '200'))
const maxChars = Number(opt('max-chars', '160'))
const langs = args.length ? args : ['de', 'fr', 'ja']

/** Desktop catalogues, held out from pretraining (their style differs from the CLI messages). */
const HELD_OUT = new Set(['gtk20', 'gtk20-properties', 'gsettings-desktop-schemas', 'shared-mime-info', 'gdk-pixbuf', 'xdg-user-dirs', 'at-spi2-core', 'PackageKit', 'software-properties', 'appstream', 'polkit-1'])
/**
 * Long lists of proper names (ISO 639-3 languages, ISO 3166-2 subdivisions) that are mostly copied
 * untranslated; the old underscore names are duplicates of the dashed ones.
 */
const EXCLUDED = new Set(['iso_639-3', 'iso_639_3', 'iso_3166-2', 'iso_3166_2', 'iso_639', 'iso_639_5', 'iso_3166'])

const debPackage = (path: string): string => {
  try {
    const pkg = execFileSync('dpkg-query', ['-S', path], { encoding: 'utf8' }).split(':')[0]!.trim()
    const ver = execFileSync('dpkg-query', ['-W', '-f', '${Version}', pkg], { encoding: 'utf8' }).trim()
    return `${pkg} ${ver}`
  } catch {
    return 'unknown'
  }
}

mkdirSync(out, { recursive: true })
const manifest: Record<string, unknown> = {
  generator: 'scripts/gettext-corpus.ts',
  options: { root, perPackage, maxChars, heldOut: [...HELD_OUT], excluded: [...EXCLUDED] },
  languages: {},
}
for (const lang of langs) {
  const files = (await findMoFiles(root, lang)).filter((f) => !EXCLUDED.has(f.domain))
  const all: ParallelPair[] = []
  const skipped: Record<GettextSkip | 'over-cap', number> = { plural: 0, untranslated: 0, empty: 0, 'format-only': 0, 'too-long': 0, 'over-cap': 0 }
  const packages: Record<string, { debian: string; pairs: number }> = {}
  for (const f of files) {
    const r = gettextPairs(await readMoFile(f.path), f.domain, { maxChars })
    for (const [k, v] of Object.entries(r.skipped)) skipped[k as GettextSkip] += v
    // a fixed, content-chosen subset per package so no package dominates (same choice every run)
    const pairs = dedupePairs(r.pairs).sort((a, b) => fnv1a(a.source) - fnv1a(b.source) || (a.source < b.source ? -1 : 1))
    skipped['over-cap'] += Math.max(0, pairs.length - perPackage)
    const kept = pairs.slice(0, perPackage)
    all.push(...kept)
    packages[f.domain] = { debian: debPackage(f.path), pairs: kept.length }
  }
  const splits = splitByPackage(all, HELD_OUT, 0.5)
  const counts: Record<string, number> = {}
  for (const [name, rows] of Object.entries(splits)) {
    rows.sort((a: ParallelPair, b: ParallelPair) => (a.package < b.package ? -1 : a.package > b.package ? 1 : a.source < b.source ? -1 : a.source > b.source ? 1 : 0))
    const text = 'source\ttarget\tpackage\n' + rows.map((p: ParallelPair) => [p.source, p.target, p.package].map((v) => quoteField(v, '\t')).join('\t') + '\n').join('')
    writeFileSync(join(out, `en-${lang}.${name}.tsv`), text)
    counts[name] = rows.length
    console.log(`en-${lang}.${name}.tsv: ${rows.length} pairs, ${(Buffer.byteLength(text) / 1024).toFixed(0)} KiB`)
  }
  ;(manifest['languages'] as Record<string, unknown>)[lang] = { catalogues: files.length, counts, skipped, packages }
}
writeFileSync(join(out, 'manifest.json'), JSON.stringify(manifest, null, 1) + '\n')
