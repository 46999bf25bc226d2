// Object-detection data in its three layouts and the training augmentations, without a model: one
// tiny dataset (40x30 PNGs, a red and a blue rectangle each) written as COCO JSON, a Pascal VOC
// folder (1-based inclusive XML boxes, ImageSets/Main train/val) and a YOLO folder (images/{train,val},
// normalised cx cy w h, data.yaml names) reads to the same boxes and labels; the layout is detected
// (or named), bad annotations stop with the file and object or are skipped and counted; flip, crop
// and scale move the boxes with the pixels (checked on both) and are seeded.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import sharp from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { decodeImageFile } from '../../data/image-decode-node.js'
import type { Rng } from '../../runtime/rng.js'
import { augmentationsFrom, augmentDetectionSample, detectDetectionFormat, detectionSplits, DetSplit, groundTruthOf, loadDetectionImage, readDetectionSource, type DetTransform } from './data-node.js'

const dir = mkdtempSync(join(tmpdir(), 'ft-det-formats-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const W = 40
const H = 30
const RED: [number, number, number] = [230, 30, 30]
const BLUE: [number, number, number] = [30, 30, 230]
/** Per image: a red box (class "red") and a blue box (class "blue"), x1 y1 x2 y2 on whole pixels. */
const objects = (i: number): { name: 'red' | 'blue'; box: [number, number, number, number] }[] => [
  { name: 'red', box: [2 + i, 3, 14 + i, 13] },
  { name: 'blue', box: [24, 10 + i, 36, 26 + i] },
]
const N = 4 // images 0-2 train, 3 val

async function writeImage(file: string, i: number): Promise<void> {
  const rgb = new Uint8Array(W * H * 3).fill(20)
  for (const o of objects(i)) {
    const [x1, y1, x2, y2] = o.box
    for (let y = y1; y < y2; y++) for (let x = x1; x < x2; x++) rgb.set(o.name === 'red' ? RED : BLUE, 3 * (y * W + x))
  }
  await sharp(rgb, { raw: { width: W, height: H, channels: 3 } }).png().toFile(file)
}

const coco = join(dir, 'coco')
const voc = join(dir, 'voc')
const yolo = join(dir, 'yolo')
const split = (i: number): 'train' | 'val' => (i < N - 1 ? 'train' : 'val')

beforeAll(async () => {
  for (const d of [join(coco, 'images'), join(voc, 'Annotations'), join(voc, 'JPEGImages'), join(voc, 'ImageSets', 'Main'), ...(['train', 'val'] as const).flatMap((s) => [join(yolo, 'images', s), join(yolo, 'labels', s)])]) mkdirSync(d, { recursive: true })
  const images: unknown[] = []
  const annotations: unknown[] = []
  for (let i = 0; i < N; i++) {
    await writeImage(join(coco, 'images', `im${i}.png`), i)
    await writeImage(join(voc, 'JPEGImages', `im${i}.png`), i)
    await writeImage(join(yolo, 'images', split(i), `im${i}.png`), i)
    images.push({ id: i + 1, file_name: `im${i}.png`, width: W, height: H })
    objects(i).forEach((o, k) => {
      const [x1, y1, x2, y2] = o.box
      annotations.push({ id: 10 * i + k, image_id: i + 1, category_id: o.name === 'red' ? 1 : 2, bbox: [x1, y1, x2 - x1, y2 - y1], iscrowd: 0 })
    })
    const xmlObjects = objects(i).map((o) => `<object><name>${o.name}</name><difficult>${i === 3 && o.name === 'blue' ? 1 : 0}</difficult><bndbox><xmin>${o.box[0] + 1}</xmin><ymin>${o.box[1] + 1}</ymin><xmax>${o.box[2]}</xmax><ymax>${o.box[3]}</ymax></bndbox></object>`)
    writeFileSync(join(voc, 'Annotations', `im${i}.xml`), `<annotation><filename>im${i}.png</filename><size><width>${W}</width><height>${H}</height><depth>3</depth></size>${xmlObjects.join('')}</annotation>`)
    const lines = objects(i).map((o) => `${o.name === 'red' ? 0 : 1} ${(o.box[0] + o.box[2]) / 2 / W} ${(o.box[1] + o.box[3]) / 2 / H} ${(o.box[2] - o.box[0]) / W} ${(o.box[3] - o.box[1]) / H}`)
    writeFileSync(join(yolo, 'labels', split(i), `im${i}.txt`), lines.join('\n') + '\n')
  }
  writeFileSync(join(coco, 'instances.json'), JSON.stringify({ images, annotations, categories: [{ id: 1, name: 'red' }, { id: 2, name: 'blue' }] }))
  writeFileSync(join(voc, 'ImageSets', 'Main', 'train.txt'), 'im0\nim1\nim2\n')
  writeFileSync(join(voc, 'ImageSets', 'Main', 'val.txt'), 'im3\n')
  writeFileSync(join(yolo, 'data.yaml'), 'path: .\ntrain: images/train\nval: images/val\nnames:\n  0: red\n  1: blue\n')
}, 30_000)

/** Per image: its boxes (to 1e-4 px) and their class names. */
const boxesOf = (src: { images: { boxes: Float32Array; labels: Int32Array }[]; categories: { name: string }[] }): (number | string)[][] =>
  src.images.map((im) => [...Array.from(im.boxes, (v) => Math.round(v * 1e4) / 1e4), ...Array.from(im.labels, (l) => src.categories[l]!.name)])

describe('object-detection data layouts', () => {
  it('COCO, VOC and YOLO copies of one dataset read to the same boxes and labels; the layout is detected; VOC and YOLO splits are used', async () => {
    expect(detectDetectionFormat(join(coco, 'instances.json'))).toBe('coco')
    expect(detectDetectionFormat(voc)).toBe('voc')
    expect(detectDetectionFormat(yolo)).toBe('yolo')
    expect(detectDetectionFormat(join(yolo, 'data.yaml'))).toBe('yolo')
    expect([...detectionSplits(voc, 'voc')]).toEqual(['train', 'val'])
    expect([...detectionSplits(yolo, 'yolo')]).toEqual(['train', 'val'])
    const c = await readDetectionSource({ data: join(coco, 'instances.json'), onBadRow: 'error' })
    const want = boxesOf(c)
    expect(want[0]).toEqual([...objects(0)[0]!.box, ...objects(0)[1]!.box, 'red', 'blue'])
    expect(c.categories.map((k) => k.name)).toEqual(['red', 'blue']) // COCO: category id order
    for (const data of [voc, yolo, join(yolo, 'data.yaml')]) {
      const tr = await readDetectionSource({ data, split: 'train', onBadRow: 'error' })
      const va = await readDetectionSource({ data, split: 'val', onBadRow: 'error' })
      expect(tr.split, data).toBe('train')
      // VOC: the names found, sorted (they are not VOC's 20 classes); YOLO: the names list's order
      expect(tr.categories.map((k) => k.name), data).toEqual(data === voc ? ['blue', 'red'] : ['red', 'blue'])
      expect(boxesOf(tr), data).toEqual(want.slice(0, 3))
      expect(boxesOf(va), data).toEqual(want.slice(3))
    }
    // no split asked: every image
    expect((await readDetectionSource({ data: voc, onBadRow: 'error' })).images.length).toBe(N)
    // a trained model's label order is kept, YOLO's class indices mapped by name
    const y = await readDetectionSource({ data: yolo, split: 'train', onBadRow: 'error', labels: ['blue', 'red'] })
    expect(Array.from(y.images[0]!.labels)).toEqual([1, 0])
    const v = await readDetectionSource({ data: voc, split: 'train', onBadRow: 'error', labels: ['red', 'blue'] })
    expect(Array.from(v.images[0]!.labels)).toEqual([0, 1])
    // VOC's difficult object (im3's blue one) is ignored by the evaluation, not dropped from the data
    const vv = await readDetectionSource({ data: voc, split: 'val', onBadRow: 'error', labels: ['red', 'blue'] })
    expect(Array.from(vv.images[0]!.labels)).toEqual([0, 1])
    expect(Array.from(groundTruthOf(vv.images[0]!).ignore!)).toEqual([0, 1])
    expect(groundTruthOf(c.images[3]!).ignore).toBeUndefined()
  })

  it('--format is checked against the path; an unknown layout lists the three', async () => {
    expect(thrown(() => detectDetectionFormat(voc, 'coco'))).toMatch(/--format coco: .*voc is not a COCO instances JSON file.*looks like voc: drop --format/s)
    expect(thrown(() => detectDetectionFormat(join(coco, 'images')))).toMatch(/none of the detection layouts.*COCO.*VOC.*YOLO.*--format coco\|voc\|yolo/s)
    expect(() => detectDetectionFormat(join(dir, 'nope'))).toThrow(/does not exist/)
    await expect(readDetectionSource({ data: voc, images: coco, onBadRow: 'error' })).rejects.toThrow(/--images applies to a COCO/)
  })

  it('bad annotations name the file and the object; --on-bad-row skip drops and counts them', async () => {
    // VOC: a box past the image's right edge; a missing image
    const bv = join(dir, 'bad-voc')
    mkdirSync(join(bv, 'Annotations'), { recursive: true })
    mkdirSync(join(bv, 'JPEGImages'), { recursive: true })
    await writeImage(join(bv, 'JPEGImages', 'a.png'), 0)
    writeFileSync(join(bv, 'Annotations', 'a.xml'), `<annotation><filename>a.png</filename><size><width>${W}</width><height>${H}</height></size><object><name>cat</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>10</xmax><ymax>10</ymax></bndbox></object><object><name>dog</name><bndbox><xmin>30</xmin><ymin>1</ymin><xmax>55</xmax><ymax>10</ymax></bndbox></object></annotation>`)
    writeFileSync(join(bv, 'Annotations', 'b.xml'), `<annotation><filename>gone.png</filename><size><width>${W}</width><height>${H}</height></size><object><name>cat</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>10</xmax><ymax>10</ymax></bndbox></object></annotation>`)
    await expect(readDetectionSource({ data: bv, onBadRow: 'error' })).rejects.toThrow(/a\.xml:1: object 2 "dog": box \[29, 0, 55, 10\] extends outside the 40x30 image/)
    const sv = await readDetectionSource({ data: bv, onBadRow: 'skip' })
    expect(sv.skipped.counts).toEqual({ DATA_BOX_OUTSIDE: 1, DATA_UNKNOWN_IMAGE_FILE: 1 })
    expect(sv.images.length).toBe(1)
    expect(sv.images[0]!.labels.length).toBe(1)
    expect(sv.skipped.examples.map((e) => e.message).join('\n')).toMatch(/image ".*gone\.png" does not exist/)

    // YOLO: a class index beyond classes.txt; a label file without its image
    const by = join(dir, 'bad-yolo')
    mkdirSync(join(by, 'images'), { recursive: true })
    mkdirSync(join(by, 'labels'), { recursive: true })
    await writeImage(join(by, 'images', 'a.png'), 0)
    writeFileSync(join(by, 'classes.txt'), 'red\nblue\n')
    writeFileSync(join(by, 'labels', 'a.txt'), '0 0.2 0.3 0.2 0.2\n5 0.5 0.5 0.1 0.1\n')
    writeFileSync(join(by, 'labels', 'orphan.txt'), '0 0.5 0.5 0.1 0.1\n')
    await expect(readDetectionSource({ data: by, onBadRow: 'error' })).rejects.toThrow(/a\.txt:2: class 5 is not among the 2 classes \(0\.\.1: red, blue\)/)
    writeFileSync(join(by, 'labels', 'a.txt'), '0 0.2 0.3 0.2 0.2\n')
    await expect(readDetectionSource({ data: by, onBadRow: 'error' })).rejects.toThrow(/orphan\.txt: labels an image that does not exist/)
    writeFileSync(join(by, 'labels', 'a.txt'), '0 0.2 0.3 0.2 0.2\n5 0.5 0.5 0.1 0.1\n')
    const sy = await readDetectionSource({ data: by, onBadRow: 'skip' })
    expect(sy.skipped.counts).toEqual({ DATA_UNKNOWN_CATEGORY: 1, DATA_UNKNOWN_IMAGE_FILE: 1 })
    expect(sy.images[0]!.labels.length).toBe(1)
  })
})

/** The message and hint of what `f` throws. */
function thrown(f: () => unknown): string {
  try {
    f()
  } catch (e) {
    return `${(e as Error).message}\n${(e as { hint?: string }).hint ?? ''}`
  }
  throw new Error('nothing thrown')
}

/** An Rng that returns the given draws (next() in [0, 1), int(n) as given) and fails when they run out. */
function scripted(next: number[], ints: number[] = []): Rng {
  return {
    next: () => {
      if (!next.length) throw new Error('next() drawn more often than scripted')
      return next.shift()!
    },
    int: (n: number) => {
      const v = ints.shift()
      if (v === undefined || v >= n) throw new Error(`int(${n}) not scripted (${v})`)
      return v
    },
  } as unknown as Rng
}

describe('box-moving augmentations', () => {
  const t: DetTransform = { minSize: 30, maxSize: 40 } // 40x30 stays 40x30; canvas 64
  const file = (): string => join(coco, 'images', 'im0.png')
  const red = objects(0)[0]!.box
  const blue = objects(0)[1]!.box
  const boxes = Float32Array.from([...red, ...blue])
  const labels = Int32Array.from([0, 1])
  /** The normalised red channel of the canvas at (x, y): high on red pixels. */
  const redAt = (pixels: Float32Array, x: number, y: number): number => pixels[y * 64 + x]!

  it('flip: x1\' = W - x2, x2\' = W - x1, and the pixels move with them', async () => {
    const r = await loadDetectionImage(file(), t, boxes, { kinds: ['flip'], rng: scripted([0.2]) }, labels)
    expect(Array.from(r.boxes)).toEqual([W - red[2], red[1], W - red[0], red[3], W - blue[2], blue[1], W - blue[0], blue[3]])
    expect(Array.from(r.labels)).toEqual([0, 1])
    expect(redAt(r.pixels, W - red[0] - 1, red[1])).toBeGreaterThan(1.5)
    expect(redAt(r.pixels, red[0], red[1])).toBeLessThan(0)
    // a draw of 0.5 or more leaves the image as it is
    const same = await loadDetectionImage(file(), t, boxes, { kinds: ['flip'], rng: scripted([0.7]) }, labels)
    expect(Array.from(same.boxes)).toEqual(Array.from(boxes))
  })

  it('crop: a box whose centre stays inside is kept and clipped, one whose centre leaves is dropped; the window is resized as the image', () => {
    const img = { width: W, height: H, channels: 3 as const, data: new Uint8Array(W * H * 3) }
    // f = 0.5 + 0.5 x 0.5 = 0.75: a 30 x 23 window at left 9, top 4 (columns 9..38, rows 4..26)
    const b = Float32Array.from([2, 10, 14, 20, /* centre (8, 15): left of the window */ 6, 10, 16, 20, /* centre (11, 15): kept, clipped at x 9 */ 30, 2, 40, 8 /* centre (35, 5): kept, clipped at 39 and 4 */])
    const { sample, size } = augmentDetectionSample({ image: img, boxes: b, labels: Int32Array.from([0, 1, 2]) }, ['crop'], scripted([0.5], [9, 4]), t)
    expect(size).toBeUndefined()
    expect([sample.image.width, sample.image.height]).toEqual([30, 23])
    expect(Array.from(sample.labels)).toEqual([1, 2])
    expect(Array.from(sample.boxes)).toEqual([0, 6, 7, 16, 21, 0, 30, 4])
  })

  it('scale: the resized size times the factor; past the canvas, a window of the image that fits is cropped first', async () => {
    // factor 0.5: 40x30 -> 20x15 on the canvas, boxes halved
    const small = await loadDetectionImage(file(), t, boxes, { kinds: ['scale'], rng: scripted([0]) }, labels)
    expect(small.size).toEqual([15, 20])
    expect(Array.from(small.boxes)).toEqual(Array.from(boxes, (v) => v / 2))
    // min 48 / max 64: 40x30 -> 64x48, x 1.5 -> 96x72 (2.4x), larger than the 64 canvas: a 26x26 window
    // (64 / 2.4) at top 2, left 0 becomes 62x62; the red box [2, 3, 14, 13] -> [2, 1, 14, 11] x 62/26
    const big = { minSize: 48, maxSize: 64 }
    const r = await loadDetectionImage(file(), big, boxes, { kinds: ['scale'], rng: scripted([1], [2, 0]) }, labels)
    expect(r.size).toEqual([62, 62])
    expect(Array.from(r.labels)).toEqual([0]) // the blue box's centre (30, 18) is outside the 26-wide window
    const k = 62 / 26
    const want = [2, 1, 14, 11].map((v) => v * k)
    Array.from(r.boxes).forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 3))
    // inside the moved box the canvas is red, outside it is not
    expect(redAt(r.pixels, Math.round(8 * k), Math.round(6 * k))).toBeGreaterThan(1.5)
    expect(redAt(r.pixels, Math.round(20 * k), Math.round(6 * k))).toBeLessThan(0)
  })

  it('--augment parses a list (default flip, none: off); batches are seeded by (seed, epoch, image) and leave validation alone', async () => {
    expect(augmentationsFrom([])).toEqual(['flip'])
    expect(augmentationsFrom(['none'])).toEqual([])
    expect(augmentationsFrom(['flip,scale', 'crop'])).toEqual(['flip', 'scale', 'crop'])
    expect(thrown(() => augmentationsFrom(['flip,rotate']))).toMatch(/--augment "rotate" is not an augmentation of object-detection.*flip, scale, crop/s)
    const src = await readDetectionSource({ data: join(coco, 'instances.json'), onBadRow: 'error' })
    const batches = async (s: DetSplit, epoch: number, train: boolean): Promise<number[][]> => {
      const out: number[][] = []
      for await (const b of s.batches(epoch, 0, { batchSize: 2, train })) out.push(...b.targets.map((x) => Array.from(x.boxes)), b.sizes.flat())
      return out
    }
    const aug = new DetSplit(src.images, t, 7, ['flip', 'scale', 'crop'])
    const e0 = await batches(aug, 0, true)
    expect(await batches(aug, 0, true)).toEqual(e0)
    expect(await batches(aug, 1, true)).not.toEqual(e0)
    const plain = new DetSplit(src.images, t, 7, [])
    expect(await batches(aug, 0, false)).toEqual(await batches(plain, 0, false))
    // every augmented box lies inside its resized image
    for await (const b of aug.batches(0, 0, { batchSize: 2, train: true }))
      b.targets.forEach((x, i) => {
        const [h, w] = b.sizes[i]!
        for (let j = 0; j < x.boxes.length; j += 4) {
          expect(x.boxes[j]!).toBeGreaterThanOrEqual(0)
          expect(x.boxes[j + 2]!).toBeLessThanOrEqual(w + 1e-4)
          expect(x.boxes[j + 3]!).toBeLessThanOrEqual(h + 1e-4)
          expect(x.boxes[j + 2]! > x.boxes[j]! && x.boxes[j + 3]! > x.boxes[j + 1]!).toBe(true)
        }
      })
    expect((await decodeImageFile(file())).width).toBe(W)
  })
})
