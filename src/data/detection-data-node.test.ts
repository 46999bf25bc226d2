import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { deflateSync } from 'node:zlib'
import sharp from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadCocoDetection, loadSegmentationPairs, loadVocDetection, loadVocSegmentation, loadYoloDetection, readIndexMask, yoloLabelPath } from './detection-data-node.js'
import { encodeIndexPng, vocPalette } from './index-mask.js'

let dir: string
const jpg = (path: string, width: number, height: number) =>
  sharp({ create: { width, height, channels: 3, background: { r: 200, g: 100, b: 50 } } }).jpeg().toFile(path)

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'det-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('detection data from disk', () => {
  it('COCO: joins image paths, reports a missing image, or skips it', async () => {
    const root = join(dir, 'coco')
    await mkdir(join(root, 'images'), { recursive: true })
    await jpg(join(root, 'images', 'a.jpg'), 64, 48)
    const json = {
      images: [
        { id: 1, file_name: 'a.jpg', width: 64, height: 48 },
        { id: 2, file_name: 'gone.jpg', width: 64, height: 48 },
      ],
      categories: [{ id: 5, name: 'thing' }],
      annotations: [{ id: 1, image_id: 1, category_id: 5, bbox: [1, 2, 10, 20] }],
    }
    await writeFile(join(root, 'instances.json'), JSON.stringify(json))
    const opts = { annotations: join(root, 'instances.json'), images: join(root, 'images') }
    await expect(loadCocoDetection(opts)).rejects.toThrow(/instances.json: image ".*gone.jpg" does not exist/)
    const r = await loadCocoDetection({ ...opts, onBadRow: 'skip', verify: 'header' })
    expect(r.images.map((i) => i.file)).toEqual([join(root, 'images', 'a.jpg')])
    expect(r.skipped.counts).toEqual({ DATA_UNKNOWN_IMAGE_FILE: 1 })
    json.images[0]!.width = 65
    await writeFile(join(root, 'instances.json'), JSON.stringify(json))
    await expect(loadCocoDetection({ ...opts, verify: 'header' })).rejects.toThrow(/a.jpg" is 64x48 but annotated as 65x48/)
  })

  it('VOC: a split list, images under JPEGImages', async () => {
    const root = join(dir, 'VOC2012')
    await mkdir(join(root, 'Annotations'), { recursive: true })
    await mkdir(join(root, 'JPEGImages'), { recursive: true })
    await mkdir(join(root, 'ImageSets', 'Main'), { recursive: true })
    await jpg(join(root, 'JPEGImages', 'x1.jpg'), 40, 30)
    await writeFile(
      join(root, 'Annotations', 'x1.xml'),
      '<annotation><filename>x1.jpg</filename><size><width>40</width><height>30</height></size><object><name>dog</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>40</xmax><ymax>30</ymax></bndbox></object></annotation>',
    )
    await writeFile(join(root, 'ImageSets', 'Main', 'train.txt'), 'x1\n')
    const r = await loadVocDetection({ root, split: 'train' })
    expect(r.images[0]!.file).toBe(join(root, 'JPEGImages', 'x1.jpg'))
    expect([...r.images[0]!.boxes]).toEqual([0, 0, 40, 30])
    expect(r.categories[r.images[0]!.labels[0]!]!.name).toBe('dog')
  })

  it('YOLO: data.yaml, labels found by the images -> labels rule, unlabelled images kept', async () => {
    const root = join(dir, 'yolo')
    await mkdir(join(root, 'images', 'train'), { recursive: true })
    await mkdir(join(root, 'labels', 'train'), { recursive: true })
    await jpg(join(root, 'images', 'train', 'a.jpg'), 100, 50)
    await jpg(join(root, 'images', 'train', 'b.jpg'), 100, 50)
    await writeFile(join(root, 'labels', 'train', 'a.txt'), '1 0.5 0.5 0.2 0.4\n')
    await writeFile(join(root, 'data.yaml'), 'path: .\ntrain: images/train\nval: images/train\nnames:\n  0: cat\n  1: dog\n')
    expect(yoloLabelPath(join(root, 'images', 'train', 'a.jpg'))).toBe(join(root, 'labels', 'train', 'a.txt'))
    const r = await loadYoloDetection({ data: join(root, 'data.yaml') })
    expect(r.categories.map((c) => c.name)).toEqual(['cat', 'dog'])
    expect(r.images).toHaveLength(2)
    expect([...r.images[0]!.boxes]).toEqual([40, 15, 60, 35])
    expect(r.images[1]!.labels.length).toBe(0)
    expect(r.unlabelled).toBe(1)
  })
})

describe('segmentation masks from disk', () => {
  it('reads palette PNG indices (not colours) and grayscale PNGs; pairs by stem; checks sizes', async () => {
    const root = join(dir, 'seg')
    await mkdir(join(root, 'img'), { recursive: true })
    await mkdir(join(root, 'mask'), { recursive: true })
    const data = Uint8Array.from({ length: 6 * 4 }, (_, i) => (i === 5 ? 255 : i % 3))
    await writeFile(join(root, 'mask', 'p.png'), encodeIndexPng({ width: 6, height: 4, data }, (b) => deflateSync(b)))
    await sharp(Buffer.from(data), { raw: { width: 6, height: 4, channels: 1 } }).toColourspace('b-w').png().toFile(join(root, 'mask', 'g.png'))
    const p = await readIndexMask(join(root, 'mask', 'p.png'))
    expect([p.width, p.height]).toEqual([6, 4])
    expect([...p.data]).toEqual([...data])
    expect([...(await readIndexMask(join(root, 'mask', 'g.png'))).data]).toEqual([...data])
    // the same file through sharp gives the VOC colours, which is why indices are read directly
    const rgb = await sharp(join(root, 'mask', 'p.png')).raw().toBuffer()
    expect([...rgb.subarray(3, 6)]).toEqual([...vocPalette().subarray(3, 6)])

    await jpg(join(root, 'img', 'p.jpg'), 6, 4)
    await jpg(join(root, 'img', 'g.jpg'), 7, 4)
    await jpg(join(root, 'img', 'n.jpg'), 6, 4)
    await expect(loadSegmentationPairs({ images: join(root, 'img'), masks: join(root, 'mask') })).rejects.toThrow(/g.png: is 6x4 but its image g.jpg is 7x4/)
    const r = await loadSegmentationPairs({ images: join(root, 'img'), masks: join(root, 'mask'), onBadRow: 'skip' })
    expect(r.pairs.map((x) => x.mask)).toEqual([join(root, 'mask', 'p.png')])
    expect(r.skipped.counts).toEqual({ DATA_MASK_SIZE: 1, DATA_MISSING_MASK: 1 })

    const rgbMask = join(root, 'mask', 'rgb.png')
    await sharp({ create: { width: 2, height: 2, channels: 3, background: { r: 128, g: 0, b: 0 } } }).png().toFile(rgbMask)
    await expect(readIndexMask(rgbMask)).rejects.toThrow(/rgb.png: is an RGB PNG; an index mask holds one class index per pixel/)
  })

  it('VOC segmentation split', async () => {
    const root = join(dir, 'VOCseg')
    for (const d of ['JPEGImages', 'SegmentationClass', 'ImageSets/Segmentation']) await mkdir(join(root, d), { recursive: true })
    await jpg(join(root, 'JPEGImages', 'a.jpg'), 3, 2)
    await writeFile(join(root, 'SegmentationClass', 'a.png'), encodeIndexPng({ width: 3, height: 2, data: new Uint8Array(6) }, (b) => deflateSync(b)))
    await writeFile(join(root, 'ImageSets', 'Segmentation', 'val.txt'), 'a\n')
    const r = await loadVocSegmentation({ root, split: 'val' })
    expect(r.pairs).toEqual([{ image: join(root, 'JPEGImages', 'a.jpg'), mask: join(root, 'SegmentationClass', 'a.png'), width: 3, height: 2 }])
  })
})
