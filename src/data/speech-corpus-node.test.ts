// The committed synthetic speech corpus (data/speech/): contents, the ordinary loader on it, and
// openWakeWord's speech embedding on its clips.
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { INT16_SCALE, speechEmbeddingFeatures } from '../models/speech-embedding.js'
import { loadSpeechEmbedding, SpeechEmbeddingReference } from '../models/speech-embedding-node.js'
import { Runtime } from '../runtime/session.js'
import { loadAudioData } from './audio-data-node.js'
import { transformClip } from './audio-transforms.js'
import { readSpeechCorpus, SPEECH_CORPUS_DIR, writeSpeechCorpusFiles, type SpeechCorpus, type SpeechCorpusFiles } from './speech-corpus-node.js'

let corpus: SpeechCorpus
let files: SpeechCorpusFiles
let tmp: string
const ENGLISH = ['en-us', 'en-us-nyc', 'en-gb', 'en-gb-scotland', 'en-gb-x-rp', 'en-gb-x-gbclan', 'en-gb-x-gbcwmd', 'en-029']

beforeAll(async () => {
  corpus = await readSpeechCorpus()
  tmp = await mkdtemp(join(tmpdir(), 'speech-corpus-'))
  files = await writeSpeechCorpusFiles(corpus, tmp, { voices: ['en-us', 'en-gb-scotland', 'de', 'hi'] })
})
afterAll(() => rm(tmp, { recursive: true, force: true }))

describe('speech corpus', () => {
  it('holds the ten words x 16 voices x 3 renditions and 48 sentences, 16 kHz, under 1 s per word', () => {
    expect(corpus.labels).toEqual(['yes', 'no', 'up', 'down', 'left', 'right', 'on', 'off', 'stop', 'go'])
    expect(corpus.words.length).toBe(480)
    const voices = new Set(corpus.words.map((c) => c.voice))
    expect(voices.size).toBe(16)
    for (const v of ENGLISH) expect(voices.has(v)).toBe(true)
    for (const w of corpus.labels) expect(corpus.words.filter((c) => c.word === w).length).toBe(48)
    expect(Math.max(...corpus.words.map((c) => c.samples.length))).toBeLessThan(16000)
    expect(corpus.sentences.length).toBe(48)
    expect(new Set(corpus.sentences.map((c) => c.transcript)).size).toBe(16)
  })

  it('holds an accents part: the ten words x 7 voices the words part lacks x 3 renditions', () => {
    expect(corpus.accents.length).toBe(210)
    const voices = new Set(corpus.accents.map((c) => c.voice))
    expect([...voices].sort()).toEqual(['et', 'fi', 'id', 'nl', 'ro', 'sw', 'tr'])
    for (const v of voices) expect(corpus.words.some((c) => c.voice === v)).toBe(false)
    for (const w of corpus.labels) expect(corpus.accents.filter((c) => c.word === w).length).toBe(21)
    expect(Math.max(...corpus.accents.map((c) => c.samples.length))).toBeLessThan(16000)
    expect(Math.min(...corpus.accents.map((c) => c.samples.length))).toBeGreaterThan(1600) // trimmed speech plus 0.1 s of padding
  })

  it('reads a corpus written before the accents part as one without it', async () => {
    const old = await mkdtemp(join(tmpdir(), 'speech-corpus-old-'))
    try {
      const m = JSON.parse(await readFile(join(SPEECH_CORPUS_DIR, 'manifest.json'), 'utf8')) as Record<string, unknown>
      delete m['accents']
      await writeFile(join(old, 'manifest.json'), JSON.stringify(m))
      for (const f of ['words.flac', 'sentences.flac']) await copyFile(join(SPEECH_CORPUS_DIR, f), join(old, f))
      const c = await readSpeechCorpus(old)
      expect(c.accents).toEqual([])
      expect(c.words.length).toBe(480)
    } finally {
      await rm(old, { recursive: true, force: true })
    }
  })

  it('written out, it loads through loadAudioData as class folders, a CSV and a JSONL of transcripts', async () => {
    const folder = await loadAudioData({ data: files.wordsDir, validationFraction: 0.25, workers: 2, seed: 1 })
    const csv = await loadAudioData({ data: files.wordsCsv, validationFraction: 0, workers: 0 })
    const text = await loadAudioData({ data: files.sentencesJsonl, clip: { seconds: 2.5 }, validationFraction: 0, workers: 0 })
    try {
      expect(folder.numLabels).toBe(10)
      expect(folder.train.length + folder.validation!.length).toBe(120)
      expect(csv.labels.id2label[0]).toBe('down') // sorted names
      let n = 0
      for await (const b of folder.train.batches(0, 0, { batchSize: 32, train: true })) {
        expect(b.shape[1]).toBe(16000)
        n += b.shape[0]
      }
      expect(n).toBe(90)
      const first = (await csv.train.batches(0, 0, { batchSize: 4, train: false }).next()).value!
      expect(first.labels[0]).toBe(BigInt(csv.labels.label2id['yes']!))
      expect(text.target).toBe('transcript')
      const s = (await text.train.batches(0, 0, { batchSize: 4, train: false }).next()).value!
      expect(s.shape).toEqual([4, 40000])
      expect(s.transcripts[0]).toBe(corpus.sentences.find((c) => ['en-us', 'en-gb-scotland', 'de', 'hi'].includes(c.voice))!.transcript)
    } finally {
      await Promise.all([folder.close(), csv.close(), text.close()])
    }
  })

  it("the traced speech embedding matches openWakeWord's pipeline on real clips (1e-5 of the largest value)", async () => {
    const picks = [0, 57, 233, 401].map((i) => corpus.words[i]!)
    const N = 16000
    const clips = new Float32Array(picks.length * N)
    picks.forEach((c, i) => clips.set(transformClip(c.samples, 16000, { sampleRate: 16000, length: N, pad: 'center', crop: 'center', trainCrop: 'center' }).map((v) => v * INT16_SCALE), i * N))
    const got = await speechEmbeddingFeatures(loadSpeechEmbedding(), new Runtime({ threads: 1 }), clips, [picks.length, N])
    expect(got.shape).toEqual([4, 3, 96])
    const ref = await SpeechEmbeddingReference.open()
    try {
      let diff = 0
      let scale = 0
      for (let i = 0; i < picks.length; i++) {
        const want = (await ref.embeddings(clips.subarray(i * N, (i + 1) * N))).embeddings
        for (let j = 0; j < want.length; j++) {
          scale = Math.max(scale, Math.abs(want[j]!))
          diff = Math.max(diff, Math.abs(got.embeddings[i * 288 + j]! - want[j]!))
        }
      }
      expect(diff / scale).toBeLessThan(1e-5)
    } finally {
      await ref.release()
    }
  })
})
