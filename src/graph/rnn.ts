/**
 * Recurrent layers as torch.nn.GRU and torch.nn.LSTM compute them: the input projection of every
 * frame as one product, then the recurrence as one standard ONNX Scan over the frames (the
 * Recurrence op, src/onnx/scan-ops.ts) whose gradient is backpropagation through time in a reverse
 * Scan (RecurrenceGrad). Unrolled, a step's graph grew with the clip and ONNX Runtime took minutes
 * to load it. Gate order as torch stacks the weights: GRU r, z, n; LSTM i, f, g, o.
 * https://pytorch.org/docs/1.13/generated/torch.nn.GRU.html · .../torch.nn.LSTM.html
 *
 * Sequence lengths as torch's pack_padded_sequence gives them: `mask` (B, T) is 1 on real frames.
 * A padded step leaves the state unchanged and outputs zeros, so the forward direction stops at a
 * clip's last real frame and the reverse direction starts there from a zero state.
 */
import { GraphError } from '../errors.js'
import { asTensor, type Tensor, type TensorLike } from './graph.js'
import * as nn from './nn.js'

export type RnnKind = 'gru' | 'lstm'

/** Gates per kind: rows of weight_ih/weight_hh are gates × hidden. */
export const RNN_GATES: Record<RnnKind, number> = { gru: 3, lstm: 4 }

/** One direction's weights, torch's weight_ih_lK (G·H, In), weight_hh_lK (G·H, H), bias_ih_lK, bias_hh_lK (G·H). */
export interface RnnWeights {
  weight_ih: Tensor
  weight_hh: Tensor
  bias_ih: TensorLike | null
  bias_hh: TensorLike | null
}

/**
 * One direction of one recurrent layer over `x` (B, T, In) from a zero state. `mask` (B, T), 1 on
 * real frames, or null when every frame is real. Returns the hidden states (B, T, H), zero on
 * padded frames; `reverse` runs from the last real frame back to the first.
 */
export function recurrence(kind: RnnKind, x: Tensor, w: RnnWeights, mask: Tensor | null, reverse = false): Tensor {
  const [B, T, In] = x.shape as [number, number, number]
  const G = RNN_GATES[kind]
  const [GH, H] = w.weight_hh.shape as [number, number]
  if (x.rank !== 3 || GH !== G * H || w.weight_ih.shape[0] !== GH || w.weight_ih.shape[1] !== In)
    throw new GraphError('GRAPH_SHAPE', `${kind}: input (B, T, In) ${JSON.stringify(x.shape)} with weight_ih ${JSON.stringify(w.weight_ih.shape)} and weight_hh ${JSON.stringify(w.weight_hh.shape)} do not fit (want (${G}·H, In) and (${G}·H, H))`)
  if (mask && (mask.shape[0] !== B || mask.shape[1] !== T)) throw new GraphError('GRAPH_SHAPE', `${kind}: mask ${JSON.stringify(mask.shape)} must be (B, T) = [${B}, ${T}]`)
  const g = x.graph
  // the input projection of every frame at once; the recurrence (one Scan, and its backpropagation
  // through time another) only multiplies by weight_hh
  const gi = nn.linear(x, w.weight_ih, w.bias_ih)                                 // (B, T, G·H)
  const bhh = w.bias_hh === null ? g.constant(new Float32Array(GH), [GH]) : asTensor(w.bias_hh, gi).expand([GH])
  const m = mask ? mask.cast('float32') : g.scalar(1).expand([B, T])
  return g.emit('Recurrence', [gi, asTensor(w.weight_hh, gi), bhh, m], { kind, reverse })[0]!   // (B, T, H)
}
