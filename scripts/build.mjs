#!/usr/bin/env node
// Builds dist/ (tsc -p tsconfig.build.json) when a source is newer than the last complete build,
// or always with --force (`npm run build`). `prepare` runs it, and npm runs `prepare` more often than
// a build is needed: `npm ci`, but also the first `npx finetune` in a checkout, which installs the
// folder into npm's exec cache and so runs its prepare script in place. An unconditional build there
// rewrote dist/ while the CLI ran from it (the test suite's CLI spawns saw half-written modules).
// Exit code: tsc's (a type error still emits JavaScript; `npm run typecheck` reports it).
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const stamp = join(root, 'dist', '.built')

/** The newest modification time among what the build reads. */
function newestInput() {
  let t = 0
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name)
      if (e.isDirectory()) walk(p)
      else if ((e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')) || e.name.endsWith('.json')) t = Math.max(t, statSync(p).mtimeMs)
    }
  }
  walk(join(root, 'src'))
  for (const f of ['tsconfig.json', 'tsconfig.build.json', 'package.json', 'package-lock.json']) if (existsSync(join(root, f))) t = Math.max(t, statSync(join(root, f)).mtimeMs)
  return t
}

// dist/ is a complete build of the current sources
if (!process.argv.includes('--force') && existsSync(stamp) && statSync(stamp).mtimeMs >= newestInput()) process.exit(0)
const started = Date.now()
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
const code = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' }).status ?? 1
// stamped with the start time: a source saved during the build makes the next check build again
if (code === 0) {
  writeFileSync(stamp, `${new Date(started).toISOString()}\n`)
  utimesSync(stamp, started / 1000, started / 1000)
}
process.exitCode = code
