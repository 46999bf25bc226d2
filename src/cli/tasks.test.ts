// The CLI is driven by the tasks registry: --help lists the tasks, a task's own flags appear only
// where they apply, and a misplaced flag is explained. No model is trained here.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { TASKS } from '../index.js'
import { runCli } from '../../test/cli.js'

const dir = mkdtempSync(join(tmpdir(), 'ft-cli-tasks-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('the CLI lists and dispatches through the tasks registry', () => {
  it('finetune --help and finetune train --help list every registered task', async () => {
    for (const args of [['--help'], ['train', '--help']]) {
      const r = await runCli(args)
      expect(r.code).toBe(0)
      for (const t of TASKS) expect(r.stdout, `${args.join(' ')} lists ${t.name}`).toContain(t.name)
    }
    const plain = (await runCli(['train', '--help'])).stdout
    expect(plain).not.toMatch(/^\s+--(arch|text-column)/m) // no task chosen: only the shared flags
  })

  it("a task's own flags and defaults show only with that task", async () => {
    const img = (await runCli(['train', '--task', 'image-classification', '--help'])).stdout
    expect(img).toMatch(/--arch resnet18\|/)
    expect(img).toMatch(/--freeze-bn/)
    expect(img).not.toMatch(/^\s+--(text-column|tags-column)/m)
    expect(img).toMatch(/--lr N\s+peak learning rate \(default 0\.001\)/)
    const ner = (await runCli(['train', '--task', 'token-classification', '--help'])).stdout
    expect(ner).toMatch(/--tags-column NAME/)
    expect(ner).not.toMatch(/^\s+--(arch|text-pair-column)/m)
    expect(ner).toMatch(/--lr N\s+peak learning rate \(default 0\.00005\)/)
  })

  it("another task's flag is explained, with the --task that takes it", async () => {
    const r = await runCli(['train', '--model', 'm', '--data', 'd', '--out', join(dir, 'o'), '--freeze-bn', '--tags-column', 'x'])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/--freeze-bn is an option of image-classification/)
    expect(r.stderr).toMatch(/--tags-column is an option of token-classification/)
  })

  it('a model without a recorded task needs --task; nothing is guessed from its file name', async () => {
    const f = join(dir, 'weights.safetensors')
    writeFileSync(f, Buffer.alloc(16))
    const r = await runCli(['predict', '--model', f, 'x.png'])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/error\[TASK_REQUIRED\][\s\S]*pass --task with one of text-classification, token-classification, causal-lm, masked-lm, image-classification/)
    const d = join(dir, 'folder')
    const { mkdirSync } = await import('node:fs')
    mkdirSync(d)
    writeFileSync(join(d, 'config.json'), JSON.stringify({ model_type: 'bert', architectures: ['BertModel'] }))
    const e = await runCli(['eval', '--model', d, '--data', 'x.csv'])
    expect(e.code).toBe(1)
    expect(e.stderr).toMatch(/config\.json does not say which task[\s\S]*--task/)
  })
})
