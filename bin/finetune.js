#!/usr/bin/env node
// The finetune command. Runs the compiled CLI (dist/, built by `npm ci` via the prepare script);
// in a source checkout without a build it falls back to running the TypeScript sources through tsx.
import { existsSync } from 'node:fs'

const dist = new URL('../dist/cli/main.js', import.meta.url)
let mod
if (existsSync(dist) && !process.env.FINETUNE_FROM_SOURCE) mod = await import(dist.href)
else {
  const { register } = await import('tsx/esm/api')
  register()
  mod = await import(new URL('../src/cli/main.ts', import.meta.url).href)
}
process.exitCode = await mod.main(process.argv.slice(2))
