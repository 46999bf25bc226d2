/**
 * Image files decoded to 8-bit RGB with sharp (libvips): JPEG, PNG, WebP, GIF (first frame), TIFF,
 * AVIF. Whatever the file holds comes out as RGB, never rejected for its kind:
 * - grayscale and palette images are expanded (gray repeated, palette looked up, as PIL's
 *   `convert('RGB')`);
 * - 16-bit images keep their top 8 bits (PIL does the same for 16-bit RGB; for 16-bit grayscale PIL
 *   clips instead, which this does not copy);
 * - alpha is dropped by default (as `convert('RGB')` and so torchvision's loader do), or composited on
 *   white (`alpha: 'white'`);
 * - CMYK and other colour spaces are converted to sRGB;
 * - the EXIF orientation is applied (torchvision does not: a rotated photo is seen upright here).
 * A file that cannot be read or decoded is a DataRowError naming it (code DATA_BAD_IMAGE), which
 * `onBadRow: 'skip'` can skip and count.
 */
import { readFile } from 'node:fs/promises'
import sharp from 'sharp'
import { DataRowError } from './errors.js'
import { checkImage, UNSUPPORTED_IMAGE_EXTENSIONS, type AlphaMode, type RawImage } from './image.js'

export interface DecodeOptions {
  /** Drop alpha (default, as torchvision) or composite on white. */
  alpha?: AlphaMode
}

// The libvips operation cache keeps recent inputs and outputs; decoding each file once gains nothing from it.
sharp.cache(false)

/** Decodes the image file at `path` (or `bytes`, with `path` naming it in errors) to 8-bit RGB. */
export async function decodeImageFile(path: string, opts: DecodeOptions = {}, bytes?: Uint8Array): Promise<RawImage> {
  let input: Uint8Array
  try {
    input = bytes ?? (await readFile(path))
  } catch (e) {
    const err = e as NodeJS.ErrnoException
    const why = err.code === 'ENOENT' ? 'does not exist' : err.code === 'EISDIR' ? 'is a folder, not an image' : `cannot be read (${err.code ?? err.message})`
    throw new DataRowError('DATA_BAD_IMAGE', { file: path }, why, 'check the path, or skip such images (onBadRow: skip)')
  }
  if (input.length === 0) throw new DataRowError('DATA_BAD_IMAGE', { file: path }, 'is empty (0 bytes)', 'replace or remove the file, or skip such images (onBadRow: skip)')
  try {
    let s = sharp(input, { failOn: 'error' }).autoOrient()
    if (opts.alpha === 'white') s = s.flatten({ background: { r: 255, g: 255, b: 255 } })
    s = s.removeAlpha().toColourspace('srgb')
    const { data, info } = await s.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true })
    const bytesOut = new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
    if (info.channels === 3) return checkImage({ width: info.width, height: info.height, channels: 3, data: bytesOut })
    // libvips leaves some single-band inputs single-band
    if (info.channels === 1) return checkImage({ width: info.width, height: info.height, channels: 1, data: bytesOut })
    throw new Error(`decoded to ${info.channels} channels`)
  } catch (e) {
    throw badImage(path, e)
  }
}

/** Reads only the header of `path`: throws DATA_BAD_IMAGE for a file that is not an image sharp can read. */
export async function checkImageHeader(path: string): Promise<{ width: number; height: number; format: string }> {
  try {
    const m = await sharp(path).metadata()
    if (!m.width || !m.height) throw new Error('no image size in the header')
    return { width: m.width, height: m.height, format: m.format ?? 'unknown' }
  } catch (e) {
    const err = e as NodeJS.ErrnoException
    if (err.code === 'ENOENT' || /Input file is missing/.test(err.message)) {
      throw new DataRowError('DATA_BAD_IMAGE', { file: path }, 'does not exist', 'check the path, or skip such images (onBadRow: skip)')
    }
    throw badImage(path, e)
  }
}

function badImage(path: string, e: unknown): DataRowError {
  const msg = (e as Error).message ?? String(e)
  const ext = /\.[^./\\]+$/.exec(path)?.[0]?.toLowerCase() ?? ''
  if (UNSUPPORTED_IMAGE_EXTENSIONS.includes(ext) && /unsupported image format/i.test(msg)) {
    return new DataRowError('DATA_BAD_IMAGE', { file: path }, `${ext.slice(1).toUpperCase()} images cannot be decoded (supported: JPEG, PNG, WebP, GIF, TIFF, AVIF)`, 'convert the file to PNG, or skip such images (onBadRow: skip)')
  }
  const detail = msg.split('\n')[0]!.replace(/^Input (buffer|file) /, '').trim()
  return new DataRowError('DATA_BAD_IMAGE', { file: path }, `cannot be decoded as an image: ${detail}`, 'replace or remove the file, or skip such images (onBadRow: skip)')
}
