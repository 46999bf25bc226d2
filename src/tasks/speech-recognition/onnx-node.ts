/**
 * `speech-recognition` with an imported ONNX graph (src/models/onnx-ctc.ts): the head choice at
 * train time, the ONNX export (raw audio -> logits, normalisation inside the graph) and inspect.
 */
import { readdirSync, statSync } from 'node:fs'
import { ConfigError } from '../../errors.js'
import { exportInferenceOnnx } from '../../export/onnx.js'
import { attachCtcHead, headFromGraph, type OnnxCtcFolder } from '../../models/onnx-ctc-node.js'

/**
 * Where the CTC logits come from in training: the graph's own output while the vocabulary fits it,
 * a new head on the cut for --features or a new vocabulary, the graph's final MatMul copied into a
 * head for head-only training (--method frozen). Returns the lines to log.
 */
export function chooseOnnxHead(ck: OnnxCtcFolder, o: { features: string | undefined; newVocab: boolean; method: string; seed: number }): string[] {
  const m = ck.model
  const log = [`graph: ${ck.file}, input ${m.contract.input} (${m.contract.layout}), logits "${m.graph.outputs[0]!.name}" ${m.outputLayout} x ${ck.model.graph.outputs[0]!.shape.at(-1)}; frames per clip: ${m.frameRule.why}`]
  if (m._head) return log // a trained folder keeps its head
  if (o.features !== undefined || o.newVocab) return [...log, attachCtcHead(ck, o.features, o.seed)]
  if (o.method === 'frozen') {
    if (!headFromGraph(ck)) throw new ConfigError('METHOD_COMBINATION', `--method frozen trains only a CTC head, and ${ck.file} does not end in a MatMul/Gemm whose weights could become one`, 'pass --features NAME to train a new head on that value, or use --method full or lora')
    return [...log, `head: the graph's final MatMul on "${m.cut!.name}" as finetune_head (${m.featureSize} -> ${m.c.vocab_size}), its weights copied; the rest stays frozen`]
  }
  return [...log, `head: the graph's own logits (vocabulary of ${ck.vocab.size} from ${ck.vocabFile})`]
}

/**
 * A static-shape ONNX file: raw samples [B, N] -> logits [B, T, V]. Where the model normalises clips
 * (do_normalize) or its graph reads an attention mask (return_attention_mask), the file also takes
 * `attention_mask` [B, N] int64, 1 on each clip's samples and 0 on the padding after them (Hugging
 * Face's processor output): each clip is then normalised over its own samples and padded with
 * padding_value, as training prepares it, and the graph's mask marks the same samples.
 */
export function exportOnnxCtc(ck: OnnxCtcFolder, o: { batchSize: number; samples: number; dynamicBatch: boolean; task: string }): { bytes: Uint8Array; inputs: Record<string, number[]> } {
  const m = ck.model
  const p = ck.preprocessor
  const B = o.batchSize
  const N = o.samples
  if (m.contract.fixed !== null && N !== m.contract.fixed) throw new ConfigError('EXPORT_SHAPE', `${ck.file} takes exactly ${m.contract.fixed} samples; --seconds gives ${N}`, `pass --seconds ${m.contract.fixed / p.sampling_rate}`)
  const masked = p.do_normalize || m.takesInputLengths
  const bytes = exportInferenceOnnx({
    dynamicBatch: o.dynamicBatch,
    model: m,
    inputs: { input_values: { shape: [B, N], dtype: 'float32' }, ...(masked ? { attention_mask: { shape: [B, N], dtype: 'int64' as const } } : {}) },
    forward: (i) => {
      let x = i['input_values']!
      if (!masked) return { logits: m.logits(x) }
      const mask = i['attention_mask']!.cast('float32') // (B, N)
      const lengths = mask.sum(1, true) // (B, 1)
      if (p.do_normalize) {
        // Wav2Vec2FeatureExtractor's zero_mean_unit_var_norm over each clip's own samples, as training applies it
        const count = lengths.maximum(1)
        const centred = x.sub(x.mul(mask).sum(1, true).div(count)).mul(mask)
        x = centred.div(centred.square().sum(1, true).div(count).add(1e-7).sqrt()) // (B, N), 0 on the padding
      } else x = x.mul(mask)
      if (p.padding_value) x = x.add(mask.neg().add(1).mul(p.padding_value))
      return { logits: m.logits(x, null, null, m.takesInputLengths ? lengths.squeeze(1).cast('int64') : null) }
    },
    metadata: {
      task: o.task, arch: 'onnx', source: 'onnx', onnx_source_file: String(ck.config['onnx_source_file'] ?? ck.file), sampling_rate: String(p.sampling_rate),
      input: `input_values: ${B} x ${N} mono samples at ${p.sampling_rate} Hz${masked ? `; attention_mask: ${B} x ${N}, 1 on each clip's samples and 0 on the padding after them${p.do_normalize ? ' (each clip is normalised to zero mean and unit variance over its own samples inside the graph)' : ''}` : '; pad shorter clips with zeros'}`,
      vocab: JSON.stringify(ck.vocab.tokens), blank: String(ck.vocab.pad), word_delimiter: ck.vocab.wordDelimiter,
    },
  })
  return { bytes, inputs: { input_values: [B, N], ...(masked ? { attention_mask: [B, N] } : {}) } }
}

/** inspect's facts about an imported CTC model. */
export function inspectOnnxCtc(model: string, ck: OnnxCtcFolder, task: string): { json: Record<string, unknown>; byModule: Record<string, number>; rows: [string, string][] } {
  const m = ck.model
  const byModule: Record<string, number> = {}
  for (const [n, p] of m.namedParameters()) if (p.kind === 'param') {
    const k = m.headPrefixes.find((h) => n.startsWith(`${h}.`)) ?? m.blockOf(n) ?? (n.startsWith('onnx::') ? (m.scopeOf(n) ?? n) : n).split('.').slice(0, 2).join('.')
    byModule[k] = (byModule[k] ?? 0) + p.data.length
  }
  const sr = ck.preprocessor.sampling_rate
  const cut = m.cut
  const json = { path: model, task, arch: 'onnx', source: 'onnx', file: ck.file, parameters: m.countParameters(), input: m.contract, output_layout: m.outputLayout, features: cut?.name ?? null, features_why: cut?.why ?? null, head: m.headPrefixes, vocab: ck.vocab.tokens, preprocessing: ck.preprocessor, frame_rule: m.frameRule, frames_per_second: m.frames(sr * 10) / 10, byModule, files: statSync(model).isDirectory() ? readdirSync(model).sort() : [model] }
  return {
    json,
    byModule,
    rows: [
      ['model', model],
      ['task', task],
      ['graph', `${ck.file}; input ${m.contract.input} (${m.contract.layout}), logits ${m.outputLayout}`],
      ['head', cut ? `finetune_head on ${cut.name} (${cut.why}): ${m.featureSize} -> ${m.c.vocab_size}` : `the graph's own logits (${m.c.vocab_size} per frame)`],
      ['parameters', json.parameters.toLocaleString()],
      ['vocabulary', `${ck.vocab.size}: ${ck.vocab.tokens.join(' ')}`],
      ['audio', `${sr} Hz, ${ck.preprocessor.do_normalize ? 'normalised per clip' : 'not normalised'}, ${json.frames_per_second} frames/s (${m.frameRule.why})`],
    ],
  }
}
