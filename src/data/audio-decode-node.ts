/** Reading audio files in Node: bytes from disk, decoded (audio-decode.ts), mixed to mono, resampled. */
import { open, readFile } from 'node:fs/promises'
import { DataRowError } from './errors.js'
import { decodeAudio } from './audio-decode.js'
import { id3Length, sniffAudioFormat, toMono, type DecodedAudio } from './audio.js'
import { resample, type ResampleOptions } from './audio-resample.js'

/** Reads and decodes one audio file; a missing, unreadable, empty or undecodable file is a DataRowError naming it. */
export async function decodeAudioFile(path: string): Promise<DecodedAudio> {
  let bytes: Uint8Array
  try {
    bytes = await readFile(path)
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    if (code === 'ENOENT') throw new DataRowError('DATA_AUDIO_MISSING', { file: path }, 'does not exist', 'check the path (paths in a CSV/JSONL are relative to that file)')
    if (code === 'EISDIR') throw new DataRowError('DATA_AUDIO_MISSING', { file: path }, 'is a folder, not an audio file', 'point at the audio file itself')
    throw new DataRowError('DATA_AUDIO_UNREADABLE', { file: path }, `cannot be read (${code ?? (e as Error).message})`, 'check its permissions')
  }
  return decodeAudio(bytes, path)
}

/** A file as mono samples at `sampleRate` (channels averaged, then resampled as torchaudio does). */
export async function loadAudioFile(path: string, sampleRate: number, opts: ResampleOptions = {}): Promise<Float32Array> {
  const a = await decodeAudioFile(path)
  return resample(toMono(a), a.sampleRate, sampleRate, opts)
}

/** Reads a file's first bytes: it must exist, be non-empty and start like a format finetune decodes (DataRowError otherwise). */
export async function checkAudioHeader(path: string): Promise<void> {
  let head: Uint8Array
  let size: number
  try {
    const fh = await open(path, 'r')
    try {
      size = (await fh.stat()).size
      const buf = new Uint8Array(Math.min(size, 4096))
      await fh.read(buf, 0, buf.length, 0)
      head = buf
    } finally {
      await fh.close()
    }
  } catch (e) {
    if (e instanceof DataRowError) throw e
    const code = (e as NodeJS.ErrnoException).code
    if (code === 'ENOENT') throw new DataRowError('DATA_AUDIO_MISSING', { file: path }, 'does not exist', 'check the path (paths in a CSV/JSONL are relative to that file)')
    throw new DataRowError('DATA_AUDIO_UNREADABLE', { file: path }, `cannot be read (${code ?? (e as Error).message})`, 'check that it is a readable file')
  }
  if (size === 0) throw new DataRowError('DATA_AUDIO_EMPTY', { file: path }, 'is empty (0 bytes)', 'remove the file, or skip bad files (--on-bad-row skip)')
  // an ID3 tag may be longer than the bytes read; the decoder decides then
  if (!sniffAudioFormat(head) && id3Length(head) === 0) {
    const hex = Array.from(head.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ')
    throw new DataRowError('DATA_AUDIO_UNSUPPORTED', { file: path }, `is not audio finetune decodes (it starts with bytes ${hex})`, 'use WAV, FLAC, MP3, Ogg Vorbis or Ogg Opus; convert others with sox or ffmpeg')
  }
}
