import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CheckpointError, ConfigError, FinetuneError } from '../errors.js'
import { ensureDir, readJsonFile, writeFileAtomic, writeSafetensorsFile } from './io-node.js'
import { openSafetensorsFile } from './safetensors-node.js'

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'finetune-io-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

async function rejection(p: Promise<unknown>): Promise<FinetuneError> {
  const e = await p.then(() => undefined, (err: unknown) => err)
  expect(e).toBeInstanceOf(FinetuneError)
  return e as FinetuneError
}

const leftovers = async (d: string): Promise<string[]> => (await readdir(d)).filter((f) => f.endsWith('.tmp'))

describe('writeFileAtomic', () => {
  it('writes a string, then replaces it with chunks', async () => {
    const path = join(dir, 'a.txt')
    await writeFileAtomic(path, 'first version')
    expect(await readFile(path, 'utf8')).toBe('first version')
    const enc = new TextEncoder()
    await writeFileAtomic(path, [enc.encode('sec'), enc.encode(''), enc.encode('ond')])
    expect(await readFile(path, 'utf8')).toBe('second')
    expect(await leftovers(dir)).toEqual([])
  })

  it('leaves the old file intact and no temporary file when writing fails midway', async () => {
    const path = join(dir, 'model.safetensors')
    await writeFile(path, 'old checkpoint')
    function* chunks(): Generator<Uint8Array> {
      yield new Uint8Array(1 << 20).fill(1)
      throw new Error('disk went away')
    }
    const e = await rejection(writeFileAtomic(path, chunks()))
    expect(e).toBeInstanceOf(CheckpointError)
    expect(e.code).toBe('IO_WRITE')
    expect(e.message).toContain(path)
    expect(e.message).toContain('disk went away')
    expect(await readFile(path, 'utf8')).toBe('old checkpoint')
    expect(await leftovers(dir)).toEqual([])
  })

  it('leaves the old file intact when the rename cannot happen', async () => {
    const target = join(dir, 'is-a-folder')
    await ensureDir(join(target, 'inner'))
    const e = await rejection(writeFileAtomic(target, 'x'))
    expect(e.code).toBe('IO_WRITE')
    expect((await readdir(target))).toEqual(['inner'])
    expect(await leftovers(dir)).toEqual([])
  })

  it('says to create the folder when it does not exist', async () => {
    const e = await rejection(writeFileAtomic(join(dir, 'missing', 'x.json'), '{}'))
    expect(e.code).toBe('IO_WRITE')
    expect(e.hint).toMatch(/create the folder .*missing/)
  })
})

describe('writeSafetensorsFile', () => {
  it('streams the tensors and can be read back', async () => {
    const path = join(dir, 'w.safetensors')
    await writeSafetensorsFile(path, [['x', { dtype: 'F16', shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) }]], { step: '10' })
    const file = await openSafetensorsFile(path)
    expect([...(await file.readAsFloat32('x'))]).toEqual([1, 2, 3, 4])
    expect(file.metadata).toEqual({ step: '10' })
    await file.close()
  })

  it('invalid tensors are rejected before the old file is touched', async () => {
    const path = join(dir, 'keep.safetensors')
    await writeFile(path, 'old')
    const e = await rejection(writeSafetensorsFile(path, [['x', { dtype: 'F32', shape: [3], data: new Float32Array(2) }]]))
    expect(e.code).toBe('CHECKPOINT_WRITE_TENSOR')
    expect(await readFile(path, 'utf8')).toBe('old')
    expect(await leftovers(dir)).toEqual([])
  })
})

describe('readJsonFile', () => {
  it('parses a file, ignoring a byte-order mark', async () => {
    const path = join(dir, 'config.json')
    await writeFile(path, '\ufeff{"hidden_size": 768}')
    expect(await readJsonFile(path, 'model config')).toEqual({ hidden_size: 768 })
  })

  it('bad JSON names the file, what it is for, the problem and its line', async () => {
    const path = join(dir, 'bad.json')
    await writeFile(path, '{\n  "a": 1,\n  "b": [1, 2,,]\n}')
    const e = await rejection(readJsonFile(path, 'model config'))
    expect(e).toBeInstanceOf(CheckpointError)
    expect(e.code).toBe('FILE_BAD_JSON')
    expect(e.message).toContain(`model config ${path} is not valid JSON at line 3, column 14: `)
    expect(e.hint).toMatch(/fix the JSON/)
  })

  const located: [string, string][] = [
    ['{\n  "a": 1\n  "b": 2\n}', 'line 3, column 3'], // missing comma
    ['{"a": 1,}', 'line 1, column 9'], // trailing comma
    ['{"a": "unterminated}', 'line 1, column 21'],
    ['{"a": tru}', 'line 1, column 7'],
    ['{"a": 01}', 'line 1, column 8'],
    ['{"a": "\\x"}', 'line 1, column 8'], // bad escape
    ['[1, 2] 3', 'line 1, column 8'], // trailing content
    ["{'a': 1}", 'line 1, column 2'],
  ]
  for (const [text, where] of located) {
    it(`locates the error in ${JSON.stringify(text)} at ${where}`, async () => {
      const path = join(dir, 'located.json')
      await writeFile(path, text)
      expect(() => JSON.parse(text)).toThrow()
      expect((await rejection(readJsonFile(path, 'config'))).message).toContain(`not valid JSON at ${where}: `)
    })
  }

  it('an empty file says it is empty', async () => {
    const path = join(dir, 'empty.json')
    await writeFile(path, '  \n')
    expect((await rejection(readJsonFile(path, 'tokenizer'))).message).toMatch(/tokenizer .*empty.json is not valid JSON: the file is empty/)
  })

  it('a missing file or a folder names the path; the error class can be chosen', async () => {
    const missing = await rejection(readJsonFile(join(dir, 'none.json'), 'training config', ConfigError))
    expect(missing).toBeInstanceOf(ConfigError)
    expect(missing.code).toBe('FILE_NOT_FOUND')
    expect(missing.message).toContain('training config')
    expect(missing.message).toContain('none.json')
    const folder = await rejection(readJsonFile(dir, 'model config'))
    expect(folder.code).toBe('FILE_IS_DIR')
  })
})

describe('ensureDir', () => {
  it('creates nested folders and accepts existing ones', async () => {
    const d = join(dir, 'x', 'y', 'z')
    await ensureDir(d)
    await ensureDir(d)
    expect(await readdir(join(dir, 'x', 'y'))).toEqual(['z'])
  })

  it('says when a file is in the way', async () => {
    const f = join(dir, 'plain-file')
    await writeFile(f, '')
    const e = await rejection(ensureDir(f))
    expect(e.code).toBe('IO_NOT_A_DIR')
    expect((await rejection(ensureDir(join(f, 'sub')))).code).toBe('IO_NOT_A_DIR')
  })
})
