/**
 * Instance masks as pycocotools keeps them: run-length encoded in column-major order (down each
 * column, columns left to right), counts alternating 0-runs and 1-runs, starting with 0s. The
 * functions reproduce pycocotools' maskApi.c, so areas and mask IoUs match COCOeval's:
 * - polygons are rasterised by `rleFromPolygon` (rleFrPoly): the outline is traced on a 5x
 *   upsampled grid and a pixel is inside when its centre is inside under the even-odd rule, with
 *   pycocotools' rounding at the boundary (points are snapped to 1/5 pixel first). The polygons of
 *   one object are merged by union (annToRLE);
 * - compressed RLE strings ("counts" as a string in COCO JSON) are read and written by
 *   `rleFromString` / `rleToString` (rleFrString / rleToString: 5 bits a character, offset 48,
 *   counts after the second stored as the difference to the count two before).
 */

/** A binary mask of height x width, run-length encoded as pycocotools does (see the module comment). */
export interface Rle {
  height: number
  width: number
  counts: Uint32Array
}

/** Encodes a row-major binary mask (any non-zero byte is inside). */
export function rleEncode(mask: ArrayLike<number>, height: number, width: number): Rle {
  if (mask.length !== height * width) throw new RangeError(`mask of ${mask.length} values is not ${height}x${width}`)
  const counts: number[] = []
  let prev = 0
  let run = 0
  for (let x = 0; x < width; x++) {
    for (let y = 0; y < height; y++) {
      const v = mask[y * width + x] ? 1 : 0
      if (v !== prev) {
        counts.push(run)
        run = 0
        prev = v
      }
      run++
    }
  }
  counts.push(run)
  return { height, width, counts: Uint32Array.from(counts) }
}

/** The row-major 0/1 mask of an RLE. */
export function rleDecode(r: Rle): Uint8Array {
  const { height, width } = r
  const out = new Uint8Array(height * width)
  let p = 0
  let v = 0
  for (const c of r.counts) {
    if (v) {
      for (let k = 0; k < c; k++, p++) {
        const x = Math.floor(p / height)
        out[(p - x * height) * width + x] = 1
      }
    } else p += c
    v ^= 1
  }
  return out
}

/** Pixels inside the mask (rleArea). */
export function rleArea(r: Rle): number {
  let a = 0
  for (let j = 1; j < r.counts.length; j += 2) a += r.counts[j]!
  return a
}

/** Union (or intersection) of masks of the same size (rleMerge). */
export function rleMerge(rles: readonly Rle[], intersect = false): Rle {
  if (rles.length === 0) return { height: 0, width: 0, counts: new Uint32Array(0) }
  const { height, width } = rles[0]!
  let cur = rles[0]!.counts
  for (let i = 1; i < rles.length; i++) {
    const B = rles[i]!
    if (B.height !== height || B.width !== width) throw new RangeError(`cannot merge a ${B.height}x${B.width} mask into ${height}x${width}`)
    const A = cur
    const out: number[] = []
    let ca = A[0] ?? 0
    let cb = B.counts[0] ?? 0
    let v = 0
    let va = 0
    let vb = 0
    let a = 1
    let b = 1
    let cc = 0
    let ct = 1
    while (ct > 0) {
      const c = Math.min(ca, cb)
      cc += c
      ct = 0
      ca -= c
      if (!ca && a < A.length) {
        ca = A[a++]!
        va ^= 1
      }
      ct += ca
      cb -= c
      if (!cb && b < B.counts.length) {
        cb = B.counts[b++]!
        vb ^= 1
      }
      ct += cb
      const vp = v
      v = intersect ? va & vb : va | vb
      if (v !== vp || ct === 0) {
        out.push(cc)
        cc = 0
      }
    }
    cur = Uint32Array.from(out)
  }
  return { height, width, counts: cur }
}

/** IoU of two masks of the same size; with `crowd`, intersection over the area of `dt` alone (COCOeval's rule for crowd ground truth). */
export function rleIou(dt: Rle, gt: Rle, crowd = false): number {
  if (dt.height !== gt.height || dt.width !== gt.width) throw new RangeError(`mask IoU of ${dt.height}x${dt.width} and ${gt.height}x${gt.width} masks`)
  const A = dt.counts
  const B = gt.counts
  let ca = A[0] ?? 0
  let cb = B[0] ?? 0
  let va = 0
  let vb = 0
  let a = 1
  let b = 1
  let inter = 0
  let union = 0
  let ct = 1
  while (ct > 0) {
    const c = Math.min(ca, cb)
    if (va || vb) {
      union += c
      if (va && vb) inter += c
    }
    ct = 0
    ca -= c
    if (!ca && a < A.length) {
      ca = A[a++]!
      va ^= 1
    }
    ct += ca
    cb -= c
    if (!cb && b < B.length) {
      cb = B[b++]!
      vb ^= 1
    }
    ct += cb
  }
  if (inter === 0) return 0
  return inter / (crowd ? rleArea(dt) : union)
}

/** The tight box of a mask as [x, y, w, h] (rleToBbox); zeros for an empty mask. */
export function rleToBbox(r: Rle): [number, number, number, number] {
  const h = r.height
  const m = r.counts.length - (r.counts.length % 2)
  if (m === 0) return [0, 0, 0, 0]
  let xs = r.width
  let ys = h
  let xe = 0
  let ye = 0
  let cc = 0
  let xp = 0
  for (let j = 0; j < m; j++) {
    cc += r.counts[j]!
    const t = cc - (j % 2)
    const y = t % h
    const x = (t - y) / h
    if (j % 2 === 0) xp = x
    else if (xp < x) {
      ys = 0
      ye = h - 1
    }
    xs = Math.min(xs, x)
    xe = Math.max(xe, x)
    ys = Math.min(ys, y)
    ye = Math.max(ye, y)
  }
  return [xs, ys, xe - xs + 1, ye - ys + 1]
}

const SCALE = 5

/** One polygon [x0, y0, x1, y1, ...] (pixel coordinates, at least 3 points) rasterised as pycocotools' rleFrPoly does. */
export function rleFromPolygon(xy: ArrayLike<number>, height: number, width: number): Rle {
  const k = xy.length >> 1
  const x = new Int32Array(k + 1)
  const y = new Int32Array(k + 1)
  // C's (int) cast truncates toward zero
  for (let j = 0; j < k; j++) x[j] = Math.trunc(SCALE * xy[2 * j]! + 0.5)
  for (let j = 0; j < k; j++) y[j] = Math.trunc(SCALE * xy[2 * j + 1]! + 0.5)
  x[k] = x[0]!
  y[k] = y[0]!
  const u: number[] = []
  const v: number[] = []
  for (let j = 0; j < k; j++) {
    let xs = x[j]!
    let xe = x[j + 1]!
    let ys = y[j]!
    let ye = y[j + 1]!
    const dx = Math.abs(xe - xs)
    const dy = Math.abs(ys - ye)
    const flip = (dx >= dy && xs > xe) || (dx < dy && ys > ye)
    if (flip) {
      ;[xs, xe] = [xe, xs]
      ;[ys, ye] = [ye, ys]
    }
    const s = dx >= dy ? (ye - ys) / dx : (xe - xs) / dy
    if (dx >= dy) {
      for (let d = 0; d <= dx; d++) {
        const t = flip ? dx - d : d
        u.push(t + xs)
        v.push(Math.trunc(ys + s * t + 0.5))
      }
    } else {
      for (let d = 0; d <= dy; d++) {
        const t = flip ? dy - d : d
        v.push(t + ys)
        u.push(Math.trunc(xs + s * t + 0.5))
      }
    }
  }
  // points where the traced outline crosses a pixel-centre column, downsampled to pixels
  const a: number[] = []
  for (let j = 1; j < u.length; j++) {
    if (u[j] === u[j - 1]) continue
    let xd = u[j]! < u[j - 1]! ? u[j]! : u[j]! - 1
    xd = (xd + 0.5) / SCALE - 0.5
    if (Math.floor(xd) !== xd || xd < 0 || xd > width - 1) continue
    let yd = v[j]! < v[j - 1]! ? v[j]! : v[j - 1]!
    yd = (yd + 0.5) / SCALE - 0.5
    if (yd < 0) yd = 0
    else if (yd > height) yd = height
    yd = Math.ceil(yd)
    a.push(xd * height + yd)
  }
  a.push(height * width)
  a.sort((p, q) => p - q)
  let prev = 0
  for (let j = 0; j < a.length; j++) {
    const t = a[j]!
    a[j] = t - prev
    prev = t
  }
  const b: number[] = [a[0]!]
  for (let j = 1; j < a.length; ) {
    if (a[j]! > 0) b.push(a[j++]!)
    else {
      j++
      if (j < a.length) b[b.length - 1]! += a[j++]!
    }
  }
  return { height, width, counts: Uint32Array.from(b) }
}

/** The polygons of one object (COCO's `segmentation: [[x, y, ...], ...]`) as one mask: their union, as pycocotools' annToRLE. */
export function rleFromPolygons(polygons: readonly ArrayLike<number>[], height: number, width: number): Rle {
  return rleMerge(polygons.map((p) => rleFromPolygon(p, height, width)))
}

/** Reads a compressed RLE string (COCO's `counts` as a string). Throws RangeError on a malformed string. */
export function rleFromString(s: string, height: number, width: number): Rle {
  const counts: number[] = []
  let p = 0
  while (p < s.length) {
    let x = 0
    let k = 0
    let more = true
    while (more) {
      if (p >= s.length) throw new RangeError('the string ends inside a count')
      const c = s.charCodeAt(p) - 48
      if (c < 0 || c > 63) throw new RangeError(`character ${JSON.stringify(s[p])} at ${p} is not an RLE digit`)
      x += (c & 0x1f) * 2 ** (5 * k)
      more = (c & 0x20) !== 0
      p++
      k++
      if (!more && c & 0x10) x -= 2 ** (5 * k) // sign-extend the last group
    }
    if (counts.length > 2) x += counts[counts.length - 2]!
    if (x < 0) throw new RangeError(`count ${counts.length} is negative`)
    counts.push(x)
  }
  return { height, width, counts: Uint32Array.from(counts) }
}

/** Writes the compressed RLE string of a mask (rleToString). */
export function rleToString(r: Rle): string {
  let s = ''
  for (let i = 0; i < r.counts.length; i++) {
    let x = r.counts[i]!
    if (i > 2) x -= r.counts[i - 2]!
    let more = true
    while (more) {
      let c = x & 0x1f
      x = Math.floor(x / 32) // arithmetic shift, also for negative x
      more = c & 0x10 ? x !== -1 : x !== 0
      if (more) c |= 0x20
      s += String.fromCharCode(c + 48)
    }
  }
  return s
}

/** Checks that an RLE's counts cover height*width pixels exactly; returns the problem or undefined. */
export function rleProblem(r: Rle): string | undefined {
  let total = 0
  for (const c of r.counts) total += c
  return total === r.height * r.width ? undefined : `its counts cover ${total} pixels, not ${r.height}x${r.width} = ${r.height * r.width}`
}
