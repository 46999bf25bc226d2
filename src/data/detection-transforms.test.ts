import { describe, expect, it } from 'vitest'
import { Rng } from '../runtime/rng.js'
import { augmentDetection, cropDetection, hflipDetection, randomCropDetection, resizeDetection, scaleJitter, type DetectionSample } from './detection-transforms.js'
import { augmentRng } from './image-transforms.js'

/** 8x6 gray image whose pixel value is 10*x + y; one instance mask and a semantic mask matching box 0. */
function sample(): DetectionSample {
  const W = 8
  const H = 6
  const data = Uint8Array.from({ length: W * H }, (_, i) => 10 * (i % W) + Math.floor(i / W))
  const mask = new Uint8Array(W * H)
  const sem = new Uint8Array(W * H)
  for (let y = 1; y < 4; y++) for (let x = 0; x < 2; x++) {
    mask[y * W + x] = 1
    sem[y * W + x] = 3
  }
  return {
    image: { width: W, height: H, channels: 1, data },
    boxes: Float32Array.from([0, 1, 2, 4, 5, 0, 8, 6]),
    labels: Int32Array.from([3, 1]),
    iscrowd: Uint8Array.from([0, 1]),
    masks: [mask, new Uint8Array(W * H)],
    semantic: sem,
  }
}

describe('box- and mask-aware augmentation', () => {
  it('horizontal flip moves boxes, masks and pixels together', () => {
    const f = hflipDetection(sample())
    expect([...f.boxes]).toEqual([6, 1, 8, 4, 0, 0, 3, 6])
    expect(f.image.data[0]).toBe(70) // x = 7 came to x = 0
    expect(f.masks![0]![1 * 8 + 7]).toBe(1)
    expect(f.semantic![1 * 8 + 6]).toBe(3)
    expect([...hflipDetection(f).boxes]).toEqual([...sample().boxes])
  })

  it('resize scales boxes by the size ratios and masks by nearest neighbour', () => {
    const r = resizeDetection(sample(), 16, 3)
    expect([...r.boxes]).toEqual([0, 0.5, 4, 2, 10, 0, 16, 3])
    expect(r.masks![0]!.length).toBe(48)
    // mask rows 1..3 of 6 -> row centres of 3 rows sample rows 1, 3, 5: rows 0 and 1 inside
    expect([...r.masks![0]!.subarray(0, 16)].slice(0, 5)).toEqual([1, 1, 1, 1, 0])
    expect(new Set(r.semantic)).toEqual(new Set([0, 3])) // no blended values
  })

  it('crop keeps objects whose box centre is inside, clips their boxes, pads with ignore', () => {
    // centre of box 0 is (1, 2.5): inside [1, 9) x [0, 6)? no: strictly inside needs cx > 1
    const c = cropDetection(sample(), { left: 1, top: 0, width: 8, height: 7 })
    expect([...c.labels]).toEqual([1])
    expect([...c.boxes]).toEqual([4, 0, 7, 6])
    expect([...c.iscrowd!]).toEqual([1])
    expect(c.masks).toHaveLength(1)
    // the last column and row are outside the 8x6 image: image 0, semantic 255
    expect(c.semantic![0 * 8 + 7]).toBe(255)
    expect(c.semantic![6 * 8]).toBe(255)
    expect(c.image.data[6 * 8]).toBe(0)
    const d = cropDetection(sample(), { left: 0, top: 2, width: 6, height: 3 })
    // box 0 centre (1, 2.5) inside: clipped to rows 2..4 -> [0, 0, 2, 2]; box 1 centre (6.5, 3) outside
    expect([...d.boxes]).toEqual([0, 0, 2, 2])
    expect(d.image.data[0]).toBe(2) // pixel (0, 2)
  })

  it('random steps are reproducible from (seed, epoch, id) and stay within the image', () => {
    const aug = { scaleJitter: { target: { width: 16, height: 12 }, scaleRange: [0.5, 2] as const }, randomCrop: { width: 8, height: 6 }, horizontalFlip: 0.5 }
    const a = augmentDetection(sample(), aug, augmentRng(1, 0, 5))
    const b = augmentDetection(sample(), aug, augmentRng(1, 0, 5))
    expect([...a.boxes]).toEqual([...b.boxes])
    expect([...a.image.data]).toEqual([...b.image.data])
    for (let seed = 0; seed < 20; seed++) {
      const s = augmentDetection(sample(), aug, new Rng(seed))
      expect([s.image.width, s.image.height]).toEqual([8, 6])
      for (let i = 0; i < s.boxes.length; i += 4) {
        expect(s.boxes[i]!).toBeGreaterThanOrEqual(0)
        expect(s.boxes[i + 2]!).toBeLessThanOrEqual(8)
        expect(s.boxes[i + 2]!).toBeGreaterThan(s.boxes[i]!)
      }
      expect(s.masks!.length).toBe(s.labels.length)
    }
    const j = scaleJitter(sample(), { width: 16, height: 12 }, [1, 1], new Rng(0))
    expect([j.image.width, j.image.height]).toEqual([16, 12])
    const small = randomCropDetection(sample(), { width: 4, height: 4 }, new Rng(3))
    expect([small.image.width, small.image.height]).toEqual([4, 4])
  })
})
