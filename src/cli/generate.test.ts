// `finetune predict` continues text with a GPT-2 causal LM: a tiny GPT-2 trained from the command
// line on one repeated sentence must continue that sentence (greedy and beam search), --json
// carries the generated tokens, sampling is reproducible with --seed, and misuse gets a clear error.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../../test/cli.js'
import { tinyBert } from '../../test/text-fixtures.js'

const dir = mkdtempSync(join(tmpdir(), 'ft-cli-gen-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const lm = join(dir, 'lm')

beforeAll(async () => {
  await tinyBert(join(dir, 'gpt2'), 'gpt2')
  writeFileSync(join(dir, 'lm.txt'), `${Array.from({ length: 48 }, () => 'the cat sees the ball and the dog finds a book .').join('\n')}\n`)
  const r = await runCli(['train', '--task', 'causal-lm', '--model', join(dir, 'gpt2'), '--data', join(dir, 'lm.txt'), '--out', lm, '--epochs', '25', '--lr', '3e-3', '--batch-size', '8', '--threads', '1', '--max-length', '24'])
  expect(r.code, r.stderr).toBe(0)
}, 120_000)

describe('finetune predict generates with a causal LM', () => {
  it('greedy continues the sentence the model learnt; --json gives the prompt and generated token ids', async () => {
    const r = await runCli(['predict', '--model', lm, '--threads', '1', '--max-new-tokens', '8', '--json', 'the cat sees'])
    expect(r.code, r.stderr).toBe(0)
    const p = JSON.parse(r.stdout.trim()) as { text: string; generated_text: string; continuation: string; tokens: number[]; prompt_tokens: number[] }
    expect(p.tokens).toHaveLength(8)
    expect(p.prompt_tokens.length).toBeGreaterThan(1)
    expect(p.generated_text).toBe(`the cat sees${p.continuation}`)
    expect(p.generated_text).toMatch(/^the cat sees the ball and the dog/)
  })

  it('beam search prints the continued text', async () => {
    const r = await runCli(['predict', '--model', lm, '--threads', '1', '--max-new-tokens', '8', '--num-beams', '3', 'the cat sees'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout.trim()).toMatch(/^the cat sees the ball and the dog/)
  })

  it('sampling is reproducible with --seed (the same prompt twice gives the same tokens)', async () => {
    const r = await runCli(['predict', '--model', lm, '--threads', '1', '--max-new-tokens', '10', '--do-sample', '--temperature', '3', '--top-k', '0', '--seed', '5', '--json', 'the', 'the'])
    expect(r.code, r.stderr).toBe(0)
    const [a, b] = r.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { tokens: number[] }).tokens)
    expect(a).toHaveLength(10)
    expect(a).toEqual(b)
  })

  it('a sampling flag without --do-sample is refused, naming the flag', async () => {
    const r = await runCli(['predict', '--model', lm, '--threads', '1', '--temperature', '0.7', 'the cat'])
    expect(r.code).not.toBe(0)
    expect(r.stderr).toMatch(/--temperature applies to sampling only[\s\S]*add --do-sample/)
  })
})
