// Speech recognition from the command line: a tiny random Wav2Vec2 (group-norm encoder, 50 frames/s,
// SpecAugment time masks of 2 frames)
// trained with CTC on four clips of the synthetic sentence corpus with a vocabulary built from their
// transcripts (--new-vocab); eval (WER, CER, loss), predict (text and frames x vocabulary logits),
// export (an HF folder, and ONNX that plain onnxruntime-node runs with predict's logits), errors.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as ort from 'onnxruntime-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { writeSafetensorsFile } from '../checkpoint/io-node.js'
import { openSafetensorsFile } from '../checkpoint/safetensors-node.js'
import { loadAudioFile } from '../data/audio-decode-node.js'
import { encodeWav } from '../data/audio-wav.js'
import { readSpeechCorpus } from '../data/speech-corpus-node.js'
import { modelTensors } from '../models/pretrained-node.js'
import { Wav2Vec2ForCTC } from '../models/wav2vec2.js'
import { normalizeClip } from '../train/speech.js'
import { evaluateModel, inspectModel } from '../index.js'
import { runCli } from '../../test/cli.js'

const dir = mkdtempSync(join(tmpdir(), 'ft-cli-asr-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const model = join(dir, 'w2v')
const data = join(dir, 'data')
const out = join(dir, 'out')
const clips: { path: string; transcript: string; samples: number }[] = []
const common = ['--threads', '1']
const lines = (s: string) => s.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
let predicted: { path: string; text: string; logits: number[][] }[] = []

beforeAll(async () => {
  // a Wav2Vec2ForPreTraining-like start: backbone weights, no lm_head, no vocab.json
  const config = { model_type: 'wav2vec2', architectures: ['Wav2Vec2ForCTC'], hidden_size: 48, num_hidden_layers: 2, num_attention_heads: 4, intermediate_size: 96, conv_dim: [32, 32, 32, 32], conv_kernel: [10, 8, 8, 8], conv_stride: [5, 4, 4, 4], feat_extract_norm: 'group', num_conv_pos_embeddings: 16, num_conv_pos_embedding_groups: 4, vocab_size: 8, hidden_dropout: 0, activation_dropout: 0, attention_dropout: 0, final_dropout: 0, layerdrop: 0, ctc_loss_reduction: 'mean', mask_time_prob: 0.05, mask_time_length: 2 }
  const m = new Wav2Vec2ForCTC(config, { seed: 1 })
  mkdirSync(model, { recursive: true })
  await writeSafetensorsFile(join(model, 'model.safetensors'), modelTensors(m).filter(([k]) => !k.startsWith('lm_head.')), { format: 'pt' })
  writeFileSync(join(model, 'config.json'), JSON.stringify(config))
  // the four shortest sentences (0.6-0.85 s)
  const corpus = await readSpeechCorpus()
  const short = [...corpus.sentences].sort((a, b) => a.samples.length - b.samples.length).slice(0, 4)
  mkdirSync(join(data, 'clips'), { recursive: true })
  short.forEach((s, i) => {
    const path = `clips/${i}-${s.voice}.wav`
    writeFileSync(join(data, path), encodeWav(s.samples, corpus.sampleRate))
    clips.push({ path, transcript: s.transcript, samples: s.samples.length })
  })
  writeFileSync(join(data, 'train.jsonl'), clips.map((c) => JSON.stringify({ path: c.path, transcript: c.transcript })).join('\n') + '\n')
  writeFileSync(join(data, 'test.csv'), `path,text\n${clips.map((c) => `${c.path},${c.transcript}`).join('\n')}\n`)
}, 60_000)

describe('speech recognition from the command line', () => {
  it('trains Wav2Vec2 with CTC on a new character vocabulary: the loss falls and WER and CER are reported', async () => {
    const r = await runCli(['train', '--task', 'speech-recognition', '--model', model, '--new-vocab', '--data', join(data, 'train.jsonl'), '--validation', join(data, 'train.jsonl'), '--out', out, '--max-steps', '24', '--eval-every', '12', '--batch-size', '4', '--lr', '3e-3', '--schedule', 'constant', '--json', ...common])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toMatch(/new vocabulary: \d+ tokens/)
    const steps = lines(readFileSync(join(out, 'events.jsonl'), 'utf8')).filter((e) => e['type'] === 'step').map((e) => e['loss'] as number)
    expect(steps).toHaveLength(24)
    expect(steps[23]!).toBeLessThan(0.6 * steps[0]!)
    const metrics = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8')) as Record<string, number>
    for (const k of ['wer', 'cer', 'eval_loss']) expect(Number.isFinite(metrics[k]), k).toBe(true)
    expect(metrics['wer']).toBeGreaterThanOrEqual(0)
    const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as Record<string, unknown>
    expect(cfg['finetune_task']).toBe('speech-recognition')
    const vocab = JSON.parse(readFileSync(join(out, 'vocab.json'), 'utf8')) as Record<string, number>
    expect(cfg['vocab_size']).toBe(Object.keys(vocab).length)
    expect(vocab['<pad>']).toBe(0)
    expect(vocab['|']).toBe(4)
    expect(JSON.parse(readFileSync(join(out, 'preprocessor_config.json'), 'utf8'))).toMatchObject({ sampling_rate: 16000, do_normalize: true })
  }, 120_000)

  it('eval reports WER, CER and loss; predict prints a transcript per file and --json the frames x vocabulary logits', async () => {
    const e = await runCli(['eval', '--model', out, '--data', join(data, 'test.csv'), '--json', ...common])
    expect(e.code, e.stderr).toBe(0)
    const m = JSON.parse(e.stdout) as Record<string, number>
    expect(Object.keys(m)).toEqual(expect.arrayContaining(['wer', 'cer', 'eval_loss']))
    const files = clips.slice(0, 2).map((c) => join(data, c.path))
    const p = await runCli(['predict', '--model', out, ...common, ...files])
    expect(p.code, p.stderr).toBe(0)
    expect(p.stdout.trim().split('\n').map((l) => l.split('\t')[0])).toEqual(files)
    const j = await runCli(['predict', '--model', out, '--json', ...common, ...files])
    const recs = lines(j.stdout) as { path: string; text: string; logits: number[][] }[]
    predicted = recs
    const V = Object.keys(JSON.parse(readFileSync(join(out, 'vocab.json'), 'utf8'))).length
    recs.forEach((rec, i) => {
      expect(rec.path).toBe(files[i])
      expect(typeof rec.text).toBe('string')
      // 50 frames/s: floor-divisions of the conv stack
      let n = clips[i]!.samples
      for (const [k, s] of [[10, 5], [8, 4], [8, 4], [8, 4]] as const) n = Math.floor((n - k) / s) + 1
      expect(rec.logits).toHaveLength(n)
      expect(rec.logits.every((row) => row.length === V)).toBe(true)
    })
  }, 120_000)

  it('exports an HF folder and an ONNX file that plain onnxruntime runs with the same logits', async () => {
    const hf = join(dir, 'hf')
    const w = await runCli(['export', '--model', out, '--format', 'safetensors', '--out', hf])
    expect(w.code, w.stderr).toBe(0)
    for (const f of ['config.json', 'vocab.json', 'tokenizer_config.json', 'preprocessor_config.json', 'model.safetensors']) expect(readFileSync(join(hf, f)).equals(readFileSync(join(out, f))), f).toBe(true)
    const info = await inspectModel(hf)
    expect(info.json).toMatchObject({ task: 'speech-recognition', arch: 'Wav2Vec2ForCTC', layers: 2, feat_extract_norm: 'group' })
    expect(Object.keys(info.byModule)).toEqual(['wav2vec2.feature_extractor', 'wav2vec2.feature_projection', 'wav2vec2.encoder', 'wav2vec2.masked_spec_embed', 'lm_head'])
    const c = clips[0]!
    const file = join(data, c.path)
    const onnx = join(dir, 'asr.onnx')
    const ex = await runCli(['export', '--model', out, '--format', 'onnx', '--out', onnx, '--seconds', String(c.samples / 16000)])
    expect(ex.code, ex.stderr).toBe(0)
    const sess = await ort.InferenceSession.create(onnx, { intraOpNumThreads: 1 })
    expect(sess.inputNames).toEqual(['input_values'])
    const x = normalizeClip(await loadAudioFile(file, 16000))
    const res = await sess.run({ input_values: new ort.Tensor('float32', x, [1, x.length]) })
    const got = Array.from(res['logits']!.data as Float32Array)
    const want = predicted[0]!.logits.flat()
    expect(got.length).toBe(want.length)
    const scale = Math.max(...want.map(Math.abs))
    expect(Math.max(...got.map((v, i) => Math.abs(v - want[i]!))) / scale).toBeLessThan(1e-5)
  }, 120_000)

  it('names the file and the fix for transcripts the vocabulary cannot spell and for missing clips', async () => {
    const upper = clips[0]!.transcript.toUpperCase()
    writeFileSync(join(data, 'bad.csv'), `path,transcript\n${clips[0]!.path},${upper}\n`)
    const e = await runCli(['eval', '--model', out, '--data', join(data, 'bad.csv'), ...common])
    expect(e.code).not.toBe(0)
    expect(e.stderr).toContain(`${clips[0]!.path}: transcript "${upper}" has characters the vocabulary lacks: ${[...new Set(upper.replace(/ /g, ''))].map((ch) => `"${ch}"`).join(' ')}`)
    expect(e.stderr).toMatch(/--text-case/)
    const ok = await evaluateModel(out, join(data, 'bad.csv'), { textCase: 'lower', threads: 1 })
    expect(ok.examples).toBe(1)
    writeFileSync(join(data, 'missing.jsonl'), `{"path":"clips/nope.wav","transcript":"go"}\n`)
    const m = await runCli(['eval', '--model', out, '--data', join(data, 'missing.jsonl'), ...common])
    expect(m.code).not.toBe(0)
    expect(m.stderr).toMatch(/nope\.wav.*does not exist/)
  }, 120_000)
})

describe('fine-tuning methods for speech recognition', () => {
  const tensors = async (file: string): Promise<Map<string, Float32Array>> => {
    const f = await openSafetensorsFile(file)
    const m = new Map<string, Float32Array>()
    for (const k of f.keys()) if (f.info(k).dtype !== 'I64') m.set(k, await f.readAsFloat32(k))
    await f.close()
    return m
  }
  const same = (a: Float32Array | undefined, b: Float32Array | undefined): boolean => !!a && !!b && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength))
  const train = (o: string, extra: string[]) => runCli(['train', '--task', 'speech-recognition', '--model', out, '--data', join(data, 'train.jsonl'), '--out', o, '--batch-size', '4', '--lr', '3e-3', '--schedule', 'constant', '--eval-every', '100', '--json', ...common, ...extra])
  const frames = (stdout: string) => lines(stdout).map((r) => (r as { logits: number[][] }).logits.flat())

  it("LoRA adapts Wav2Vec2's q_proj/v_proj: a PEFT adapter beside the untouched base, predict reads it, --merge gives the same logits", async () => {
    const o = join(dir, 'asr-lora')
    const r = await train(o, ['--method', 'lora', '--lora-r', '4', '--lora-alpha', '8', '--max-steps', '6'])
    expect(r.code, r.stderr).toBe(0)
    const res = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>
    expect(res['saved']).toBe('adapter')
    const V = Object.keys(JSON.parse(readFileSync(join(out, 'vocab.json'), 'utf8'))).length
    // 2 layers x (q_proj, v_proj) x r x (in + out) + lm_head in full (modules_to_save)
    expect(res['trainable_parameters']).toBe(2 * 2 * 4 * (48 + 48) + (48 * V + V))
    const conf = JSON.parse(readFileSync(join(o, 'adapter_config.json'), 'utf8')) as Record<string, unknown>
    expect(conf).toMatchObject({ peft_type: 'LORA', r: 4, lora_alpha: 8, target_modules: ['q_proj', 'v_proj'], modules_to_save: ['lm_head'] })
    const adapter = await tensors(join(o, 'adapter_model.safetensors'))
    expect([...adapter.keys()]).toContain('base_model.model.wav2vec2.encoder.layers.1.attention.v_proj.lora_B.weight')
    const before = await tensors(join(out, 'model.safetensors'))
    const after = await tensors(join(o, 'model.safetensors'))
    for (const [k, v] of before) if (!k.startsWith('lm_head.')) expect(same(after.get(k), v), k).toBe(true)
    const files = clips.slice(0, 2).map((c) => join(data, c.path))
    const p = await runCli(['predict', '--model', o, '--json', ...common, ...files])
    expect(p.code, p.stderr).toBe(0)
    const merged = join(dir, 'asr-lora-merged')
    const x = await runCli(['export', '--model', o, '--format', 'safetensors', '--merge', '--out', merged])
    expect(x.code, x.stderr).toBe(0)
    expect([...(await tensors(join(merged, 'model.safetensors'))).keys()].some((k) => k.includes('lora_'))).toBe(false)
    const q = await runCli(['predict', '--model', merged, '--json', ...common, ...files])
    const [a, b] = [frames(p.stdout), frames(q.stdout)]
    a.forEach((row, i) => expect(Math.max(...row.map((v, j) => Math.abs(v - b[i]![j]!)))).toBeLessThan(1e-4))
    // and the adapter moved the logits away from the base model's
    const base = frames((await runCli(['predict', '--model', out, '--json', ...common, ...files])).stdout)
    expect(Math.max(...a[0]!.map((v, j) => Math.abs(v - base[0]![j]!)))).toBeGreaterThan(1e-3)
  }, 180_000)

  it('frozen trains only the CTC head; gradual unfreezing opens the encoder layer by layer and keeps the feature encoder frozen', async () => {
    const before = await tensors(join(out, 'model.safetensors'))
    const f = join(dir, 'asr-frozen')
    const r = await train(f, ['--method', 'frozen', '--max-steps', '3'])
    expect(r.code, r.stderr).toBe(0)
    const frozen = await tensors(join(f, 'model.safetensors'))
    for (const [k, v] of before) expect(same(frozen.get(k), v), k).toBe(!k.startsWith('lm_head.'))
    const g = join(dir, 'asr-gradual')
    // groups: feature encoder (+ projection, positional conv, norm), layer 0, layer 1, head; one more every 2 steps
    const u = await train(g, ['--unfreeze', 'gradual', '--unfreeze-every', '2', '--max-steps', '7'])
    expect(u.code, u.stderr).toBe(0)
    expect(JSON.parse(readFileSync(join(g, 'metrics.json'), 'utf8'))).toMatchObject({ layer_groups: 4 })
    const after = await tensors(join(g, 'model.safetensors'))
    const changed = (prefix: string) => [...before].filter(([k]) => k.startsWith(prefix)).some(([k, v]) => !same(after.get(k), v))
    expect(changed('lm_head.')).toBe(true)
    expect(changed('wav2vec2.encoder.layers.1.')).toBe(true)
    expect(changed('wav2vec2.encoder.layers.0.')).toBe(true)
    // the bottom group opens after step 6, but the conv feature encoder inside it stays frozen (HF's freeze_feature_encoder)
    expect(changed('wav2vec2.feature_projection.')).toBe(true)
    expect(changed('wav2vec2.feature_extractor.')).toBe(false)
  }, 180_000)
})
