/**
 * Renders a `finetune compare` report.json as a static SVG chart (what `finetune compare` now
 * writes as report.svg), for reports made before it did; run by hand:
 *
 *     npx tsx scripts/compare-svg.ts REPORT.json [OUT.svg]   (default: report.svg beside it)
 */
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { writeFileAtomic } from '../src/checkpoint/io-node.js'
import { parseCompareReport, renderCompareSvg } from '../src/index.js'

const [src, dst] = process.argv.slice(2)
if (!src) {
  console.error('usage: npx tsx scripts/compare-svg.ts REPORT.json [OUT.svg]')
  process.exit(2)
}
const out = dst ?? join(dirname(src), 'report.svg')
await writeFileAtomic(out, renderCompareSvg(parseCompareReport(JSON.parse(readFileSync(src, 'utf8')), src)))
console.log(out)
