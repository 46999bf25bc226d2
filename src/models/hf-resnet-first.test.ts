// hf-resnet.ts imported before anything else of the HF vision families: the family files must not
// depend on hf-vision.ts at load time (it imports them), or entering through one of them meets a
// half-evaluated module (the detection and segmentation backbones enter here).
import { HfResNet } from './hf-resnet.js'
import { describe, expect, it } from 'vitest'

describe('the HF ResNet module loaded first', () => {
  it('evaluates on its own and builds a model', () => {
    const m = new HfResNet({ model_type: 'resnet', hidden_sizes: [8, 16], depths: [1, 1], layer_type: 'basic', embedding_size: 8 }, 3)
    expect(m.labels).toEqual(['LABEL_0', 'LABEL_1', 'LABEL_2'])
  })
})
