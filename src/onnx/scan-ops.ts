/**
 * The ops that loop over frames, each as one standard ONNX `Scan`: CTC's two recursions (CtcAlpha,
 * CtcBeta) and the recurrent layers with their backpropagation through time (Recurrence,
 * RecurrenceGrad, below).
 *
 * CTC's two recursions (graph/ctc.ts: CtcAlpha, CtcBeta) as standard ONNX `Scan`s over the frames.
 * Unrolled, the forward recursion and its autodiff were ~60 nodes per frame: ONNX Runtime's graph
 * optimizers then took 33 s to load a 400-frame step (8 s of wav2vec2 audio) and grew worse than
 * quadratically. A Scan body is ~20 nodes whatever the frame count.
 *
 * alpha: state (B, S) from [0, -1e30, ...]; per frame t, where the clip is live,
 *   alpha'[s] = logsumexp(alpha[s], alpha[s-1], alpha[s-2] + skip[s]) + emit[t, s]
 * (the virtual start makes frame 0 give emit[0, 0] and emit[0, 1], the two states a path starts in);
 * the log-likelihood is logsumexp(alpha_final + ends).
 * beta: the same in reverse, state from -1e30; per frame t, where live,
 *   beta[t, s] = emit[t, s] + (last[t] ? ends[s] : logsumexp(beta'[s], beta'[s+1], beta'[s+2] + skip[s+2]))
 * and -1e30 on frames past the clip.
 */
import { onnxDType } from '../graph/dtype.js'
import { AttrType, type AttributeProtoObj, type NodeProtoObj, type TensorProtoObj, type ValueInfoObj } from './proto.js'

/** The part of lower.ts's builder the Scans need. */
export interface ScanBuilder {
  node(opType: string, input: string[], output: string[], attribute?: AttributeProtoObj[]): void
  const(data: readonly number[], dtype?: 'int64' | 'float32', shape?: readonly number[]): string
  tmp(): string
  tensor(name: string, data: readonly number[], dtype: 'int64' | 'float32', shape: readonly number[]): TensorProtoObj
}

const NEG = -1e30
const aInt = (name: string, i: number): AttributeProtoObj => ({ name, type: AttrType.INT, i })
const aInts = (name: string, ints: readonly number[]): AttributeProtoObj => ({ name, type: AttrType.INTS, ints: [...ints] })
const vi = (name: string, dtype: 'float32' | 'bool', shape: readonly number[]): ValueInfoObj => ({ name, type: { tensorType: { elemType: onnxDType[dtype], shape: { dim: shape.map((d) => ({ dimValue: d })) } } } })

/** A Scan body under construction: names carry a prefix unique to the op, constants stay inside. */
class Body {
  readonly nodes: NodeProtoObj[] = []
  readonly inits: TensorProtoObj[] = []
  #k = 0
  constructor(readonly prefix: string, readonly b: ScanBuilder) {}
  name(what: string): string {
    return `${this.prefix}_${what}${this.#k++}`
  }
  const(data: readonly number[], dtype: 'int64' | 'float32' = 'int64', shape: readonly number[] = [data.length]): string {
    const n = this.name('k')
    this.inits.push(this.b.tensor(n, data, dtype, shape))
    return n
  }
  op(opType: string, input: string[], attribute: AttributeProtoObj[] = []): string {
    const out = this.name(opType.toLowerCase())
    this.nodes.push({ opType, input, output: [out], attribute, name: out })
    return out
  }
  /** `parts` equal slices of axis 1 (a Split). */
  split(x: string, parts: number, width: number): string[] {
    const out = Array.from({ length: parts }, () => this.name('part'))
    this.nodes.push({ opType: 'Split', input: [x, this.const(new Array<number>(parts).fill(width))], output: out, attribute: [aInt('axis', 1)], name: this.name('split') })
    return out
  }
  /** logsumexp of three (B, S) values, elementwise. */
  lse3(a: string, c: string, d: string): string {
    const m = this.op('Max', [a, c, d])
    const e = [a, c, d].map((x) => this.op('Exp', [this.op('Sub', [x, m])]))
    return this.op('Add', [this.op('Log', [this.op('Sum', e)]), m])
  }
}

/** (B, T, 1) bool of a (B, T) float 0/1 input, outside the Scan. */
function boolFrames(b: ScanBuilder, x: string): string {
  const c = b.tmp()
  const u = b.tmp()
  b.node('Cast', [x], [c], [aInt('to', onnxDType['bool'])])
  b.node('Unsqueeze', [c, b.const([2])], [u])
  return u
}

/** A Scan over axis 1 of `scanned` (reversed when `reverse`), its scan outputs stacked on axis 1 in frame order. */
function scan(b: ScanBuilder, body: Body, init: string[], scanned: string[], inputs: ValueInfoObj[], outputs: ValueInfoObj[], outs: string[], reverse: boolean): void {
  const n = scanned.length
  const k = outs.length - init.length
  b.node('Scan', [...init, ...scanned], outs, [
    { name: 'body', type: AttrType.GRAPH, g: { name: body.prefix, node: body.nodes, initializer: body.inits, input: inputs, output: outputs } },
    aInt('num_scan_inputs', n),
    aInts('scan_input_axes', new Array<number>(n).fill(1)),
    aInts('scan_output_axes', new Array<number>(k).fill(1)),
    ...(reverse ? [aInts('scan_input_directions', new Array<number>(n).fill(1)), aInts('scan_output_directions', new Array<number>(k).fill(1))] : []),
  ])
}

/** CtcAlpha: ins emit (B, T, S), skip (B, S), live (B, T), ends (B, S); outs ll (B), alphas (B, T, S). */
export function lowerCtcAlpha(b: ScanBuilder, ins: string[], outs: string[], shape: readonly number[]): void {
  const [B, , S] = shape as [number, number, number]
  const [emit, skip, live, ends] = ins as [string, string, string, string]
  const start = new Array<number>(S).fill(NEG)
  start[0] = 0
  const init = b.tmp()
  b.node('Expand', [b.const(start, 'float32', [1, S]), b.const([B, S])], [init])
  const body = new Body(`${outs[1]}_alpha`, b)
  const [a, e, l] = [body.name('a'), body.name('e'), body.name('l')]
  const P = body.op('Pad', [a, body.const([0, 2, 0, 0]), body.const([NEG], 'float32', [])])
  const a1 = body.op('Slice', [P, body.const([1]), body.const([S + 1]), body.const([1])])
  const a2 = body.op('Add', [body.op('Slice', [P, body.const([0]), body.const([S]), body.const([1])]), skip])
  const next = body.op('Where', [l, body.op('Add', [body.lse3(a, a1, a2), e]), a])
  const stacked = body.op('Identity', [next])
  const final = b.tmp()
  scan(b, body, [init], [emit, boolFrames(b, live)], [vi(a, 'float32', [B, S]), vi(e, 'float32', [B, S]), vi(l, 'bool', [B, 1])], [vi(next, 'float32', [B, S]), vi(stacked, 'float32', [B, S])], [final, outs[1]!], false)
  // ll = logsumexp over s of final + ends
  const f = b.tmp()
  const m = b.tmp()
  const d = b.tmp()
  const x = b.tmp()
  const s = b.tmp()
  const lg = b.tmp()
  const r = b.tmp()
  b.node('Add', [final, ends], [f])
  b.node('ReduceMax', [f], [m], [aInts('axes', [1]), aInt('keepdims', 1)])
  b.node('Sub', [f, m], [d])
  b.node('Exp', [d], [x])
  b.node('ReduceSum', [x, b.const([1])], [s], [aInt('keepdims', 1)])
  b.node('Log', [s], [lg])
  b.node('Add', [lg, m], [r])
  b.node('Reshape', [r, b.const([B])], [outs[0]!])
}

/** CtcBeta: ins emit (B, T, S), skip (B, S), live (B, T), last (B, T), ends (B, S); out betas (B, T, S). */
export function lowerCtcBeta(b: ScanBuilder, ins: string[], outs: string[], shape: readonly number[]): void {
  const [B, , S] = shape as [number, number, number]
  const [emit, skip, live, last, ends] = ins as [string, string, string, string, string]
  // skip[s + 2] at s: the transition s -> s + 2 is allowed
  const skipUp = b.tmp()
  const sl = b.tmp()
  b.node('Slice', [skip, b.const([2]), b.const([S + 2]), b.const([1])], [sl])
  b.node('Pad', [sl, b.const([0, 0, 0, Math.min(2, S)]), b.const([NEG], 'float32', [])], [skipUp])
  const init = b.tmp()
  b.node('Expand', [b.const([NEG], 'float32', [1, 1]), b.const([B, S])], [init])
  const body = new Body(`${outs[0]}_beta`, b)
  const [q, e, l, z] = [body.name('q'), body.name('e'), body.name('l'), body.name('z')]
  const Q = body.op('Pad', [q, body.const([0, 0, 0, 2]), body.const([NEG], 'float32', [])])
  const b1 = body.op('Slice', [Q, body.const([1]), body.const([S + 1]), body.const([1])])
  const b2 = body.op('Add', [body.op('Slice', [Q, body.const([2]), body.const([S + 2]), body.const([1])]), skipUp])
  const r = body.op('Where', [z, ends, body.lse3(q, b1, b2)])
  const beta = body.op('Where', [l, body.op('Add', [r, e]), body.const([NEG], 'float32', [])])
  const stacked = body.op('Identity', [beta])
  scan(b, body, [init], [emit, boolFrames(b, live), boolFrames(b, last)], [vi(q, 'float32', [B, S]), vi(e, 'float32', [B, S]), vi(l, 'bool', [B, 1]), vi(z, 'bool', [B, 1])], [vi(beta, 'float32', [B, S]), vi(stacked, 'float32', [B, S])], [b.tmp(), outs[0]!], true)
}

type RnnAttrs = { kind: 'gru' | 'lstm'; reverse: boolean }

/** (B, T, 1) float of a (B, T) mask, and a zero (B, H) state, outside the Scan. */
function rnnFrames(b: ScanBuilder, mask: string, B: number, H: number): { m: string; zero: string } {
  const m = b.tmp()
  b.node('Unsqueeze', [mask, b.const([2])], [m])
  const zero = b.tmp()
  b.node('Expand', [b.const([0], 'float32', [1, 1]), b.const([B, H])], [zero])
  return { m, zero }
}

/**
 * Recurrence: ins projection (B, T, G·H), weight_hh, bias_hh, mask (B, T); outs hidden states, states
 * before each frame, saved gates (graph/ops.ts). The body: torch's GRU (r, z, n) or LSTM (i, f, g, o)
 * cell on the state, the state kept on padded frames.
 */
export function lowerRecurrence(b: ScanBuilder, { kind, reverse }: RnnAttrs, ins: string[], outs: string[], shape: readonly number[], whhShape: readonly number[]): void {
  const [proj, whh, bhh, mask] = ins as [string, string, string, string]
  const [B, , GH] = shape as [number, number, number]
  const H = whhShape[1]!
  const { m: frames, zero } = rnnFrames(b, mask, B, H)
  const body = new Body(`${outs[0]}_${kind}`, b)
  const [h, c, x, m] = [body.name('h'), body.name('c'), body.name('x'), body.name('m')]
  const hh = body.op('Gemm', [h, whh, bhh], [aInt('transB', 1)])
  let hNew: string
  let saved: string
  let cNext: string | null = null
  if (kind === 'gru') {
    const [ir, iz, iN] = body.split(x, 3, H) as [string, string, string]
    const [hr, hz, hn] = body.split(hh, 3, H) as [string, string, string]
    const r = body.op('Sigmoid', [body.op('Add', [ir, hr])])
    const z = body.op('Sigmoid', [body.op('Add', [iz, hz])])
    const n = body.op('Tanh', [body.op('Add', [iN, body.op('Mul', [r, hn])])])
    hNew = body.op('Add', [n, body.op('Mul', [z, body.op('Sub', [h, n])])])
    saved = body.op('Concat', [r, z, n, hn], [aInt('axis', 1)])
  } else {
    const [pi, pf, pg, po] = body.split(body.op('Add', [x, hh]), 4, H) as [string, string, string, string]
    const [i, f, g, o] = [body.op('Sigmoid', [pi]), body.op('Sigmoid', [pf]), body.op('Tanh', [pg]), body.op('Sigmoid', [po])]
    const cNew = body.op('Add', [body.op('Mul', [f, c]), body.op('Mul', [i, g])])
    const tc = body.op('Tanh', [cNew])
    hNew = body.op('Mul', [o, tc])
    saved = body.op('Concat', [i, f, g, o, c, tc], [aInt('axis', 1)])
    cNext = body.op('Add', [c, body.op('Mul', [m, body.op('Sub', [cNew, c])])])
  }
  const out = body.op('Mul', [hNew, m])
  const hNext = body.op('Add', [h, body.op('Mul', [m, body.op('Sub', [hNew, h])])])
  const before = body.op('Identity', [h])
  const state = (n: string) => vi(n, 'float32', [B, H])
  const S = (kind === 'gru' ? 4 : 6) * H
  const lstm = kind === 'lstm'
  scan(
    b, body,
    lstm ? [zero, zero] : [zero],
    [proj, frames],
    [...(lstm ? [state(h), state(c)] : [state(h)]), vi(x, 'float32', [B, GH]), vi(m, 'float32', [B, 1])],
    [...(lstm ? [state(hNext), state(cNext!)] : [state(hNext)]), state(out), state(before), vi(saved, 'float32', [B, S])],
    [...(lstm ? [b.tmp(), b.tmp()] : [b.tmp()]), ...outs],
    reverse,
  )
}

/**
 * RecurrenceGrad: ins d hidden states (B, T, H), weight_hh, mask, states before, saved; outs the
 * gradients of the input projection and of the hidden projection (B, T, G·H), frame by frame in the
 * order opposite to the recurrence's.
 */
export function lowerRecurrenceGrad(b: ScanBuilder, { kind, reverse }: RnnAttrs, ins: string[], outs: string[], shape: readonly number[], whhShape: readonly number[]): void {
  const [dOut, whh, mask, before, saved] = ins as [string, string, string, string, string]
  const [B, , H] = shape as [number, number, number]
  const GH = whhShape[0]!
  const S = (kind === 'gru' ? 4 : 6) * H
  const { m: frames, zero } = rnnFrames(b, mask, B, H)
  const body = new Body(`${outs[0]}_${kind}_grad`, b)
  const [dh, dc, dy, m, hp, sv] = [body.name('dh'), body.name('dc'), body.name('dy'), body.name('m'), body.name('hp'), body.name('sv')]
  const one = body.const([1], 'float32', [])
  const oneMinus = (v: string) => body.op('Sub', [one, v])
  const mul = (...v: string[]) => v.slice(1).reduce((a, x) => body.op('Mul', [a, x]), v[0]!)
  const dhN = mul(body.op('Add', [dy, dh]), m)
  const kept = mul(dh, oneMinus(m))
  let dgi: string
  let dhh: string
  let dPrev: string
  let dcPrev: string | null = null
  if (kind === 'gru') {
    const [r, z, n, hn] = body.split(sv, 4, H) as [string, string, string, string]
    const dnp = mul(dhN, oneMinus(z), oneMinus(mul(n, n)))
    const drp = mul(dnp, hn, r, oneMinus(r))
    const dzp = mul(dhN, body.op('Sub', [hp, n]), z, oneMinus(z))
    dgi = body.op('Concat', [drp, dzp, dnp], [aInt('axis', 1)])
    dhh = body.op('Concat', [drp, dzp, mul(dnp, r)], [aInt('axis', 1)])
    dPrev = body.op('Add', [body.op('Add', [kept, mul(dhN, z)]), body.op('MatMul', [dhh, whh])])
  } else {
    const [i, f, g, o, cp, tc] = body.split(sv, 6, H) as [string, string, string, string, string, string]
    const dcN = body.op('Add', [mul(dc, m), mul(dhN, o, oneMinus(mul(tc, tc)))])
    const pre = [mul(dcN, g, i, oneMinus(i)), mul(dcN, cp, f, oneMinus(f)), mul(dcN, i, oneMinus(mul(g, g))), mul(dhN, tc, o, oneMinus(o))]
    dgi = body.op('Concat', pre, [aInt('axis', 1)])
    dhh = body.op('Identity', [dgi])
    dcPrev = body.op('Add', [mul(dc, oneMinus(m)), mul(dcN, f)])
    dPrev = body.op('Add', [kept, body.op('MatMul', [dgi, whh])])
  }
  const state = (n: string) => vi(n, 'float32', [B, H])
  const lstm = kind === 'lstm'
  scan(
    b, body,
    lstm ? [zero, zero] : [zero],
    [dOut, frames, before, saved],
    [...(lstm ? [state(dh), state(dc)] : [state(dh)]), state(dy), vi(m, 'float32', [B, 1]), state(hp), vi(sv, 'float32', [B, S])],
    [...(lstm ? [state(dPrev), state(dcPrev!)] : [state(dPrev)]), vi(dgi, 'float32', [B, GH]), vi(dhh, 'float32', [B, GH])],
    [...(lstm ? [b.tmp(), b.tmp()] : [b.tmp()]), ...outs],
    !reverse,
  )
}
