/** Shared helpers of the audio tests: golden tensors, test signals, WAV files written on the fly. */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

export const goldenAudioDir = fileURLToPath(new URL('./golden/audio/', import.meta.url))
export const speechCorpusDir = fileURLToPath(new URL('../data/speech/', import.meta.url))

/** Float32 tensors of a safetensors file by name (the goldens are all F32). */
export function readF32Safetensors(path: string): Map<string, Float32Array> {
  const b = readFileSync(path)
  const n = Number(b.readBigUInt64LE(0))
  const header = JSON.parse(b.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; data_offsets: [number, number] }>
  const out = new Map<string, Float32Array>()
  for (const [k, v] of Object.entries(header)) {
    if (k === '__metadata__') continue
    if (v.dtype !== 'F32') throw new Error(`${path}: ${k} is ${v.dtype}, expected F32`)
    const [s, e] = v.data_offsets
    const bytes = b.subarray(8 + n + s, 8 + n + e)
    out.set(k, new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)))
  }
  return out
}

/** Sum of sines (Hz) at `rate`, amplitude `amp` each. */
export function tones(freqs: readonly number[], rate: number, n: number, amp = 0.1): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => freqs.reduce((s, f) => s + amp * Math.sin((2 * Math.PI * f * i) / rate), 0))
}

/** Largest |a - b| over the first min(len) samples (from `from` to `to`). */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>, from = 0, to = Math.min(a.length, b.length)): number {
  let m = 0
  for (let i = from; i < to; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!))
  return m
}
