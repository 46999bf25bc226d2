#!/usr/bin/env node
// The finetune command. Runs the compiled CLI (dist/, built by `npm ci` via the prepare script);
// in a source checkout without a build it falls back to running the TypeScript sources through tsx.
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { isatty } from 'node:tty'
import { hugePagesEnv, systemFacts } from './relaunch.js'

const args = process.argv.slice(2)
const env = hugePagesEnv(process.env, systemFacts(args))
if (env) {
  // the same command in a second process that has huge pages (relaunch.js); this one waits for it
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], { stdio: ['inherit', 'inherit', 'inherit', 'ipc'], env })
  // a terminal's Ctrl-C reaches both processes already; a signal sent to this one alone is passed on
  process.on('SIGINT', () => {
    if (!isatty(0)) child.kill('SIGINT')
  })
  for (const s of ['SIGTERM', 'SIGHUP']) process.on(s, () => child.kill(s))
  child.on('exit', (code, signal) => {
    if (signal) {
      process.removeAllListeners(signal)
      process.kill(process.pid, signal)
    } else process.exit(code ?? 1)
  })
} else {
  // the second process: if the first is killed outright, stop too
  if (process.channel) {
    process.channel.unref()
    process.on('disconnect', () => process.exit(1))
  }
  const dist = new URL('../dist/cli/main.js', import.meta.url)
  let mod
  if (existsSync(dist) && !process.env.FINETUNE_FROM_SOURCE) mod = await import(dist.href)
  else {
    const { register } = await import('tsx/esm/api')
    register()
    mod = await import(new URL('../src/cli/main.ts', import.meta.url).href)
  }
  process.exitCode = await mod.main(args)
}
