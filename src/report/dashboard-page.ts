/**
 * The live dashboard page: follows a run folder's events.jsonl (the TrainEvent stream, src/train/events.ts)
 * by polling it from the last byte read, and draws loss, learning rate, evaluation metrics and
 * throughput with progress, ETA and the run's arguments. Served by dashboard-node.ts.
 */
import { escapeHtml as h, htmlPage, type ChartAssets } from './html.js'

/** The dashboard's HTML; it reads events.jsonl, training_args.json and metrics.json from its own origin. */
export function renderDashboardPage(assets: ChartAssets, o: { title: string }): string {
  const body = `
<h1>finetune run <code>${h(o.title)}</code></h1>
<p><span id="status" class="status">connecting</span> <span id="started" class="muted"></span></p>
<div class="progress"><progress id="progress" max="1" value="0"></progress>
<span>step <b id="step" data-step="0">0</b> / <span id="total">?</span></span>
<span>epoch <b id="epoch">-</b></span>
<span>elapsed <b id="elapsed">-</b></span>
<span>ETA <b id="eta">-</b></span>
<span><b id="throughput">-</b> examples/s</span>
<span>loss <b id="loss">-</b></span></div>
<p id="latest-eval" class="muted"></p>
<div class="charts">
<figure><figcaption>loss</figcaption><div id="chart-loss" class="chart"></div></figure>
<figure><figcaption>learning rate</figcaption><div id="chart-lr" class="chart"></div></figure>
<figure><figcaption>evaluation metrics</figcaption><div id="chart-eval" class="chart"><p class="muted" id="no-eval">no evaluation yet</p></div></figure>
<figure><figcaption>throughput (examples/s)</figcaption><div id="chart-throughput" class="chart"></div></figure>
</div>
<h2>Final metrics</h2>
<div id="metrics"><p class="muted">metrics.json appears when the run ends</p></div>
<h2>Arguments</h2>
<div id="args"><p class="muted">training_args.json not written yet</p></div>`
  const css = `
.status { display: inline-block; padding: 1px 8px; border-radius: 10px; background: var(--soft); border: 1px solid var(--line); font-weight: 600 }
body[data-status=running] .status { background: #ddf4ff; border-color: #54aeff } body[data-status=finished] .status { background: #dafbe1; border-color: #4ac26b }
.progress { display: flex; flex-wrap: wrap; gap: 6px 18px; align-items: center; margin: 12px 0 } .progress progress { width: 260px; height: 14px }
#args td:last-child { text-align: left; white-space: pre-wrap; word-break: break-word; max-width: 640px }`
  return htmlPage({ title: `finetune: ${o.title}`, body, assets, script: CLIENT, css })
}

// Runs in the page (plain ES2020). State is rebuilt from the events; body[data-status] is
// waiting | running | finished, #step[data-step] the last step seen, window.finetuneCharts the charts.
const CLIENT = `'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const POLL_MS = 500, IDLE_MS = 5000;
  const charts = {};
  window.finetuneCharts = charts;
  window.finetuneStepsSeen = [];
  let S, offset = 0, timer = null, dirty = false, argsShown = false, metricsAsked = 0;
  const reset = () => {
    S = { total: 0, step: 0, epoch: null, steps: [], loss: [], lr: [], eps: [], evalSteps: [], evals: {}, evalKeys: [], status: 'waiting', start: null, end: null, base: 0, elapsedMs: 0 };
    for (const k of Object.keys(charts)) { charts[k].destroy(); delete charts[k]; }
  };
  reset();
  const num = (v) => v == null || !isFinite(v) ? '-' : Math.abs(v) >= 1000 ? v.toFixed(0) : Math.abs(v) < 1e-3 && v !== 0 ? v.toExponential(2) : String(+v.toPrecision(4));
  const dur = (ms) => { if (!isFinite(ms) || ms < 0) return '-'; const s = Math.round(ms / 1000), m = Math.floor(s / 60); return m >= 60 ? Math.floor(m / 60) + ':' + String(m % 60).padStart(2, '0') + ':' + String(s % 60).padStart(2, '0') : m + ':' + String(s % 60).padStart(2, '0'); };
  const widthOf = (el) => Math.max(280, Math.floor(el.getBoundingClientRect().width) || 480);
  const chart = (id, seriesOpts, data, yLabel) => {
    const el = $(id);
    if (charts[id] && charts[id].series.length !== seriesOpts.length + 1) { charts[id].destroy(); delete charts[id]; }
    if (!charts[id]) {
      el.textContent = '';
      charts[id] = new uPlot({
        width: widthOf(el), height: 240, legend: { live: false },
        scales: { x: { time: false } },
        axes: [{ label: 'step' }, { label: yLabel, size: 60, values: (u, sp) => sp.map(num) }],
        series: [{ label: 'step' }, ...seriesOpts.map((s) => Object.assign({ width: 2, spanGaps: true, points: { show: false } }, s))],
      }, data, el);
    } else charts[id].setData(data);
    el.dataset.points = String(data[0].length);
  };
  const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000', '#F0E442'];

  const onEvent = (e) => {
    if (e.type === 'start') {
      if (S.end) S.end = null; // a resumed run continues the same folder
      S.total = e.totalSteps; S.start = e; S.base = e.resumedFromStep || 0; S.status = 'running';
      argsShown = false; metricsAsked = 0;
    } else if (e.type === 'step') {
      S.step = e.step; S.epoch = e.epoch; S.elapsedMs = e.elapsedMs; S.status = 'running';
      S.steps.push(e.step); S.loss.push(e.loss); S.lr.push(e.lr); S.eps.push(e.examplesPerSec);
    } else if (e.type === 'eval') {
      S.evalSteps.push(e.step);
      for (const [k, v] of Object.entries(e.metrics)) {
        if (!S.evals[k]) { S.evals[k] = new Array(S.evalSteps.length - 1).fill(null); S.evalKeys.push(k); }
      }
      for (const k of S.evalKeys) S.evals[k].push(k in e.metrics ? e.metrics[k] : null);
      $('latest-eval').textContent = 'last evaluation (step ' + e.step + '): ' + Object.entries(e.metrics).filter(([k]) => !k.startsWith('f1_')).map(([k, v]) => k + ' ' + num(v)).join(', ');
    } else if (e.type === 'end') {
      S.end = e; S.step = e.step; S.status = 'finished';
    }
    dirty = true;
  };

  const render = () => {
    if (!dirty) return;
    dirty = false;
    document.body.dataset.status = S.status;
    $('status').textContent = S.status === 'finished' ? 'finished (' + S.end.reason + ')' : S.status;
    if (S.start) $('started').textContent = 'started ' + new Date(S.start.time).toLocaleString() + '; ' + S.start.trainable.toLocaleString() + ' of ' + S.start.parameters.toLocaleString() + ' parameters trained on ' + S.start.trainExamples + ' examples';
    $('step').textContent = String(S.step); $('step').dataset.step = String(S.step);
    window.finetuneStepsSeen.push(S.step);
    $('total').textContent = S.total ? String(S.total) : '?';
    $('progress').max = Math.max(S.total, 1); $('progress').value = S.step;
    $('epoch').textContent = S.epoch == null ? '-' : String(S.epoch);
    const elapsed = S.end ? S.end.elapsedMs : S.elapsedMs;
    $('elapsed').textContent = dur(elapsed);
    const done = S.step - S.base;
    $('eta').textContent = S.end ? 'done' : done > 0 && S.total ? dur((S.total - S.step) * S.elapsedMs / done) : '-';
    $('throughput').textContent = num(S.eps[S.eps.length - 1]);
    $('loss').textContent = num(S.loss[S.loss.length - 1]);
    if (S.steps.length) {
      const lossKey = S.evalKeys.find((k) => k === 'eval_loss');
      const tables = [[S.steps, S.loss]];
      if (lossKey) tables.push([S.evalSteps, S.evals[lossKey]]);
      chart('chart-loss', [{ label: 'train loss', stroke: PALETTE[0] }, ...(lossKey ? [{ label: 'eval loss', stroke: PALETTE[1], points: { show: true, size: 6 } }] : [])], tables.length > 1 ? uPlot.join(tables) : tables[0], 'loss');
      chart('chart-lr', [{ label: 'learning rate', stroke: PALETTE[2] }], [S.steps, S.lr], 'lr');
      chart('chart-throughput', [{ label: 'examples/s', stroke: PALETTE[4] }], [S.steps, S.eps], 'examples/s');
    }
    const shown = S.evalKeys.filter((k) => k !== 'eval_loss' && !k.startsWith('f1_')).slice(0, PALETTE.length);
    if (shown.length) {
      chart('chart-eval', shown.map((k, i) => ({ label: k, stroke: PALETTE[i], points: { show: true, size: 6 } })), [S.evalSteps, ...shown.map((k) => S.evals[k])], 'metric');
    }
  };

  const table = (obj) => {
    const t = document.createElement('table');
    for (const [k, v] of Object.entries(obj)) {
      if (v === undefined) continue;
      const tr = t.insertRow();
      tr.insertCell().textContent = k;
      tr.insertCell().textContent = typeof v === 'number' ? num(v) : typeof v === 'string' ? v : JSON.stringify(v);
    }
    return t;
  };
  const loadJson = async (name, id) => {
    try {
      const r = await fetch(name, { cache: 'no-store' });
      if (!r.ok) return false;
      $(id).replaceChildren(table(await r.json()));
      return true;
    } catch { return false; }
  };

  const decoder = new TextDecoder();
  const poll = async () => {
    timer = null;
    let next = POLL_MS;
    try {
      const r = await fetch('events.jsonl?offset=' + offset, { cache: 'no-store' });
      if (r.status === 404) {
        if (offset > 0) { reset(); offset = 0; }
        document.body.dataset.status = 'waiting'; $('status').textContent = 'waiting for events.jsonl';
      } else if (r.ok) {
        const size = Number(r.headers.get('x-file-size'));
        if (size < offset) { reset(); offset = 0; next = 0; } // the folder holds a new run
        else {
          const buf = new Uint8Array(await r.arrayBuffer());
          const last = buf.lastIndexOf(10);
          if (last >= 0) {
            offset += last + 1;
            for (const line of decoder.decode(buf.subarray(0, last + 1)).split('\\n')) {
              if (!line.trim()) continue;
              try { onEvent(JSON.parse(line)); } catch { /* a line being written */ }
            }
            render();
          }
          if (offset < size && last >= 0) next = 0;
          else if (S.end) next = IDLE_MS;
        }
        if (!argsShown && S.start) argsShown = await loadJson('training_args.json', 'args');
        // the end event is written before metrics.json: ask again soon (for a minute at most, a run
        // may end without one) until it is there
        if (S.end && !(await loadJson('metrics.json', 'metrics')) && metricsAsked++ < 120) next = POLL_MS;
      }
    } catch {
      // the server stopped (after "finetune train --dashboard" ends, or Ctrl-C): keep what is shown
      $('status').textContent = (S.end ? 'finished (' + S.end.reason + ')' : S.status) + '; dashboard server stopped';
      next = IDLE_MS;
    }
    timer = setTimeout(poll, next);
  };
  addEventListener('resize', () => { for (const [id, u] of Object.entries(charts)) u.setSize({ width: widthOf($(id)), height: u.height }); });
  poll();
})();
`
