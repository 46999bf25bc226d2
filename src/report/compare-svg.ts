/**
 * report.svg of `finetune compare`: the metric against labelled examples (log axis), one line per
 * side with ± one standard deviation as error bars. A self-contained static image (no script, no
 * fonts to fetch) for a README or BENCHMARKS.md, where report.html's interactive charts cannot go.
 * Every point carries its side, labels and value as data attributes and a tooltip.
 */
import { formatMetric, reportSides, sideOf, type CompareReport } from './compare.js'

const W = 640
const PLOT_H = 380
const M = { left: 64, right: 20, top: 44, bottom: 52 }
const LEGEND_ROW = 17
// Okabe-Ito, in the order of report.html: pretrained blue, scratch vermillion, then green, purple, yellow
const COLORS = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00']
const DASH = ['', '6 4', '2 3', '8 3 2 3', '1 2']

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
const fix = (v: number): string => String(Math.round(v * 10) / 10)

/** Round tick values covering [lo, hi]: steps of 1, 2 or 5 times a power of ten. */
export function niceTicks(lo: number, hi: number, target = 5): number[] {
  if (!(hi > lo)) return [lo]
  const raw = (hi - lo) / target
  const p = 10 ** Math.floor(Math.log10(raw))
  const step = [1, 2, 5, 10].map((k) => k * p).find((s) => s >= raw) ?? 10 * p
  const out: number[] = []
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)))
  return out
}

/** The y range: [0, 1] for a metric that stays in it (accuracy, F1, WER), else the data's range padded. */
function yRange(values: number[]): [number, number] {
  const lo = Math.min(...values)
  const hi = Math.max(...values)
  if (lo >= 0 && hi <= 1) return [0, 1]
  const pad = (hi - lo || Math.abs(hi) || 1) * 0.1
  return [lo - pad, hi + pad]
}

/** Renders the report's metric-against-labels chart as a standalone SVG document. */
export function renderCompareSvg(r: CompareReport): string {
  const sides = reportSides(r)
  // the legend sits under the x axis, a row per side, so it never hides a point
  const H = PLOT_H + 8 + sides.length * LEGEND_ROW
  const budgets = r.budgets.slice().sort((a, b) => a.labels - b.labels)
  const pts = sides.map((s) => budgets.flatMap((b) => {
    const x = sideOf(b, s)
    return x ? [{ labels: b.labels, budget: b.budget, mean: x.mean, std: x.std, runs: x.runs.length }] : []
  }))
  const all = pts.flat().flatMap((p) => [p.mean - p.std, p.mean + p.std])
  const [y0, y1] = yRange(all)
  const lx = budgets.map((b) => Math.log10(b.labels))
  // half a decade of margin either side (a single budget sits in the middle)
  const x0 = Math.min(...lx) - 0.25
  const x1 = Math.max(...lx) + 0.25
  const pw = W - M.left - M.right
  const ph = PLOT_H - M.top - M.bottom
  const X = (labels: number): number => M.left + ((Math.log10(labels) - x0) / (x1 - x0)) * pw
  const Y = (v: number): number => M.top + (1 - (v - y0) / (y1 - y0)) * ph
  const seeds = Math.max(...r.budgets.map((b) => b.pretrained.runs.length))
  const nameOf = (s: string): string => (s === 'pretrained' ? `pre-trained: ${r.model}` : s === 'scratch' ? `scratch: ${r.scratch_model}` : `${s}: ${r.extra_scratch?.find((e) => e.key === s)?.model ?? s}`)

  const out: string[] = []
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12" data-metric="${esc(r.metric)}">`)
  out.push(`<title>${esc(`${r.task}: ${r.metric} against labelled examples, pre-trained vs from scratch`)}</title>`)
  out.push(`<desc>${esc(`${r.fairness} Mean ± std over ${seeds} seed${seeds === 1 ? '' : 's'}.`)}</desc>`)
  out.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`)
  out.push(`<text x="${M.left}" y="20" font-size="14" font-weight="bold">${esc(`${r.task}: ${r.metric} (${r.higher_is_better ? 'higher' : 'lower'} is better) against labelled examples`)}</text>`)
  out.push(`<text x="${M.left}" y="36" fill="#555">${esc(`mean ± std over ${seeds} seed${seeds === 1 ? '' : 's'}; x axis logarithmic`)}</text>`)
  // grid and axes
  for (const t of niceTicks(y0, y1)) {
    out.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${fix(Y(t))}" y2="${fix(Y(t))}" stroke="#e4e4e4"/>`)
    out.push(`<text x="${M.left - 6}" y="${fix(Y(t) + 4)}" text-anchor="end">${esc(formatTick(t))}</text>`)
  }
  for (const b of budgets) {
    out.push(`<line x1="${fix(X(b.labels))}" x2="${fix(X(b.labels))}" y1="${M.top}" y2="${PLOT_H - M.bottom}" stroke="#f0f0f0"/>`)
    out.push(`<text x="${fix(X(b.labels))}" y="${PLOT_H - M.bottom + 16}" text-anchor="middle">${b.labels}</text>`)
  }
  out.push(`<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>`)
  out.push(`<text x="${M.left + pw / 2}" y="${PLOT_H - 14}" text-anchor="middle">labelled examples (log scale)</text>`)
  out.push(`<text transform="translate(16 ${M.top + ph / 2}) rotate(-90)" text-anchor="middle">${esc(r.metric)}</text>`)
  // one series per side: error bars, the line of means, the points
  sides.forEach((s, i) => {
    const c = COLORS[i % COLORS.length]!
    const p = pts[i]!
    out.push(`<g class="side" data-side="${esc(s)}" stroke="${c}" fill="${c}">`)
    for (const q of p) {
      if (q.std > 0) {
        const x = fix(X(q.labels))
        out.push(`<path d="M${x} ${fix(Y(q.mean - q.std))}V${fix(Y(q.mean + q.std))}M${fix(X(q.labels) - 4)} ${fix(Y(q.mean - q.std))}h8M${fix(X(q.labels) - 4)} ${fix(Y(q.mean + q.std))}h8" fill="none" stroke-width="1.2" opacity="0.7"/>`)
      }
    }
    if (p.length > 1) out.push(`<polyline points="${p.map((q) => `${fix(X(q.labels))},${fix(Y(q.mean))}`).join(' ')}" fill="none" stroke-width="2"${DASH[i % DASH.length] ? ` stroke-dasharray="${DASH[i % DASH.length]}"` : ''}/>`)
    for (const q of p) {
      out.push(`<circle cx="${fix(X(q.labels))}" cy="${fix(Y(q.mean))}" r="4" data-labels="${q.labels}" data-value="${q.mean}" data-std="${q.std}"><title>${esc(`${s}, ${q.labels} labels (budget ${q.budget}): ${formatMetric(q.mean)} ± ${formatMetric(q.std)} over ${q.runs} run${q.runs === 1 ? '' : 's'}`)}</title></circle>`)
    }
    out.push('</g>')
  })
  // legend
  sides.forEach((s, i) => {
    const c = COLORS[i % COLORS.length]!
    const y = PLOT_H + 4 + i * LEGEND_ROW
    out.push(`<line x1="${M.left + 12}" x2="${M.left + 36}" y1="${y - 4}" y2="${y - 4}" stroke="${c}" stroke-width="2"${DASH[i % DASH.length] ? ` stroke-dasharray="${DASH[i % DASH.length]}"` : ''}/>`)
    out.push(`<circle cx="${M.left + 24}" cy="${y - 4}" r="3.5" fill="${c}"/>`)
    out.push(`<text x="${M.left + 42}" y="${y}">${esc(nameOf(s))}</text>`)
  })
  out.push('</svg>')
  return `${out.join('\n')}\n`
}

function formatTick(v: number): string {
  return Math.abs(v) >= 1000 ? v.toFixed(0) : String(Number(v.toPrecision(4)))
}
