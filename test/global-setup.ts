/**
 * Before the suite: brings dist/ up to date with src/ (`node scripts/build.mjs`: tsc -p
 * tsconfig.build.json, ~12 s, only when a source is newer than the last build), so the CLI tests
 * run the compiled command (test/cli.ts) and never a stale one. Compiling the sources in every
 * spawned CLI instead (tsx) cost 1-2 s per spawn, and the suite spawns the CLI ~170 times.
 */
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))

export default function setup(): void {
  const r = spawnSync(process.execPath, [join(root, 'scripts', 'build.mjs')], { cwd: root, encoding: 'utf8' })
  // tsc exits 2 when a type error still emitted JavaScript (the typecheck step reports it); only a
  // build without output stops the suite
  if ((r.status !== 0 && r.status !== 2) || !existsSync(join(root, 'dist', 'cli', 'main.js'))) throw new Error(`building dist/ for the CLI tests failed:\n${r.stdout}${r.stderr}`)
}
