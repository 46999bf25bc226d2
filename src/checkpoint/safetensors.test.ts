import { describe, expect, it } from 'vitest'
import { CheckpointError } from '../errors.js'
import { f32ToBf16, f32ToF16 } from './dtypes.js'
import { blobSource, bytesSource, encodeSafetensors, openSafetensors, serializeSafetensors } from './safetensors.js'
import type { ByteSource, TensorToWrite } from './safetensors.js'

/** A safetensors file assembled by hand from a header object and data bytes. */
function rawFile(header: unknown, data: Uint8Array | number = 0, headerText?: string): Uint8Array {
  const text = new TextEncoder().encode(headerText ?? JSON.stringify(header))
  const body = typeof data === 'number' ? new Uint8Array(data) : data
  const out = new Uint8Array(8 + text.length + body.length)
  new DataView(out.buffer).setBigUint64(0, BigInt(text.length), true)
  out.set(text, 8)
  out.set(body, 8 + text.length)
  return out
}

const bytesOf = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength)

/** Opens `buf` and returns the CheckpointError it raises. */
async function openError(buf: Uint8Array, name = 'model.safetensors'): Promise<CheckpointError> {
  const err = await openSafetensors(bytesSource(buf, name)).then(() => undefined, (e: unknown) => e)
  expect(err).toBeInstanceOf(CheckpointError)
  const e = err as CheckpointError
  expect(e.message).toContain(name)
  expect(e.hint).toBeTruthy()
  return e
}

/** Wraps a ByteSource and records every read. */
function counting(src: ByteSource): ByteSource & { reads: [number, number][]; total(): number } {
  const reads: [number, number][] = []
  return {
    size: src.size,
    name: src.name,
    reads,
    total: () => reads.reduce((a, [, n]) => a + n, 0),
    read(offset, length) {
      reads.push([offset, length])
      return src.read(offset, length)
    },
  }
}

describe('safetensors round trip', () => {
  const specials = new Float32Array([0, -0, 1.5, -2.25, 3.4028234663852886e38, 1e-45, Infinity, -Infinity, NaN, 0.1])

  it('F32 values come back bit-identical, including NaN, infinities, -0 and subnormals', async () => {
    const file = await openSafetensors(bytesSource(encodeSafetensors([['w', { dtype: 'F32', shape: [2, 5], data: specials }]])))
    const t = await file.read('w')
    expect(t.dtype).toBe('F32')
    expect(t.shape).toEqual([2, 5])
    expect(bytesOf(t.data)).toEqual(bytesOf(specials))
  })

  it('F16 and BF16 written from float32 hold the round-to-nearest-even bits and widen back to them', async () => {
    const file = await openSafetensors(
      bytesSource(encodeSafetensors([
        ['h', { dtype: 'F16', shape: [10], data: specials }],
        ['b', { dtype: 'BF16', shape: [10], data: specials }],
      ])),
    )
    const h = await file.read('h')
    const b = await file.read('b')
    expect(h.data).toEqual(f32ToF16(specials))
    expect(b.data).toEqual(f32ToBf16(specials))
    const hf = await file.readAsFloat32('h')
    expect([...hf].slice(0, 4)).toEqual([0, -0, 1.5, -2.25])
    expect(Object.is(hf[1], -0)).toBe(true)
    expect(hf[4]).toBe(Infinity) // beyond the float16 range
    expect(hf[5]).toBe(0) // below the smallest float16 subnormal
    expect(hf[8]).toBeNaN()
    expect(hf[9]).toBeCloseTo(0.1, 3)
    const bf = await file.readAsFloat32('b')
    expect(bf[4]).toBe(Infinity) // float32 max rounds up past the largest bfloat16
    expect(bf[5]).toBe(0)
    expect(bf[9]).toBeCloseTo(0.1, 2)
  })

  it('F16 and BF16 given as raw Uint16Array bits are written unchanged', async () => {
    const bits = new Uint16Array([0x0001, 0x7bff, 0xfc00, 0x7e00, 0x8000])
    const file = await openSafetensors(bytesSource(encodeSafetensors([
      ['h', { dtype: 'F16', shape: [5], data: bits }],
      ['b', { dtype: 'BF16', shape: [5], data: bits }],
    ])))
    expect((await file.read('h')).data).toEqual(bits)
    expect((await file.read('b')).data).toEqual(bits)
    expect([...(await file.readAsFloat32('h'))].slice(0, 3)).toEqual([2 ** -24, 65504, -Infinity])
  })

  it('I64 keeps values beyond 2^53 exactly and converts to float32 on request', async () => {
    const ids = new BigInt64Array([0n, -1n, 2n ** 62n + 1n, -(2n ** 63n), 2n ** 63n - 1n, 7n])
    const file = await openSafetensors(bytesSource(encodeSafetensors([['ids', { dtype: 'I64', shape: [3, 2], data: ids }]])))
    const t = await file.read('ids')
    expect(t.data).toEqual(ids)
    expect([...(await file.readAsFloat32('ids'))]).toEqual([0, -1, 2 ** 62, -(2 ** 63), 2 ** 63, 7])
  })

  it('a 0-d scalar and an empty tensor round-trip with their shapes', async () => {
    const file = await openSafetensors(bytesSource(encodeSafetensors([
      ['empty', { dtype: 'F32', shape: [0, 4], data: new Float32Array(0) }],
      ['scalar', { dtype: 'F32', shape: [], data: new Float32Array([3.5]) }],
      ['empty16', { dtype: 'BF16', shape: [3, 0], data: new Float32Array(0) }],
    ])))
    expect(file.info('scalar')).toEqual({ dtype: 'F32', shape: [], byteLength: 4 })
    expect(file.info('empty')).toEqual({ dtype: 'F32', shape: [0, 4], byteLength: 0 })
    expect([...(await file.readAsFloat32('scalar'))]).toEqual([3.5])
    expect((await file.read('empty')).data.length).toBe(0)
    expect((await file.readAsFloat32('empty16')).length).toBe(0)
  })

  it('keeps the given tensor order and the metadata', async () => {
    const names = ['z', 'a', 'm.weight', 'b']
    const tensors = names.map((n, i): [string, TensorToWrite] => [n, { dtype: 'F32', shape: [i + 1], data: new Float32Array(i + 1).fill(i) }])
    const file = await openSafetensors(bytesSource(encodeSafetensors(tensors, { format: 'pt', note: 'héllo "quoted"' })))
    expect(file.keys()).toEqual(names)
    expect(file.metadata).toEqual({ format: 'pt', note: 'héllo "quoted"' })
    for (const [i, n] of names.entries()) expect([...(await file.readAsFloat32(n))]).toEqual(new Array(i + 1).fill(i))
  })

  it('writes the header byte for byte as the reference implementation does', () => {
    // The reference writer (safetensors 0.8, `save({'a': torch.zeros(3, dtype=torch.bfloat16)})`) produced
    // a 56-byte header: the 55-byte JSON plus one space of padding.
    const json = '{"a":{"dtype":"BF16","shape":[3],"data_offsets":[0,6]}}'
    const expected = new Uint8Array(8 + 56 + 6)
    expected[0] = 56
    expected.set(new TextEncoder().encode(json + ' '), 8)
    expect(encodeSafetensors([['a', { dtype: 'BF16', shape: [3], data: new Float32Array(3) }]])).toEqual(expected)
  })

  it('pads every header with spaces to a multiple of 8 bytes', () => {
    for (let n = 1; n <= 9; n++) {
      const [head] = serializeSafetensors([['x'.repeat(n), { dtype: 'F32', shape: [1], data: new Float32Array(1) }]])
      const len = Number(new DataView(head!.buffer).getBigUint64(0, true))
      expect(len % 8).toBe(0)
      expect(head!.length).toBe(8 + len)
      const text = new TextDecoder().decode(head!.subarray(8))
      expect(JSON.parse(text)).toHaveProperty('x'.repeat(n))
      expect(/^ *$/.test(text.slice(text.lastIndexOf('}') + 1))).toBe(true)
    }
  })

  it('returns one chunk per tensor, viewing F32 data without copying it', () => {
    const w = new Float32Array([1, 2, 3])
    const chunks = serializeSafetensors([
      ['w', { dtype: 'F32', shape: [3], data: w }],
      ['h', { dtype: 'F16', shape: [3], data: w }],
    ])
    expect(chunks).toHaveLength(3)
    expect(chunks[1]!.buffer).toBe(w.buffer)
    expect(chunks[2]!.byteLength).toBe(6)
  })

  it('reads a tensor that is not aligned for its dtype (odd F16 tensor before an F32 one)', async () => {
    const file = await openSafetensors(bytesSource(encodeSafetensors([
      ['odd', { dtype: 'F16', shape: [3], data: new Float32Array([1, 2, 3]) }],
      ['w', { dtype: 'F32', shape: [2], data: new Float32Array([0.25, -8]) }],
      ['ids', { dtype: 'I64', shape: [1], data: new BigInt64Array([5n]) }],
    ])))
    expect([...(await file.readAsFloat32('w'))]).toEqual([0.25, -8])
    expect((await file.read('ids')).data).toEqual(new BigInt64Array([5n]))
  })

  it('hands out a fresh copy on every read, so changing it leaves the file alone', async () => {
    const file = await openSafetensors(bytesSource(encodeSafetensors([['w', { dtype: 'F32', shape: [2], data: new Float32Array([1, 2]) }]])))
    const a = await file.readAsFloat32('w')
    a[0] = 99
    expect([...(await file.readAsFloat32('w'))]).toEqual([1, 2])
  })

  it('converts F64, I32, U8 and BOOL tensors to float32', async () => {
    const f64 = new Float64Array([0.1, -1e300, 2.5])
    const i32 = new Int32Array([-7, 2 ** 31 - 1])
    const u8 = new Uint8Array([0, 255, 3])
    const bool = new Uint8Array([1, 0, 1, 1])
    const parts = [bytesOf(f64), bytesOf(i32), u8, bool]
    const data = new Uint8Array(parts.reduce((a, p) => a + p.length, 0))
    let at = 0
    const header: Record<string, unknown> = {}
    for (const [i, [name, dtype, shape]] of ([['d', 'F64', [3]], ['i', 'I32', [2]], ['u', 'U8', [3]], ['b', 'BOOL', [2, 2]]] as const).entries()) {
      header[name] = { dtype, shape, data_offsets: [at, at + parts[i]!.length] }
      data.set(parts[i]!, at)
      at += parts[i]!.length
    }
    const file = await openSafetensors(bytesSource(rawFile(header, data)))
    expect((await file.read('d')).data).toEqual(f64)
    expect([...(await file.readAsFloat32('d'))]).toEqual([Math.fround(0.1), -Infinity, 2.5])
    expect((await file.read('i')).data).toEqual(i32)
    expect([...(await file.readAsFloat32('i'))]).toEqual([-7, 2 ** 31])
    expect([...(await file.readAsFloat32('u'))]).toEqual([0, 255, 3])
    expect(file.info('b')).toEqual({ dtype: 'BOOL', shape: [2, 2], byteLength: 4 })
    expect([...(await file.readAsFloat32('b'))]).toEqual([1, 0, 1, 1])
  })
})

describe('lazy reading', () => {
  it('opening reads only the length field and the header; each read fetches only that tensor', async () => {
    const big = new Float32Array(100_000).fill(1)
    const buf = encodeSafetensors([
      ['big', { dtype: 'F32', shape: [100_000], data: big }],
      ['small', { dtype: 'F16', shape: [4], data: new Float32Array([1, 2, 3, 4]) }],
    ])
    const src = counting(bytesSource(buf))
    const file = await openSafetensors(src)
    const headerLen = Number(new DataView(buf.buffer).getBigUint64(0, true))
    expect(src.reads).toEqual([[0, 8], [8, headerLen]])
    expect(src.total()).toBeLessThan(200)
    expect(file.info('big').byteLength).toBe(400_000)
    expect(src.reads).toHaveLength(2) // info needs no read

    await file.readAsFloat32('small')
    expect(src.reads[2]).toEqual([8 + headerLen + 400_000, 8])
    expect(src.total()).toBeLessThan(250)
    await file.read('big')
    expect(src.reads[3]).toEqual([8 + headerLen, 400_000])
    expect(src.total()).toBe(buf.length)
  })
})

describe('blob sources', () => {
  it('reads a Blob lazily, as a browser File would be', async () => {
    const buf = encodeSafetensors([
      ['a', { dtype: 'F32', shape: [1000], data: new Float32Array(1000).fill(2) }],
      ['b', { dtype: 'BF16', shape: [2], data: new Float32Array([0.5, -4]) }],
    ])
    const src = counting(blobSource(new Blob([buf]), 'upload.safetensors'))
    const file = await openSafetensors(src)
    expect([...(await file.readAsFloat32('b'))]).toEqual([0.5, -4])
    expect(src.total()).toBeLessThan(200)
    await expect(src.read(buf.length - 2, 4)).rejects.toThrow(/upload.safetensors: wanted 4 bytes .* got 2/)
  })
})

describe('corrupt and truncated files', () => {
  const good = { w: { dtype: 'F32', shape: [2, 3], data_offsets: [0, 24] } }

  it('a file shorter than the length field is reported as truncated', async () => {
    const e = await openError(new Uint8Array(5))
    expect(e.code).toBe('CHECKPOINT_TRUNCATED')
    expect(e.message).toMatch(/truncated or corrupt/)
    expect(e.hint).toMatch(/download or export it again/)
  })

  it('a header length beyond the end of the file is reported as truncated', async () => {
    const buf = rawFile(good, 24)
    new DataView(buf.buffer).setBigUint64(0, BigInt(buf.length), true)
    const e = await openError(buf)
    expect(e.code).toBe('CHECKPOINT_TRUNCATED')
    expect(e.message).toMatch(/header length is \d+ bytes but the file has only \d+ bytes/)
  })

  it('an absurd header length says the file is probably not safetensors', async () => {
    const buf = rawFile(good, 24)
    new DataView(buf.buffer).setBigUint64(0, 2n ** 40n, true)
    const e = await openError(buf)
    expect(e.code).toBe('CHECKPOINT_BAD_HEADER')
    expect(e.message).toMatch(/is it a safetensors file/)
  })

  it('a header that is not JSON says so', async () => {
    const e = await openError(rawFile(null, 0, '{"w": {"dtype": "F32",'))
    expect(e.code).toBe('CHECKPOINT_BAD_HEADER')
    expect(e.message).toMatch(/not valid JSON/)
  })

  it('a header that is JSON but not an object says so', async () => {
    expect((await openError(rawFile([1, 2]))).message).toMatch(/not an object of tensors/)
  })

  it('an unknown dtype names the tensor, the dtype and the supported ones', async () => {
    const e = await openError(rawFile({ w: { dtype: 'F17', shape: [1], data_offsets: [0, 4] } }, 4))
    expect(e.code).toBe('CHECKPOINT_DTYPE')
    expect(e.message).toMatch(/"w" has unknown dtype "F17"; supported: F64, F32, F16, BF16, I64, I32, U8, BOOL/)
  })

  it('a real safetensors dtype finetune does not read is named as such', async () => {
    const e = await openError(rawFile({ q: { dtype: 'I8', shape: [4], data_offsets: [0, 4] } }, 4))
    expect(e.code).toBe('CHECKPOINT_DTYPE')
    expect(e.message).toMatch(/"q" has dtype "I8", which finetune does not read/)
  })

  it('overlapping tensors are rejected', async () => {
    const e = await openError(rawFile({
      a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
      b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] },
    }, 12))
    expect(e.code).toBe('CHECKPOINT_BAD_HEADER')
    expect(e.message).toMatch(/"b" starts at byte 4 .* inside "a" .* overlap/)
  })

  it('a gap between tensors is rejected', async () => {
    const e = await openError(rawFile({
      a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
      b: { dtype: 'F32', shape: [2], data_offsets: [12, 20] },
    }, 20))
    expect(e.message).toMatch(/gap of 4 bytes before tensor "b"/)
  })

  it('a gap before the first tensor is rejected', async () => {
    const e = await openError(rawFile({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, 8))
    expect(e.message).toMatch(/gap of 4 bytes before tensor "a"/)
  })

  it('offsets past the end of the data section are reported as truncation', async () => {
    const e = await openError(rawFile(good, 20))
    expect(e.code).toBe('CHECKPOINT_TRUNCATED')
    expect(e.message).toMatch(/"w" ends at byte 24 .* only 20 data bytes; the file looks truncated or corrupt/)
  })

  it('a real file cut short is reported as truncated', async () => {
    const buf = encodeSafetensors([
      ['a', { dtype: 'F32', shape: [16], data: new Float32Array(16) }],
      ['b', { dtype: 'F32', shape: [16], data: new Float32Array(16) }],
    ])
    for (const cut of [1, 40, buf.length - 70]) {
      const e = await openError(buf.slice(0, buf.length - cut), 'bert/model.safetensors')
      expect(e.code).toBe('CHECKPOINT_TRUNCATED')
      expect(e.message).toMatch(/truncated or corrupt/)
    }
  })

  it('bytes after the last tensor are rejected', async () => {
    const e = await openError(rawFile(good, 30))
    expect(e.message).toMatch(/6 bytes follow the last tensor "w"/)
  })

  it('a byte length that does not match shape x dtype size names both', async () => {
    const e = await openError(rawFile({ w: { dtype: 'F16', shape: [2, 3], data_offsets: [0, 24] } }, 24))
    expect(e.code).toBe('CHECKPOINT_BAD_HEADER')
    expect(e.message).toMatch(/"w" \(F16, shape \[2, 3\]\) needs 12 bytes but data_offsets \[0, 24\] span 24/)
  })

  it('duplicate keys are rejected even though JSON.parse would keep the last', async () => {
    const text = '{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}, "w" :{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'
    const e = await openError(rawFile(null, 4, text))
    expect(e.message).toMatch(/lists "w" twice/)
  })

  it('the same name inside nested objects is not mistaken for a duplicate', async () => {
    const header = { __metadata__: { w: 'x', dtype: 'y' }, w: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }
    const file = await openSafetensors(bytesSource(rawFile(header, 4)))
    expect(file.keys()).toEqual(['w'])
    expect(file.metadata).toEqual({ w: 'x', dtype: 'y' })
  })

  it('bad shapes, offsets and metadata each name the field', async () => {
    const shape = await openError(rawFile({ w: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, 4))
    expect(shape.message).toMatch(/"w" has shape \[-1\]/)
    const offsets = await openError(rawFile({ w: { dtype: 'F32', shape: [1], data_offsets: [4, 0] } }, 4))
    expect(offsets.message).toMatch(/"w" has data_offsets \[4,0\]/)
    const entry = await openError(rawFile({ w: 3 }))
    expect(entry.message).toMatch(/header entry "w" is 3/)
    const meta = await openError(rawFile({ __metadata__: { epoch: 3 } }))
    expect(meta.message).toMatch(/"__metadata__"."epoch" is 3, expected a string/)
  })

  it('asking for a tensor that is not there lists some that are', async () => {
    const file = await openSafetensors(bytesSource(rawFile(good, 24), 'gpt2.safetensors'))
    await expect(file.read('h.0.attn.weight')).rejects.toThrow(/gpt2.safetensors has no tensor "h.0.attn.weight"; it has 1 tensors, e.g. "w"/)
    expect(() => file.info('nope')).toThrow(CheckpointError)
    expect(file.has('w')).toBe(true)
    expect(file.has('nope')).toBe(false)
  })

  it('a missing tensor suggests the same name under another prefix first', async () => {
    const z = (): TensorToWrite => ({ dtype: 'F32', shape: [1], data: new Float32Array(1) })
    const file = await openSafetensors(bytesSource(encodeSafetensors([
      ['bert.embeddings.LayerNorm.weight', z()],
      ['bert.embeddings.word_embeddings.weight', z()],
      ['cls.predictions.bias', z()],
    ])))
    await expect(file.read('embeddings.word_embeddings.weight')).rejects.toThrow(/e.g. "bert.embeddings.word_embeddings.weight"$/)
    await expect(file.read('encoder.layer.0.LayerNorm.weight')).rejects.toThrow(/e.g. "bert.embeddings.LayerNorm.weight"$/)
    await expect(file.read('pooler.dense.bias')).rejects.toThrow(/e.g. "cls.predictions.bias"$/)
  })
})

describe('writing invalid tensors', () => {
  const f = new Float32Array(6)
  const cases: [string, [string, TensorToWrite][], RegExp][] = [
    ['data shorter than the shape', [['w', { dtype: 'F32', shape: [2, 4], data: f }]], /"w" has shape \[2, 4\] \(8 values\) but its data holds 6/],
    ['data of the wrong kind', [['w', { dtype: 'I64', shape: [6], data: f }]], /"w" is I64 but its data is Float32Array; expected BigInt64Array/],
    ['F32 given as raw 16-bit data', [['w', { dtype: 'F32', shape: [6], data: new Uint16Array(6) }]], /expected Float32Array/],
    ['a name given twice', [['w', { dtype: 'F32', shape: [6], data: f }], ['w', { dtype: 'F32', shape: [6], data: f }]], /"w" is given twice/],
    ['the reserved name', [['__metadata__', { dtype: 'F32', shape: [6], data: f }]], /cannot be named "__metadata__"/],
    ['an unwritable dtype', [['w', { dtype: 'F64' as 'F32', shape: [6], data: f }]], /"w" has dtype "F64"; finetune writes F32, F16, BF16, I64/],
    ['a fractional shape', [['w', { dtype: 'F32', shape: [1.5, 4], data: f }]], /"w" has shape \[1.5,4\]/],
  ]
  for (const [what, tensors, message] of cases) {
    it(`rejects ${what}`, () => {
      expect(() => serializeSafetensors(tensors)).toThrow(message)
      expect(() => serializeSafetensors(tensors)).toThrow(CheckpointError)
    })
  }

  it('rejects metadata values that are not strings', () => {
    expect(() => serializeSafetensors([], { step: 3 as unknown as string })).toThrow(/metadata "step" is 3/)
  })
})
