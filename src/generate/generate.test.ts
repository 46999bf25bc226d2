// Generation with the key/value cache against HF generate's search logic. The goldens
// (test/golden/generate/gpt2.json) come from scripts/gen_generation_goldens.py: a PyTorch
// re-implementation of transformers 4.38's greedy and beam search (scripts/generation_reference.py)
// over the text reference's GPT2LMHeadModel in float64, re-running the whole prefix at every step (no
// cache). Tokens must be identical; the cached step's logits must equal a full re-run within 1e-5.
import { readFileSync } from 'node:fs'
import { afterAll, describe, expect, it } from 'vitest'
import { openSafetensorsFile } from '../checkpoint/safetensors-node.js'
import type { Gpt2 } from '../models/gpt2.js'
import { loadWeights } from '../models/load.js'
import { textFamily } from '../models/registry.js'
import { Runtime } from '../runtime/session.js'
import { CachedLm } from './cached-lm.js'
import { GENERATION_DEFAULTS, validateGeneration, type GenerationOptions } from './search.js'

const root = new URL('../../', import.meta.url).pathname
interface Case { name: string; prompt: number[]; max_new_tokens: number; num_beams?: number; length_penalty?: number; early_stopping?: boolean | 'never'; no_repeat_ngram_size?: number; eos_token_id: number; sequence: number[] }
const golden = JSON.parse(readFileSync(`${root}test/golden/generate/gpt2.json`, 'utf8')) as { checkpoint: string; pad_token_id: number; cases: Case[] }

const runtime = new Runtime({ threads: 1 })
afterAll(() => runtime.dispose())

async function tinyGpt2(): Promise<Gpt2> {
  const raw = JSON.parse(readFileSync(`${root}${golden.checkpoint}/config.json`, 'utf8')) as Record<string, unknown>
  const fam = textFamily('gpt2')
  const model = fam.build(raw, 'causal-lm') as Gpt2
  model.nameParameters()
  const f = await openSafetensorsFile(`${root}${golden.checkpoint}/model.safetensors`)
  await loadWeights(model, f, { basePrefix: model.basePrefix, newOk: model.headPrefixes, ignorable: fam.ignorable })
  await f.close()
  return model
}
const model = await tinyGpt2()
const lm = new CachedLm(model, runtime)

const optionsOf = (c: Case): GenerationOptions => ({
  ...GENERATION_DEFAULTS,
  maxNewTokens: c.max_new_tokens,
  numBeams: c.num_beams ?? 1,
  lengthPenalty: c.length_penalty ?? 1,
  earlyStopping: c.early_stopping ?? false,
  noRepeatNgramSize: c.no_repeat_ngram_size ?? 0,
  eosTokenId: c.eos_token_id,
  padTokenId: golden.pad_token_id,
})

describe('key/value cache', () => {
  it('each cached step gives the logits of a full re-run of the prefix (1e-5)', async () => {
    const seq = [17, 45, 88, 11, 67, 67, 71, 71, 67, 50]
    const P = 3
    const full = await lm.fullLogits([seq])
    const V = full.length / seq.length
    const { stepper, first, cache } = await lm.start(seq.slice(0, P), seq.length - P)
    const check = (got: Float32Array, t: number) => {
      const want = full.subarray(t * V, (t + 1) * V)
      const scale = Math.max(...Array.from(want, Math.abs))
      for (let v = 0; v < V; v++) expect(Math.abs(got[v]! - want[v]!) / scale).toBeLessThan(1e-5)
    }
    check(first, P - 1)
    for (let t = P; t < seq.length; t++) check(await stepper.step([seq[t]!]), t)
    expect(cache.filled).toBe(seq.length)
    expect(cache.slots).toBe(16)
  })

  it('reordering rows moves their cache with them (two beams, swapped, continue as their own prefix)', async () => {
    const a = [17, 45, 88, 11]
    const b = [17, 45, 88, 67]
    const { stepper } = await lm.start(a.slice(0, 3), 4)
    stepper.reorder([0, 0])
    await stepper.step([11, 67])                        // rows: a, b
    stepper.reorder([1, 0])                             // rows: b, a
    const got = await stepper.step([5, 5])
    const V = got.length / 2
    const fb = await lm.fullLogits([[...b, 5]])
    const fa = await lm.fullLogits([[...a, 5]])
    for (const [row, full] of [[0, fb], [1, fa]] as const)
      for (let v = 0; v < V; v++) expect(Math.abs(got[row * V + v]! - full[4 * V + v]!)).toBeLessThan(1e-4)
  })
})

describe('generate matches HF generate on the tiny GPT-2', () => {
  for (const c of golden.cases)
    it(c.name, async () => {
      const [gen] = await lm.generate([c.prompt], optionsOf(c))
      expect([...c.prompt, ...gen!]).toEqual(c.sequence)
    })
})

describe('sampling', () => {
  const base = { ...GENERATION_DEFAULTS, maxNewTokens: 12, doSample: true, eosTokenId: null }
  it('is reproducible with a seed and varies with it', async () => {
    const p = [[17, 45, 88]]
    const a = await lm.generate(p, { ...base, seed: 1 })
    const b = await lm.generate(p, { ...base, seed: 1 })
    expect(a).toEqual(b)
    const others = await Promise.all([2, 3, 4].map((seed) => lm.generate(p, { ...base, seed })))
    expect(others.some((o) => JSON.stringify(o) !== JSON.stringify(a))).toBe(true)
  })
  it('top-k 1 and a tiny top-p both reduce to greedy', async () => {
    const c = golden.cases.find((x) => x.name === 'greedy')!
    const want = c.sequence.slice(c.prompt.length)
    expect((await lm.generate([c.prompt], { ...base, maxNewTokens: c.max_new_tokens, topK: 1, seed: 7 }))[0]).toEqual(want)
    expect((await lm.generate([c.prompt], { ...base, maxNewTokens: c.max_new_tokens, topK: 0, topP: 1e-6, seed: 7 }))[0]).toEqual(want)
  })
  it('a low temperature sharpens towards greedy', async () => {
    const c = golden.cases.find((x) => x.name === 'greedy')!
    const got = await lm.generate([c.prompt], { ...base, maxNewTokens: c.max_new_tokens, temperature: 1e-3, topK: 0, seed: 3 })
    expect(got[0]).toEqual(c.sequence.slice(c.prompt.length))
  })
})

describe('options', () => {
  it('lists every invalid setting at once', () => {
    expect(() => validateGeneration({ ...GENERATION_DEFAULTS, numBeams: 0, temperature: 0, topP: 2, doSample: true })).toThrow(/numBeams must be an integer >= 1.*temperature must be > 0.*topP must be in \(0, 1\]/)
  })
  it('refuses a generation longer than the model positions, naming the limit', async () => {
    await expect(lm.start([1, 2, 3], 100)).rejects.toThrow(/exceeds the model's 64 positions/)
  })
})
