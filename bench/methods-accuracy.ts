/**
 * Accuracy of the fine-tuning methods at the same budget on the demo's text task: the project's
 * masked-lm BERT (pretrained/debian-bert-mini) fine-tuned on SpamAssassin with full fine-tuning,
 * LoRA (query/value, r 8) and gradual unfreezing, the same labelled e-mails, steps and batch size,
 * each with the better of two learning rates on a held-out fifth of the labelled e-mails; accuracy
 * on held-out mail. Trainable parameters are reported per method.
 *
 *   npx tsx bench/methods-accuracy.ts [labels=1000] [steps=150] [seed=0]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { evaluateModel, loadSpamAssassin, quoteField, splitTrainValidation, taskDefaults, train } from '../src/index.js'
import { PRETRAINED_TEXT_BERT } from '../src/cli/demo-text.js'

const [labels = 1000, steps = 150, seed = 0] = process.argv.slice(2).map(Number)
const dir = mkdtempSync(join(tmpdir(), 'ft-methods-'))
const mails = await loadSpamAssassin()
const y = Int32Array.from(mails.map((m) => (m.label === 'spam' ? 1 : 0)))
const split = splitTrainValidation(mails.length, { fraction: 500 / mails.length, seed: 0, stratify: y })
const pool = Array.from(split.train)
const picked = splitTrainValidation(pool.length, { fraction: labels / pool.length, seed: seed + 1, stratify: Int32Array.from(pool, (i) => y[i]!) }).validation
const ix = Array.from(picked, (k) => pool[k]!)
const inner = splitTrainValidation(ix.length, { fraction: 0.2, seed: seed + 2, stratify: Int32Array.from(ix, (i) => y[i]!) })
const csv = (rows: number[]): string => `text,label\n${rows.map((i) => `${quoteField(mails[i]!.text)},${mails[i]!.label}`).join('\n')}\n`
const files = { all: join(dir, 'labelled.csv'), fit: join(dir, 'fit.csv'), val: join(dir, 'val.csv'), test: join(dir, 'test.csv') }
writeFileSync(files.all, csv(ix))
writeFileSync(files.fit, csv(Array.from(inner.train, (k) => ix[k]!)))
writeFileSync(files.val, csv(Array.from(inner.validation, (k) => ix[k]!)))
writeFileSync(files.test, csv(Array.from(split.validation)))

const methods = {
  full: { method: 'full' },
  lora: { method: 'lora', loraR: 8, loraAlpha: 16 },
  gradual: { method: 'full', unfreeze: 'gradual', unfreezeEvery: Math.max(1, Math.floor(steps / 6)) },
} as const
const grids: Record<string, number[]> = { full: [2e-4, 1e-3], lora: [1e-3, 5e-3], gradual: [2e-4, 1e-3] }
const base = { ...taskDefaults('text-classification'), task: 'text-classification', model: PRETRAINED_TEXT_BERT, maxSteps: steps, batchSize: 16, maxLength: 64, warmupRatio: 0.1, evalEvery: 'none', saveEvery: 'none', seed, quiet: true } as never as Record<string, unknown>

const rows: string[] = []
for (const [name, m] of Object.entries(methods)) {
  let best = { lr: 0, val: -1 }
  for (const lr of grids[name]!) {
    const out = join(dir, `${name}-${lr}`)
    await train({ ...base, ...m, lr, data: files.fit, out } as never)
    const acc = (await evaluateModel(out, files.val)).metrics['accuracy']!
    if (acc > best.val) best = { lr, val: acc }
  }
  const out = join(dir, `${name}-final`)
  const t0 = performance.now()
  const r = await train({ ...base, ...m, lr: best.lr, data: files.all, out } as never)
  const wall = (performance.now() - t0) / 1000
  const acc = (await evaluateModel(out, files.test)).metrics['accuracy']!
  const trainable = (r.record as Record<string, unknown>)['trainable_parameters'] ?? 'all'
  rows.push(`| ${name} | ${best.lr} | ${trainable} | ${acc.toFixed(3)} | ${wall.toFixed(0)} |`)
  console.error(rows.at(-1))
}
console.log(`labels ${labels}, steps ${steps}, seed ${seed}, test ${split.validation.length} e-mails\n| method | lr (chosen) | trainable parameters | test accuracy | train wall s |\n| --- | --- | --- | --- | --- |\n${rows.join('\n')}`)
rmSync(dir, { recursive: true, force: true })
