/** Reading audio files in Node: bytes from disk, decoded (audio-decode.ts), mixed to mono, resampled. */
import { readFile } from 'node:fs/promises'
import { DataRowError } from './errors.js'
import { decodeAudio } from './audio-decode.js'
import { toMono, type DecodedAudio } from './audio.js'
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
