/**
 * `finetune predict --draw DIR` for the vision tasks that predict places (object-detection,
 * semantic-segmentation, text-detection): one PNG per input image, named after it (DIR/<stem>.png;
 * a second input of the same stem gets <stem>-2.png), written atomically. What is drawn is the
 * task's (src/data/draw.ts); this file owns the folder and the files.
 */
import { existsSync, statSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { basename, extname, join, resolve } from 'node:path'
import { deflateSync } from 'node:zlib'
import { writeFileAtomic } from '../checkpoint/io-node.js'
import { canvasOf } from '../data/draw.js'
import { decodeImageFile } from '../data/image-decode-node.js'
import { encodeRgbPng } from '../data/index-mask.js'
import type { RawImage } from '../data/image.js'
import { ConfigError } from '../errors.js'
import type { TaskOption } from './task.js'

/** The task option, `--draw DIR`, with what the task draws. */
export const drawOption = (what: string): TaskOption => ({ type: 'string', describe: `write a PNG per input image into DIR, named after it, showing ${what}`, placeholder: 'DIR', commands: ['predict'] })

/** Draws predictions of one predict call into `dir` (undefined: no drawing). */
export class Drawings {
  readonly #used = new Set<string>()
  private constructor(readonly dir: string) {}

  /** Creates the folder; `--draw` naming a file is an error. */
  static async open(dir: unknown): Promise<Drawings | undefined> {
    if (typeof dir !== 'string' || dir === '') return undefined
    if (existsSync(dir) && !statSync(dir).isDirectory()) throw new ConfigError('PREDICT_DRAW_DIR', `--draw ${dir} is a file`, 'pass a folder for the drawn images (it is created when missing)')
    await mkdir(dir, { recursive: true })
    return new Drawings(dir)
  }

  /** The input's pixels as an RGB canvas to draw on (its own size). */
  async canvas(input: string): Promise<RawImage> {
    return canvasOf(await decodeImageFile(input))
  }

  /** Writes the drawing of `input`; returns its path. */
  async write(input: string, img: RawImage): Promise<string> {
    const stem = basename(input, extname(input))
    let name = `${stem}.png`
    for (let k = 2; this.#used.has(name); k++) name = `${stem}-${k}.png`
    const file = join(this.dir, name)
    if (resolve(file) === resolve(input)) throw new ConfigError('PREDICT_DRAW_DIR', `--draw ${this.dir} would overwrite the input ${input}`, 'pass another folder for the drawn images')
    this.#used.add(name)
    await writeFileAtomic(file, [encodeRgbPng(img, (z) => deflateSync(z))])
    return file
  }
}
