/**
 * Index masks: one class index per pixel (row-major, 8 bits), 255 meaning "ignore" as in Pascal
 * VOC. They are stored as palette PNGs (VOC's SegmentationClass) or 8-bit grayscale PNGs. libvips
 * (and so sharp) always expands a palette to colours, so the indices are read here from the PNG
 * itself: chunks, zlib (`inflate` is passed in: node:zlib in index-mask-node.ts), scanline
 * filters and 1/2/4/8-bit unpacking. Interlaced and 16-bit files are refused with a hint.
 */

/** A decoded index mask. */
export interface IndexMask {
  width: number
  height: number
  data: Uint8Array
}

/** The Pascal VOC colour map (256 RGB triples): class i's colour from the bits of i, as VOC's devkit builds it. */
export function vocPalette(): Uint8Array {
  const out = new Uint8Array(256 * 3)
  for (let i = 0; i < 256; i++) {
    let r = 0
    let g = 0
    let b = 0
    let c = i
    for (let j = 0; j < 8; j++) {
      r |= ((c >> 0) & 1) << (7 - j)
      g |= ((c >> 1) & 1) << (7 - j)
      b |= ((c >> 2) & 1) << (7 - j)
      c >>= 3
    }
    out[3 * i] = r
    out[3 * i + 1] = g
    out[3 * i + 2] = b
  }
  return out
}

const SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10]

/** Why a PNG cannot be read as an index mask (message for the user); thrown by decodeIndexPng. */
export class IndexPngError extends Error {}

/** Whether `bytes` start with the PNG signature. */
export function isPng(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && SIGNATURE.every((v, i) => bytes[i] === v)
}

/**
 * The index of every pixel of a palette (colour type 3) or grayscale (colour type 0) PNG, bit
 * depth 1-8. Other colour types throw IndexPngError (an RGB mask has colours, not indices).
 */
export function decodeIndexPng(bytes: Uint8Array, inflate: (data: Uint8Array) => Uint8Array): IndexMask {
  if (!isPng(bytes)) throw new IndexPngError('is not a PNG file')
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  let p = 8
  let width = 0
  let height = 0
  let depth = 0
  let colorType = -1
  let interlace = 0
  const idat: Uint8Array[] = []
  while (p + 8 <= bytes.length) {
    const len = view.getUint32(p)
    const type = String.fromCharCode(bytes[p + 4]!, bytes[p + 5]!, bytes[p + 6]!, bytes[p + 7]!)
    const body = bytes.subarray(p + 8, p + 8 + len)
    if (body.length !== len) throw new IndexPngError(`is truncated (chunk ${type})`)
    if (type === 'IHDR') {
      width = view.getUint32(p + 8)
      height = view.getUint32(p + 12)
      depth = bytes[p + 16]!
      colorType = bytes[p + 17]!
      interlace = bytes[p + 20]!
    } else if (type === 'IDAT') idat.push(body)
    else if (type === 'IEND') break
    p += 12 + len
  }
  if (!width || !height) throw new IndexPngError('has no IHDR chunk')
  if (colorType !== 0 && colorType !== 3) {
    const kind = { 2: 'RGB', 4: 'grayscale with alpha', 6: 'RGBA' }[colorType] ?? `colour type ${colorType}`
    throw new IndexPngError(`is an ${kind} PNG; an index mask holds one class index per pixel (a palette or 8-bit grayscale PNG)`)
  }
  if (depth > 8) throw new IndexPngError(`is a ${depth}-bit PNG; index masks are 8-bit (class indices 0..254, 255 = ignore)`)
  if (interlace !== 0) throw new IndexPngError('is interlaced (Adam7), which is not supported for masks; save it without interlacing')
  let total = 0
  for (const c of idat) total += c.length
  const z = new Uint8Array(total)
  let o = 0
  for (const c of idat) {
    z.set(c, o)
    o += c.length
  }
  const raw = inflate(z)
  const stride = Math.ceil((width * depth) / 8)
  if (raw.length < (stride + 1) * height) throw new IndexPngError(`has ${raw.length} bytes of pixel data, fewer than its ${width}x${height} size needs`)
  const rows = new Uint8Array(stride * height)
  const bpp = 1 // one sample a pixel, at most 8 bits: filters work on whole bytes
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)]!
    const src = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1))
    const cur = rows.subarray(y * stride, (y + 1) * stride)
    const prev = y > 0 ? rows.subarray((y - 1) * stride, y * stride) : undefined
    for (let x = 0; x < stride; x++) {
      const a = x >= bpp ? cur[x - bpp]! : 0
      const b = prev ? prev[x]! : 0
      const c = prev && x >= bpp ? prev[x - bpp]! : 0
      let v = src[x]!
      if (f === 1) v += a
      else if (f === 2) v += b
      else if (f === 3) v += (a + b) >> 1
      else if (f === 4) {
        const pa = Math.abs(b - c)
        const pb = Math.abs(a - c)
        const pc = Math.abs(a + b - 2 * c)
        v += pa <= pb && pa <= pc ? a : pb <= pc ? b : c
      } else if (f !== 0) throw new IndexPngError(`row ${y} has an unknown filter type ${f}`)
      cur[x] = v & 255
    }
  }
  if (depth === 8) return { width, height, data: rows }
  const data = new Uint8Array(width * height)
  const perByte = 8 / depth
  const maskBits = (1 << depth) - 1
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const byte = rows[y * stride + Math.floor(x / perByte)]!
      const shift = 8 - depth * ((x % perByte) + 1)
      data[y * width + x] = (byte >> shift) & maskBits
    }
  }
  return { width, height, data }
}

/** An 8-bit palette PNG of an index mask (the VOC palette by default), as VOC's SegmentationClass files are stored. */
export function encodeIndexPng(mask: IndexMask, deflate: (data: Uint8Array) => Uint8Array, palette: Uint8Array = vocPalette()): Uint8Array {
  const { width, height, data } = mask
  const raw = new Uint8Array((width + 1) * height)
  for (let y = 0; y < height; y++) raw.set(data.subarray(y * width, (y + 1) * width), y * (width + 1) + 1)
  const ihdr = new Uint8Array(13)
  const v = new DataView(ihdr.buffer)
  v.setUint32(0, width)
  v.setUint32(4, height)
  ihdr[8] = 8
  ihdr[9] = 3
  const chunks = [chunk('IHDR', ihdr), chunk('PLTE', palette), chunk('IDAT', deflate(raw)), chunk('IEND', new Uint8Array(0))]
  const out = new Uint8Array(8 + chunks.reduce((s, c) => s + c.length, 0))
  out.set(SIGNATURE, 0)
  let o = 8
  for (const c of chunks) {
    out.set(c, o)
    o += c.length
  }
  return out
}

/** An 8-bit RGB PNG (colour type 2, no filtering) of HWC pixels, e.g. a drawing of predictions. */
export function encodeRgbPng(img: { width: number; height: number; data: Uint8Array }, deflate: (data: Uint8Array) => Uint8Array): Uint8Array {
  const { width, height, data } = img
  if (data.length !== width * height * 3) throw new Error(`encodeRgbPng: ${data.length} bytes for a ${width}x${height} RGB image (want ${width * height * 3})`)
  const stride = 3 * width
  const raw = new Uint8Array((stride + 1) * height)
  for (let y = 0; y < height; y++) raw.set(data.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1)
  const ihdr = new Uint8Array(13)
  const v = new DataView(ihdr.buffer)
  v.setUint32(0, width)
  v.setUint32(4, height)
  ihdr[8] = 8
  ihdr[9] = 2
  const chunks = [chunk('IHDR', ihdr), chunk('IDAT', deflate(raw)), chunk('IEND', new Uint8Array(0))]
  const out = new Uint8Array(8 + chunks.reduce((s, c) => s + c.length, 0))
  out.set(SIGNATURE, 0)
  let o = 8
  for (const c of chunks) {
    out.set(c, o)
    o += c.length
  }
  return out
}

function chunk(type: string, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + body.length)
  const v = new DataView(out.buffer)
  v.setUint32(0, body.length)
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i)
  out.set(body, 8)
  v.setUint32(8 + body.length, crc32(out.subarray(4, 8 + body.length)))
  return out
}

let CRC_TABLE: Uint32Array | undefined
function crc32(bytes: Uint8Array): number {
  if (!CRC_TABLE) {
    CRC_TABLE = new Uint32Array(256)
    for (let n = 0; n < 256; n++) {
      let c = n
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
      CRC_TABLE[n] = c >>> 0
    }
  }
  let c = 0xffffffff
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 255]! ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}
