/** ONNX models made by the project itself, laid out as Transformers.js publishes them. */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { exportInferenceOnnx } from '../src/export/onnx.js'
import type { TextInputs } from '../src/models/hf.js'
import { loadTextCheckpoint, saveTextCheckpoint } from '../src/models/pretrained-node.js'
import { tinyBert } from './text-fixtures.js'

/**
 * A tiny random BertForSequenceClassification (labels negative, positive) exported to ONNX with
 * static [batch, seq] inputs, in a Transformers.js-layout folder: config.json, tokenizer.json,
 * onnx/model.onnx. `hf` (a scratch folder) receives the same model as a Hugging Face folder.
 */
export async function transformersJsBert(dir: string, hf: string, o: { batch?: number; seq?: number } = {}): Promise<string> {
  await tinyBert(join(hf, 'base'))
  const m = await loadTextCheckpoint(join(hf, 'base'), { task: 'sequence-classification', labels: { names: ['negative', 'positive'], problemType: 'single_label_classification' }, seed: 3 })
  await saveTextCheckpoint(hf, m.model, m.tokenizer, m.config)
  const [B, T] = [o.batch ?? 4, o.seq ?? 16]
  const inputs = { input_ids: { shape: [B, T], dtype: 'int64' as const }, attention_mask: { shape: [B, T], dtype: 'int64' as const }, token_type_ids: { shape: [B, T], dtype: 'int64' as const } }
  const bytes = exportInferenceOnnx({
    model: m.model,
    inputs,
    forward: (i) => {
      const x: TextInputs = { input_ids: i['input_ids']!, attention_mask: i['attention_mask']!, token_type_ids: i['token_type_ids']! }
      return { logits: m.model.logits(x) }
    },
  })
  mkdirSync(join(dir, 'onnx'), { recursive: true })
  writeFileSync(join(dir, 'onnx', 'model.onnx'), bytes)
  const config: Record<string, unknown> = { ...m.config, architectures: ['BertForSequenceClassification'], model_type: 'bert' }
  delete config['finetune_init']
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2))
  for (const [name, text] of Object.entries(m.tokenizer.toFiles())) writeFileSync(join(dir, name), text)
  return dir
}
