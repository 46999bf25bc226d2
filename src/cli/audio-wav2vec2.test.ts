// Audio classification with a Hugging Face Wav2Vec2 folder (the tiny CTC fixture: its backbone, a
// new Wav2Vec2ForSequenceClassification head) from the command line: LoRA on q_proj/v_proj with a
// PEFT adapter beside the untouched base, HF's folder layout out, predict/eval from it, an ONNX
// export plain onnxruntime runs with predict's logits, and the frozen method (the backbone
// bit-identical, only projector and classifier train).
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as ort from 'onnxruntime-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../../test/cli.js'
import { openSafetensorsFile } from '../checkpoint/safetensors-node.js'
import { loadAudioFiles } from '../data/audio-data-node.js'
import { encodeWav } from '../data/audio-wav.js'
import { readSpeechCorpus } from '../data/speech-corpus-node.js'

const dir = mkdtempSync(join(tmpdir(), 'ft-cli-audio-w2v-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const base = fileURLToPath(new URL('../../test/fixtures/models/wav2vec2-group-tiny', import.meta.url))
const data = join(dir, 'words')
const WORDS = ['yes', 'no', 'stop']
const files: string[] = []
const common = ['--threads', '1', '--workers', '0']
const train = (out: string, extra: string[]) => runCli(['train', '--task', 'audio-classification', '--model', base, '--data', data, '--validation', data, '--clip-seconds', '0.3', '--batch-size', '9', '--lr', '3e-3', '--schedule', 'constant', '--out', out, '--json', ...common, ...extra])
const tensors = async (file: string): Promise<Map<string, Float32Array>> => {
  const f = await openSafetensorsFile(file)
  const m = new Map<string, Float32Array>()
  for (const k of f.keys()) m.set(k, await f.readAsFloat32(k))
  await f.close()
  return m
}
const same = (a: Float32Array | undefined, b: Float32Array | undefined): boolean => !!a && !!b && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength))

beforeAll(async () => {
  const corpus = await readSpeechCorpus()
  for (const c of corpus.words.filter((w) => WORDS.includes(w.word) && ['en-us', 'en-gb'].includes(w.voice))) {
    mkdirSync(join(data, c.word), { recursive: true })
    const f = join(data, c.word, `${c.voice}-${c.variant}-${files.length}.wav`)
    writeFileSync(f, encodeWav(c.samples, corpus.sampleRate))
    files.push(f)
  }
}, 60_000)

describe('audio classification with a Wav2Vec2 folder', () => {
  const lora = join(dir, 'lora')
  it('LoRA: a new sequence-classification head, a PEFT adapter on q_proj/v_proj, the base weights untouched, an HF folder out', async () => {
    const r = await train(lora, ['--method', 'lora', '--lora-r', '4', '--lora-alpha', '8', '--max-steps', '12', '--eval-every', '100'])
    expect(r.code, r.stderr).toBe(0)
    const res = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>
    expect(res['saved']).toBe('adapter')
    // 2 layers x (q_proj, v_proj) x r x (64 + 64) + projector (64 -> 256) + classifier (256 -> 3)
    expect(res['trainable_parameters']).toBe(2 * 2 * 4 * 128 + (64 * 256 + 256) + (256 * 3 + 3))
    const losses = readFileSync(join(lora, 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; loss: number }).filter((e) => e.type === 'step').map((e) => e.loss)
    expect(losses).toHaveLength(12)
    expect(losses.slice(-3).reduce((a, b) => a + b) / 3).toBeLessThan(losses.slice(0, 3).reduce((a, b) => a + b) / 3)
    const cfg = JSON.parse(readFileSync(join(lora, 'config.json'), 'utf8'))
    expect(cfg).toMatchObject({ finetune_task: 'audio-classification', model_type: 'wav2vec2', architectures: ['Wav2Vec2ForSequenceClassification'], classifier_proj_size: 256, use_weighted_layer_sum: false, id2label: { 0: 'no', 1: 'stop', 2: 'yes' }, finetune_clip: { length: 4800 } })
    expect(JSON.parse(readFileSync(join(lora, 'preprocessor_config.json'), 'utf8'))).toMatchObject({ sampling_rate: 16000, do_normalize: true })
    expect(JSON.parse(readFileSync(join(lora, 'adapter_config.json'), 'utf8'))).toMatchObject({ peft_type: 'LORA', r: 4, target_modules: ['q_proj', 'v_proj'], modules_to_save: ['projector', 'classifier'] })
    expect([...(await tensors(join(lora, 'adapter_model.safetensors'))).keys()]).toContain('base_model.model.wav2vec2.encoder.layers.0.attention.q_proj.lora_A.weight')
    const before = await tensors(join(base, 'model.safetensors'))
    const after = await tensors(join(lora, 'model.safetensors'))
    expect([...after.keys()].some((k) => k.startsWith('lm_head.') || k.includes('lora_'))).toBe(false)
    for (const [k, v] of after) if (k.startsWith('wav2vec2.')) expect(same(v, before.get(k)), k).toBe(true)
  }, 180_000)

  it('predict and eval read the folder and its adapter; the ONNX export gives predict\'s logits in plain onnxruntime', async () => {
    const p = await runCli(['predict', '--model', lora, '--json', ...common, files[0]!, files[9]!])
    expect(p.code, p.stderr).toBe(0)
    const recs = p.stdout.trim().split('\n').map((l) => JSON.parse(l) as { label: string; logits: number[] })
    expect(recs).toHaveLength(2)
    for (const rec of recs) expect(WORDS).toContain(rec.label)
    const e = await runCli(['eval', '--model', lora, '--data', data, '--json', ...common])
    expect(e.code, e.stderr).toBe(0)
    expect(JSON.parse(e.stdout)).toHaveProperty('accuracy')
    const onnx = join(dir, 'kws.onnx')
    const x = await runCli(['export', '--model', lora, '--format', 'onnx', '--out', onnx])
    expect(x.code, x.stderr).toBe(0)
    const sess = await ort.InferenceSession.create(onnx, { intraOpNumThreads: 1 })
    const set = await loadAudioFiles([files[0]!, files[9]!], { sampleRate: 16000, clip: { length: 4800, pad: 'end', crop: 'center' }, workers: 0 })
    const b = (await set.batches(0, { batchSize: 2 })[Symbol.asyncIterator]().next()).value!
    await set.close()
    const out = await sess.run({ audio: new ort.Tensor('float32', b.samples, b.shape) })
    const got = Array.from(out['logits']!.data as Float32Array)
    const want = recs.flatMap((r) => r.logits)
    got.forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 4))
  }, 120_000)

  it('frozen trains only projector and classifier on cached pooled features', async () => {
    const f = join(dir, 'frozen')
    const r = await train(f, ['--method', 'frozen', '--epochs', '3'])
    expect(r.code, r.stderr).toBe(0)
    const before = await tensors(join(base, 'model.safetensors'))
    const after = await tensors(join(f, 'model.safetensors'))
    for (const [k, v] of after) if (k.startsWith('wav2vec2.')) expect(same(v, before.get(k)), k).toBe(true)
    expect([...after.keys()].filter((k) => !k.startsWith('wav2vec2.')).sort()).toEqual(['classifier.bias', 'classifier.weight', 'projector.bias', 'projector.weight'])
  }, 120_000)
})
