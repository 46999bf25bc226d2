/** `finetune inspect`: what a model folder holds. */
import { inspectImages, inspectText } from '../index.js'
import { isImageModel } from './kind.js'
import { command } from './command.js'
import { table } from './output.js'

export const inspect = command(
  {
    name: 'inspect',
    summary: 'show a model folder: family, sizes, parameters, head, labels',
    usage: 'finetune inspect DIR [--json]',
    positional: 'DIR',
    flags: {
      json: { type: 'boolean', describe: 'print as JSON', default: false },
      model: { type: 'string', describe: 'model folder (or give it as the argument)', placeholder: 'DIR' },
      arch: { type: 'string', describe: 'images: architecture of a bare torchvision state dict', placeholder: 'NAME' },
    },
  },
  async (f, pos, io) => {
    const dir = f.model ?? pos[0]
    if (!dir) {
      io.err('finetune inspect: give a model folder')
      return 2
    }
    if (isImageModel(dir, f.arch)) {
      const r = await inspectImages(dir, f.arch ? { arch: f.arch } : {})
      if (f.json) io.out(JSON.stringify(r))
      else {
        const labels = r['labels'] as string[]
        io.out(table([
          ['model', String(r['path'])],
          ['source', String(r['source'])],
          ['architecture', String(r['arch'])],
          ['parameters', (r['parameters'] as number).toLocaleString()],
          ['head', (r['head'] as string[]).join(', ')],
          ['classes', `${labels.length}: ${labels.slice(0, 20).join(', ')}${labels.length > 20 ? ', ...' : ''}`],
          ['preprocessing', JSON.stringify(r['preprocessing'])],
        ]))
      }
      return
    }
    const r = await inspectText(dir)
    if (f.json) {
      io.out(JSON.stringify(r))
      return
    }
    io.out(
      table([
        ['folder', r.dir],
        ['family', r.family],
        ['architecture', r.architecture],
        ['task', r.task],
        ['sizes', Object.entries(r.sizes).map(([k, v]) => `${k}=${v}`).join(' ')],
        ['parameters', r.parameters.toLocaleString()],
        ['head', r.head.join(', ') || '(none)'],
        ['labels', r.labels.length ? `${r.labels.length}: ${r.labels.join(', ')}` : '(none)'],
        ['problem type', r.problemType ?? '-'],
        ['tokenizer', `${r.tokenizer.type}, ${r.tokenizer.vocabSize} tokens, max length ${r.tokenizer.maxLength ?? '-'}`],
        ['files', r.files.join(', ')],
      ]),
    )
    io.out('\nparameters by module:')
    io.out(table(Object.entries(r.byModule).map(([k, v]) => [`  ${k}`, v.toLocaleString()])))
  },
)
