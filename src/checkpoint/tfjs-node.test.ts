import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import * as tf from '@tensorflow/tfjs'
import { FIXTURES, nsfwjsFiles } from '../../test/fixtures/tfjs/reference.js'
import { readTfjsLayersModelFile } from './tfjs-node.js'

const NSFWJS_DIR = new URL('../../node_modules/nsfwjs/dist/models/mobilenet_v2', import.meta.url).pathname
const tmp = mkdtempSync(join(tmpdir(), 'finetune-tfjs-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

describe('reading TF.js Layers models from disk', () => {
  it('reads the nsfwjs bundle (model.min.js + base64 shard) to the weights TF.js decodes from nsfwjs\'s own loading', async () => {
    const m = await readTfjsLayersModelFile(NSFWJS_DIR)
    const ref = await nsfwjsFiles()
    const specs = ref.json.weightsManifest.flatMap((g) => g.weights)
    const decoded = tf.io.decodeWeights(ref.shards[0]!.slice().buffer, specs)
    expect(m.weights.size).toBe(266)
    // compared as bytes: bit-identical values (and much faster than a deep equal over 2.6M numbers)
    const bits = (a: Float32Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength)
    const differ = specs.filter((s) => !bits(m.weights.get(s.name)!.data).equals(bits(Float32Array.from(decoded[s.name]!.dataSync()))))
    expect(differ.map((s) => s.name)).toEqual([])
    expect(m.topology.layers.length).toBe(162)
    expect(m.topology.kerasVersion).toBe('2.2.4')
    expect(m.classNames).toEqual(['Drawing', 'Hentai', 'Neutral', 'Porn', 'Sexy'])
    // the bundle file itself works as the path too
    expect((await readTfjsLayersModelFile(join(NSFWJS_DIR, 'model.min.js'))).weights.size).toBe(266)
  })

  it('takes a folder or its model.json, with class names from a Teachable Machine metadata.json', async () => {
    const dir = join(tmp, 'tm')
    cpSync(join(FIXTURES, 'functional'), dir, { recursive: true })
    const a = await readTfjsLayersModelFile(join(dir, 'model.json'))
    expect(a.classNames).toBeUndefined()
    writeFileSync(join(dir, 'metadata.json'), JSON.stringify({ labels: ['cat', 'dog', 'fox', 'owl'], imageSize: 224 }))
    const b = await readTfjsLayersModelFile(dir)
    expect(b.classNames).toEqual(['cat', 'dog', 'fox', 'owl'])
    expect([...b.weights.keys()]).toEqual([...a.weights.keys()])
    expect(b.file).toBe(join(dir, 'model.json'))
  })

  it('names a missing shard and a folder without a model', async () => {
    const dir = join(tmp, 'noshard')
    cpSync(join(FIXTURES, 'sequential'), dir, { recursive: true })
    rmSync(join(dir, 'group1-shard1of1.bin'))
    await expect(readTfjsLayersModelFile(dir)).rejects.toThrow(/weight shard .*noshard\/group1-shard1of1\.bin named by .*model\.json does not exist/)
    await expect(readTfjsLayersModelFile(tmp)).rejects.toThrow(/has no model\.json/)
    await expect(readTfjsLayersModelFile(join(tmp, 'nope'))).rejects.toThrow(/TF\.js model .*nope does not exist/)
  })
})
