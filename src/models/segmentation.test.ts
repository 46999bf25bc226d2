// The segmentation families against goldens from torchvision 0.14 (scripts/gen_segmentation_goldens.py):
// weights, input images and target masks come from the deterministic formula of vision-weights.ts
// on both sides, so no checkpoint is shipped. References are float64, 2 x 3 x 64 x 64 images, 4
// classes, dropout 0. Tolerances as the classification families (vision.test.ts): logits (eval and
// train, main and auxiliary, 400 sampled entries plus max |v| and L2 norm) 1e-4 relative to the
// largest |logit|, train-mode logits 10x torch's own float32 error where that is larger (DeepLabV3's
// image-pooling BatchNorm normalises two values per channel in training: torch's float32 lands
// 2.5e-4 from float64 on deeplabv3_resnet50); loss 1e-4 relative; running means 1e-4 relative; gradients 1e-3 relative to the
// gradient's largest |entry|, or 10x its float32-level conditioning where that is larger.
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { checkSegmentationGolden, goldenDir } from '../../test/segmentation-golden.js'
import { runGraph } from '../../test/graph-run.js'
import { expectClose } from '../../test/op-check.js'
import * as nn from '../graph/nn.js'
import { Rng } from '../runtime/rng.js'
import { hostF32, hostI64 } from '../train/step.js'
import { SegmentationModel, segmentationLoss } from './segmentation.js'
import { detUniform } from './vision-weights.js'

// (the ResNet-50 families are in segmentation-resnet.test.ts, to keep each file short)
describe('segmentation families match torchvision', () => {
  for (const arch of ['deeplabv3_mobilenet_v3_large', 'lraspp_mobilenet_v3_large'] as const) {
    it(`${arch}: eval and train logits (with aux), reference-script loss with ignore 255, gradients, running statistics`, () => checkSegmentationGolden(arch), 60_000)
  }
})
describe('bilinear resize', () => {
  const cases = (JSON.parse(readFileSync(`${goldenDir}interpolate.json`, 'utf8')) as { cases: { name: string; in: [number, number]; out: [number, number]; output: number[] }[] }).cases
  for (const c of cases) {
    it(`${c.in.join('x')} -> ${c.out.join('x')} matches F.interpolate(bilinear, align_corners=False) within 1e-6`, async () => {
      const shape = [1, 2, ...c.in]
      const x = hostF32(detUniform(c.name, new Float32Array(2 * c.in[0] * c.in[1]), 1), shape)
      const r = await runGraph((gr) => ({ y: nn.interpolateBilinear(gr.input('x', shape), c.out) }), { x })
      expectClose(r['y']!, c.output, 1e-6, c.name)
    })
  }
})

describe('segmentation models', () => {
  it('replaceHead swaps the class convolutions (classifier.4, aux_classifier.4; LR-ASPP low/high) and nothing else', () => {
    // (the ResNet-50 models share these heads' code: building the two MobileNet ones is quicker)
    for (const arch of ['deeplabv3_mobilenet_v3_large', 'lraspp_mobilenet_v3_large'] as const) {
      const m = new SegmentationModel(arch, 21, { init: false })
      const before = new Map(m.namedParameters())
      m.replaceHead(3, new Rng(1))
      const after = new Map(m.namedParameters())
      expect([...after.keys()]).toEqual([...before.keys()])
      const changed = [...after].filter(([n, p]) => before.get(n) !== p).map(([n]) => n)
      expect(changed.every((n) => m.headPrefixes.some((h) => n.startsWith(`${h}.`)))).toBe(true)
      expect(changed.length).toBe(2 * m.headPrefixes.length)
      for (const h of m.headPrefixes) expect(after.get(`${h}.weight`)!.shape[0]).toBe(3)
      expect(m.numClasses).toBe(3)
    }
  })

  it('the loss ignores pixels labelled 255 and is 0 (not NaN) when every pixel is ignored', async () => {
    const logits = hostF32(Float32Array.from({ length: 2 * 3 * 2 * 2 }, (_, i) => Math.sin(i)), [2, 3, 2, 2])
    const labels = [0, 2, 255, 1, 255, 255, 1, 0]
    const r = await runGraph((gr) => ({
      loss: segmentationLoss(gr.input('l', [2, 3, 2, 2]), gr.input('y', [2, 2, 2], 'int64')),
      all: segmentationLoss(gr.input('l2', [2, 3, 2, 2]), gr.input('y2', [2, 2, 2], 'int64')),
      // class-last cross entropy over the same pixels
      ref: nn.crossEntropy(gr.input('l3', [2, 3, 2, 2]).transpose([0, 2, 3, 1]), gr.input('y3', [2, 2, 2], 'int64'), { ignoreIndex: 255 }),
    }), { l: logits, y: hostI64(labels, [2, 2, 2]), l2: logits, y2: hostI64(new Array(8).fill(255), [2, 2, 2]), l3: logits, y3: hostI64(labels, [2, 2, 2]) })
    expect(r['loss']![0]).toBeCloseTo(r['ref']![0]!, 6)
    expect(r['loss']![0]).toBeGreaterThan(0)
    expect(r['all']![0]).toBe(0)
  })
})
