// The finetune command starts itself once more with transparent huge pages for ONNX Runtime's arena
// (bin/relaunch.js): when it does, and that the second process behaves as the command.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { HUGEPAGES, hugePagesEnv, systemFacts } from '../bin/relaunch.js'

const bin = fileURLToPath(new URL('../bin/finetune.js', import.meta.url))

/** `finetune dashboard` on a fresh folder, once its URL is out. */
async function dashboard(env: NodeJS.ProcessEnv): Promise<{ p: ChildProcess; out: () => string }> {
  const dir = join(mkdtempSync(join(tmpdir(), 'ft-relaunch-')), 'run')
  const p = spawn(process.execPath, [bin, 'dashboard', dir], { env, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  await new Promise<void>((ok, fail) => {
    p.stdout!.on('data', (c: Buffer) => {
      out += c.toString()
      if (out.includes('http://127.0.0.1:')) ok()
    })
    p.on('exit', () => fail(new Error(`exited early: ${out}`)))
  })
  return { p, out: () => out }
}

/** Sends SIGINT and resolves to the exit code. */
function interrupt(p: ChildProcess): Promise<number | null> {
  const code = new Promise<number | null>((ok) => p.on('exit', (c) => ok(c)))
  p.kill('SIGINT')
  return code
}

const linux = { platform: 'linux', glibc: '2.36', thp: 'always [madvise] never\n', args: ['train'] }

describe('relaunch with huge pages', () => {
  it('on Linux with glibc 2.35 or later and the kernel allowing them, for commands, not help', () => {
    expect(hugePagesEnv({ PATH: '/bin' }, linux)).toEqual({ PATH: '/bin', GLIBC_TUNABLES: HUGEPAGES })
    expect(hugePagesEnv({ GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' }, linux)!.GLIBC_TUNABLES).toBe(`glibc.malloc.arena_max=2:${HUGEPAGES}`)
    expect(hugePagesEnv({}, { ...linux, thp: '[always] madvise never' })).not.toBeNull()
    expect(hugePagesEnv({}, { ...linux, glibc: '3.0' })).not.toBeNull()
    for (const args of [[], ['--help'], ['-h'], ['--version']]) expect(hugePagesEnv({}, { ...linux, args })).toBeNull()
    expect(hugePagesEnv({}, { ...linux, platform: 'darwin' })).toBeNull()
    expect(hugePagesEnv({}, { ...linux, glibc: '2.31' })).toBeNull()
    expect(hugePagesEnv({}, { ...linux, glibc: undefined })).toBeNull() // musl
    expect(hugePagesEnv({}, { ...linux, thp: 'always madvise [never]' })).toBeNull()
    expect(hugePagesEnv({}, { ...linux, thp: undefined })).toBeNull()
    expect(hugePagesEnv({ FINETUNE_HUGEPAGES: '0' }, linux)).toBeNull()
    // the second process (or a user who set it) runs as is
    expect(hugePagesEnv({ GLIBC_TUNABLES: HUGEPAGES }, linux)).toBeNull()
  })

  const here = hugePagesEnv(process.env, systemFacts(['dashboard'])) !== null
  it.skipIf(!here)('the command runs in a child with the setting; a signal to the first process reaches it', async () => {
    const { p, out } = await dashboard(process.env)
    const children = readFileSync(`/proc/${p.pid}/task/${p.pid}/children`, 'utf8').trim().split(/\s+/)
    expect(children).toHaveLength(1)
    const environ = readFileSync(`/proc/${children[0]}/environ`, 'utf8').split('\0')
    expect(environ).toContain(`GLIBC_TUNABLES=${HUGEPAGES}`)
    expect(await interrupt(p)).toBe(0)
    expect(out()).toContain('dashboard of')
  })

  it('FINETUNE_HUGEPAGES=0 runs the command in the first process', async () => {
    const { p } = await dashboard({ ...process.env, FINETUNE_HUGEPAGES: '0' })
    if (process.platform === 'linux') expect(readFileSync(`/proc/${p.pid}/task/${p.pid}/children`, 'utf8').trim()).toBe('')
    expect(await interrupt(p)).toBe(0)
  })
})
