/**
 * Node-only: writes a new, randomly initialised text model (config.json, model.safetensors and
 * tokenizer files) as a Hugging Face folder, for training from scratch or as a test fixture.
 * Its config.json records `"finetune_init": "random"` so nobody mistakes it for a pre-trained model.
 */
import { mkdir } from 'node:fs/promises'
import type { HfConfig } from './hf.js'
import { saveTextCheckpoint } from './pretrained-node.js'
import { textFamily } from './registry.js'
import type { Tokenizer } from '../tokenizers/index.js'

export interface InitTextOptions {
  family: string
  /** config.json fields; vocab_size and pad_token_id are taken from the tokenizer when absent. */
  config: HfConfig
  tokenizer: Tokenizer
  seed?: number
}

export async function initTextCheckpoint(dir: string, o: InitTextOptions): Promise<void> {
  const config: HfConfig = { model_type: o.family, vocab_size: o.tokenizer.vocabSize, ...(o.tokenizer.padId !== undefined ? { pad_token_id: o.tokenizer.padId } : {}), ...o.config, finetune_init: 'random' }
  const model = textFamily(o.family).build(config, 'base', 'config.json', o.seed ?? 0)
  model.nameParameters()
  await mkdir(dir, { recursive: true })
  await saveTextCheckpoint(dir, model, o.tokenizer, config)
}
