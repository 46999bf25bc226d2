/**
 * Recurrent layers as torch.nn.GRU and torch.nn.LSTM compute them, unrolled over the static time
 * axis from standard ops (Gemm/MatMul, Sigmoid, Tanh, Split, Concat), so autodiff needs no new rule:
 * the backward of an unrolled recurrence is the chain of the ops' own rules (backpropagation
 * through time). Gate order as torch stacks the weights: GRU r, z, n; LSTM i, f, g, o.
 * https://pytorch.org/docs/1.13/generated/torch.nn.GRU.html · .../torch.nn.LSTM.html
 *
 * Sequence lengths as torch's pack_padded_sequence gives them: `mask` (B, T) is 1 on real frames.
 * A padded step leaves the state unchanged and outputs zeros, so the forward direction stops at a
 * clip's last real frame and the reverse direction starts there from a zero state.
 */
import { GraphError } from '../errors.js'
import { concat, type Tensor, type TensorLike } from './graph.js'
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
  // the input projection of every step at once; the recurrence only multiplies by weight_hh
  const gi = nn.linear(x, w.weight_ih, w.bias_ih)                                 // (B, T, G·H)
  const steps = T === 1 ? [gi] : gi.split(new Array<number>(T).fill(1), 1)      // T × (B, 1, G·H)
  const masks = mask ? (T === 1 ? [mask] : mask.split(new Array<number>(T).fill(1), 1)) : null // T × (B, 1)
  let h: Tensor = g.scalar(0).expand([B, H])
  let c: Tensor = h
  const out: Tensor[] = new Array<Tensor>(T)
  for (let k = 0; k < T; k++) {
    const t = reverse ? T - 1 - k : k
    const xi = steps[t]!.reshape([B, GH])
    const hh = nn.linear(h, w.weight_hh, w.bias_hh)                                 // (B, G·H)
    let hNew: Tensor
    let cNew: Tensor | null = null
    if (kind === 'gru') {
      const [ir, iz, iN] = xi.split([H, H, H], 1) as [Tensor, Tensor, Tensor]
      const [hr, hz, hn] = hh.split([H, H, H], 1) as [Tensor, Tensor, Tensor]
      const r = ir.add(hr).sigmoid()
      const z = iz.add(hz).sigmoid()
      const n = iN.add(r.mul(hn)).tanh()
      hNew = n.add(z.mul(h.sub(n)))                                                 // (1 - z) n + z h
    } else {
      const [i, f, gg, o] = xi.add(hh).split([H, H, H, H], 1) as [Tensor, Tensor, Tensor, Tensor]
      cNew = f.sigmoid().mul(c).add(i.sigmoid().mul(gg.tanh()))
      hNew = o.sigmoid().mul(cNew.tanh())
    }
    if (masks) {
      const m = masks[t]!                                                           // (B, 1)
      out[t] = hNew.mul(m)
      // a padded step keeps the state: h + m (h' - h)
      h = h.add(m.mul(hNew.sub(h)))
      if (cNew) c = c.add(m.mul(cNew.sub(c)))
    } else {
      out[t] = hNew
      h = hNew
      if (cNew) c = cNew
    }
  }
  return T === 1 ? out[0]!.reshape([B, 1, H]) : concat(out.map((o) => o.reshape([B, 1, H])), 1) // (B, T, H)
}
