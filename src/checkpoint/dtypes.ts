/**
 * float16 and bfloat16 <-> float32 conversion. Narrowing rounds to nearest, ties to even (what
 * PyTorch's `.half()` and `.bfloat16()` do); widening is exact. NaN stays NaN, overflow goes to
 * infinity, and values below the half-precision normal range become subnormals or signed zero.
 */

// One scratch word shared by the scalar helpers: writing a float32 and reading its bits.
const scratchF32 = new Float32Array(1)
const scratchU32 = new Uint32Array(scratchF32.buffer)

/** float32 bit pattern -> float16 bit pattern, rounding to nearest even. */
function f32BitsToF16Bits(x: number): number {
  const sign = (x >>> 16) & 0x8000
  const exp = (x >>> 23) & 0xff
  const mant = x & 0x7fffff
  if (exp === 0xff) {
    // Inf stays Inf; a NaN keeps the top of its payload and is forced quiet so it cannot become Inf.
    return mant === 0 ? sign | 0x7c00 : sign | 0x7e00 | (mant >>> 13)
  }
  const e = exp - 127 + 15 // rebiased exponent
  if (e >= 0x1f) return sign | 0x7c00 // too large: infinity
  if (e <= 0) {
    // Subnormal half (value = m * 2^-24) or zero. Below 2^-25 everything rounds to zero; the
    // float32 subnormals land here too.
    if (e < -10) return sign
    const m = mant | 0x800000 // restore the implicit leading bit
    const shift = 14 - e
    const kept = m >>> shift
    const rest = m & ((1 << shift) - 1)
    const halfway = 1 << (shift - 1)
    // A carry out of the mantissa turns the largest subnormal into the smallest normal, as it should.
    return sign | (rest > halfway || (rest === halfway && kept & 1) ? kept + 1 : kept)
  }
  const kept = (e << 10) | (mant >>> 13)
  const rest = mant & 0x1fff
  // A carry may run into the exponent: the largest finite values round up to infinity.
  return sign | (rest > 0x1000 || (rest === 0x1000 && kept & 1) ? kept + 1 : kept)
}

/** float32 bit pattern -> bfloat16 bit pattern, rounding to nearest even. */
function f32BitsToBf16Bits(x: number): number {
  if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff) !== 0) return ((x >>> 16) | 0x40) & 0xffff // quiet NaN
  // x < 2^32 - 2^23 here, so the sum stays below 2^32 and >>> is exact.
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff
}

let f16Table: Float32Array | undefined
/** All 65536 float16 values widened to float32; 256 KiB, built on first use. */
function halfTable(): Float32Array {
  if (f16Table) return f16Table
  const bits = new Uint32Array(65536)
  const table = new Float32Array(bits.buffer)
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16
    const exp = (h >>> 10) & 0x1f
    const mant = h & 0x3ff
    if (exp === 0x1f) bits[h] = (sign | 0x7f800000 | (mant << 13)) >>> 0
    else if (exp !== 0) bits[h] = (sign | ((exp - 15 + 127) << 23) | (mant << 13)) >>> 0
    else table[h] = (sign ? -1 : 1) * mant * 2 ** -24 // zero or subnormal: exact in float32
  }
  f16Table = table
  return table
}

/** Rounds a number to float32 and then to float16; returns the 16 bits. */
export function toFloat16Bits(x: number): number {
  scratchF32[0] = x
  return f32BitsToF16Bits(scratchU32[0]!)
}

/** The float16 with these 16 bits, as a number (exact). */
export function fromFloat16Bits(h: number): number {
  return halfTable()[h & 0xffff]!
}

/** Rounds a number to float32 and then to bfloat16; returns the 16 bits. */
export function toBfloat16Bits(x: number): number {
  scratchF32[0] = x
  return f32BitsToBf16Bits(scratchU32[0]!)
}

/** The bfloat16 with these 16 bits, as a number (exact). */
export function fromBfloat16Bits(b: number): number {
  scratchU32[0] = (b & 0xffff) << 16
  return scratchF32[0]!
}

/** float32 values -> float16 bit patterns, round to nearest even. */
export function f32ToF16(src: Float32Array): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length)
  const out = new Uint16Array(src.length)
  for (let i = 0; i < out.length; i++) out[i] = f32BitsToF16Bits(bits[i]!)
  return out
}

/** float16 bit patterns -> float32 values, exact. */
export function f16ToF32(src: Uint16Array): Float32Array {
  const table = halfTable()
  const out = new Float32Array(src.length)
  for (let i = 0; i < out.length; i++) out[i] = table[src[i]!]!
  return out
}

/** float32 values -> bfloat16 bit patterns, round to nearest even. */
export function f32ToBf16(src: Float32Array): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length)
  const out = new Uint16Array(src.length)
  for (let i = 0; i < out.length; i++) out[i] = f32BitsToBf16Bits(bits[i]!)
  return out
}

/** bfloat16 bit patterns -> float32 values, exact. */
export function bf16ToF32(src: Uint16Array): Float32Array {
  const bits = new Uint32Array(src.length)
  for (let i = 0; i < bits.length; i++) bits[i] = src[i]! << 16
  return new Float32Array(bits.buffer)
}
