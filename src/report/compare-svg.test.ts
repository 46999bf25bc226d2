// report.svg: a static chart of a compare report whose points sit where the report's numbers say.
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { parseCompareReport, reportSides, sideOf, type CompareReport } from './compare.js'
import { niceTicks, renderCompareSvg } from './compare-svg.js'

const fixture = (): CompareReport => parseCompareReport(JSON.parse(readFileSync(new URL('../../test/fixtures/report/compare-report.json', import.meta.url), 'utf8')))

/** Open/close tags balance and nest (a small well-formedness check; the SVG has no comments or CDATA). */
function balanced(svg: string): boolean {
  const stack: string[] = []
  for (const m of svg.matchAll(/<(\/?)([a-zA-Z]+)[^>]*?(\/?)>/g)) {
    if (m[3]) continue
    if (!m[1]) stack.push(m[2]!)
    else if (stack.pop() !== m[2]) return false
  }
  return stack.length === 0
}

const points = (svg: string) =>
  [...svg.matchAll(/<g class="side" data-side="([^"]+)"[\s\S]*?<\/g>/g)].flatMap((g) =>
    [...g[0].matchAll(/<circle cx="([\d.]+)" cy="([\d.]+)" r="4" data-labels="(\d+)" data-value="([^"]+)" data-std="([^"]+)"/g)].map((c) => ({ side: g[1]!, cx: +c[1]!, cy: +c[2]!, labels: +c[3]!, value: +c[4]! })),
  )

describe('compare report as SVG', () => {
  it('draws one point per side and budget at the report\'s mean, on a log x axis and a linear y axis', () => {
    const r = fixture()
    const svg = renderCompareSvg(r)
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true)
    expect(balanced(svg)).toBe(true)
    expect(svg).not.toMatch(/<script|href=/) // self-contained and static
    const p = points(svg)
    const want = r.budgets.flatMap((b) => reportSides(r).flatMap((s) => (sideOf(b, s) ? [{ side: s, labels: b.labels, value: sideOf(b, s)!.mean }] : [])))
    expect(p.map(({ side, labels, value }) => ({ side, labels, value })).sort((a, b) => a.side.localeCompare(b.side) || a.labels - b.labels)).toEqual(want.sort((a, b) => a.side.localeCompare(b.side) || a.labels - b.labels))
    // positions: cy linear in the value, cx linear in log10(labels), both with one slope for every point (to the 0.1 px rounding)
    const [a, b] = [p[0]!, p.find((q) => q.value !== p[0]!.value && q.labels !== p[0]!.labels)!]
    const sy = (a.cy - b.cy) / (a.value - b.value)
    const sx = (a.cx - b.cx) / (Math.log10(a.labels) - Math.log10(b.labels))
    expect(sy).toBeLessThan(0) // higher values are drawn higher
    expect(sx).toBeGreaterThan(0)
    for (const q of p) {
      expect(Math.abs(q.cy - (a.cy + sy * (q.value - a.value)))).toBeLessThan(0.2)
      expect(Math.abs(q.cx - (a.cx + sx * (Math.log10(q.labels) - Math.log10(a.labels))))).toBeLessThan(0.2)
    }
    // accuracy keeps the [0, 1] axis; each budget's labels are an x tick
    expect(svg).toMatch(/>0<\/text>/)
    expect(svg).toMatch(/>1<\/text>/)
    for (const bu of r.budgets) expect(svg).toContain(`text-anchor="middle">${bu.labels}</text>`)
    expect(svg).toContain(`pre-trained: ${r.model}`)
  })

  it('names every scratch side in the legend, escapes text, and spans a metric outside [0, 1]', () => {
    const r = fixture()
    const b0 = r.budgets[0]!
    const odd: CompareReport = {
      ...r,
      metric: 'eval_loss',
      higher_is_better: false,
      model: 'a<b & "c"',
      extra_scratch: [{ key: 'keyword-cnn', model: 'keyword-cnn (from scratch)' }],
      budgets: r.budgets.map((b, i) => ({ ...b, pretrained: { ...b.pretrained, mean: 2 + i }, extra: { 'keyword-cnn': { ...b0.scratch, mean: 5 + i } } })),
    }
    const svg = renderCompareSvg(odd)
    expect(balanced(svg)).toBe(true)
    expect(svg).toContain('pre-trained: a&lt;b &amp; &quot;c&quot;')
    expect(svg).toContain('keyword-cnn: keyword-cnn (from scratch)')
    expect(points(svg).filter((q) => q.side === 'keyword-cnn')).toHaveLength(r.budgets.length)
    const ys = points(svg).map((q) => q.cy)
    for (const y of ys) expect(y).toBeGreaterThan(44) // inside the plot area, not clipped above
  })

  it('ticks are round numbers covering the range', () => {
    expect(niceTicks(0, 1)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1])
    expect(niceTicks(1.7, 9.3)).toEqual([2, 4, 6, 8])
    expect(niceTicks(3, 3)).toEqual([3])
  })
})
