import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import sharp from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadImageData } from './image-data-node.js'
import type { Preprocessing } from './image-preprocessing.js'
import { patternImage } from '../../test/fixtures/images/fixtures.js'

// A real gc() lets the test measure what is retained, not garbage waiting for collection.
setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void
const settle = async (): Promise<void> => {
  for (let k = 0; k < 3; k++) {
    gc()
    await new Promise((r) => setTimeout(r, 10))
  }
}

const IMAGES = 3000
const CLASSES = 4
const W = 96
const H = 72
const pre: Preprocessing = { resize: { shortestEdge: 80 }, crop: { height: 64, width: 64 }, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], interpolation: 'bilinear', rescaleFactor: 1 / 255 }
let dir = ''

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ft-imgmem-'))
  for (let c = 0; c < CLASSES; c++) await mkdir(join(dir, `class${c}`))
  const pending: Promise<unknown>[] = []
  for (let i = 0; i < IMAGES; i++) {
    const img = patternImage(W, H, i)
    pending.push(sharp(img.data, { raw: { width: W, height: H, channels: 3 } }).png({ compressionLevel: 1 }).toFile(join(dir, `class${i % CLASSES}`, `${i}.png`)))
    if (pending.length >= 64) await Promise.all(pending.splice(0))
  }
  await Promise.all(pending)
})

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true })
})

describe('streaming thousands of images through the worker pool', () => {
  it('keeps heap and RSS flat while every image is decoded and transformed', async () => {
    const ds = await loadImageData({ data: dir, preprocessing: pre, workers: 2, prefetch: 2, validationFraction: 0, seed: 3 })
    expect(ds.train.length).toBe(IMAGES)
    const batchSize = 32
    const perImage = 3 * 64 * 64 * 4
    let base: { heap: number; rss: number } | undefined
    let peakHeap = 0
    let peakRss = 0
    let seen = 0
    let b = 0
    for await (const batch of ds.train.batches(0, 0, { batchSize, train: true })) {
      seen += batch.shape[0]
      b++
      // the first batches start the workers and compile the code paths; measure from there
      if (b === 10) {
        await settle()
        const m = process.memoryUsage()
        base = { heap: m.heapUsed + m.arrayBuffers, rss: m.rss }
      } else if (base && b % 10 === 0) {
        await settle()
        const m = process.memoryUsage()
        peakHeap = Math.max(peakHeap, m.heapUsed + m.arrayBuffers - base.heap)
        peakRss = Math.max(peakRss, m.rss - base.rss)
      }
    }
    await ds.close()
    expect(seen).toBe(IMAGES)
    const produced = IMAGES * perImage // 147 MB of tensors, plus 62 MB of decoded pixels
    // the main thread holds a few batches (32 x 49 KB each) at a time
    expect(peakHeap).toBeLessThan(16e6)
    // RSS covers the worker threads and libvips too; it must not follow the data through
    expect(peakRss).toBeLessThan(64e6)
    expect(peakRss).toBeLessThan(produced / 2)
  })
})
