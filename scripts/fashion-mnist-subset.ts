/**
 * Writes a class-balanced subset of Debian's Fashion-MNIST as IDX files (for quick runs and the
 * evidence in BENCHMARKS.md): npx tsx scripts/fashion-mnist-subset.ts OUT_DIR TRAIN_PER_CLASS TEST_PER_CLASS
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { gunzipSync } from 'node:zlib'
import { join } from 'node:path'
import { idxBytes } from '../src/data/image-idx.js'

const [out = 'fashion-mnist-subset', trainPer = '200', testPer = '100'] = process.argv.slice(2)
const src = '/usr/share/datasets/fashion-mnist'
mkdirSync(out, { recursive: true })
for (const [split, per] of [['train', Number(trainPer)], ['t10k', Number(testPer)]] as const) {
  const images = gunzipSync(readFileSync(join(src, `${split}-images-idx3-ubyte.gz`)))
  const labels = gunzipSync(readFileSync(join(src, `${split}-labels-idx1-ubyte.gz`)))
  const n = labels.length - 8
  const take: number[] = []
  const count = new Array<number>(10).fill(0)
  for (let i = 0; i < n && take.length < per * 10; i++) {
    const c = labels[8 + i]!
    if (count[c]! < per) {
      count[c]!++
      take.push(i)
    }
  }
  const img = new Uint8Array(take.length * 784)
  take.forEach((i, k) => img.set(images.subarray(16 + i * 784, 16 + (i + 1) * 784), k * 784))
  const lab = Uint8Array.from(take.map((i) => labels[8 + i]!))
  const name = split === 'train' ? 'train' : 'test'
  writeFileSync(join(out, `${name}-images-idx3-ubyte`), idxBytes([take.length, 28, 28], img))
  writeFileSync(join(out, `${name}-labels-idx1-ubyte`), idxBytes([take.length], lab))
  console.log(`${name}: ${take.length} images`)
}
