/**
 * What the audio-classification task needs of a model: clips in, one feature vector per clip, a
 * linear head on it. Implemented by the pre-trained speech embedding with a pooled head
 * (speech-embedding.ts) and the keyword CNN trained from scratch (keyword-cnn.ts).
 */
import type { Tensor } from '../graph/graph.js'
import type { Module } from '../graph/module.js'
import type { Rng } from '../runtime/rng.js'

export interface AudioClassifier extends Module {
  /** The built-in name (`--model`), recorded as config.json's model_type. */
  readonly arch: string
  readonly numClasses: number
  readonly featureSize: number
  /** Name prefixes of the head's parameters. */
  readonly headPrefixes: readonly string[]
  /** The shortest clip, in samples at 16 kHz, the model takes. */
  readonly minSamples: number
  /** Clips (B, N) at 16 kHz in [-1, 1) -> features (B, featureSize). */
  features(audio: Tensor): Tensor
  /** Features (B, featureSize) -> logits (B, numClasses). */
  head(features: Tensor): Tensor
  /** Clips (B, N) -> logits (B, numClasses). */
  logits(audio: Tensor): Tensor
  /** A new head of `numClasses` outputs (torch.nn.Linear's initialisation). */
  setHead(numClasses: number, rng: Rng): void
  /**
   * Where a short clip's zeros go unless the user or a trained folder says otherwise (the task's
   * default: at the end).
   */
  readonly defaultClipPad?: 'end' | 'center'
  /**
   * Standardises the head's input from `n` rows of training features (Keras' Normalization.adapt),
   * for models whose head has such a layer; called once before a new head trains.
   */
  adaptFeatureNorm?(features: Float32Array, n: number): void
  /** Checkpoint keys a saved folder may lack (written by an older version); they keep their initial values. */
  readonly optionalKeys?: readonly string[]
  /** The layer group of a parameter (methods/groups.ts), where its name has no numbered block. */
  blockOf?(name: string): string | null
}
