/** Small synthetic image-folder data sets (PNG via sharp) and a randomly initialised torchvision state dict. */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import sharp from 'sharp'
import { writeSafetensorsFile } from '../src/checkpoint/io-node.js'
import { modelTensors } from '../src/models/pretrained-node.js'
import { visionArchs, type ArchName } from '../src/models/vision.js'
import { Rng } from '../src/runtime/rng.js'

/** Two classes: horizontal vs vertical stripes, with noise and random phase. */
export async function stripesFolder(dir: string, perClass = 24, size = 32, seed = 1): Promise<string> {
  const rng = new Rng(seed)
  for (const cls of ['horizontal', 'vertical']) {
    mkdirSync(join(dir, cls), { recursive: true })
    for (let i = 0; i < perClass; i++) {
      const px = Buffer.alloc(size * size * 3)
      const phase = rng.int(8)
      const period = 4 + rng.int(4)
      for (let y = 0; y < size; y++)
        for (let x = 0; x < size; x++) {
          const t = cls === 'horizontal' ? y : x
          const on = Math.floor((t + phase) / period) % 2 === 0
          for (let c = 0; c < 3; c++) px[(y * size + x) * 3 + c] = Math.max(0, Math.min(255, (on ? 200 : 50) + Math.round((rng.next() - 0.5) * 60)))
        }
      await sharp(px, { raw: { width: size, height: size, channels: 3 } }).png().toFile(join(dir, cls, `${i}.png`))
    }
  }
  return dir
}

export async function torchvisionStateDict(path: string, arch: ArchName, classes = 1000): Promise<string> {
  const m = visionArchs[arch].build(classes)
  m.nameParameters()
  await writeSafetensorsFile(path, modelTensors(m as never), { format: 'pt' })
  return path
}
