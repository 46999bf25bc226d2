/**
 * `finetune demo`: the main job on built-in data, a pre-trained start against training from scratch.
 * speech (the default, src/cli/demo-speech.ts): Google's speech embedding on keywords by unseen voices;
 * text (src/cli/demo-text.ts): the project's masked-lm BERT on SpamAssassin at a few label budgets;
 * images (src/cli/demo-images.ts): the project's Fashion-MNIST ResNet on MNIST digits.
 */
import { existsSync, readdirSync } from 'node:fs'
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ConfigError } from '../index.js'
import { command } from './command.js'
import { imagesDemo } from './demo-images.js'
import { speechDemo } from './demo-speech.js'
import { TEXT_DEMO_TEST_SIZE, textDemo } from './demo-text.js'

export const demo = command(
  {
    name: 'demo',
    summary: 'built-in demos, a pre-trained start vs from scratch: speech (the default: keywords by unseen voices); text (spam vs ham); images (digits)',
    usage: 'finetune demo [speech|text|images] [--out DIR]',
    positional: '[speech|text|images]',
    flags: {
      budgets: { type: 'list', describe: 'speech: clips per word (1,3,10); images: labelled images per digit (10,100); text: labelled e-mails (20,100,1000)', placeholder: 'N,N' },
      seeds: { type: 'int', describe: 'repetitions per budget (default: speech 1, text and images 2)', min: 1 },
      steps: { type: 'int', describe: 'training steps per run (speech: 100; images: 60; text: 100)', min: 1 },
      words: { type: 'list', describe: 'speech: only these keywords (a quicker, smaller demo)', placeholder: 'yes,no' },
      out: { type: 'string', describe: 'folder for the data, the runs and the report', default: 'finetune-demo', placeholder: 'DIR' },
      maxLength: { type: 'int', describe: 'text: tokens per e-mail', default: 64, min: 16 },
      batchSize: { type: 'int', describe: 'text: e-mails per batch', default: 16, min: 1 },
      limit: { type: 'int', describe: 'text: use at most N e-mails (for a quick look)', min: 20 },
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
    if (existsSync(f.out) && readdirSync(f.out).length > 0 && !existsSync(join(f.out, 'demo.json'))) throw new ConfigError('OUT_NOT_EMPTY', `${f.out} exists and is not a demo folder`, 'pass --out with a new folder name')
    await rm(f.out, { recursive: true, force: true })
    await mkdir(f.out, { recursive: true })
    await writeFile(join(f.out, 'demo.json'), JSON.stringify({ created: new Date().toISOString(), demo: 'text' }))
    await textDemo({ out: f.out, budgets: (f.budgets.length ? f.budgets : ['20', '100', '1000']).map(Number), seeds: f.seeds ?? 2, steps: f.steps ?? 100, testSize: TEXT_DEMO_TEST_SIZE, limit: f.limit, maxLength: f.maxLength, batchSize: f.batchSize, threads: f.threads, json: f.json }, io)
  },
)
