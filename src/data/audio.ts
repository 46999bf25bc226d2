/**
 * Decoded audio and what every audio module shares: the container formats finetune reads, how
 * they are recognised (by their first bytes, never by the file name), and stereo to mono.
 *
 * Samples are float32 in [-1, 1): integer PCM is divided by 2^(bits-1) as torchaudio.load and
 * soundfile do (8-bit WAV is unsigned: (x - 128) / 128).
 */

/** Audio as decoded: one Float32Array per channel, all of the same length. */
export interface DecodedAudio {
  sampleRate: number
  channels: Float32Array[]
  /** What the file held, e.g. "wav pcm 16-bit", "flac 24-bit", "mp3", "ogg vorbis", "ogg opus". */
  encoding: string
}

/** The containers/codecs finetune decodes. */
export type AudioFormat = 'wav' | 'flac' | 'mp3' | 'ogg-vorbis' | 'ogg-opus'

/** File extensions taken as audio when a folder is scanned (the content decides how it is decoded). */
export const AUDIO_EXTENSIONS: ReadonlySet<string> = new Set(['.wav', '.wave', '.flac', '.mp3', '.ogg', '.oga', '.opus'])

/** Whether a file name has an audio extension (case-insensitive). */
export function isAudioName(name: string): boolean {
  const dot = name.lastIndexOf('.')
  return dot >= 0 && AUDIO_EXTENSIONS.has(name.slice(dot).toLowerCase())
}

const ascii = (b: Uint8Array, at: number, n: number): string => String.fromCharCode(...b.subarray(at, at + n))

/** Length of an ID3v2 tag at the start (0 if none): MP3 and some FLAC files begin with one. */
export function id3Length(b: Uint8Array): number {
  if (b.length < 10 || ascii(b, 0, 3) !== 'ID3') return 0
  // a synchsafe integer: 7 bits per byte
  const size = ((b[6]! & 0x7f) << 21) | ((b[7]! & 0x7f) << 14) | ((b[8]! & 0x7f) << 7) | (b[9]! & 0x7f)
  return 10 + size + (b[5]! & 0x10 ? 10 : 0)
}

/** The format of `bytes` from its first bytes, or undefined when none finetune reads. */
export function sniffAudioFormat(bytes: Uint8Array): AudioFormat | undefined {
  if (bytes.length >= 12 && ascii(bytes, 0, 4) === 'RIFF' && ascii(bytes, 8, 4) === 'WAVE') return 'wav'
  if (bytes.length >= 4 && ascii(bytes, 0, 4) === 'OggS') {
    // the first page holds the codec's identification header
    const head = ascii(bytes, 0, Math.min(bytes.length, 128))
    if (head.includes('OpusHead')) return 'ogg-opus'
    if (head.includes('\x01vorbis')) return 'ogg-vorbis'
    return undefined
  }
  const skip = id3Length(bytes)
  if (bytes.length >= skip + 4 && ascii(bytes, skip, 4) === 'fLaC') return 'flac'
  // an MPEG audio frame header: 11 sync bits, a layer that is not "reserved"
  if (bytes.length >= skip + 2 && bytes[skip] === 0xff && (bytes[skip + 1]! & 0xe0) === 0xe0 && (bytes[skip + 1]! & 0x06) !== 0) return 'mp3'
  return undefined
}

/** The mean of the channels (stereo to mono as torchaudio users do with `mean(dim=0)`); one channel is returned as is. */
export function toMono(audio: Pick<DecodedAudio, 'channels'>): Float32Array {
  const ch = audio.channels
  if (ch.length === 1) return ch[0]!
  const n = ch[0]?.length ?? 0
  const out = new Float32Array(n)
  for (const c of ch) for (let i = 0; i < n; i++) out[i]! += c[i]!
  const k = 1 / ch.length
  for (let i = 0; i < n; i++) out[i]! *= k
  return out
}
