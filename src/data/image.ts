/**
 * Decoded images as the data layer passes them around: 8-bit pixels, rows top to bottom, channels
 * interleaved (HWC), one channel (grayscale, IDX) or three (RGB). Decoders (image-decode-node.ts)
 * always give RGB; IDX readers give one channel, expanded to three when a tensor is made.
 */

/** Pixels of one image: `data[(y * width + x) * channels + c]`. */
export interface RawImage {
  width: number
  height: number
  channels: 1 | 3
  data: Uint8Array
}

/** How an alpha channel becomes RGB: dropped (PIL's `convert('RGB')`, torchvision's loader) or composited on white. */
export type AlphaMode = 'drop' | 'white'

/** File extensions read as images (lower case, with the dot). */
export const IMAGE_EXTENSIONS: readonly string[] = ['.jpg', '.jpeg', '.jpe', '.jfif', '.png', '.webp', '.gif', '.tif', '.tiff', '.avif', '.bmp', '.ppm', '.pgm', '.pbm']

/** Image extensions the decoder cannot read; such files are reported (with a hint to convert them), not ignored. */
export const UNSUPPORTED_IMAGE_EXTENSIONS: readonly string[] = ['.bmp', '.ppm', '.pgm', '.pbm']

/** Whether `name` has an image extension (case-insensitive). */
export function isImageName(name: string): boolean {
  const dot = name.lastIndexOf('.')
  return dot >= 0 && IMAGE_EXTENSIONS.includes(name.slice(dot).toLowerCase())
}

/** A three-channel copy of a grayscale image (each gray value repeated, as PIL's `convert('RGB')`); RGB images are returned as they are. */
export function toRgb(img: RawImage): RawImage {
  if (img.channels === 3) return img
  const n = img.width * img.height
  const out = new Uint8Array(n * 3)
  for (let i = 0; i < n; i++) {
    const v = img.data[i]!
    out[3 * i] = v
    out[3 * i + 1] = v
    out[3 * i + 2] = v
  }
  return { width: img.width, height: img.height, channels: 3, data: out }
}

/** Checks that `data` has width*height*channels bytes; a mismatch is a bug in a decoder or reader. */
export function checkImage(img: RawImage): RawImage {
  if (img.data.length !== img.width * img.height * img.channels) {
    throw new RangeError(`image of ${img.width}x${img.height}x${img.channels} has ${img.data.length} bytes`)
  }
  return img
}
