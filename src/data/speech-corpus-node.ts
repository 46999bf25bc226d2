/**
 * The synthetic speech corpus of data/speech/ (made by scripts/speech-corpus.ts with espeak-ng):
 * keyword clips labelled by word, voice and accent, and sentences with transcripts, stored as two
 * FLAC files of concatenated 16 kHz clips and a manifest of offsets. `readSpeechCorpus` decodes it;
 * `writeSpeechCorpusFiles` lays it out as loadAudioData reads data (a WAV folder per word, a CSV of
 * path,label,voice,accent, a JSONL of path,transcript) so demos and tests use the ordinary loader.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { decodeAudio } from './audio-decode.js'
import { encodeWav } from './audio-wav.js'
import { fileError } from './errors.js'

/** data/speech/ of this package. */
export const SPEECH_CORPUS_DIR = fileURLToPath(new URL('../../data/speech/', import.meta.url))

interface ClipInfo {
  voice: string
  accent: string
  variant: string
  speed: number
  pitch: number
  start: number
  length: number
}

export interface SpeechManifest {
  sampleRate: number
  words: { file: string; labels: string[]; clips: (ClipInfo & { word: string })[] }
  sentences: { file: string; clips: (ClipInfo & { transcript: string })[] }
  /** The words read by the voices of more languages (corpora written before it lack the part). */
  accents?: { file: string; clips: (ClipInfo & { word: string })[] }
}

/** One decoded clip with its labels. */
export type SpeechClip<T> = Omit<ClipInfo, 'start' | 'length'> & T & { samples: Float32Array }

export interface SpeechCorpus {
  sampleRate: number
  /** The ten keywords, in the manifest's order. */
  labels: string[]
  words: SpeechClip<{ word: string }>[]
  sentences: SpeechClip<{ transcript: string }>[]
  /**
   * The same words by voices the words part lacks (stronger foreign accents), kept apart so the
   * demo's voices stay as they were; for adaptation experiments (scripts/speech-adaptation.ts).
   */
  accents: SpeechClip<{ word: string }>[]
}

/** Reads and decodes the corpus (about 0.5 s on one core). */
export async function readSpeechCorpus(dir: string = SPEECH_CORPUS_DIR): Promise<SpeechCorpus> {
  const mPath = join(dir, 'manifest.json')
  const m = JSON.parse(await readFile(mPath, 'utf8').catch(() => {
    throw fileError('DATA_FILE_MISSING', mPath, 'does not exist', 'generate the corpus with `npx tsx scripts/speech-corpus.ts` (needs espeak-ng, sox and flac)')
  })) as SpeechManifest
  const part = async <T extends ClipInfo>(file: string, clips: T[]): Promise<(Omit<T, 'start' | 'length'> & { samples: Float32Array })[]> => {
    const path = join(dir, file)
    const a = await decodeAudio(await readFile(path), path)
    const x = a.channels[0]!
    if (a.sampleRate !== m.sampleRate) throw fileError('DATA_BAD_CORPUS', path, `is ${a.sampleRate} Hz but the manifest says ${m.sampleRate}`, 'regenerate the corpus')
    return clips.map(({ start, length, ...rest }) => {
      if (start + length > x.length) throw fileError('DATA_BAD_CORPUS', path, `holds ${x.length} samples but a clip ends at ${start + length}`, 'regenerate the corpus')
      return { ...(rest as unknown as Omit<T, 'start' | 'length'>), samples: x.slice(start, start + length) }
    })
  }
  return {
    sampleRate: m.sampleRate,
    labels: m.words.labels,
    words: await part(m.words.file, m.words.clips),
    sentences: await part(m.sentences.file, m.sentences.clips),
    accents: m.accents ? await part(m.accents.file, m.accents.clips) : [],
  }
}

/** What `writeSpeechCorpusFiles` wrote. */
export interface SpeechCorpusFiles {
  /** A folder per word (loadAudioData's class-folder layout). */
  wordsDir: string
  /** path,label,voice,accent (paths relative to the CSV). */
  wordsCsv: string
  /** {"path","transcript","voice","accent"} per line. */
  sentencesJsonl: string
}

/** Writes the corpus (or the clips `filter` keeps) as 16-bit WAV files under `out`. */
export async function writeSpeechCorpusFiles(corpus: SpeechCorpus, out: string, filter: { voices?: readonly string[] } = {}): Promise<SpeechCorpusFiles> {
  const keep = (c: { voice: string }): boolean => !filter.voices || filter.voices.includes(c.voice)
  const wordsDir = join(out, 'words')
  const rows = ['path,label,voice,accent']
  const count = new Map<string, number>()
  for (const c of corpus.words.filter(keep)) {
    const k = `${c.word}/${c.voice}`
    const i = count.get(k) ?? 0
    count.set(k, i + 1)
    const rel = `words/${c.word}/${c.voice}-${i}.wav`
    await mkdir(join(wordsDir, c.word), { recursive: true })
    await writeFile(join(out, rel), encodeWav(c.samples, corpus.sampleRate))
    rows.push(`${rel},${c.word},${c.voice},${c.accent}`)
  }
  const lines: string[] = []
  await mkdir(join(out, 'sentences'), { recursive: true })
  for (const [i, c] of corpus.sentences.filter(keep).entries()) {
    const rel = `sentences/${String(i).padStart(3, '0')}-${c.voice}.wav`
    await writeFile(join(out, rel), encodeWav(c.samples, corpus.sampleRate))
    lines.push(JSON.stringify({ path: rel, transcript: c.transcript, voice: c.voice, accent: c.accent }))
  }
  const wordsCsv = join(out, 'words.csv')
  const sentencesJsonl = join(out, 'sentences.jsonl')
  await writeFile(wordsCsv, rows.join('\n') + '\n')
  await writeFile(sentencesJsonl, lines.join('\n') + '\n')
  return { wordsDir, wordsCsv, sentencesJsonl }
}
