/**
 * Evaluation metrics, computed on the host from predictions: classification (accuracy, macro and
 * per-class precision/recall/F1), multi-label, regression, entity-level F1 (conlleval / seqeval
 * default rules) and perplexity. All return plain numbers.
 */

export interface ClassReport {
  precision: number
  recall: number
  f1: number
  support: number
}

export interface ClassificationMetrics {
  accuracy: number
  macro_f1: number
  macro_precision: number
  macro_recall: number
  per_class: Record<string, ClassReport>
}

const safeDiv = (a: number, b: number): number => (b === 0 ? 0 : a / b)
const f1 = (p: number, r: number): number => safeDiv(2 * p * r, p + r)

/** The figures metrics.json reports for single-label classification: the averages and f1_<label>. */
export function reportedClassificationMetrics(r: ClassificationMetrics): Record<string, number> {
  const out: Record<string, number> = { accuracy: r.accuracy, macro_f1: r.macro_f1, macro_precision: r.macro_precision, macro_recall: r.macro_recall }
  for (const [l, v] of Object.entries(r.per_class)) out[`f1_${l}`] = v.f1
  return out
}

/** Single-label classification from predicted and gold class ids. Macro averages over all labels (as sklearn with labels=range(n)). */
export function classificationMetrics(pred: ArrayLike<number>, gold: ArrayLike<number>, labels: readonly string[]): ClassificationMetrics {
  const n = labels.length
  const tp = new Array<number>(n).fill(0)
  const fp = new Array<number>(n).fill(0)
  const fn = new Array<number>(n).fill(0)
  let correct = 0
  for (let i = 0; i < gold.length; i++) {
    const p = pred[i]!
    const g = gold[i]!
    if (p === g) {
      correct++
      tp[g]!++
    } else {
      if (p >= 0 && p < n) fp[p]!++
      if (g >= 0 && g < n) fn[g]!++
    }
  }
  const per_class: Record<string, ClassReport> = {}
  let sp = 0
  let sr = 0
  let sf = 0
  labels.forEach((l, i) => {
    const precision = safeDiv(tp[i]!, tp[i]! + fp[i]!)
    const recall = safeDiv(tp[i]!, tp[i]! + fn[i]!)
    const f = f1(precision, recall)
    per_class[l] = { precision, recall, f1: f, support: tp[i]! + fn[i]! }
    sp += precision
    sr += recall
    sf += f
  })
  return { accuracy: safeDiv(correct, gold.length), macro_f1: sf / Math.max(n, 1), macro_precision: sp / Math.max(n, 1), macro_recall: sr / Math.max(n, 1), per_class }
}

export interface MultiLabelMetrics {
  micro_f1: number
  macro_f1: number
  subset_accuracy: number
  per_class: Record<string, ClassReport>
}

/** Multi-label: `pred` and `gold` are (N, L) 0/1 rows, flattened. */
export function multiLabelMetrics(pred: ArrayLike<number>, gold: ArrayLike<number>, labels: readonly string[]): MultiLabelMetrics {
  const L = labels.length
  const N = gold.length / L
  let TP = 0
  let FP = 0
  let FN = 0
  let exact = 0
  const per_class: Record<string, ClassReport> = {}
  const tp = new Array<number>(L).fill(0)
  const fp = new Array<number>(L).fill(0)
  const fn = new Array<number>(L).fill(0)
  for (let i = 0; i < N; i++) {
    let same = true
    for (let j = 0; j < L; j++) {
      const p = pred[i * L + j]! > 0 ? 1 : 0
      const g = gold[i * L + j]! > 0 ? 1 : 0
      if (p !== g) same = false
      if (p && g) tp[j]!++
      else if (p) fp[j]!++
      else if (g) fn[j]!++
    }
    if (same) exact++
  }
  let sf = 0
  labels.forEach((l, j) => {
    TP += tp[j]!
    FP += fp[j]!
    FN += fn[j]!
    const precision = safeDiv(tp[j]!, tp[j]! + fp[j]!)
    const recall = safeDiv(tp[j]!, tp[j]! + fn[j]!)
    per_class[l] = { precision, recall, f1: f1(precision, recall), support: tp[j]! + fn[j]! }
    sf += per_class[l].f1
  })
  return { micro_f1: f1(safeDiv(TP, TP + FP), safeDiv(TP, TP + FN)), macro_f1: sf / Math.max(L, 1), subset_accuracy: safeDiv(exact, N), per_class }
}

export interface RegressionMetrics {
  mse: number
  rmse: number
  mae: number
  pearson: number
}

export function regressionMetrics(pred: ArrayLike<number>, gold: ArrayLike<number>): RegressionMetrics {
  const n = gold.length
  let se = 0
  let ae = 0
  let mp = 0
  let mg = 0
  for (let i = 0; i < n; i++) {
    const d = pred[i]! - gold[i]!
    se += d * d
    ae += Math.abs(d)
    mp += pred[i]!
    mg += gold[i]!
  }
  mp /= n
  mg /= n
  let cov = 0
  let vp = 0
  let vg = 0
  for (let i = 0; i < n; i++) {
    cov += (pred[i]! - mp) * (gold[i]! - mg)
    vp += (pred[i]! - mp) ** 2
    vg += (gold[i]! - mg) ** 2
  }
  const mse = safeDiv(se, n)
  return { mse, rmse: Math.sqrt(mse), mae: safeDiv(ae, n), pearson: safeDiv(cov, Math.sqrt(vp * vg)) }
}

interface Chunk {
  type: string
  start: number
  end: number
}

function parseTag(t: string): [string, string] {
  if (t === 'O' || t === '') return ['O', '']
  const m = /^([BIESLU])[-_](.+)$/.exec(t)
  return m ? [m[1]!, m[2]!] : ['B', t]
}

/** Entity chunks of one tag sequence under the conlleval rules (IOB1/IOB2/IOBES tolerant). */
export function chunks(tags: readonly string[]): Chunk[] {
  const out: Chunk[] = []
  let cur: Chunk | null = null
  let prevPrefix = 'O'
  let prevType = ''
  tags.forEach((t, i) => {
    const [p, ty] = parseTag(t)
    const endsPrev = cur !== null && (p === 'O' || p === 'B' || p === 'S' || p === 'U' || ty !== prevType || prevPrefix === 'E' || prevPrefix === 'L')
    if (endsPrev && cur) {
      cur.end = i
      out.push(cur)
      cur = null
    }
    const starts = p !== 'O' && (p === 'B' || p === 'S' || p === 'U' || cur === null)
    if (starts) cur = { type: ty, start: i, end: i + 1 }
    prevPrefix = p
    prevType = ty
  })
  if (cur) {
    ;(cur as Chunk).end = tags.length
    out.push(cur)
  }
  return out
}

export interface EntityMetrics {
  precision: number
  recall: number
  f1: number
  /** Token-level accuracy over labelled tokens. */
  accuracy: number
  per_type: Record<string, ClassReport>
}

/** Entity-level precision/recall/F1 (exact span and type match), as seqeval's default mode. */
export function entityMetrics(pred: readonly (readonly string[])[], gold: readonly (readonly string[])[]): EntityMetrics {
  let tp = 0
  let np = 0
  let ng = 0
  let tok = 0
  let tokOk = 0
  const types = new Map<string, { tp: number; np: number; ng: number }>()
  const t = (ty: string) => {
    let v = types.get(ty)
    if (!v) types.set(ty, (v = { tp: 0, np: 0, ng: 0 }))
    return v
  }
  pred.forEach((ps, i) => {
    const gs = gold[i]!
    for (let k = 0; k < gs.length; k++) {
      tok++
      if (ps[k] === gs[k]) tokOk++
    }
    const pc = chunks(ps)
    const gc = chunks(gs)
    const key = (c: Chunk) => `${c.type}:${c.start}:${c.end}`
    const gset = new Set(gc.map(key))
    for (const c of pc) {
      np++
      t(c.type).np++
      if (gset.has(key(c))) {
        tp++
        t(c.type).tp++
      }
    }
    for (const c of gc) {
      ng++
      t(c.type).ng++
    }
  })
  const precision = safeDiv(tp, np)
  const recall = safeDiv(tp, ng)
  const per_type: Record<string, ClassReport> = {}
  for (const [ty, v] of [...types].sort()) {
    const p = safeDiv(v.tp, v.np)
    const r = safeDiv(v.tp, v.ng)
    per_type[ty] = { precision: p, recall: r, f1: f1(p, r), support: v.ng }
  }
  return { precision, recall, f1: f1(precision, recall), accuracy: safeDiv(tokOk, tok), per_type }
}

/** Perplexity from a mean per-token cross entropy (natural log). */
export function perplexity(meanLoss: number): number {
  return Math.exp(meanLoss)
}
