/**
 * BLEU before and after fine-tuning, and from scratch, on the committed gettext corpus (issue 14):
 * a small Marian-shaped model is pre-trained on the command-line catalogues (en-LANG.pretrain.tsv),
 * then fine-tuned on the held-out desktop catalogues (en-LANG.finetune.tsv, another style); the
 * same architecture from random weights gets the same fine-tuning steps and learning rate (5e-4). All three are scored on
 * en-LANG.test.tsv (the held-out catalogues' other strings) with sacreBLEU-compatible BLEU and chrF.
 *
 *   npx tsx scripts/translation-evidence.ts [LANG=de] [PRETRAIN_STEPS=3000] [FINETUNE_STEPS=400] [MINUTES=60] [OUT=/tmp/ft-translation-evidence] [TEST_ROWS=all]
 *
 * Needs Debian's `sentencepiece` (spm_train) for the shared unigram vocabulary, as opus-mt models
 * have one. Pre-training stops after PRETRAIN_STEPS or MINUTES of training, whichever comes first.
 * Prints a table and writes OUT/evidence.json; run by hand (CI never runs it).
 */
import { execFileSync } from 'node:child_process'
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import '../src/runtime/ort-node.js'
import { writeSafetensorsFile } from '../src/checkpoint/io-node.js'
import { modelTensors } from '../src/models/pretrained-node.js'
import { seq2seqFamily } from '../src/models/seq2seq.js'
import { evaluateModel, taskDefaults, train } from '../src/tasks/run-node.js'
import { readPairs } from '../src/tasks/translation/data-node.js'
import type { CallbackContext, TrainEvent } from '../src/train/events.js'

type StepEvent = Extract<TrainEvent, { type: 'step' }>

const [lang = 'de', preStepsArg = '3000', ftStepsArg = '400', minutesArg = '60', out = '/tmp/ft-translation-evidence', testRowsArg = 'all'] = process.argv.slice(2)
const root = new URL('../', import.meta.url).pathname
const file = (split: string): string => join(root, 'data/gettext', `en-${lang}.${split}.tsv`)
const log = (s: string): void => console.error(`[${new Date().toISOString().slice(11, 19)}] ${s}`)
mkdirSync(out, { recursive: true })

// 1. a shared SentencePiece unigram vocabulary over both sides of the pre-training pairs
const { pairs: rows } = await readPairs(file('pretrain'), { onBadRow: 'error' })
writeFileSync(join(out, 'spm-input.txt'), rows.flatMap((r) => [r.source, r.target]).map((s) => s.replace(/\s+/g, ' ')).join('\n') + '\n')
const VOCAB = 4000
execFileSync('spm_train', [`--input=${join(out, 'spm-input.txt')}`, `--model_prefix=${join(out, 'spm')}`, `--vocab_size=${VOCAB}`, '--model_type=unigram', '--character_coverage=1.0', '--num_threads=2', '--minloglevel=2'], { stdio: 'inherit' })
const pieces = readFileSync(join(out, 'spm.vocab'), 'utf8').split('\n').filter(Boolean).map((l) => l.split('\t')[0]!).filter((p) => !['<unk>', '<s>', '</s>'].includes(p))
const vocab: Record<string, number> = { '</s>': 0, '<unk>': 1 }
for (const p of pieces) vocab[p] = Object.keys(vocab).length
vocab['<pad>'] = Object.keys(vocab).length
const V = Object.keys(vocab).length

// 2. the random start: opus-mt's layout and conventions, a small size
const random = join(out, 'random')
mkdirSync(random, { recursive: true })
for (const f of ['source.spm', 'target.spm']) copyFileSync(join(out, 'spm.model'), join(random, f))
writeFileSync(join(random, 'vocab.json'), JSON.stringify(vocab))
writeFileSync(join(random, 'tokenizer_config.json'), JSON.stringify({ eos_token: '</s>', unk_token: '<unk>', pad_token: '<pad>', separate_vocabs: false, source_lang: 'en', target_lang: lang, tokenizer_class: 'MarianTokenizer', model_max_length: 512 }))
const config = {
  model_type: 'marian', architectures: ['MarianMTModel'], vocab_size: V, decoder_vocab_size: V, d_model: 256, encoder_layers: 3, decoder_layers: 3,
  encoder_attention_heads: 4, decoder_attention_heads: 4, encoder_ffn_dim: 1024, decoder_ffn_dim: 1024, activation_function: 'swish',
  dropout: 0.1, attention_dropout: 0, activation_dropout: 0, max_position_embeddings: 128, scale_embedding: true, static_position_embeddings: true,
  share_encoder_decoder_embeddings: true, tie_word_embeddings: true, pad_token_id: V - 1, decoder_start_token_id: V - 1, eos_token_id: 0,
  forced_eos_token_id: 0, bos_token_id: 0, bad_words_ids: [[V - 1]], num_beams: 4, max_length: 64, init_std: 0.02, is_encoder_decoder: true,
}
writeFileSync(join(random, 'config.json'), JSON.stringify(config, null, 2))
const model = seq2seqFamily('marian').build(config, 'config.json', 0)
await writeSafetensorsFile(join(random, 'model.safetensors'), modelTensors(model), { format: 'pt' })
log(`vocabulary ${V} pieces; model ${model.countParameters().toLocaleString()} parameters`)

const cols = { sourceColumn: 'source', targetColumn: 'target', maxSourceLength: 64, maxTargetLength: 64 }
const common = { ...taskDefaults('translation'), ...cols, task: 'translation', batchSize: 32, evalBatchSize: 64, lr: 5e-4, schedule: 'linear' as const, warmupRatio: 0.05, weightDecay: 0.01, clipNorm: 1, saveEvery: 'none' as const, keepBest: false, evalEvery: 1_000_000, seed: 0, threads: 2 }
// TEST_ROWS: the first N test pairs only (a quick check of the script)
const { pairs: testPairs } = await readPairs(file('test'), { onBadRow: 'error' })
const test = join(out, 'test.jsonl')
writeFileSync(test, testPairs.slice(0, testRowsArg === 'all' ? undefined : Number(testRowsArg)).map((p) => JSON.stringify({ source: p.source, target: p.target })).join('\n') + '\n')
const bleu = async (dir: string): Promise<{ bleu: number; chrf: number }> => {
  const r = await evaluateModel(dir, test, { task: 'translation', ...cols, numBeams: 4, maxNewTokens: 64, batchSize: 64, threads: 2 } as never)
  return { bleu: r.metrics['bleu']!, chrf: r.metrics['chrf']! }
}

// 3. pre-training on the command-line catalogues
const pre = join(out, 'pretrained')
const preSteps = Number(preStepsArg)
const t0 = performance.now()
const p = await train({
  ...common, model: random, data: file('pretrain'), out: pre, epochs: 1000, maxSteps: preSteps,
  callbacks: [{ onStep: (e: StepEvent, ctx: CallbackContext) => { if (e.step % 100 === 0) log(`pre-training step ${e.step} loss ${e.loss.toFixed(3)}`); if (e.elapsedMs > Number(minutesArg) * 60_000) ctx.stop(`${minutesArg} minutes`) } }],
} as never)
log(`pre-trained ${p.steps} steps in ${((performance.now() - t0) / 60000).toFixed(1)} min`)

// 4. both starts fine-tuned with the same steps on the held-out style
const ftSteps = Number(ftStepsArg)
const results: Record<string, unknown> = { lang, test_pairs: Math.min(testPairs.length, testRowsArg === 'all' ? Infinity : Number(testRowsArg)), vocab: V, parameters: model.countParameters(), pretrain_pairs: rows.length, pretrain_steps: p.steps, finetune_steps: ftSteps, batch_size: 32 }
results['pretrained_before'] = await bleu(pre)
log(`pre-trained, before fine-tuning: ${JSON.stringify(results['pretrained_before'])}`)
for (const [name, start] of [['pretrained_after', pre], ['scratch_after', random]] as const) {
  const dir = join(out, name)
  await train({ ...common, model: start, data: file('finetune'), out: dir, epochs: 1000, maxSteps: ftSteps, lr: 5e-4 } as never)
  results[name] = await bleu(dir)
  log(`${name}: ${JSON.stringify(results[name])}`)
}
writeFileSync(join(out, 'evidence.json'), `${JSON.stringify(results, null, 2)}\n`)
console.log(`| start | BLEU | chrF |\n| --- | --- | --- |`)
for (const k of ['pretrained_before', 'pretrained_after', 'scratch_after']) {
  const r = results[k] as { bleu: number; chrf: number }
  console.log(`| ${k} | ${r.bleu.toFixed(2)} | ${r.chrf.toFixed(2)} |`)
}
