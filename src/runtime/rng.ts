/**
 * Seeded, counter-addressable random numbers. `fillBytes(seed, stream, counter, out)` is a pure
 * function of its arguments, so a resumed run regenerates exactly the dropout masks it would have had.
 */

/** SplitMix32-style mixing of a 32-bit value. */
export function mix32(x: number): number {
  x = (x + 0x9e3779b9) | 0
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b)
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35)
  return (x ^ (x >>> 16)) >>> 0
}

/** xoshiro128** state seeded from three integers. */
export class Rng {
  #a: number
  #b: number
  #c: number
  #d: number
  constructor(seed: number, stream = 0, counter = 0) {
    // every state word depends on all three inputs; a few warm-up draws decorrelate nearby addresses
    const k = mix32(mix32(mix32(seed ^ 0x5bd1e995) ^ stream) ^ counter ^ Math.imul(Math.floor(counter / 4294967296), 0x27d4eb2d))
    this.#a = mix32(k ^ 0x243f6a88)
    this.#b = mix32(k ^ 0x85a308d3)
    this.#c = mix32(k ^ 0x13198a2e)
    this.#d = mix32(k ^ 0x03707344)
    if ((this.#a | this.#b | this.#c | this.#d) === 0) this.#d = 1
    for (let i = 0; i < 4; i++) this.nextU32()
  }
  /** Next uniform 32-bit unsigned integer. */
  nextU32(): number {
    const r = Math.imul(rotl(Math.imul(this.#b, 5), 7), 9) >>> 0
    const t = this.#b << 9
    this.#c ^= this.#a
    this.#d ^= this.#b
    this.#b ^= this.#c
    this.#a ^= this.#d
    this.#c ^= t
    this.#d = rotl(this.#d, 11)
    return r
  }
  /** Uniform in [0, 1). */
  next(): number {
    return this.nextU32() / 4294967296
  }
  /** Standard normal (Box-Muller). */
  normal(): number {
    const u = 1 - this.next()
    const v = this.next()
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v)
  }
  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n)
  }
  /** Fills bytes four at a time. */
  fillBytes(out: Uint8Array): void {
    const n4 = out.length >>> 2
    const view = new Uint32Array(out.buffer, out.byteOffset, (out.byteOffset & 3) === 0 ? n4 : 0)
    if (view.length === n4) for (let i = 0; i < n4; i++) view[i] = this.nextU32()
    else for (let i = 0; i < n4; i++) {
      const r = this.nextU32()
      out[4 * i] = r & 255
      out[4 * i + 1] = (r >>> 8) & 255
      out[4 * i + 2] = (r >>> 16) & 255
      out[4 * i + 3] = r >>> 24
    }
    for (let i = n4 * 4; i < out.length; i++) out[i] = this.nextU32() & 255
  }
  /** In-place Fisher-Yates shuffle. */
  shuffle<T>(a: T[]): T[] {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1)
      ;[a[i], a[j]] = [a[j]!, a[i]!]
    }
    return a
  }
}

const rotl = (x: number, k: number): number => ((x << k) | (x >>> (32 - k))) >>> 0
