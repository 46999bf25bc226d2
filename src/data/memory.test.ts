import { createWriteStream } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadTextData } from './dataset.js'
import { epochOrder } from './order.js'
import { fileSource } from './source-node.js'
import { readRecords } from './table.js'

// A real gc() lets the test measure what is retained, not garbage waiting for collection.
setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void
// Array buffers are freed by a background sweeper after gc(); give it time before reading the numbers.
const used = async (): Promise<number> => {
  for (let k = 0; k < 3; k++) {
    gc()
    await new Promise((r) => setTimeout(r, 15))
  }
  const m = process.memoryUsage()
  return m.heapUsed + m.arrayBuffers
}

const ROWS = 200_000
let dir = ''
let path = ''
let fileSize = 0

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ft-mem-'))
  path = join(dir, 'big.csv')
  const out = createWriteStream(path)
  const words = ['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta', 'eta', 'theta']
  out.write('id,text,label\n')
  for (let s = 0; s < ROWS; s += 10_000) {
    let chunk = ''
    for (let i = s; i < s + 10_000; i++) {
      const body = Array.from({ length: 24 }, (_, k) => words[(i * 7 + k * 3) % 8]).join(' ')
      // every 10th row has a quoted comma, escaped quotes and a newline inside the field
      const text = i % 10 === 0 ? `"row ${i}, says ""${body}""\nand goes on"` : `row ${i} ${body}`
      chunk += `${i},${text},${i % 3 === 0 ? 'spam' : 'ham'}\n`
    }
    if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()))
  }
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())))
  fileSize = (await fileSource(path)).size
  // warm up on a small file first, so code compiled on first use is not counted as data
  const small = join(dir, 'small.csv')
  await writeFile(small, 'id,text,label\n' + Array.from({ length: 2000 }, (_, i) => `${i},"text, ${i}",${i % 2 ? 'ham' : 'spam'}`).join('\n'))
  for (let k = 0; k < 3; k++) {
    for await (const r of readRecords(await fileSource(small))) void r
    const ds = await loadTextData(await fileSource(small), undefined, { task: 'text-classification', validationFraction: 0.05, seed: 1 })
    await ds.train.getMany([0, 1, 2])
    await ds.close()
  }
})

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true })
})

describe('streaming a large CSV file', () => {
  it('keeps memory far below the file size while reading every row', async () => {
    expect(fileSize).toBeGreaterThan(20e6)
    const base = await used()
    let peak = 0
    let n = 0
    let quoted = 0
    for await (const r of readRecords(await fileSource(path))) {
      if ((r.values.text as string).includes('\n')) quoted++
      if (++n % 25_000 === 0) peak = Math.max(peak, (await used()) - base)
    }
    expect(n).toBe(ROWS)
    expect(quoted).toBe(ROWS / 10)
    expect(peak).toBeLessThan(fileSize / 20)
  })

  it('indexes the whole file with a few numbers per row and reads rows back in random order', async () => {
    const base = await used()
    const source = await fileSource(path)
    const ds = await loadTextData(source, undefined, { task: 'text-classification', validationFraction: 0.05, seed: 1 })
    const growth = (await used()) - base
    expect(ds.train.length + ds.validation!.length).toBe(ROWS)
    // offsets, lengths and lines (16 bytes a row) and the split's row numbers (4 bytes a row), about
    // 4 MB, against ~150 bytes a row (30 MB) of file
    expect(growth).toBeLessThan(32 * ROWS)
    expect(growth).toBeLessThan(fileSize / 4)
    const order = epochOrder(ds.train.length, 1, 0)
    for (let k = 0; k < 200; k++) {
      const i = order[k]!
      const ex = await ds.train.get(i)
      const id = Number(/^row (\d+)/.exec(ex.text)![1])
      expect(ex.label).toBe(id % 3 === 0 ? 1 : 0) // ham 0, spam 1
      expect(ex.line).toBeGreaterThan(id + 1) // embedded newlines push lines down
    }
    await ds.close()
  })
})
