// DeepSpeech-style recognition from the command line, from scratch: the built-in deepspeech-small
// config trains a step on a crop of a synthetic sentence clip, and a tiny config-only
// folder (one bidirectional GRU layer of 32) trains, evals (WER, CER, loss), predicts (text and
// frames x vocabulary logits), exports an HF-style folder and ONNX that plain onnxruntime-node runs
// with predict's logits on a zero-padded clip given its input_lengths; errors name the fix.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as ort from 'onnxruntime-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadAudioFile } from '../data/audio-decode-node.js'
import { encodeWav } from '../data/audio-wav.js'
import { readSpeechCorpus } from '../data/speech-corpus-node.js'
import { normalizeClip } from '../train/speech.js'
import { inspectModel } from '../index.js'
import { runCli } from '../../test/cli.js'

const dir = mkdtempSync(join(tmpdir(), 'ft-cli-ds-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const tiny = join(dir, 'ds-tiny')
const data = join(dir, 'data')
const out = join(dir, 'out')
const clips: { path: string; transcript: string; samples: number }[] = []
const common = ['--threads', '1']
const lines = (s: string) => s.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
let predicted: { path: string; text: string; logits: number[][] }[] = []

beforeAll(async () => {
  mkdirSync(tiny, { recursive: true })
  writeFileSync(join(tiny, 'config.json'), JSON.stringify({ model_type: 'deepspeech', n_mels: 20, conv_channels: [8], conv_kernel_freq: [5], conv_kernel_time: [5], conv_stride_freq: [2], conv_stride_time: [2], rnn_type: 'gru', rnn_hidden_size: 32, rnn_layers: 1 }))
  const corpus = await readSpeechCorpus()
  const short = [...corpus.sentences].sort((a, b) => a.samples.length - b.samples.length).slice(0, 4)
  mkdirSync(join(data, 'clips'), { recursive: true })
  short.forEach((s, i) => {
    const path = `clips/${i}-${s.voice}.wav`
    writeFileSync(join(data, path), encodeWav(s.samples, corpus.sampleRate))
    clips.push({ path, transcript: s.transcript, samples: s.samples.length })
  })
  writeFileSync(join(data, 'train.jsonl'), clips.map((c) => JSON.stringify({ path: c.path, transcript: c.transcript })).join('\n') + '\n')
  // the built-in model's check: two 0.3 s crops keep its unrolled graph short (14 steps)
  writeFileSync(join(data, 'crop.wav'), encodeWav(short[0]!.samples.subarray(0, 4800), corpus.sampleRate))
  writeFileSync(join(data, 'crop.jsonl'), `${JSON.stringify({ path: 'crop.wav', transcript: 'go' })}\n${JSON.stringify({ path: 'crop.wav', transcript: 'no' })}\n`)
  writeFileSync(join(data, 'test.csv'), `path,text\n${clips.map((c) => `${c.path},${c.transcript}`).join('\n')}\n`)
}, 60_000)

describe('DeepSpeech speech recognition from the command line', () => {
  it('the built-in deepspeech-small trains from scratch with a vocabulary built from the transcripts', async () => {
    const o = join(dir, 'small')
    const r = await runCli(['train', '--task', 'speech-recognition', '--model', 'deepspeech-small', '--data', join(data, 'crop.jsonl'), '--out', o, '--max-steps', '1', '--validation-split', '0', '--batch-size', '2', '--lr', '1e-3', '--json', ...common])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toMatch(/new vocabulary: \d+ tokens/)
    const cfg = JSON.parse(readFileSync(join(o, 'config.json'), 'utf8')) as Record<string, unknown>
    expect(cfg).toMatchObject({ model_type: 'deepspeech', architectures: ['DeepSpeechForCTC'], rnn_type: 'gru', rnn_hidden_size: 128, rnn_layers: 2, finetune_task: 'speech-recognition' })
    const steps = lines(readFileSync(join(o, 'events.jsonl'), 'utf8')).filter((e) => e['type'] === 'step')
    expect(steps.every((e) => Number.isFinite(e['loss']))).toBe(true)
  }, 120_000)

  it('a config-only folder trains: the loss falls and WER and CER are reported', async () => {
    const r = await runCli(['train', '--task', 'speech-recognition', '--model', tiny, '--data', join(data, 'train.jsonl'), '--validation', join(data, 'train.jsonl'), '--out', out, '--max-steps', '20', '--eval-every', '20', '--batch-size', '4', '--lr', '3e-3', '--schedule', 'constant', '--json', ...common])
    expect(r.code, r.stderr).toBe(0)
    const steps = lines(readFileSync(join(out, 'events.jsonl'), 'utf8')).filter((e) => e['type'] === 'step').map((e) => e['loss'] as number)
    expect(steps).toHaveLength(20)
    expect(steps[19]!).toBeLessThan(0.7 * steps[0]!)
    const metrics = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8')) as Record<string, number>
    for (const k of ['wer', 'cer', 'eval_loss']) expect(Number.isFinite(metrics[k]), k).toBe(true)
    const vocab = JSON.parse(readFileSync(join(out, 'vocab.json'), 'utf8')) as Record<string, number>
    expect(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'))).toMatchObject({ vocab_size: Object.keys(vocab).length, pad_token_id: 0, rnn_hidden_size: 32 })
  }, 120_000)

  it('eval reports WER, CER and loss; predict prints a transcript per file and --json the frames x vocabulary logits', async () => {
    const e = await runCli(['eval', '--model', out, '--data', join(data, 'test.csv'), '--json', ...common])
    expect(e.code, e.stderr).toBe(0)
    expect(Object.keys(JSON.parse(e.stdout) as object)).toEqual(expect.arrayContaining(['wer', 'cer', 'eval_loss']))
    const files = clips.slice(0, 2).map((c) => join(data, c.path))
    const j = await runCli(['predict', '--model', out, '--json', ...common, ...files])
    expect(j.code, j.stderr).toBe(0)
    predicted = lines(j.stdout) as typeof predicted
    const V = Object.keys(JSON.parse(readFileSync(join(out, 'vocab.json'), 'utf8'))).length
    predicted.forEach((rec, i) => {
      expect(rec.path).toBe(files[i])
      expect(typeof rec.text).toBe('string')
      // 25 ms windows every 10 ms, then a conv with stride 2 in time (kernel 5, padding 2)
      const mel = Math.floor((clips[i]!.samples - 400) / 160) + 1
      expect(rec.logits).toHaveLength(Math.floor((mel - 1) / 2) + 1)
      expect(rec.logits.every((row) => row.length === V)).toBe(true)
    })
  }, 120_000)

  it('a trained folder is the start of further training on other clips (adaptation): its weights and vocabulary are kept', async () => {
    // other clips (the 0.3 s crops: a short unrolled graph), as adapting to new voices gives the
    // folder new data; at lr 0 the step changes nothing, so the continued folder is the trained one
    const o = join(dir, 'continued')
    const r = await runCli(['train', '--task', 'speech-recognition', '--model', out, '--data', join(data, 'crop.jsonl'), '--out', o, '--max-steps', '1', '--validation-split', '0', '--batch-size', '2', '--lr', '0', '--json', ...common])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).not.toMatch(/new vocabulary/)
    expect(readFileSync(join(o, 'vocab.json'), 'utf8')).toBe(readFileSync(join(out, 'vocab.json'), 'utf8'))
    for (const f of ['model.safetensors', 'config.json']) expect(readFileSync(join(o, f)).equals(readFileSync(join(out, f))), f).toBe(true)
  }, 120_000)

  it('exports an HF-style folder and an ONNX file that plain onnxruntime runs with the same logits, padded or not', async () => {
    const hf = join(dir, 'hf')
    const w = await runCli(['export', '--model', out, '--format', 'safetensors', '--out', hf])
    expect(w.code, w.stderr).toBe(0)
    for (const f of ['config.json', 'vocab.json', 'preprocessor_config.json', 'model.safetensors']) expect(readFileSync(join(hf, f)).equals(readFileSync(join(out, f))), f).toBe(true)
    const info = await inspectModel(hf)
    expect(info.json).toMatchObject({ task: 'speech-recognition', arch: 'DeepSpeechForCTC', rnn_type: 'gru', layers: 1 })
    expect(Object.keys(info.byModule)).toEqual(['conv', 'rnn', 'lm_head'])
    const c = clips[0]!
    const longest = Math.max(...clips.map((x) => x.samples))
    const onnx = join(dir, 'ds.onnx')
    const ex = await runCli(['export', '--model', out, '--format', 'onnx', '--out', onnx, '--seconds', String(longest / 16000)])
    expect(ex.code, ex.stderr).toBe(0)
    const sess = await ort.InferenceSession.create(onnx, { intraOpNumThreads: 1 })
    expect(sess.inputNames).toEqual(['input_values', 'input_lengths'])
    const x = normalizeClip(await loadAudioFile(join(data, c.path), 16000))
    const padded = new Float32Array(longest)
    padded.set(x)
    const res = await sess.run({ input_values: new ort.Tensor('float32', padded, [1, longest]), input_lengths: new ort.Tensor('int64', BigInt64Array.from([BigInt(x.length)]), [1]) })
    const want = predicted[0]!.logits.flat()
    const got = Array.from(res['logits']!.data as Float32Array).slice(0, want.length)
    const scale = Math.max(...want.map(Math.abs))
    expect(Math.max(...got.map((v, i) => Math.abs(v - want[i]!))) / scale).toBeLessThan(1e-5)
  }, 120_000)

  it('names the fix for a model without trained weights', async () => {
    const p = await runCli(['predict', '--task', 'speech-recognition', '--model', tiny, join(data, clips[0]!.path), ...common])
    expect(p.code).not.toBe(0)
    expect(p.stderr).toMatch(/without trained weights[\s\S]*finetune train --task speech-recognition/)
  }, 120_000)
})
