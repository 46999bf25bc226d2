/**
 * The live dashboard of a run folder: an HTTP server on 127.0.0.1 that serves one page and, read
 * only, three files of the folder (events.jsonl, training_args.json, metrics.json). Nothing else is
 * reachable: other paths are 404, `..`, encoded separators and absolute paths 403, a file that is a
 * symlink out of the folder 403, any method but GET/HEAD 405, and a Host header other than
 * 127.0.0.1/localhost 403 (so a web page cannot reach it by DNS rebinding).
 */
import { open, realpath, lstat } from 'node:fs/promises'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { basename, join, resolve, sep } from 'node:path'
import { ConfigError } from '../errors.js'
import { chartAssets } from './assets-node.js'
import { renderDashboardPage } from './dashboard-page.js'
import { PAGE_CSP } from './html.js'

/** The files of a run folder the page may read, by URL path. */
export const DASHBOARD_FILES: Readonly<Record<string, { file: string; type: string }>> = {
  '/events.jsonl': { file: 'events.jsonl', type: 'application/x-ndjson; charset=utf-8' },
  '/training_args.json': { file: 'training_args.json', type: 'application/json; charset=utf-8' },
  '/metrics.json': { file: 'metrics.json', type: 'application/json; charset=utf-8' },
}

/** At most this many bytes of events.jsonl per request; the page asks again at once for the rest. */
const CHUNK = 4 << 20

export interface DashboardOptions {
  /** The run folder (the --out of `finetune train`); it may not exist yet. */
  dir: string
  /** 0 (the default): a free port. */
  port?: number
}

export interface Dashboard {
  /** http://127.0.0.1:PORT/ */
  url: string
  port: number
  /**
   * For the end of a run: resolves once a page has fetched metrics.json (which it does after it has
   * read the end event), at once when no page has asked for events in the last 10 s, or after `timeoutMs`.
   */
  settle(timeoutMs?: number): Promise<void>
  close(): Promise<void>
}

/** Starts the dashboard of `o.dir` on 127.0.0.1. */
export async function startDashboard(o: DashboardOptions): Promise<Dashboard> {
  const dir = resolve(o.dir)
  const page = renderDashboardPage(chartAssets(), { title: basename(dir) || dir })
  let lastEventsRequest = -Infinity
  let settled: (() => void)[] = []
  let port = 0

  const send = (res: ServerResponse, status: number, body: string | Buffer, type = 'text/plain; charset=utf-8', extra: Record<string, string> = {}): void => {
    res.writeHead(status, {
      'Content-Type': type,
      'Content-Length': String(Buffer.byteLength(body)),
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
      'Content-Security-Policy': PAGE_CSP,
      'Cross-Origin-Resource-Policy': 'same-origin',
      'Referrer-Policy': 'no-referrer',
      ...extra,
    })
    res.end(res.req.method === 'HEAD' ? undefined : body)
  }

  const serveFile = async (res: ServerResponse, name: string, type: string, offset: number): Promise<void> => {
    let root: string
    try {
      root = await realpath(dir)
    } catch {
      return send(res, 404, `the run folder does not exist (yet)\n`)
    }
    const path = join(root, name)
    let target = path
    try {
      if ((await lstat(path)).isSymbolicLink()) target = await realpath(path)
    } catch {
      return send(res, 404, `${name} does not exist (yet)\n`)
    }
    if (!target.startsWith(root + sep)) return send(res, 403, `${name} points outside the run folder\n`)
    const fh = await open(target, 'r').catch(() => null)
    if (!fh) return send(res, 404, `${name} cannot be read\n`)
    try {
      const st = await fh.stat()
      if (!st.isFile()) return send(res, 404, `${name} is not a file\n`)
      const from = Math.min(offset, st.size)
      const n = Math.min(st.size - from, CHUNK)
      const buf = Buffer.alloc(n)
      let got = 0
      while (got < n) {
        const { bytesRead } = await fh.read(buf, got, n - got, from + got)
        if (bytesRead === 0) break
        got += bytesRead
      }
      send(res, 200, buf.subarray(0, got), type, { 'X-File-Size': String(st.size) })
    } finally {
      await fh.close()
    }
  }

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'read only: GET and HEAD\n', undefined, { Allow: 'GET, HEAD' })
    const host = (req.headers.host ?? '').toLowerCase()
    if (host !== `127.0.0.1:${port}` && host !== `localhost:${port}`) return send(res, 403, 'this dashboard answers only to 127.0.0.1 and localhost\n')
    const raw = req.url ?? ''
    // origin-form only ("/path?query"): an absolute URL or "//host/..." is refused
    if (!raw.startsWith('/') || raw.startsWith('//')) return send(res, 403, 'absolute paths are refused\n')
    const q = raw.indexOf('?')
    let path: string
    try {
      path = decodeURIComponent(q < 0 ? raw : raw.slice(0, q))
    } catch {
      return send(res, 400, 'malformed path\n')
    }
    if (path.split(/[/\\]/).some((seg) => seg === '..' || seg === '.') || /[\\\0]/.test(path) || path.startsWith('//')) return send(res, 403, 'only the run folder\'s own files are served\n')
    if (path === '/' || path === '/index.html') return send(res, 200, page, 'text/html; charset=utf-8')
    const f = Object.hasOwn(DASHBOARD_FILES, path) ? DASHBOARD_FILES[path] : undefined
    if (!f) return send(res, 404, `not found; this dashboard serves ${Object.keys(DASHBOARD_FILES).join(', ')}\n`)
    let offset = 0
    // the page reads metrics.json once it has the end event: after that it needs nothing more (a
    // 404, asked before the run wrote it, does not count)
    if (f.file === 'metrics.json')
      res.once('finish', () => {
        if (res.statusCode !== 200) return
        for (const w of settled) w()
        settled = []
      })
    if (f.file === 'events.jsonl') {
      lastEventsRequest = performance.now()
      const m = /(?:^|&)offset=(\d+)(?:&|$)/.exec(q < 0 ? '' : raw.slice(q + 1))
      offset = m ? Number(m[1]) : 0
    }
    return serveFile(res, f.file, f.type, offset)
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) send(res, 500, `dashboard error: ${e instanceof Error ? e.message : String(e)}\n`)
      else res.destroy()
    })
  })
  await new Promise<void>((ok, fail) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      fail(e.code === 'EADDRINUSE' ? new ConfigError('DASHBOARD_PORT_IN_USE', `port ${o.port} on 127.0.0.1 is taken`, 'pass another --port, or leave it out for a free one') : e),
    )
    server.listen(o.port ?? 0, '127.0.0.1', () => ok())
  })
  port = (server.address() as AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}/`,
    port,
    settle(timeoutMs = 3000) {
      if (performance.now() - lastEventsRequest > 10_000) return Promise.resolve()
      return new Promise<void>((ok) => {
        const t = setTimeout(ok, timeoutMs)
        settled.push(() => (clearTimeout(t), ok()))
      })
    },
    close() {
      // answers under way are finished; idle keep-alive connections (an open page) are closed
      return new Promise<void>((ok) => {
        server.close(() => ok())
        server.closeIdleConnections()
        setTimeout(() => server.closeAllConnections(), 1000).unref()
      })
    },
  }
}
