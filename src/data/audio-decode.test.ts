// Decoding every supported format against sox's decoding of the same file (fixtures from
// scripts/gen-audio-fixtures.sh: 0.1 s of 440 Hz left / 660 Hz right at 0.5, 16 kHz stereo).
import { readFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { maxAbsDiff } from '../../test/audio-fixtures.js'
import { sniffAudioFormat, toMono } from './audio.js'
import { decodeAudio } from './audio-decode.js'
import { decodeAudioFile, loadAudioFile } from './audio-decode-node.js'
import { resample } from './audio-resample.js'
import { alawToLinear, encodeWav, mulawToLinear, readWav } from './audio-wav.js'
import { DataRowError } from './errors.js'

const dir = fileURLToPath(new URL('../../test/fixtures/audio/', import.meta.url))
const f32 = (name: string): Float32Array => {
  const b = readFileSync(join(dir, name))
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength))
}
const deinterleave = (x: Float32Array, ch: number): Float32Array[] => Array.from({ length: ch }, (_, c) => x.filter((_, i) => i % ch === c))
const src = deinterleave(f32('src.f32'), 2)
const tmp = await mkdtemp(join(tmpdir(), 'audio-decode-'))
afterAll(() => rm(tmp, { recursive: true, force: true }))

async function expectError(p: Promise<unknown>, code: string, text: RegExp): Promise<DataRowError> {
  const e = await p.then(() => undefined, (x: unknown) => x)
  expect(e).toBeInstanceOf(DataRowError)
  expect((e as DataRowError).code).toBe(code)
  expect((e as DataRowError).message).toMatch(text)
  expect((e as DataRowError).hint).toBeTruthy()
  return e as DataRowError
}

describe('WAV', () => {
  for (const name of ['pcm8', 'pcm16', 'pcm24', 'pcm32', 'float32', 'ulaw', 'alaw']) {
    it(`${name}: samples equal sox's decoding exactly`, async () => {
      const a = await decodeAudioFile(join(dir, `${name}.wav`))
      expect(a.sampleRate).toBe(16000)
      expect(a.channels.length).toBe(2)
      const want = deinterleave(f32(`${name}.sox.f32`), 2)
      expect(maxAbsDiff(a.channels[0]!, want[0]!)).toBe(0)
      expect(maxAbsDiff(a.channels[1]!, want[1]!)).toBe(0)
    })
  }

  it('reads WAVE_FORMAT_EXTENSIBLE (24-bit, 3 channels) exactly as sox', async () => {
    const a = await decodeAudioFile(join(dir, 'ext24-3ch.wav'))
    expect(a.encoding).toBe('wav pcm 24-bit')
    const want = deinterleave(f32('ext24-3ch.sox.f32'), 3)
    for (let c = 0; c < 3; c++) expect(maxAbsDiff(a.channels[c]!, want[c]!)).toBe(0)
  })

  it('G.711 tables: mu-law and A-law expand to the ITU values', () => {
    expect([0x00, 0x7f, 0x80, 0xff].map(mulawToLinear)).toEqual([-32124, 0, 32124, 0])
    expect([0xd5, 0x55, 0xaa, 0x2a].map(alawToLinear)).toEqual([8, -8, 32256, -32256])
  })

  it('round-trips through encodeWav (16-bit: within half a step; float: exactly)', () => {
    const x = src[0]!
    expect(maxAbsDiff(readWav(encodeWav(x, 16000), 'a.wav').channels[0]!, x)).toBeLessThanOrEqual(0.5 / 32768 + 1e-9)
    expect(readWav(encodeWav([x, src[1]!], 8000, 'float32'), 'b.wav').channels[1]).toEqual(src[1])
  })

  it('stereo to mono is the mean of the channels', () => {
    const m = toMono({ channels: src })
    expect(m[10]).toBeCloseTo((src[0]![10]! + src[1]![10]!) / 2, 7)
  })

  it('a WAV cut short keeps its whole frames; one without data or header fails with the reason', async () => {
    const full = readFileSync(join(dir, 'pcm16.wav'))
    expect(readWav(full.subarray(0, 44 + 401), 'cut.wav').channels[0]!.length).toBe(100) // 4-byte frames
    await expectError(decodeAudio(full.subarray(0, 40), 'head.wav'), 'DATA_AUDIO_BROKEN', /head\.wav: is not a readable WAV file: it has no data chunk/)
    await expectError(decodeAudio(full.subarray(0, 44), 'nodata.wav'), 'DATA_AUDIO_EMPTY', /nodata\.wav: holds no audio/)
  })

  it('names unsupported WAV codecs', async () => {
    const b = Uint8Array.from(readFileSync(join(dir, 'pcm16.wav')))
    new DataView(b.buffer).setUint16(20, 0x11, true) // IMA ADPCM
    await expectError(decodeAudio(b, 'adpcm.wav'), 'DATA_AUDIO_UNSUPPORTED', /adpcm\.wav: is a WAV file of IMA ADPCM \(format code 17\)/)
  })
})

describe('compressed formats (wasm decoders)', () => {
  it('FLAC decodes losslessly', async () => {
    const a = await decodeAudioFile(join(dir, 'pcm16.flac'))
    expect(a.encoding).toBe('flac 16-bit')
    const want = deinterleave(f32('pcm16.sox.f32'), 2)
    expect(maxAbsDiff(a.channels[0]!, want[0]!)).toBe(0)
    expect(maxAbsDiff(a.channels[1]!, want[1]!)).toBe(0)
  })

  // lossy codecs: the decoded tone correlates with the source at the codec's delay
  const bestCorrelation = (got: Float32Array, want: Float32Array): number => {
    let best = -1
    for (let lag = -1200; lag <= 1200; lag++) {
      let xy = 0, xx = 0, yy = 0
      for (let i = 200; i < want.length - 200; i++) {
        const g = got[i + lag]
        if (g === undefined) continue
        xy += g * want[i]!
        xx += g * g
        yy += want[i]! * want[i]!
      }
      if (xx > 0) best = Math.max(best, xy / Math.sqrt(xx * yy))
    }
    return best
  }
  // mpg123 always gives two channels (a mono file's twice); Opus always decodes at 48 kHz
  for (const [file, rate, channels] of [['mono.mp3', 16000, 2], ['stereo.ogg', 16000, 2], ['stereo.opus', 48000, 2]] as const) {
    it(`${file} decodes (${rate} Hz, ${channels} ch) and matches the source tone (correlation > 0.98)`, async () => {
      const a = await decodeAudioFile(join(dir, file))
      expect(a.sampleRate).toBe(rate)
      expect(a.channels.length).toBe(channels)
      const mono = file.startsWith('mono')
      const got = mono ? await loadAudioFile(join(dir, file), 16000) : resample(a.channels[0]!, rate, 16000)
      expect(bestCorrelation(got, src[0]!)).toBeGreaterThan(0.98) // mono.mp3 is the left channel
    })
  }

  it('sniffs formats by content, not by name', async () => {
    expect(sniffAudioFormat(readFileSync(join(dir, 'stereo.opus')))).toBe('ogg-opus')
    expect(sniffAudioFormat(readFileSync(join(dir, 'stereo.ogg')))).toBe('ogg-vorbis')
    expect(sniffAudioFormat(readFileSync(join(dir, 'mono.mp3')))).toBe('mp3')
    const p = join(tmp, 'really-flac.wav')
    await writeFile(p, readFileSync(join(dir, 'pcm16.flac')))
    expect((await decodeAudioFile(p)).encoding).toBe('flac 16-bit')
  })
})

describe('bad files', () => {
  it('empty, missing, not audio, and damaged files fail with the file and the reason', async () => {
    const empty = join(tmp, 'empty.wav')
    await writeFile(empty, new Uint8Array(0))
    await expectError(decodeAudioFile(empty), 'DATA_AUDIO_EMPTY', /empty\.wav: is empty \(0 bytes\)/)
    await expectError(decodeAudioFile(join(tmp, 'nope.wav')), 'DATA_AUDIO_MISSING', /nope\.wav: does not exist/)
    const text = join(tmp, 'notes.wav')
    await writeFile(text, 'hello, not audio')
    await expectError(decodeAudioFile(text), 'DATA_AUDIO_UNSUPPORTED', /notes\.wav: is not audio finetune decodes \(it starts with bytes 68 65 6c 6c\)/)
    const flac = readFileSync(join(dir, 'pcm16.flac'))
    const junk = Uint8Array.from(flac)
    for (let i = 60; i < junk.length; i++) junk[i] = (i * 7919) & 255
    const damaged = join(tmp, 'damaged.flac')
    await writeFile(damaged, junk)
    await expectError(decodeAudioFile(damaged), 'DATA_AUDIO_BROKEN', /damaged\.flac: /)
    const headerOnly = join(tmp, 'header-only.mp3')
    await writeFile(headerOnly, readFileSync(join(dir, 'mono.mp3')).subarray(0, 4))
    const e = await decodeAudioFile(headerOnly).then(() => undefined, (x: unknown) => x)
    expect(e).toBeInstanceOf(DataRowError)
    expect((e as DataRowError).message).toMatch(/header-only\.mp3: /)
  })
})
