import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { runCli } from '../../test/cli.js'

const dir = mkdtempSync(join(tmpdir(), 'ft-cli-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('finetune CLI', () => {
  it('demo fine-tunes on a slice of SpamAssassin and beats the majority class on held-out mail', async () => {
    const out = join(dir, 'demo')
    const r = await runCli(['demo', 'text', '--out', out, '--limit', '1200', '--epochs', '3', '--max-length', '64', '--threads', '1', '--json'])
    expect(r.code, r.stderr).toBe(0)
    const res = JSON.parse(r.stdout.trim()) as { accuracy: number; f1_spam: number; test_examples: number }
    // about 31% of the corpus is spam, so always answering "ham" scores ~0.69 with spam F1 0
    expect(res.accuracy).toBeGreaterThan(0.85)
    expect(res.f1_spam).toBeGreaterThan(0.7)
    expect(res.test_examples).toBeGreaterThan(100)
    expect(existsSync(join(out, 'model', 'model.safetensors'))).toBe(true)
    expect(existsSync(join(out, 'bert-small-random', 'config.json'))).toBe(true)
  })

  it('an unknown command exits 2 and lists the commands', async () => {
    const r = await runCli(['frobnicate'])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/unknown command "frobnicate"/)
    expect(r.stderr).toMatch(/demo/)
  })

  it('a bad flag value is one clear line with a hint, no stack trace', async () => {
    const r = await runCli(['demo', '--batch-size', 'many', '--bogus'])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/--batch-size must be an integer \(got "many"\)/)
    expect(r.stderr).toMatch(/unknown flag --bogus/)
    expect(r.stderr).toMatch(/finetune demo --help/)
    expect(r.stderr).not.toMatch(/at .*\.ts:\d+/)
  })

  it('--help prints the flags with defaults', async () => {
    const r = await runCli(['demo', '--help'])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/--epochs N\s+training epochs \(default 2\)/)
  })
})

describe('npm in this project', () => {
  it('prints no warning on every command (no unknown .npmrc keys; dependency install scripts are settled in allowScripts)', async () => {
    const { spawnSync } = await import('node:child_process')
    const root = new URL('../../', import.meta.url).pathname
    const r = spawnSync('npm', ['exec', '--', 'finetune', '--version'], { cwd: root, encoding: 'utf8', env: { ...process.env, FINETUNE_FROM_SOURCE: '1' } })
    expect(r.status, r.stderr).toBe(0)
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/)
    expect(r.stderr).not.toMatch(/npm warn/i)
    const pkg = JSON.parse((await import('node:fs')).readFileSync(join(root, 'package.json'), 'utf8')) as { allowScripts?: Record<string, boolean> }
    expect(pkg.allowScripts?.['onnxruntime-node']).toBe(false) // its install script downloads CUDA libraries
  })
})

describe('finetune demo images', () => {
  it("compares the project's pre-trained ResNet with the same network from scratch on digits and writes the report", async () => {
    const out = join(dir, 'demo-images')
    const r = await runCli(['demo', 'images', '--out', out, '--budgets', '5', '--seeds', '1', '--steps', '20', '--threads', '1'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/pre-trained on Fashion-MNIST clothing/)
    expect(r.stdout).toMatch(/budget\s+labels\s+pretrained accuracy\s+scratch accuracy/)
    const rep = JSON.parse((await import('node:fs')).readFileSync(join(out, 'compare', 'report.json'), 'utf8')) as { budgets: { labels: number; pretrained: { mean: number }; scratch: { mean: number } }[] }
    expect(rep.budgets[0]!.labels).toBe(50)
    expect(rep.budgets[0]!.pretrained.mean).toBeGreaterThan(0.3)
    expect(existsSync(join(out, 'compare', 'report.html'))).toBe(true)
  })
})
