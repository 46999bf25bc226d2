// The text runner keeps tokenised examples: epochs and evaluations read and tokenise each row once,
// the batches are the same as without it, and past its byte budget it tokenises on every use.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TextClassificationExample, TextSplit } from '../../data/dataset.js'
import { loadTextCheckpoint, type LoadedText } from '../../models/pretrained-node.js'
import { Runtime } from '../../runtime/session.js'
import { TextTaskRunner, type TextExample, type TextHead } from '../../train/text.js'
import { tinyBert } from '../../../test/text-fixtures.js'
import { sequenceClassificationHead } from './head.js'

const dir = mkdtempSync(join(tmpdir(), 'ft-tok-once-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
let loaded: LoadedText
beforeAll(async () => {
  await tinyBert(join(dir, 'bert'))
  loaded = await loadTextCheckpoint(join(dir, 'bert'), { task: 'sequence-classification', labels: { names: ['neg', 'pos'], problemType: 'single_label_classification' } })
}, 60_000)

const words = ['the', 'movie', 'was', 'good', 'bad', 'really', 'plot', 'story']
function split(n: number, seed: number, reads: { n: number }): TextSplit<TextExample> {
  const ex: TextClassificationExample[] = Array.from({ length: n }, (_, i) => ({
    text: Array.from({ length: 2 + ((i * 7 + seed) % 9) }, (_, k) => words[(i * 3 + k * 5 + seed) % words.length]).join(' '),
    label: i % 2,
    file: 'memory',
    line: i + 1,
  }))
  return {
    length: n,
    getMany: async (ix: ArrayLike<number>) => Array.from(ix, (i) => ((reads.n += 1), ex[i]!)),
    iterate: async function* () {
      for (const e of ex) yield ((reads.n += 1), e)
    },
  } as unknown as TextSplit<TextExample>
}

async function run(budget: number | undefined): Promise<{ encodes: number; reads: number; feeds: string[]; metrics: Record<string, number> }> {
  let encodes = 0
  const head: TextHead = { ...sequenceClassificationHead, encode: (ctx, e) => ((encodes += 1), sequenceClassificationHead.encode(ctx, e)) }
  const reads = { n: 0 }
  const train = split(10, 1, reads)
  const validation = split(6, 4, reads)
  const runtime = new Runtime({ threads: 1 })
  const runner = new TextTaskRunner({
    head, model: loaded.model, tokenizer: loaded.tokenizer, labels: loaded.labels, dataLabels: loaded.labels, problemType: loaded.problemType,
    train, validation, batchSize: 4, maxLength: 16, seed: 3, method: 'full', runtime, optimizer: { kind: 'sgd', lr: 0 },
    ...(budget === undefined ? {} : { encodedCacheBytes: budget }),
  })
  const job = await runner.job()
  const feeds: string[] = []
  for (let epoch = 0; epoch < 3; epoch++) for await (const b of job.batches(epoch, 0)) feeds.push(JSON.stringify(Object.values(b.feeds).map((f) => Array.from(f.data as ArrayLike<number | bigint>, String))))
  await runner.evaluate()
  const metrics = await runner.evaluate()
  await runtime.dispose()
  return { encodes, reads: reads.n, feeds, metrics }
}

describe('tokenised examples are kept for the epochs and evaluations that read them again', () => {
  it('reads and tokenises each example once, with the same batches and metrics as without keeping them', async () => {
    const kept = await run(undefined)
    const none = await run(0)
    expect(kept.encodes).toBe(10 + 6)
    expect(kept.reads).toBe(10 + 6)
    // without room: the lengths once per split, then every epoch's batches and both evaluations' batches
    expect(none.encodes).toBe(10 + 6 + 3 * 10 + 2 * 6)
    expect(kept.feeds).toEqual(none.feeds)
    expect(kept.metrics).toEqual(none.metrics)
  }, 60_000)

  it('stops keeping examples at its byte budget', async () => {
    // room for a few examples only: the rest are tokenised on every use
    const some = await run(1500)
    expect(some.encodes).toBeGreaterThan(16)
    expect(some.encodes).toBeLessThan(10 + 6 + 3 * 10 + 2 * 6)
  }, 60_000)
})
