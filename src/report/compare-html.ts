/**
 * report.html of `finetune compare`: the metric against labelled examples (log axis, both sides,
 * mean ± std bands), learning curves per budget, the time-to-target table and every number in
 * plain tables. One file; the charting library is inlined (see html.ts).
 */
import { compareRows, formatMetric, formatSeconds, reportSides, sideOf, speedup, timeToTarget, type CompareReport } from './compare.js'
import { escapeHtml as h, htmlPage, type ChartAssets } from './html.js'

/** Budgets with learning curves, in the report's order, each with the key used in `curves`. */
function curveBudgets(r: CompareReport): { key: string; labels: number }[] {
  const keys = new Set(reportSides(r).flatMap((s) => Object.keys(r.curves?.[s] ?? {})))
  const known = r.budgets.filter((b) => keys.has(String(b.budget))).map((b) => ({ key: String(b.budget), labels: b.labels }))
  const extra = [...keys].filter((k) => !known.some((b) => b.key === k)).map((key) => ({ key, labels: NaN }))
  return [...known, ...extra]
}

function table(id: string, rows: readonly (readonly string[])[]): string {
  const [head, ...body] = rows
  return `<table id="${id}">\n<thead><tr>${head!.map((c) => `<th>${h(c)}</th>`).join('')}</tr></thead>\n<tbody>\n${body.map((r) => `<tr>${r.map((c) => `<td>${h(c)}</td>`).join('')}</tr>`).join('\n')}\n</tbody>\n</table>`
}

/** Renders report.html with the given chart assets (`renderCompareReport` in assets-node.ts supplies uPlot from node_modules). */
export function renderCompareReportWith(r: CompareReport, assets: ChartAssets): string {
  const seeds = Math.max(...r.budgets.map((b) => b.pretrained.runs.length))
  const curves = curveBudgets(r)
  const sides = reportSides(r)
  const tttRows = [
    ['budget', 'labels', ...sides.flatMap((s) => [`${s}: time to target`, 'reached']), 'speed-up'],
    ...r.budgets.map((b) => {
      const su = speedup(b)
      const cells = sides.flatMap((k) => {
        const side = sideOf(b, k)
        if (!side) return ['-', '-']
        const t = timeToTarget(side)
        return [t.mean === null ? 'never' : `${formatSeconds(t.mean)} s`, `${t.reached}/${t.runs}`]
      })
      return [String(b.budget), String(b.labels), ...cells, su === null ? '-' : `${su.toFixed(1)}x`]
    }),
  ]
  const runRows = [
    ['budget', 'labels', 'side', 'seed', r.metric, 'steps', 'wall time (s)', 'time to target (s)', 'learning rate'],
    ...r.budgets.flatMap((b) =>
      sides.flatMap((side) => (sideOf(b, side)?.runs ?? []).map((run) => [String(b.budget), String(b.labels), side, String(run.seed), formatMetric(run.value), String(run.steps), formatSeconds(run.wall_s), run.time_to_target_s === null ? 'never' : formatSeconds(run.time_to_target_s), String(run.lr)])),
    ),
  ]
  const curveRows = [
    ['budget', 'side', 'step', 'wall time (s)', r.metric],
    ...curves.flatMap(({ key }) => sides.flatMap((side) => (r.curves?.[side]?.[key] ?? []).map((p) => [key, side, String(p.step), formatSeconds(p.wall_s), formatMetric(p.value)]))),
  ]
  const body = `
<h1>${h(r.task)}: pre-trained against from scratch</h1>
<p class="muted">${h(r.metric)} (${r.higher_is_better ? 'higher' : 'lower'} is better) on the test data, mean ± std over ${seeds} seed${seeds === 1 ? '' : 's'}; made ${h(r.created)}</p>
<p>pre-trained: <code>${h(r.model)}</code><br>from scratch: <code>${h(r.scratch_model)}</code>${(r.extra_scratch ?? []).map((e) => `<br>from scratch (${h(e.key)}): <code>${h(e.model)}</code>`).join('')}</p>

<h2>${h(r.metric)} against labelled examples</h2>
<figure><div id="chart-metric" class="chart" data-chart="metric"></div>
<p class="muted">lines: mean over seeds; shaded: ± one standard deviation; the x axis is logarithmic</p></figure>

<h2>Learning curves</h2>
${curves.length ? `<p class="muted">${h(r.metric)} against wall time, one chart per budget</p>\n<div class="charts">\n${curves.map((c, i) => `<figure><figcaption>budget ${h(c.key)}${Number.isFinite(c.labels) ? ` (${c.labels} labels)` : ''}</figcaption><div id="chart-curve-${i}" class="chart" data-chart="curve" data-budget="${h(c.key)}"></div></figure>`).join('\n')}\n</div>` : '<p class="muted">this report has no learning curves</p>'}

<h2>Time to target</h2>
<p class="muted">target: the best ${h(r.metric)} the scratch side${r.extra_scratch?.length ? 's' : ''} reached at that budget; time: mean training time (wall time less evaluations and compiling) over the runs that reached it</p>
${table('time-to-target', tttRows)}

<h2>All numbers</h2>
${table('summary', compareRows(r))}
${table('runs', runRows)}
${curveRows.length > 1 ? `<details><summary>learning-curve points (${curveRows.length - 1})</summary>\n${table('curve-points', curveRows)}\n</details>` : ''}

<h2>Fairness</h2>
<p>${h(r.fairness)}</p>`
  return htmlPage({ title: `${r.task}: pre-trained vs scratch (${r.metric})`, body, assets, data: { report: r, curves: curves.map((c) => c.key), sides }, script: CLIENT })
}

// Runs in the page (plain ES2020, no build step): draws the charts from #page-data and exposes each
// uPlot instance as window.finetuneCharts[id]; body[data-ready] is set once everything has drawn.
const CLIENT = `'use strict';
(() => {
  const D = JSON.parse(document.getElementById('page-data').textContent);
  const R = D.report;
  const SIDES = D.sides;
  // Okabe-Ito colours: pretrained blue, scratch vermillion, further scratch sides green, purple, yellow
  const PALETTE = [['#0072B2', 'rgba(0,114,178,0.16)'], ['#D55E00', 'rgba(213,94,0,0.16)'], ['#009E73', 'rgba(0,158,115,0.16)'], ['#CC79A7', 'rgba(204,121,167,0.16)'], ['#E69F00', 'rgba(230,159,0,0.16)']];
  const COLOR = {}, FILL = {};
  SIDES.forEach((s, i) => { COLOR[s] = PALETTE[i % PALETTE.length][0]; FILL[s] = PALETTE[i % PALETTE.length][1]; });
  const sideOf = (b, s) => (s === 'pretrained' || s === 'scratch' ? b[s] : b.extra && b.extra[s]);
  const charts = {};
  window.finetuneCharts = charts;
  const num = (v) => v == null ? '' : Math.abs(v) >= 1000 ? v.toFixed(0) : String(+v.toPrecision(4));
  const widthOf = (el) => Math.max(280, Math.floor(el.getBoundingClientRect().width) || 640);
  const make = (id, opts, data) => {
    const el = document.getElementById(id);
    el.dataset.series = JSON.stringify(data);
    charts[id] = new uPlot(Object.assign({ width: widthOf(el), height: 320, legend: { live: false } }, opts), data, el);
  };
  const yAxis = { label: R.metric, size: 64, values: (u, splits) => splits.map(num) };

  // the metric against labels: a mean line with points and a mean ± std band per side
  const bs = R.budgets.slice().sort((a, b) => a.labels - b.labels);
  const data = [bs.map((b) => b.labels)];
  const series = [{ label: 'labels' }];
  const bands = [];
  for (const s of SIDES) {
    const i = data.length;
    const v = (b, f) => { const x = sideOf(b, s); return x ? f(x) : null; };
    data.push(bs.map((b) => v(b, (x) => x.mean)), bs.map((b) => v(b, (x) => x.mean + x.std)), bs.map((b) => v(b, (x) => x.mean - x.std)));
    series.push(
      { label: s, stroke: COLOR[s], width: 2, points: { show: true, size: 9, fill: COLOR[s] } },
      { label: s + ' + std', stroke: FILL[s], width: 1, points: { show: false } },
      { label: s + ' \\u2212 std', stroke: FILL[s], width: 1, points: { show: false } },
    );
    bands.push({ series: [i + 1, i + 2], fill: FILL[s] });
  }
  make('chart-metric', {
    height: 360,
    scales: { x: { time: false, distr: 3, log: 10 } },
    axes: [{ label: 'labelled examples (log scale)', values: (u, splits) => splits.map(num) }, yAxis],
    series, bands,
  }, data);

  // learning curves: the metric against wall time, both sides on one x axis (uPlot.join aligns them)
  D.curves.forEach((key, i) => {
    const sides = SIDES.filter((s) => R.curves && R.curves[s] && R.curves[s][key] && R.curves[s][key].length);
    if (!sides.length) return;
    const tables = sides.map((s) => {
      const pts = R.curves[s][key].slice().sort((a, b) => a.wall_s - b.wall_s).filter((p, j, a) => j === 0 || p.wall_s !== a[j - 1].wall_s);
      return [pts.map((p) => p.wall_s), pts.map((p) => p.value)];
    });
    make('chart-curve-' + i, {
      scales: { x: { time: false } },
      axes: [{ label: 'wall time (s)', values: (u, splits) => splits.map(num) }, yAxis],
      series: [{ label: 's' }, ...sides.map((s) => ({ label: s, stroke: COLOR[s], width: 2, spanGaps: true, points: { show: true, size: 5, fill: COLOR[s] } }))],
    }, uPlot.join(tables));
  });

  addEventListener('resize', () => {
    for (const [id, u] of Object.entries(charts)) u.setSize({ width: widthOf(document.getElementById(id)), height: u.height });
  });
  requestAnimationFrame(() => requestAnimationFrame(() => { document.body.dataset.ready = '1'; }));
})();
`
