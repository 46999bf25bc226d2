import { describe, expect, it } from 'vitest'
import { BadRows, DataRowError } from './errors.js'
import type { RawImage } from './image.js'
import { InProcessImageProcessor, ImageSplit, type ImageBatch, type ImageExamples, type ImageInput, type ImageJob, type ImageProcessor, type ImageTask, type SplitContext } from './image-dataset.js'
import type { Preprocessing } from './image-preprocessing.js'
import { defaultAugmentation, type TransformSpec } from './image-transforms.js'

// 8x6 gray images whose pixels encode the example id, so every batch can be traced back
const image = (id: number): RawImage => ({ width: 8, height: 6, channels: 1, data: Uint8Array.from({ length: 48 }, (_, k) => (id * 7 + k) & 255) })

class FakeExamples implements ImageExamples {
  constructor(
    readonly length: number,
    readonly broken?: number,
  ) {}
  label(id: number): number {
    return id % 3
  }
  name(id: number): string {
    return `img${id}`
  }
  async inputs(ids: readonly number[]): Promise<ImageInput[]> {
    return ids.map((id) => (id === this.broken ? { kind: 'file', path: 'broken.png' } : { kind: 'raw', image: image(id) }))
  }
}

/** Runs tasks in-process after a random delay each, and records how many tasks were outstanding at most. */
class SlowProcessor implements ImageProcessor {
  outstanding = 0
  maxOutstanding = 0
  readonly #inner = new InProcessImageProcessor(async (path) => {
    throw new DataRowError('DATA_BAD_IMAGE', { file: path }, 'cannot be decoded as an image: test')
  })
  constructor(readonly jitterMs: number) {}
  async run(job: ImageJob, tasks: readonly ImageTask[]): Promise<(Float32Array | DataRowError)[]> {
    this.outstanding += tasks.length
    this.maxOutstanding = Math.max(this.maxOutstanding, this.outstanding)
    await new Promise((r) => setTimeout(r, Math.random() * this.jitterMs))
    const out = await this.#inner.run(job, tasks)
    this.outstanding -= tasks.length
    return out
  }
  async close(): Promise<void> {}
}

const pre: Preprocessing = { resize: { shortestEdge: 6 }, crop: { height: 4, width: 4 }, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25], interpolation: 'bilinear', rescaleFactor: 1 / 255 }

function split(n: number, processor: ImageProcessor, onBadRow: 'error' | 'skip' = 'error', prefetch = 2, broken?: number): { split: ImageSplit; bad: BadRows } {
  const evalSpec: TransformSpec = { preprocessing: pre, size: { height: 4, width: 4 }, augmentation: null }
  const bad = new BadRows(onBadRow)
  const ctx: SplitContext = { processor, evalSpec, trainSpec: { ...evalSpec, augmentation: defaultAugmentation }, alpha: 'drop', seed: 5, prefetch, bad, failed: new WeakMap() }
  return { split: new ImageSplit('train', new FakeExamples(n, broken), Uint32Array.from({ length: n }, (_, i) => i), ctx), bad }
}

async function collect(it: AsyncIterable<ImageBatch>): Promise<ImageBatch[]> {
  const out: ImageBatch[] = []
  for await (const b of it) out.push(b)
  return out
}

describe('image batches', () => {
  it('come in the same order with the same contents whatever the processing timing', async () => {
    const a = await collect(split(40, new SlowProcessor(0)).split.batches(2, 0, { batchSize: 6, train: true }))
    const b = await collect(split(40, new SlowProcessor(15)).split.batches(2, 0, { batchSize: 6, train: true }))
    expect(a.map((x) => x.batch)).toEqual([0, 1, 2, 3, 4, 5, 6])
    expect(b.map((x) => Array.from(x.indices))).toEqual(a.map((x) => Array.from(x.indices)))
    b.forEach((x, i) => expect(x.pixels).toEqual(a[i]!.pixels))
    expect(a[6]!.shape).toEqual([4, 3, 4, 4]) // 40 = 6 * 6 + 4
  })

  it('resume at a batch index with exactly the batches a full epoch has from there', async () => {
    const { split: s } = split(40, new SlowProcessor(3))
    const full = await collect(s.batches(1, 0, { batchSize: 6, train: true }))
    const resumed = await collect(s.batches(1, 4, { batchSize: 6, train: true }))
    expect(resumed.map((b) => b.batch)).toEqual([4, 5, 6])
    resumed.forEach((b, k) => {
      expect(b.indices).toEqual(full[4 + k]!.indices)
      expect(b.pixels).toEqual(full[4 + k]!.pixels)
    })
  })

  it('shuffle and augment per epoch when training, keep file order for evaluation', async () => {
    const { split: s } = split(40, new SlowProcessor(0))
    const e0 = (await collect(s.batches(0, 0, { batchSize: 40, train: true })))[0]!
    const e1 = (await collect(s.batches(1, 0, { batchSize: 40, train: true })))[0]!
    expect(Array.from(e0.indices)).not.toEqual(Array.from(e1.indices))
    expect([...e0.indices].sort((a, b) => a - b)).toEqual([...e1.indices].sort((a, b) => a - b))
    const ev = (await collect(s.batches(0, 0, { batchSize: 40, train: false })))[0]!
    expect(Array.from(ev.indices)).toEqual(Array.from({ length: 40 }, (_, i) => i))
    expect(Array.from(ev.labels)).toEqual(Array.from({ length: 40 }, (_, i) => BigInt(i % 3)))
    // evaluation pixels do not depend on the epoch
    const ev2 = (await collect(s.batches(7, 0, { batchSize: 40, train: false })))[0]!
    expect(ev2.pixels).toEqual(ev.pixels)
  })

  it('keep at most `prefetch` batches in preparation while the consumer holds one', async () => {
    const proc = new SlowProcessor(5)
    const { split: s } = split(60, proc, 'error', 3)
    for await (const b of s.batches(0, 0, { batchSize: 5, train: false })) {
      void b
      await new Promise((r) => setTimeout(r, 10)) // a slow consumer
    }
    expect(proc.maxOutstanding).toBeLessThanOrEqual(3 * 5)
    expect(proc.maxOutstanding).toBeGreaterThan(5)
  })

  it('stop at a bad image with its name, or skip it and count it once', async () => {
    await expect(collect(split(20, new SlowProcessor(0), 'error', 2, 13).split.batches(0, 0, { batchSize: 8, train: false }))).rejects.toThrow('broken.png: cannot be decoded as an image: test')
    const { split: s, bad } = split(20, new SlowProcessor(0), 'skip', 2, 13)
    for (let epoch = 0; epoch < 2; epoch++) {
      const batches = await collect(s.batches(epoch, 0, { batchSize: 8, train: false }))
      expect(batches.map((b) => b.shape[0])).toEqual([8, 7, 4])
      expect(batches.flatMap((b) => Array.from(b.indices))).not.toContain(13)
    }
    expect(bad.report().counts).toEqual({ DATA_BAD_IMAGE: 1 })
  })

  it('drop the last, smaller batch when asked', async () => {
    const { split: s } = split(20, new SlowProcessor(0))
    expect(s.batchCount(8)).toBe(3)
    expect(s.batchCount(8, true)).toBe(2)
    expect((await collect(s.batches(0, 0, { batchSize: 8, train: false, dropLast: true }))).map((b) => b.shape[0])).toEqual([8, 8])
  })
})
