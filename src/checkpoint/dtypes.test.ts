import { describe, expect, it } from 'vitest'
import {
  bf16ToF32, f16ToF32, f32ToBf16, f32ToF16, fromBfloat16Bits, fromFloat16Bits, toBfloat16Bits, toFloat16Bits,
} from './dtypes.js'

const allPatterns = (): Uint16Array => Uint16Array.from({ length: 65536 }, (_, i) => i)
const isNaN16 = (h: number): boolean => (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0
const isNaNBf16 = (b: number): boolean => (b & 0x7f80) === 0x7f80 && (b & 0x7f) !== 0

/** Independent oracle: the nearest float16 to x by search over all finite halves, ties to even. */
function nearestHalf(x: number, finite: { value: number; bits: number }[]): number {
  if (Number.isNaN(x)) return 0x7e00
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0
  const a = Math.abs(x)
  // beyond the largest half plus half an ulp (65520) everything is infinity
  if (a >= 65520) return sign | 0x7c00
  let lo = 0
  let hi = finite.length - 1
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1
    if (finite[mid]!.value <= a) lo = mid
    else hi = mid
  }
  const [l, h] = [finite[lo]!, finite[hi]!]
  const dl = a - l.value
  const dh = h.value - a
  const pick = dl < dh ? l : dh < dl ? h : (l.bits & 1) === 0 ? l : h
  return sign | pick.bits
}

describe('float16', () => {
  it('widening then narrowing returns every non-NaN float16 pattern unchanged', () => {
    const h = allPatterns()
    const back = f32ToF16(f16ToF32(h))
    const wrong = [...back].flatMap((b, i) => (isNaN16(i) ? isNaN16(b) : b === i) ? [] : [[i, b]])
    expect(wrong).toEqual([])
  })

  it('widens subnormals, zeros, infinities and NaN exactly', () => {
    expect(fromFloat16Bits(0x0001)).toBe(2 ** -24)
    expect(fromFloat16Bits(0x03ff)).toBe(1023 * 2 ** -24)
    expect(fromFloat16Bits(0x0400)).toBe(2 ** -14)
    expect(fromFloat16Bits(0x7bff)).toBe(65504)
    expect(Object.is(fromFloat16Bits(0x8000), -0)).toBe(true)
    expect(fromFloat16Bits(0x7c00)).toBe(Infinity)
    expect(fromFloat16Bits(0xfc00)).toBe(-Infinity)
    expect(fromFloat16Bits(0x7e00)).toBeNaN()
    expect(fromFloat16Bits(0x3c00)).toBe(1)
    expect(fromFloat16Bits(0xc000)).toBe(-2)
  })

  it('narrows with round-to-nearest-even at ties, overflow and underflow', () => {
    expect(toFloat16Bits(1 + 2 ** -11)).toBe(0x3c00) // tie, even stays
    expect(toFloat16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02) // tie, odd rounds up
    expect(toFloat16Bits(1 + 2 ** -11 + 2 ** -20)).toBe(0x3c01) // just above the tie
    expect(toFloat16Bits(65504)).toBe(0x7bff)
    expect(toFloat16Bits(65519)).toBe(0x7bff)
    expect(toFloat16Bits(65520)).toBe(0x7c00) // tie with an odd mantissa: up to infinity
    expect(toFloat16Bits(-1e6)).toBe(0xfc00)
    expect(toFloat16Bits(2 ** -24)).toBe(0x0001)
    expect(toFloat16Bits(2 ** -25)).toBe(0x0000) // tie between 0 and the smallest subnormal
    expect(toFloat16Bits(2 ** -25 * 1.5)).toBe(0x0001)
    expect(toFloat16Bits(-(2 ** -26))).toBe(0x8000)
    expect(toFloat16Bits(2 ** -14 - 2 ** -25)).toBe(0x0400) // largest subnormal rounds into the normals
    expect(toFloat16Bits(-0)).toBe(0x8000)
    expect(toFloat16Bits(Infinity)).toBe(0x7c00)
    expect(isNaN16(toFloat16Bits(NaN))).toBe(true)
    expect(toFloat16Bits(1e-45)).toBe(0) // a float32 subnormal
  })

  it('keeps NaN a NaN even when its payload sits only in low bits', () => {
    const bits = new Uint32Array([0x7f800001, 0xff800001, 0x7fc00000])
    for (const h of f32ToF16(new Float32Array(bits.buffer))) expect(isNaN16(h)).toBe(true)
  })

  it('narrows 20000 random float32 values to the same half as an exhaustive nearest search', () => {
    const finite = [...allPatterns()].filter((h) => h < 0x7c00).map((bits) => ({ value: fromFloat16Bits(bits), bits }))
    const words = new Uint32Array(20000)
    let s = 12345
    for (let i = 0; i < words.length; i++) {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0
      // bias the exponent into and around the half range so subnormals and overflow are hit
      const exp = 96 + ((s >>> 8) % 48)
      words[i] = ((s & 1) << 31) | (exp << 23) | ((Math.imul(s, 2654435761) >>> 9) & 0x7fffff)
    }
    const values = new Float32Array(words.buffer)
    const got = f32ToF16(values)
    const wrong = [...values].flatMap((v, i) => (got[i] === nearestHalf(v, finite) ? [] : [[v, got[i]]]))
    expect(wrong).toEqual([])
  })

  it('reads from a Float32Array that is a view into a larger buffer', () => {
    const big = new Float32Array([9, 1.5, -2, 9])
    expect([...f32ToF16(big.subarray(1, 3))]).toEqual([0x3e00, 0xc000])
  })
})

describe('bfloat16', () => {
  it('widening then narrowing returns every non-NaN bfloat16 pattern unchanged', () => {
    const b = allPatterns()
    const back = f32ToBf16(bf16ToF32(b))
    const wrong = [...back].flatMap((x, i) => (isNaNBf16(i) ? isNaNBf16(x) : x === i) ? [] : [[i, x]])
    expect(wrong).toEqual([])
  })

  it('widens exactly, including subnormals and signed zero', () => {
    expect(fromBfloat16Bits(0x3f80)).toBe(1)
    expect(fromBfloat16Bits(0x0001)).toBe(2 ** -133)
    expect(Object.is(fromBfloat16Bits(0x8000), -0)).toBe(true)
    expect(fromBfloat16Bits(0xff80)).toBe(-Infinity)
    expect(fromBfloat16Bits(0x7fc0)).toBeNaN()
  })

  it('narrows with round-to-nearest-even at ties and overflow', () => {
    expect(toBfloat16Bits(1 + 2 ** -8)).toBe(0x3f80) // tie, even stays
    expect(toBfloat16Bits(1 + 3 * 2 ** -8)).toBe(0x3f82) // tie, odd rounds up
    expect(toBfloat16Bits(1 + 2 ** -8 + 2 ** -20)).toBe(0x3f81)
    expect(toBfloat16Bits(3.4028234663852886e38)).toBe(0x7f80) // float32 max rounds to infinity
    expect(toBfloat16Bits(-0)).toBe(0x8000)
    expect(toBfloat16Bits(1e-40)).toBe(0x0001) // a float32 subnormal keeps its top bits
    const nan = new Float32Array(new Uint32Array([0x7f800001]).buffer)
    expect(isNaNBf16(f32ToBf16(nan)[0]!)).toBe(true)
  })
})
