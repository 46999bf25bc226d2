/**
 * The committed composed Fashion-MNIST scenes (data/scenes, scripts/detection-scenes.ts) read through
 * the object-detection and semantic-segmentation tasks' loaders: boxes inside their images, every
 * labelled mask pixel inside a box of its class, every box holding pixels of its class, and the COCO
 * RLEs rasterised by the segmentation loader agreeing with the index PNGs.
 */
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { readIndexMask } from '../src/data/detection-data-node.js'
import { readDetectionSource } from '../src/tasks/object-detection/data-node.js'
import { readSegmentationSource } from '../src/tasks/semantic-segmentation/data-node.js'

const root = new URL('../data/scenes/', import.meta.url).pathname
const FASHION = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot']

describe('data/scenes: composed Fashion-MNIST scenes', () => {
  it.each([['train', 32], ['val', 8], ['test', 24]] as const)('%s: boxes, masks and RLEs agree through the task loaders', async (split, count) => {
    const det = await readDetectionSource({ data: join(root, split, 'instances.json'), onBadRow: 'error' })
    expect(det.categories.map((c) => c.name)).toEqual(FASHION)
    expect(det.images).toHaveLength(count)
    const seg = await readSegmentationSource({ data: join(root, split), onBadRow: 'error' })
    expect(seg.labels).toEqual(['background', ...FASHION])
    expect(seg.examples).toHaveLength(count)
    const fromCoco = await readSegmentationSource({ data: join(root, split, 'instances.json'), onBadRow: 'error' })
    let objects = 0
    for (const [k, img] of det.images.entries()) {
      expect([img.width, img.height]).toEqual([128, 128])
      const n = img.labels.length
      expect(n).toBeGreaterThanOrEqual(1)
      expect(n).toBeLessThanOrEqual(4)
      objects += n
      const mask = await readIndexMask(seg.examples[k]!.mask as string)
      expect(seg.examples[k]!.image).toMatch(new RegExp(`${img.file.split('/').pop()}$`))
      const inBox = new Uint16Array(mask.data.length)
      for (let o = 0; o < n; o++) {
        const [x1, y1, x2, y2] = Array.from(img.boxes.subarray(4 * o, 4 * o + 4))
        expect(x1).toBeGreaterThanOrEqual(0)
        expect(y1).toBeGreaterThanOrEqual(0)
        expect(x2).toBeLessThanOrEqual(img.width)
        expect(y2).toBeLessThanOrEqual(img.height)
        expect(x2! - x1!).toBeGreaterThanOrEqual(4)
        expect(y2! - y1!).toBeGreaterThanOrEqual(4)
        let own = 0
        for (let y = y1!; y < y2!; y++) for (let x = x1!; x < x2!; x++) {
          if (mask.data[y * 128 + x] === img.labels[o]! + 1) own++
          inBox[y * 128 + x]! |= 1 << img.labels[o]!
        }
        expect(own).toBeGreaterThan(0)
      }
      // a labelled pixel lies inside a box of its own class
      let outside = 0
      for (let p = 0; p < mask.data.length; p++) {
        const v = mask.data[p]!
        if (v !== 0 && v !== 255 && (inBox[p]! & (1 << (v - 1))) === 0) outside++
      }
      expect(outside).toBe(0)
      // the instances' RLEs rasterised as the segmentation task does: equal wherever the PNG is not ignore
      const raster = (fromCoco.examples[k]!.mask as () => Uint8Array)()
      let differ = 0
      let labelled = 0
      for (let p = 0; p < mask.data.length; p++) {
        if (mask.data[p] !== 255 && raster[p] !== mask.data[p]) differ++
        if (mask.data[p] !== 255 && mask.data[p] !== 0) labelled++
      }
      expect(differ).toBe(0)
      expect(labelled).toBeGreaterThan(0)
    }
    expect(objects / count).toBeGreaterThan(1.5)
  })
})
