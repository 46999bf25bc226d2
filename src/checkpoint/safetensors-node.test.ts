import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CheckpointError } from '../errors.js'
import { f32ToBf16, f32ToF16 } from './dtypes.js'
import { writeSafetensorsFile } from './io-node.js'
import { encodeSafetensors } from './safetensors.js'
import type { StWriteDType, TensorToWrite } from './safetensors.js'
import { fileSource, openSafetensorsFile, openShardedSafetensors } from './safetensors-node.js'

const FIXTURES = new URL('../../test/fixtures/safetensors/', import.meta.url).pathname

interface Expected {
  metadata: Record<string, string>
  tensors: Record<string, { dtype: string; shape: number[]; values: (number | string)[] }>
}
const decode = (v: number | string): number => (typeof v === 'number' ? v : Number(v)) // "NaN", "Infinity", "-Infinity"

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'finetune-st-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

async function rejection(p: Promise<unknown>): Promise<CheckpointError> {
  const e = await p.then(() => undefined, (err: unknown) => err)
  expect(e).toBeInstanceOf(CheckpointError)
  return e as CheckpointError
}

describe('the PyTorch-written fixture', () => {
  const path = join(FIXTURES, 'mixed.safetensors')
  let expected: Expected
  beforeAll(async () => {
    expected = JSON.parse(await readFile(join(FIXTURES, 'mixed.json'), 'utf8')) as Expected
  })

  it('has every tensor with the dtype, shape and values torch wrote', async () => {
    const file = await openSafetensorsFile(path)
    try {
      expect(file.keys()).toEqual(Object.keys(expected.tensors))
      expect(file.metadata).toEqual(expected.metadata)
      for (const [name, want] of Object.entries(expected.tensors)) {
        const info = file.info(name)
        expect(info.dtype, name).toBe(want.dtype)
        expect(info.shape, name).toEqual(want.shape)
        const got = [...(await file.readAsFloat32(name))]
        const values = want.values.map(decode)
        expect(got.length, name).toBe(values.length)
        // float16/bfloat16/float32 widen exactly; the int64 values are small enough or powers of two
        const wrong = values.flatMap((v, i) => (Object.is(got[i], Math.fround(v)) ? [] : [[i, v, got[i]]]))
        expect(wrong, name).toEqual([])
      }
    } finally {
      await file.close()
    }
  })

  it('holds int64 values exactly, beyond float32 precision', async () => {
    const file = await openSafetensorsFile(path)
    const t = await file.read('i64.ids')
    await file.close()
    expect(t.data).toEqual(new BigInt64Array(expected.tensors['i64.ids']!.values.map((v) => BigInt(v))))
    expect((t.data as BigInt64Array)[3]).toBe(2n ** 53n)
  })

  it('float16 and bfloat16 rounding matches torch .half() and .bfloat16() bit for bit', async () => {
    const file = await openSafetensorsFile(path)
    const source = (await file.read('rounding.source')).data as Float32Array
    const half = (await file.read('rounding.f16')).data as Uint16Array
    const bf = (await file.read('rounding.bf16')).data as Uint16Array
    await file.close()
    expect(source.length).toBeGreaterThan(500)
    const h = f32ToF16(source)
    const b = f32ToBf16(source)
    expect([...source].flatMap((v, i) => (h[i] === half[i] ? [] : [[v, h[i], half[i]]]))).toEqual([])
    expect([...source].flatMap((v, i) => (b[i] === bf[i] ? [] : [[v, b[i], bf[i]]]))).toEqual([])
  })

  it('re-encoding its tensors in the same order reproduces the file byte for byte', async () => {
    const file = await openSafetensorsFile(path)
    const tensors: [string, TensorToWrite][] = []
    for (const name of file.keys()) {
      const t = await file.read(name)
      tensors.push([name, { dtype: t.dtype as StWriteDType, shape: t.shape, data: t.data as TensorToWrite['data'] }])
    }
    await file.close()
    expect(encodeSafetensors(tensors, expected.metadata)).toEqual(new Uint8Array(await readFile(path)))
  })
})

describe('files on disk', () => {
  it('reads a file written by writeSafetensorsFile, one tensor at a time', async () => {
    const path = join(dir, 'one.safetensors')
    const w = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i))
    await writeSafetensorsFile(path, [['w', { dtype: 'F32', shape: [10, 100], data: w }], ['b', { dtype: 'BF16', shape: [2], data: new Float32Array([1, -1]) }]], { format: 'pt' })
    const file = await openSafetensorsFile(path)
    expect(file.keys()).toEqual(['w', 'b'])
    expect(file.metadata).toEqual({ format: 'pt' })
    expect(await file.readAsFloat32('w')).toEqual(w)
    expect([...(await file.readAsFloat32('b'))]).toEqual([1, -1])
    await file.close()
  })

  it('fileSource reads exactly the requested range at any offset', async () => {
    const path = join(dir, 'bytes.bin')
    await writeFile(path, Uint8Array.from({ length: 300 }, (_, i) => i % 251))
    const src = await fileSource(path)
    expect(src.size).toBe(300)
    expect([...(await src.read(250, 5))]).toEqual([250, 0, 1, 2, 3])
    expect((await src.read(0, 0)).length).toBe(0)
    await expect(src.read(290, 20)).rejects.toThrow(/ended after 300 bytes .* truncated or corrupt/)
    await src.close()
  })

  it('a download cut short names the file and says to download it again', async () => {
    const full = encodeSafetensors([['w', { dtype: 'F32', shape: [64], data: new Float32Array(64) }]])
    const path = join(dir, 'cut.safetensors')
    await writeFile(path, full.subarray(0, full.length - 100))
    const e = await rejection(openSafetensorsFile(path))
    expect(e.code).toBe('CHECKPOINT_TRUNCATED')
    expect(e.message).toContain(path)
    expect(e.message).toMatch(/truncated or corrupt/)
    expect(e.hint).toMatch(/download or export it again/)
  })

  it('a missing file names the path', async () => {
    const e = await rejection(openSafetensorsFile(join(dir, 'nope.safetensors')))
    expect(e.code).toBe('CHECKPOINT_NOT_FOUND')
    expect(e.message).toContain('nope.safetensors')
  })
})

describe('sharded checkpoints', () => {
  const t = (dtype: StWriteDType, values: number[]): TensorToWrite => ({ dtype, shape: [values.length], data: new Float32Array(values) })

  async function makeSharded(name: string, weightMap?: Record<string, string>): Promise<string> {
    const d = join(dir, name)
    await rm(d, { recursive: true, force: true })
    await mkdir(d)
    await writeSafetensorsFile(join(d, 'model-00001-of-00002.safetensors'), [['embed.weight', t('F32', [1, 2, 3])], ['layer.0.w', t('F16', [0.5])]], { format: 'pt' })
    await writeSafetensorsFile(join(d, 'model-00002-of-00002.safetensors'), [['layer.1.w', t('BF16', [-2, 4])], ['head.bias', t('F32', [7])]])
    const map = weightMap ?? {
      'embed.weight': 'model-00001-of-00002.safetensors',
      'layer.0.w': 'model-00001-of-00002.safetensors',
      'layer.1.w': 'model-00002-of-00002.safetensors',
      'head.bias': 'model-00002-of-00002.safetensors',
    }
    await writeFile(join(d, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: 30 }, weight_map: map }))
    return d
  }

  it('presents every shard as one file and reads each tensor from its shard', async () => {
    const d = await makeSharded('two-shards')
    const file = await openShardedSafetensors(d)
    expect(file.keys().sort()).toEqual(['embed.weight', 'head.bias', 'layer.0.w', 'layer.1.w'])
    expect(file.info('layer.1.w')).toEqual({ dtype: 'BF16', shape: [2], byteLength: 4 })
    expect([...(await file.readAsFloat32('embed.weight'))]).toEqual([1, 2, 3])
    expect([...(await file.readAsFloat32('layer.1.w'))]).toEqual([-2, 4])
    expect((await file.read('layer.0.w')).dtype).toBe('F16')
    expect(file.metadata).toEqual({ format: 'pt' })
    await expect(file.read('layer.2.w')).rejects.toThrow(/has no tensor "layer.2.w"; it has 4 tensors, e.g. "layer.0.w", "layer.1.w"/)
    await file.close()
  })

  it('a missing shard is named in the error', async () => {
    const d = await makeSharded('missing-shard')
    await rm(join(d, 'model-00002-of-00002.safetensors'))
    const e = await rejection(openShardedSafetensors(d))
    expect(e.code).toBe('CHECKPOINT_MISSING_SHARD')
    expect(e.message).toMatch(/2 shard files, but 1 is missing .*: model-00002-of-00002.safetensors$/)
  })

  it('an index that puts a tensor in the wrong shard is rejected', async () => {
    const d = await makeSharded('wrong-shard', {
      'embed.weight': 'model-00002-of-00002.safetensors',
      'head.bias': 'model-00002-of-00002.safetensors',
    })
    const e = await rejection(openShardedSafetensors(d))
    expect(e.code).toBe('CHECKPOINT_BAD_INDEX')
    expect(e.message).toMatch(/says tensor "embed.weight" is in model-00002-of-00002.safetensors, but .* has no such tensor/)
  })

  it('an index that is not JSON names the file and the spot', async () => {
    const d = await makeSharded('bad-index')
    await writeFile(join(d, 'model.safetensors.index.json'), '{\n  "weight_map": {\n    "a": "x.safetensors",\n  }\n}')
    const e = await rejection(openShardedSafetensors(d))
    expect(e.code).toBe('FILE_BAD_JSON')
    expect(e.message).toContain('model.safetensors.index.json')
    expect(e.message).toMatch(/line 4/)
  })

  it('an index without weight_map or a folder without an index says so', async () => {
    const d = await makeSharded('no-map')
    await writeFile(join(d, 'model.safetensors.index.json'), '{"metadata": {}}')
    expect((await rejection(openShardedSafetensors(d))).message).toMatch(/has no "weight_map" object/)
    const e = await rejection(openShardedSafetensors(join(dir, 'no-such-folder')))
    expect(e.code).toBe('FILE_NOT_FOUND')
    expect(e.message).toContain('model.safetensors.index.json')
  })
})
