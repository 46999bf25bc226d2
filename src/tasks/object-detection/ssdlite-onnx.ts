/**
 * SSD's top-k per class before NMS, for the standalone ONNX detector: torchvision keeps each class's
 * best `topk_candidates` boxes above the score threshold and only those go into NMS. Appended in
 * plain ONNX in front of appendDetectionNms (onnx.ts): every score below its class's k-th best
 * becomes -1 (never above a score threshold). Equal to torchvision's threshold-then-top-k, ties at
 * the k-th score aside.
 */
import { AttrType, type ModelProtoObj, type NodeProtoObj } from '../../onnx/proto.js'

const FLOAT = 1
const INT64 = 7

/** Rewrites the output `anchor_scores` (1, A, K) of `model` so that only each class's best `k` keep their score. */
export function keepTopkPerClass(model: ModelProtoObj, k: number): ModelProtoObj {
  const g = model.graph
  const info = g.output.find((v) => v.name === 'anchor_scores')
  const A = Number(info?.type?.tensorType?.shape?.dim?.[1]?.dimValue ?? 0)
  if (!(k > 0 && k < A)) return model
  const producer = g.node.find((n) => n.output.includes('anchor_scores'))!
  producer.output = producer.output.map((o) => (o === 'anchor_scores' ? 'topk_scores_all' : o))
  const c = (name: string, dataType: number, dims: number[], v: number): NodeProtoObj => ({
    opType: 'Constant', input: [], output: [name],
    attribute: [{ name: 'value', type: AttrType.TENSOR, t: { name: '', dims, dataType, ...(dataType === INT64 ? { int64Data: [v] } : { floatData: [v] }) } }],
  })
  const n = (opType: string, input: string[], output: string[], attrs: Record<string, number> = {}): NodeProtoObj => ({ opType, input, output, attribute: Object.entries(attrs).map(([name, i]) => ({ name, type: AttrType.INT, i })) })
  g.node.push(
    c('topk_k', INT64, [1], k),
    c('topk_last', INT64, [1], k - 1),
    c('topk_minus1', FLOAT, [], -1),
    n('TopK', ['topk_scores_all', 'topk_k'], ['topk_best', 'topk_best_i'], { axis: 1, largest: 1, sorted: 1 }), // (1, k, K)
    n('Gather', ['topk_best', 'topk_last'], ['topk_kth'], { axis: 1 }),                                        // (1, 1, K)
    n('GreaterOrEqual', ['topk_scores_all', 'topk_kth'], ['topk_keep']),                                       // (1, A, K)
    n('Where', ['topk_keep', 'topk_scores_all', 'topk_minus1'], ['anchor_scores']),
  )
  return model
}
