/**
 * Connectionist temporal classification loss (Graves et al. 2006) as torch.nn.functional.ctc_loss
 * computes it, built from standard ops so it runs inside the ONNX training step and autodiff gives
 * the gradient: the forward (alpha) recursion in log space as one ONNX Scan over the frames (the
 * CtcAlpha op, src/onnx/scan-ops.ts), its gradient in closed form from the backward (beta) recursion.
 *
 * References: https://www.cs.toronto.edu/~graves/icml_2006.pdf,
 * https://pytorch.org/docs/1.13/generated/torch.nn.functional.ctc_loss.html
 */
import { GraphError } from '../errors.js'
import { concat, where, type Tensor } from './graph.js'
import { fmt } from './shape.js'

export interface CtcOptions {
  /** Index of the blank label (torch's default 0; Wav2Vec2 uses the pad token). */
  blank?: number
  /** torch's default 'mean': each loss divided by its target length (at least 1), then the batch mean. */
  reduction?: 'mean' | 'sum' | 'none'
  /** Impossible alignments (inputs too short for their targets) give 0 and no gradient instead of inf. */
  zeroInfinity?: boolean
}

// log(0) stand-in: finite so that sums and differences stay free of NaN; adding a log-probability
// to it leaves it unchanged in float32, so an unreachable state never becomes reachable.
const NEG = -1e30
// a log-likelihood below this came only from unreachable states: the alignment is impossible
const IMPOSSIBLE = -1e29

/**
 * CTC loss of `logProbs` (B, T, C) (log-softmax over C; batch first, unlike torch's (T, B, C)) against
 * int64 `targets` (B, L) padded to L with any value, `inputLengths` (B) <= T and `targetLengths`
 * (B) <= L, both int64 graph inputs so one static-shape graph serves every batch. Frames at or beyond
 * a clip's input length get no gradient. Returns (B) for reduction 'none', else a scalar.
 *
 * An impossible alignment gives inf (torch's value; its gradient there is NaN in torch and 0 here),
 * or 0 with zero gradient when `zeroInfinity`.
 */
export function ctcLoss(logProbs: Tensor, targets: Tensor, inputLengths: Tensor, targetLengths: Tensor, o: CtcOptions = {}): Tensor {
  const blank = o.blank ?? 0
  if (logProbs.rank !== 3) throw new GraphError('GRAPH_SHAPE', `ctcLoss: log-probabilities must be (batch, frames, classes), got ${fmt(logProbs.shape)}`)
  const [B, T, C] = logProbs.shape as [number, number, number]
  if (targets.rank !== 2 || targets.shape[0] !== B || targets.dtype !== 'int64')
    throw new GraphError('GRAPH_SHAPE', `ctcLoss: targets must be int64 (${B}, maxTargetLength), got ${targets.dtype}${fmt(targets.shape)}`)
  for (const [name, t] of [['inputLengths', inputLengths], ['targetLengths', targetLengths]] as const)
    if (t.dtype !== 'int64' || t.shape.join() !== String(B)) throw new GraphError('GRAPH_SHAPE', `ctcLoss: ${name} must be int64 [${B}], got ${t.dtype}${fmt(t.shape)}`)
  if (!(Number.isInteger(blank) && blank >= 0 && blank < C)) throw new GraphError('GRAPH_SHAPE', `ctcLoss: blank index ${blank} is not one of the ${C} classes`, `pass a blank between 0 and ${C - 1}`)
  if (T < 1) throw new GraphError('GRAPH_SHAPE', 'ctcLoss: needs at least one frame')
  const L = targets.shape[1]!
  const S = 2 * L + 1
  const g = logProbs.graph

  // extended labels (B, S): blank, t1, blank, t2, ..., blank; positions past the target length hold
  // blank (they are never read, but must be valid indices)
  const pos = g.constant(Array.from({ length: L }, (_, i) => i), [1, L], 'int64')
  const tgt = where(pos.lt(targetLengths.unsqueeze(1)), targets, g.scalar(blank, 'int64'))             // (B, L)
  const blanks = g.scalar(blank, 'int64').expand([B, L, 1])
  const ext = concat([concat([blanks, tgt.unsqueeze(2)], 2).reshape([B, 2 * L]), g.scalar(blank, 'int64').expand([B, 1])], 1) // (B, S)

  // a transition s-2 -> s skips a blank: allowed between different non-blank labels
  let skip = g.constant(new Float32Array(S).fill(NEG), [1, S]).expand([B, S])
  if (L > 0) {
    const cur = ext.slice(1, 2)                                                                    // (B, S-2)
    const ok = cur.ne(blank).and(cur.ne(ext.slice(1, 0, S - 2)))
    skip = concat([g.constant(new Float32Array(2).fill(NEG), [1, 2]).expand([B, 2]), where(ok, g.scalar(0), g.scalar(NEG))], 1) // (B, S)
  }
  const emit = logProbs.gatherElements(ext.unsqueeze(1).expand([B, T, S]), 2)                      // (B, T, S)
  const tIdx = g.constant(Array.from({ length: T }, (_, i) => i), [1, T], 'int64')
  const live = tIdx.lt(inputLengths.unsqueeze(1)).cast('float32')                                  // (B, T)
  // the path ends on the last label or the blank after it: s = 2·len and 2·len - 1 (when len > 0)
  const sIdx = g.constant(Array.from({ length: S }, (_, i) => i), [1, S], 'int64')
  const twoLen = targetLengths.mul(g.scalar(2, 'int64')).unsqueeze(1)                             // (B, 1)
  const isEnd = sIdx.eq(twoLen).or(sIdx.eq(twoLen.sub(g.scalar(1, 'int64'))).and(twoLen.gt(g.scalar(0, 'int64'))))
  const ends = where(isEnd, g.scalar(0), g.scalar(NEG))                                            // (B, S)
  // the forward recursion over the frames, frozen after each clip ends (one Scan; its gradient is the
  // closed form with the backward recursion, src/autodiff/rules.ts)
  const ll = g.emit('CtcAlpha', [emit, skip, live, ends], {})[0]!                                 // (B)
  const impossible = ll.lt(IMPOSSIBLE)
  let loss = where(impossible, g.scalar(o.zeroInfinity ? 0 : Infinity), ll.neg())                  // (B)
  if (o.reduction === 'none') return loss
  if (o.reduction === 'sum') return loss.sum()
  loss = loss.div(targetLengths.cast('float32').maximum(1))
  return loss.mean()
}
