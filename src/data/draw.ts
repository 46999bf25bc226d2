/**
 * Drawing predictions on images (`finetune predict --draw DIR`): box outlines with a label, masks
 * blended over the image, polygon outlines. Pure raster operations on RGB RawImages (the caller
 * decodes and encodes; encodeRgbPng in index-mask.ts writes the PNG). Coordinates are continuous
 * pixels, as boxes everywhere in finetune: a box [0, 0, 10, 10] covers pixel columns 0..9, so its
 * outline runs along columns 0 and 9.
 *
 * Labels use a built-in 5x7 bitmap font (the classic HD44780 / Adafruit GFX glyph shapes; digits,
 * A-Z, a little punctuation; lower case is drawn as upper case, other characters as "?"), scaled by
 * whole pixels so it stays crisp.
 */
import type { RawImage } from './image.js'

export type Rgb = readonly [number, number, number]

/** Twenty well-separated colours (Sasha Trubetskoy's list), class i gets COLOURS[i % 20]. */
const COLOURS: readonly Rgb[] = [
  [230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200], [245, 130, 48], [145, 30, 180], [70, 240, 240], [240, 50, 230], [210, 245, 60], [250, 190, 212],
  [0, 128, 128], [220, 190, 255], [170, 110, 40], [255, 250, 200], [128, 0, 0], [170, 255, 195], [128, 128, 0], [255, 215, 180], [0, 0, 128], [128, 128, 128],
]

/** The colour of class `label` for boxes. */
export const classColour = (label: number): Rgb => COLOURS[((label % COLOURS.length) + COLOURS.length) % COLOURS.length]!

/** An RGB copy of `img` to draw on (grayscale expanded). */
export function canvasOf(img: RawImage): RawImage {
  const n = img.width * img.height
  if (img.channels === 3) return { ...img, data: Uint8Array.from(img.data) }
  const data = new Uint8Array(3 * n)
  for (let i = 0; i < n; i++) data.fill(img.data[i]!, 3 * i, 3 * i + 3)
  return { width: img.width, height: img.height, channels: 3, data }
}

/** Sets pixel (x, y) when inside the image. */
function put(img: RawImage, x: number, y: number, c: Rgb): void {
  if (x < 0 || y < 0 || x >= img.width || y >= img.height) return
  img.data.set(c, 3 * (y * img.width + x))
}

/** Fills the pixel rectangle columns x0..x1-1, rows y0..y1-1 (clipped to the image). */
export function fillRect(img: RawImage, x0: number, y0: number, x1: number, y1: number, c: Rgb): void {
  for (let y = Math.max(0, y0); y < Math.min(img.height, y1); y++) for (let x = Math.max(0, x0); x < Math.min(img.width, x1); x++) img.data.set(c, 3 * (y * img.width + x))
}

/** A line thickness that shows on the image: 1 px up to 300 px, then 1 px per 300. */
export const lineWidth = (img: RawImage): number => Math.max(1, Math.round(Math.max(img.width, img.height) / 300))

/** The outline of box x1 y1 x2 y2 (continuous coordinates), `thickness` pixels inward. */
export function drawBox(img: RawImage, box: ArrayLike<number>, c: Rgb, thickness = lineWidth(img)): void {
  const x0 = Math.round(box[0]!)
  const y0 = Math.round(box[1]!)
  const x1 = Math.max(x0 + 1, Math.round(box[2]!))
  const y1 = Math.max(y0 + 1, Math.round(box[3]!))
  const t = Math.min(thickness, Math.ceil((x1 - x0) / 2), Math.ceil((y1 - y0) / 2))
  fillRect(img, x0, y0, x1, y0 + t, c)
  fillRect(img, x0, y1 - t, x1, y1, c)
  fillRect(img, x0, y0, x0 + t, y1, c)
  fillRect(img, x1 - t, y0, x1, y1, c)
}

// 5 columns per glyph, bit 0 the top row of 7
const GLYPHS: Record<string, readonly number[]> = {
  '0': [0x3e, 0x51, 0x49, 0x45, 0x3e], '1': [0x00, 0x42, 0x7f, 0x40, 0x00], '2': [0x42, 0x61, 0x51, 0x49, 0x46], '3': [0x21, 0x41, 0x45, 0x4b, 0x31],
  '4': [0x18, 0x14, 0x12, 0x7f, 0x10], '5': [0x27, 0x45, 0x45, 0x45, 0x39], '6': [0x3c, 0x4a, 0x49, 0x49, 0x30], '7': [0x01, 0x71, 0x09, 0x05, 0x03],
  '8': [0x36, 0x49, 0x49, 0x49, 0x36], '9': [0x06, 0x49, 0x49, 0x29, 0x1e],
  A: [0x7e, 0x11, 0x11, 0x11, 0x7e], B: [0x7f, 0x49, 0x49, 0x49, 0x36], C: [0x3e, 0x41, 0x41, 0x41, 0x22], D: [0x7f, 0x41, 0x41, 0x22, 0x1c],
  E: [0x7f, 0x49, 0x49, 0x49, 0x41], F: [0x7f, 0x09, 0x09, 0x09, 0x01], G: [0x3e, 0x41, 0x49, 0x49, 0x7a], H: [0x7f, 0x08, 0x08, 0x08, 0x7f],
  I: [0x00, 0x41, 0x7f, 0x41, 0x00], J: [0x20, 0x40, 0x41, 0x3f, 0x01], K: [0x7f, 0x08, 0x14, 0x22, 0x41], L: [0x7f, 0x40, 0x40, 0x40, 0x40],
  M: [0x7f, 0x02, 0x0c, 0x02, 0x7f], N: [0x7f, 0x04, 0x08, 0x10, 0x7f], O: [0x3e, 0x41, 0x41, 0x41, 0x3e], P: [0x7f, 0x09, 0x09, 0x09, 0x06],
  Q: [0x3e, 0x41, 0x51, 0x21, 0x5e], R: [0x7f, 0x09, 0x19, 0x29, 0x46], S: [0x46, 0x49, 0x49, 0x49, 0x31], T: [0x01, 0x01, 0x7f, 0x01, 0x01],
  U: [0x3f, 0x40, 0x40, 0x40, 0x3f], V: [0x1f, 0x20, 0x40, 0x20, 0x1f], W: [0x3f, 0x40, 0x38, 0x40, 0x3f], X: [0x63, 0x14, 0x08, 0x14, 0x63],
  Y: [0x07, 0x08, 0x70, 0x08, 0x07], Z: [0x61, 0x51, 0x49, 0x45, 0x43],
  ' ': [0, 0, 0, 0, 0], '.': [0x00, 0x60, 0x60, 0x00, 0x00], ',': [0x00, 0x50, 0x30, 0x00, 0x00], '-': [0x08, 0x08, 0x08, 0x08, 0x08],
  _: [0x40, 0x40, 0x40, 0x40, 0x40], ':': [0x00, 0x36, 0x36, 0x00, 0x00], '/': [0x20, 0x10, 0x08, 0x04, 0x02], '%': [0x23, 0x13, 0x08, 0x64, 0x62],
  '(': [0x00, 0x1c, 0x22, 0x41, 0x00], ')': [0x00, 0x41, 0x22, 0x1c, 0x00], '?': [0x02, 0x01, 0x51, 0x09, 0x06],
}

/** Width and height in pixels of `text` at `scale` (6 columns per character with its gap, 7 rows). */
export const textSize = (text: string, scale: number): [number, number] => [Math.max(0, 6 * text.length - 1) * scale, 7 * scale]

/** Draws `text` with its top-left corner at (x, y). */
export function drawText(img: RawImage, x: number, y: number, text: string, c: Rgb, scale = 1): void {
  ;[...text].forEach((ch, i) => {
    const g = GLYPHS[ch.toUpperCase()] ?? GLYPHS['?']!
    g.forEach((col, cx) => {
      for (let row = 0; row < 7; row++) if ((col >> row) & 1) for (let dy = 0; dy < scale; dy++) for (let dx = 0; dx < scale; dx++) put(img, x + (6 * i + cx) * scale + dx, y + row * scale + dy, c)
    })
  })
}

/** A box outline in its class colour, with `caption` on a filled tag above it (inside when it would leave the image). */
export function drawLabelledBox(img: RawImage, box: ArrayLike<number>, caption: string, c: Rgb): void {
  drawBox(img, box, c)
  const scale = Math.max(1, Math.round(Math.max(img.width, img.height) / 400))
  const [tw, th] = textSize(caption, scale)
  const pad = scale
  const x0 = Math.max(0, Math.min(Math.round(box[0]!), img.width - tw - 2 * pad))
  const above = Math.round(box[1]!) - th - 2 * pad
  const y0 = above >= 0 ? above : Math.max(0, Math.round(box[1]!))
  fillRect(img, x0, y0, x0 + tw + 2 * pad, y0 + th + 2 * pad, c)
  // dark text on light colours, white on dark ones (Rec. 601 luma)
  const ink: Rgb = 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2] > 140 ? [0, 0, 0] : [255, 255, 255]
  drawText(img, x0 + pad, y0 + pad, caption, ink, scale)
}

/**
 * Blends an index mask over the image: pixel = (1 - alpha) x pixel + alpha x palette[class]. Class
 * 0 (VOC's background) and 255 (ignore) are left as they are.
 */
export function overlayMask(img: RawImage, mask: ArrayLike<number>, palette: Uint8Array, alpha = 0.5): void {
  for (let p = 0; p < img.width * img.height; p++) {
    const k = mask[p]!
    if (k === 0 || k === 255) continue
    for (let ch = 0; ch < 3; ch++) img.data[3 * p + ch] = Math.round((1 - alpha) * img.data[3 * p + ch]! + alpha * palette[3 * k + ch]!)
  }
}

/** The closed outline through `points` (pixel centres at integer + 0.5 are not assumed: points are rounded). */
export function drawPolygon(img: RawImage, points: readonly (readonly [number, number])[], c: Rgb, thickness = lineWidth(img)): void {
  const r = Math.floor((thickness - 1) / 2)
  const dot = (x: number, y: number): void => fillRect(img, x - r, y - r, x - r + thickness, y - r + thickness, c)
  points.forEach((a, i) => {
    const b = points[(i + 1) % points.length]!
    let [x0, y0] = [Math.round(a[0]), Math.round(a[1])]
    const [x1, y1] = [Math.round(b[0]), Math.round(b[1])]
    // Bresenham
    const dx = Math.abs(x1 - x0)
    const dy = -Math.abs(y1 - y0)
    const sx = x0 < x1 ? 1 : -1
    const sy = y0 < y1 ? 1 : -1
    let err = dx + dy
    for (;;) {
      dot(x0, y0)
      if (x0 === x1 && y0 === y1) break
      const e2 = 2 * err
      if (e2 >= dy) {
        err += dy
        x0 += sx
      }
      if (e2 <= dx) {
        err += dx
        y0 += sy
      }
    }
  })
}
