/**
 * Encoder-decoder folders in and out: config.json, model.safetensors and the family's tokenizer
 * files (opus-mt: source.spm, target.spm, vocab.json; T5: tokenizer.json and/or spiece.model).
 */
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { CheckpointError } from '../../errors.js'
import { readJsonFile, writeFileAtomic, writeSafetensorsFile } from '../../checkpoint/io-node.js'
import type { HfConfig } from '../../models/hf.js'
import { loadWeights } from '../../models/load.js'
import { assertModelDir, modelTensors, openWeights } from '../../models/pretrained-node.js'
import { seq2seqFamily, SEQ2SEQ_FAMILIES, type Seq2SeqModel } from '../../models/seq2seq.js'
import { MarianTokenizer } from '../../tokenizers/marian.js'
import { T5Tokenizer, type Seq2SeqTokenizer } from '../../tokenizers/t5.js'

export const TOKENIZER_FILES = ['source.spm', 'target.spm', 'vocab.json', 'spiece.model', 'tokenizer.json', 'special_tokens_map.json', 'tokenizer_config.json'] as const

export interface LoadedSeq2Seq {
  model: Seq2SeqModel
  tokenizer: Seq2SeqTokenizer
  config: HfConfig
  family: string
}

/** Opens a Marian folder: config, weights (strictly: missing or mis-shaped weights are listed) and tokenizer. */
export async function loadSeq2Seq(dir: string, o: { family?: string | undefined; seed?: number } = {}): Promise<LoadedSeq2Seq> {
  assertModelDir(dir)
  const config = (await readJsonFile(join(dir, 'config.json'), 'model config')) as HfConfig
  const family = o.family ?? (typeof config['model_type'] === 'string' ? config['model_type'] : '')
  if (!family) throw new CheckpointError('CONFIG_MODEL_TYPE', `${join(dir, 'config.json')} has no "model_type"`, `pass --family with one of ${SEQ2SEQ_FAMILIES.join(', ')}`)
  const fam = seq2seqFamily(family, join(dir, 'config.json'))
  const tokenizer = await loadSeq2SeqTokenizer(dir, family)
  const model = fam.build(config, join(dir, 'config.json'), o.seed ?? 0)
  model.nameParameters()
  if (tokenizer.vocabSize > Number(config['vocab_size']))
    throw new CheckpointError('TOKENIZER_VOCAB_SIZE', `${dir}: the tokenizer has ${tokenizer.vocabSize} tokens, config.json vocab_size is ${String(config['vocab_size'])}`, 'the tokenizer and the model come from different checkpoints')
  const w = await openWeights(dir)
  try {
    await loadWeights(model, w, { basePrefix: model.basePrefix, ignorable: fam.ignorable })
  } finally {
    await w.close()
  }
  return { model, tokenizer, config, family }
}

/** The family's tokenizer from the folder's files: T5 reads tokenizer.json (else spiece.model), Marian its two .spm and vocab.json. */
async function loadSeq2SeqTokenizer(dir: string, family: string): Promise<Seq2SeqTokenizer> {
  const cfgFile = join(dir, 'tokenizer_config.json')
  const tokenizerConfigJson = existsSync(cfgFile) ? { tokenizerConfigJson: await readFile(cfgFile, 'utf8') } : {}
  if (family === 't5') {
    if (existsSync(join(dir, 'tokenizer.json'))) return new T5Tokenizer({ tokenizerJson: await readFile(join(dir, 'tokenizer.json'), 'utf8'), ...tokenizerConfigJson })
    if (existsSync(join(dir, 'spiece.model'))) return new T5Tokenizer({ spiece: await readFile(join(dir, 'spiece.model')), ...tokenizerConfigJson })
    throw new CheckpointError('TOKENIZER_MISSING', `${dir} has neither tokenizer.json nor spiece.model`, 'a T5 folder needs its tokenizer: copy tokenizer.json or spiece.model from the checkpoint it was trained from')
  }
  for (const f of ['source.spm', 'target.spm', 'vocab.json'])
    if (!existsSync(join(dir, f))) throw new CheckpointError('TOKENIZER_MISSING', `${dir} has no ${f}`, 'a Marian folder needs source.spm, target.spm and vocab.json (as the opus-mt checkpoints ship them)')
  return new MarianTokenizer({ sourceSpm: await readFile(join(dir, 'source.spm')), targetSpm: await readFile(join(dir, 'target.spm')), vocabJson: await readFile(join(dir, 'vocab.json'), 'utf8'), ...tokenizerConfigJson })
}

/** Writes the model as an HF folder (each file atomically): weights, config with `extra`, and the tokenizer files of `from`. */
export async function saveSeq2Seq(dir: string, m: LoadedSeq2Seq, from: string, extra: HfConfig = {}, o: { weights?: boolean } = {}): Promise<void> {
  if (o.weights !== false) await writeSafetensorsFile(join(dir, 'model.safetensors'), modelTensors(m.model), { format: 'pt' })
  for (const f of TOKENIZER_FILES) if (existsSync(join(from, f)) && from !== dir) await writeFileAtomic(join(dir, f), [await readFile(join(from, f))])
  const out = { ...m.config, ...extra, architectures: [m.model.architecture], model_type: m.family, torch_dtype: 'float32' }
  await writeFileAtomic(join(dir, 'config.json'), `${JSON.stringify(out, null, 2)}\n`)
}
