// Audio classification from the command line on clips of the synthetic speech corpus (data/speech):
// the pre-trained speech embedding with --method frozen (the backbone untouched; predict's logits
// are the head applied to openWakeWord's own embeddings), full fine-tuning with gradual unfreezing,
// eval, predict --json, an ONNX export run by onnxruntime-node itself, inspect, and the errors for
// a clip too short for the model and a label the model does not know.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as ort from 'onnxruntime-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../../test/cli.js'
import { openSafetensorsFile } from '../checkpoint/safetensors-node.js'
import { loadAudioFiles } from '../data/audio-data-node.js'
import { encodeWav } from '../data/audio-wav.js'
import { readSpeechCorpus } from '../data/speech-corpus-node.js'
import { loadSpeechEmbedding, SpeechEmbeddingReference } from '../models/speech-embedding-node.js'
import { INT16_SCALE } from '../models/speech-embedding.js'
import { evaluateModel, FinetuneError, taskDefaults, train } from '../index.js'

const dir = mkdtempSync(join(tmpdir(), 'ft-cli-audio-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const data = join(dir, 'words')
const frozen = join(dir, 'frozen')
const common = ['--threads', '1', '--workers', '0']
const WORDS = ['yes', 'no', 'stop']
const files: string[] = []

beforeAll(async () => {
  // three words by two voices, three renditions each: 18 clips
  const corpus = await readSpeechCorpus()
  for (const c of corpus.words.filter((w) => WORDS.includes(w.word) && ['en-us', 'en-gb'].includes(w.voice))) {
    mkdirSync(join(data, c.word), { recursive: true })
    const f = join(data, c.word, `${c.voice}-${c.variant}-${files.length}.wav`)
    writeFileSync(f, encodeWav(c.samples, corpus.sampleRate))
    files.push(f)
  }
}, 60_000)

const lastJson = (s: string) => JSON.parse(s.trim().split('\n').pop()!) as Record<string, unknown>

describe('audio classification from the command line', () => {
  it('frozen: the head learns on cached embeddings; the backbone is bit-identical; predict = the head on openWakeWord\'s embeddings', async () => {
    const r = await runCli(['train', '--task', 'audio-classification', '--model', 'speech-embedding', '--data', data, '--validation', data, '--method', 'frozen', '--epochs', '40', '--lr', '1e-2', '--batch-size', '18', '--out', frozen, '--json', ...common])
    expect(r.code, r.stderr).toBe(0)
    const res = lastJson(r.stdout) as { metrics: Record<string, number>; labels: string[] }
    expect(res.labels).toEqual(['no', 'stop', 'yes'])
    expect(res.metrics['accuracy']).toBeGreaterThanOrEqual(0.9)
    const cfg = JSON.parse(readFileSync(join(frozen, 'config.json'), 'utf8'))
    expect(cfg).toMatchObject({ finetune_task: 'audio-classification', model_type: 'speech-embedding', id2label: { 0: 'no', 1: 'stop', 2: 'yes' }, finetune_clip: { sampleRate: 16000, length: 16000, pad: 'center', crop: 'center' } })
    // the backbone's weights under the ONNX initializer names, untouched by the frozen method
    const st = await openSafetensorsFile(join(frozen, 'model.safetensors'))
    const base = loadSpeechEmbedding()
    const names = base.namedParameters()
    expect(st.keys().sort()).toEqual([...names.map(([n]) => n), 'feature_norm.mean', 'feature_norm.std', 'classifier.weight', 'classifier.bias'].sort())
    for (const [n, p] of names) expect(Buffer.from((await st.readAsFloat32(n)).buffer).equals(Buffer.from(p.data.buffer)), n).toBe(true)
    const W = await st.readAsFloat32('classifier.weight')
    const b = await st.readAsFloat32('classifier.bias')
    // standardisation adapted on the training clips' embeddings: no longer the identity
    const mu = await st.readAsFloat32('feature_norm.mean')
    const sd = await st.readAsFloat32('feature_norm.std')
    expect(Math.max(...Array.from(mu, Math.abs))).toBeGreaterThan(1)
    await st.close()

    const p = await runCli(['predict', '--model', frozen, '--json', ...common, files[0]!, files[9]!])
    expect(p.code, p.stderr).toBe(0)
    const preds = p.stdout.trim().split('\n').map((l) => JSON.parse(l) as { path: string; label: string; logits: number[] })
    expect(preds.map((x) => x.path)).toEqual([files[0], files[9]])
    // the same clips (centred in 1 s) through openWakeWord's pipeline on the original ONNX files, mean over windows, standardised, then the head
    const ref = await SpeechEmbeddingReference.open()
    const set = await loadAudioFiles([files[0]!, files[9]!], { clip: { length: 16000, pad: 'center' }, workers: 0 })
    let k = 0
    for await (const batch of set.batches(0, { batchSize: 1 })) {
      const e = await ref.embeddings(batch.samples.map((v) => v * INT16_SCALE))
      const f = Array.from({ length: 96 }, (_, j) => (Array.from({ length: e.windows }, (_, w) => e.embeddings[w * 96 + j]!).reduce((a, v) => a + v, 0) / e.windows - mu[j]!) / sd[j]!)
      const want = Array.from({ length: 3 }, (_, c) => b[c]! + f.reduce((a, v, j) => a + v * W[c * 96 + j]!, 0))
      want.forEach((v, c) => expect(preds[k]!.logits[c]).toBeCloseTo(v, 3))
      k++
    }
    await set.close()
    await ref.release()
    expect(k).toBe(2)
  })

  it('eval, export (ONNX run by onnxruntime-node: audio in, logits out) and inspect take the folder back', async () => {
    const e = await runCli(['eval', '--model', frozen, '--data', data, '--json', ...common])
    expect(e.code, e.stderr).toBe(0)
    expect(JSON.parse(e.stdout).accuracy).toBeGreaterThanOrEqual(0.9)
    const onnx = join(dir, 'kws.onnx')
    const x = await runCli(['export', '--model', frozen, '--format', 'onnx', '--out', onnx])
    expect(x.code, x.stderr).toBe(0)
    const p = lastJson((await runCli(['predict', '--model', frozen, '--json', ...common, files[4]!])).stdout) as { logits: number[] }
    const sess = await ort.InferenceSession.create(onnx)
    expect(sess.inputNames).toEqual(['audio'])
    const set = await loadAudioFiles([files[4]!], { clip: { length: 16000, pad: 'center' }, workers: 0 })
    for await (const batch of set.batches(0, { batchSize: 1 })) {
      const out = await sess.run({ audio: new ort.Tensor('float32', batch.samples, [1, 16000]) })
      Array.from(out['logits']!.data as Float32Array).forEach((v, i) => expect(v).toBeCloseTo(p.logits[i]!, 4))
    }
    await set.close()
    const info = JSON.parse((await runCli(['inspect', frozen, '--json'])).stdout)
    expect(info).toMatchObject({ task: 'audio-classification', model_type: 'speech-embedding', labels: ['no', 'stop', 'yes'], featureSize: 96 })
  })

  it('full fine-tuning with gradual unfreezing trains the top stage first and leaves lower stages for later', async () => {
    const out = join(dir, 'gradual')
    const r = await runCli(['train', '--task', 'audio-classification', '--model', 'speech-embedding', '--data', data, '--validation-split', '0', '--method', 'full', '--unfreeze', 'gradual', '--unfreeze-every', '1', '--max-steps', '2', '--batch-size', '6', '--lr', '1e-3', '--no-augment', '--out', out, '--json', ...common])
    expect(r.code, r.stderr).toBe(0)
    const st = await openSafetensorsFile(join(out, 'model.safetensors'))
    const same = async (n: string, p: Float32Array) => Buffer.from((await st.readAsFloat32(n)).buffer).equals(Buffer.from(p.buffer))
    const base = new Map(loadSpeechEmbedding().namedParameters())
    // step 1 trains the head, step 2 the head and stage 5 (conv2d_15..19); stage 1 never
    expect(await same('model/conv2d_19/Conv2D/ReadVariableOp:0', base.get('model/conv2d_19/Conv2D/ReadVariableOp:0')!.data)).toBe(false)
    expect(await same('model/conv2d/Conv2D_weights_fused_bn', base.get('model/conv2d/Conv2D_weights_fused_bn')!.data)).toBe(true)
    await st.close()
  })

  it('refuses a clip too short for the model and a label the model does not know, naming what to do', async () => {
    const o = { ...taskDefaults('audio-classification'), task: 'audio-classification', model: 'speech-embedding', data, out: join(dir, 'short'), workers: 0, threads: 1 }
    const short = await train({ ...o, clipSeconds: 0.5 } as never).catch((e: unknown) => e)
    expect(short).toBeInstanceOf(FinetuneError)
    expect((short as FinetuneError).code).toBe('CONFIG_CLIP_TOO_SHORT')
    expect((short as FinetuneError).message).toMatch(/--clip-seconds 0.5 gives clips of 8000 samples; speech-embedding needs at least 12512/)
    expect((short as FinetuneError).hint).toMatch(/--clip-seconds 0.79 or more/)
    const csv = join(dir, 'other.csv')
    writeFileSync(csv, `path,label\n${files[0]},yes\n${files[1]},maybe\n`)
    const bad = await evaluateModel(frozen, csv, { workers: 0, threads: 1 } as never).catch((e: unknown) => e)
    expect(bad).toBeInstanceOf(FinetuneError)
    expect((bad as FinetuneError).message).toMatch(/other\.csv:3: unknown label "maybe"; the label list has "no", "stop", "yes"/)
    const cli = await runCli(['eval', '--model', frozen, '--data', csv, ...common])
    expect(cli.code).not.toBe(0)
    expect(cli.stderr).toMatch(/maybe/)
  })
})
