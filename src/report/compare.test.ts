import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { ConfigError } from '../errors.js'
import { renderCompareReport } from './assets-node.js'
import { compareTable, formatMetric, parseCompareReport, reportSides, speedup, timeToTarget, type CompareReport } from './compare.js'

const fixture = (): CompareReport => parseCompareReport(JSON.parse(readFileSync(new URL('../../test/fixtures/report/compare-report.json', import.meta.url), 'utf8')))

describe('compare report', () => {
  it('the terminal table has one aligned row per budget with mean ± std, the difference and the speed-up', () => {
    const r = fixture()
    const lines = compareTable(r).split('\n')
    const head = lines.findIndex((l) => l.startsWith('budget'))
    const rows = lines.slice(head + 2, head + 2 + r.budgets.length)
    expect(rows.map((l) => l.split(/\s{2,}/)[0])).toEqual(['1', '3', '10', 'all'])
    // fixed width: every row of the table is as long as the header
    for (const l of [lines[head + 1]!, ...rows]) expect(l.length).toBe(lines[head]!.length)
    const b = r.budgets[0]!
    expect(rows[0]).toContain(`${b.pretrained.mean.toFixed(4)} ± ${b.pretrained.std.toFixed(4)}`)
    expect(rows[0]).toContain(`${b.scratch.mean.toFixed(4)} ± ${b.scratch.std.toFixed(4)}`)
    expect(rows[0]).toContain(`+${(b.pretrained.mean - b.scratch.mean).toFixed(4)}`)
    expect(rows[0]).toContain('(2/3)') // one scratch seed never reached the target
    expect(rows[0]).toContain(`${speedup(b)!.toFixed(1)}x`)
    expect(compareTable(r)).toContain(`fairness: ${r.fairness}`)
  })

  it('time to target averages the runs that reached it and counts them', () => {
    const side = { mean: 0, std: 0, runs: [1, null, 3].map((t, seed) => ({ seed, value: 0, steps: 1, wall_s: 1, time_to_target_s: t, lr: 1 })) }
    expect(timeToTarget(side)).toEqual({ mean: 2, reached: 2, runs: 3 })
    expect(timeToTarget({ ...side, runs: [] }).mean).toBeNull()
  })

  it('a malformed report.json lists every problem with its path', () => {
    const bad = JSON.parse(JSON.stringify(fixture())) as Record<string, unknown> & { budgets: Record<string, unknown>[] }
    delete bad['metric']
    bad.budgets[1]!['labels'] = 0
    ;(bad.budgets[2]!['scratch'] as { runs: Record<string, unknown>[] }).runs[0]!['value'] = 'high'
    ;(bad['curves'] as Record<string, unknown>)['teacher'] = {}
    try {
      parseCompareReport(bad)
      expect.unreachable()
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError)
      const m = (e as ConfigError).message
      expect(m).toContain('4 problem(s)')
      for (const p of ['metric:', 'budgets[1].labels:', 'budgets[2].scratch.runs[0].value:', 'curves.teacher:']) expect(m).toContain(p)
    }
    expect(() => parseCompareReport([])).toThrow(/not a JSON object/)
  })

  it('a report with further scratch sides: parsed, one column and one time-to-target column each, difference to the best scratch side', () => {
    const base = fixture()
    const cnn = (b: CompareReport['budgets'][number]) => ({ ...b.scratch, mean: b.scratch.mean + 0.01 })
    const r = parseCompareReport({ ...base, extra_scratch: [{ key: 'keyword-cnn', model: 'keyword-cnn (from scratch)' }], budgets: base.budgets.map((b) => ({ ...b, extra: { 'keyword-cnn': cnn(b) } })), curves: { ...base.curves, 'keyword-cnn': base.curves!.scratch } })
    expect(r.extra_scratch).toHaveLength(1)
    const text = compareTable(r)
    expect(text).toContain('keyword-cnn: keyword-cnn (from scratch)')
    const lines = text.split('\n')
    const head = lines.find((l) => l.startsWith('budget'))!
    expect(head).toMatch(/scratch accuracy\s+keyword-cnn accuracy\s+difference.*scratch time to target\s+keyword-cnn time to target\s+speed-up/)
    const b = r.budgets[0]!
    expect(lines[lines.indexOf(head) + 2]).toContain(`${b.pretrained.mean - b.extra!['keyword-cnn']!.mean >= 0 ? '+' : ''}${formatMetric(b.pretrained.mean - b.extra!['keyword-cnn']!.mean)}`)
    expect(reportSides(r)).toEqual(['pretrained', 'scratch', 'keyword-cnn'])
    const html = renderCompareReport(r)
    expect(html).toContain('from scratch (keyword-cnn)')
    expect(html).toContain('"sides":["pretrained","scratch","keyword-cnn"]')
    // a missing extra side, a key that clashes, and curves of an undeclared side are each named
    const bad = { ...base, extra_scratch: [{ key: 'scratch', model: 'x' }, { key: 'cnn', model: 'y' }], budgets: base.budgets, curves: { ...base.curves, other: {} } }
    expect(() => parseCompareReport(bad)).toThrow(/extra_scratch\[0\]\.key: "scratch" is already a side[\s\S]*budgets\[0\]\.extra\.cnn: expected \{ mean, std, runs \}[\s\S]*curves\.other: unknown side/)
  })

  it('report.html is one file: the chart library inlined, the data escaped, nothing fetched', () => {
    const r = { ...fixture(), task: 'x</script><script>alert(1)</script>' }
    const html = renderCompareReport(r)
    const pinned = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { dependencies: Record<string, string> }).dependencies['uplot']
    expect(pinned).toMatch(/^\d+\.\d+\.\d+$/) // an exact version
    expect(html).toContain(`leeoniya/uPlot (v${pinned})`) // the library's banner: inlined, and the pinned version
    expect(html).not.toMatch(/<(script|link|img)[^>]+(src|href)=/i)
    expect(html).toContain("default-src 'none'")
    // the hostile task name appears only escaped: three script elements (data, library, page script)
    expect(html.match(/<script/g)).toHaveLength(3)
    expect(html).toContain('x&lt;/script&gt;')
  })
})
