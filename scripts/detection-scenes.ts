/**
 * Composed detection and segmentation scenes from real Fashion-MNIST items (Debian's
 * dataset-fashion-mnist, MIT licence): each SIZE x SIZE RGB canvas (a two-colour gradient with
 * soft coarse texture) holds 1-4 items, each a 28x28 Fashion-MNIST image resized (bilinear) to
 * 24-56 px, tinted with a random colour and alpha-blended by its own intensity, at a random place;
 * a new item may cover at most 20% of an earlier item's box (and the reverse), and the item drawn
 * later is on top. Per split:
 *
 *   SPLIT/images/NNNN.png     the scene (RGB)
 *   SPLIT/masks/NNNN.png      index mask: 0 background, 1 + class where the item's intensity >= 0.2,
 *                             255 (ignore) on its faint rim (0.05 .. 0.2), later items on top
 *   SPLIT/instances.json      COCO instances: boxes = the tight box of each item's pixels >= 0.2,
 *                             segmentation = uncompressed RLE of its visible foreground, area = its pixels
 *   SPLIT/classes.txt         background + the 10 Fashion-MNIST classes (segmentation's class names)
 *
 * train and val take items from Fashion-MNIST's training images (train from the first 50,000, val
 * from the last 10,000), test from its 10,000 test images. Seeded: the same arguments give the same
 * files, and a split's first N scenes do not depend on how many follow (each split has its own
 * random stream). Run by hand (CI never runs it; data/scenes is its committed output with the defaults):
 *
 *   nice -n 10 npx tsx scripts/detection-scenes.ts [OUT=data/scenes] [TRAIN=32] [VAL=8] [TEST=24] [SEED=13] [SIZE=128]
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { deflateSync, gunzipSync } from 'node:zlib'
import sharp from 'sharp'
import { encodeIndexPng } from '../src/data/index-mask.js'
import { Rng } from '../src/runtime/rng.js'

export const FASHION_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'] as const
const FG = 0.2
const RIM = 0.05

interface Item { pixels: Uint8Array; label: number }

function readFashion(split: 'train' | 't10k'): Item[] {
  const dir = '/usr/share/datasets/fashion-mnist'
  let images: Buffer
  let labels: Buffer
  try {
    images = gunzipSync(readFileSync(join(dir, `${split}-images-idx3-ubyte.gz`)))
    labels = gunzipSync(readFileSync(join(dir, `${split}-labels-idx1-ubyte.gz`)))
  } catch (e) {
    throw new Error(`${dir}/${split}-*-idx*-ubyte.gz cannot be read (${(e as Error).message}): install Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist)`)
  }
  const n = labels.length - 8
  return Array.from({ length: n }, (_, i) => ({ pixels: images.subarray(16 + i * 784, 16 + (i + 1) * 784), label: labels[8 + i]! }))
}

/** 28x28 bytes -> s x s intensities in [0, 1], bilinear with half-pixel centres (align_corners=False). */
function resizeItem(p: Uint8Array, s: number): Float32Array {
  const out = new Float32Array(s * s)
  const f = 28 / s
  for (let y = 0; y < s; y++) {
    const sy = Math.min(27, Math.max(0, (y + 0.5) * f - 0.5))
    const y0 = Math.floor(sy)
    const y1 = Math.min(27, y0 + 1)
    const wy = sy - y0
    for (let x = 0; x < s; x++) {
      const sx = Math.min(27, Math.max(0, (x + 0.5) * f - 0.5))
      const x0 = Math.floor(sx)
      const x1 = Math.min(27, x0 + 1)
      const wx = sx - x0
      const v = (p[y0 * 28 + x0]! * (1 - wx) + p[y0 * 28 + x1]! * wx) * (1 - wy) + (p[y1 * 28 + x0]! * (1 - wx) + p[y1 * 28 + x1]! * wx) * wy
      out[y * s + x] = v / 255
    }
  }
  return out
}

interface Placed { x: number; y: number; s: number; v: Float32Array; label: number; box: [number, number, number, number] }

const overlapTooLarge = (a: readonly number[], b: readonly number[]): boolean => {
  const iw = Math.max(0, Math.min(a[2]!, b[2]!) - Math.max(a[0]!, b[0]!))
  const ih = Math.max(0, Math.min(a[3]!, b[3]!) - Math.max(a[1]!, b[1]!))
  const area = (r: readonly number[]): number => (r[2]! - r[0]!) * (r[3]! - r[1]!)
  return iw * ih > 0.2 * Math.min(area(a), area(b))
}

/** One scene: RGB bytes, index mask, and the COCO annotations of its items. */
export function composeScene(items: readonly Item[], rng: Rng, size: number): { rgb: Uint8Array; mask: Uint8Array; objects: { label: number; box: [number, number, number, number]; visible: Uint8Array }[] } {
  // background: a gradient between two muted colours plus soft 8x8-cell texture
  const c0 = [0, 1, 2].map(() => 40 + rng.int(150))
  const c1 = [0, 1, 2].map(() => 40 + rng.int(150))
  const angle = rng.next() * 2 * Math.PI
  const cells = Math.ceil(size / 8) + 1
  const tex = Float32Array.from({ length: cells * cells }, () => (rng.next() - 0.5) * 24)
  const rgb = new Float32Array(size * size * 3)
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) {
    const t = Math.min(1, Math.max(0, 0.5 + ((x - size / 2) * Math.cos(angle) + (y - size / 2) * Math.sin(angle)) / size))
    const gx = x / 8
    const gy = y / 8
    const ix = Math.floor(gx)
    const iy = Math.floor(gy)
    const fx = gx - ix
    const fy = gy - iy
    const n = (tex[iy * cells + ix]! * (1 - fx) + tex[iy * cells + ix + 1]! * fx) * (1 - fy) + (tex[(iy + 1) * cells + ix]! * (1 - fx) + tex[(iy + 1) * cells + ix + 1]! * fx) * fy
    for (let c = 0; c < 3; c++) rgb[(y * size + x) * 3 + c] = c0[c]! * (1 - t) + c1[c]! * t + n
  }
  const count = 1 + rng.int(4)
  const placed: Placed[] = []
  for (let k = 0; k < count; k++) {
    const item = items[rng.int(items.length)]!
    const s = 24 + rng.int(33)
    const v = resizeItem(item.pixels, s)
    // the tight box of the item's foreground inside its s x s patch
    let [bx0, by0, bx1, by1] = [s, s, -1, -1]
    for (let y = 0; y < s; y++) for (let x = 0; x < s; x++) if (v[y * s + x]! >= FG) [bx0, by0, bx1, by1] = [Math.min(bx0, x), Math.min(by0, y), Math.max(bx1, x), Math.max(by1, y)]
    if (bx1 < 0) continue
    for (let attempt = 0; attempt < 30; attempt++) {
      const x = rng.int(size - s + 1)
      const y = rng.int(size - s + 1)
      const box: [number, number, number, number] = [x + bx0, y + by0, x + bx1 + 1, y + by1 + 1]
      if (placed.some((p) => overlapTooLarge(p.box, box))) continue
      placed.push({ x, y, s, v, label: item.label, box })
      break
    }
  }
  const mask = new Uint8Array(size * size)
  const owner = new Int16Array(size * size).fill(-1)
  placed.forEach((p, k) => {
    // a colour that stands out from the background under it: bright or dark against its mean
    const under = [0, 1, 2].map((c) => rgb[((p.y + (p.s >> 1)) * size + p.x + (p.s >> 1)) * 3 + c]!)
    const bright = under.reduce((a, b) => a + b, 0) / 3 < 128
    const tint = [0, 1, 2].map(() => (bright ? 150 + rng.int(106) : rng.int(90)))
    for (let y = 0; y < p.s; y++) for (let x = 0; x < p.s; x++) {
      const v = p.v[y * p.s + x]!
      if (v <= 0.01) continue
      const i = (p.y + y) * size + p.x + x
      const a = Math.min(1, v / 0.3)
      for (let c = 0; c < 3; c++) rgb[i * 3 + c] = rgb[i * 3 + c]! * (1 - a) + tint[c]! * (0.45 + 0.55 * v) * a
      if (v >= FG) {
        mask[i] = 1 + p.label
        owner[i] = k
      } else if (v > RIM) {
        mask[i] = 255
        owner[i] = -1
      }
    }
  })
  const objects = placed.map((p, k) => ({ label: p.label, box: p.box, visible: Uint8Array.from(owner, (o) => (o === k ? 1 : 0)) }))
  return { rgb: Uint8Array.from(rgb, (v) => Math.max(0, Math.min(255, Math.round(v)))), mask, objects }
}

/** COCO's uncompressed RLE of a row-major binary mask (COCO counts run column-major, zeros first). */
export function rleCounts(m: Uint8Array, h: number, w: number): number[] {
  const counts: number[] = []
  let cur = 0
  let run = 0
  for (let x = 0; x < w; x++) for (let y = 0; y < h; y++) {
    const v = m[y * w + x]!
    if (v !== cur) {
      counts.push(run)
      run = 0
      cur = v
    }
    run++
  }
  counts.push(run)
  return counts
}

async function writeSplit(dir: string, items: readonly Item[], n: number, rng: Rng, size: number): Promise<number> {
  mkdirSync(join(dir, 'images'), { recursive: true })
  mkdirSync(join(dir, 'masks'), { recursive: true })
  const images: unknown[] = []
  const annotations: unknown[] = []
  for (let i = 0; i < n; i++) {
    const sc = composeScene(items, rng, size)
    const name = `${String(i).padStart(4, '0')}.png`
    await sharp(Buffer.from(sc.rgb), { raw: { width: size, height: size, channels: 3 } }).png({ compressionLevel: 9 }).toFile(join(dir, 'images', name))
    writeFileSync(join(dir, 'masks', name), encodeIndexPng({ width: size, height: size, data: sc.mask }, (z) => deflateSync(z, { level: 9 })))
    images.push({ id: i + 1, file_name: name, width: size, height: size })
    for (const o of sc.objects) {
      const [x1, y1, x2, y2] = o.box
      annotations.push({ id: annotations.length + 1, image_id: i + 1, category_id: o.label + 1, bbox: [x1, y1, x2 - x1, y2 - y1], area: o.visible.reduce((a, b) => a + b, 0), iscrowd: 0, segmentation: { size: [size, size], counts: rleCounts(o.visible, size, size) } })
    }
  }
  const coco = { info: { description: 'finetune composed Fashion-MNIST scenes (scripts/detection-scenes.ts)' }, images, annotations, categories: FASHION_CLASSES.map((name, k) => ({ id: k + 1, name, supercategory: 'fashion' })) }
  const tmp = join(dir, 'instances.json.tmp')
  writeFileSync(tmp, `${JSON.stringify(coco)}\n`)
  renameSync(tmp, join(dir, 'instances.json'))
  writeFileSync(join(dir, 'classes.txt'), `${['background', ...FASHION_CLASSES].join('\n')}\n`)
  return annotations.length
}

/** Writes OUT/{train,val,test} (a split with 0 scenes is left out). */
export async function writeScenes(out: string, counts: { train: number; val: number; test: number }, seed = 13, size = 128, log: (s: string) => void = console.log): Promise<void> {
  const train = readFashion('train')
  const test = readFashion('t10k')
  for (const [split, items, n, stream] of [['train', train.slice(0, 50_000), counts.train, 1], ['val', train.slice(50_000), counts.val, 2], ['test', test, counts.test, 3]] as const) {
    if (n === 0) continue
    const objects = await writeSplit(join(out, split), items, n, new Rng(seed, stream), size)
    log(`${split}: ${n} scenes, ${objects} objects -> ${join(out, split)}`)
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [out = 'data/scenes', trainN = '32', valN = '8', testN = '24', seedArg = '13', sizeArg = '128'] = process.argv.slice(2)
  await writeScenes(out, { train: Number(trainN), val: Number(valN), test: Number(testN) }, Number(seedArg), Number(sizeArg))
}
