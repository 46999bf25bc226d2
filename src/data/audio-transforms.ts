/**
 * From decoded audio to a fixed-length clip: mono, resampled to the model's rate, cropped or padded
 * to `length` samples by a recorded policy, and (training clips only) augmented with seeded random
 * gain, time shift, additive noise at a chosen SNR and speed perturbation. SpecAugment-style time
 * and frequency masks act on features (frames x bins), after the front-end.
 *
 * Every random draw of a clip comes from one Rng keyed by (seed, epoch, example id), so the same
 * clip in the same epoch gets the same augmentation whichever worker makes it, and a resumed run
 * sees what it would have seen.
 */
import { mix32, Rng } from '../runtime/rng.js'
import { ConfigError } from '../errors.js'
import { resample } from './audio-resample.js'

/** How a clip of any length becomes `length` samples. Recorded in the output folder with the model. */
export interface ClipPolicy {
  /** Target sample rate (Hz); every file is resampled to it. */
  sampleRate: number
  /** Samples per clip (e.g. 16000 for 1 s at 16 kHz). */
  length: number
  /** Where a short clip gets its zeros: after it ('end', as torchaudio's Speech Commands recipes) or evenly on both sides ('center'). */
  pad: 'end' | 'center'
  /** Which part of a long clip is kept at evaluation. */
  crop: 'start' | 'center'
  /** Which part of a long clip is kept for training ('random': a seeded random window each epoch). */
  trainCrop: 'start' | 'center' | 'random'
}

export const defaultClipPolicy = { sampleRate: 16000, length: 16000, pad: 'end', crop: 'center', trainCrop: 'random' } as const satisfies ClipPolicy

/** Training augmentation of waveforms; each part is applied with its probability `p`. */
export interface AudioAugmentation {
  /** Gain drawn uniformly in [minDb, maxDb] dB. */
  gain?: { minDb: number; maxDb: number; p: number }
  /** Shift by up to `maxSeconds` either way; samples moved out are dropped, zeros fill in. */
  shift?: { maxSeconds: number; p: number }
  /** White Gaussian noise at an SNR drawn uniformly in [minDb, maxDb] dB of the clip's own power. */
  noise?: { minDb: number; maxDb: number; p: number }
  /** Speed (tempo and pitch together, as Kaldi's/torchaudio's speed perturbation): a factor from `factors`. */
  speed?: { factors: readonly number[]; p: number }
}

/** The augmentation of audio-classification training by default. */
export const defaultAudioAugmentation = {
  gain: { minDb: -6, maxDb: 6, p: 0.5 },
  shift: { maxSeconds: 0.1, p: 0.5 },
  noise: { minDb: 10, maxDb: 40, p: 0.5 },
  speed: { factors: [0.9, 1, 1.1], p: 0.5 },
} as const satisfies AudioAugmentation

/** What seeds one clip's augmentation. */
export interface AudioAugmentKey {
  seed: number
  epoch: number
  id: number
}

const AUGMENT_STREAM = 0x417564 // "Aud"

/** The Rng of one clip in one epoch. */
export function clipRng(key: AudioAugmentKey): Rng {
  return new Rng(mix32(key.seed ^ mix32(key.id ^ mix32(key.epoch ^ AUGMENT_STREAM))), key.id, key.epoch)
}

/** Checks a policy; every problem is reported at once. */
export function checkClipPolicy(p: ClipPolicy): ClipPolicy {
  const issues: string[] = []
  if (!(Number.isInteger(p.sampleRate) && p.sampleRate >= 1000)) issues.push(`sampleRate must be a whole number of Hz >= 1000, got ${p.sampleRate}`)
  if (!(Number.isInteger(p.length) && p.length >= 1)) issues.push(`length must be a whole number of samples >= 1, got ${p.length}`)
  if (p.pad !== 'end' && p.pad !== 'center') issues.push(`pad must be "end" or "center", got ${JSON.stringify(p.pad)}`)
  if (p.crop !== 'start' && p.crop !== 'center') issues.push(`crop must be "start" or "center", got ${JSON.stringify(p.crop)}`)
  if (!['start', 'center', 'random'].includes(p.trainCrop)) issues.push(`trainCrop must be "start", "center" or "random", got ${JSON.stringify(p.trainCrop)}`)
  if (issues.length) throw new ConfigError('CONFIG_CLIP', `bad clip policy: ${issues.join('; ')}`, 'e.g. { sampleRate: 16000, length: 16000, pad: "end", crop: "center", trainCrop: "random" }')
  return p
}

/** Checks an augmentation's ranges; every problem is reported at once. */
export function checkAudioAugmentation(a: AudioAugmentation): AudioAugmentation {
  const issues: string[] = []
  const prob = (name: string, p: number): void => {
    if (!(p >= 0 && p <= 1)) issues.push(`${name}.p must be in [0, 1], got ${p}`)
  }
  if (a.gain) {
    prob('gain', a.gain.p)
    if (!(a.gain.minDb <= a.gain.maxDb)) issues.push(`gain.minDb (${a.gain.minDb}) must be <= gain.maxDb (${a.gain.maxDb})`)
  }
  if (a.shift) {
    prob('shift', a.shift.p)
    if (!(a.shift.maxSeconds >= 0)) issues.push(`shift.maxSeconds must be >= 0, got ${a.shift.maxSeconds}`)
  }
  if (a.noise) {
    prob('noise', a.noise.p)
    if (!(a.noise.minDb <= a.noise.maxDb)) issues.push(`noise.minDb (${a.noise.minDb}) must be <= noise.maxDb (${a.noise.maxDb})`)
  }
  if (a.speed) {
    prob('speed', a.speed.p)
    if (a.speed.factors.length === 0 || !a.speed.factors.every((f) => f >= 0.5 && f <= 2)) issues.push(`speed.factors must be a non-empty list of factors in [0.5, 2], got [${a.speed.factors.join(', ')}]`)
  }
  if (issues.length) throw new ConfigError('CONFIG_AUDIO_AUGMENTATION', `bad audio augmentation: ${issues.join('; ')}`, 'see defaultAudioAugmentation for a working example')
  return a
}

/** Crops or pads `x` to `length` samples. `random` crops draw their offset from `rng`. */
export function fitLength(x: Float32Array, length: number, pad: ClipPolicy['pad'], crop: ClipPolicy['trainCrop'], rng?: Rng): Float32Array {
  if (x.length === length) return x
  if (x.length > length) {
    const extra = x.length - length
    const start = crop === 'start' ? 0 : crop === 'center' ? Math.floor(extra / 2) : rng ? rng.int(extra + 1) : Math.floor(extra / 2)
    return x.slice(start, start + length)
  }
  const out = new Float32Array(length)
  out.set(x, pad === 'end' ? 0 : Math.floor((length - x.length) / 2))
  return out
}

/**
 * Speed perturbation by `factor` (> 1 faster and higher, as sox `speed`): the clip is taken as
 * recorded at rate * factor and resampled back to `rate`, with the band-limited resampler.
 */
export function changeSpeed(x: Float32Array, rate: number, factor: number): Float32Array {
  if (factor === 1) return x
  // a rational approximation keeps the kernel small: factor ~ num / 100
  const from = Math.round(rate * factor)
  return resample(x, from, rate)
}

/** Mean power of a signal. */
function power(x: Float32Array): number {
  let s = 0
  for (let i = 0; i < x.length; i++) s += x[i]! * x[i]!
  return x.length ? s / x.length : 0
}

/**
 * Mono samples at `fromRate` to one clip of `policy.length` samples at `policy.sampleRate`; with a
 * key and an augmentation, the training version (speed, crop, shift, gain, noise in that order).
 */
export function transformClip(samples: Float32Array, fromRate: number, policy: ClipPolicy, augmentation?: AudioAugmentation | null, key?: AudioAugmentKey): Float32Array {
  let x = resample(samples, fromRate, policy.sampleRate)
  if (!augmentation || !key) return fitLength(x, policy.length, policy.pad, policy.crop)
  const rng = clipRng(key)
  const a = augmentation
  // every draw happens whether or not its part applies, so parts do not shift each other's randomness
  const speedOn = rng.next() < (a.speed?.p ?? 0)
  const speedPick = rng.int(a.speed?.factors.length ?? 1)
  const shiftOn = rng.next() < (a.shift?.p ?? 0)
  const shiftU = rng.next()
  const gainOn = rng.next() < (a.gain?.p ?? 0)
  const gainU = rng.next()
  const noiseOn = rng.next() < (a.noise?.p ?? 0)
  const noiseU = rng.next()
  if (a.speed && speedOn) x = changeSpeed(x, policy.sampleRate, a.speed.factors[speedPick]!)
  x = fitLength(x, policy.length, policy.pad, policy.trainCrop, rng)
  if (a.shift && shiftOn) {
    const max = Math.round(a.shift.maxSeconds * policy.sampleRate)
    const by = Math.round((2 * shiftU - 1) * max)
    if (by !== 0) {
      const out = new Float32Array(x.length)
      if (by > 0) out.set(x.subarray(0, x.length - by), by)
      else out.set(x.subarray(-by))
      x = out
    }
  }
  if (a.gain && gainOn) {
    const g = 10 ** ((a.gain.minDb + (a.gain.maxDb - a.gain.minDb) * gainU) / 20)
    x = x === samples ? x.slice() : x
    for (let i = 0; i < x.length; i++) x[i]! *= g
  }
  if (a.noise && noiseOn) {
    const p = power(x)
    if (p > 0) {
      const snr = a.noise.minDb + (a.noise.maxDb - a.noise.minDb) * noiseU
      const sd = Math.sqrt(p / 10 ** (snr / 10))
      x = x === samples ? x.slice() : x
      for (let i = 0; i < x.length; i++) x[i]! += sd * rng.normal()
    }
  }
  return x
}

/** SpecAugment masking (Park et al. 2019) on features laid out frames x bins, row after row. */
export interface SpecAugment {
  /** Time masks: `count` masks of up to `maxWidth` frames each. */
  time?: { count: number; maxWidth: number }
  /** Frequency masks: `count` masks of up to `maxWidth` bins each. */
  freq?: { count: number; maxWidth: number }
  /** What masked cells become (default 0; the features' mean is the other common choice). */
  value?: number | 'mean'
}

/** Masks `features` (frames x bins) in place, as torchaudio's TimeMasking/FrequencyMasking with iid masks; returns it. */
export function specAugment(features: Float32Array, frames: number, bins: number, opts: SpecAugment, rng: Rng): Float32Array {
  if (features.length !== frames * bins) throw new RangeError(`features hold ${features.length} values, not frames x bins = ${frames} x ${bins}`)
  let value = 0
  if (opts.value === 'mean') value = features.reduce((s, v) => s + v, 0) / features.length
  else if (opts.value !== undefined) value = opts.value
  // torchaudio: width ~ U[0, maxWidth), start ~ U[0, size - width)
  const span = (size: number, maxWidth: number): [number, number] => {
    const w = Math.floor(rng.next() * Math.min(maxWidth, size))
    const s = Math.floor(rng.next() * (size - w))
    return [s, s + w]
  }
  for (let k = 0; k < (opts.time?.count ?? 0); k++) {
    const [a, b] = span(frames, opts.time!.maxWidth)
    features.fill(value, a * bins, b * bins)
  }
  for (let k = 0; k < (opts.freq?.count ?? 0); k++) {
    const [a, b] = span(bins, opts.freq!.maxWidth)
    for (let t = 0; t < frames; t++) features.fill(value, t * bins + a, t * bins + b)
  }
  return features
}
