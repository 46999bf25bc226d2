import { describe, expect, it } from 'vitest'
import { tones } from '../../test/audio-fixtures.js'
import { Rng } from '../runtime/rng.js'
import { changeSpeed, fitLength, specAugment, transformClip, type ClipPolicy } from './audio-transforms.js'

const policy: ClipPolicy = { sampleRate: 16000, length: 8, pad: 'end', crop: 'center', trainCrop: 'random' }
const ramp = (n: number): Float32Array => Float32Array.from({ length: n }, (_, i) => i + 1)

describe('clip policy', () => {
  it('pads at the end or in the centre, crops at the start, centre or a seeded random offset', () => {
    expect(Array.from(fitLength(ramp(3), 6, 'end', 'start'))).toEqual([1, 2, 3, 0, 0, 0])
    expect(Array.from(fitLength(ramp(3), 6, 'center', 'start'))).toEqual([0, 1, 2, 3, 0, 0])
    expect(Array.from(fitLength(ramp(6), 3, 'end', 'start'))).toEqual([1, 2, 3])
    expect(Array.from(fitLength(ramp(6), 3, 'end', 'center'))).toEqual([2, 3, 4])
    const starts = new Set(Array.from({ length: 50 }, (_, s) => fitLength(ramp(6), 3, 'end', 'random', new Rng(s))[0]))
    expect([...starts].sort()).toEqual([1, 2, 3, 4])
  })

  it('evaluation clips carry no augmentation; training clips are a function of (seed, epoch, id)', () => {
    const x = tones([440, 1000], 16000, 16000, 0.3)
    const p = { ...policy, length: 12000 }
    const aug = { gain: { minDb: -6, maxDb: 6, p: 1 }, shift: { maxSeconds: 0.1, p: 1 }, noise: { minDb: 20, maxDb: 20, p: 1 }, speed: { factors: [0.9, 1.1], p: 1 } }
    expect(transformClip(x, 16000, p)).toEqual(x.slice(2000, 14000))
    const a = transformClip(x, 16000, p, aug, { seed: 1, epoch: 0, id: 7 })
    expect(transformClip(x, 16000, p, aug, { seed: 1, epoch: 0, id: 7 })).toEqual(a)
    expect(transformClip(x, 16000, p, aug, { seed: 1, epoch: 1, id: 7 })).not.toEqual(a)
    expect(a.length).toBe(12000)
  })

  it('adds noise at the chosen SNR (within 0.3 dB on 1 s)', () => {
    const x = tones([440], 16000, 16000, 0.5)
    const y = transformClip(x, 16000, { ...policy, length: 16000 }, { noise: { minDb: 10, maxDb: 10, p: 1 } }, { seed: 0, epoch: 0, id: 0 })
    let ps = 0, pn = 0
    for (let i = 0; i < x.length; i++) {
      ps += x[i]! ** 2
      pn += (y[i]! - x[i]!) ** 2
    }
    expect(Math.abs(10 * Math.log10(ps / pn) - 10)).toBeLessThan(0.3)
  })

  it('speed perturbation 1.1 makes a clip 1/1.1 as long and its pitch 1.1 times as high', () => {
    const x = tones([1000], 16000, 16000, 0.5)
    const y = changeSpeed(x, 16000, 1.1)
    expect(y.length).toBe(Math.ceil(16000 / 1.1))
    // zero crossings per second scale with the frequency
    const crossings = (s: Float32Array): number => s.reduce((c, v, i) => c + (i > 0 && Math.sign(v) !== Math.sign(s[i - 1]!) ? 1 : 0), 0) / (s.length / 16000)
    expect(crossings(y) / crossings(x)).toBeCloseTo(1.1, 2)
  })

  it('SpecAugment masks whole frames and whole bins, seeded', () => {
    const f = new Float32Array(20 * 8).fill(1)
    specAugment(f, 20, 8, { time: { count: 2, maxWidth: 5 }, freq: { count: 1, maxWidth: 4 } }, new Rng(3))
    const rowsMasked = Array.from({ length: 20 }, (_, t) => f.subarray(t * 8, t * 8 + 8).every((v) => v === 0)).filter(Boolean).length
    const colsMasked = Array.from({ length: 8 }, (_, b) => Array.from({ length: 20 }, (_, t) => f[t * 8 + b]).every((v) => v === 0)).filter(Boolean).length
    expect(rowsMasked).toBeLessThanOrEqual(8)
    expect(colsMasked).toBeLessThanOrEqual(3)
    expect(rowsMasked + colsMasked).toBeGreaterThan(0)
    const g = new Float32Array(20 * 8).fill(1)
    specAugment(g, 20, 8, { time: { count: 2, maxWidth: 5 }, freq: { count: 1, maxWidth: 4 } }, new Rng(3))
    expect(g).toEqual(f)
  })
})
