/** `finetune eval`: metrics of a trained model on a labelled file. */
import { evalImages, evalText } from '../index.js'
import { isImageModel } from './kind.js'
import { command } from './command.js'

export const evaluate = command(
  {
    name: 'eval',
    summary: 'evaluate a trained model on a labelled data file',
    usage: 'finetune eval --model DIR --data FILE [--json]',
    flags: {
      model: { type: 'string', describe: 'trained model folder', required: true, placeholder: 'DIR' },
      data: { type: 'string', describe: 'labelled data (.csv, .tsv, .jsonl, .conll)', required: true, placeholder: 'FILE' },
      textColumn: { type: 'string', describe: 'text column', placeholder: 'NAME' },
      textPairColumn: { type: 'string', describe: 'second text column', placeholder: 'NAME' },
      labelColumn: { type: 'string', describe: 'label column', placeholder: 'NAME' },
      tokensColumn: { type: 'string', describe: 'token-classification words column', placeholder: 'NAME' },
      tagsColumn: { type: 'string', describe: 'token-classification tags column', placeholder: 'NAME' },
      format: { type: 'enum', choices: ['csv', 'tsv', 'jsonl', 'conll', 'text'], describe: 'data format (default: from the extension)' },
      onBadRow: { type: 'enum', choices: ['error', 'skip'], describe: 'stop at a bad row or skip and count', default: 'error' },
      batchSize: { type: 'int', describe: 'examples per batch', default: 16, min: 1 },
      maxLength: { type: 'int', describe: 'truncate to N tokens', default: 512, min: 2 },
      device: { type: 'enum', choices: ['cpu', 'webgpu', 'cuda'], describe: 'execution provider', default: 'cpu' },
      threads: { type: 'int', describe: 'ONNX Runtime threads', min: 1 },
      arch: { type: 'string', describe: 'images: architecture of a bare torchvision state dict', placeholder: 'NAME' },
      workers: { type: 'int', describe: 'images: decoding worker threads', min: 0 },
      json: { type: 'boolean', describe: 'print metrics as JSON', default: false },
    },
  },
  async (f, _pos, io) => {
    const { model, json, ...o } = f
    const r = isImageModel(model, f.arch)
      ? await evalImages(model, f.data, { batchSize: f.batchSize, onBadRow: f.onBadRow as 'error' | 'skip', device: f.device as never, ...(f.arch ? { arch: f.arch } : {}), ...(f.threads ? { threads: f.threads } : {}), ...(f.workers !== undefined ? { workers: f.workers } : {}) })
      : await evalText(model, o as never)
    if (json) io.out(JSON.stringify({ ...r.metrics, examples: r.examples, skipped_rows: r.skipped }))
    else {
      io.out(`${r.examples} examples${r.skipped ? ` (${r.skipped} bad rows skipped)` : ''}`)
      for (const [k, v] of Object.entries(r.metrics)) io.out(`${k.padEnd(18)} ${v.toFixed(4)}`)
    }
  },
)
