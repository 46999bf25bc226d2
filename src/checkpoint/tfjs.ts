/**
 * TensorFlow.js Layers models: `model.json` (a Keras topology plus a weights manifest) and its binary
 * weight shards. This file parses and checks the JSON, normalises the Keras topology (Functional or
 * Sequential, Keras 2 or Keras 3 node formats) and decodes the shards, dequantizing uint8/uint16
 * (value = q * scale + min, as tfjs-core's decodeWeight does) and float16. It also reads the
 * "bundled" form some npm packages ship (nsfwjs 4): JavaScript modules whose export is the
 * model.json object literal or a shard as a base64 string, parsed as data, never executed.
 *
 * References: https://www.tensorflow.org/js/guide/save_load (format),
 * tfjs-core src/io/io_utils.ts (decodeWeight), Keras `Model.get_config()` (topology).
 * Browser-safe: file access lives in tfjs-node.ts.
 */
import { countNonFinite, nonFiniteError, type NonFinite } from './finite.js'
import { CheckpointError, IssueList } from '../errors.js'
import { f16ToF32 } from './dtypes.js'

/** `[layer name, node index, tensor index]`: one output of one call of a layer. */
export type KerasRef = readonly [string, number, number]

export interface KerasLayerSpec {
  className: string
  name: string
  config: Readonly<Record<string, unknown>>
  /** One entry per call of the layer: the tensors that call reads. */
  inbound: KerasRef[][]
}

/** A Keras model topology as a Functional graph (Sequential models are rewritten to one). */
export interface KerasTopology {
  /** 'Functional' for Model/Functional configs, 'Sequential' for Sequential ones (before the rewrite). */
  className: 'Functional' | 'Sequential'
  name: string
  layers: KerasLayerSpec[]
  inputs: KerasRef[]
  outputs: KerasRef[]
  kerasVersion: string | undefined
}

export type TfjsQuantizedDType = 'uint8' | 'uint16' | 'float16'

export interface TfjsWeightSpec {
  name: string
  shape: number[]
  dtype: 'float32' | 'int32'
  quantization?: { dtype: TfjsQuantizedDType; scale?: number; min?: number }
}

export interface TfjsWeightGroup {
  paths: string[]
  weights: TfjsWeightSpec[]
}

/** A decoded weight, float32 values in the manifest's (Keras) layout. */
export interface TfjsWeight {
  name: string
  shape: number[]
  dtype: 'float32' | 'int32'
  data: Float32Array
}

/** Everything model.json and its shards hold, decoded. */
export interface TfjsLayersModel {
  /** The model file, used in messages. */
  file: string
  topology: KerasTopology
  /** Decoded weights by their manifest name (`Conv1/kernel`). */
  weights: Map<string, TfjsWeight>
  /** Class names when the model's files name them (a Teachable Machine metadata.json, nsfwjs). */
  classNames?: string[]
  /** model.json's `userDefinedMetadata`, when present. */
  metadata?: Record<string, unknown>
}

const HINT_REEXPORT = 'export the model again with tensorflowjs_converter (--input_format keras) or model.save() in TF.js'

/** Like IssueList.throwIfAny, as a CheckpointError: the problems are in a file, not in configuration. */
function throwIssues(issues: IssueList, code: string, what: string, hint: string): void {
  if (issues.ok) return
  const lines = issues.issues.map((i) => `  - ${i.path}: ${i.message}`).join('\n')
  throw new CheckpointError(code, `${what} has ${issues.issues.length} problem(s):\n${lines}`, hint)
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

// ---------------------------------------------------------------------------------------------
// model.json

export interface TfjsModelJson {
  format: string | undefined
  modelTopology: Record<string, unknown>
  weightsManifest: TfjsWeightGroup[]
  userDefinedMetadata?: Record<string, unknown>
}

/** Checks model.json's shape and returns its parts; every problem is reported at once. */
export function parseTfjsModelJson(raw: unknown, file: string): TfjsModelJson {
  if (!isObj(raw)) throw new CheckpointError('TFJS_BAD_MODEL_JSON', `${file} is not a JSON object`, HINT_REEXPORT)
  const format = raw['format']
  if (format !== undefined && format !== 'layers-model') {
    throw new CheckpointError(
      'TFJS_NOT_LAYERS_MODEL',
      `${file} has format ${JSON.stringify(format)}; finetune reads TF.js Layers models ("layers-model")`,
      format === 'graph-model'
        ? 'a graph model (converted from a SavedModel or frozen graph) has no Keras layers to train; convert the Keras model instead (tensorflowjs_converter --input_format keras model.h5 out/)'
        : HINT_REEXPORT,
    )
  }
  const issues = new IssueList()
  const topo = raw['modelTopology']
  if (!isObj(topo)) issues.add('modelTopology', topo === undefined ? 'is missing' : 'must be an object (the Keras model config)')
  const man = raw['weightsManifest']
  const groups: TfjsWeightGroup[] = []
  if (!Array.isArray(man)) issues.add('weightsManifest', man === undefined ? 'is missing' : 'must be a list of weight groups')
  else {
    man.forEach((g, gi) => {
      const at = `weightsManifest[${gi}]`
      if (!isObj(g)) return issues.add(at, 'must be an object with "paths" and "weights"')
      const paths = g['paths']
      if (!Array.isArray(paths) || !paths.every((p) => typeof p === 'string' && p !== '')) issues.add(`${at}.paths`, 'must be a list of shard file names')
      const ws = g['weights']
      const weights: TfjsWeightSpec[] = []
      if (!Array.isArray(ws)) issues.add(`${at}.weights`, 'must be a list of weight entries')
      else ws.forEach((w, wi) => {
        const spec = parseWeightSpec(w, `${at}.weights[${wi}]`, issues)
        if (spec) weights.push(spec)
      })
      groups.push({ paths: Array.isArray(paths) ? (paths as string[]) : [], weights })
    })
  }
  throwIssues(issues, 'TFJS_BAD_MODEL_JSON', file, HINT_REEXPORT)
  const out: TfjsModelJson = { format: format as string | undefined, modelTopology: topo as Record<string, unknown>, weightsManifest: groups }
  const meta = raw['userDefinedMetadata']
  if (isObj(meta)) out.userDefinedMetadata = meta
  return out
}

function parseWeightSpec(w: unknown, at: string, issues: IssueList): TfjsWeightSpec | null {
  if (!isObj(w)) {
    issues.add(at, 'must be an object {name, shape, dtype}')
    return null
  }
  const { name, shape, dtype, quantization: q } = w
  const before = issues.issues.length
  if (typeof name !== 'string' || name === '') issues.add(`${at}.name`, 'must be a non-empty string')
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) issues.add(`${at}.shape`, `must be a list of non-negative integers, got ${JSON.stringify(shape)}`)
  if (dtype !== 'float32' && dtype !== 'int32') issues.add(`${at}.dtype`, `is ${JSON.stringify(dtype)}; finetune reads float32 and int32 weights`)
  let quant: TfjsWeightSpec['quantization']
  if (q !== undefined) {
    if (!isObj(q)) issues.add(`${at}.quantization`, 'must be an object {dtype, scale, min}')
    else {
      const qd = q['dtype']
      if (qd !== 'uint8' && qd !== 'uint16' && qd !== 'float16') issues.add(`${at}.quantization.dtype`, `is ${JSON.stringify(qd)}; supported: uint8, uint16, float16`)
      else if (qd === 'float16') {
        if (dtype !== 'float32') issues.add(`${at}.quantization`, 'float16 quantization applies only to float32 weights')
        quant = { dtype: qd }
      } else {
        const { scale, min } = q
        if (typeof scale !== 'number' || !Number.isFinite(scale)) issues.add(`${at}.quantization.scale`, `must be a number for ${qd} quantization, got ${JSON.stringify(scale)}`)
        if (typeof min !== 'number' || !Number.isFinite(min)) issues.add(`${at}.quantization.min`, `must be a number for ${qd} quantization, got ${JSON.stringify(min)}`)
        quant = { dtype: qd, scale: scale as number, min: min as number }
      }
    }
  }
  if (issues.issues.length > before) return null
  const spec: TfjsWeightSpec = { name: name as string, shape: shape as number[], dtype: dtype as 'float32' | 'int32' }
  if (quant) spec.quantization = quant
  return spec
}

// ---------------------------------------------------------------------------------------------
// Keras topology

/**
 * Normalises `modelTopology` (the Keras `{class_name, config}` of the model, either directly or
 * under `model_config` as the Python converter writes it) into a Functional graph.
 */
export function parseKerasTopology(topology: Record<string, unknown>, file: string): KerasTopology {
  const mc = isObj(topology['model_config']) ? (topology['model_config'] as Record<string, unknown>) : topology
  const kv = topology['keras_version'] ?? mc['keras_version']
  const kerasVersion = typeof kv === 'string' ? kv : undefined
  const cls = mc['class_name']
  const bad = (field: string, msg: string): CheckpointError =>
    new CheckpointError('TFJS_BAD_TOPOLOGY', `${file}: modelTopology ${field} ${msg}`, HINT_REEXPORT)
  if (cls === 'Sequential') return sequentialTopology(mc['config'], kerasVersion, file)
  if (cls !== 'Model' && cls !== 'Functional') {
    throw bad('class_name', `is ${JSON.stringify(cls)}; finetune reads Keras "Model"/"Functional" and "Sequential" models`)
  }
  const config = mc['config']
  if (!isObj(config) || !Array.isArray(config['layers'])) throw bad('config.layers', 'is missing')
  const layers: KerasLayerSpec[] = []
  const issues = new IssueList()
  ;(config['layers'] as unknown[]).forEach((l, i) => {
    const spec = parseLayer(l, `layers[${i}]`, issues, true)
    if (spec) layers.push(spec)
  })
  const inputs = parseRefs(config['input_layers'], 'input_layers', issues)
  const outputs = parseRefs(config['output_layers'], 'output_layers', issues)
  const names = new Set(layers.map((l) => l.name))
  for (const l of layers) for (const node of l.inbound) for (const r of node) if (!names.has(r[0])) issues.add(`layers["${l.name}"].inbound_nodes`, `reads layer "${r[0]}", which the model does not have`)
  for (const r of [...inputs, ...outputs]) if (!names.has(r[0])) issues.add('input_layers/output_layers', `name layer "${r[0]}", which the model does not have`)
  throwIssues(issues, 'TFJS_BAD_TOPOLOGY', `${file} (modelTopology)`, HINT_REEXPORT)
  return { className: 'Functional', name: typeof config['name'] === 'string' ? config['name'] : 'model', layers, inputs, outputs, kerasVersion }
}

function sequentialTopology(config: unknown, kerasVersion: string | undefined, file: string): KerasTopology {
  // Keras before 2.2.5 wrote a Sequential config as the bare list of layers.
  const list = Array.isArray(config) ? config : isObj(config) ? config['layers'] : undefined
  if (!Array.isArray(list) || list.length === 0) throw new CheckpointError('TFJS_BAD_TOPOLOGY', `${file}: the Sequential model has no layers`, HINT_REEXPORT)
  const issues = new IssueList()
  const parsed: KerasLayerSpec[] = []
  list.forEach((l, i) => {
    const spec = parseLayer(l, `layers[${i}]`, issues, false)
    if (spec) parsed.push(spec)
  })
  throwIssues(issues, 'TFJS_BAD_TOPOLOGY', `${file} (modelTopology)`, HINT_REEXPORT)
  const layers: KerasLayerSpec[] = []
  let first = parsed[0]!
  if (first.className !== 'InputLayer') {
    const c = first.config
    const shape = c['batch_input_shape'] ?? c['batch_shape'] ?? (Array.isArray(c['input_shape']) ? [null, ...(c['input_shape'] as unknown[])] : undefined)
    if (!Array.isArray(shape)) {
      throw new CheckpointError('TFJS_BAD_TOPOLOGY', `${file}: the first layer of the Sequential model ("${first.name}") has no batch_input_shape, so the input shape is unknown`, 'build the model with an input shape (keras.Input or input_shape=...) before saving it')
    }
    first = { className: 'InputLayer', name: `${first.name}_input`, config: { batch_input_shape: shape, dtype: c['dtype'] ?? 'float32' }, inbound: [] }
    layers.push(first)
  } else layers.push({ ...first, inbound: [] })
  let prev = first.name
  for (const l of parsed.slice(first === parsed[0] ? 1 : 0)) {
    layers.push({ ...l, inbound: [[[prev, 0, 0]]] })
    prev = l.name
  }
  const name = isObj(config) && typeof config['name'] === 'string' ? config['name'] : 'sequential'
  return { className: 'Sequential', name, layers, inputs: [[first.name, 0, 0]], outputs: [[prev, 0, 0]], kerasVersion }
}

function parseLayer(l: unknown, at: string, issues: IssueList, functional: boolean): KerasLayerSpec | null {
  if (!isObj(l)) {
    issues.add(at, 'must be an object {class_name, config}')
    return null
  }
  const cls = l['class_name']
  const config = l['config']
  const name = l['name'] ?? (isObj(config) ? config['name'] : undefined)
  if (typeof cls !== 'string') issues.add(`${at}.class_name`, 'must be a string')
  if (!isObj(config)) issues.add(`${at}.config`, 'must be an object')
  if (typeof name !== 'string' || name === '') issues.add(`${at}.name`, 'must be a non-empty string')
  const inbound: KerasRef[][] = []
  if (functional) {
    const nodes = l['inbound_nodes'] ?? []
    if (!Array.isArray(nodes)) issues.add(`${at}.inbound_nodes`, 'must be a list')
    else for (const [ni, node] of nodes.entries()) {
      const refs = nodeRefs(node)
      if (!refs) issues.add(`${at}.inbound_nodes[${ni}]`, `is not a Keras 2 ([[name, node, tensor, kwargs], ...]) or Keras 3 ({args, kwargs}) node: ${JSON.stringify(node).slice(0, 120)}`)
      else inbound.push(refs)
    }
  }
  if (typeof cls !== 'string' || !isObj(config) || typeof name !== 'string') return null
  return { className: cls, name, config, inbound }
}

const isRef = (v: unknown): v is [string, number, number] =>
  Array.isArray(v) && v.length >= 3 && typeof v[0] === 'string' && Number.isInteger(v[1]) && Number.isInteger(v[2])

/** The tensors one call reads: Keras 2 writes a list of refs, Keras 3 `{args, kwargs}` with `keras_history`. */
function nodeRefs(node: unknown): KerasRef[] | null {
  if (Array.isArray(node)) return node.every(isRef) ? node.map((r) => [r[0], r[1], r[2]] as const) : null
  if (!isObj(node) || !Array.isArray(node['args'])) return null
  const out: KerasRef[] = []
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) return v.forEach(walk)
    if (!isObj(v)) return
    const cfg = v['config']
    if (v['class_name'] === '__keras_tensor__' && isObj(cfg) && isRef(cfg['keras_history'])) {
      const h = cfg['keras_history'] as [string, number, number]
      out.push([h[0], h[1], h[2]])
    }
  }
  walk(node['args'])
  return out
}

function parseRefs(v: unknown, at: string, issues: IssueList): KerasRef[] {
  if (isRef(v)) return [[v[0], v[1], v[2]]] // Keras 3 writes a single ref unwrapped
  if (Array.isArray(v) && v.length > 0 && v.every(isRef)) return v.map((r) => [r[0], r[1], r[2]] as const)
  issues.add(at, `must be a list of [layer, node, tensor] references, got ${JSON.stringify(v)}`)
  return []
}

// ---------------------------------------------------------------------------------------------
// weights

const QUANT_BYTES: Readonly<Record<TfjsQuantizedDType, number>> = { uint8: 1, uint16: 2, float16: 2 }

/** Bytes one weight takes in its shard group. */
export function weightByteLength(w: TfjsWeightSpec): number {
  const n = w.shape.reduce((a, b) => a * b, 1)
  return n * (w.quantization ? QUANT_BYTES[w.quantization.dtype] : 4)
}

/**
 * Decodes the weights of one group from its shards (concatenated in `paths` order, as the
 * converter splits them). Values come back as float32; int32 weights are converted.
 */
export function decodeWeightGroup(group: TfjsWeightGroup, shards: readonly Uint8Array[], file: string): TfjsWeight[] {
  const total = shards.reduce((a, s) => a + s.byteLength, 0)
  const need = group.weights.reduce((a, w) => a + weightByteLength(w), 0)
  if (total !== need) {
    throw new CheckpointError(
      'TFJS_SHARD_SIZE',
      `${file}: the shards ${group.paths.join(', ')} hold ${total} bytes, the manifest's ${group.weights.length} weights need ${need}`,
      total < need ? 'a shard looks truncated: download or copy the model files again' : 'the shards do not belong to this model.json; copy the files of one export together',
    )
  }
  const bytes = shards.length === 1 ? shards[0]! : concatBytes(shards, total)
  const out: TfjsWeight[] = []
  let off = 0
  for (const w of group.weights) {
    const len = weightByteLength(w)
    out.push({ name: w.name, shape: w.shape, dtype: w.dtype, data: decodeWeight(w, bytes.subarray(off, off + len)) })
    off += len
  }
  return out
}

function decodeWeight(w: TfjsWeightSpec, bytes: Uint8Array): Float32Array {
  const q = w.quantization
  // copy so typed views are aligned whatever the weight's offset in its shard
  const buf = bytes.slice().buffer
  if (!q) return w.dtype === 'float32' ? new Float32Array(buf) : Float32Array.from(new Int32Array(buf))
  if (q.dtype === 'float16') return f16ToF32(new Uint16Array(buf))
  const src = q.dtype === 'uint8' ? new Uint8Array(buf) : new Uint16Array(buf)
  const out = new Float32Array(src.length)
  const { scale, min } = q as { scale: number; min: number }
  // the same double-precision expression tfjs-core evaluates, so the float32 values agree bit for bit
  if (w.dtype === 'float32') for (let i = 0; i < src.length; i++) out[i] = src[i]! * scale + min
  else for (let i = 0; i < src.length; i++) out[i] = Math.round(src[i]! * scale + min)
  return out
}

function concatBytes(parts: readonly Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total)
  let o = 0
  for (const p of parts) {
    out.set(p, o)
    o += p.byteLength
  }
  return out
}

/**
 * Reads a Layers model given its parsed model.json and a function that returns a shard's bytes by
 * its manifest path (relative to model.json). Works with files, `fetch` or in-memory bundles.
 */
export async function readTfjsLayersModel(raw: unknown, file: string, readShard: (path: string) => Promise<Uint8Array>): Promise<TfjsLayersModel> {
  const json = parseTfjsModelJson(raw, file)
  const topology = parseKerasTopology(json.modelTopology, file)
  const weights = new Map<string, TfjsWeight>()
  for (const g of json.weightsManifest) {
    const shards: Uint8Array[] = []
    for (const p of g.paths) shards.push(await readShard(p))
    const bad: NonFinite[] = []
    for (const w of decodeWeightGroup(g, shards, file)) {
      if (weights.has(w.name)) throw new CheckpointError('TFJS_DUPLICATE_WEIGHT', `${file}: the weights manifest lists "${w.name}" twice`, HINT_REEXPORT)
      weights.set(w.name, w)
      const b = w.dtype === 'float32' ? countNonFinite(w.name, w.data) : null
      if (b) bad.push(b)
    }
    if (bad.length) throw nonFiniteError(`${file} (weights in ${g.paths.join(', ')})`, bad, 'model')
  }
  const out: TfjsLayersModel = { file, topology, weights }
  if (json.userDefinedMetadata) {
    out.metadata = json.userDefinedMetadata
    const names = json.userDefinedMetadata['classNames'] ?? json.userDefinedMetadata['labels']
    if (Array.isArray(names) && names.every((n) => typeof n === 'string')) out.classNames = names as string[]
  }
  return out
}

// ---------------------------------------------------------------------------------------------
// JavaScript bundles (model.json and shards shipped as JS modules)

const B64 = new Int16Array(256).fill(-1)
for (let i = 0; i < 64; i++) B64['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'.charCodeAt(i)] = i
B64['-'.charCodeAt(0)] = 62
B64['_'.charCodeAt(0)] = 63

/** Decodes standard or URL-safe base64 (padding optional, whitespace ignored). */
export function decodeBase64(s: string, what = 'base64 text'): Uint8Array {
  const out = new Uint8Array(Math.floor((s.length * 3) / 4))
  let acc = 0
  let bits = 0
  let o = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c === 61) break // '='
    const v = c < 256 ? B64[c]! : -1
    if (v < 0) {
      if (c === 32 || c === 10 || c === 13 || c === 9) continue
      throw new CheckpointError('TFJS_BAD_BASE64', `${what} has a character that is not base64 (${JSON.stringify(s[i])}) at offset ${i}`, 'the bundle looks corrupt; reinstall the package that ships it')
    }
    acc = (acc << 6) | v
    bits += 6
    if (bits >= 8) {
      bits -= 8
      out[o++] = (acc >> bits) & 255
    }
  }
  return out.subarray(0, o)
}

/**
 * The value a JavaScript module exports as a literal: `module.exports = {...}` (also inside a
 * browserify/UMD wrapper, as nsfwjs ships its models), `export default ...` or `NAME = ...`.
 * The literal is parsed as data (objects, arrays, strings, numbers, `!0`/`!1`, null); no code runs.
 */
export function parseJsModuleLiteral(text: string, file: string, assignedTo?: string): unknown {
  const re = assignedTo ? new RegExp(`\\b${assignedTo}\\s*=\\s*(?=[{["'])`, 'g') : /(?:\.exports\s*=|export\s+default)\s*(?=[{["'])/g
  const m = re.exec(text)
  if (!m) {
    throw new CheckpointError(
      'TFJS_BAD_BUNDLE',
      `${file} does not export a literal (${assignedTo ? `no "${assignedTo} = {...}"` : 'no "module.exports = ..." or "export default ..." followed by an object, array or string'})`,
      'pass the folder with model.json and its .bin shards instead',
    )
  }
  const p = new LiteralParser(text, m.index + m[0].length, file)
  return p.value()
}

class LiteralParser {
  constructor(private readonly s: string, private i: number, private readonly file: string) {}
  #fail(what: string): never {
    throw new CheckpointError('TFJS_BAD_BUNDLE', `${this.file}: cannot read the exported literal at offset ${this.i}: ${what} (near ${JSON.stringify(this.s.slice(this.i, this.i + 40))})`, 'the bundle is not a plain data module; pass the folder with model.json and its .bin shards instead')
  }
  #ws(): void {
    while (this.i < this.s.length && /\s/.test(this.s[this.i]!)) this.i++
  }
  value(): unknown {
    this.#ws()
    const c = this.s[this.i]
    if (c === '{') return this.#object()
    if (c === '[') return this.#array()
    if (c === '"' || c === "'") return this.#string()
    if (c === '!') {
      // minifiers write true/false as !0/!1
      const t = this.s.slice(this.i, this.i + 2)
      if (t === '!0' || t === '!1') {
        this.i += 2
        return t === '!0'
      }
    }
    const word = /^(?:true|false|null|void 0|undefined)\b/.exec(this.s.slice(this.i, this.i + 9))
    if (word) {
      this.i += word[0].length
      return word[0] === 'true' ? true : word[0] === 'false' ? false : null
    }
    const num = /^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?/.exec(this.s.slice(this.i, this.i + 40))
    if (num) {
      this.i += num[0].length
      return Number(num[0])
    }
    return this.#fail('expected a value')
  }
  #object(): Record<string, unknown> {
    const out: Record<string, unknown> = {}
    this.i++
    for (;;) {
      this.#ws()
      if (this.s[this.i] === '}') {
        this.i++
        return out
      }
      let key: string
      const c = this.s[this.i]
      if (c === '"' || c === "'") key = this.#string()
      else {
        const k = /^[A-Za-z_$0-9][\w$]*/.exec(this.s.slice(this.i, this.i + 256))
        if (!k) return this.#fail('expected a key')
        key = k[0]
        this.i += key.length
      }
      this.#ws()
      if (this.s[this.i] !== ':') return this.#fail('expected ":"')
      this.i++
      out[key] = this.value()
      this.#ws()
      if (this.s[this.i] === ',') this.i++
      else if (this.s[this.i] !== '}') return this.#fail('expected "," or "}"')
    }
  }
  #array(): unknown[] {
    const out: unknown[] = []
    this.i++
    for (;;) {
      this.#ws()
      if (this.s[this.i] === ']') {
        this.i++
        return out
      }
      out.push(this.value())
      this.#ws()
      if (this.s[this.i] === ',') this.i++
      else if (this.s[this.i] !== ']') return this.#fail('expected "," or "]"')
    }
  }
  #string(): string {
    const q = this.s[this.i]!
    const start = ++this.i
    // fast path: no escapes (base64 shards are megabytes long)
    const end = this.s.indexOf(q, start)
    if (end < 0) return this.#fail('unterminated string')
    const plain = this.s.slice(start, end)
    if (!plain.includes('\\')) {
      this.i = end + 1
      return plain
    }
    let out = ''
    for (;;) {
      const c = this.s[this.i]
      if (c === undefined) return this.#fail('unterminated string')
      this.i++
      if (c === q) return out
      if (c !== '\\') {
        out += c
        continue
      }
      const e = this.s[this.i++]
      if (e === 'u') {
        out += String.fromCharCode(parseInt(this.s.slice(this.i, this.i + 4), 16))
        this.i += 4
      } else if (e === 'x') {
        out += String.fromCharCode(parseInt(this.s.slice(this.i, this.i + 2), 16))
        this.i += 2
      } else out += ({ n: '\n', t: '\t', r: '\r', b: '\b', f: '\f', v: '\v', '0': '\0' } as Record<string, string>)[e!] ?? e
    }
  }
}
