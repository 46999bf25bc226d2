// The dashboard server is read only and serves nothing outside the run folder: raw requests (no
// client-side URL normalisation) for `..`, encoded separators, absolute paths, other files of the
// folder, symlinks out of it, other methods and foreign Host headers are all refused.
import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../../test/cli.js'
import { startDashboard, type Dashboard } from './dashboard-node.js'

const root = mkdtempSync(join(tmpdir(), 'ft-dash-'))
const run = join(root, 'run')
const secret = join(root, 'secret.txt')
const events = ['{"type":"start","totalSteps":2}', '{"type":"step","step":1}', ''].join('\n')

function get(d: Dashboard, path: string, o: { method?: string; host?: string } = {}): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((ok, fail) => {
    const req = request({ host: '127.0.0.1', port: d.port, path, method: o.method ?? 'GET', headers: { host: o.host ?? `127.0.0.1:${d.port}` } }, (res) => {
      let body = ''
      res.on('data', (c: Buffer) => (body += c.toString()))
      res.on('end', () => ok({ status: res.statusCode ?? 0, body, headers: res.headers }))
    })
    req.on('error', fail)
    req.end()
  })
}

let d: Dashboard
beforeAll(async () => {
  mkdirSync(run)
  writeFileSync(join(run, 'events.jsonl'), events)
  writeFileSync(join(run, 'training_args.json'), '{"lr":0.001}\n')
  writeFileSync(join(run, 'config.json'), '{}')
  writeFileSync(secret, 'do not serve')
  symlinkSync(secret, join(run, 'metrics.json')) // a symlink out of the folder
  d = await startDashboard({ dir: run })
})
afterAll(async () => {
  await d?.close()
  rmSync(root, { recursive: true, force: true })
})

describe('dashboard server', () => {
  it('listens on 127.0.0.1 and serves its page and the run folder’s events from an offset', async () => {
    expect(d.url).toBe(`http://127.0.0.1:${d.port}/`)
    const page = await get(d, '/')
    expect(page.status).toBe(200)
    expect(page.headers['content-security-policy']).toContain("default-src 'none'")
    expect(page.body).toContain('id="chart-loss"')
    const all = await get(d, '/events.jsonl')
    expect(all.body).toBe(events)
    const tail = await get(d, '/events.jsonl?offset=32')
    expect(tail.body).toBe(events.slice(32))
    expect(tail.headers['x-file-size']).toBe(String(events.length))
    expect((await get(d, '/training_args.json')).body).toBe('{"lr":0.001}\n')
  })

  it('refuses ../ traversal, encoded separators and absolute paths', async () => {
    const refused = ['/../secret.txt', '/../../../../etc/passwd', '/..%2fsecret.txt', '/%2e%2e/secret.txt', '/%2E%2E%2Fsecret.txt', '/./events.jsonl', '/..\\secret.txt', '/%5c..%5csecret.txt', '//etc/passwd', '/%2Fetc%2Fpasswd', `http://127.0.0.1:${d.port}/../secret.txt`, 'secret.txt', '/events.jsonl%00']
    for (const p of refused) {
      const r = await get(d, p)
      expect([400, 403], p).toContain(r.status)
      expect(r.body, p).not.toContain('do not serve')
    }
  })

  it('serves no other file of the folder, nothing else on the machine, and no symlink out of the folder', async () => {
    for (const p of ['/config.json', '/etc/passwd', '/secret.txt', '/run/events.jsonl', '/checkpoints/']) expect((await get(d, p)).status, p).toBe(404)
    const link = await get(d, '/metrics.json')
    expect(link.status).toBe(403)
    expect(link.body).not.toContain('do not serve')
  })

  it('is read only and answers only to 127.0.0.1 and localhost', async () => {
    for (const m of ['POST', 'PUT', 'DELETE']) expect((await get(d, '/events.jsonl', { method: m })).status).toBe(405)
    expect((await get(d, '/events.jsonl', { host: 'evil.example:80' })).status).toBe(403)
    expect((await get(d, '/events.jsonl', { host: `localhost:${d.port}` })).status).toBe(200)
  })

  it('settle() waits for a page to fetch metrics.json itself: a 404 asked before the run wrote it does not count', async () => {
    const dir = join(root, 'settling')
    mkdirSync(dir)
    writeFileSync(join(dir, 'events.jsonl'), events)
    const d2 = await startDashboard({ dir })
    try {
      expect((await get(d2, '/events.jsonl')).status).toBe(200) // a page is watching
      let done = false
      const settled = d2.settle(10_000).then(() => (done = true))
      expect((await get(d2, '/metrics.json')).status).toBe(404)
      await new Promise((ok) => setTimeout(ok, 200))
      expect(done).toBe(false)
      writeFileSync(join(dir, 'metrics.json'), '{"accuracy":1}\n')
      const t = performance.now()
      expect((await get(d2, '/metrics.json')).status).toBe(200)
      await settled
      expect(performance.now() - t).toBeLessThan(2000)
    } finally {
      await d2.close()
    }
  })

  it('a run folder that does not exist yet answers 404 until it does', async () => {
    const later = join(root, 'later')
    const d2 = await startDashboard({ dir: later })
    try {
      expect((await get(d2, '/events.jsonl')).status).toBe(404)
      mkdirSync(later)
      writeFileSync(join(later, 'events.jsonl'), events)
      expect((await get(d2, '/events.jsonl')).body).toBe(events)
    } finally {
      await d2.close()
    }
  })
})

describe('finetune dashboard', () => {
  it('prints its URL, serves the run and stops with exit code 0 on SIGINT', async () => {
    const bin = fileURLToPath(new URL('../../bin/finetune.js', import.meta.url))
    const p = spawn(process.execPath, [bin, 'dashboard', run], { env: process.env, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    const url = await new Promise<string>((ok, fail) => {
      p.stdout.on('data', (c: Buffer) => {
        out += c.toString()
        const m = /http:\/\/127\.0\.0\.1:\d+\//.exec(out)
        if (m) ok(m[0])
      })
      p.on('exit', () => fail(new Error(`exited early: ${out}`)))
    })
    expect((await fetch(`${url}events.jsonl`)).status).toBe(200)
    const code = new Promise<number | null>((ok) => p.on('exit', (c) => ok(c)))
    p.kill('SIGINT')
    expect(await code).toBe(0)
  })

  it('asks for a folder', async () => {
    expect((await runCli(['dashboard'])).code).toBe(2)
    const r = await runCli(['dashboard', secret])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('is a file')
  })
})
