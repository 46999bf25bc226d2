// --draw's files: DIR/<input stem>.png, a second input of the same stem numbered, the folder created,
// a file given as the folder and an input that would be overwritten refused; no temporary files left.
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import sharp from 'sharp'
import { afterAll, describe, expect, it } from 'vitest'
import { Drawings } from './draw-node.js'

const dir = mkdtempSync(join(tmpdir(), 'ft-draw-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('--draw files', () => {
  it('names drawings after their inputs, numbers repeated stems, and refuses a file as the folder or overwriting an input', async () => {
    mkdirSync(join(dir, 'a'))
    mkdirSync(join(dir, 'b'))
    const rgb = new Uint8Array(4 * 3 * 3).fill(90)
    for (const f of [join(dir, 'a', 'x.jpg'), join(dir, 'b', 'x.png')]) await sharp(rgb, { raw: { width: 4, height: 3, channels: 3 } }).toFile(f)
    expect(await Drawings.open(undefined)).toBeUndefined()
    const out = join(dir, 'out', 'nested')
    const d = (await Drawings.open(out))!
    const first = await d.write(join(dir, 'a', 'x.jpg'), await d.canvas(join(dir, 'a', 'x.jpg')))
    const second = await d.write(join(dir, 'b', 'x.png'), await d.canvas(join(dir, 'b', 'x.png')))
    expect([first, second]).toEqual([join(out, 'x.png'), join(out, 'x-2.png')])
    expect(readdirSync(out).sort()).toEqual(['x-2.png', 'x.png'])
    const meta = await sharp(first).metadata()
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 4, 3])

    writeFileSync(join(dir, 'file'), '')
    await expect(Drawings.open(join(dir, 'file'))).rejects.toThrow(/--draw .*file is a file/)
    const own = (await Drawings.open(join(dir, 'b')))!
    await expect(own.write(join(dir, 'b', 'x.png'), await own.canvas(join(dir, 'b', 'x.png')))).rejects.toThrow(/would overwrite the input/)
  })
})
