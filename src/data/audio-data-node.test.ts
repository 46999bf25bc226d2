// loadAudioData: layouts, batches from worker threads equal to in-process ones, bad files.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { maxAbsDiff, tones } from '../../test/audio-fixtures.js'
import { loadAudioData, loadAudioFiles } from './audio-data-node.js'
import type { AudioBatch, AudioDataset } from './audio-dataset.js'
import { transformClip } from './audio-transforms.js'
import { encodeWav } from './audio-wav.js'
import { DataRowError } from './errors.js'
import { DataError } from '../errors.js'

let root: string
const words = ['down', 'go', 'up']

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'audio-data-'))
  // class folders: 4 clips per word, mixed rates, lengths and channels
  for (const [w, word] of words.entries()) {
    await mkdir(join(root, 'folder', word), { recursive: true })
    for (let k = 0; k < 4; k++) {
      const rate = [16000, 22050, 8000, 44100][k]!
      const n = Math.round(rate * (0.5 + 0.3 * k))
      const x = tones([200 + 100 * w + 10 * k], rate, n, 0.3)
      await writeFile(join(root, 'folder', word, `${k}.wav`), encodeWav(k === 3 ? [x, x] : x, rate))
    }
  }
  await writeFile(join(root, 'folder', 'up', 'notes.txt'), 'not audio')
  // a table of transcripts, paths relative to it
  await mkdir(join(root, 'table', 'clips'), { recursive: true })
  const rows: string[] = []
  for (let k = 0; k < 5; k++) {
    await writeFile(join(root, 'table', 'clips', `${k}.wav`), encodeWav(tones([300 + k * 50], 16000, 8000), 16000))
    rows.push(JSON.stringify({ path: `clips/${k}.wav`, transcript: `sentence number ${k}` }))
  }
  await writeFile(join(root, 'table', 'sentences.jsonl'), rows.join('\n') + '\n')
  // a CSV of labels with two bad files
  await writeFile(join(root, 'table', 'clips', 'empty.wav'), new Uint8Array(0))
  const broken = encodeWav(tones([300], 16000, 800), 16000)
  broken.set(new TextEncoder().encode('JUNK'), 12) // no fmt chunk any more
  await writeFile(join(root, 'table', 'clips', 'broken.wav'), broken)
  await writeFile(join(root, 'table', 'labels.csv'), 'path,label\nclips/0.wav,yes\nclips/1.wav,no\nclips/empty.wav,yes\nclips/2.wav,no\nclips/broken.wav,no\nclips/3.wav,yes\n')
})
afterAll(() => rm(root, { recursive: true, force: true }))

async function all(ds: AudioDataset, train: boolean, epoch = 0, batchSize = 4): Promise<AudioBatch[]> {
  const out: AudioBatch[] = []
  for await (const b of ds.train.batches(epoch, 0, { batchSize, train })) out.push(b)
  return out
}

describe('loadAudioData', () => {
  it('a folder per class: sorted class ids, fixed-length mono clips, worker threads equal in-process', async () => {
    const opts = { data: join(root, 'folder'), sampleRate: 16000, clip: { seconds: 0.75 }, validationFraction: 0, seed: 3 }
    const a = await loadAudioData({ ...opts, workers: 2 })
    const b = await loadAudioData({ ...opts, workers: 0 })
    try {
      expect(a.layout).toBe('audio-folder')
      expect(a.labels.id2label).toEqual({ 0: 'down', 1: 'go', 2: 'up' })
      expect(a.ignored.counts).toEqual({ DATA_NOT_AUDIO: 1 })
      expect(a.clip).toEqual({ sampleRate: 16000, length: 12000, pad: 'end', crop: 'center', trainCrop: 'random' })
      for (const train of [false, true]) {
        const x = await all(a, train)
        const y = await all(b, train)
        expect(x.map((q) => q.shape)).toEqual([[4, 12000], [4, 12000], [4, 12000]])
        expect(x.map((q) => Array.from(q.labels, Number))).toEqual(y.map((q) => Array.from(q.labels, Number)))
        for (let i = 0; i < x.length; i++) expect(x[i]!.samples).toEqual(y[i]!.samples)
      }
      // evaluation clips are the plain pipeline: resampled, centre-cropped / end-padded
      const ev = (await all(a, false))[0]!
      const first = a.train.exampleName(0)
      expect(first).toMatch(/down\/0\.wav$/)
      const want = transformClip(tones([200], 16000, 8000, 0.3).map((v) => Math.round(v * 32768) / 32768), 16000, a.clip)
      expect(maxAbsDiff(ev.samples.subarray(0, 12000), want)).toBe(0)
      expect(ev.samples.subarray(8000, 12000).every((v) => v === 0)).toBe(true)
    } finally {
      await a.close()
      await b.close()
    }
  })

  it('training batches are augmented, seeded by (seed, epoch) and the same when resumed mid-epoch', async () => {
    const ds = await loadAudioData({ data: join(root, 'folder'), clip: { seconds: 0.75 }, validationFraction: 0, seed: 5, workers: 0 })
    try {
      const e0 = await all(ds, true, 0)
      const again = await all(ds, true, 0)
      const e1 = await all(ds, true, 1)
      expect(e0.map((b) => b.samples)).toEqual(again.map((b) => b.samples))
      expect(e0[0]!.samples).not.toEqual(e1[0]!.samples)
      const resumed: AudioBatch[] = []
      for await (const b of ds.train.batches(0, 1, { batchSize: 4, train: true })) resumed.push(b)
      expect(resumed.map((b) => b.samples)).toEqual(e0.slice(1).map((b) => b.samples))
    } finally {
      await ds.close()
    }
  })

  it('a JSONL of path,transcript: transcripts in batches, paths relative to the file', async () => {
    const ds = await loadAudioData({ data: join(root, 'table', 'sentences.jsonl'), clip: { seconds: 1, pad: 'center' }, validationFraction: 0.2, workers: 0 })
    try {
      expect(ds.target).toBe('transcript')
      expect(ds.numLabels).toBe(0)
      expect(ds.train.length + ds.validation!.length).toBe(5)
      const b = (await all(ds, false, 0, 8))[0]!
      expect(b.transcripts.every((t) => /^sentence number \d$/.test(t))).toBe(true)
      expect(Array.from(b.labels, Number).every((l) => l === -1)).toBe(true)
      // centre padding: 0.5 s clip in a 1 s window starts at 4000
      expect(b.samples[3999]).toBe(0)
      expect(b.samples[4000 + 10]).not.toBe(0)
    } finally {
      await ds.close()
    }
  })

  it('bad files stop loading with the file and the reason, or are skipped and counted', async () => {
    const data = join(root, 'table', 'labels.csv')
    const e = await loadAudioData({ data, workers: 0 }).then(() => undefined, (x: unknown) => x)
    expect(e).toBeInstanceOf(DataRowError)
    expect((e as DataRowError).message).toMatch(/clips\/empty\.wav: is empty \(0 bytes\)/)
    const ds = await loadAudioData({ data, workers: 0, onBadRow: 'skip', validationFraction: 0 })
    try {
      expect(ds.train.length).toBe(5) // empty.wav found by its header; broken.wav only when decoded
      const batches = await all(ds, false, 0, 8)
      expect(batches[0]!.shape).toEqual([4, 16000])
      expect(ds.badRows().counts).toEqual({ DATA_AUDIO_BROKEN: 1, DATA_AUDIO_EMPTY: 1 })
      expect(ds.badRows().examples.map((x) => x.message).join('\n')).toMatch(/broken\.wav: is not a readable WAV file: it has no fmt chunk/)
    } finally {
      await ds.close()
    }
    const strict = await loadAudioData({ data, workers: 0, verify: 'none', validationFraction: 0 })
    try {
      const err = await all(strict, false, 0, 8).then(() => undefined, (x: unknown) => x)
      expect((err as DataRowError).code).toBe('DATA_AUDIO_EMPTY')
    } finally {
      await strict.close()
    }
  })

  it('refuses bad options and layouts with what to do', async () => {
    await expect(loadAudioData({ data: join(root, 'folder'), clip: { seconds: 1, length: 100 } })).rejects.toThrow(/disagree/)
    await expect(loadAudioData({ data: join(root, 'folder', 'up') })).rejects.toThrow(/holds 4 audio files but no class folders/)
    await expect(loadAudioData({ data: join(root, 'nope') })).rejects.toBeInstanceOf(DataError)
    await expect(loadAudioData({ data: join(root, 'folder'), augmentation: { noise: { minDb: 30, maxDb: 10, p: 2 } } })).rejects.toThrow(/noise\.p must be in \[0, 1\], got 2; noise\.minDb \(30\) must be <= noise\.maxDb \(10\)/)
  })

  it('loadAudioFiles opens files and folders for prediction in path order, unaugmented', async () => {
    const set = await loadAudioFiles([join(root, 'folder', 'go'), join(root, 'table', 'clips', '0.wav')], { clip: { seconds: 0.5 }, workers: 0 })
    try {
      expect(set.length).toBe(5)
      expect(set.paths[0]).toMatch(/go\/0\.wav$/)
      const b = (await set.batches(0, { batchSize: 8 }).next()).value!
      expect(b.shape).toEqual([5, 8000])
      expect(Array.from(b.labels, Number)).toEqual([-1, -1, -1, -1, -1])
    } finally {
      await set.close()
    }
  })
})
