// The SSDlite network (MobileNetV3-Large reduced tail, extra blocks, depthwise-separable heads) against
// torchvision 0.14's ssdlite320_mobilenet_v3_large graph (scripts/gen_ssdlite_goldens.py -> test/golden/
// detection/ssdlite.json): weights and images from the deterministic formula on both sides, 2 x 3 x
// 128 x 128 images (a smaller fixed size than 320; the network is size-agnostic), 3 classes + background,
// float64 reference, BatchNorm on running statistics (in training mode a batch of 2 leaves two values
// per channel on the 1x1 maps, so ill-conditioned that torch's float32 gradients differ from its
// float64 ones by ~9%; batch-statistics BatchNorm has its own tests). Tolerances: the normalised batch
// 1e-6; head outputs (300 sampled entries, max |v|, L2 norm) 1e-4 relative to the largest |v|; default
// boxes and matched indices exact; loss terms 1e-4 relative; gradients of the summed loss 1e-3 relative
// to the gradient's largest |entry| (float32 through ~60 conv layers: torch's own float32 gradients of
// the stem differ from its float64 ones by 6e-4 here; the head outputs agree within 1e-5).
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { runGraph } from '../../test/graph-run.js'
import { expectSampled, type Sampled } from '../../test/sampled-golden.js'
import { grad } from '../autodiff/grad.js'
import type { Tensor } from '../graph/graph.js'
import { hostF32 } from '../train/step.js'
import { detUniform, fillDeterministic } from './vision-weights.js'
import { SSDLite, ssdDefaultBoxes, ssdLevels, ssdLoss, ssdTargets } from './ssdlite.js'

interface Golden {
  num_classes: number
  image_size: number
  batch: number
  input: { name: string; scale: number; offset: number }
  param_count: number
  param_count_coco: number
  weight_checks: Record<string, number[]>
  normalised: Sampled
  levels: [number, number][]
  head: Record<'cls_logits' | 'bbox_regression', Sampled>
  default_boxes: number[]
  targets: { boxes: number[][]; labels: number[] }[]
  matched: number[][]
  losses: Record<'classification' | 'bbox_regression', number>
  grads: Record<string, Sampled>
}

const g = JSON.parse(readFileSync(new URL('../../test/golden/detection/ssdlite.json', import.meta.url), 'utf8')) as Golden
describe('SSDlite320 MobileNetV3-Large matches torchvision', () => {
  it('parameter names and counts, head outputs, default boxes, matching, the training loss dict and gradients', async () => {
    const model = new SSDLite(g.num_classes)
    fillDeterministic(model)
    const params = new Map(model.nameParameters().map((p) => [p.name, p]))
    for (const [name, want] of Object.entries(g.weight_checks)) expect(Array.from(params.get(name)!.data.subarray(0, want.length)), name).toEqual(want)
    expect(model.countParameters(true)).toBe(g.param_count)
    // torchvision's COCO configuration (91 classes) differs only in the classification convs
    expect(g.param_count + (91 - g.num_classes) * 6 * [672, 480, 512, 256, 256, 128].reduce((a, c) => a + c + 1, 0)).toBe(g.param_count_coco)

    const S = g.image_size
    const shape = [g.batch, 3, S, S]
    const raw = detUniform(g.input.name, new Float32Array(g.batch * 3 * S * S), g.input.scale, g.input.offset)
    const x = raw.map((v) => (v - 0.5) / 0.5)
    expectSampled(x, g.normalised, 1e-6, 'normalised batch')

    const levels = ssdLevels(S)
    expect(levels).toEqual(g.levels)
    const anchors = ssdDefaultBoxes(S, S, levels)
    expect(Array.from(anchors)).toEqual(g.default_boxes)
    const A = anchors.length / 4
    const t = ssdTargets(anchors, g.num_classes, g.targets.map((tt) => ({ boxes: tt.boxes.flat(), labels: tt.labels.map((l) => l - 1) })))
    t.matched.forEach((m, b) => expect(Array.from(m), `image ${b} matches`).toEqual(g.matched[b]))
    const names = Object.keys(g.grads)
    const r = await runGraph((gr) => {
      const out = model.forward(gr.input('x', shape))
      const l = ssdLoss(out, { cls: gr.constant(t.cls, [g.batch, A, g.num_classes]), reg: gr.constant(t.reg, [g.batch, A, 4]), fg: gr.constant(t.fg, [g.batch, A]), norm: gr.scalar(t.norm) })
      const res: Record<string, Tensor> = { cls_logits: out.cls_logits, bbox_regression: out.bbox_regression, 'loss:classification': l.classification, 'loss:bbox_regression': l.bbox_regression }
      const ds = grad(l.classification.add(l.bbox_regression), names.map((n) => gr.param(params.get(n)!)))
      names.forEach((n, i) => (res[`grad:${n}`] = ds[i]!))
      return res
    }, { x: hostF32(x, shape) })
    for (const k of ['cls_logits', 'bbox_regression'] as const) expectSampled(r[k]!, g.head[k], 1e-4, k)
    for (const k of ['classification', 'bbox_regression'] as const) expect(Math.abs(r[`loss:${k}`]![0]! - g.losses[k]) / g.losses[k], `loss ${k}`).toBeLessThan(1e-4)
    for (const n of names) expectSampled(r[`grad:${n}`]!, g.grads[n]!, 1e-3, `d loss / d ${n}`)
  }, 60_000)
})
