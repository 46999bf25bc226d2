// report.html in headless Chromium, opened from disk: the charts hold the report's numbers and drew
// them (the canvas has each series' colour where each value lies), the x axis is logarithmic, the
// tables list every number, and the page asks the network for nothing.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { hasChromium, launchChromium, watchPage } from '../../test/browser.js'
import { renderCompareReport } from './assets-node.js'
import { formatMetric, parseCompareReport, type CompareReport } from './compare.js'

const report: CompareReport = parseCompareReport(JSON.parse(readFileSync(new URL('../../test/fixtures/report/compare-report.json', import.meta.url), 'utf8')))
const COLOR = { pretrained: [0, 114, 178], scratch: [213, 94, 0] } as const

/** In the page: does the chart's canvas have a pixel of colour `rgb` within 2 px of the point (x, y) in data units? */
async function drawnAt(page: Page, id: string, series: number, x: number, y: number, rgb: readonly number[]): Promise<boolean> {
  return page.evaluate(
    ({ id, series, x, y, rgb }) => {
      const u = (window as unknown as { finetuneCharts: Record<string, uPlotLike> }).finetuneCharts[id]!
      const px = Math.round(u.valToPos(x, 'x', true))
      const py = Math.round(u.valToPos(y, u.series[series]!.scale, true))
      const d = u.ctx.getImageData(px - 2, py - 2, 5, 5).data
      for (let i = 0; i < d.length; i += 4) if (Math.abs(d[i]! - rgb[0]!) + Math.abs(d[i + 1]! - rgb[1]!) + Math.abs(d[i + 2]! - rgb[2]!) < 30 && d[i + 3]! > 200) return true
      return false
    },
    { id, series, x, y, rgb },
  )
}
interface uPlotLike {
  data: (number | null)[][]
  series: { label: string; scale: string }[]
  bands: { series: [number, number] }[]
  scales: Record<string, { distr: number; min: number; max: number }>
  ctx: CanvasRenderingContext2D
  valToPos(v: number, scale: string, canvasPixels?: boolean): number
}
type Chart = Pick<uPlotLike, 'data' | 'bands'> & { labels: string[]; distr: number; xmin: number; xmax: number; budget: string | undefined }

describe.skipIf(!hasChromium)('report.html in Chromium', () => {
  let browser: Browser
  let page: Page
  let watch: ReturnType<typeof watchPage>
  const dir = mkdtempSync(join(tmpdir(), 'ft-report-'))
  const charts = async (): Promise<Record<string, Chart>> =>
    page.evaluate(() =>
      Object.fromEntries(
        Object.entries((window as unknown as { finetuneCharts: Record<string, uPlotLike> }).finetuneCharts).map(([id, u]) => [
          id,
          { data: u.data, bands: u.bands, labels: u.series.map((s) => s.label), distr: u.scales['x']!.distr, xmin: u.scales['x']!.min, xmax: u.scales['x']!.max, budget: document.getElementById(id)!.dataset['budget'] },
        ]),
      ),
    )

  beforeAll(async () => {
    const file = join(dir, 'report.html')
    writeFileSync(file, renderCompareReport(report))
    browser = await launchChromium()
    page = await browser.newPage({ viewport: { width: 1100, height: 900 } })
    watch = watchPage(page)
    await page.goto(pathToFileURL(file).href)
    await page.waitForSelector('body[data-ready]', { timeout: 15_000 })
  }, 60_000)
  afterAll(async () => {
    await browser?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('the metric-against-labels chart holds both sides’ means and ± std bands on a logarithmic x axis', async () => {
    const c = (await charts())['chart-metric']!
    const bs = [...report.budgets].sort((a, b) => a.labels - b.labels)
    expect(c.labels).toEqual(['labels', 'pretrained', 'pretrained + std', 'pretrained \u2212 std', 'scratch', 'scratch + std', 'scratch \u2212 std'])
    expect(c.data[0]).toEqual(bs.map((b) => b.labels))
    expect(c.data[1]).toEqual(bs.map((b) => b.pretrained.mean))
    expect(c.data[4]).toEqual(bs.map((b) => b.scratch.mean))
    bs.forEach((b, i) => {
      expect(c.data[2]![i]).toBeCloseTo(b.pretrained.mean + b.pretrained.std, 12)
      expect(c.data[3]![i]).toBeCloseTo(b.pretrained.mean - b.pretrained.std, 12)
      expect(c.data[6]![i]).toBeCloseTo(b.scratch.mean - b.scratch.std, 12)
    })
    expect(c.bands.map((b) => b.series)).toEqual([[2, 3], [5, 6]])
    expect(c.distr).toBe(3) // logarithmic
    expect(c.xmin).toBeLessThanOrEqual(bs[0]!.labels)
    expect(c.xmax).toBeGreaterThanOrEqual(bs.at(-1)!.labels)
    // equal ratios are equal distances on the axis
    const gaps = await page.evaluate(() => {
      const u = (window as unknown as { finetuneCharts: Record<string, uPlotLike> }).finetuneCharts['chart-metric']!
      return [u.valToPos(20, 'x') - u.valToPos(2, 'x'), u.valToPos(200, 'x') - u.valToPos(20, 'x')]
    })
    expect(gaps[0]).toBeGreaterThan(50)
    expect(gaps[0]).toBeCloseTo(gaps[1]!, 1)
  })

  it('the canvas shows each mean where it lies, in its side’s colour', async () => {
    for (const b of report.budgets) {
      expect(await drawnAt(page, 'chart-metric', 1, b.labels, b.pretrained.mean, COLOR.pretrained), `pretrained at ${b.labels}`).toBe(true)
      expect(await drawnAt(page, 'chart-metric', 4, b.labels, b.scratch.mean, COLOR.scratch), `scratch at ${b.labels}`).toBe(true)
      // and not the other side's colour there: the check can fail
      expect(await drawnAt(page, 'chart-metric', 1, b.labels, b.pretrained.mean, COLOR.scratch)).toBe(false)
    }
  })

  it('one learning-curve chart per budget holds every curve point of both sides and draws them', async () => {
    const cs = Object.values(await charts()).filter((c) => c.budget !== undefined)
    expect(cs.map((c) => c.budget)).toEqual(report.budgets.map((b) => String(b.budget)))
    for (const c of cs) {
      expect(c.labels).toEqual(['s', 'pretrained', 'scratch'])
      for (const [k, side] of (['pretrained', 'scratch'] as const).entries()) {
        const pts = report.curves![side]![c.budget!]!
        for (const p of pts) {
          const j = c.data[0]!.indexOf(p.wall_s)
          expect(j, `${side} ${c.budget} t=${p.wall_s}`).toBeGreaterThanOrEqual(0)
          expect(c.data[k + 1]![j]).toBe(p.value)
        }
      }
    }
    const last = report.curves!.scratch!['10']!.at(-1)!
    const id = Object.entries(await charts()).find(([, c]) => c.budget === '10')![0]
    expect(await drawnAt(page, id, 2, last.wall_s, last.value, COLOR.scratch)).toBe(true)
  })

  it('a further scratch side gets its own series, band and colour (green) in both kinds of chart', async () => {
    const r: CompareReport = { ...report, extra_scratch: [{ key: 'keyword-cnn', model: 'keyword-cnn (from scratch)' }], budgets: report.budgets.map((b) => ({ ...b, extra: { 'keyword-cnn': { ...b.scratch, mean: Math.max(0, b.scratch.mean - 0.05) } } })), curves: { ...report.curves, 'keyword-cnn': report.curves!.scratch! } }
    const file = join(dir, 'report-extra.html')
    writeFileSync(file, renderCompareReport(r))
    const p2 = await browser.newPage({ viewport: { width: 1100, height: 900 } })
    await p2.goto(pathToFileURL(file).href)
    await p2.waitForSelector('body[data-ready]', { timeout: 15_000 })
    const metric = await p2.evaluate(() => {
      const u = (window as unknown as { finetuneCharts: Record<string, uPlotLike> }).finetuneCharts['chart-metric']!
      return { labels: u.series.map((s) => s.label), data: u.data, bands: u.bands.map((b) => b.series) }
    })
    expect(metric.labels.slice(7)).toEqual(['keyword-cnn', 'keyword-cnn + std', 'keyword-cnn \u2212 std'])
    const bs = [...r.budgets].sort((a, b) => a.labels - b.labels)
    expect(metric.data[7]).toEqual(bs.map((b) => b.extra!['keyword-cnn']!.mean))
    expect(metric.bands).toEqual([[2, 3], [5, 6], [8, 9]])
    for (const b of r.budgets) expect(await drawnAt(p2, 'chart-metric', 7, b.labels, b.extra!['keyword-cnn']!.mean, [0, 158, 115]), `keyword-cnn at ${b.labels}`).toBe(true)
    const curveLabels = await p2.evaluate(() => (window as unknown as { finetuneCharts: Record<string, uPlotLike> }).finetuneCharts['chart-curve-0']!.series.map((s) => s.label))
    expect(curveLabels).toEqual(['s', 'pretrained', 'scratch', 'keyword-cnn'])
    await p2.close()
  })

  it('the tables list every budget, run and time to target; the page fetched nothing and logged no error', async () => {
    const rows = (sel: string): Promise<string[][]> => page.$$eval(`${sel} tbody tr`, (trs) => trs.map((tr) => Array.from(tr.querySelectorAll('td'), (td) => td.textContent ?? '')))
    const summary = await rows('#summary')
    expect(summary.map((r) => r[0])).toEqual(report.budgets.map((b) => String(b.budget)))
    expect(summary[2]![2]).toBe(`${formatMetric(report.budgets[2]!.pretrained.mean)} ± ${formatMetric(report.budgets[2]!.pretrained.std)}`)
    const runs = await rows('#runs')
    expect(runs).toHaveLength(report.budgets.reduce((n, b) => n + b.pretrained.runs.length + b.scratch.runs.length, 0))
    expect(runs.filter((r) => r[7] === 'never')).toHaveLength(1)
    const ttt = await rows('#time-to-target')
    expect(ttt[0]!.slice(3, 6)).toEqual(['3/3', expect.stringMatching(/ s$/), '2/3'])
    expect(await page.textContent('h1')).toBe('text-classification: pre-trained against from scratch')
    expect(watch.external).toEqual([])
    expect(watch.errors).toEqual([])
  })
})
