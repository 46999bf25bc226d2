import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import sharp, { type Sharp } from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DataRowError } from './errors.js'
import { toRgb } from './image.js'
import { checkImageHeader, decodeImageFile } from './image-decode-node.js'
import { transformImage } from './image-transforms.js'
import { encodePng, goldenImage, goldens, IMAGE_FIXTURES, maxAbsDiff } from '../../test/fixtures/images/fixtures.js'

let dir = ''
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ft-decode-'))
})
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true })
})

const decodeError = async (path: string): Promise<DataRowError> => {
  try {
    await decodeImageFile(path)
  } catch (e) {
    return e as DataRowError
  }
  throw new Error(`${path} decoded`)
}

// Tolerances against PIL's decode (`Image.open(p).convert('RGB')`): PNG, lossless WebP, grayscale,
// palette and alpha conversions must be exact. JPEG and lossy WebP go through other decoder builds
// (libvips' libjpeg-turbo/libwebp vs Pillow's), so up to 2 levels of 255 are allowed; on this machine
// both came out exact.
const JPEG_TOLERANCE = 2

describe('decoding against PIL', () => {
  for (const [name, g] of Object.entries(goldens.images)) {
    it(`decodes ${name} (${g.mode}) to the RGB pixels PIL gives${g.exact ? ' exactly' : ` within ${JPEG_TOLERANCE}`}`, async () => {
      const img = toRgb(await decodeImageFile(IMAGE_FIXTURES + g.file))
      expect([img.width, img.height]).toEqual([g.width, g.height])
      expect(maxAbsDiff(img.data, goldenImage(name).data)).toBeLessThanOrEqual(g.exact ? 0 : JPEG_TOLERANCE)
    })
  }

  it('decodes and transforms a JPEG to torchvision\'s tensor within the decoder tolerance', async () => {
    const c = goldens.cases.find((x) => x.image === 'rgb.jpg')!
    const img = await decodeImageFile(IMAGE_FIXTURES + 'golden/rgb.jpg')
    const spec = {
      preprocessing: { resize: { shortestEdge: 28 }, crop: { height: 24, width: 24 }, mean: goldens.mean as [number, number, number], std: goldens.std as [number, number, number], interpolation: 'bilinear' as const, rescaleFactor: 1 / 255 },
      size: { height: 24, width: 24 },
      augmentation: null,
    }
    // a pixel off by d levels moves the tensor by d / 255 / std (std >= 0.224)
    expect(maxAbsDiff(transformImage(img, spec), c.tensor)).toBeLessThanOrEqual(JPEG_TOLERANCE / 255 / 0.224 + 1e-6)
  })
})

describe('conversions to RGB', () => {
  it('drops alpha by default and composites on white when asked', async () => {
    const rgba = encodePng(2, 1, 6, 8, [10, 20, 30, 0, 200, 100, 50, 255])
    await writeFile(join(dir, 'rgba.png'), rgba)
    expect(Array.from((await decodeImageFile(join(dir, 'rgba.png'))).data)).toEqual([10, 20, 30, 200, 100, 50])
    expect(Array.from((await decodeImageFile(join(dir, 'rgba.png'), { alpha: 'white' })).data)).toEqual([255, 255, 255, 200, 100, 50])
  })

  it('keeps the top 8 bits of 16-bit RGB and grayscale PNGs', async () => {
    const rgb16 = [0, 255, 256, 4660, 65535, 32768]
    await writeFile(join(dir, 'rgb16.png'), encodePng(2, 1, 2, 16, rgb16))
    expect(Array.from((await decodeImageFile(join(dir, 'rgb16.png'))).data)).toEqual(rgb16.map((v) => v >> 8))
    const g16 = [1000, 51400, 65535]
    await writeFile(join(dir, 'g16.png'), encodePng(3, 1, 0, 16, g16))
    const img = toRgb(await decodeImageFile(join(dir, 'g16.png')))
    expect(Array.from(img.data)).toEqual(g16.flatMap((v) => [v >> 8, v >> 8, v >> 8]))
  })

  it('converts gray+alpha and CMYK images to three channels', async () => {
    await writeFile(join(dir, 'la.png'), encodePng(2, 1, 4, 8, [40, 0, 90, 255]))
    expect(Array.from(toRgb(await decodeImageFile(join(dir, 'la.png'))).data)).toEqual([40, 40, 40, 90, 90, 90])
    await sharp(IMAGE_FIXTURES + 'golden/rgb.png').toColourspace('cmyk').jpeg().toFile(join(dir, 'cmyk.jpg'))
    const img = await decodeImageFile(join(dir, 'cmyk.jpg'))
    expect([img.width, img.height, img.channels]).toEqual([56, 42, 3])
  })

  it('applies every EXIF orientation, so rotated photos come out upright', async () => {
    const upright = await decodeImageFile(IMAGE_FIXTURES + 'golden/rgb.png')
    for (const orientation of [1, 2, 3, 4, 5, 6, 7, 8]) {
      // store the image so that applying `orientation` restores it (one operation per pipeline:
      // sharp orders the operations of one pipeline itself)
      const steps: ((s: Sharp) => Sharp)[] = {
        1: [],
        2: [(s: Sharp) => s.flop()],
        3: [(s: Sharp) => s.rotate(180)],
        4: [(s: Sharp) => s.flip()],
        5: [(s: Sharp) => s.rotate(90), (s: Sharp) => s.flop()], // transpose
        6: [(s: Sharp) => s.rotate(-90)],
        7: [(s: Sharp) => s.rotate(-90), (s: Sharp) => s.flop()], // transverse
        8: [(s: Sharp) => s.rotate(90)],
      }[orientation]!
      let stored = await readFile(IMAGE_FIXTURES + 'golden/rgb.png')
      for (const step of steps) stored = await step(sharp(stored)).png().toBuffer()
      await sharp(stored).withMetadata({ orientation }).png().toFile(join(dir, `o${orientation}.png`))
      const img = await decodeImageFile(join(dir, `o${orientation}.png`))
      expect([img.width, img.height]).toEqual([56, 42])
      expect(maxAbsDiff(img.data, upright.data)).toBe(0)
    }
  })
})

describe('unreadable files', () => {
  it('names the path of a truncated JPEG or PNG', async () => {
    for (const name of ['rgb.jpg', 'rgb.png']) {
      const bytes = await readFile(IMAGE_FIXTURES + 'golden/' + name)
      const path = join(dir, `cut-${name}`)
      await writeFile(path, bytes.subarray(0, bytes.length >> 1))
      const err = await decodeError(path)
      expect(err).toBeInstanceOf(DataRowError)
      expect(err.code).toBe('DATA_BAD_IMAGE')
      expect(err.file).toBe(path)
      expect(err.message).toMatch(new RegExp(`^${path}: cannot be decoded as an image`))
    }
  })

  it('names the path of a text file, an empty file and a missing file', async () => {
    await writeFile(join(dir, 'notes.jpg'), 'not an image')
    await writeFile(join(dir, 'empty.png'), '')
    expect((await decodeError(join(dir, 'notes.jpg'))).message).toBe(`${join(dir, 'notes.jpg')}: cannot be decoded as an image: contains unsupported image format`)
    expect((await decodeError(join(dir, 'empty.png'))).message).toBe(`${join(dir, 'empty.png')}: is empty (0 bytes)`)
    expect((await decodeError(join(dir, 'gone.png'))).message).toBe(`${join(dir, 'gone.png')}: does not exist`)
  })

  it('says which formats are supported for a BMP', async () => {
    const bmp = new Uint8Array(58)
    bmp.set([0x42, 0x4d])
    await writeFile(join(dir, 'x.bmp'), bmp)
    const err = await decodeError(join(dir, 'x.bmp'))
    expect(err.message).toContain('BMP images cannot be decoded (supported: JPEG, PNG, WebP')
    expect(err.hint).toContain('convert the file to PNG')
  })

  it('reads headers without decoding, and rejects what is not an image', async () => {
    expect(await checkImageHeader(IMAGE_FIXTURES + 'golden/rgb.webp')).toEqual({ width: 56, height: 42, format: 'webp' })
    await expect(checkImageHeader(join(dir, 'notes.jpg'))).rejects.toThrow(/notes\.jpg: cannot be decoded as an image/)
    await expect(checkImageHeader(join(dir, 'gone.png'))).rejects.toThrow(/gone\.png: does not exist/)
  })
})
