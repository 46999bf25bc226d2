// The exported detector's post-processing keeps only the best topkCandidates scores of each level
// before NMS, as torchvision's does.
import { describe, expect, it } from 'vitest'
import { buildModel, node, vi } from '../../../test/onnx-build.js'
import { decodeModel } from '../../onnx/proto.js'
import '../../runtime/ort-node.js'
import { Runtime, ortTensor } from '../../runtime/session.js'
import { appendDetectionNms } from './onnx.js'

const rt = new Runtime({ threads: 1 })

describe('appendDetectionNms', () => {
  it('cuts each level to its best topkCandidates (anchor x class) scores before NMS', async () => {
    const levels = [1500, 300]
    const [A, K, k] = [1800, 2, 1000]
    // disjoint boxes (NMS removes nothing), distinct scores in (0, 1)
    const boxes = Float32Array.from({ length: A * 4 }, (_, i) => {
      const j = i >> 2
      const [x, y] = [(j % 50) * 10, Math.floor(j / 50) * 10]
      return [x, y, x + 8, y + 8][i & 3]!
    })
    const scores = Float32Array.from({ length: A * K }, (_, i) => (Math.sin(i * 12.9898) * 43758.5453) % 1).map((v) => Math.abs(v))
    const model = decodeModel(
      buildModel({
        inputs: [vi('b', [1, A, 4]), vi('s', [1, A, K])],
        outputs: [vi('anchor_boxes', [1, A, 4]), vi('anchor_scores', [1, A, K])],
        nodes: [node('Identity', ['b'], ['anchor_boxes']), node('Identity', ['s'], ['anchor_scores'])],
      }),
    )
    const settings = { scoreThresh: 0.05, nmsThresh: 0.5, detectionsPerImg: 10000, topkCandidates: k }
    const run = async (key: string, levelsArg?: number[]) => {
      const m = appendDetectionNms(structuredClone(model), settings, levelsArg)
      const r = await (await rt.session(key, () => m)).run({ b: ortTensor({ data: boxes, shape: [1, A, 4], dtype: 'float32' }), s: ortTensor({ data: scores, shape: [1, A, K], dtype: 'float32' }) })
      return Array.from(r['scores']!.data as Float32Array).sort((x, y) => y - x)
    }
    // torchvision's rule by hand: per level, the best k of anchors x classes, then the threshold
    const want: number[] = []
    let at = 0
    for (const a of levels) {
      const lvl = Array.from(scores.subarray(at * K, (at + a) * K)).sort((x, y) => y - x)
      want.push(...lvl.slice(0, k).filter((v) => v > settings.scoreThresh))
      at += a
    }
    want.sort((x, y) => y - x)
    const cut = await run('nms-topk-levels', levels)
    expect(cut).toEqual(want)
    // without the levels every score above the threshold reaches NMS (more than the cut keeps)
    const all = await run('nms-topk-none')
    expect(all.length).toBe(Array.from(scores).filter((v) => v > settings.scoreThresh).length)
    expect(all.length).toBeGreaterThan(cut.length + 1000)
  })
})
