// The resampler against torchaudio 0.13's functional.resample and sox 14.4's `rate -v -L`
// (goldens from scripts/gen_audio_goldens.py).
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { goldenAudioDir, maxAbsDiff, readF32Safetensors, tones } from '../../test/audio-fixtures.js'
import { resample, resampledLength, type ResampleOptions } from './audio-resample.js'

interface Meta {
  ta: { name: string; orig: number; new: number; options: { resampling_method?: string; lowpass_filter_width?: number; rolloff?: number; beta?: number } }[]
  sox: { name: string; orig: number; new: number }[]
}
const meta = JSON.parse(readFileSync(join(goldenAudioDir, 'resample.json'), 'utf8')) as Meta
const golden = readF32Safetensors(join(goldenAudioDir, 'resample.safetensors'))

describe('resample', () => {
  for (const c of meta.ta) {
    it(`matches torchaudio.functional.resample ${c.name} on white noise (float64: 1e-6, float32: 6e-5)`, () => {
      const x = golden.get(`ta/${c.name}/x`)!
      const want = golden.get(`ta/${c.name}/y`)!
      const o = c.options
      // torchaudio 0.13 names the windows sinc_interpolation / kaiser_window (2.x: sinc_interp_hann / _kaiser)
      const opts: ResampleOptions = {
        ...(o.resampling_method === 'kaiser_window' ? { method: 'sinc_interp_kaiser' as const } : {}),
        ...(o.lowpass_filter_width !== undefined ? { lowpassFilterWidth: o.lowpass_filter_width } : {}),
        ...(o.rolloff !== undefined ? { rolloff: o.rolloff } : {}),
        ...(o.beta !== undefined ? { beta: o.beta } : {}),
      }
      const got = resample(x, c.orig, c.new, opts)
      expect(got.length).toBe(want.length)
      // ours computes in float64; torchaudio in the waveform's dtype, whose float32 kernel is off
      // by up to ~4e-5 itself (its own float32 vs float64 outputs differ that much)
      expect(maxAbsDiff(got, golden.get(`ta/${c.name}/y64`)!)).toBeLessThan(1e-6)
      expect(maxAbsDiff(got, want)).toBeLessThan(6e-5)
    })
  }

  for (const c of meta.sox) {
    it(`agrees with sox rate -v -L ${c.name} on tones below 0.8 x Nyquist within 4e-3 = 0.5% of the peak (interior)`, () => {
      const x = golden.get(`sox/${c.name}/x`)!
      const want = golden.get(`sox/${c.name}/y`)!
      const got = resample(x, c.orig, c.new)
      expect(Math.abs(got.length - want.length)).toBeLessThanOrEqual(1)
      // the edges differ by design (torchaudio zero-pads; sox's filter is much longer), so 64
      // output samples (4 ms at 16 kHz) at each end are left out; the tones' peak is ~0.4
      const edge = 64
      const d = maxAbsDiff(got, want, edge, Math.min(got.length, want.length) - edge)
      expect(d).toBeLessThan(4e-3)
    })
  }

  it('keeps the length rule ceil(new * n / orig) and copies at equal rates', () => {
    expect(resampledLength(1000, 44100, 16000)).toBe(Math.ceil((160 * 1000) / 441))
    expect(resample(new Float32Array(1000), 44100, 16000).length).toBe(363)
    const x = tones([440], 16000, 100)
    const y = resample(x, 16000, 16000)
    expect(y).toEqual(x)
    expect(y).not.toBe(x)
  })

  it('attenuates a tone above the new Nyquist frequency', () => {
    const x = tones([10000], 44100, 44100, 0.5) // 10 kHz cannot exist at 16 kHz
    const y = resample(x, 44100, 16000)
    const rms = Math.sqrt(y.subarray(500, -500).reduce((s, v) => s + v * v, 0) / (y.length - 1000))
    // Hann-windowed sinc with 6 zero crossings: about -45 dB here (0.35 rms in)
    expect(20 * Math.log10(rms / (0.5 / Math.SQRT2))).toBeLessThan(-40)
  })
})
