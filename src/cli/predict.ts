/** `finetune predict`: labels, scores and logits for texts given as arguments or in a file. */
import { ConfigError, loadData, predictImages, predictText } from '../index.js'
import { isImageModel } from './kind.js'
import { command } from './command.js'

export const predict = command(
  {
    name: 'predict',
    summary: 'predict labels for texts or images with a trained model',
    usage: 'finetune predict --model DIR [--json] TEXT... | IMAGE... | --data FILE',
    positional: 'TEXT... or IMAGE...',
    flags: {
      model: { type: 'string', describe: 'trained model folder', required: true, placeholder: 'DIR' },
      data: { type: 'string', describe: 'a file of texts instead of arguments (.csv, .tsv, .jsonl, .txt)', placeholder: 'FILE' },
      textColumn: { type: 'string', describe: 'text column of --data', placeholder: 'NAME' },
      maxLength: { type: 'int', describe: 'truncate to N tokens', default: 512, min: 2 },
      batchSize: { type: 'int', describe: 'texts per batch', default: 16, min: 1 },
      device: { type: 'enum', choices: ['cpu', 'webgpu', 'cuda'], describe: 'execution provider', default: 'cpu' },
      threads: { type: 'int', describe: 'ONNX Runtime threads', min: 1 },
      arch: { type: 'string', describe: 'images: architecture of a bare torchvision state dict', placeholder: 'NAME' },
      json: { type: 'boolean', describe: 'one JSON object per input: text or path, label, score, logits', default: false },
    },
    examples: ['finetune predict --model ./sentiment "great film" "dull and long"', 'finetune predict --model ./sentiment --data new.csv --json'],
  },
  async (f, pos, io) => {
    if (isImageModel(f.model, f.arch)) {
      if (pos.length === 0) throw new ConfigError('CLI_USAGE', 'finetune predict: give image files or folders as arguments', 'run "finetune predict --help"')
      const preds = await predictImages(f.model, pos, { batchSize: f.batchSize, device: f.device as never, ...(f.arch ? { arch: f.arch } : {}), ...(f.threads ? { threads: f.threads } : {}) })
      for (const p of preds) io.out(f.json ? JSON.stringify(p) : `${p.label}\t${p.score.toFixed(4)}\t${p.path}`)
      return
    }
    let texts = pos
    if (f.data) {
      const d = await loadData({ data: f.data, task: 'causal-lm', onBadRow: 'error', validationSplit: 0, seed: 0, ...(f.textColumn ? { textColumn: f.textColumn } : {}) })
      texts = []
      for await (const e of d.train.iterate()) texts.push((e as { text: string }).text)
      await d.close()
    }
    if (texts.length === 0) throw new ConfigError('CLI_USAGE', 'finetune predict: give texts as arguments or --data FILE', 'run "finetune predict --help"')
    const preds = await predictText(f.model, texts, { maxLength: f.maxLength, batchSize: f.batchSize, device: f.device as never, ...(f.threads ? { threads: f.threads } : {}) })
    preds.forEach((p, i) => {
      if (f.json) io.out(JSON.stringify({ text: texts[i], label: p.label, score: p.score, logits: p.logits }))
      else io.out(`${p.label}\t${p.score.toFixed(4)}\t[${p.logits.map((v) => v.toFixed(4)).join(', ')}]\t${texts[i]!.length > 60 ? `${texts[i]!.slice(0, 57)}...` : texts[i]}`)
    })
  },
)
