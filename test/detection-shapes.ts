/** A tiny synthetic COCO detection set for CLI tests: S x S images of a red square (category 5) and a blue bar (category 9) on dark noise. */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import sharp from 'sharp'
import { Rng } from '../src/runtime/rng.js'

/** Writes `root`/instances.json and `root`/images/s<i>.png: n images, one square and one bar each; image 0 also has a crowd box. */
export async function writeShapes(root: string, n: number, seed: number, S = 64): Promise<void> {
  mkdirSync(join(root, 'images'), { recursive: true })
  const rng = new Rng(seed)
  const images: unknown[] = []
  const annotations: unknown[] = []
  for (let i = 0; i < n; i++) {
    const rgb = new Uint8Array(S * S * 3)
    for (let p = 0; p < rgb.length; p++) rgb[p] = Math.floor(rng.next() * 50)
    const paint = (x0: number, y0: number, w: number, h: number, c: [number, number, number]): void => {
      for (let y = y0; y < y0 + h; y++) for (let x = x0; x < x0 + w; x++) rgb.set(c, 3 * (y * S + x))
    }
    const sq = { x: rng.int(20), y: rng.int(20), w: 16 + rng.int(8) }
    const bar = { x: 40 + rng.int(8), y: 8 + rng.int(16), w: 10, h: 36 }
    paint(sq.x, sq.y, sq.w, sq.w, [230, 40, 40])
    paint(bar.x, bar.y, bar.w, bar.h, [40, 60, 230])
    await sharp(rgb, { raw: { width: S, height: S, channels: 3 } }).png().toFile(join(root, 'images', `s${i}.png`))
    images.push({ id: 100 + i, file_name: `s${i}.png`, width: S, height: S })
    annotations.push({ id: 1000 + 2 * i, image_id: 100 + i, category_id: 5, bbox: [sq.x, sq.y, sq.w, sq.w], area: sq.w * sq.w, iscrowd: 0 })
    annotations.push({ id: 1001 + 2 * i, image_id: 100 + i, category_id: 9, bbox: [bar.x, bar.y, bar.w, bar.h], area: bar.w * bar.h, iscrowd: 0 })
    if (i === 0) annotations.push({ id: 999, image_id: 100, category_id: 5, bbox: [0, 50, 14, 14], area: 196, iscrowd: 1 })
  }
  writeFileSync(join(root, 'instances.json'), JSON.stringify({ images, annotations, categories: [{ id: 9, name: 'blue' }, { id: 5, name: 'red' }] }))
}
