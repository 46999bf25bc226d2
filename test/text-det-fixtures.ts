/**
 * Synthetic text-detection data: words rendered with librsvg (through sharp) in the fonts Debian
 * has (DejaVu, Liberation), at random sizes, colours and small rotations, on noisy backgrounds with
 * distracting lines; each word's polygon is the minimum-area rectangle of its own ink (rendered
 * alone at the same place), grown by 2 px. Written as PNGs plus PaddleOCR's label file.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import sharp from 'sharp'
import { minAreaRect, type Point } from '../src/data/polygon.js'
import { Rng } from '../src/runtime/rng.js'

const WORDS = ['finetune', 'ONNX', 'runtime', 'detect', 'text', 'Paddle', 'hmean', 'DBNet', 'shrink', 'border', 'polygon', 'graph', 'tensor', 'OCR', 'invoice', 'total', '42.50', 'EUR', 'Street', 'No. 7', 'open', 'daily']
const FONTS = ['DejaVu Sans', 'DejaVu Serif', 'Liberation Sans', 'Liberation Mono', 'DejaVu Sans Mono']

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;')

interface Word {
  text: string
  x: number
  y: number
  size: number
  font: string
  angle: number
  fill: string
}

const svgText = (w: Word, fill = w.fill): string =>
  `<text x="${w.x}" y="${w.y}" font-family="${w.font}" font-size="${w.size}" fill="${fill}" transform="rotate(${w.angle} ${w.x} ${w.y})">${esc(w.text)}</text>`

async function inkPolygon(width: number, height: number, w: Word): Promise<Point[] | null> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><rect width="100%" height="100%" fill="black"/>${svgText(w, 'white')}</svg>`
  const { data } = await sharp(Buffer.from(svg)).greyscale().raw().toBuffer({ resolveWithObject: true })
  const pts: Point[] = []
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) if (data[y * width + x]! > 96) pts.push([x, y])
  if (pts.length < 8) return null
  const r = minAreaRect(pts)
  const [cx, cy] = r.corners.reduce(([a, b], [x, y]) => [a + x / 4, b + y / 4], [0, 0])
  // grown by 2 px from the centre along both sides
  return r.corners.map(([x, y]): Point => {
    const dx = x - cx
    const dy = y - cy
    const L = Math.hypot(dx, dy) || 1
    return [Math.round((x + (dx / L) * 2.8) * 10) / 10, Math.round((y + (dy / L) * 2.8) * 10) / 10]
  })
}

/** Writes `n` images of width x height with 2-4 words each into `dir`; returns the label file's path. */
export async function syntheticTextSet(dir: string, n: number, o: { width?: number; height?: number; seed?: number; contrast?: number; blur?: number; noise?: number } = {}): Promise<string> {
  const W = o.width ?? 256
  const H = o.height ?? 160
  const rng = new Rng(o.seed ?? 5)
  mkdirSync(join(dir, 'images'), { recursive: true })
  const lines: string[] = []
  for (let i = 0; i < n; i++) {
    const bg = [200 + rng.int(56), 190 + rng.int(66), 180 + rng.int(76)]
    const words: Word[] = []
    const count = 2 + rng.int(3)
    const band = H / count
    for (let k = 0; k < count; k++) {
      const size = 14 + rng.int(14)
      const text = WORDS[rng.int(WORDS.length)]!
      const shade = o.contrast !== undefined ? Math.max(0, Math.min(...bg) - o.contrast - rng.int(20)) : rng.int(90)
      words.push({ text, size, font: FONTS[rng.int(FONTS.length)]!, angle: Math.round((rng.next() - 0.5) * 16), x: 8 + rng.int(Math.max(1, W - text.length * size * 0.6 - 16)), y: Math.round(k * band + band / 2 + size / 3), fill: `rgb(${shade},${shade + rng.int(40)},${shade + rng.int(60)})` })
    }
    const lines_ = Array.from({ length: 3 }, () => `<line x1="${rng.int(W)}" y1="${rng.int(H)}" x2="${rng.int(W)}" y2="${rng.int(H)}" stroke="rgb(${120 + rng.int(80)},${120 + rng.int(80)},${120 + rng.int(80)})" stroke-width="${1 + rng.int(2)}"/>`).join('')
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}"><rect width="100%" height="100%" fill="rgb(${bg.join(',')})"/>${lines_}${words.map((w) => svgText(w)).join('')}</svg>`
    const img = sharp(Buffer.from(svg))
    const base = await (o.blur ? img.blur(o.blur) : img).raw().toBuffer({ resolveWithObject: true })
    // pixel noise, so the background is not flat
    const px = Buffer.from(base.data)
    for (let j = 0; j < px.length; j++) px[j] = Math.max(0, Math.min(255, px[j]! + Math.round((rng.next() - 0.5) * (o.noise ?? 24))))
    const name = `images/img_${String(i).padStart(3, '0')}.png`
    await sharp(px, { raw: { width: W, height: H, channels: base.info.channels } }).removeAlpha().png().toFile(join(dir, name))
    const anns: { transcription: string; points: Point[] }[] = []
    for (const w of words) {
      const p = await inkPolygon(W, H, w)
      if (p) anns.push({ transcription: w.text, points: p })
    }
    lines.push(`${name}\t${JSON.stringify(anns)}`)
  }
  const label = join(dir, 'label.txt')
  writeFileSync(label, `${lines.join('\n')}\n`)
  return label
}
