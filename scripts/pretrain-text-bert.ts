/**
 * Pre-trains the project's small English BERT with masked-lm, from random weights, on the long
 * descriptions of Debian's packages (bookworm main, the Translation-en index apt downloads: about
 * 64,000 descriptions, split into paragraphs and deduplicated). A WordPiece vocabulary is learnt from
 * the same text. The result is the starting point of `finetune demo text`.
 *
 *   npx tsx scripts/pretrain-text-bert.ts [OUT=pretrained/debian-bert-mini] [STEPS=1200] [MINUTES=30] [TRANSLATION_EN]
 *
 * Training stops after STEPS steps or MINUTES minutes of training, whichever comes first (the
 * schedule is planned for STEPS; the README records the steps done), so the recipe fits a busy machine.
 * TRANSLATION_EN: an uncompressed Translation-en file; without it the script downloads bookworm's
 * with apt (`apt-get update` into a private lists folder, so the system's apt state is untouched).
 * Writes OUT/{config.json, model.safetensors (F16), tokenizer files, README.md}.
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import '../src/runtime/ort-node.js'
import { saveTextCheckpoint } from '../src/models/pretrained-node.js'
import { textFamily } from '../src/models/registry.js'
import { evaluateModel } from '../src/tasks/run-node.js'
import { loadTokenizer } from '../src/tokenizers/index.js'
import { trainWordPieceVocab } from '../src/tokenizers/wordpiece-trainer.js'
import { saveFloat16TextModel, trainMaskedLm } from './text-bert-lib.js'

const [out = 'pretrained/debian-bert-mini', stepsArg = '1200', minutesArg = '30', translationArg] = process.argv.slice(2)
const steps = Number(stepsArg)
const maxMinutes = Number(minutesArg)
const work = join(tmpdir(), `ft-pretrain-text-${process.pid}`)
mkdirSync(work, { recursive: true })
const log = (s: string): void => console.error(`[${new Date().toISOString().slice(11, 19)}] ${s}`)

/** bookworm main's Translation-en (English long descriptions), fetched with apt into `work`. */
function fetchTranslation(): { file: string; source: string } {
  const lists = join(work, 'lists')
  mkdirSync(join(lists, 'partial'), { recursive: true })
  execFileSync('apt-get', ['update', '-o', `Dir::State::Lists=${lists}`, '-o', 'Acquire::Languages=en', '-o', 'Acquire::IndexTargets::deb::Packages::DefaultEnabled=false'], { stdio: 'inherit' })
  const name = readdirSync(lists).find((f) => /_dists_bookworm_main_i18n_Translation-en/.test(f))
  if (!name) throw new Error(`apt fetched no bookworm main Translation-en into ${lists}; pass the file as the third argument`)
  const file = join(work, 'Translation-en')
  writeFileSync(file, execFileSync('/usr/lib/apt/apt-helper', ['cat-file', join(lists, name)], { maxBuffer: 1 << 30 }))
  const release = readdirSync(lists).find((f) => /_dists_bookworm_InRelease$/.test(f))
  const date = release ? /^Date: (.*)$/m.exec(readFileSync(join(lists, release), 'utf8'))?.[1] : undefined
  return { file, source: `deb.debian.org bookworm/main i18n/Translation-en${date ? ` (Release of ${date})` : ''}` }
}

/**
 * Paragraphs of every English description: the synopsis is the first sentence of the first
 * paragraph; " ." lines separate paragraphs; whitespace is collapsed; exact repeats (boilerplate such
 * as "This package contains the debugging symbols") are kept once.
 */
function paragraphs(text: string): string[] {
  const seen = new Set<string>()
  const out: string[] = []
  for (const record of text.split(/\n\n+/)) {
    const m = /^Description-en: (.*)\n?((?: .*\n?)*)/m.exec(record)
    if (!m) continue
    const paras: string[][] = [[`${m[1]!.trim()}.`]]
    for (const line of m[2]!.split('\n')) {
      if (line === ' .') paras.push([])
      else if (line.trim()) paras[paras.length - 1]!.push(line.trim())
    }
    for (const p of paras) {
      const s = p.join(' ').replace(/\s+/g, ' ').trim()
      if (s.split(' ').length < 4 || seen.has(s)) continue
      seen.add(s)
      out.push(s)
    }
  }
  return out
}

const t0 = performance.now()
const { file, source } = translationArg ? { file: translationArg, source: translationArg } : fetchTranslation()
const raw = readFileSync(file, 'utf8')
const packages = (raw.match(/^Package: /gm) ?? []).length
const all = paragraphs(raw)
// a fixed 1% held out for the masked-lm loss, every 100th paragraph
const valid = all.filter((_, i) => i % 100 === 0)
const trainSet = all.filter((_, i) => i % 100 !== 0)
const words = all.reduce((n, p) => n + p.split(' ').length, 0)
log(`${packages} descriptions -> ${all.length} distinct paragraphs, ${words.toLocaleString()} words (${(Buffer.byteLength(all.join('\n')) / 2 ** 20).toFixed(1)} MiB); ${trainSet.length} train, ${valid.length} held out`)
writeFileSync(join(work, 'train.txt'), `${trainSet.join('\n')}\n`)
writeFileSync(join(work, 'valid.txt'), `${valid.join('\n')}\n`)

const vocabSize = 8192
const tokenizer = loadTokenizer({ vocabTxt: trainWordPieceVocab(trainSet, { size: vocabSize }), tokenizerConfigJson: JSON.stringify({ do_lower_case: true, model_max_length: 128, tokenizer_class: 'BertTokenizer' }) })
const sizes = { hidden_size: 128, num_hidden_layers: 4, num_attention_heads: 4, intermediate_size: 512, max_position_embeddings: 128 }
const recipe = { steps, max_minutes: maxMinutes, batch_size: 32, max_length: 128, lr: 1e-3, schedule: 'linear', warmup_ratio: 0.05, weight_decay: 0.01, optimizer: 'adamw', clip_norm: 1, mlm_probability: 0.15, masking: 'BERT 80/10/10, token level', seed: 0 }
const config = { model_type: 'bert', vocab_size: tokenizer.vocabSize, pad_token_id: tokenizer.padId ?? 0, ...sizes, hidden_dropout_prob: 0.1, attention_probs_dropout_prob: 0.1 }
const random = join(work, 'random')
mkdirSync(random, { recursive: true })
const model = textFamily('bert').build(config, 'masked-lm', 'config.json', recipe.seed)
model.nameParameters()
await saveTextCheckpoint(random, model, tokenizer, config)
const threads = 2
const before = await evaluateModel(random, join(work, 'valid.txt'), { task: 'masked-lm', threads, batchSize: 64, maxLength: 128 } as never)
log(`random start: held-out masked-lm loss ${before.metrics['eval_loss']!.toFixed(3)}, accuracy ${(before.metrics['accuracy']! * 100).toFixed(1)}%`)

const run = join(work, 'trained')
const { result: r, curve } = await trainMaskedLm({ model: random, data: join(work, 'train.txt'), validation: join(work, 'valid.txt'), out: run, steps, maxMinutes, evals: 4, recipe, threads, log })
const minutes = (performance.now() - t0) / 60000

// float16 weights: half the size; the masked-lm loss of the stored model is measured again below
const cfg = await saveFloat16TextModel(run, out)
const after = await evaluateModel(out, join(work, 'valid.txt'), { task: 'masked-lm', threads, batchSize: 64, maxLength: 128 } as never)
cfg.finetune_pretrained = {
  made_by: 'finetune (scripts/pretrain-text-bert.ts)',
  corpus: `Debian package long descriptions, ${source}: ${packages} descriptions, ${trainSet.length} distinct paragraphs for training (${words.toLocaleString()} words in all), every 100th paragraph (${valid.length}) held out`,
  licence: 'package descriptions are part of each package\'s metadata, written by its maintainers and distributed by Debian with the archive; they carry no separate licence of their own (each package\'s own licence is in its copyright file)',
  vocabulary: `WordPiece, ${tokenizer.vocabSize} tokens, lower-cased, learnt from the training paragraphs (trainWordPieceVocab)`,
  task: 'masked-lm',
  ...recipe,
  steps_done: r.steps,
  stop_reason: r.reason,
  heldout_loss_random: before.metrics['eval_loss'],
  heldout_loss_float32: r.metrics['eval_loss'],
  heldout_loss: after.metrics['eval_loss'],
  heldout_masked_accuracy: after.metrics['accuracy'],
  curve,
  wall_minutes: Math.round(minutes),
  dtype: 'float16',
}
writeFileSync(join(out, 'config.json'), `${JSON.stringify(cfg, null, 2)}\n`)
const pct = (v: number | undefined): string => (v === undefined ? '-' : `${(v * 100).toFixed(1)}%`)
const params = model.countParameters()
writeFileSync(
  join(out, 'README.md'),
  `# debian-bert-mini

A small BERT (${sizes.num_hidden_layers} layers, hidden ${sizes.hidden_size}, ${sizes.num_attention_heads} heads, FFN ${sizes.intermediate_size}, ${sizes.max_position_embeddings} positions, ${params.toLocaleString()} parameters with the masked-LM head) that **finetune pre-trained itself**, from random weights, with \`--task masked-lm\` on English text available offline: the long descriptions of Debian's packages (${source}). Weights in float16; Hugging Face layout (BertForMaskedLM names, decoder tied to the word embeddings), loadable as a base model by every finetune text task.

- corpus: ${packages} package descriptions, split into paragraphs (the synopsis starts the first), whitespace collapsed, exact repeats kept once: ${all.length} paragraphs, ${words.toLocaleString()} words; every 100th paragraph (${valid.length}) held out, one paragraph per example
- licence: package descriptions are part of each package's metadata, written by its maintainers and shipped by Debian in the archive indexes; they carry no licence of their own (each package's licence is in its copyright file). Treat this model accordingly
- vocabulary: WordPiece, ${tokenizer.vocabSize} tokens, lower-cased, learnt from the training paragraphs
- recipe: BERT masking (15% of tokens; 80% [MASK], 10% random, 10% kept), AdamW lr ${recipe.lr}, linear decay with ${recipe.warmup_ratio * 100}% warm-up, weight decay ${recipe.weight_decay}, clip ${recipe.clip_norm}, batch ${recipe.batch_size}, up to ${recipe.max_length} tokens, dropout 0.1, seed ${recipe.seed}; a linear schedule planned for ${steps} steps, stopped after ${r.steps} steps (${((r.steps * recipe.batch_size) / trainSet.length).toFixed(2)} epochs${r.reason === 'completed' ? '' : `, at the ${maxMinutes}-minute limit`}); ${Math.round(minutes)} minutes in all on a shared 2-core machine
- held-out masked-lm loss: ${before.metrics['eval_loss']!.toFixed(3)} at random init -> ${r.metrics['eval_loss']!.toFixed(3)} after pre-training (float32); ${after.metrics['eval_loss']!.toFixed(3)} as stored in float16; masked-token accuracy ${pct(before.metrics['accuracy'])} -> ${pct(after.metrics['accuracy'])}

Reproduce: \`npx tsx scripts/pretrain-text-bert.ts ${out} ${steps} ${maxMinutes}\` (downloads Translation-en with apt; on a faster or idle machine the run reaches more of its ${steps} steps)
`,
)
rmSync(work, { recursive: true, force: true })
console.log(JSON.stringify({ out, steps: r.steps, before: before.metrics['eval_loss'], after: after.metrics['eval_loss'], minutes }))
