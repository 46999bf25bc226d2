/**
 * FCOS or RetinaNet as a standalone ONNX detector: the exported network gives every anchor's decoded,
 * clipped box (1, A, 4) and its class scores (1, A, K) (FCOS: sqrt(sigmoid(cls) sigmoid(ctr));
 * RetinaNet: sigmoid(cls)); appended
 * here in plain ONNX: NonMaxSuppression per class (IoU `nmsThresh`, score above `scoreThresh`, at most
 * `detectionsPerImg` per class), then the best `detectionsPerImg` overall by TopK. Outputs `boxes`
 * (N, 4) x1 y1 x2 y2 in the input's pixels, `scores` (N) and `labels` (N, int64), best first.
 * With `levels` (anchors per level) and `topkCandidates`, only the best topkCandidates scores
 * (anchor x class) of each level go on to NMS, as torchvision's post-processing keeps them (the
 * others are zeroed, below any threshold; a score tied with the k-th is kept too).
 */
import { AttrType, type ModelProtoObj, type NodeProtoObj, type TensorProtoObj, type ValueInfoObj } from '../../onnx/proto.js'

const FLOAT = 1
const INT64 = 7

const constant = (name: string, t: Omit<TensorProtoObj, 'name'>): NodeProtoObj => ({ opType: 'Constant', input: [], output: [name], attribute: [{ name: 'value', type: AttrType.TENSOR, t: { name: '', ...t } }] })
const node = (opType: string, input: string[], output: string[], attrs: Record<string, number | number[]> = {}): NodeProtoObj => ({
  opType,
  input,
  output,
  attribute: Object.entries(attrs).map(([name, v]) => (Array.isArray(v) ? { name, type: AttrType.INTS, ints: v } : { name, type: AttrType.INT, i: v })),
})
const out = (name: string, elemType: number, dims: (number | string)[]): ValueInfoObj => ({ name, type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } } })

/** Replaces the outputs `anchor_boxes` (1, A, 4) and `anchor_scores` (1, A, K) of `model` with post-processed detections; `levels` (anchors per level) cuts each level to its best topkCandidates first. */
export function appendDetectionNms(model: ModelProtoObj, o: { scoreThresh: number; nmsThresh: number; detectionsPerImg: number; topkCandidates?: number }, levels?: readonly number[]): ModelProtoObj {
  const g = model.graph
  const p = (n: string): string => `nms_${n}`
  const dims = g.output.find((v) => v.name === 'anchor_scores')?.type.tensorType.shape.dim.map((d) => Number(d.dimValue))
  const classes = dims?.[2]
  if (levels && dims && levels.reduce((x, y) => x + y, 0) !== dims[1]) throw new Error(`internal: ${levels.join('+')} anchors per level, but anchor_scores is [${dims.join(', ')}]`)
  const scores = levels && o.topkCandidates && classes ? topkPerLevel(g.node, 'anchor_scores', levels, classes, o.topkCandidates) : 'anchor_scores'
  const nodes: NodeProtoObj[] = [
    constant(p('max'), { dims: [1], dataType: INT64, int64Data: [o.detectionsPerImg] }),
    constant(p('iou'), { dims: [1], dataType: FLOAT, floatData: [o.nmsThresh] }),
    constant(p('score'), { dims: [1], dataType: FLOAT, floatData: [o.scoreThresh] }),
    constant(p('i0'), { dims: [1], dataType: INT64, int64Data: [0] }),
    constant(p('i1'), { dims: [1], dataType: INT64, int64Data: [1] }),
    constant(p('i2'), { dims: [1], dataType: INT64, int64Data: [2] }),
    constant(p('i3'), { dims: [1], dataType: INT64, int64Data: [3] }),
    node('Transpose', [scores], [p('scores_t')], { perm: [0, 2, 1] }),                         // (1, K, A)
    // the IoU is the same whether a box is read x1 y1 x2 y2 or y1 x1 y2 x2 (center_point_box 0)
    node('NonMaxSuppression', ['anchor_boxes', p('scores_t'), p('max'), p('iou'), p('score')], [p('sel')]), // (N, 3): batch, class, box
    node('GatherND', [p('scores_t'), p('sel')], [p('sel_scores')]),                              // (N)
    node('Slice', [p('sel'), p('i1'), p('i2'), p('i1')], [p('cls')]),                           // (N, 1)
    node('Slice', [p('sel'), p('i2'), p('i3'), p('i1')], [p('box')]),                           // (N, 1)
    node('Slice', [p('sel'), p('i0'), p('i1'), p('i1')], [p('img')]),                           // (N, 1)
    node('Concat', [p('img'), p('box')], [p('img_box')], { axis: 1 }),                           // (N, 2)
    node('GatherND', ['anchor_boxes', p('img_box')], [p('sel_boxes')]),                                 // (N, 4)
    node('Shape', [p('sel_scores')], [p('n')]),
    node('Min', [p('n'), p('max')], [p('k')]),
    node('TopK', [p('sel_scores'), p('k')], ['scores', p('order')], { axis: 0, largest: 1, sorted: 1 }),
    node('Gather', [p('sel_boxes'), p('order')], ['boxes'], { axis: 0 }),
    node('Squeeze', [p('cls'), p('i1')], [p('cls_n')]),
    node('Gather', [p('cls_n'), p('order')], ['labels'], { axis: 0 }),
  ]
  g.node.push(...nodes)
  g.output = [out('boxes', FLOAT, ['detections', 4]), out('scores', FLOAT, ['detections']), out('labels', INT64, ['detections'])]
  return model
}

/**
 * Appends to `nodes` the scores (1, A, K) with all but the best `k` (anchor x class) of each level
 * zeroed; `levels` are the anchors per level, in order. Returns the new value's name.
 */
function topkPerLevel(nodes: NodeProtoObj[], scores: string, levels: readonly number[], classes: number, k: number): string {
  const q = (n: string): string => `topk_${n}`
  const i64 = (name: string, v: number[]): NodeProtoObj => constant(name, { dims: [v.length], dataType: INT64, int64Data: v })
  nodes.push(i64(q('axis1'), [1]), i64(q('k'), [k]), i64(q('k1'), [k - 1]), constant(q('zero'), { dims: [], dataType: FLOAT, floatData: [0] }))
  const parts: string[] = []
  let at = 0
  levels.forEach((a, l) => {
    const v = (n: string): string => q(`${n}${l}`)
    nodes.push(i64(v('from'), [at]), i64(v('to'), [at + a]), node('Slice', [scores, v('from'), v('to'), q('axis1')], [v('part')]))
    at += a
    if (a * classes <= k) return parts.push(v('part'))
    nodes.push(
      i64(v('flat_shape'), [1, a * classes]),
      i64(v('shape'), [1, a, classes]),
      node('Reshape', [v('part'), v('flat_shape')], [v('flat')]),
      node('TopK', [v('flat'), q('k')], [v('best'), v('best_at')], { axis: 1, largest: 1, sorted: 1 }),
      node('Slice', [v('best'), q('k1'), q('k'), q('axis1')], [v('kth')]),                      // (1, 1)
      node('GreaterOrEqual', [v('flat'), v('kth')], [v('keep')]),
      node('Where', [v('keep'), v('flat'), q('zero')], [v('kept')]),
      node('Reshape', [v('kept'), v('shape')], [v('cut')]),
    )
    return parts.push(v('cut'))
  })
  nodes.push(node('Concat', parts, [q('scores')], { axis: 1 }))
  return q('scores')
}
