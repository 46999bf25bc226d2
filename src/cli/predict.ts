/** `finetune predict`: one result per input (text or image): label, score and the raw logits. */
import { predict as predictTask, TASK_NAMES } from '../index.js'
import { command } from './command.js'
import { peek, taskOfArgs, withTask } from './task-flags.js'

const spec = {
  name: 'predict',
  summary: 'predict labels for texts or images with a trained model',
  usage: 'finetune predict --model PATH [--json] INPUT... | --data FILE',
  positional: 'TEXT... or IMAGE...',
  flags: {
    model: { type: 'string', describe: 'trained model folder', required: true, placeholder: 'PATH' },
    task: { type: 'enum', choices: TASK_NAMES, describe: 'the task (default: the one the model folder records)' },
    adapter: { type: 'string', describe: 'a PEFT LoRA adapter folder to apply to --model', placeholder: 'DIR' },
    data: { type: 'string', describe: 'text tasks: a file of texts instead of arguments (.csv, .tsv, .jsonl, .txt)', placeholder: 'FILE' },
    batchSize: { type: 'int', describe: 'inputs per batch', default: 16, min: 1 },
    device: { type: 'enum', choices: ['cpu', 'webgpu', 'cuda'], describe: 'execution provider', default: 'cpu' },
    threads: { type: 'int', describe: 'ONNX Runtime threads', min: 1 },
    json: { type: 'boolean', describe: 'one JSON object per input: the input, what the task predicts, and the logits', default: false },
  },
  examples: ['finetune predict --model ./sentiment "great film" "dull and long"', 'finetune predict --model ./sentiment --data new.csv --json', 'finetune predict --model ./photos-model cat.jpg dog.png'],
} as const

const short = (s: string): string => (s.length > 60 ? `${s.slice(0, 57)}...` : s)

export const predict = command(
  spec,
  async (f, pos, io) => {
    const { model, json, ...o } = f
    const preds = await predictTask(model, pos, { ...o, device: f.device as never })
    for (const p of preds) {
      if (json) io.out(JSON.stringify(p))
      else {
        const input = String(p['text'] ?? p['path'] ?? '')
        const tags = p['tags'] as { word: string; label: string }[] | undefined
        const masks = p['masks'] as { candidates: { token: string; score: number }[] }[] | undefined
        const boxes = p['boxes'] as { points: [number, number][]; score: number }[] | undefined
        const detections = p['detections'] as { box: number[]; label: string; score: number }[] | undefined
        if (detections) {
          io.out(`${input}\t${detections.length} detection${detections.length === 1 ? '' : 's'}`)
          for (const d of detections) io.out(`  ${d.box.map((v) => v.toFixed(1)).join(' ')}\t${d.label}\t${d.score.toFixed(4)}`)
        } else if (boxes) {
          io.out(`${input}\t${boxes.length} box${boxes.length === 1 ? '' : 'es'}`)
          for (const b of boxes) io.out(`  ${b.points.map((q) => q.join(',')).join(' ')}\t${b.score.toFixed(4)}`)
        } else if (tags) io.out(`${tags.map((t) => `${t.word}/${t.label}`).join(' ')}`)
        else if (typeof p['generated_text'] === 'string') io.out(p['generated_text'])
        else if (typeof p['translation_text'] === 'string') io.out(p['translation_text'])
        else if (typeof p['mask'] === 'string') io.out(`${p['mask']}\t${p.label} (${((p.score ?? NaN) * 100).toFixed(1)}% of pixels)\t${short(input)}`)
        else if (p.label === undefined && typeof p['path'] === 'string' && typeof p['text'] === 'string') io.out(`${p['path']}\t${p['text']}`) // a transcript
        else if (masks) io.out(`${p['filled']}\t${short(input)}\n${masks.map((m, i) => `  mask ${i + 1}: ${m.candidates.map((c) => `${c.token} ${c.score.toFixed(4)}`).join(', ')}`).join('\n')}`)
        else io.out(`${p.label}\t${(p.score ?? NaN).toFixed(4)}\t${Array.isArray(p.logits[0]) || p.logits.length > 8 ? `(${p.logits.length} logits)` : `[${(p.logits as number[]).map((v) => v.toFixed(4)).join(', ')}]`}\t${short(input)}`)
      }
    }
    // --draw (vision tasks): say where the pictures went; the JSON records carry them as `drawn`
    const drawn = preds.filter((p) => typeof p['drawn'] === 'string')
    if (drawn.length && !json) io.err(`drew ${drawn.length} image${drawn.length === 1 ? '' : 's'}: ${drawn.map((p) => p['drawn']).join(', ')}`)
  },
  (argv) => withTask(spec, 'predict', taskOfArgs(argv, peek(argv, 'model'))),
)
