import { describe, expect, it } from 'vitest'
import { BadRows } from './errors.js'
import { parseCocoDetection, parseVocAnnotation, parseYoloDataYaml, parseYoloLabels, semanticMaskFromInstances, vocToDetection, VOC_CLASSES } from './detection-annotations.js'
import { rleArea, rleDecode, rleEncode, rleToString } from './rle.js'
import { parseXml } from './xml.js'

const coco = () => ({
  images: [
    { id: 3, file_name: 'a.jpg', width: 640, height: 480 },
    { id: 7, file_name: 'b.jpg', width: 100, height: 50 },
  ],
  categories: [
    { id: 18, name: 'dog' },
    { id: 1, name: 'person' },
  ],
  annotations: [
    { id: 1, image_id: 3, category_id: 18, bbox: [10, 20, 30, 40], iscrowd: 0, area: 1000, segmentation: [[10, 20, 40, 20, 40, 60, 10, 60]] },
    { id: 2, image_id: 3, category_id: 1, bbox: [0, 0, 640.4, 480], iscrowd: 1, segmentation: { size: [480, 640], counts: [0, 10, 307190] } },
    { id: 3, image_id: 7, category_id: 1, bbox: [50, 10, 20, 20], iscrowd: 0, segmentation: [[50, 10, 70, 10, 70, 30]] },
  ] as Record<string, unknown>[],
})

describe('COCO annotations', () => {
  it('reads boxes as xyxy, labels in category-id order, crowd flags, areas and masks', () => {
    const r = parseCocoDetection(coco(), 'instances.json', { masks: true })
    expect(r.categories).toEqual([{ id: 1, name: 'person' }, { id: 18, name: 'dog' }])
    const [a, b] = r.images as [NonNullable<(typeof r.images)[0]>, NonNullable<(typeof r.images)[0]>]
    expect(a.file).toBe('a.jpg')
    expect([...a.boxes]).toEqual([10, 20, 40, 60, 0, 0, 640, 480]) // the 0.4 px overshoot is clipped
    expect([...a.labels]).toEqual([1, 0])
    expect([...a.iscrowd]).toEqual([0, 1])
    expect(a.areas![0]).toBe(1000)
    expect(rleArea(a.masks![0]!)).toBe(30 * 40)
    expect(rleArea(a.masks![1]!)).toBe(10)
    expect(b.labels[0]).toBe(0)
    expect(rleArea(b.masks![0]!)).toBeGreaterThan(150) // a right triangle of 20x20: about 200 pixels
    expect(rleArea(b.masks![0]!)).toBeLessThan(230)
  })

  it('reads compressed RLE strings', () => {
    const m = new Uint8Array(50 * 100)
    for (let y = 5; y < 15; y++) for (let x = 20; x < 60; x++) m[y * 100 + x] = 1
    const c = coco()
    c.annotations = [{ id: 9, image_id: 7, category_id: 1, bbox: [20, 5, 40, 10], iscrowd: 1, segmentation: { size: [50, 100], counts: rleToString(rleEncode(m, 50, 100)) } }]
    const r = parseCocoDetection(c, 'instances.json', { masks: true })
    expect([...rleDecode(r.images[1]!.masks![0]!)]).toEqual([...m])
  })

  it('names the file and the object in errors', () => {
    const c = coco()
    c.annotations[0]!.bbox = [600, 20, 100, 40]
    expect(() => parseCocoDetection(c, 'instances.json')).toThrow('instances.json: annotation 0 (id 1, image 3 "a.jpg"): box [600, 20, 700, 60] extends outside the 640x480 image')
    const d = coco()
    d.annotations[2]!.category_id = 91
    expect(() => parseCocoDetection(d, 'instances.json')).toThrow(/annotation 2 \(id 3, image 7 "b.jpg"\): category_id 91 is not among the file's categories \(1 person, 18 dog\)/)
    const e = coco()
    e.annotations[1]!.segmentation = { size: [240, 320], counts: [0, 5] }
    expect(() => parseCocoDetection(e, 'instances.json', { masks: true })).toThrow(/mask size 240x320 \(height x width\) differs from the image's 480x640/)
    const f = coco()
    f.annotations[0]!.image_id = 99
    expect(() => parseCocoDetection(f, 'instances.json')).toThrow(/annotation 0 \(id 1, image_id 99\) refers to an image that is not in "images"/)
    expect(() => parseCocoDetection({ images: [] }, 'x.json')).toThrow(/x.json: has no "annotations" array/)
  })

  it('skips and counts bad annotations with onBadRow skip, keeping their images', () => {
    const c = coco()
    c.annotations[0]!.bbox = [600, 20, 100, 40]
    c.annotations[2]!.category_id = 91
    c.annotations.push({ id: 4, image_id: 7, category_id: 1, bbox: [1, 1, 0, 5] })
    const r = parseCocoDetection(c, 'instances.json', { onBadRow: 'skip' })
    expect(r.images.map((i) => i.labels.length)).toEqual([1, 0])
    expect(r.skipped.total).toBe(3)
    expect(r.skipped.counts).toEqual({ DATA_BAD_BOX: 1, DATA_BOX_OUTSIDE: 1, DATA_UNKNOWN_CATEGORY: 1 })
  })

  it('maps names onto a given category list', () => {
    const r = parseCocoDetection(coco(), 'instances.json', { categories: ['dog', 'person'] })
    expect([...r.images[0]!.labels]).toEqual([0, 1])
  })

  it('builds a semantic mask from instances (label + 1, overlaps ignored)', () => {
    const c = coco()
    c.images = [{ id: 3, file_name: 'a.jpg', width: 8, height: 4 }]
    c.annotations = [
      { id: 1, image_id: 3, category_id: 18, bbox: [0, 0, 4, 4], segmentation: [[0, 0, 4, 0, 4, 4, 0, 4]] },
      { id: 2, image_id: 3, category_id: 1, bbox: [3, 0, 3, 2], segmentation: [[3, 0, 6, 0, 6, 2, 3, 2]] },
    ]
    const img = parseCocoDetection(c, 'i.json', { masks: true }).images[0]!
    const m = semanticMaskFromInstances(img, rleDecode)
    expect([...m.subarray(0, 8)]).toEqual([2, 2, 2, 255, 1, 1, 0, 0])
    expect([...m.subarray(16, 24)]).toEqual([2, 2, 2, 2, 0, 0, 0, 0])
  })
})

const vocXml = (objects: string) => `<?xml version="1.0"?>
<annotation>
  <folder>VOC2012</folder>
  <filename>2008_000008.jpg</filename>
  <size><width>500</width><height>442</height><depth>3</depth></size>
  <!-- a comment -->
${objects}
</annotation>`
const obj = (name: string, b: number[], difficult = 0) => `  <object>
    <name>${name}</name><difficult>${difficult}</difficult>
    <bndbox><xmin>${b[0]}</xmin><ymin>${b[1]}</ymin><xmax>${b[2]}</xmax><ymax>${b[3]}</ymax></bndbox>
  </object>`

describe('Pascal VOC annotations', () => {
  it('reads 1-based inclusive boxes as continuous xyxy, VOC class order, difficult flags', () => {
    const bad = new BadRows()
    const a = parseVocAnnotation(vocXml(obj('horse', [53, 87, 471, 420]) + obj('person', [158, 44, 289, 167], 1)), 'Annotations/2008_000008.xml', bad)
    const r = vocToDetection([a], ['x.xml'], bad)
    expect(r.categories.map((c) => c.name)).toEqual(VOC_CLASSES)
    const img = r.images[0]!
    expect(img.file).toBe('2008_000008.jpg')
    expect([img.width, img.height]).toEqual([500, 442])
    expect([...img.boxes]).toEqual([52, 86, 471, 420, 157, 43, 289, 167])
    expect([...img.labels]).toEqual([VOC_CLASSES.indexOf('horse'), VOC_CLASSES.indexOf('person')])
    expect([...img.difficult!]).toEqual([0, 1])
  })

  it('errors name the file and line; unknown names against a given list', () => {
    const bad = new BadRows()
    expect(() => parseVocAnnotation(vocXml(obj('horse', [53, 87, 600, 420])), 'A/x.xml', bad)).toThrow(/A\/x.xml:9: object 1 "horse": box \[52, 86, 600, 420\] extends outside the 500x442 image/)
    expect(() => parseVocAnnotation('<annotation><size></annotation>', 'A/y.xml', bad)).toThrow(/A\/y.xml:1: not well-formed XML: <\/annotation> closes <size>/)
    const a = parseVocAnnotation(vocXml(obj('zebra', [1, 1, 10, 10])), 'A/z.xml', bad)
    expect(() => vocToDetection([a], ['A/z.xml'], bad, ['horse', 'dog'])).toThrow(/A\/z.xml:7: object "zebra" is not among the categories \(horse, dog\)/)
    // without a list, names outside VOC's give a sorted list of the names found
    expect(vocToDetection([a], ['A/z.xml'], bad).categories).toEqual([{ id: 0, name: 'zebra' }])
  })

  it('the XML reader handles entities, CDATA, attributes and self-closing tags', () => {
    const x = parseXml(`<a k="1 &amp; 2"><b/><c><![CDATA[<raw>]]> &lt;x&gt; &#65;</c></a>`)
    expect(x.attrs.k).toBe('1 & 2')
    expect(x.children.map((c) => c.name)).toEqual(['b', 'c'])
    expect(x.children[1]!.text).toBe('<raw> <x> A')
  })
})

describe('YOLO labels', () => {
  const names = ['cat', 'dog']
  it('reads normalised cx cy w h and polygons', () => {
    const bad = new BadRows()
    const img = parseYoloLabels('0 0.5 0.5 0.5 0.25\n\n1 0.1 0.1 0.3 0.1 0.3 0.4\n', 'labels/a.txt', { file: 'images/a.jpg', width: 200, height: 100 }, names, bad, { masks: true })
    expect([...img.boxes]).toEqual([50, 37.5, 150, 62.5, 20, 10, 60, 40])
    expect([...img.labels]).toEqual([0, 1])
    expect(img.masks).toHaveLength(2)
    expect(rleArea(img.masks![0]!)).toBe(100 * 25)
  })

  it('errors carry the label file and line', () => {
    const bad = new BadRows()
    const im = { file: 'a.jpg', width: 200, height: 100 }
    expect(() => parseYoloLabels('0 0.5 0.5 0.5 0.25\n2 0.5 0.5 0.1 0.1', 'labels/a.txt', im, names, bad)).toThrow('labels/a.txt:2: class 2 is not among the 2 classes (0..1: cat, dog)')
    expect(() => parseYoloLabels('0 0.9 0.5 0.5 0.25', 'labels/a.txt', im, names, bad)).toThrow(/labels\/a.txt:1: object of class 0 \(cat\): box \[130, 37.5, 230, 62.5\] extends outside the 200x100 image/)
    expect(() => parseYoloLabels('0 0.5 0.5 0.5', 'l.txt', im, names, bad)).toThrow(/l.txt:1: has 3 numbers after the class/)
    const skip = new BadRows('skip')
    const r = parseYoloLabels('0 0.5 0.5 0.5 0.25\n0 x 0.5 0.1 0.1', 'l.txt', im, names, skip)
    expect(r.labels.length).toBe(1)
    expect(skip.report().counts).toEqual({ DATA_YOLO_LINE: 1 })
  })

  it('reads names from data.yaml in its three shapes', () => {
    expect(parseYoloDataYaml('path: ../d\ntrain: images/train\nval: images/val\nnames: [cat, "dog"]\n', 'd.yaml')).toEqual({ path: '../d', train: 'images/train', val: 'images/val', names: ['cat', 'dog'] })
    expect(parseYoloDataYaml('names:\n  - cat\n  - dog\nnc: 2\n', 'd.yaml').names).toEqual(['cat', 'dog'])
    expect(parseYoloDataYaml('names:\n  0: cat # first\n  1: dog\n', 'd.yaml').names).toEqual(['cat', 'dog'])
    expect(() => parseYoloDataYaml('names:\n  0: cat\n  2: dog\n', 'd.yaml')).toThrow(/no entry for class 1/)
  })
})
