// masked-lm: BERT's 80/10/10 masking (token and whole-word), seeded masks, training end to end on a
// tiny random BERT, predict's top-k, and the saved folder as a base model for text-classification.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { openSafetensorsFile } from '../../checkpoint/safetensors-node.js'
import { loadTextCheckpoint } from '../../models/pretrained-node.js'
import { Rng } from '../../runtime/rng.js'
import { fixtureTokenizer, sentimentCsv, tinyBert } from '../../../test/text-fixtures.js'
import type { Encoded } from '../../train/text.js'
import { evaluateModel, predict, taskDefaults, train } from '../run-node.js'
import type { TaskTrainOptions } from '../task.js'
import { chooseMasked, maskSequence } from './head.js'

const dir = mkdtempSync(join(tmpdir(), 'ft-mlm-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const opts = (o: Partial<TaskTrainOptions> & Pick<TaskTrainOptions, 'model' | 'data' | 'out'>): TaskTrainOptions => ({
  ...taskDefaults('masked-lm'),
  task: 'masked-lm',
  threads: 1,
  lr: 3e-3,
  batchSize: 16,
  schedule: 'constant',
  maxLength: 16,
  saveEvery: 'none',
  ...o,
})

const tok = fixtureTokenizer()
const enc = (text: string): Encoded => {
  const e = tok.encode(text)
  return { ids: e.ids, typeIds: e.typeIds, specialTokensMask: e.specialTokensMask, wordIds: e.wordIds }
}

beforeAll(async () => {
  await tinyBert(join(dir, 'bert'))
  const subj = ['the cat', 'a dog', 'my friend', 'the teacher']
  const verb = ['sees', 'likes', 'finds', 'calls']
  const obj = ['the ball', 'a book', 'the house', 'a tree']
  let s = 3
  const r = (): number => (s = (s * 16807) % 2147483647) / 2147483647
  const pick = <T>(a: readonly T[]): T => a[Math.floor(r() * a.length)]!
  writeFileSync(join(dir, 'corpus.txt'), `${Array.from({ length: 240 }, () => `${pick(subj)} ${pick(verb)} ${pick(obj)} .`).join('\n')}\n`)
}, 60_000)

describe('BERT masking (HF DataCollatorForLanguageModeling semantics)', () => {
  const seqs = Array.from({ length: 400 }, (_, i) => enc(`the teacher finds a book about photosynthesis and ${i % 7} unbelievable houses today`))
  const maskId = tok.maskId!
  it('chooses 15% of the non-special tokens, then 80% [MASK], 10% random, 10% unchanged; labels -100 elsewhere', () => {
    let tokens = 0
    let chosen = 0
    let masked = 0
    let kept = 0
    const rng = new Rng(0, 1, 0)
    for (const e of seqs) {
      const m = maskSequence(e, { probability: 0.15, wholeWord: false }, rng, maskId, tok.vocabSize)
      e.ids.forEach((id, i) => {
        if (e.specialTokensMask![i]) {
          expect(m.tokenLabels![i]).toBe(-100)
          expect(m.ids[i]).toBe(id)
          return
        }
        tokens++
        if (m.tokenLabels![i] === -100) return expect(m.ids[i]).toBe(id)
        expect(m.tokenLabels![i]).toBe(id)
        chosen++
        if (m.ids[i] === maskId) masked++
        else if (m.ids[i] === id) kept++
      })
    }
    expect(chosen / tokens).toBeGreaterThan(0.13)
    expect(chosen / tokens).toBeLessThan(0.17)
    expect(masked / chosen).toBeGreaterThan(0.75)
    expect(masked / chosen).toBeLessThan(0.85)
    // unchanged: 10% kept plus the rare random draw of the same id
    expect(kept / chosen).toBeGreaterThan(0.07)
    expect(kept / chosen).toBeLessThan(0.13)
  })

  it('the same random address gives the same masks (a resumed run sees the masks it would have seen)', () => {
    const a = seqs.slice(0, 8).map((e) => maskSequence(e, { probability: 0.15, wholeWord: false }, new Rng(5, 3, 17), maskId, tok.vocabSize))
    const b = seqs.slice(0, 8).map((e) => maskSequence(e, { probability: 0.15, wholeWord: false }, new Rng(5, 3, 17), maskId, tok.vocabSize))
    const c = seqs.slice(0, 8).map((e) => maskSequence(e, { probability: 0.15, wholeWord: false }, new Rng(5, 3, 18), maskId, tok.vocabSize))
    expect(a).toEqual(b)
    expect(a).not.toEqual(c)
  })

  it('whole-word masking chooses every piece of a word together, round(15%) of the tokens', () => {
    const e = enc('photosynthesis unbelievable the teacher finds a book about houses and photosynthesis')
    expect(new Set(e.wordIds!.filter((w) => w !== null)).size).toBeLessThan(e.ids.length - 2) // some words are several pieces
    for (let k = 0; k < 50; k++) {
      const chosen = chooseMasked(e, { probability: 0.15, wholeWord: true }, new Rng(k))
      const words = new Map<number, number[]>()
      e.wordIds!.forEach((w, i) => w !== null && words.set(w, [...(words.get(w) ?? []), chosen[i]!]))
      for (const flags of words.values()) expect(new Set(flags).size).toBe(1) // all or none of a word
      const n = chosen.reduce((a, b) => a + b, 0)
      expect(n).toBeGreaterThan(0)
      expect(n).toBeLessThanOrEqual(Math.round(e.ids.length * 0.15))
      e.specialTokensMask!.forEach((sp, i) => sp && expect(chosen[i]).toBe(0))
    }
  })
})

describe('masked-lm trains a BERT end to end', () => {
  it('eval loss falls, perplexity and masked-token accuracy are reported; predict fills [MASK]', async () => {
    const evals: Record<string, number>[] = []
    const res = await train(opts({ model: join(dir, 'bert'), data: join(dir, 'corpus.txt'), out: join(dir, 'mlm'), epochs: 20, evalEvery: 5, callbacks: [{ onEval: (e) => void evals.push(e.metrics) }] }))
    expect(evals.length).toBeGreaterThan(2)
    const first = evals[0]!
    const last = res.metrics
    // a random start scores about ln(vocabulary) = ln(2464) = 7.8
    expect(first['eval_loss']).toBeGreaterThan(4)
    expect(last['eval_loss']).toBeLessThan(first['eval_loss']! * 0.5)
    expect(last['perplexity']).toBeCloseTo(Math.exp(last['eval_loss']!), 6)
    expect(last['masked_tokens']).toBeGreaterThan(0)
    expect(last['accuracy']).toBeGreaterThan(0.15)
    // HF BertForMaskedLM names; the decoder is tied to the word embeddings and not stored
    const st = await openSafetensorsFile(join(dir, 'mlm', 'model.safetensors'))
    const keys = st.keys()
    await st.close()
    for (const k of ['cls.predictions.transform.dense.weight', 'cls.predictions.transform.LayerNorm.weight', 'cls.predictions.bias', 'bert.embeddings.word_embeddings.weight']) expect(keys).toContain(k)
    expect(keys.some((k) => k.startsWith('cls.predictions.decoder') || k.startsWith('bert.pooler'))).toBe(false)
    const loaded = await loadTextCheckpoint(join(dir, 'mlm'), { task: 'masked-lm' })
    expect(loaded.model.architecture).toBe('BertForMaskedLM')
    // eval on the file again (fixed evaluation masks: the same number twice)
    const ev1 = await evaluateModel(join(dir, 'mlm'), join(dir, 'corpus.txt'), { threads: 1 })
    const ev2 = await evaluateModel(join(dir, 'mlm'), join(dir, 'corpus.txt'), { threads: 1 })
    expect(ev1.metrics['eval_loss']).toBe(ev2.metrics['eval_loss'])
    expect(ev1.metrics['eval_loss']).toBeLessThan(first['eval_loss']!)
    // "cat" always follows "the" in the corpus
    const [p] = await predict(join(dir, 'mlm'), ['[MASK] cat sees a book .'], { threads: 1, topK: 3 } as never)
    const cands = (p!['masks'] as { candidates: { token: string; score: number }[] }[])[0]!.candidates
    expect(cands).toHaveLength(3)
    expect(cands[0]!.score).toBeGreaterThanOrEqual(cands[1]!.score)
    expect(cands[0]!.token).toBe('the')
    expect(p!['filled']).toBe('the cat sees a book .')
    await expect(predict(join(dir, 'mlm'), ['no mask here'], { threads: 1 })).rejects.toThrow(/has no \[MASK\] token to fill/)
  }, 180_000)

  it('the saved folder is a base model for text-classification: cls.* is dropped quietly and the encoder carries over', async () => {
    const warn = vi.spyOn(console, 'warn')
    const err = vi.spyOn(process.stderr, 'write')
    const logged: string[] = []
    sentimentCsv(join(dir, 'sent.csv'), 64)
    await train({ ...taskDefaults('text-classification'), task: 'text-classification', model: join(dir, 'mlm'), data: join(dir, 'sent.csv'), out: join(dir, 'cls'), threads: 1, epochs: 1, maxLength: 16, saveEvery: 'none', log: (l) => logged.push(l) })
    expect(warn).not.toHaveBeenCalled()
    expect(err.mock.calls.map((c) => String(c[0])).filter((l) => /cls\.|unused|ignor/i.test(l))).toEqual([])
    expect(logged.filter((l) => /cls\./.test(l))).toEqual([])
    warn.mockRestore()
    err.mockRestore()
    const mlm = await loadTextCheckpoint(join(dir, 'mlm'), { task: 'masked-lm' })
    const cls = await loadTextCheckpoint(join(dir, 'mlm'), { task: 'sequence-classification', labels: { names: ['negative', 'positive'], problemType: 'single_label_classification' } })
    expect(cls.report.ignored.filter((k) => k.startsWith('cls.')).length).toBe(5)
    expect(cls.report.initialised.sort()).toEqual(['bert.pooler.dense.bias', 'bert.pooler.dense.weight', 'classifier.bias', 'classifier.weight'])
    const w = (m: typeof mlm, n: string) => m.model.namedParameters().find(([k]) => k === n)![1].data
    expect(w(cls, 'bert.encoder.layer.1.output.dense.weight')).toEqual(w(mlm, 'bert.encoder.layer.1.output.dense.weight'))
  }, 180_000)

  it('a resumed run draws the masks an uninterrupted one draws: the same losses after the checkpoint', async () => {
    const run = (out: string, maxSteps: number, resume = false) => train(opts({ model: join(dir, 'bert'), data: join(dir, 'corpus.txt'), out, maxSteps, saveEvery: 3, evalEvery: 100, resume, overwrite: !resume }))
    const losses = (out: string) => readFileSync(join(out, 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; step: number; loss: number }).filter((e) => e.type === 'step' && e.step > 6).map((e) => [e.step, e.loss])
    await run(join(dir, 'run-a'), 8)
    await run(join(dir, 'run-b'), 7) // "killed" after step 7: its newest checkpoint is step 6
    await run(join(dir, 'run-b'), 8, true)
    const a = losses(join(dir, 'run-a'))
    expect(a.length).toBeGreaterThan(0)
    expect(losses(join(dir, 'run-b')).slice(-a.length)).toEqual(a)
  }, 180_000)

  it('reads paragraphs of a text file and a text column of JSONL; the frozen method is refused with the reason', async () => {
    writeFileSync(join(dir, 'paras.txt'), 'the cat sees\nthe ball .\n\na dog likes\na tree .\n\nmy friend calls\nthe house .\n\nthe teacher finds\na book .\n')
    const r1 = await train(opts({ model: join(dir, 'bert'), data: join(dir, 'paras.txt'), out: join(dir, 'paras'), epochs: 1, textUnit: 'paragraph', validationSplit: 0, wholeWordMask: true }))
    expect(r1.trainExamples).toBe(4)
    writeFileSync(join(dir, 'notes.jsonl'), ['the cat sees the ball .', 'a dog likes a tree .', 'my friend calls the house .'].map((body, i) => JSON.stringify({ id: i, body })).join('\n'))
    const r2 = await train(opts({ model: join(dir, 'bert'), data: join(dir, 'notes.jsonl'), out: join(dir, 'notes'), epochs: 1, textColumn: 'body', validationSplit: 0 }))
    expect(r2.trainExamples).toBe(3)
    await expect(train(opts({ model: join(dir, 'bert'), data: join(dir, 'notes.jsonl'), out: join(dir, 'frozen'), epochs: 1, textColumn: 'body', method: 'frozen' }))).rejects.toThrow(/masked-lm changes the inputs every step/)
  }, 180_000)
})
