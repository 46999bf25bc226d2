/**
 * Decoding strategies over any model that gives next-token logits one step at a time: greedy, beam
 * search and sampling, with the decisions Hugging Face's `generate` makes (transformers 4.38:
 * `_greedy_search`, `_beam_search` with `BeamSearchScorer`/`BeamHypotheses`, `_sample`, and the
 * logits processors and warpers named below). scripts/generation_reference.py is the same logic in
 * PyTorch; the goldens in test/golden/generate come from it.
 */
import { ConfigError } from '../errors.js'
import { Rng } from '../runtime/rng.js'

/** A decoder advanced one token per row per call (a key/value cache makes each call one step). */
export interface StepModel {
  /** Appends `tokens[r]` to row r and returns the next-token logits, (rows, vocab) row-major. */
  step(tokens: readonly number[]): Promise<Float32Array>
  /** Keeps the rows `rows` in that order (beam reordering); the row count becomes `rows.length`. */
  reorder(rows: readonly number[]): void
}

export interface GenerationOptions {
  /** Tokens to generate at most after each prefix. */
  maxNewTokens: number
  numBeams: number
  /** Beam scores are sum(log p) / generated_length ** lengthPenalty (HF's length_penalty). */
  lengthPenalty: number
  /** HF's early_stopping: true stops at numBeams finished hypotheses; false/'never' as BeamSearchScorer. */
  earlyStopping: boolean | 'never'
  noRepeatNgramSize: number
  doSample: boolean
  temperature: number
  /** 0 keeps every token. */
  topK: number
  topP: number
  seed: number
  eosTokenId: number | null
  padTokenId: number
  /** Forces this token at the last allowed position (HF's forced_eos_token_id). */
  forcedEosTokenId: number | null
  /** No eos while a row (prefix included) is shorter than this (HF's min_length); 0 is off. */
  minLength?: number
  /** Forces this token first, right after a one-token prefix (HF's forced_bos_token_id: BART's <s> after </s>). */
  forcedBosTokenId?: number | null
  /** Tokens never generated (single-token bad_words_ids, e.g. Marian's pad). */
  badTokenIds: readonly number[]
}

export const GENERATION_DEFAULTS = {
  maxNewTokens: 20,
  numBeams: 1,
  lengthPenalty: 1,
  earlyStopping: false,
  noRepeatNgramSize: 0,
  doSample: false,
  temperature: 1,
  topK: 50,
  topP: 1,
  seed: 0,
  eosTokenId: null,
  padTokenId: 0,
  forcedEosTokenId: null,
  badTokenIds: [],
} as const satisfies GenerationOptions

/** Checks the options and lists every problem at once. */
export function validateGeneration(o: GenerationOptions): void {
  const bad: string[] = []
  const posInt = (k: keyof GenerationOptions, v: number, min: number) => {
    if (!Number.isInteger(v) || v < min) bad.push(`${k} must be an integer >= ${min}, got ${v}`)
  }
  posInt('maxNewTokens', o.maxNewTokens, 1)
  posInt('numBeams', o.numBeams, 1)
  posInt('noRepeatNgramSize', o.noRepeatNgramSize, 0)
  posInt('topK', o.topK, 0)
  if (!(o.temperature > 0) || !Number.isFinite(o.temperature)) bad.push(`temperature must be > 0, got ${o.temperature}`)
  if (!(o.topP > 0 && o.topP <= 1)) bad.push(`topP must be in (0, 1], got ${o.topP}`)
  if (!Number.isFinite(o.lengthPenalty)) bad.push(`lengthPenalty must be a number, got ${o.lengthPenalty}`)
  if (o.doSample && o.numBeams > 1) bad.push('sampling with beams (beam-sample) is not supported')
  if (bad.length) throw new ConfigError('GENERATION_OPTIONS', `invalid generation settings: ${bad.join('; ')}`, 'see finetune predict --help: --num-beams, --max-new-tokens, --do-sample, --temperature, --top-k, --top-p')
}

/** The tokens generated after each prefix (eos included when one ended it), one array per prefix. */
export async function generate(model: StepModel, first: Float32Array, prefixes: readonly (readonly number[])[], o: GenerationOptions): Promise<number[][]> {
  validateGeneration(o)
  if (o.numBeams > 1) return beamSearch(model, first, prefixes, o)
  return greedyOrSample(model, first, prefixes, o)
}

// ----------------------------------------------------------------------------- logits processors

/** NoRepeatNGramLogitsProcessor: bans each token that would repeat an n-gram of the row. */
function banRepeatedNgrams(seq: readonly number[], scores: Float64Array, off: number, n: number): void {
  const L = seq.length
  if (n <= 0 || L + 1 < n) return
  for (let i = 0; i + n <= L; i++) {
    let same = true
    for (let j = 0; j < n - 1 && same; j++) same = seq[i + j] === seq[L - n + 1 + j]
    if (same) scores[off + seq[i + n - 1]!] = -Infinity
  }
}

/** The processors in the order HF's `_get_logits_processor` applies them. */
function processRow(seq: readonly number[], scores: Float64Array, off: number, V: number, maxLength: number, o: GenerationOptions): void {
  banRepeatedNgrams(seq, scores, off, o.noRepeatNgramSize)
  for (const t of o.badTokenIds) scores[off + t] = -Infinity
  if (o.minLength && o.eosTokenId !== null && seq.length < o.minLength) scores[off + o.eosTokenId] = -Infinity
  if (o.forcedBosTokenId != null && seq.length === 1) {
    for (let v = 0; v < V; v++) scores[off + v] = -Infinity
    scores[off + o.forcedBosTokenId] = 0
  }
  if (o.forcedEosTokenId !== null && seq.length === maxLength - 1) {
    for (let v = 0; v < V; v++) scores[off + v] = -Infinity
    scores[off + o.forcedEosTokenId] = 0
  }
}

function logSoftmaxRow(x: ArrayLike<number>, off: number, V: number, out: Float64Array): void {
  let m = -Infinity
  for (let v = 0; v < V; v++) m = Math.max(m, x[off + v]!)
  let s = 0
  for (let v = 0; v < V; v++) s += Math.exp(x[off + v]! - m)
  const lse = m + Math.log(s)
  for (let v = 0; v < V; v++) out[off + v] = x[off + v]! - lse
}

// ----------------------------------------------------------------------------- greedy and sampling

async function greedyOrSample(model: StepModel, first: Float32Array, prefixes: readonly (readonly number[])[], o: GenerationOptions): Promise<number[][]> {
  const B = prefixes.length
  const V = first.length / B
  const rng = new Rng(o.seed, 0x5a4d)
  const seqs = prefixes.map((p) => p.slice())
  const out: number[][] = prefixes.map(() => [])
  const finished = new Array<boolean>(B).fill(false)
  let logits = first
  for (let step = 0; step < o.maxNewTokens; step++) {
    const scores = Float64Array.from(logits)
    const next: number[] = []
    for (let r = 0; r < B; r++) {
      const off = r * V
      processRow(seqs[r]!, scores, off, V, prefixes[r]!.length + o.maxNewTokens, o)
      let t = o.doSample ? sampleRow(scores, off, V, o, rng) : argmaxRow(scores, off, V)
      if (finished[r]) t = o.padTokenId
      else out[r]!.push(t)
      if (t === o.eosTokenId) finished[r] = true
      seqs[r]!.push(t)
      next.push(t)
    }
    if (finished.every(Boolean) || step === o.maxNewTokens - 1) break
    logits = await model.step(next)
  }
  return out
}

function argmaxRow(x: Float64Array, off: number, V: number): number {
  let best = 0
  for (let v = 1; v < V; v++) if (x[off + v]! > x[off + best]!) best = v
  return best
}

/** TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper, then one multinomial draw. */
function sampleRow(x: Float64Array, off: number, V: number, o: GenerationOptions, rng: Rng): number {
  const s = Array.from(x.subarray(off, off + V), (v) => v / o.temperature)
  const order = s.map((_, i) => i).sort((a, b) => s[b]! - s[a]! || a - b)        // descending
  if (o.topK > 0 && o.topK < V) {
    const kth = s[order[o.topK - 1]!]!
    for (let v = 0; v < V; v++) if (s[v]! < kth) s[v] = -Infinity
  }
  const m = s[order[0]!]!
  const e = s.map((v) => Math.exp(v - m))
  if (o.topP < 1) {
    // HF removes the ascending-order prefix whose cumulative probability is <= 1 - top_p, keeping at least one
    const total = e.reduce((a, b) => a + b, 0)
    let cum = 0
    for (let i = order.length - 1; i >= 1; i--) {
      cum += e[order[i]!]! / total
      if (cum <= 1 - o.topP) e[order[i]!] = 0
      else break
    }
  }
  const total = e.reduce((a, b) => a + b, 0)
  let u = rng.next() * total
  for (const v of order) {
    u -= e[v]!
    if (u < 0) return v
  }
  return order[0]!
}

// ----------------------------------------------------------------------------- beam search

class BeamHypotheses {
  beams: { score: number; tokens: number[]; eos: boolean }[] = []
  worst = 1e9
  constructor(readonly o: GenerationOptions, readonly maxLength: number) {}
  add(tokens: number[], sumLogprobs: number, generatedLen: number, eos: boolean): void {
    const score = sumLogprobs / generatedLen ** this.o.lengthPenalty
    if (this.beams.length < this.o.numBeams || score > this.worst) {
      this.beams.push({ score, tokens, eos })
      if (this.beams.length > this.o.numBeams) {
        const sorted = this.beams.map((b, i) => [b.score, i] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1])
        this.beams.splice(sorted[0]![1], 1)
        this.worst = sorted[1]![0]
      } else this.worst = Math.min(score, this.worst)
    }
  }
  isDone(bestSumLogprobs: number, curLen: number, promptLen: number): boolean {
    if (this.beams.length < this.o.numBeams) return false
    const es = this.o.earlyStopping
    if (es === true) return true
    const lp = this.o.lengthPenalty
    const len = es === 'never' && lp > 0 ? this.maxLength - promptLen : curLen - promptLen
    return this.worst >= bestSumLogprobs / len ** lp
  }
}

/** The `k` largest entries of `x` (value, index), largest first; ties keep the lower index first. */
function topK(x: Float64Array, k: number): { v: number; i: number }[] {
  const best: { v: number; i: number }[] = []
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!
    if (best.length === k && !(v > best[k - 1]!.v)) continue
    let j = best.length < k ? best.length : k - 1
    if (best.length < k) best.push({ v, i })
    while (j > 0 && best[j - 1]!.v < v) {
      best[j] = best[j - 1]!
      j--
    }
    best[j] = { v, i }
  }
  return best
}

async function beamSearch(model: StepModel, first: Float32Array, prefixes: readonly (readonly number[])[], o: GenerationOptions): Promise<number[][]> {
  const B = prefixes.length
  const nb = o.numBeams
  const V = first.length / B
  const promptLen = prefixes[0]!.length
  if (prefixes.some((p) => p.length !== promptLen)) throw new ConfigError('GENERATION_PREFIXES', 'beam search needs prefixes of one length per batch', 'generate one prompt at a time')
  const maxLength = promptLen + o.maxNewTokens
  // every beam starts as a copy of its prefix; only the first one counts at step 0 (HF: -1e9 for the rest)
  const rows = Array.from({ length: B * nb }, (_, r) => Math.floor(r / nb))
  model.reorder(rows)
  let logits: Float32Array = new Float32Array(B * nb * V)
  rows.forEach((src, r) => logits.set(first.subarray(src * V, (src + 1) * V), r * V))
  let seqs = rows.map((src) => prefixes[src]!.slice())
  let beamScores: number[] = rows.map((_, r) => (r % nb === 0 ? 0 : -1e9))
  const hyps = prefixes.map(() => new BeamHypotheses(o, maxLength))
  const done = new Array<boolean>(B).fill(false)
  const nCand = Math.max(2, o.eosTokenId === null ? 1 : 2) * nb
  const scores = new Float64Array(B * nb * V)
  for (;;) {
    const curLen = seqs[0]!.length + 1
    for (let r = 0; r < B * nb; r++) {
      logSoftmaxRow(logits, r * V, V, scores)
      processRow(seqs[r]!, scores, r * V, V, maxLength, o)
      for (let v = 0; v < V; v++) scores[r * V + v] = scores[r * V + v]! + beamScores[r]!
    }
    const nextScores: number[] = []
    const nextTokens: number[] = []
    const nextRows: number[] = []
    for (let b = 0; b < B; b++) {
      if (done[b]) {
        for (let k = 0; k < nb; k++) {
          nextScores.push(0)
          nextTokens.push(o.padTokenId)
          nextRows.push(b * nb)
        }
        continue
      }
      const cand = topK(scores.subarray(b * nb * V, (b + 1) * nb * V), nCand)
      let n = 0
      for (let rank = 0; rank < cand.length && n < nb; rank++) {
        const { v: s, i } = cand[rank]!
        const row = b * nb + Math.floor(i / V)
        const t = i % V
        if (t === o.eosTokenId) {
          if (rank >= nb) continue
          hyps[b]!.add(seqs[row]!.slice(), s, curLen - promptLen, true)
        } else {
          nextScores.push(s)
          nextTokens.push(t)
          nextRows.push(row)
          n++
        }
      }
      done[b] = done[b]! || hyps[b]!.isDone(cand[0]!.v, curLen, promptLen)
    }
    seqs = nextRows.map((r, k) => [...seqs[r]!, nextTokens[k]!])
    beamScores = nextScores
    if (done.every(Boolean) || seqs[0]!.length >= maxLength) break
    model.reorder(nextRows)
    logits = await model.step(nextTokens)
  }
  // BeamSearchScorer.finalize: open beams of unfinished inputs compete with the finished hypotheses
  return prefixes.map((_, b) => {
    if (!done[b]) for (let k = 0; k < nb; k++) hyps[b]!.add(seqs[b * nb + k]!, beamScores[b * nb + k]!, seqs[b * nb + k]!.length - promptLen, false)
    const best = hyps[b]!.beams.reduce((a, h) => (h.score >= a.score ? h : a))              // the last of equals, as sorted().pop()
    const gen = best.tokens.slice(promptLen)
    if (best.eos && o.eosTokenId !== null) gen.push(o.eosTokenId)
    return gen
  })
}
