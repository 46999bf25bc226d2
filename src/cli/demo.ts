/**
 * `finetune demo`: the main job on built-in data, a pre-trained start against training from scratch.
 * text (src/cli/demo-text.ts): the project's masked-lm BERT on SpamAssassin at a few label budgets;
 * images (src/cli/demo-images.ts): the project's Fashion-MNIST ResNet on MNIST digits.
 */
import { existsSync, readdirSync } from 'node:fs'
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ConfigError } from '../index.js'
import { command } from './command.js'
import { imagesDemo } from './demo-images.js'
import { textDemo } from './demo-text.js'

export const demo = command(
  {
    name: 'demo',
    summary: 'built-in demos, a pre-trained start vs from scratch: text (spam vs ham, the default); images (digits)',
    usage: 'finetune demo [text|images] [--out DIR]',
    positional: '[text|images]',
    flags: {
      budgets: { type: 'list', describe: 'images: labelled images per digit (10,100); text: labelled e-mails (20,100,1000)', placeholder: 'N,N' },
      seeds: { type: 'int', describe: 'repetitions per budget', default: 2, min: 1 },
      steps: { type: 'int', describe: 'training steps per run (images: 60; text: 100)', min: 1 },
      out: { type: 'string', describe: 'folder for the data, the runs and the report', default: 'finetune-demo', placeholder: 'DIR' },
      maxLength: { type: 'int', describe: 'text: tokens per e-mail', default: 64, min: 16 },
      batchSize: { type: 'int', describe: 'text: e-mails per batch', default: 16, min: 1 },
      limit: { type: 'int', describe: 'text: use at most N e-mails (for a quick look)', min: 20 },
      threads: { type: 'int', describe: 'ONNX Runtime threads (default: all cores)', min: 1 },
      json: { type: 'boolean', describe: 'print the result as JSON', default: false },
    },
  },
  async (f, pos, io) => {
    const which = pos[0] ?? 'text'
    if (which !== 'text' && which !== 'images') throw new ConfigError('CLI_USAGE', `finetune demo: unknown demo "${which}"`, 'choose text or images')
    if (which === 'images') {
      if (existsSync(f.out) && readdirSync(f.out).length > 0 && !existsSync(join(f.out, 'demo.json'))) throw new ConfigError('OUT_NOT_EMPTY', `${f.out} exists and is not a demo folder`, 'pass --out with a new folder name')
      await rm(f.out, { recursive: true, force: true })
      await mkdir(f.out, { recursive: true })
      await writeFile(join(f.out, 'demo.json'), JSON.stringify({ created: new Date().toISOString(), demo: 'images' }))
      await imagesDemo({ out: f.out, budgets: (f.budgets.length ? f.budgets : ['10', '100']).map(Number), seeds: f.seeds, steps: f.steps ?? 60, testSize: 1000, threads: f.threads, json: f.json }, io)
      return
    }
    if (existsSync(f.out) && readdirSync(f.out).length > 0 && !existsSync(join(f.out, 'demo.json'))) throw new ConfigError('OUT_NOT_EMPTY', `${f.out} exists and is not a demo folder`, 'pass --out with a new folder name')
    await rm(f.out, { recursive: true, force: true })
    await mkdir(f.out, { recursive: true })
    await writeFile(join(f.out, 'demo.json'), JSON.stringify({ created: new Date().toISOString(), demo: 'text' }))
    await textDemo({ out: f.out, budgets: (f.budgets.length ? f.budgets : ['20', '100', '1000']).map(Number), seeds: f.seeds, steps: f.steps ?? 100, testSize: 500, limit: f.limit, maxLength: f.maxLength, batchSize: f.batchSize, threads: f.threads, json: f.json }, io)
  },
)
