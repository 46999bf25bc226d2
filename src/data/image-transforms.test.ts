import { describe, expect, it } from 'vitest'
import type { RawImage } from './image.js'
import type { Interpolation, Preprocessing } from './image-preprocessing.js'
import {
  adjustBrightness,
  adjustContrast,
  adjustHue,
  adjustSaturation,
  augmentRng,
  centerCropBox,
  cropImage,
  defaultAugmentation,
  randomResizedCropBox,
  resizedSize,
  resizeImage,
  roundHalfEven,
  transformImage,
  writeTensor,
  type TransformSpec,
} from './image-transforms.js'
import { goldenImage, goldens, maxAbsDiff } from '../../test/fixtures/images/fixtures.js'

const spec = (resize: number | number[], crop: number | number[] | null, interpolation: Interpolation, size: { height: number; width: number }): TransformSpec => ({
  preprocessing: {
    resize: typeof resize === 'number' ? { shortestEdge: resize } : { height: resize[0]!, width: resize[1]! },
    crop: crop === null ? null : typeof crop === 'number' ? { height: crop, width: crop } : { height: crop[0]!, width: crop[1]! },
    mean: goldens.mean as [number, number, number],
    std: goldens.std as [number, number, number],
    interpolation,
    rescaleFactor: 1 / 255,
  },
  size,
  augmentation: null,
})

describe('transforms against torchvision 0.14 + Pillow 9.4 goldens', () => {
  // Resize, CenterCrop, ToTensor and Normalize are bit-identical to torchvision's PIL path: tolerance 0.
  for (const c of goldens.cases) {
    it(`Resize(${JSON.stringify(c.resize)}, ${c.interpolation}) + CenterCrop(${JSON.stringify(c.crop)}) of ${c.image} is bit-identical`, () => {
      const [, h, w] = c.shape as [number, number, number]
      const got = transformImage(goldenImage(c.image), spec(c.resize, c.crop, c.interpolation as Interpolation, { height: h, width: w }))
      expect(got.length).toBe(c.tensor.length)
      expect(maxAbsDiff(got, c.tensor)).toBe(0)
    })
  }

  for (const c of goldens.resized_crops) {
    it(`resized_crop(${c.top}, ${c.left}, ${c.height}, ${c.width}) -> ${c.size} of ${c.image} is bit-identical`, () => {
      const im = resizeImage(cropImage(goldenImage(c.image), { top: c.top, left: c.left, height: c.height, width: c.width }), c.size, c.size, 'bilinear')
      const got = new Float32Array(3 * c.size * c.size)
      writeTensor(im, got, 0, { rescaleFactor: 1 / 255 })
      expect(maxAbsDiff(got, c.tensor)).toBe(0)
    })
  }

  // Jitter runs in float32 like torch; the contrast mean is summed in another order, so allow 1e-6.
  const base = (): Float32Array => {
    const im = cropImage(goldenImage('rgb.png'), centerCropBox(56, 42, { height: 24, width: 24 }))
    const t = new Float32Array(3 * 24 * 24)
    writeTensor(im, t, 0, { rescaleFactor: 1 / 255 })
    return t
  }
  const ops = { brightness: adjustBrightness, contrast: adjustContrast, saturation: adjustSaturation, hue: adjustHue }
  for (const j of goldens.jitter) {
    it(`adjust_${j.op}(${j.factor}) matches torchvision within 1e-6`, () => {
      const t = base()
      ops[j.op as keyof typeof ops](t, 0, 24 * 24, j.factor)
      expect(maxAbsDiff(t, j.tensor)).toBeLessThanOrEqual(1e-6)
    })
  }
})

describe('geometry', () => {
  it('rounds halves to even as Python does', () => {
    expect([0.5, 1.5, 2.5, 3.5, -0.5, 2.4, 2.6].map((x) => roundHalfEven(x) + 0)).toEqual([0, 2, 2, 4, 0, 2, 3])
  })

  it('resizes the shorter side and truncates the longer one as torchvision does', () => {
    expect(resizedSize(56, 42, { shortestEdge: 28 })).toEqual({ width: 37, height: 28 })
    expect(resizedSize(42, 56, { shortestEdge: 28 })).toEqual({ width: 28, height: 37 })
    expect(resizedSize(10, 10, { shortestEdge: 7 })).toEqual({ width: 7, height: 7 })
    expect(resizedSize(500, 375, { height: 224, width: 200 })).toEqual({ width: 200, height: 224 })
  })

  it('pads with zeros when the crop is larger than the image', () => {
    const img: RawImage = { width: 2, height: 1, channels: 1, data: Uint8Array.from([7, 9]) }
    const box = centerCropBox(2, 1, { height: 3, width: 4 })
    expect(box).toEqual({ top: -1, left: -1, height: 3, width: 4 })
    expect(Array.from(cropImage(img, box).data)).toEqual([0, 0, 0, 0, 0, 7, 9, 0, 0, 0, 0, 0])
  })

  it('keeps every nearest-neighbour sample inside the image', () => {
    const img: RawImage = { width: 3, height: 1, channels: 1, data: Uint8Array.from([10, 20, 30]) }
    expect(Array.from(resizeImage(img, 6, 1, 'nearest').data)).toEqual([10, 10, 20, 20, 30, 30])
    expect(Array.from(resizeImage(img, 1, 1, 'nearest').data)).toEqual([20])
  })
})

describe('training augmentation', () => {
  const pre: Preprocessing = { resize: { shortestEdge: 28 }, crop: { height: 24, width: 24 }, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], interpolation: 'bilinear', rescaleFactor: 1 / 255 }
  const train: TransformSpec = {
    preprocessing: pre,
    size: { height: 24, width: 24 },
    augmentation: { ...defaultAugmentation, colorJitter: { brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.1 } },
  }
  const img = goldenImage('rgb.png')

  it('is a pure function of (seed, epoch, example id)', () => {
    const a = transformImage(img, train, { seed: 1, epoch: 3, id: 17 })
    const b = transformImage(img, train, { seed: 1, epoch: 3, id: 17 })
    expect(maxAbsDiff(a, b)).toBe(0)
    for (const key of [{ seed: 2, epoch: 3, id: 17 }, { seed: 1, epoch: 4, id: 17 }, { seed: 1, epoch: 3, id: 18 }]) {
      expect(maxAbsDiff(a, transformImage(img, train, key))).toBeGreaterThan(0.01)
    }
  })

  it('draws RandomResizedCrop boxes inside the image with area and ratio in range', () => {
    let fallbacks = 0
    for (let id = 0; id < 500; id++) {
      const box = randomResizedCropBox(56, 42, [0.08, 1], [3 / 4, 4 / 3], augmentRng(7, 0, id))
      expect(box.top).toBeGreaterThanOrEqual(0)
      expect(box.left).toBeGreaterThanOrEqual(0)
      expect(box.top + box.height).toBeLessThanOrEqual(42)
      expect(box.left + box.width).toBeLessThanOrEqual(56)
      const share = (box.width * box.height) / (56 * 42)
      if (box.width === 56 && box.height === 42) fallbacks++
      else {
        expect(share).toBeGreaterThan(0.05)
        expect(box.width / box.height).toBeGreaterThan(0.7)
        expect(box.width / box.height).toBeLessThan(1.4)
      }
    }
    expect(fallbacks).toBeLessThan(100)
  })

  it('falls back to the centred ratio-clamped crop when 10 tries fail', () => {
    // a 100x4 strip cannot hold any crop of ratio <= 4/3 and area >= 8%
    const box = randomResizedCropBox(100, 4, [0.5, 1], [3 / 4, 4 / 3], augmentRng(1, 0, 0))
    expect(box).toEqual({ top: 0, left: 47, height: 4, width: 5 })
  })

  it('flips about half the examples', () => {
    const flipOnly: TransformSpec = { preprocessing: pre, size: { height: 24, width: 24 }, augmentation: { randomResizedCrop: null, horizontalFlip: 0.5, colorJitter: null } }
    const plain = transformImage(img, { ...flipOnly, augmentation: null })
    let flipped = 0
    for (let id = 0; id < 200; id++) {
      const t = transformImage(img, flipOnly, { seed: 3, epoch: 0, id })
      if (maxAbsDiff(t, plain) > 0) {
        flipped++
        expect(t[0]).toBe(plain[23]) // first pixel of row 0 is the last one unflipped
      }
    }
    expect(flipped).toBeGreaterThan(70)
    expect(flipped).toBeLessThan(130)
  })
})
