/**
 * The batch pipeline the image and audio splits share: batches of an epoch's order assembled a few
 * ahead (decoding runs in workers meanwhile) and yielded in order.
 */

/** Batches in an epoch of `n` examples: the last one partial, or dropped. */
export function batchCount(n: number, batchSize: number, dropLast = false): number {
  if (!(batchSize >= 1)) throw new RangeError(`batchSize must be at least 1, got ${batchSize}`)
  return dropLast ? Math.floor(n / batchSize) : Math.ceil(n / batchSize)
}

/**
 * Batches `start` .. `count - 1` of `order` (positions, `batchSize` a batch), `ahead` of them being
 * assembled at any time, yielded in batch order; `assemble` gets the batch number and its positions.
 */
export async function* prefetchBatches<T>(order: Uint32Array, batchSize: number, count: number, start: number, ahead: number, assemble: (batch: number, positions: Uint32Array) => Promise<T>): AsyncGenerator<T> {
  const inflight: Promise<T>[] = []
  let next = Math.max(0, start)
  const launch = (): void => {
    const b = next++
    const p = assemble(b, order.subarray(b * batchSize, Math.min(order.length, (b + 1) * batchSize)))
    p.catch(() => {}) // awaited below; an abandoned batch must not raise an unhandled rejection
    inflight.push(p)
  }
  while (inflight.length < Math.max(1, ahead) && next < count) launch()
  while (inflight.length > 0) {
    const batch = await inflight.shift()!
    if (next < count) launch()
    yield batch
  }
}
