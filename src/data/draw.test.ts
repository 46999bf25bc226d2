// Drawing predictions: box outlines fall on the pixels their continuous coordinates cover, labels
// are drawn in the 5x7 font on a tag above the box, masks blend at the stated alpha (class 0 and 255
// untouched), polygon edges pass through their corners; RGB PNGs decode (by sharp, an independent
// decoder) to the same pixels.
import { deflateSync } from 'node:zlib'
import sharp from 'sharp'
import { describe, expect, it } from 'vitest'
import { canvasOf, classColour, drawBox, drawLabelledBox, drawPolygon, drawText, overlayMask, textSize } from './draw.js'
import { encodeRgbPng, vocPalette } from './index-mask.js'

const blank = (w: number, h: number, v = 0) => canvasOf({ width: w, height: h, channels: 1, data: new Uint8Array(w * h).fill(v) })
const px = (img: { width: number; data: Uint8Array }, x: number, y: number): number[] => Array.from(img.data.subarray(3 * (y * img.width + x), 3 * (y * img.width + x) + 3))

describe('drawing predictions', () => {
  it('a box [2, 3, 10, 8] outlines columns 2 and 9, rows 3 and 7, and leaves its inside and outside alone', () => {
    const img = blank(12, 10)
    const c = classColour(1)
    drawBox(img, [2, 3, 10, 8], c, 1)
    for (const [x, y] of [[2, 3], [9, 3], [2, 7], [9, 7], [5, 3], [5, 7], [2, 5], [9, 5]] as const) expect(px(img, x, y), `${x},${y}`).toEqual([...c])
    for (const [x, y] of [[5, 5], [1, 3], [10, 3], [5, 2], [5, 8]] as const) expect(px(img, x, y), `${x},${y}`).toEqual([0, 0, 0])
    // a box reaching past the image is clipped, not wrapped
    drawBox(img, [-5, -5, 3, 3], c, 1)
    expect(px(img, 11, 0)).toEqual([0, 0, 0])
  })

  it('classes get distinct colours; a labelled box puts its caption on a tag of the class colour above the box', () => {
    expect(new Set(Array.from({ length: 20 }, (_, i) => classColour(i).join())).size).toBe(20)
    expect(classColour(20)).toEqual(classColour(0))
    const img = blank(60, 40)
    const c = classColour(3) // a dark blue: white ink
    drawLabelledBox(img, [10, 20, 50, 38], 'a 1', c)
    const [tw, th] = textSize('a 1', 1)
    expect([tw, th]).toEqual([17, 7])
    // the tag: rows 20 - 7 - 2 = 11 .. 19, columns 10 .. 10 + 17 + 2
    expect(px(img, 10, 11)).toEqual([...c])
    expect(px(img, 28, 19)).toEqual([...c])
    expect(px(img, 29, 15)).toEqual([0, 0, 0])
    // ink: "A"'s first column (0x7e: rows 1-6) at x 11, y 12 + 1 .. 12 + 6
    expect(px(img, 11, 13)).toEqual([255, 255, 255])
    expect(px(img, 11, 12)).toEqual([...c])
    // a box at the top edge gets its tag inside
    const top = blank(60, 40)
    drawLabelledBox(top, [10, 0, 50, 30], 'x', c)
    expect(px(top, 12, 5)).not.toEqual([0, 0, 0])
  })

  it('text: glyphs scale by whole pixels; unknown characters draw as "?"', () => {
    const a = blank(20, 20)
    drawText(a, 0, 0, '1', [255, 0, 0], 2)
    // "1" = 0x00 0x42 0x7f 0x40 0x00: column 2 is full height (rows 0-6), at scale 2 columns 4-5, rows 0-13
    expect(px(a, 4, 0)).toEqual([255, 0, 0])
    expect(px(a, 5, 13)).toEqual([255, 0, 0])
    expect(px(a, 4, 14)).toEqual([0, 0, 0])
    const q = blank(10, 10)
    const r = blank(10, 10)
    drawText(q, 0, 0, '\u00e9', [255, 255, 255])
    drawText(r, 0, 0, '?', [255, 255, 255])
    expect(q.data).toEqual(r.data)
  })

  it('masks blend at alpha 0.5 in the VOC palette; class 0 and 255 are left as they are', () => {
    const img = blank(3, 1, 100)
    overlayMask(img, [0, 1, 255], vocPalette())
    expect(px(img, 0, 0)).toEqual([100, 100, 100])
    expect(px(img, 1, 0)).toEqual([114, 50, 50]) // VOC class 1 is (128, 0, 0)
    expect(px(img, 2, 0)).toEqual([100, 100, 100])
  })

  it('polygon edges pass through every corner and close the shape', () => {
    const img = blank(20, 20)
    const pts: [number, number][] = [[2, 2], [15, 4], [12, 16], [2, 12]]
    drawPolygon(img, pts, [0, 255, 0], 1)
    for (const [x, y] of pts) expect(px(img, x, y)).toEqual([0, 255, 0])
    expect(px(img, 2, 7)).toEqual([0, 255, 0]) // on the closing edge (2, 12) -> (2, 2)
    expect(px(img, 8, 8)).toEqual([0, 0, 0])
  })

  it('an RGB PNG decodes to the same pixels', async () => {
    const img = blank(7, 5)
    drawBox(img, [1, 1, 6, 4], [200, 30, 90], 1)
    img.data[0] = 7
    const png = encodeRgbPng(img, (z) => deflateSync(z))
    const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true })
    expect([info.width, info.height, info.channels]).toEqual([7, 5, 3])
    expect(new Uint8Array(data)).toEqual(img.data)
    expect(() => encodeRgbPng({ width: 2, height: 2, data: new Uint8Array(3) }, (z) => z)).toThrow(/3 bytes for a 2x2 RGB image/)
  })
})
