import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { runCli } from '../../test/cli.js'

const dir = mkdtempSync(join(tmpdir(), 'ft-cli-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('finetune CLI', () => {
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
    expect(r.stdout).toMatch(/--max-length N\s+text: tokens per e-mail \(default 64\)/)
  })
})

describe('npm in this project', () => {
  it('prints no warning on every command (no unknown .npmrc keys; dependency install scripts are settled in allowScripts)', async () => {
    const { spawnSync } = await import('node:child_process')
    const root = new URL('../../', import.meta.url).pathname
    // the first `npm exec finetune` in a checkout installs the folder into npm's exec cache and runs
    // its prepare script in place: that must not rebuild the dist/ the suite's other CLI runs are
    // reading (scripts/build.mjs skips a build that is up to date)
    const { statSync } = await import('node:fs')
    const stamp = join(root, 'dist', '.built')
    const before = statSync(stamp).mtimeMs
    const r = spawnSync('npm', ['exec', '--', 'finetune', '--version'], { cwd: root, encoding: 'utf8' })
    expect(r.status, r.stderr).toBe(0)
    expect(statSync(stamp).mtimeMs).toBe(before)
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/)
    expect(r.stderr).not.toMatch(/npm warn/i)
    const pkg = JSON.parse((await import('node:fs')).readFileSync(join(root, 'package.json'), 'utf8')) as { allowScripts?: Record<string, boolean> }
    expect(pkg.allowScripts?.['onnxruntime-node']).toBe(false) // its install script downloads CUDA libraries
  })
})

describe('finetune demo text', () => {
  it("compares the project's masked-lm BERT with the same network from scratch on SpamAssassin and writes the report", async () => {
    const out = join(dir, 'demo-text')
    const r = await runCli(['demo', 'text', '--out', out, '--limit', '120', '--budgets', '10,30', '--seeds', '1', '--steps', '6', '--max-length', '32', '--threads', '1', '--json'], { timeoutMs: 290_000 })
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toMatch(/finetune itself pre-trained with masked-lm on the long descriptions of Debian's packages/)
    expect(r.stderr).toMatch(/then on the unlabelled e-mails of this demo's training pool \(\d+ steps, held-out e-mail loss [\d.]+ -> [\d.]+; their labels unused, the test e-mails never seen/)
    const rep = JSON.parse(r.stdout.trim()) as { task: string; metric: string; budgets: { budget: number; labels: number; pretrained: { runs: { value: number; steps: number }[] }; scratch: { runs: { value: number }[] } }[] }
    expect(rep.task).toBe('text-classification')
    expect(rep.metric).toBe('accuracy')
    expect(rep.budgets.map((b) => [b.budget, b.labels])).toEqual([[10, 10], [30, 30]])
    for (const b of rep.budgets) {
      expect(b.pretrained.runs[0]!.steps).toBe(6)
      for (const v of [b.pretrained.runs[0]!.value, b.scratch.runs[0]!.value]) expect(v).toBeGreaterThan(0) // accuracies on the held-out mail
    }
    expect(existsSync(join(out, 'compare', 'report.html'))).toBe(true)
    expect(existsSync(join(out, 'data', 'test.csv'))).toBe(true)
  }, 300_000)
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
