/**
 * Synthesises the speech corpus of data/speech/ with Debian's espeak-ng and sox (run by hand;
 * CI and the tests only read what it wrote):
 *
 *   apt-get install espeak-ng sox flac
 *   npx tsx scripts/speech-corpus.ts [--out data/speech]
 *
 * - words: the ten Speech Commands words (yes no up down left right on off stop go) spoken by 16
 *   voices, 8 English accents (en-us, en-us-nyc, en-gb, en-gb-scotland, en-gb-x-rp, en-gb-x-gbclan,
 *   en-gb-x-gbcwmd, en-029) and 8 other languages' voices reading the English words (de, fr, es,
 *   it, pl, ru, hi, pt-BR: foreign accents), each in 3 renditions that vary the espeak-ng voice
 *   variant (speaker timbre: m1..m7, f1..f4, ...), the speed (words per minute) and the pitch.
 * - sentences: 16 short sentences of the same words (for CTC), each by 3 voices.
 * - accents: the same ten words read with the letter-to-sound rules of 7 more languages written in
 *   Latin script (et, fi, id, nl, ro, sw, tr), 3 renditions each: stronger foreign accents than the
 *   words' voices, never used by the demo, for adaptation experiments (scripts/speech-adaptation.ts).
 *   Latin-script languages whose espeak-ng voice spells English words letter by letter (ja, vi) are
 *   left out: that is another utterance, not an accent.
 * Each clip is espeak-ng's 22.05 kHz output with leading/trailing silence trimmed by sox, 50 ms of
 * silence added at each end, resampled to 16 kHz by sox (`rate -v`) and stored as 16-bit. All
 * clips of a part are concatenated into one FLAC file (words.flac, sentences.flac: lossless, a
 * third of the size of WAV); manifest.json gives each clip's offset and length in samples and its
 * labels. src/data/speech-corpus-node.ts reads it back (and writes WAV folders/CSVs from it).
 * The choice of variant/speed/pitch is a fixed function of the clip's position, so reruns with the
 * same espeak-ng give the same corpus.
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { encodeWav, readWav } from '../src/data/audio-wav.js'

export const WORDS = ['yes', 'no', 'up', 'down', 'left', 'right', 'on', 'off', 'stop', 'go'] as const

/** espeak-ng voice -> accent label. */
const VOICES: [string, string][] = [
  ['en-us', 'american'], ['en-us-nyc', 'new-york'], ['en-gb', 'british'], ['en-gb-scotland', 'scottish'],
  ['en-gb-x-rp', 'received-pronunciation'], ['en-gb-x-gbclan', 'lancaster'], ['en-gb-x-gbcwmd', 'west-midlands'], ['en-029', 'caribbean'],
  ['de', 'german'], ['fr', 'french'], ['es', 'spanish'], ['it', 'italian'], ['pl', 'polish'], ['ru', 'russian'], ['hi', 'hindi'], ['pt-BR', 'brazilian'],
]
/** Voices of the accents part: Latin-script languages reading the English words by their own rules. */
const ACCENT_VOICES: [string, string][] = [['et', 'estonian'], ['fi', 'finnish'], ['id', 'indonesian'], ['nl', 'dutch'], ['ro', 'romanian'], ['sw', 'swahili'], ['tr', 'turkish']]
const VARIANTS = ['m1', 'f1', 'm3', 'f2', 'm7', 'f4', 'Alex', 'Andrea', 'm2', 'f3', 'klatt', 'Annie', 'm4', 'f5', 'edward', 'Denis']
const SPEEDS = [125, 150, 175, 200]
const PITCHES = [30, 45, 60, 75]
const RENDITIONS = 3

const SENTENCES = [
  'go left then stop', 'turn right and go up', 'yes go down now', 'no stop right there', 'switch the light on', 'turn it off',
  'go up and then left', 'stop and go back down', 'yes turn it on', 'no leave it off', 'right then left then right', 'go down the stairs',
  'stop the music', 'is it on or off', 'move up one step', 'yes no up down',
]
const SENTENCE_VOICES = ['en-us', 'en-gb', 'en-gb-scotland', 'en-029', 'en-us-nyc', 'de', 'fr', 'es']

interface Clip {
  text: string
  voice: string
  accent: string
  variant: string
  speed: number
  pitch: number
  start: number
  length: number
}

function synth(dir: string, text: string, voice: string, variant: string, speed: number, pitch: number): Int16Array {
  const raw = join(dir, 'raw.wav')
  const out = join(dir, 'out.wav')
  execFileSync('espeak-ng', ['-v', `${voice}+${variant}`, '-s', String(speed), '-p', String(pitch), '-w', raw, text])
  // trim silence at both ends (threshold 0.5% for 10 ms), pad 50 ms, 1 dB down (espeak-ng peaks at
  // full scale), resample to 16 kHz, 16-bit without dither (silence stays zeros, which FLAC packs well)
  execFileSync('sox', ['-D', raw, '-b', '16', out, 'silence', '1', '0.01', '0.5%', 'reverse', 'silence', '1', '0.01', '0.5%', 'reverse', 'pad', '0.05', '0.05', 'gain', '-1', 'rate', '-v', '16000'])
  const a = readWav(readFileSync(out), out)
  if (a.sampleRate !== 16000 || a.channels.length !== 1) throw new Error(`${out}: ${a.sampleRate} Hz, ${a.channels.length} channels`)
  return Int16Array.from(a.channels[0]!, (v) => Math.round(v * 32768))
}

function writeFlac(dir: string, parts: Int16Array[], path: string): void {
  const total = parts.reduce((s, p) => s + p.length, 0)
  const all = new Float32Array(total)
  let at = 0
  for (const p of parts) {
    for (let i = 0; i < p.length; i++) all[at + i] = p[i]! / 32768
    at += p.length
  }
  const wav = join(dir, 'all.wav')
  writeFileSync(wav, encodeWav(all, 16000))
  execFileSync('flac', ['--best', '--silent', '--force', '-o', path, wav])
}

function main(): void {
  const outArg = process.argv.indexOf('--out')
  const out = resolve(outArg > 0 ? process.argv[outArg + 1]! : 'data/speech')
  mkdirSync(out, { recursive: true })
  const tmp = mkdtempSync(join(tmpdir(), 'speech-corpus-'))
  try {
    // the accents part continues the voice index, so its renditions vary as the words' do
    const wordsBy = (voices: [string, string][], first: number): { clips: Clip[]; audio: Int16Array[] } => {
      const clips: Clip[] = []
      const audio: Int16Array[] = []
      let at = 0
      voices.forEach(([voice, accent], i) => {
        const v = first + i
        for (let r = 0; r < RENDITIONS; r++) {
          WORDS.forEach((word, w) => {
            const k = v * RENDITIONS + r
            const variant = VARIANTS[(k * 5 + w) % VARIANTS.length]!
            const speed = SPEEDS[(k + w) % SPEEDS.length]!
            const pitch = PITCHES[(k * 3 + w * 7) % PITCHES.length]!
            const x = synth(tmp, word, voice, variant, speed, pitch)
            clips.push({ text: word, voice, accent, variant, speed, pitch, start: at, length: x.length })
            audio.push(x)
            at += x.length
          })
        }
        process.stdout.write(`${voice} `)
      })
      return { clips, audio }
    }
    const { clips: words, audio: wordAudio } = wordsBy(VOICES, 0)
    const { clips: accents, audio: accentAudio } = wordsBy(ACCENT_VOICES, VOICES.length)
    const sentences: Clip[] = []
    const sentenceAudio: Int16Array[] = []
    let at = 0
    SENTENCES.forEach((text, s) => {
      for (let r = 0; r < 3; r++) {
        const [voice, accent] = VOICES.find(([v]) => v === SENTENCE_VOICES[(s * 3 + r) % SENTENCE_VOICES.length])!
        const variant = VARIANTS[(s * 3 + r) % VARIANTS.length]!
        const speed = SPEEDS[(s + r) % SPEEDS.length]!
        const pitch = PITCHES[(s + 2 * r) % PITCHES.length]!
        const x = synth(tmp, text, voice, variant, speed, pitch)
        sentences.push({ text, voice, accent, variant, speed, pitch, start: at, length: x.length })
        sentenceAudio.push(x)
        at += x.length
      }
    })
    writeFlac(tmp, wordAudio, join(out, 'words.flac'))
    writeFlac(tmp, sentenceAudio, join(out, 'sentences.flac'))
    writeFlac(tmp, accentAudio, join(out, 'accents.flac'))
    const version = (cmd: string, arg: string): string => execFileSync(cmd, [arg]).toString().split('\n')[0]!.trim()
    const manifest = {
      description: 'Synthetic speech: the ten Speech Commands words by 16 espeak-ng voices (English accents and other languages reading English) x 3 renditions, 16 sentences x 3 voices with transcripts, and (accents) the words read by the voices of 7 more languages x 3 renditions. Generated by scripts/speech-corpus.ts.',
      generator: { espeak: version('espeak-ng', '--version'), sox: version('sox', '--version'), flac: version('flac', '--version') },
      sampleRate: 16000,
      words: { file: 'words.flac', labels: WORDS, clips: words.map(({ text, ...c }) => ({ word: text, ...c })) },
      sentences: { file: 'sentences.flac', clips: sentences.map(({ text, ...c }) => ({ transcript: text, ...c })) },
      accents: { file: 'accents.flac', clips: accents.map(({ text, ...c }) => ({ word: text, ...c })) },
    }
    writeFileSync(join(out, 'manifest.json'), JSON.stringify(manifest, null, 0).replace(/\},\{/g, '},\n{') + '\n')
    const secs = (c: Clip[]): string => (c.reduce((s, x) => s + x.length, 0) / 16000).toFixed(1)
    console.log(`\n${words.length} word clips (${secs(words)} s), ${sentences.length} sentences (${secs(sentences)} s), ${accents.length} accent clips (${secs(accents)} s) -> ${out}`)
  } finally {
    rmSync(tmp, { recursive: true, force: true })
  }
}

main()
