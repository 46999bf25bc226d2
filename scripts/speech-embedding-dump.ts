/**
 * Diagnostic of `finetune demo` (speech), run by hand:
 *
 *     npx tsx scripts/speech-embedding-dump.ts [--out DIR] [--views 4]
 *
 * Writes the speech embedding of every keyword clip of data/speech under several clip policies,
 * as openWakeWord's own pipeline computes it (SpeechEmbeddingReference: the two ONNX files on
 * onnxruntime-node, one clip at a time), so a head can be probed offline
 * (scripts/speech_embedding_probe.py, Debian's torch): DIR/meta.json lists the clips (word, voice,
 * test or train) and the variants; DIR/<variant>.f32 holds float32 (clips, views, windows, 96).
 * Variants: the demo's former clip (0.782 s, padded at the end: one window), the same centred, and
 * 1.5 s centred (9 windows), each without augmentation, and `--views` augmented views of the
 * 1.5 s clip (the task's default augmentation: speed, shift, gain, noise).
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { readSpeechCorpus } from '../src/data/speech-corpus-node.js'
import { defaultAudioAugmentation, transformClip, type ClipPolicy } from '../src/data/audio-transforms.js'
import { SpeechEmbeddingReference } from '../src/models/speech-embedding-node.js'
import { INT16_SCALE } from '../src/models/speech-embedding.js'
import { TEST_VOICES } from '../src/cli/demo-speech.js'

const args = process.argv.slice(2)
const opt = (k: string, d: string): string => (args.includes(`--${k}`) ? args[args.indexOf(`--${k}`) + 1]! : d)
const out = opt('out', 'speech-embedding-dump')
const views = Number(opt('views', '4'))
await mkdir(out, { recursive: true })
const corpus = await readSpeechCorpus()
const ref = await SpeechEmbeddingReference.open()
const policy = (seconds: number, pad: ClipPolicy['pad']): ClipPolicy => ({ sampleRate: 16000, length: Math.round(seconds * 16000), pad, crop: 'center', trainCrop: 'center' })
// 'start' (zeros before the word, so it ends where the window ends) is not a ClipPolicy pad: made by hand below
const variants: { name: string; policy: ClipPolicy; views: number; augment: boolean; padStart?: boolean }[] = [
  { name: 'start-0.782', policy: policy(12512 / 16000, 'end'), views: 1, augment: false, padStart: true },
  { name: 'center-1.0', policy: policy(1, 'center'), views: 1, augment: false },
  { name: 'end-0.782', policy: policy(12512 / 16000, 'end'), views: 1, augment: false },
  { name: 'center-0.782', policy: policy(12512 / 16000, 'center'), views: 1, augment: false },
  { name: 'center-1.5', policy: policy(1.5, 'center'), views: 1, augment: false },
  { name: 'center-1.5-aug', policy: policy(1.5, 'center'), views, augment: true },
]
const padStart = (x: Float32Array, n: number): Float32Array => {
  const o = new Float32Array(n)
  o.set(x.length > n ? x.subarray(x.length - n) : x, Math.max(0, n - x.length))
  return o
}
const only = opt('only', '')
const meta = { clips: corpus.words.map((c) => ({ word: c.word, voice: c.voice, test: (TEST_VOICES as readonly string[]).includes(c.voice) })), labels: corpus.labels, variants: [] as { name: string; views: number; windows: number }[] }
for (const v of variants) {
  if (only && !only.split(',').includes(v.name)) continue
  let windows = 0
  const rows: Float32Array[] = []
  for (const [i, c] of corpus.words.entries()) {
    for (let k = 0; k < v.views; k++) {
      const x = v.padStart ? padStart(c.samples, v.policy.length) : transformClip(c.samples, corpus.sampleRate, v.policy, v.augment ? defaultAudioAugmentation : null, { seed: 0, epoch: k, id: i })
      const e = await ref.embeddings(Float32Array.from(x, (s) => s * INT16_SCALE))
      windows = e.windows
      rows.push(e.embeddings)
    }
  }
  const all = new Float32Array(rows.reduce((s, r) => s + r.length, 0))
  let o = 0
  for (const r of rows) (all.set(r, o), (o += r.length))
  await writeFile(join(out, `${v.name}.f32`), all)
  meta.variants.push({ name: v.name, views: v.views, windows })
  console.log(`${v.name}: ${corpus.words.length} clips x ${v.views} views x ${windows} windows x 96`)
}
await writeFile(join(out, 'meta.json'), JSON.stringify(meta))
await ref.release()
