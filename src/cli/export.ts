/** `finetune export`: a standalone ONNX file, or a Hugging Face safetensors folder. */
import { exportImages, exportText } from '../index.js'
import { isImageModel } from './kind.js'
import { command } from './command.js'

export const exportCmd = command(
  {
    name: 'export',
    summary: 'export a trained model as ONNX or as a safetensors folder',
    usage: 'finetune export --model DIR --format onnx|safetensors --out PATH',
    flags: {
      model: { type: 'string', describe: 'trained model folder', required: true, placeholder: 'DIR' },
      format: { type: 'enum', choices: ['onnx', 'safetensors'], describe: 'output format', required: true },
      out: { type: 'string', describe: 'output file (.onnx) or folder (safetensors)', required: true, placeholder: 'PATH' },
      batchSize: { type: 'int', describe: 'ONNX: static batch size of the graph', default: 1, min: 1 },
      seqLength: { type: 'int', describe: 'ONNX: static sequence length (pad inputs to it)', default: 128, min: 1 },
      arch: { type: 'string', describe: 'images: architecture of a bare torchvision state dict', placeholder: 'NAME' },
      json: { type: 'boolean', describe: 'print the result as JSON', default: false },
    },
  },
  async (f, _pos, io) => {
    const r = isImageModel(f.model, f.arch)
      ? await exportImages(f.model, { format: f.format as 'onnx' | 'safetensors', out: f.out, batchSize: f.batchSize, ...(f.arch ? { arch: f.arch } : {}) })
      : await exportText(f.model, { format: f.format as 'onnx' | 'safetensors', out: f.out, batchSize: f.batchSize, seqLength: f.seqLength })
    if (f.json) io.out(JSON.stringify(r))
    else io.out(`wrote ${r.path}${Object.keys(r.inputs).length ? ` (inputs: ${Object.entries(r.inputs).map(([k, v]) => `${k} [${v.join(', ')}]`).join(', ')}; output: logits)` : ''}`)
  },
)
