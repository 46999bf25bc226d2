/**
 * TF.js Layers models on disk. Accepts a folder or a file:
 * - `model.json` with its `.bin` shards beside it (what tensorflowjs_converter and `model.save`
 *   write);
 * - a JavaScript bundle, `model.min.js`/`model.js` with shards `group1-shard1of1.min.js`, ... whose
 *   exports are the model.json literal and base64 strings (how nsfwjs 4 ships its models);
 *   bundles are parsed as data, never executed.
 * Class names come from model.json's userDefinedMetadata, a Teachable Machine `metadata.json`
 * beside the model (`labels`), or, for models inside the nsfwjs package, its NSFW_CLASSES table.
 */
import { readFile, stat } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { CheckpointError } from '../errors.js'
import { readJsonFile } from './io-node.js'
import { decodeBase64, parseJsModuleLiteral, readTfjsLayersModel, type TfjsLayersModel } from './tfjs.js'

const BUNDLE_NAMES = ['model.min.js', 'model.js']

async function kind(path: string): Promise<'file' | 'dir' | null> {
  try {
    return (await stat(path)).isDirectory() ? 'dir' : 'file'
  } catch {
    return null
  }
}

async function readBytes(path: string, what: string): Promise<Uint8Array> {
  try {
    const b = await readFile(path)
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength)
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    throw new CheckpointError(
      code === 'ENOENT' ? 'TFJS_SHARD_MISSING' : 'TFJS_READ',
      code === 'ENOENT' ? `${what} ${path} does not exist` : `cannot read ${what} ${path}: ${(e as Error).message}`,
      'copy every file the model.json weightsManifest names into the folder beside it',
    )
  }
}

/** Which file holds the model: `path` itself, or model.json / a bundle inside the folder `path`. */
async function modelFile(path: string): Promise<string> {
  const k = await kind(path)
  if (k === 'file') return path
  if (k === 'dir') {
    for (const n of ['model.json', ...BUNDLE_NAMES]) if ((await kind(join(path, n))) === 'file') return join(path, n)
    throw new CheckpointError('TFJS_NOT_FOUND', `${path} has no model.json (nor ${BUNDLE_NAMES.join(' or ')})`, 'pass the folder a TF.js Layers model was saved to, or the model.json file itself')
  }
  throw new CheckpointError('TFJS_NOT_FOUND', `TF.js model ${path} does not exist`, 'pass the folder a TF.js Layers model was saved to, or its model.json')
}

/** A shard named in the manifest, or its bundled form (`<path>.min.js`, `<path>.js`). */
async function readShard(dir: string, rel: string, file: string): Promise<Uint8Array> {
  const p = resolve(dir, rel)
  if ((await kind(p)) === 'file') return readBytes(p, 'weight shard')
  for (const ext of ['.min.js', '.js']) {
    if ((await kind(p + ext)) !== 'file') continue
    const text = await readFile(p + ext, 'utf8')
    const v = parseJsModuleLiteral(text, p + ext)
    if (typeof v !== 'string') throw new CheckpointError('TFJS_BAD_BUNDLE', `${p + ext} exports ${Array.isArray(v) ? 'an array' : typeof v}, expected a base64 string of shard bytes`, 'pass the folder with model.json and its .bin shards instead')
    return decodeBase64(v, p + ext)
  }
  throw new CheckpointError('TFJS_SHARD_MISSING', `weight shard ${p} named by ${file} does not exist`, 'copy every file the model.json weightsManifest names into the folder beside it')
}

/** Reads a TF.js Layers model from a folder, a model.json, or a bundled model.min.js. */
export async function readTfjsLayersModelFile(path: string): Promise<TfjsLayersModel> {
  const file = await modelFile(path)
  const dir = dirname(file)
  const raw = file.endsWith('.js') ? parseJsModuleLiteral(await readFile(file, 'utf8'), file) : await readJsonFile(file, 'TF.js model')
  const model = await readTfjsLayersModel(raw, file, (rel) => readShard(dir, rel, file))
  if (!model.classNames) {
    const names = (await teachableMachineLabels(dir)) ?? (await nsfwjsClassNames(dir))
    if (names) model.classNames = names
  }
  return model
}

async function teachableMachineLabels(dir: string): Promise<string[] | undefined> {
  const p = join(dir, 'metadata.json')
  if ((await kind(p)) !== 'file') return undefined
  const meta = (await readJsonFile(p, 'model metadata')) as { labels?: unknown } | null
  const labels = meta?.labels
  return Array.isArray(labels) && labels.every((l) => typeof l === 'string') ? labels : undefined
}

/** nsfwjs keeps its labels in dist/esm/nsfw_classes.js, apart from the models. */
async function nsfwjsClassNames(dir: string): Promise<string[] | undefined> {
  let d = resolve(dir)
  for (let up = 0; up < 4; up++, d = dirname(d)) {
    const pkg = join(d, 'package.json')
    if ((await kind(pkg)) !== 'file') continue
    const json = JSON.parse(await readFile(pkg, 'utf8')) as { name?: unknown }
    if (json.name !== 'nsfwjs') continue
    const src = join(d, 'dist', 'esm', 'nsfw_classes.js')
    if ((await kind(src)) !== 'file') return undefined
    const table = parseJsModuleLiteral(await readFile(src, 'utf8'), src, 'NSFW_CLASSES') as Record<string, unknown>
    const names = Object.keys(table).sort((a, b) => Number(a) - Number(b)).map((k) => table[k])
    return names.every((n) => typeof n === 'string') ? (names as string[]) : undefined
  }
  return undefined
}
