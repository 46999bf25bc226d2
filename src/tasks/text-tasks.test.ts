// Library-level runs of every text task and family on tiny random models, plus strict loading.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { writeSafetensorsFile } from '../checkpoint/io-node.js'
import { openSafetensorsFile } from '../checkpoint/safetensors-node.js'
import { loadTextCheckpoint } from '../models/pretrained-node.js'
import { sentimentCsv, tinyBert } from '../../test/text-fixtures.js'
import { evaluateModel, predict, taskDefaults, train } from './run-node.js'
import type { TaskTrainOptions } from './task.js'

const dir = mkdtempSync(join(tmpdir(), 'ft-tasks-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const opts = (o: Partial<TaskTrainOptions> & Pick<TaskTrainOptions, 'model' | 'data' | 'out' | 'task'>): TaskTrainOptions => ({
  ...taskDefaults(o.task),
  threads: 1,
  lr: 2e-3,
  batchSize: 16,
  schedule: 'constant',
  maxLength: 24,
  saveEvery: 'none',
  ...o,
})

let s = 7
const r = (): number => (s = (s * 16807) % 2147483647) / 2147483647
const choice = <T>(a: readonly T[]): T => a[Math.floor(r() * a.length)]!

beforeAll(async () => {
  await tinyBert(join(dir, 'bert'))
  await tinyBert(join(dir, 'distilbert'), 'distilbert')
  await tinyBert(join(dir, 'gpt2'), 'gpt2')
  sentimentCsv(join(dir, 'sent.csv'), 160)
}, 120_000)

describe('text tasks train end to end', () => {
  it('token classification reaches a high entity F1 (JSONL tokens + ner_tags)', async () => {
    const names = ['alice', 'bob', 'carol', 'david', 'emma']
    const places = ['paris', 'london', 'berlin', 'madrid', 'rome']
    const filler = ['the', 'movie', 'was', 'really', 'quite', 'a', 'story', 'and', 'plot', 'from']
    const lines: string[] = []
    for (let i = 0; i < 240; i++) {
      const tokens: string[] = []
      const tags: string[] = []
      for (let k = 0; k < 6; k++) {
        const x = r()
        if (x < 0.2) (tokens.push(choice(names)), tags.push('B-PER'))
        else if (x < 0.3) (tokens.push('new', 'york'), tags.push('B-LOC', 'I-LOC'))
        else if (x < 0.45) (tokens.push(choice(places)), tags.push('B-LOC'))
        else (tokens.push(choice(filler)), tags.push('O'))
      }
      lines.push(JSON.stringify({ tokens, ner_tags: tags }))
    }
    writeFileSync(join(dir, 'ner.jsonl'), `${lines.join('\n')}\n`)
    const res = await train(opts({ model: join(dir, 'bert'), data: join(dir, 'ner.jsonl'), out: join(dir, 'ner'), task: 'token-classification', epochs: 12 }))
    expect(res.labels).toEqual(['B-LOC', 'B-PER', 'I-LOC', 'O'])
    expect(res.metrics['f1']).toBeGreaterThan(0.9)
    const ev = await evaluateModel(join(dir, 'ner'), join(dir, 'ner.jsonl'), { threads: 1 })
    expect(ev.metrics['f1']).toBeGreaterThan(0.9)
    // predict: a tag per whitespace-separated word, with that word's logits
    const [p] = await predict(join(dir, 'ner'), ['alice  saw the  movie in paris'], { threads: 1 })
    const tags = p!['tags'] as { word: string; label: string; score: number }[]
    expect(tags.map((t) => t.word)).toEqual(['alice', 'saw', 'the', 'movie', 'in', 'paris'])
    expect(tags[0]!.label).toBe('B-PER')
    expect(tags[5]!.label).toBe('B-LOC')
    expect(tags[2]!.label).toBe('O')
    expect((p!.logits as number[][]).map((r) => r.length)).toEqual([4, 4, 4, 4, 4, 4])
  })

  it('causal LM on GPT-2 lowers perplexity far below the vocabulary size', async () => {
    const subj = ['the cat', 'a dog', 'my friend', 'the teacher']
    const verb = ['sees', 'likes', 'finds', 'calls']
    const obj = ['the ball', 'a book', 'the house', 'a tree']
    writeFileSync(join(dir, 'lm.txt'), `${Array.from({ length: 200 }, () => `${choice(subj)} ${choice(verb)} ${choice(obj)} .`).join('\n')}\n`)
    const res = await train(opts({ model: join(dir, 'gpt2'), data: join(dir, 'lm.txt'), out: join(dir, 'lm'), task: 'causal-lm', epochs: 8, lr: 3e-3 }))
    expect(res.metrics['perplexity']).toBeLessThan(30)
    // predict: the most likely next token and the next-token logits over the vocabulary
    const [p] = await predict(join(dir, 'lm'), ['the cat sees the'], { threads: 1 })
    // after "the" the data has only "ball" or "house": the next token starts one of them
    const next = String(p!['next_token']).trim()
    expect(next.length).toBeGreaterThan(0)
    expect(['ball', 'house'].some((w) => w.startsWith(next)), next).toBe(true)
    expect(p!.score).toBeGreaterThan(0.2)
    expect((p!.logits as number[]).length).toBeGreaterThan(100)
    const loaded = await loadTextCheckpoint(join(dir, 'lm'), { task: 'causal-lm' })
    expect(loaded.model.architecture).toBe('GPT2LMHeadModel')
    const st = await openSafetensorsFile(join(dir, 'lm', 'model.safetensors'))
    expect(st.keys().some((k) => k.startsWith('lm_head'))).toBe(false) // tied to wte, as transformers saves it
    await st.close()
  })

  it('multi-label and regression heads train and evaluate', async () => {
    let ml = 'text,label\n'
    let rg = 'text,label\n'
    for (let i = 0; i < 160; i++) {
      const a = r() < 0.5
      const b = r() < 0.5
      const w = ['the', 'movie', 'was', 'quite', 'a', 'story']
      if (a) w.push('funny')
      if (b) w.push('long')
      const words = w.sort(() => r() - 0.5).join(' ')
      ml += `"${words}",${[a ? 'comedy' : '', b ? 'epic' : ''].filter(Boolean).join('|') || 'none'}\n`
      rg += `"${words}",${(a ? 1.5 : 0) + (b ? -0.75 : 0)}\n`
    }
    writeFileSync(join(dir, 'ml.csv'), ml)
    writeFileSync(join(dir, 'rg.csv'), rg)
    const m = await train(opts({ model: join(dir, 'bert'), data: join(dir, 'ml.csv'), out: join(dir, 'ml'), task: 'text-classification', epochs: 30, lr: 3e-3 }))
    expect(m.labels).toEqual(['comedy', 'epic', 'none'])
    expect(m.metrics['micro_f1']).toBeGreaterThan(0.9)
    const g = await train(opts({ model: join(dir, 'bert'), data: join(dir, 'rg.csv'), out: join(dir, 'rg'), task: 'text-classification', epochs: 15 }))
    expect(g.metrics['mse']).toBeLessThan(0.1)
    const p = await predict(join(dir, 'rg'), ['the movie funny was quite a story', 'a story the long movie was quite'], { threads: 1 })
    expect(p[0]!.score).toBeGreaterThan(1)
    expect(p[0]!.score).toBeLessThan(2)
    expect(p[1]!.score).toBeLessThan(-0.4)
  })

  it('DistilBERT and GPT-2 sequence classification train on the same data', async () => {
    for (const fam of ['distilbert', 'gpt2']) {
      const res = await train(opts({ model: join(dir, fam), data: join(dir, 'sent.csv'), out: join(dir, `${fam}-sent`), task: 'text-classification', epochs: 12 }))
      expect(res.metrics['accuracy'], fam).toBeGreaterThanOrEqual(0.9)
    }
  })
})

describe('strict checkpoint loading', () => {
  it('lists missing weights, unexpected weights and a head trained for other labels', async () => {
    const src = await openSafetensorsFile(join(dir, 'bert', 'model.safetensors'))
    const tensors = await Promise.all(src.keys().map(async (k) => [k, { dtype: 'F32' as const, shape: src.info(k).shape, data: await src.readAsFloat32(k) }] as const))
    await src.close()
    const variant = async (name: string, ts: typeof tensors) => {
      const d = join(dir, name)
      await tinyBert(d)
      await writeSafetensorsFile(join(d, 'model.safetensors'), ts, { format: 'pt' })
      return d
    }
    const missing = await variant('missing', tensors.filter(([k]) => !k.includes('layer.1.output')))
    await expect(loadTextCheckpoint(missing, { task: 'sequence-classification' })).rejects.toThrow(/lacks 4 weight\(s\)[\s\S]*encoder\.layer\.1\.output\.dense\.weight \[32, 64\]/)
    const extra = await variant('extra', [...tensors, ['vision_tower.weight', { dtype: 'F32', shape: [2], data: new Float32Array(2) }] as const])
    await expect(loadTextCheckpoint(extra, { task: 'sequence-classification' })).rejects.toThrow(/does not use:[\s\S]*vision_tower\.weight \[2\]/)
    // a trained 2-label head, then data with 3 labels
    const three = { names: ['a', 'b', 'c'], problemType: 'single_label_classification' as const }
    await expect(loadTextCheckpoint(join(dir, 'distilbert-sent'), { task: 'sequence-classification', labels: three })).rejects.toThrow(/head for labels \[negative, positive\] but the data has \[a, b, c\]/)
    const re = await loadTextCheckpoint(join(dir, 'distilbert-sent'), { task: 'sequence-classification', labels: three, reinitHead: true })
    expect(re.labels).toEqual(['a', 'b', 'c'])
    expect(re.headFromCheckpoint).toBe(false)
    const same = await loadTextCheckpoint(join(dir, 'distilbert-sent'), { task: 'sequence-classification', labels: { names: ['positive', 'negative'], problemType: 'single_label_classification' } })
    expect(same.headFromCheckpoint).toBe(true)
    expect(same.labels).toEqual(['negative', 'positive'])
  })

  it('a sharded checkpoint (model.safetensors.index.json) loads like a single file', async () => {
    const src = await openSafetensorsFile(join(dir, 'bert', 'model.safetensors'))
    const keys = src.keys()
    const tensors = await Promise.all(keys.map(async (k) => [k, { dtype: 'F32' as const, shape: src.info(k).shape, data: await src.readAsFloat32(k) }] as const))
    await src.close()
    const d = join(dir, 'sharded')
    await tinyBert(d)
    rmSync(join(d, 'model.safetensors'))
    const half = Math.ceil(tensors.length / 2)
    const shards = [tensors.slice(0, half), tensors.slice(half)]
    const weightMap: Record<string, string> = {}
    for (const [i, part] of shards.entries()) {
      const name = `model-0000${i + 1}-of-00002.safetensors`
      await writeSafetensorsFile(join(d, name), part, { format: 'pt' })
      for (const [k] of part) weightMap[k] = name
    }
    writeFileSync(join(d, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }))
    const a = await loadTextCheckpoint(join(dir, 'bert'), { task: 'sequence-classification', seed: 3 })
    const b = await loadTextCheckpoint(d, { task: 'sequence-classification', seed: 3 })
    expect(b.report.loaded).toBe(a.report.loaded)
    const pa = new Map(a.model.namedParameters())
    for (const [n, p] of b.model.namedParameters()) expect(Buffer.from(p.data.buffer).equals(Buffer.from(pa.get(n)!.data.buffer)), n).toBe(true)
  })

  it('a checkpoint without the base-model prefix loads (keys saved from the bare model)', async () => {
    const m = await loadTextCheckpoint(join(dir, 'bert'), { task: 'sequence-classification' })
    expect(m.report.loaded).toBeGreaterThan(30)
    expect(m.report.initialised).toEqual(['classifier.weight', 'classifier.bias'])
  })
})
