/**
 * What generation needs of a decoder: one call that runs new tokens against the keys and values of
 * the tokens before them (a fixed-size cache, masked to its filled slots), returning the logits and
 * the new tokens' own keys and values. Static shapes throughout, so one compiled graph serves every
 * step of a generation.
 */
import type { Tensor } from '../graph/graph.js'

/** Keys and values of one attention layer: (B, heads, T, headDim) each. */
export interface LayerKv {
  key: Tensor
  value: Tensor
}

/** The cached keys and values of earlier tokens, and which of the cache's slots hold one. */
export interface PastKv {
  /** One per layer, (B, heads, Tmax, headDim) each. */
  layers: readonly LayerKv[]
  /** (B, Tmax): 1 where the slot holds a token, 0 where it is empty. */
  mask: Tensor
}

/** The cache's sizes for one model. */
export interface KvSpec {
  layers: number
  heads: number
  headDim: number
}

/** A causal language model that can decode against a key/value cache. */
export interface CachedCausalLm {
  readonly kvSpec: KvSpec
  /** Longest sequence (prompt + generated) the positions cover. */
  readonly maxPositions: number
  /**
   * Logits (B, T, V) of `ids` (B, T) at `positionIds` (B, T), each attending to the filled slots of
   * `past` and causally to the ids before it; `present` holds the ids' own keys and values per layer.
   */
  decode(ids: Tensor, positionIds: Tensor, past: PastKv | null): { logits: Tensor; present: LayerKv[] }
}

export function isCachedCausalLm(m: unknown): m is CachedCausalLm {
  return typeof (m as { decode?: unknown }).decode === 'function' && typeof (m as { kvSpec?: unknown }).kvSpec === 'object'
}
