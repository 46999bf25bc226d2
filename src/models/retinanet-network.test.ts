// The RetinaNet network (ResNet-50 FPN + heads without norm) against torchvision 0.14's
// retinanet_resnet50_fpn graph (scripts/gen_retinanet_goldens.py -> test/golden/detection/retinanet.json):
// weights and images from the deterministic formula on both sides, 2 x 3 x 128 x 128 images, 3
// classes, float64 reference. Tolerances: head outputs (300 sampled entries of each, plus max |v| and
// L2 norm) 1e-4 relative to the largest |v|; the normalised batch 1e-6; loss terms 1e-4 relative; gradients of the summed loss
// 1e-3 relative to the gradient's largest |entry| (float32 through 50 conv layers).
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { runGraph } from '../../test/graph-run.js'
import { expectSampled, type Sampled } from '../../test/sampled-golden.js'
import { grad } from '../autodiff/grad.js'
import type { Tensor } from '../graph/graph.js'
import { Rng } from '../runtime/rng.js'
import { hostF32 } from '../train/step.js'
import { detUniform, fillDeterministic } from './vision-weights.js'
import { RetinaNet, retinanetAnchors, retinanetLevelCounts, retinanetLevels, retinanetLoss, retinanetTargets } from './retinanet.js'

interface Golden {
  num_classes: number
  image_size: number
  batch: number
  input: { name: string; scale: number; offset: number }
  param_count: number
  param_count_coco: number
  weight_checks: Record<string, number[]>
  normalised: Sampled
  levels: number[]
  head: Record<'cls_logits' | 'bbox_regression', Sampled>
  targets: { boxes: number[][]; labels: number[] }[]
  losses: Record<'classification' | 'bbox_regression', number>
  grads: Record<string, Sampled>
}

const g = JSON.parse(readFileSync(new URL('../../test/golden/detection/retinanet.json', import.meta.url), 'utf8')) as Golden
describe('RetinaNet ResNet-50 FPN matches torchvision', () => {
  it('parameter names and counts, head outputs at every level, the training loss dict and gradients', async () => {
    const model = new RetinaNet(g.num_classes)
    fillDeterministic(model)
    const params = new Map(model.nameParameters().map((p) => [p.name, p]))
    for (const [name, want] of Object.entries(g.weight_checks)) expect(Array.from(params.get(name)!.data.subarray(0, want.length)), name).toEqual(want)
    expect(model.countParameters(true)).toBe(g.param_count)
    // torchvision's COCO configuration (91 classes, 34,014,999 parameters) differs only in cls_logits (9 anchors x K)
    expect(g.param_count + (91 - g.num_classes) * 9 * (256 * 9 + 1)).toBe(g.param_count_coco)
    expect(g.param_count_coco).toBe(34_014_999)

    const S = g.image_size
    const shape = [g.batch, 3, S, S]
    const raw = detUniform(g.input.name, new Float32Array(g.batch * 3 * S * S), g.input.scale, g.input.offset)
    // torchvision's transform at min_size = max_size = the image size: normalisation only
    const mean = [0.485, 0.456, 0.406]
    const std = [0.229, 0.224, 0.225]
    const x = raw.map((v, i) => (v - mean[Math.floor(i / (S * S)) % 3]!) / std[Math.floor(i / (S * S)) % 3]!)
    expectSampled(x, g.normalised, 1e-6, 'normalised batch')

    const levels = retinanetLevels(S, S)
    expect(retinanetLevelCounts(levels).map((n) => n / 9)).toEqual(g.levels)
    const anchors = retinanetAnchors(S, S, levels)
    const A = anchors.length / 4
    const t = retinanetTargets(anchors, g.num_classes, g.targets.map((tt) => ({ boxes: tt.boxes.flat(), labels: tt.labels })))
    const names = Object.keys(g.grads)
    const r = await runGraph((gr) => {
      const out = model.forward(gr.input('x', shape))
      const l = retinanetLoss(out, { cls: gr.constant(t.cls, [g.batch, A, g.num_classes]), clsWeight: gr.constant(t.clsWeight, [g.batch, A]), reg: gr.constant(t.reg, [g.batch, A, 4]), regWeight: gr.constant(t.regWeight, [g.batch, A]) })
      const res: Record<string, Tensor> = { cls_logits: out.cls_logits, bbox_regression: out.bbox_regression, 'loss:classification': l.classification, 'loss:bbox_regression': l.bbox_regression }
      const ds = grad(l.classification.add(l.bbox_regression), names.map((n) => gr.param(params.get(n)!)))
      names.forEach((n, i) => (res[`grad:${n}`] = ds[i]!))
      return res
    }, { x: hostF32(x, shape) }, { training: true })
    for (const k of ['cls_logits', 'bbox_regression'] as const) expectSampled(r[k]!, g.head[k], 1e-4, k)
    for (const k of ['classification', 'bbox_regression'] as const) expect(Math.abs(r[`loss:${k}`]![0]! - g.losses[k]) / g.losses[k], `loss ${k}`).toBeLessThan(1e-4)
    for (const n of names) expectSampled(r[`grad:${n}`]!, g.grads[n]!, 1e-3, `d loss / d ${n}`)

    // from scratch (compare's random side): every weight re-drawn by torchvision's rules, not the generic reset
    const conv1 = Float32Array.from(params.get('backbone.body.conv1.weight')!.data)
    model.reinitialise(new Rng(9))
    expect(Array.from(params.get('head.classification_head.cls_logits.bias')!.data)).toEqual(Array(9 * g.num_classes).fill(Math.fround(-Math.log(99))))
    const w = params.get('head.classification_head.conv.0.0.weight')!.data
    const spread = Math.sqrt(w.reduce((a, v) => a + v * v, 0) / w.length)
    expect(spread).toBeGreaterThan(0.009)
    expect(spread).toBeLessThan(0.011)
    expect(params.get('backbone.body.conv1.weight')!.data).not.toEqual(conv1)
  }, 120_000)
})
