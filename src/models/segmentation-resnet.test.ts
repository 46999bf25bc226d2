// fcn_resnet50 and deeplabv3_resnet50 against torchvision 0.14 (tolerances and inputs: see
// segmentation.test.ts; the check itself is test/segmentation-golden.ts).
import { describe, it } from 'vitest'
import { checkSegmentationGolden } from '../../test/segmentation-golden.js'

describe('segmentation families on ResNet-50 match torchvision', () => {
  for (const arch of ['fcn_resnet50', 'deeplabv3_resnet50'] as const) {
    it(`${arch}: eval and train logits (with aux), reference-script loss with ignore 255, gradients, running statistics`, () => checkSegmentationGolden(arch), 90_000)
  }
})
