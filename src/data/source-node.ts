/**
 * Node file access for the data layer: files as DataSources (streamed for the indexing pass, read
 * by position afterwards through one open handle), row indexes cached on disk, and
 * `loadTextDataFiles` that opens the files named by `--data` / `--validation`.
 */
import { createReadStream } from 'node:fs'
import { open, readdir, readFile, stat, writeFile, type FileHandle } from 'node:fs/promises'
import { basename, dirname } from 'node:path'
import { fileError } from './errors.js'
import { loadTextData, type ExampleFor, type TextDataOptions, type TextDataset } from './dataset.js'
import type { TextTask } from './columns.js'
import { buildRowIndex, deserializeRowIndex, serializeRowIndex, type RowIndex } from './row-index.js'
import type { DataSource } from './source.js'
import type { TableOptions } from './table.js'

/** A file as a DataSource. Throws DATA_FILE_MISSING (with similar names nearby) or DATA_EMPTY. */
export async function fileSource(path: string, opts: { allowEmpty?: boolean } = {}): Promise<DataSource> {
  let size: number
  try {
    const st = await stat(path)
    if (!st.isFile()) throw fileError('DATA_NOT_A_FILE', path, 'is not a file', 'point at a data file, not a directory')
    size = st.size
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e
    throw fileError('DATA_FILE_MISSING', path, 'does not exist', await nearbyHint(path))
  }
  if (size === 0 && !opts.allowEmpty) throw fileError('DATA_EMPTY', path, 'is empty (0 bytes)', 'point --data at a file with at least one example')
  let handle: Promise<FileHandle> | undefined
  return {
    name: path,
    size,
    async *stream(start = 0) {
      for await (const chunk of createReadStream(path, { start, highWaterMark: 1 << 16 })) yield chunk as Uint8Array
    },
    async read(offset, length) {
      handle ??= open(path, 'r')
      const h = await handle
      const buf = new Uint8Array(length)
      let got = 0
      while (got < length) {
        const { bytesRead } = await h.read(buf, got, length - got, offset + got)
        if (bytesRead === 0) break
        got += bytesRead
      }
      return got === length ? buf : buf.subarray(0, got)
    },
    async close() {
      if (handle) {
        const h = handle
        handle = undefined
        await (await h).close()
      }
    },
  }
}

/** Lists data files next to a missing one, so a typo is quick to fix. */
async function nearbyHint(path: string): Promise<string> {
  try {
    const want = basename(path)
    const files = (await readdir(dirname(path)))
      .filter((f) => /\.(csv|tsv|tab|jsonl|ndjson|json|conll|txt)$/i.test(f))
      .map((f) => ({ f, d: editDistance(f, want) }))
      .sort((a, b) => a.d - b.d || (a.f < b.f ? -1 : 1))
      .map((x) => x.f)
    if (files.length) return `data files in ${dirname(path)}, closest names first: ${files.slice(0, 5).join(', ')}${files.length > 5 ? ', ...' : ''}`
  } catch {
    // the directory is missing too
  }
  return `check the path (${basename(path)} in ${dirname(path)})`
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const cur = [i]
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
    prev = cur
  }
  return prev[b.length]!
}

/**
 * Opens `--data` (and `--validation`) and loads them for `opts.task`; close the result when done.
 */
export async function loadTextDataFiles<T extends TextTask>(
  data: string,
  validation: string | undefined,
  opts: TextDataOptions<T>,
): Promise<TextDataset<ExampleFor<T>>> {
  const train = await fileSource(data)
  const val = validation === undefined ? undefined : await fileSource(validation)
  try {
    return await loadTextData(train, val, opts)
  } catch (e) {
    await train.close?.()
    await val?.close?.()
    throw e
  }
}

/**
 * The row index of `path`, read from `cachePath` when that was built for a file of the same size
 * and options, else built in one pass and written there.
 */
export async function cachedRowIndex(path: string, cachePath: string, opts: TableOptions = {}): Promise<RowIndex> {
  const source = await fileSource(path)
  try {
    const cached = deserializeRowIndex(new Uint8Array(await readFile(cachePath)))
    if (cached.size === source.size && cached.file === path && JSON.stringify(cached.options) === JSON.stringify({ ...cached.options, ...opts })) return cached
  } catch {
    // missing or unreadable: rebuild
  }
  const index = await buildRowIndex(source, opts)
  await writeFile(cachePath, serializeRowIndex(index))
  return index
}
