/**
 * Decoding audio bytes of any format finetune reads. WAV is read here (audio-wav.ts); FLAC, MP3,
 * Ogg Vorbis and Ogg Opus through the wasm-audio-decoders family (pinned in package.json):
 * @wasm-audio-decoders/flac (libFLAC), mpg123-decoder (mpg123), @wasm-audio-decoders/ogg-vorbis
 * (libvorbis) and ogg-opus-decoder (libopus). Each is the reference C library compiled to
 * WebAssembly, a few hundred KB, with no native build, so the same code decodes in Node, in worker
 * threads and in a browser. (npm `audio-decode` wraps these same decoders with twenty more codecs
 * that speech data does not need.) A decoder module is loaded on first use of its format.
 */
import { DataRowError } from './errors.js'
import { sniffAudioFormat, toMono, type AudioFormat, type DecodedAudio } from './audio.js'
import { readWav } from './audio-wav.js'

interface WasmDecoded {
  channelData: Float32Array[]
  samplesDecoded: number
  sampleRate: number
  bitDepth?: number
  errors: { message: string }[]
}
interface WasmDecoder {
  ready: Promise<void>
  free(): void
}

const HINT = 'remove or re-encode the file, or skip bad files (--on-bad-row skip)'

/** Decodes a whole file's bytes; every failure is a DataRowError naming `file` and the reason. */
export async function decodeAudio(bytes: Uint8Array, file: string): Promise<DecodedAudio> {
  if (bytes.length === 0) throw new DataRowError('DATA_AUDIO_EMPTY', { file }, 'is empty (0 bytes)', HINT)
  const format = sniffAudioFormat(bytes)
  if (!format) {
    const head = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ')
    throw new DataRowError('DATA_AUDIO_UNSUPPORTED', { file }, `is not audio finetune decodes (it starts with bytes ${head})`, 'use WAV, FLAC, MP3, Ogg Vorbis or Ogg Opus; convert others with sox or ffmpeg')
  }
  if (format === 'wav') return readWav(bytes, file)
  let r: WasmDecoded
  try {
    r = await decodeWasm(format, bytes)
  } catch (e) {
    if (e instanceof DataRowError) throw e
    throw new DataRowError('DATA_AUDIO_BROKEN', { file }, `could not be decoded as ${label(format)}: ${(e as Error).message ?? String(e)}`, HINT)
  }
  const n = r.samplesDecoded
  if (!(n > 0) || r.channelData.length === 0) {
    const why = r.errors.length ? `: ${r.errors[0]!.message}` : ` in its ${bytes.length} bytes (damaged, or no audio frames)`
    throw new DataRowError('DATA_AUDIO_BROKEN', { file }, `holds no decodable ${label(format)} audio${why}`, HINT)
  }
  if (r.errors.length > 0 && r.errors.length * 4 > n / 1152) {
    // a frame or two lost is tolerated as decoders do; a file that is mostly errors is not
    throw new DataRowError('DATA_AUDIO_BROKEN', { file }, `is damaged: ${r.errors.length} ${label(format)} frames failed to decode (first: ${r.errors[0]!.message})`, HINT)
  }
  const channels = r.channelData.map((c) => (c.length === n ? c : c.slice(0, n)))
  if (format === 'flac' && r.bitDepth !== undefined && r.bitDepth >= 8 && r.bitDepth <= 32) {
    // libFLAC's wasm build scales by 2^(bits-1) - 1; torchaudio, soundfile, sox and our WAV reader by 2^(bits-1)
    const top = 2 ** (r.bitDepth - 1)
    for (const c of channels) for (let i = 0; i < c.length; i++) c[i] = Math.round(c[i]! * (top - 1)) / top
  }
  return { sampleRate: r.sampleRate, channels, encoding: format === 'flac' && r.bitDepth ? `flac ${r.bitDepth}-bit` : label(format) }
}

/** Decodes and mixes to mono. */
export async function decodeAudioMono(bytes: Uint8Array, file: string): Promise<{ sampleRate: number; samples: Float32Array; encoding: string }> {
  const a = await decodeAudio(bytes, file)
  return { sampleRate: a.sampleRate, samples: toMono(a), encoding: a.encoding }
}

const label = (f: AudioFormat): string => (f === 'ogg-vorbis' ? 'ogg vorbis' : f === 'ogg-opus' ? 'ogg opus' : f)

async function decodeWasm(format: Exclude<AudioFormat, 'wav'>, bytes: Uint8Array): Promise<WasmDecoded> {
  // decoders read from a copy: some transfer or detach their input
  const input = bytes.slice()
  if (format === 'mp3') {
    const { MPEGDecoder } = await import('mpg123-decoder')
    const d = new MPEGDecoder()
    return use(d, async () => d.decode(input))
  }
  if (format === 'flac') {
    const { FLACDecoder } = await import('@wasm-audio-decoders/flac')
    const d = new FLACDecoder()
    return use(d, () => d.decodeFile(input))
  }
  if (format === 'ogg-vorbis') {
    const { OggVorbisDecoder } = await import('@wasm-audio-decoders/ogg-vorbis')
    const d = new OggVorbisDecoder()
    return use(d, () => d.decodeFile(input))
  }
  const { OggOpusDecoder } = await import('ogg-opus-decoder')
  const d = new OggOpusDecoder()
  return use(d, () => d.decodeFile(input))
}

async function use<T>(d: WasmDecoder, fn: () => Promise<T>): Promise<T> {
  await d.ready
  try {
    return await fn()
  } finally {
    d.free()
  }
}
