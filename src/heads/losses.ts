/** Task losses as Hugging Face's heads compute them, from logits and labels. */
import { GraphError } from '../errors.js'
import type { Tensor } from '../graph/graph.js'
import * as nn from '../graph/nn.js'
import type { ProblemType, TextTask } from '../models/hf.js'

/** HF's rule when config.problem_type is unset. */
export function inferProblemType(numLabels: number, labelsDType: 'int64' | 'float32'): ProblemType {
  if (numLabels === 1) return 'regression'
  return labelsDType === 'int64' ? 'single_label_classification' : 'multi_label_classification'
}

/**
 * Sequence classification: cross entropy (single label, int64 labels (B)), BCE with logits
 * (multi-label, float labels (B, L)) or MSE (regression, float labels (B) or (B, L)).
 */
export function sequenceClassificationLoss(logits: Tensor, labels: Tensor, problem: ProblemType): Tensor {
  if (problem === 'single_label_classification') return nn.crossEntropy(logits, labels)
  if (problem === 'multi_label_classification') return nn.bceWithLogits(logits, labels.cast('float32'))
  const y = labels.cast('float32')
  return logits.shape[1] === 1 ? nn.mse(logits.squeeze(1), y.reshape([-1])) : nn.mse(logits, y)
}

/** Token classification: cross entropy over (B, T) labels, -100 ignored. */
export function tokenClassificationLoss(logits: Tensor, labels: Tensor): Tensor {
  return nn.crossEntropy(logits, labels)
}

/** Causal LM: predict token t+1 from position t; labels are the input ids with -100 where ignored. */
export function causalLmLoss(logits: Tensor, labels: Tensor): Tensor {
  const T = logits.shape[1]!
  if (T < 2) throw new GraphError('GRAPH_SHAPE', 'causal LM loss needs sequences of at least 2 tokens')
  return nn.crossEntropy(logits.slice(1, 0, T - 1), labels.slice(1, 1, T))
}

/** Masked LM: cross entropy over (B, T, V) logits where labels are not -100 (the masked tokens). */
export function maskedLmLoss(logits: Tensor, labels: Tensor): Tensor {
  return nn.crossEntropy(logits, labels)
}

export function taskLoss(task: TextTask, logits: Tensor, labels: Tensor, problem: ProblemType): Tensor {
  switch (task) {
    case 'sequence-classification':
      return sequenceClassificationLoss(logits, labels, problem)
    case 'token-classification':
      return tokenClassificationLoss(logits, labels)
    case 'causal-lm':
      return causalLmLoss(logits, labels)
    case 'masked-lm':
      return maskedLmLoss(logits, labels)
    default:
      throw new GraphError('TASK_NO_LOSS', `task "${task}" has no loss`)
  }
}
