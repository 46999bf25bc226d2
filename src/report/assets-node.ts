/** Reads the charting library from the installed `uplot` package, once, and renders pages with it. */
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import type { CompareReport } from './compare.js'
import { renderCompareReportWith } from './compare-html.js'
import type { ChartAssets } from './html.js'

let cached: ChartAssets | null = null

/** uPlot's minified IIFE build and CSS from node_modules (resolved from this file, so it works from dist/ and src/). */
export function chartAssets(): ChartAssets {
  if (cached) return cached
  const require = createRequire(import.meta.url)
  const pkgJson = require.resolve('uplot/package.json')
  const dir = dirname(pkgJson)
  const { version } = JSON.parse(readFileSync(pkgJson, 'utf8')) as { version: string }
  cached = {
    js: readFileSync(join(dir, 'dist/uPlot.iife.min.js'), 'utf8'),
    css: readFileSync(join(dir, 'dist/uPlot.min.css'), 'utf8'),
    version: `uPlot ${version}`,
  }
  return cached
}

/** report.html for a `finetune compare` report: one standalone file, charts included, no network. */
export function renderCompareReport(report: CompareReport): string {
  return renderCompareReportWith(report, chartAssets())
}
