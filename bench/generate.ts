/**
 * Greedy decoding speed with the key/value cache against re-running the whole prefix for every new
 * token (what generation costs without a cache), on a GPT-2-shaped model with random weights.
 * usage: npx tsx bench/generate.ts [--layers 4] [--hidden 256] [--vocab 8000] [--prompt 16] [--new 64] [--threads 2]
 * Prints one JSON line: tokens per second both ways and their ratio; both paths must pick the same tokens.
 */
import '../src/runtime/ort-node.js'
import { CachedLm } from '../src/generate/cached-lm.js'
import { GENERATION_DEFAULTS } from '../src/generate/search.js'
import { Gpt2, parseGpt2Config } from '../src/models/gpt2.js'
import { Runtime } from '../src/runtime/session.js'

const args = process.argv.slice(2)
const opt = (k: string, d: number): number => {
  const i = args.indexOf(`--${k}`)
  return i >= 0 ? Number(args[i + 1]) : d
}
const [L, H, V, P, N, threads] = [opt('layers', 4), opt('hidden', 256), opt('vocab', 8000), opt('prompt', 16), opt('new', 64), opt('threads', 2)]
const raw = { model_type: 'gpt2', n_layer: L, n_embd: H, n_head: H / 64, vocab_size: V, n_positions: 1024 }
const model = new Gpt2(parseGpt2Config(raw), raw, 'causal-lm', 1)
for (const [n, p] of model.namedParameters()) if (n.endsWith('wte.weight')) for (let i = 0; i < p.data.length; i++) p.data[i] = p.data[i]! * 20 // peaky logits: no near ties
// one compiled graph per prefix length without a cache: keep them all (the default LRU keeps 16)
const runtime = new Runtime({ threads, maxSessions: 4 * N })
const lm = new CachedLm(model, runtime)
const prompt = Array.from({ length: P }, (_, i) => (i * 7919) % V)
const o = { ...GENERATION_DEFAULTS, maxNewTokens: N }

await lm.generate([prompt], { ...o, maxNewTokens: 2 }) // compile prefill + step graphs
let t = performance.now()
const [cached] = await lm.generate([prompt], o)
const cachedMs = performance.now() - t

// without a cache: the full forward of the prefix for each token (one graph per length, compiled outside the timing)
const seq = [...prompt]
for (let k = 0; k < N; k++) await lm.fullLogits([[...prompt, ...new Array<number>(k).fill(0)]])
t = performance.now()
for (let k = 0; k < N; k++) {
  const logits = await lm.fullLogits([seq])
  const last = logits.subarray((seq.length - 1) * V, seq.length * V)
  let best = 0
  for (let v = 1; v < V; v++) if (last[v]! > last[best]!) best = v
  seq.push(best)
}
const fullMs = performance.now() - t
const same = JSON.stringify(cached) === JSON.stringify(seq.slice(P))
console.log(JSON.stringify({ case: 'generate-greedy', layers: L, hidden: H, vocab: V, prompt: P, new_tokens: N, threads, cached_tok_s: +(N / (cachedMs / 1000)).toFixed(1), uncached_tok_s: +(N / (fullMs / 1000)).toFixed(1), speedup: +(fullMs / cachedMs).toFixed(2), same_tokens: same }))
await runtime.dispose()
