/**
 * Safetensors files on disk: a ByteSource over a file handle (positional reads, nothing held in
 * memory), single files, and sharded checkpoints described by model.safetensors.index.json.
 */
import { open, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { CheckpointError } from '../errors.js'
import { readJsonFile } from './io-node.js'
import { missingTensor, openSafetensors } from './safetensors.js'
import type { ByteSource, LoadedTensor, SafetensorsFile } from './safetensors.js'

/** The index file a sharded Hugging Face checkpoint keeps next to its shards. */
export const SHARD_INDEX = 'model.safetensors.index.json'

const notFound = (path: string, what: string): CheckpointError =>
  new CheckpointError('CHECKPOINT_NOT_FOUND', `${what} ${path} does not exist`, 'check the path, or download the checkpoint again if a file is missing')

/** A ByteSource reading `path` with positional reads through one file handle; close it when done. */
export async function fileSource(path: string): Promise<ByteSource & { close(): Promise<void> }> {
  let fh
  try {
    fh = await open(path, 'r')
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    if (code === 'ENOENT') throw notFound(path, 'checkpoint file')
    throw new CheckpointError('CHECKPOINT_READ', `cannot open ${path}: ${(e as Error).message}`, 'check the file exists and is readable')
  }
  const handle = fh
  const { size } = await handle.stat()
  return {
    size,
    name: path,
    async read(offset: number, length: number): Promise<Uint8Array> {
      const out = new Uint8Array(length)
      let done = 0
      while (done < length) {
        const { bytesRead } = await handle.read(out, done, length - done, offset + done)
        if (bytesRead === 0) {
          throw new CheckpointError(
            'CHECKPOINT_TRUNCATED',
            `${path} ended after ${offset + done} bytes while reading ${length} bytes at offset ${offset}; the file looks truncated or corrupt (or changed while being read)`,
            'download or export it again',
          )
        }
        done += bytesRead
      }
      return out
    },
    close: () => handle.close(),
  }
}

/** Opens one .safetensors file: reads and checks its header; tensors are read on demand. */
export async function openSafetensorsFile(path: string): Promise<SafetensorsFile> {
  const src = await fileSource(path)
  try {
    return await openSafetensors(src)
  } catch (e) {
    await src.close()
    throw e
  }
}

/**
 * Opens a sharded checkpoint folder (model.safetensors.index.json plus its shards) as one file:
 * keys across all shards, each tensor read lazily from the shard that holds it.
 */
export async function openShardedSafetensors(dir: string): Promise<SafetensorsFile> {
  const indexPath = join(dir, SHARD_INDEX)
  const index = await readJsonFile(indexPath, 'shard index')
  const weightMap = (index as { weight_map?: unknown } | null)?.weight_map
  if (typeof weightMap !== 'object' || weightMap === null || Array.isArray(weightMap)) {
    throw new CheckpointError('CHECKPOINT_BAD_INDEX', `${indexPath} has no "weight_map" object`, 'download or export the checkpoint again')
  }
  const wanted = new Map<string, string>() // tensor -> shard file
  for (const [k, v] of Object.entries(weightMap)) {
    if (typeof v !== 'string' || v === '' || v.includes('/') || v.includes('\\')) {
      throw new CheckpointError('CHECKPOINT_BAD_INDEX', `${indexPath}: weight_map["${k}"] is ${JSON.stringify(v)}, expected a shard file name in the same folder`, 'download or export the checkpoint again')
    }
    wanted.set(k, v)
  }
  const shardNames = [...new Set(wanted.values())]
  const missing: string[] = []
  for (const s of shardNames) {
    if (!(await stat(join(dir, s)).then((st) => st.isFile(), () => false))) missing.push(s)
  }
  if (missing.length) {
    throw new CheckpointError(
      'CHECKPOINT_MISSING_SHARD',
      `${indexPath} lists ${shardNames.length} shard files, but ${missing.length} ${missing.length === 1 ? 'is' : 'are'} missing from ${dir}: ${missing.join(', ')}`,
      'download the missing shard files (an interrupted download often leaves some out)',
    )
  }
  const shards = new Map<string, SafetensorsFile>()
  try {
    for (const s of shardNames) shards.set(s, await openSafetensorsFile(join(dir, s)))
  } catch (e) {
    await Promise.all([...shards.values()].map((f) => f.close()))
    throw e
  }
  // Every tensor the index promises must be where it says; tensors a shard has beyond the index
  // are included too, as the reference loaders do, unless two shards claim the same name.
  const where = new Map<string, SafetensorsFile>()
  const fail = async (message: string): Promise<never> => {
    await Promise.all([...shards.values()].map((f) => f.close()))
    throw new CheckpointError('CHECKPOINT_BAD_INDEX', message, 'download or export the checkpoint again')
  }
  for (const [k, s] of wanted) {
    const f = shards.get(s)!
    if (!f.has(k)) await fail(`${indexPath} says tensor "${k}" is in ${s}, but ${s} has no such tensor`)
    where.set(k, f)
  }
  for (const [s, f] of shards) {
    for (const k of f.keys()) {
      const owner = where.get(k)
      if (owner && owner !== f) await fail(`tensor "${k}" is in both ${owner.name} and ${join(dir, s)}`)
      where.set(k, f)
    }
  }
  const metadata: Record<string, string> = {}
  for (const f of [...shards.values()].reverse()) Object.assign(metadata, f.metadata)
  const keys = [...where.keys()]
  const shardOf = (name: string): SafetensorsFile => {
    const f = where.get(name)
    if (!f) throw missingTensor(dir, name, keys)
    return f
  }
  return {
    name: dir,
    metadata,
    keys: () => [...keys],
    has: (name) => where.has(name),
    info: (name) => shardOf(name).info(name),
    read: async (name): Promise<LoadedTensor> => shardOf(name).read(name),
    readAsFloat32: async (name) => shardOf(name).readAsFloat32(name),
    fileOf: (name) => shardOf(name).name,
    close: async () => {
      await Promise.all([...shards.values()].map((f) => f.close()))
    },
  }
}
