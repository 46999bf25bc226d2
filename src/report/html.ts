/**
 * Standalone HTML pages: the charting library's JS and CSS are inlined and a Content-Security-Policy
 * forbids every network request except to the page's own origin, so a page works offline and from disk.
 */

/**
 * The charting library, as text to inline. finetune draws with uPlot (npm `uplot`, pinned exactly in
 * package.json): about 50 kB minified with no dependencies, canvas-drawn (cheap for thousands of
 * training steps, redrawn in place as a run streams in), logarithmic scales and mean ± std bands
 * built in, MIT-licensed and actively maintained. Chart.js (~200 kB) or a D3 stack would do the same
 * job several times larger. `chartAssets()` in assets-node.ts reads it from the installed package.
 */
export interface ChartAssets {
  /** uPlot's IIFE build: defines the global `uPlot`. */
  js: string
  css: string
  /** e.g. "uplot 1.6.32", shown in the page footer. */
  version: string
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }

/** Text safe to put in HTML content or a quoted attribute. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!)
}

/** JSON safe inside `<script type="application/json">`: no `</script>` or `<!--` can end the element. */
export function scriptJson(x: unknown): string {
  return JSON.stringify(x).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029')
}

/** The policy of every page: inline script and style only; fetches go to the page's own origin (the dashboard) or nowhere (a file). */
export const PAGE_CSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; connect-src 'self'; base-uri 'none'; form-action 'none'"

const BASE_CSS = `
:root { --pre: #0072B2; --scr: #D55E00; --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --bg: #fff; --soft: #f6f8fa }
* { box-sizing: border-box }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); margin: 0 auto; padding: 16px 24px 48px; max-width: 1100px }
h1 { font-size: 22px; margin: 8px 0 4px } h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px }
.muted { color: var(--muted) } code { font-size: 13px; background: var(--soft); padding: 1px 4px; border-radius: 4px }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; margin: 8px 0 }
th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: right; white-space: nowrap }
th { background: var(--soft); font-weight: 600 } td:first-child, th:first-child { text-align: left }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(440px, 1fr)); gap: 16px }
figure { margin: 0; min-width: 0 } figcaption { font-weight: 600; margin: 4px 0 }
.uplot { font-family: inherit }
footer { margin-top: 40px; font-size: 12px; color: var(--muted) }
`

/** A complete HTML document with the chart library, the page's data as JSON, and its script. */
export function htmlPage(o: { title: string; body: string; assets: ChartAssets; data?: unknown; script: string; css?: string }): string {
  for (const [what, text, end] of [['chart library', o.assets.js, '</script'], ['page script', o.script, '</script'], ['chart CSS', o.assets.css, '</style']] as const) {
    if (text.toLowerCase().includes(end)) throw new Error(`the ${what} contains "${end}", which would end its element early`)
  }
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="${PAGE_CSP}">
<title>${escapeHtml(o.title)}</title>
<style>${o.assets.css}</style>
<style>${BASE_CSS}${o.css ?? ''}</style>
</head>
<body>
${o.body}
<footer>made by finetune; charts drawn with ${escapeHtml(o.assets.version)} (MIT), inlined: this page loads nothing from the network</footer>
${o.data !== undefined ? `<script type="application/json" id="page-data">${scriptJson(o.data)}</script>\n` : ''}<script>${o.assets.js}</script>
<script>${o.script}</script>
</body>
</html>
`
}
