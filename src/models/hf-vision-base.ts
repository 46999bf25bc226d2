/** What the Hugging Face image families share: the label maps their config.json carries, and logits = head(backbone(x)). */
import { Module } from '../graph/module.js'
import type { Tensor } from '../graph/graph.js'
import { makeLabels, type Labels } from './hf-vision.js'

export abstract class HfLabelledModel extends Module {
  numClasses = 0
  labels: string[] = []
  id2label: Record<string, string> = {}
  label2id: Record<string, number> = {}

  /** Names the classes of the current head (LABEL_i where none are given). */
  setLabels(labels: readonly string[]): void {
    this.assignLabels(makeLabels(this.numClasses, labels))
  }

  abstract backbone(x: Tensor): Tensor
  abstract head(f: Tensor): Tensor
  logits(x: Tensor): Tensor {
    return this.head(this.backbone(x))
  }
  forwardLoss(x: Tensor, loss: (logits: Tensor) => Tensor): { logits: Tensor; loss: Tensor } {
    const logits = this.logits(x)
    return { logits, loss: loss(logits) }
  }

  protected assignLabels(l: Labels): void {
    this.labels = l.labels
    this.id2label = l.id2label
    this.label2id = l.label2id
    this.numClasses = l.labels.length
  }
}
