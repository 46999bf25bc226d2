/**
 * WAV (RIFF/WAVE) reading and writing, in plain TypeScript: PCM 8 (unsigned), 16, 24 and 32 bits,
 * IEEE float 32 and 64, G.711 mu-law and A-law, plain or WAVE_FORMAT_EXTENSIBLE headers.
 * Integer samples are scaled to [-1, 1) by 2^(bits-1) as torchaudio.load does; mu-law and A-law
 * expand to 16-bit linear first (the ITU G.711 tables sox and libsndfile use), then / 32768.
 */
import { DataRowError } from './errors.js'
import type { DecodedAudio } from './audio.js'

const FORMAT_PCM = 1
const FORMAT_FLOAT = 3
const FORMAT_ALAW = 6
const FORMAT_MULAW = 7
const FORMAT_EXTENSIBLE = 0xfffe

const NAMES: Record<number, string> = { 2: 'MS ADPCM', 0x11: 'IMA ADPCM', 0x55: 'MP3', 0x31: 'GSM 6.10', 0x161: 'WMA' }

function broken(file: string, reason: string): DataRowError {
  return new DataRowError('DATA_AUDIO_BROKEN', { file }, `is not a readable WAV file: ${reason}`, 'the file is damaged or truncated; re-export it, or skip bad files (--on-bad-row skip)')
}

/** G.711 mu-law byte to 16-bit linear. */
export function mulawToLinear(u: number): number {
  u = ~u & 0xff
  const t = (((u & 0x0f) << 3) + 0x84) << ((u & 0x70) >> 4)
  return u & 0x80 ? 0x84 - t : t - 0x84
}

/** G.711 A-law byte to 16-bit linear. */
export function alawToLinear(a: number): number {
  a ^= 0x55
  const seg = (a & 0x70) >> 4
  let t = (a & 0x0f) << 4
  if (seg === 0) t += 8
  else if (seg === 1) t += 0x108
  else t = (t + 0x108) << (seg - 1)
  return a & 0x80 ? t : -t
}

/** Decodes a WAV file's bytes; `file` names it in errors. */
export function readWav(bytes: Uint8Array, file: string): DecodedAudio {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const tag = (at: number): string => String.fromCharCode(bytes[at]!, bytes[at + 1]!, bytes[at + 2]!, bytes[at + 3]!)
  if (bytes.length < 12 || tag(0) !== 'RIFF' || tag(8) !== 'WAVE') throw broken(file, 'it does not start with a RIFF/WAVE header')
  let fmt: { format: number; channels: number; rate: number; blockAlign: number; bits: number; validBits: number } | undefined
  let data: Uint8Array | undefined
  let at = 12
  while (at + 8 <= bytes.length) {
    const id = tag(at)
    let size = v.getUint32(at + 4, true)
    const body = at + 8
    if (id === 'data') {
      // streaming writers leave the size 0 or 0xFFFFFFFF; a truncated file has fewer bytes than declared
      if (size === 0 || size === 0xffffffff || body + size > bytes.length) size = bytes.length - body
      data = bytes.subarray(body, body + size)
      if (fmt) break
    } else if (id === 'fmt ') {
      if (size < 16 || body + 16 > bytes.length) throw broken(file, `its fmt chunk is ${size} bytes, fewer than the 16 a WAV header needs`)
      let format = v.getUint16(body, true)
      const bits = v.getUint16(body + 14, true)
      let validBits = bits
      if (format === FORMAT_EXTENSIBLE) {
        if (size < 40 || body + 40 > bytes.length) throw broken(file, 'its WAVE_FORMAT_EXTENSIBLE header is shorter than 40 bytes')
        validBits = v.getUint16(body + 18, true) || bits
        // the sub-format GUID starts with the format code
        format = v.getUint16(body + 24, true)
      }
      fmt = { format, channels: v.getUint16(body + 2, true), rate: v.getUint32(body + 4, true), blockAlign: v.getUint16(body + 12, true), bits, validBits }
    }
    at = body + size + (size & 1)
  }
  if (!fmt) throw broken(file, 'it has no fmt chunk')
  if (!data) throw broken(file, 'it has no data chunk')
  const { format, channels, rate, bits } = fmt
  if (channels < 1) throw broken(file, 'its header says 0 channels')
  if (rate < 1) throw broken(file, 'its header says a sample rate of 0')

  let read: (p: number) => number
  let encoding: string
  if (format === FORMAT_PCM) {
    encoding = `wav pcm ${bits}-bit`
    if (bits === 8) read = (p) => (data!.at(p)! - 128) / 128
    else if (bits === 16) read = (p) => dv.getInt16(p, true) / 32768
    else if (bits === 24) read = (p) => ((dv.getUint8(p) | (dv.getUint8(p + 1) << 8) | (dv.getInt8(p + 2) << 16)) / 8388608)
    else if (bits === 32) read = (p) => dv.getInt32(p, true) / 2147483648
    else throw unsupported(file, `${bits}-bit integer PCM`)
  } else if (format === FORMAT_FLOAT) {
    encoding = `wav float ${bits}-bit`
    if (bits === 32) read = (p) => dv.getFloat32(p, true)
    else if (bits === 64) read = (p) => dv.getFloat64(p, true)
    else throw unsupported(file, `${bits}-bit float`)
  } else if (format === FORMAT_MULAW || format === FORMAT_ALAW) {
    if (bits !== 8) throw unsupported(file, `${bits}-bit ${format === FORMAT_MULAW ? 'mu-law' : 'A-law'}`)
    const table = Float32Array.from({ length: 256 }, (_, u) => (format === FORMAT_MULAW ? mulawToLinear(u) : alawToLinear(u)) / 32768)
    encoding = format === FORMAT_MULAW ? 'wav mu-law' : 'wav a-law'
    read = (p) => table[data!.at(p)!]!
  } else {
    throw unsupported(file, NAMES[format] ? `${NAMES[format]} (format code ${format})` : `format code ${format}`)
  }
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength)
  const width = bits / 8
  const frameBytes = Math.max(fmt.blockAlign, width * channels)
  const frames = Math.floor(data.length / frameBytes)
  if (frames === 0) throw new DataRowError('DATA_AUDIO_EMPTY', { file }, 'holds no audio (its data chunk is empty)', 'remove the file, or skip bad files (--on-bad-row skip)')
  const out = Array.from({ length: channels }, () => new Float32Array(frames))
  if (format === FORMAT_PCM && bits === 16) {
    // the common case, without a closure call per sample
    for (let i = 0, p = 0; i < frames; i++, p += frameBytes) for (let c = 0; c < channels; c++) out[c]![i] = dv.getInt16(p + 2 * c, true) / 32768
  } else {
    for (let i = 0, p = 0; i < frames; i++, p += frameBytes) for (let c = 0; c < channels; c++) out[c]![i] = read(p + width * c)
  }
  return { sampleRate: rate, channels: out, encoding }
}

function unsupported(file: string, what: string): DataRowError {
  return new DataRowError('DATA_AUDIO_UNSUPPORTED', { file }, `is a WAV file of ${what}, which finetune does not decode`, 'convert it to 16-bit PCM WAV or FLAC (e.g. `sox in.wav -b 16 out.wav`); WAV may hold PCM 8/16/24/32-bit, float 32/64, mu-law or A-law')
}

/** Writes mono or multi-channel audio as a WAV file: 16-bit PCM (clipped, rounded) or 32-bit float. */
export function encodeWav(channels: Float32Array | readonly Float32Array[], sampleRate: number, format: 'pcm16' | 'float32' = 'pcm16'): Uint8Array {
  const ch = channels instanceof Float32Array ? [channels] : channels
  const n = ch[0]?.length ?? 0
  const width = format === 'pcm16' ? 2 : 4
  const dataBytes = n * ch.length * width
  const out = new Uint8Array(44 + dataBytes)
  const v = new DataView(out.buffer)
  const put = (at: number, s: string): void => {
    for (let i = 0; i < s.length; i++) out[at + i] = s.charCodeAt(i)
  }
  put(0, 'RIFF')
  v.setUint32(4, 36 + dataBytes, true)
  put(8, 'WAVE')
  put(12, 'fmt ')
  v.setUint32(16, 16, true)
  v.setUint16(20, format === 'pcm16' ? FORMAT_PCM : FORMAT_FLOAT, true)
  v.setUint16(22, ch.length, true)
  v.setUint32(24, sampleRate, true)
  v.setUint32(28, sampleRate * ch.length * width, true)
  v.setUint16(32, ch.length * width, true)
  v.setUint16(34, width * 8, true)
  put(36, 'data')
  v.setUint32(40, dataBytes, true)
  let p = 44
  for (let i = 0; i < n; i++) {
    for (const c of ch) {
      if (format === 'pcm16') v.setInt16(p, Math.max(-32768, Math.min(32767, Math.round(c[i]! * 32768))), true)
      else v.setFloat32(p, c[i]!, true)
      p += width
    }
  }
  return out
}
