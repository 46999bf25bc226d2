/** The interface image training needs; torchvision families and TF.js Keras models both implement it. */
import type { Tensor } from '../graph/graph.js'
import type { Module } from '../graph/module.js'
import type { Rng } from '../runtime/rng.js'

/** What training needs of an image classifier: torchvision families and TF.js Keras models both fit. */
export interface ImageModel extends Module {
  readonly numClasses: number
  readonly featureSize: number
  readonly headPrefixes: readonly string[]
  readonly defaultImageSize: number
  /** Modules LoRA adapts by default, where the family has a PEFT default. */
  readonly loraTargets?: readonly string[]
  logits(x: Tensor): Tensor
  backbone(x: Tensor): Tensor
  head(features: Tensor): Tensor
  forwardLoss(x: Tensor, loss: (logits: Tensor) => Tensor): { logits: Tensor; loss: Tensor }
  replaceHead(numClasses: number, rng: Rng): unknown
}

