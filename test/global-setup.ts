/**
 * Before the suite: brings dist/ up to date with src/ (tsc -p tsconfig.build.json, ~12 s) when a
 * source is newer than the build, so the CLI tests run the compiled command (test/cli.ts) and never
 * a stale one. Compiling the sources in every spawned CLI instead (tsx) cost 1-2 s per spawn, and
 * the suite spawns the CLI ~170 times.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))

function newestSource(dir: string): number {
  let t = 0
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) t = Math.max(t, newestSource(p))
    else if ((e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')) || e.name.endsWith('.json')) t = Math.max(t, statSync(p).mtimeMs)
  }
  return t
}

export default function setup(): void {
  const built = join(root, 'dist', 'cli', 'main.js')
  if (existsSync(built) && statSync(built).mtimeMs >= newestSource(join(root, 'src'))) return
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc')
  const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: root, encoding: 'utf8' })
  // a type error still emits JavaScript (the typecheck step reports it); only a build without output stops the suite
  if (!existsSync(built) || statSync(built).mtimeMs < newestSource(join(root, 'src'))) throw new Error(`building dist/ for the CLI tests failed:\n${r.stdout}${r.stderr}`)
}
