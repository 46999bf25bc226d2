/**
 * File writing that never leaves a half-written checkpoint behind, and JSON reading whose errors
 * name the file and the spot. Node only.
 */
import { mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { CheckpointError, FinetuneError } from '../errors.js'
import { safetensorsChunks } from './safetensors.js'
import type { TensorToWrite } from './safetensors.js'

type ErrorClass = new (code: string, message: string, hint?: string) => FinetuneError

const errno = (e: unknown): string | undefined => (e as NodeJS.ErrnoException | undefined)?.code

async function writeAll(fh: FileHandle, chunk: Uint8Array): Promise<void> {
  let done = 0
  while (done < chunk.length) {
    const { bytesWritten } = await fh.write(chunk, done, chunk.length - done)
    done += bytesWritten
  }
}

/**
 * Writes `path` so that it is either the old file or the complete new one: the content goes to a
 * temporary file in the same folder, is flushed to disk, and then renamed over `path`. Chunks are
 * written one by one (an iterable is pulled lazily), so a large file is never concatenated in memory.
 */
export async function writeFileAtomic(path: string, content: Iterable<Uint8Array> | string): Promise<void> {
  const dir = dirname(path)
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${Math.random().toString(36).slice(2, 10)}.tmp`)
  let fh: FileHandle | undefined
  try {
    fh = await open(tmp, 'wx')
    if (typeof content === 'string') await writeAll(fh, new TextEncoder().encode(content))
    else for (const chunk of content) await writeAll(fh, chunk)
    await fh.sync()
    await fh.close()
    fh = undefined
    await rename(tmp, path)
  } catch (e) {
    await fh?.close().catch(() => {})
    await unlink(tmp).catch(() => {})
    if (e instanceof FinetuneError) throw e
    const code = errno(e)
    throw new CheckpointError(
      'IO_WRITE',
      `could not write ${path}: ${(e as Error).message}`,
      code === 'ENOSPC'
        ? 'free some disk space and try again'
        : code === 'EACCES' || code === 'EPERM' || code === 'EROFS'
          ? `make ${dir} writable or choose another output folder`
          : code === 'ENOENT'
            ? `create the folder ${dir} first`
            : 'check the path and try again; any previous file there is unchanged',
    )
  }
  // Make the rename itself durable; not every platform can open a folder for fsync, which is fine.
  try {
    const d = await open(dir, 'r')
    await d.sync().finally(() => d.close())
  } catch {
    // best effort
  }
}

/** Writes a safetensors file atomically, streaming one tensor at a time. */
export async function writeSafetensorsFile(
  path: string,
  tensors: Iterable<readonly [string, TensorToWrite]>,
  metadata?: Record<string, string>,
): Promise<void> {
  const { header, data } = safetensorsChunks(tensors, metadata)
  await writeFileAtomic(path, (function* () {
    yield header
    yield* data
  })())
}

/**
 * Offset of the first syntax error in `text`, found by a small JSON scanner: V8's JSON.parse
 * messages do not always give a position, and a line number is what a person needs.
 */
function jsonErrorOffset(text: string): number {
  let i = 0
  const number = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y
  const ws = (): void => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++
  }
  const fail = (): never => {
    throw i
  }
  const str = (): void => {
    i++ // opening quote
    while (i < text.length) {
      const c = text[i]!
      if (c === '"') return void i++
      if (c === '\\') {
        const n = text[i + 1] ?? ''
        if ('"\\/bfnrt'.includes(n) && n !== '') i += 2
        else if (n === 'u' && /^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) i += 6
        else return fail()
      } else if (c < ' ') return fail()
      else i++
    }
    fail()
  }
  const value = (): void => {
    ws()
    const c = text[i]
    if (c === '{' || c === '[') {
      const close = c === '{' ? '}' : ']'
      i++
      ws()
      if (text[i] === close) return void i++
      for (;;) {
        if (c === '{') {
          ws()
          if (text[i] !== '"') fail()
          str()
          ws()
          if (text[i] !== ':') fail()
          i++
        }
        value()
        ws()
        if (text[i] === ',') i++
        else if (text[i] === close) return void i++
        else fail()
      }
    }
    if (c === '"') return str()
    for (const lit of ['true', 'false', 'null']) if (text.startsWith(lit, i)) return void (i += lit.length)
    number.lastIndex = i
    if (number.test(text)) return void (i = number.lastIndex)
    fail()
  }
  try {
    value()
    ws()
    return i < text.length ? i : -1
  } catch (at) {
    return at as number
  }
}

/**
 * Reads and parses a JSON file. `what` says what the file is for ("model config") and appears in
 * errors; `ErrorType` picks the error class (CheckpointError unless given).
 */
export async function readJsonFile(path: string, what: string, ErrorType: ErrorClass = CheckpointError): Promise<unknown> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (e) {
    const code = errno(e)
    if (code === 'ENOENT') {
      throw new ErrorType('FILE_NOT_FOUND', `${what} ${path} does not exist`, `check the path; the ${what} should be at ${path}`)
    }
    if (code === 'EISDIR') throw new ErrorType('FILE_IS_DIR', `${what} ${path} is a folder, expected a JSON file`, 'pass the path of the JSON file itself')
    throw new ErrorType('FILE_READ', `could not read ${what} ${path}: ${(e as Error).message}`, 'check the file exists and is readable')
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1) // a byte-order mark is not JSON but editors write one
  try {
    return JSON.parse(text)
  } catch (e) {
    const at = jsonErrorOffset(text)
    const before = text.slice(0, Math.max(at, 0))
    const where = at < 0 || text.trim() === '' ? '' : ` at line ${before.split('\n').length}, column ${at - before.lastIndexOf('\n')}`
    throw new ErrorType(
      'FILE_BAD_JSON',
      `${what} ${path} is not valid JSON${where}: ${text.trim() === '' ? 'the file is empty' : (e as Error).message}`,
      `fix the JSON at that spot, or download or export the ${what} again`,
    )
  }
}

/** Creates a folder and its parents if missing; errors clearly when a file is in the way. */
export async function ensureDir(path: string): Promise<void> {
  try {
    await mkdir(path, { recursive: true })
  } catch (e) {
    const code = errno(e)
    if (code === 'EEXIST' || code === 'ENOTDIR') {
      const isFile = await stat(path).then((s) => !s.isDirectory(), () => true)
      if (isFile) {
        throw new CheckpointError('IO_NOT_A_DIR', `cannot create folder ${path}: a file is in the way`, 'choose another output folder or move the file')
      }
    }
    throw new CheckpointError('IO_MKDIR', `cannot create folder ${path}: ${(e as Error).message}`, 'check the path and its permissions')
  }
}
