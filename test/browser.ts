/**
 * Headless Chromium for browser tests, driven by playwright-core with the system's browser (Debian
 * `chromium`; .ci/run installs it). Browsers are never downloaded; without one the tests skip.
 */
import { existsSync } from 'node:fs'
import type { Browser, Page } from 'playwright-core'

export const CHROMIUM = process.env['FINETUNE_CHROMIUM'] ?? '/usr/bin/chromium'
export const hasChromium = existsSync(CHROMIUM)

export async function launchChromium(): Promise<Browser> {
  const { chromium } = await import('playwright-core')
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  })
}

/**
 * Records the page's script errors and every request that leaves file:// and 127.0.0.1 (there must
 * be none). Chromium's own "Failed to load resource" lines (a 404 while a run folder has no
 * events.jsonl yet) are answers the page handles, not errors.
 */
export function watchPage(page: Page): { errors: string[]; external: string[] } {
  const w = { errors: [] as string[], external: [] as string[] }
  page.on('pageerror', (e) => w.errors.push(e.message))
  page.on('console', (m) => void (m.type() === 'error' && !m.text().startsWith('Failed to load resource') && w.errors.push(m.text())))
  page.on('request', (r) => {
    const u = new URL(r.url())
    if (u.protocol !== 'file:' && u.protocol !== 'data:' && u.hostname !== '127.0.0.1') w.external.push(r.url())
  })
  return w
}
