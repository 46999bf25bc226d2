/**
 * Band-limited resampling by windowed sinc interpolation, computed as torchaudio.functional.resample
 * (0.13) computes it: both rates are divided by their gcd (orig -> new), and each of the `new`
 * output phases has its own FIR kernel of 2*width + orig taps, a sinc low-passed at
 * rolloff * min(orig, new) / 2 times a Hann window (`sinc_interp_hann`, default) or a Kaiser window
 * (`sinc_interp_kaiser`), `lowpassFilterWidth` zero crossings on each side. The input is zero-padded
 * by width on the left and width + orig on the right and the result cut to ceil(new * n / orig)
 * samples, so lengths and edges agree with torchaudio sample for sample.
 *
 * Kernels are computed in float64 (torchaudio computes them in the waveform's dtype) and cached per
 * rate pair; the convolution accumulates in float64.
 */

export interface ResampleOptions {
  /** Zero crossings of the sinc on each side (torchaudio default 6). */
  lowpassFilterWidth?: number
  /** Cut-off as a fraction of the lower Nyquist frequency (default 0.99). */
  rolloff?: number
  /** Window of the sinc (default 'sinc_interp_hann'). */
  method?: 'sinc_interp_hann' | 'sinc_interp_kaiser'
  /** Kaiser beta (default 14.769656459379492, torchaudio's). */
  beta?: number
}

interface Kernel {
  orig: number
  next: number
  width: number
  taps: number
  /** next x taps, phase after phase. */
  weights: Float64Array
}

const cache = new Map<string, Kernel>()

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b))

/** Modified Bessel function of the first kind, order 0 (power series; converges for the betas used here). */
function i0(x: number): number {
  let sum = 1
  let term = 1
  const q = (x * x) / 4
  for (let k = 1; k < 200; k++) {
    term *= q / (k * k)
    sum += term
    if (term < sum * 1e-17) break
  }
  return sum
}

function kernel(origRate: number, newRate: number, o: ResampleOptions): Kernel {
  const zc = o.lowpassFilterWidth ?? 6
  const rolloff = o.rolloff ?? 0.99
  const method = o.method ?? 'sinc_interp_hann'
  const beta = o.beta ?? 14.769656459379492
  const key = `${origRate}:${newRate}:${zc}:${rolloff}:${method}:${beta}`
  const hit = cache.get(key)
  if (hit) return hit
  const g = gcd(origRate, newRate)
  const orig = origRate / g
  const next = newRate / g
  const base = Math.min(orig, next) * rolloff
  const width = Math.ceil((zc * orig) / base)
  const taps = 2 * width + orig
  const weights = new Float64Array(next * taps)
  const scale = base / orig
  for (let p = 0; p < next; p++) {
    for (let j = 0; j < taps; j++) {
      // time of tap j relative to output phase p, in units of the low-pass period
      let t = (-p / next + (j - width) / orig) * base
      t = Math.max(-zc, Math.min(zc, t))
      const window = method === 'sinc_interp_hann' ? Math.cos((t * Math.PI) / zc / 2) ** 2 : i0(beta * Math.sqrt(1 - (t / zc) ** 2)) / i0(beta)
      const tp = t * Math.PI
      weights[p * taps + j] = (tp === 0 ? 1 : Math.sin(tp) / tp) * window * scale
    }
  }
  const k = { orig, next, width, taps, weights }
  if (cache.size > 32) cache.clear()
  cache.set(key, k)
  return k
}

/** Output length torchaudio gives for `n` samples: ceil(new * n / orig) with reduced rates. */
export function resampledLength(n: number, origRate: number, newRate: number): number {
  const g = gcd(origRate, newRate)
  return Math.ceil(((newRate / g) * n) / (origRate / g))
}

/** Resamples one channel from `origRate` to `newRate` (positive integers, Hz). Same rates: a copy. */
export function resample(x: Float32Array, origRate: number, newRate: number, opts: ResampleOptions = {}): Float32Array {
  if (!(Number.isInteger(origRate) && origRate > 0 && Number.isInteger(newRate) && newRate > 0)) {
    throw new RangeError(`sample rates must be positive whole numbers of Hz, got ${origRate} -> ${newRate}`)
  }
  if (origRate === newRate) return x.slice()
  const { orig, next, width, taps, weights } = kernel(origRate, newRate, opts)
  const n = x.length
  const outLen = resampledLength(n, origRate, newRate)
  const out = new Float32Array(outLen)
  // output sample b*next + p reads padded input [b*orig, b*orig + taps), i.e. x[b*orig - width + j]
  for (let b = 0, o = 0; o < outLen; b++) {
    const start = b * orig - width
    const j0 = Math.max(0, -start)
    const j1 = Math.min(taps, n - start)
    for (let p = 0; p < next && o < outLen; p++, o++) {
      const w = p * taps
      let acc = 0
      for (let j = j0; j < j1; j++) acc += x[start + j]! * weights[w + j]!
      out[o] = acc
    }
  }
  return out
}
