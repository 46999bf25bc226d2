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
