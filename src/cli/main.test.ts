import { describe, expect, it } from 'vitest'
import { runCli } from '../../test/cli.js'

describe('finetune CLI', () => {
  it('demo trains and the loss falls', async () => {
    const r = await runCli(['demo', '--steps', '40', '--threads', '1'])
    expect(r.code, r.stderr).toBe(0)
    const m = /loss ([\d.]+) -> ([\d.]+)/.exec(r.stdout)
    expect(m).not.toBeNull()
    expect(Number(m![2])).toBeLessThan(Number(m![1]) * 0.6)
  })

  it('an unknown command exits 2 and lists the commands', async () => {
    const r = await runCli(['frobnicate'])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/unknown command "frobnicate"/)
    expect(r.stderr).toMatch(/demo/)
  })

  it('a bad flag value is one clear line with a hint, no stack trace', async () => {
    const r = await runCli(['demo', '--steps', 'many', '--bogus'])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/--steps must be an integer \(got "many"\)/)
    expect(r.stderr).toMatch(/unknown flag --bogus/)
    expect(r.stderr).toMatch(/finetune demo --help/)
    expect(r.stderr).not.toMatch(/at .*\.ts:\d+/)
  })

  it('--help prints the flags with defaults', async () => {
    const r = await runCli(['demo', '--help'])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/--steps N\s+training steps \(default 200\)/)
  })
})
