/**
 * Adaptation to unseen voices and accents (issue 10), run by hand:
 *
 *     npx tsx scripts/speech-adaptation.ts [--out DIR] [--method frozen|full] [--seeds 3]
 *
 * On the synthetic keyword corpus (data/speech): a keyword model is trained on the 12 voices that
 * `finetune demo` trains on, then evaluated on the 4 held-out voices (en-gb-scotland, en-029, pl,
 * hi). For each held-out voice the first rendition of every word (10 clips per voice, 40 in all) is
 * the adaptation set and the other two renditions (80 clips) the evaluation set. "Before" is the
 * model trained on the 12 voices; "after" continues training it on the same clips plus the
 * adaptation set (the earlier clips stay in so the other voices are not forgotten). Both are
 * evaluated on the same 80 clips, which adaptation never sees. Prints a table and writes
 * adaptation.json into DIR.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { encodeWav, evaluateModel, readSpeechCorpus, taskDefaults, train } from '../src/index.js'
import { DEMO_CLIP_SECONDS, TEST_VOICES } from '../src/cli/demo-speech.js'

const args = process.argv.slice(2)
const opt = (k: string, d: string): string => (args.includes(`--${k}`) ? args[args.indexOf(`--${k}`) + 1]! : d)
const out = opt('out', 'speech-adaptation')
const method = opt('method', 'frozen') as 'frozen' | 'full'
const seeds = Number(opt('seeds', '3'))
const steps = Number(opt('steps', method === 'frozen' ? '400' : '150'))
const lr = Number(opt('lr', method === 'frozen' ? '3e-2' : '1e-3'))

await rm(out, { recursive: true, force: true })
await mkdir(join(out, 'clips'), { recursive: true })
const corpus = await readSpeechCorpus()
const rows: Record<'base' | 'adapt' | 'held', string[]> = { base: [], adapt: [], held: [] }
const seen = new Map<string, number>()
for (const c of corpus.words) {
  const k = `${c.word}/${c.voice}`
  const i = seen.get(k) ?? 0
  seen.set(k, i + 1)
  const rel = `clips/${c.word}-${c.voice}-${i}.wav`
  await writeFile(join(out, rel), encodeWav(c.samples, corpus.sampleRate))
  const unseen = (TEST_VOICES as readonly string[]).includes(c.voice)
  rows[!unseen ? 'base' : i === 0 ? 'adapt' : 'held'].push(`${rel},${c.word}`)
}
const csv = async (name: string, r: string[]): Promise<string> => {
  const p = join(out, name)
  await writeFile(p, `path,label\n${r.join('\n')}\n`)
  return p
}
const base = await csv('base.csv', rows.base)
const adapted = await csv('base+adapt.csv', [...rows.base, ...rows.adapt])
const held = await csv('held-out.csv', rows.held)
const common = { ...taskDefaults('audio-classification'), task: 'audio-classification', method, clipSeconds: DEMO_CLIP_SECONDS, batchSize: 16, lr, validationSplit: 0, workers: 0, overwrite: true, saveEvery: 'none', keepBest: false } as never
const results: { seed: number; before: number; after: number }[] = []
for (let seed = 0; seed < seeds; seed++) {
  const first = join(out, `seed${seed}-base`)
  await train({ ...(common as object), model: 'speech-embedding', data: base, out: first, seed, maxSteps: steps } as never)
  const before = (await evaluateModel(first, held, { workers: 0 } as never)).metrics['accuracy']!
  const second = join(out, `seed${seed}-adapted`)
  await train({ ...(common as object), model: first, data: adapted, out: second, seed, maxSteps: Math.round(steps / 2) } as never)
  const after = (await evaluateModel(second, held, { workers: 0 } as never)).metrics['accuracy']!
  results.push({ seed, before, after })
  console.log(`seed ${seed}: accuracy on other clips of the unseen voices ${before.toFixed(4)} -> ${after.toFixed(4)}`)
}
const mean = (a: number[]): number => a.reduce((x, y) => x + y, 0) / a.length
const summary = { method, steps, lr, voices: TEST_VOICES, adaptation_clips: rows.adapt.length, evaluation_clips: rows.held.length, base_clips: rows.base.length, before: mean(results.map((r) => r.before)), after: mean(results.map((r) => r.after)), runs: results }
await writeFile(join(out, 'adaptation.json'), `${JSON.stringify(summary, null, 2)}\n`)
console.log(`\n${method}: ${rows.base.length} clips of 12 voices, then + ${rows.adapt.length} clips (one per word) of ${TEST_VOICES.join(', ')}`)
console.log(`accuracy on the other ${rows.held.length} clips of those voices, mean of ${seeds} seeds: before ${summary.before.toFixed(4)}, after ${summary.after.toFixed(4)}`)
