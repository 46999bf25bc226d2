/**
 * Reverse-mode autodiff over a traced graph. Only nodes on a path from a differentiated input to the
 * loss get gradient nodes, so frozen parameters (left out of `wrt`) cost nothing in the backward pass.
 */
import { GraphError } from '../errors.js'
import { withGraph, type Node, type Tensor } from '../graph/graph.js'
import { isFloat } from '../graph/dtype.js'
import { vjpRules, type VjpRule } from './rules.js'
import type { OpName } from '../graph/ops.js'

/** The producing node of `t` when it is `op`. */
function producer(t: Tensor, op: string): Node | null {
  return t.source.kind === 'op' && t.source.node.op === op ? t.source.node : null
}

/**
 * a + b for gradient contributions, without materialising what the addition can do itself: an
 * expanded (broadcast) contribution is added unexpanded, and a negated one is subtracted.
 */
function accumulate(a: Tensor, b: Tensor): Tensor {
  const unexpand = (t: Tensor, other: Tensor): Tensor => {
    const e = producer(t, 'Expand')
    const src = e?.inputs[0]
    return src && other.shape.join() === t.shape.join() && src.rank <= t.rank ? src : t
  }
  const a1 = unexpand(a, b)
  const b1 = unexpand(b, a)
  const out = (() => {
    const nb = producer(b1, 'Neg')
    if (nb) return a1.sub(nb.inputs[0]!)
    const na = producer(a1, 'Neg')
    if (na) return b1.sub(na.inputs[0]!)
    return a1.add(b1)
  })()
  // both operands unexpanded: restore the full shape
  return out.shape.join() === a.shape.join() ? out : out.expand(a.shape)
}

/**
 * Gradients of scalar `loss` with respect to each tensor of `wrt` (null where `loss` does not
 * depend on it). `seed` scales the output gradient (default 1).
 */
export function grad(loss: Tensor, wrt: readonly Tensor[], seed?: Tensor): (Tensor | null)[] {
  if (loss.size !== 1) throw new GraphError('AUTODIFF_NOT_SCALAR', `grad needs a scalar loss, got shape [${loss.shape.join(', ')}]`, 'reduce the loss with .mean() or .sum()')
  if (!isFloat(loss.dtype)) throw new GraphError('AUTODIFF_DTYPE', `grad needs a float loss, got ${loss.dtype}`)
  const g = loss.graph
  return withGraph(g, () => {
    // forward reachability from wrt
    const active = new Set<number>(wrt.map((t) => t.id))
    const nodes = g.nodes.slice() // snapshot: rules append nodes while we walk
    const lossNodeIdx = loss.source.kind === 'op' ? loss.source.node.id : -1
    for (const n of nodes) {
      if (n.id > lossNodeIdx) break
      if (n.inputs.some((t) => active.has(t.id))) for (const o of n.outputs) if (isFloat(o.dtype)) active.add(o.id)
    }
    // backward reachability from loss
    const useful = new Set<number>([loss.id])
    const onPath: Node[] = []
    for (let i = lossNodeIdx; i >= 0; i--) {
      const n = nodes[i]!
      if (!n.outputs.some((o) => useful.has(o.id))) continue
      if (!n.inputs.some((t) => active.has(t.id))) continue
      onPath.push(n)
      for (const t of n.inputs) if (active.has(t.id)) useful.add(t.id)
    }
    const grads = new Map<number, Tensor>()
    const wrtIds = new Set(wrt.map((t) => t.id))
    grads.set(loss.id, seed ?? g.scalar(1, loss.dtype).expand(loss.shape))
    const add = (t: Tensor, d: Tensor): void => {
      const prev = grads.get(t.id)
      grads.set(t.id, prev ? accumulate(prev, d) : d)
    }
    for (const n of onPath) {
      const dy = n.outputs.map((o) => grads.get(o.id) ?? null)
      if (dy.every((d) => d === null)) continue
      const needs = n.inputs.map((t) => active.has(t.id) && useful.has(t.id))
      const rule = vjpRules[n.op] as VjpRule<OpName>
      const dx = rule(n, dy, needs)
      n.inputs.forEach((t, i) => {
        const d = dx[i]
        if (!needs[i] || !d) return
        if (d.shape.join() !== t.shape.join()) throw new GraphError('AUTODIFF_SHAPE', `internal: ${n.op} gradient for input ${i} has shape [${d.shape}] but the input is [${t.shape}]`)
        add(t, d)
      })
      for (const o of n.outputs) if (!wrtIds.has(o.id)) grads.delete(o.id)
    }
    return wrt.map((t) => grads.get(t.id) ?? null)
  })
}
