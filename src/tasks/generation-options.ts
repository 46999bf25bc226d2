/**
 * The generation flags (HF `generate`'s names in kebab case) that tasks which write text share, and
 * the GenerationOptions they give with a model config's own defaults (HF reads num_beams,
 * max_length, length_penalty, early_stopping, no_repeat_ngram_size, bad_words_ids,
 * min_length, forced_bos_token_id and forced_eos_token_id from config.json / generation_config.json; flags override them).
 */
import { ConfigError } from '../errors.js'
import { GENERATION_DEFAULTS, type GenerationOptions } from '../generate/search.js'
import type { CommandName, TaskOption } from './task.js'

/** Generation flags for the commands `commands`. */
export function generationOptions(commands: readonly CommandName[]) {
  return {
    maxNewTokens: { type: 'int', describe: 'tokens to generate at most (default: 20, or the model config max_length)', min: 1, commands },
    numBeams: { type: 'int', describe: 'beam search with N beams (1: greedy or sampling; default: the model config num_beams, else 1)', min: 1, commands },
    lengthPenalty: { type: 'number', describe: 'beam score = sum log p / length^X (default 1; > 1 favours longer outputs)', commands },
    earlyStopping: { type: 'enum', choices: ['true', 'false', 'never'], describe: 'beam search: stop when N hypotheses are finished (true), when no beam can beat them (false), or never (HF early_stopping)', commands },
    minLength: { type: 'int', describe: 'no end-of-sequence token before the output is N tokens long, prompt or decoder start token included (HF min_length; default: the model config min_length, else 0)', min: 0, commands },
    noRepeatNgramSize: { type: 'int', describe: 'never repeat an n-gram of this size (0: off)', min: 0, commands },
    doSample: { type: 'boolean', describe: 'sample instead of taking the most likely token', commands },
    temperature: { type: 'number', describe: 'sampling: divide logits by X (default 1)', commands },
    topK: { type: 'int', describe: 'sampling: keep the K most likely tokens (default 50; 0: all)', min: 0, commands },
    topP: { type: 'number', describe: 'sampling: keep the smallest set of tokens with probability >= P (default 1)', commands },
    seed: { type: 'int', describe: 'sampling: random seed (default 0)', min: 0, commands },
  } as const satisfies Record<string, TaskOption>
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined)

/**
 * GenerationOptions from parsed flags `o`, the model's config (`cfg`) and the tokenizer's special
 * ids; `prefixLen` is what HF's max_length counts besides new tokens (the prompt for decoder-only
 * models, the decoder start token for encoder-decoders).
 */
export function generationOf(o: Record<string, unknown>, cfg: Record<string, unknown>, ids: { eos: number | null; pad: number }, prefixLen = 0): GenerationOptions {
  const es = o['earlyStopping'] ?? cfg['early_stopping']
  const bad = Array.isArray(cfg['bad_words_ids']) ? (cfg['bad_words_ids'] as unknown[]).filter((w): w is number[] => Array.isArray(w) && w.length === 1).map((w) => Number(w[0])) : []
  const cfgMax = num(cfg['max_length'])
  const g: GenerationOptions = {
    ...GENERATION_DEFAULTS,
    maxNewTokens: num(o['maxNewTokens']) ?? (cfgMax !== undefined && cfgMax > prefixLen && prefixLen > 0 ? cfgMax - prefixLen : GENERATION_DEFAULTS.maxNewTokens),
    numBeams: num(o['numBeams']) ?? num(cfg['num_beams']) ?? 1,
    lengthPenalty: num(o['lengthPenalty']) ?? num(cfg['length_penalty']) ?? 1,
    earlyStopping: es === 'true' || es === true ? true : es === 'never' ? 'never' : false,
    noRepeatNgramSize: num(o['noRepeatNgramSize']) ?? num(cfg['no_repeat_ngram_size']) ?? 0,
    doSample: o['doSample'] === true,
    temperature: num(o['temperature']) ?? 1,
    topK: num(o['topK']) ?? 50,
    topP: num(o['topP']) ?? 1,
    seed: num(o['seed']) ?? 0,
    eosTokenId: ids.eos,
    padTokenId: ids.pad,
    forcedEosTokenId: num(cfg['forced_eos_token_id']) ?? null,
    forcedBosTokenId: num(cfg['forced_bos_token_id']) ?? null,
    minLength: num(o['minLength']) ?? num(cfg['min_length']) ?? 0,
    badTokenIds: bad,
  }
  if (g.doSample && o['numBeams'] === undefined) g.numBeams = 1
  for (const [k, v] of Object.entries({ temperature: o['temperature'], topK: o['topK'], topP: o['topP'], seed: o['seed'] }))
    if (v !== undefined && !g.doSample) throw new ConfigError('GENERATION_OPTIONS', `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} applies to sampling only`, 'add --do-sample, or drop the flag')
  return g
}
