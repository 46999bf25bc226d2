/**
 * Boxes as the detection code passes them around: a Float32Array of N rows (x1, y1, x2, y2) in
 * absolute pixels, corners as continuous coordinates (a box over pixels 0..9 is [0, 10]). IoU and
 * non-maximum suppression follow torchvision.ops (`box_iou`, `nms`, `batched_nms`); they run on
 * the host, in float64.
 */

/** Area of each box, (x2 - x1) * (y2 - y1), as torchvision's `box_area` (not clamped: an inverted box has a negative area). */
export function boxAreas(boxes: ArrayLike<number>): Float64Array {
  const n = boxes.length >> 2
  const out = new Float64Array(n)
  for (let i = 0; i < n; i++) out[i] = (boxes[4 * i + 2]! - boxes[4 * i]!) * (boxes[4 * i + 3]! - boxes[4 * i + 1]!)
  return out
}

/** IoU of two xyxy boxes given as offsets into their arrays; 0 where the union is empty. */
function iouAt(a: ArrayLike<number>, i: number, areaA: number, b: ArrayLike<number>, j: number, areaB: number): number {
  const w = Math.min(a[i + 2]!, b[j + 2]!) - Math.max(a[i]!, b[j]!)
  const h = Math.min(a[i + 3]!, b[j + 3]!) - Math.max(a[i + 1]!, b[j + 1]!)
  if (w <= 0 || h <= 0) return 0
  const inter = w * h
  const union = areaA + areaB - inter
  return union > 0 ? inter / union : 0
}

/**
 * Pairwise IoU of N boxes `a` and M boxes `b` (xyxy), row-major (N, M), as torchvision's `box_iou`
 * except that an empty union gives 0 instead of NaN.
 */
export function boxIou(a: ArrayLike<number>, b: ArrayLike<number>): Float64Array {
  const n = a.length >> 2
  const m = b.length >> 2
  const areaA = boxAreas(a)
  const areaB = boxAreas(b)
  const out = new Float64Array(n * m)
  for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) out[i * m + j] = iouAt(a, 4 * i, areaA[i]!, b, 4 * j, areaB[j]!)
  return out
}

/** Indices of `scores` from highest to lowest; equal scores keep their input order. */
export function argsortDescending(scores: ArrayLike<number>): Int32Array {
  const idx = Array.from({ length: scores.length }, (_, i) => i)
  idx.sort((p, q) => scores[q]! - scores[p]! || p - q)
  return Int32Array.from(idx)
}

/**
 * torchvision's `nms`: visits boxes from the highest score down, keeps a box unless an already
 * kept box overlaps it with IoU strictly above `iouThreshold`. Returns the kept indices, highest
 * score first. (torchvision's sort is not stable on ties; here equal scores keep input order.)
 */
export function nms(boxes: ArrayLike<number>, scores: ArrayLike<number>, iouThreshold: number): Int32Array {
  const n = scores.length
  if (boxes.length !== 4 * n) throw new RangeError(`nms: ${boxes.length / 4} boxes but ${n} scores`)
  const order = argsortDescending(scores)
  const areas = boxAreas(boxes)
  const suppressed = new Uint8Array(n)
  const keep: number[] = []
  for (let a = 0; a < n; a++) {
    const i = order[a]!
    if (suppressed[i]) continue
    keep.push(i)
    for (let b = a + 1; b < n; b++) {
      const j = order[b]!
      if (!suppressed[j] && iouAt(boxes, 4 * i, areas[i]!, boxes, 4 * j, areas[j]!) > iouThreshold) suppressed[j] = 1
    }
  }
  return Int32Array.from(keep)
}

/**
 * torchvision's `batched_nms`: NMS within each label separately (boxes of different labels never
 * suppress each other). Returns the kept indices over all labels, highest score first.
 */
export function batchedNms(boxes: ArrayLike<number>, scores: ArrayLike<number>, labels: ArrayLike<number>, iouThreshold: number): Int32Array {
  const n = scores.length
  if (labels.length !== n || boxes.length !== 4 * n) throw new RangeError(`batchedNms: ${boxes.length / 4} boxes, ${n} scores, ${labels.length} labels`)
  const byLabel = new Map<number, number[]>()
  for (let i = 0; i < n; i++) {
    const l = labels[i]!
    const list = byLabel.get(l)
    if (list) list.push(i)
    else byLabel.set(l, [i])
  }
  const kept: number[] = []
  for (const ids of byLabel.values()) {
    const b = new Float64Array(ids.length * 4)
    const s = new Float64Array(ids.length)
    ids.forEach((id, k) => {
      for (let c = 0; c < 4; c++) b[4 * k + c] = boxes[4 * id + c]!
      s[k] = scores[id]!
    })
    for (const k of nms(b, s, iouThreshold)) kept.push(ids[k]!)
  }
  kept.sort((p, q) => scores[q]! - scores[p]! || p - q)
  return Int32Array.from(kept)
}
