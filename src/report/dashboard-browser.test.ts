// `finetune train --dashboard` on a tiny BERT, watched in headless Chromium: the page shows the steps
// as they arrive (its step count rises while the run goes on), draws loss, learning rate, evaluation
// metrics and throughput, shows the run's arguments, and ends "finished"; requests that leave the
// run folder are refused from the browser too.
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { hasChromium, launchChromium, watchPage } from '../../test/browser.js'
import { sentimentCsv, tinyBert } from '../../test/text-fixtures.js'

const STEPS = 240

describe.skipIf(!hasChromium)('finetune train --dashboard in Chromium', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ft-dash-run-'))
  let browser: Browser
  beforeAll(async () => {
    await tinyBert(join(dir, 'bert'))
    sentimentCsv(join(dir, 'sent.csv'), 160)
    browser = await launchChromium()
  }, 60_000)
  afterAll(async () => {
    await browser?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('the page follows the run live: the step count rises, the charts fill, the run ends finished', async () => {
    const out = join(dir, 'out')
    const bin = fileURLToPath(new URL('../../bin/finetune.js', import.meta.url))
    const args = ['train', '--model', join(dir, 'bert'), '--data', join(dir, 'sent.csv'), '--out', out, '--max-steps', String(STEPS), '--eval-every', '80', '--save-every', 'none', '--threads', '1', '--batch-size', '8', '--max-length', '16', '--dashboard']
    const p = spawn(process.execPath, [bin, ...args], { env: process.env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stderr = ''
    const exit = new Promise<number | null>((ok) => p.on('exit', (c) => ok(c)))
    const url = await new Promise<string>((ok, fail) => {
      p.stderr.on('data', (c: Buffer) => {
        stderr += c.toString()
        const m = /dashboard: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(stderr)
        if (m) ok(m[1]!)
      })
      void exit.then(() => fail(new Error(`train exited before printing the dashboard URL:\n${stderr}`)))
    })
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } })
    const watch = watchPage(page)
    await page.goto(url)
    // what the step counter shows, sampled by the test while the run goes on
    const sampled: number[] = []
    const deadline = Date.now() + 45_000
    while (Date.now() < deadline) {
      sampled.push(Number(await page.getAttribute('#step', 'data-step')))
      if ((await page.getAttribute('body', 'data-status')) === 'finished') break
      await page.waitForTimeout(100)
    }
    expect(await page.getAttribute('body', 'data-status')).toBe('finished')
    // every value the page rendered, in order: it rose through intermediate steps to the last
    const seen = await page.evaluate(() => (window as unknown as { finetuneStepsSeen: number[] }).finetuneStepsSeen)
    const distinct = [...new Set([...seen, ...sampled])].filter((s) => s > 0)
    expect(distinct.at(-1)).toBe(STEPS)
    expect(distinct.filter((s) => s < STEPS).length, `steps the page showed: ${distinct.join(', ')}`).toBeGreaterThanOrEqual(2)
    expect(seen).toEqual([...seen].sort((a, b) => a - b))
    // the charts hold every step event and the evaluations
    const ev = readFileSync(join(out, 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; step: number; loss: number; lr: number; metrics: Record<string, number> })
    const steps = ev.filter((e) => e.type === 'step')
    const evals = ev.filter((e) => e.type === 'eval')
    const data = await page.evaluate(() => {
      const c = (window as unknown as { finetuneCharts: Record<string, { data: (number | null)[][]; series: { label: string }[] }> }).finetuneCharts
      return Object.fromEntries(Object.entries(c).map(([k, u]) => [k, { data: u.data, labels: u.series.map((s) => s.label) }]))
    })
    expect(data['chart-lr']!.data).toEqual([steps.map((e) => e.step), steps.map((e) => e.lr)])
    expect(data['chart-loss']!.labels).toEqual(['step', 'train loss', 'eval loss'])
    expect(data['chart-loss']!.data[1]!.filter((v) => v !== null)).toEqual(steps.map((e) => e.loss))
    expect(data['chart-eval']!.labels).toContain('accuracy')
    expect(data['chart-eval']!.data[0]).toEqual(evals.map((e) => e.step))
    expect(data['chart-throughput']!.data[0]).toHaveLength(steps.length)
    expect(await page.textContent('#total')).toBe(String(STEPS))
    expect(await page.textContent('#eta')).toBe('done')
    // the run's arguments and final metrics
    expect(await page.textContent('#args')).toContain('maxSteps' + String(STEPS))
    // the end event comes before the weights and metrics.json are written: the page polls for it
    await page.waitForFunction(() => (document.querySelector('#metrics')?.textContent ?? '').includes('accuracy'), null, { timeout: 20_000 })
    expect(await page.textContent('#metrics')).toContain('accuracy')
    // train exits by itself once the page has the last events
    expect(await exit).toBe(0)
    expect(stderr).toContain('dashboard stopped')
    expect(watch.external).toEqual([])
    expect(watch.errors).toEqual([])
  }, 90_000)

  it('from the page, requests outside the run folder are refused', async () => {
    const { startDashboard } = await import('./dashboard-node.js')
    const d = await startDashboard({ dir: join(dir, 'out') })
    try {
      const page = await browser.newPage()
      await page.goto(d.url)
      const codes = await page.evaluate(async () => {
        const paths = ['/..%2f..%2fetc%2fpasswd', '/%2e%2e/sent.csv', '/%2Fetc%2Fpasswd', '/config.json', '/model.safetensors']
        return Promise.all(paths.map(async (p) => (await fetch(p)).status))
      })
      // Chromium resolves "%2e%2e" itself (to /sent.csv: not served, 404); the server refuses the rest
      expect(codes).toEqual([403, 404, 403, 404, 404])
    } finally {
      await d.close()
    }
  })
})
