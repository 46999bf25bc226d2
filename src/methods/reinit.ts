/**
 * The same architecture from random weights, for "fine-tuned vs from scratch" comparisons: every
 * parameter and buffer re-drawn with PyTorch's default initialisers, whatever the family:
 * - matrices and kernels (rank >= 2): kaiming-uniform with a = sqrt(5), i.e. U(+-1/sqrt(fan_in)),
 *   fan_in = the product of all but the first dimension (torch.nn.Linear / ConvNd's default);
 *   embedding tables (names with "embed", "wte", "wpe") N(0, 0.02) as the transformer families do;
 * - rank-1 weights (norm scales) 1, biases 0; BatchNorm running means 0, variances 1, counters 0.
 * The head (already new) is re-drawn too, so both sides start from the same kind of initialisation.
 *
 * A model may re-draw itself by its own rule instead (a `reinitialise(rng)` method), where the
 * defaults cannot train it (the speech embedding, whose BatchNorm is fused away).
 */
import type { Module } from '../graph/module.js'
import type { Rng } from '../runtime/rng.js'

export function reinitialise(model: Module, rng: Rng): void {
  const own = (model as { reinitialise?: (rng: Rng) => void }).reinitialise
  if (own) return own.call(model, rng)
  for (const [name, p] of model.namedParameters()) {
    const d = p.data
    const leaf = name.split('.').pop()!
    if (p.kind === 'buffer') {
      d.fill(/running_var|moving_variance/.test(leaf) ? 1 : 0)
      continue
    }
    if (p.shape.length >= 2) {
      if (/embed|wte|wpe|position|token_type/i.test(name)) {
        for (let i = 0; i < d.length; i++) d[i] = rng.normal() * 0.02
      } else {
        const fanIn = p.shape.slice(1).reduce((a, b) => a * b, 1)
        const bound = 1 / Math.sqrt(Math.max(fanIn, 1))
        for (let i = 0; i < d.length; i++) d[i] = (rng.next() * 2 - 1) * bound
      }
    } else d.fill(/bias|beta|shift/.test(leaf) ? 0 : 1)
  }
}
