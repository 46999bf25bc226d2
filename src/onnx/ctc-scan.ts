/**
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

function scan(b: ScanBuilder, body: Body, init: string, scanned: string[], inputs: ValueInfoObj[], outputs: ValueInfoObj[], outs: [string, string], reverse: boolean): void {
  const n = scanned.length
  b.node('Scan', [init, ...scanned], outs, [
    { name: 'body', type: AttrType.GRAPH, g: { name: body.prefix, node: body.nodes, initializer: body.inits, input: inputs, output: outputs } },
    aInt('num_scan_inputs', n),
    aInts('scan_input_axes', new Array<number>(n).fill(1)),
    aInts('scan_output_axes', [1]),
    ...(reverse ? [aInts('scan_input_directions', new Array<number>(n).fill(1)), aInts('scan_output_directions', [1])] : []),
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
  scan(b, body, init, [emit, boolFrames(b, live)], [vi(a, 'float32', [B, S]), vi(e, 'float32', [B, S]), vi(l, 'bool', [B, 1])], [vi(next, 'float32', [B, S]), vi(stacked, 'float32', [B, S])], [final, outs[1]!], false)
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
  scan(b, body, init, [emit, boolFrames(b, live), boolFrames(b, last)], [vi(q, 'float32', [B, S]), vi(e, 'float32', [B, S]), vi(l, 'bool', [B, 1]), vi(z, 'bool', [B, 1])], [vi(beta, 'float32', [B, S]), vi(stacked, 'float32', [B, S])], [b.tmp(), outs[0]!], true)
}
