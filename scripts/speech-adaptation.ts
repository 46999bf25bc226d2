/**
 * Adaptation to unseen voices and accents (issue 10), run by hand:
 *
 *     nice -n 10 npx tsx scripts/speech-adaptation.ts [--task keywords|ctc] [--out DIR] [--seeds 3]
 *       [--arms frozen,full,control] [--base-steps 400] [--base-lr X (ctc)] [--adapt-steps 150] [--lr 1e-3] [--oversample 3]
 *       [--unseen accents|demo] [--first-seed 0]
 *
 * On the synthetic corpus of data/speech (10 words x 3 renditions per voice), for both tasks:
 * - base: renditions 0 and 1 of the 12 voices `finetune demo` trains on (240 clips); rendition 2 of
 *   those voices (120 clips) is held out to measure forgetting ("original voices");
 * - unseen voices: `--unseen accents` (default) the corpus's accents part, 7 voices of other languages
 *   reading the English words by their own rules (et, fi, id, nl, ro, sw, tr); `--unseen demo` the 4
 *   voices the demo tests on (en-gb-scotland, en-029, pl, hi). Rendition 0 of every word is the
 *   adaptation set (one clip per word and voice), renditions 1 and 2 are held out ("unseen voices").
 * `--task keywords` (audio-classification, accuracy): "before" is Google's speech embedding with a
 * head trained on its frozen features (400 steps at lr 3e-2), as the demo trains it.
 * `--task ctc` (speech-recognition, WER and CER; each clip's transcript is its word): "before" is
 * the DeepSpeech-style `deepspeech-small` (2 bidirectional GRU layers) trained from scratch on the
 * base clips (400 steps at lr 3e-3).
 * Each arm then continues from that folder (`--model DIR` keeps the head, its vocabulary and, for the
 * speech embedding, its feature_norm) for --adapt-steps of batch 16:
 * - frozen:  --method frozen (only the head trains; keywords at lr 3e-2, ctc at --lr), the base
 *            clips plus the adaptation set;
 * - full:    --method full (the whole network adapts), --lr, the base clips plus the adaptation set
 *            repeated --oversample times (so new voices fill about a third of a batch);
 * - control: --method full, --lr, the base clips only, for the same number of steps (what the extra
 *            steps alone give, without the new voices).
 * Every folder is scored on the same held-out clips of both voice sets, which no arm trains on.
 * Prints a table and writes adaptation.json into DIR.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { writeFileAtomic } from '../src/checkpoint/io-node.js'
import { encodeWav, evaluateModel, readSpeechCorpus, taskDefaults, train } from '../src/index.js'
import { DEMO_CLIP_SECONDS, TEST_VOICES } from '../src/cli/demo-speech.js'

const args = process.argv.slice(2)
const opt = (k: string, d: string): string => (args.includes(`--${k}`) ? args[args.indexOf(`--${k}`) + 1]! : d)
type Arm = 'frozen' | 'full' | 'control'
const kind = opt('task', 'keywords') as 'keywords' | 'ctc'
if (kind !== 'keywords' && kind !== 'ctc') throw new Error(`--task ${kind}: expected keywords or ctc`)
const ctc = kind === 'ctc'
const out = opt('out', `speech-adaptation-${kind}`)
const seeds = Number(opt('seeds', '3'))
const firstSeed = Number(opt('first-seed', '0')) // seeds firstSeed .. firstSeed + seeds - 1 (to run seeds in separate processes)
const arms = opt('arms', ctc ? 'full,control' : 'frozen,full,control').split(',') as Arm[]
const baseSteps = Number(opt('base-steps', '400'))
const baseLr = ctc ? Number(opt('base-lr', '3e-3')) : 3e-2
const adaptSteps = Number(opt('adapt-steps', '150'))
const lr = Number(opt('lr', '1e-3'))
const oversample = Number(opt('oversample', '3'))
const unseenSet = opt('unseen', 'accents') as 'accents' | 'demo'
for (const a of arms) if (!['frozen', 'full', 'control'].includes(a)) throw new Error(`--arms: unknown arm "${a}"; choose from frozen, full, control`)
if (unseenSet !== 'accents' && unseenSet !== 'demo') throw new Error(`--unseen ${unseenSet}: expected accents or demo`)
const log = (s: string): void => console.error(`[${new Date().toISOString().slice(11, 19)}] ${s}`)

await rm(out, { recursive: true, force: true })
await mkdir(join(out, 'clips'), { recursive: true })
const corpus = await readSpeechCorpus()
const demoUnseen = (v: string): boolean => (TEST_VOICES as readonly string[]).includes(v)
const clips = unseenSet === 'demo' ? corpus.words : [...corpus.words.filter((c) => !demoUnseen(c.voice)), ...corpus.accents]
const unseenVoices = unseenSet === 'demo' ? [...TEST_VOICES] : [...new Set(corpus.accents.map((c) => c.voice))]
const rows: Record<'base' | 'baseHeld' | 'adapt' | 'held', string[]> = { base: [], baseHeld: [], adapt: [], held: [] }
const seen = new Map<string, number>()
for (const c of clips) {
  const k = `${c.word}/${c.voice}`
  const i = seen.get(k) ?? 0
  seen.set(k, i + 1)
  const rel = `clips/${c.word}-${c.voice}-${i}.wav`
  await writeFile(join(out, rel), encodeWav(c.samples, corpus.sampleRate))
  const unseen = unseenVoices.includes(c.voice)
  rows[unseen ? (i === 0 ? 'adapt' : 'held') : i < 2 ? 'base' : 'baseHeld'].push(`${rel},${c.word}`)
}
const csv = async (name: string, r: string[]): Promise<string> => {
  const p = join(out, name)
  await writeFile(p, `path,${ctc ? 'transcript' : 'label'}\n${r.join('\n')}\n`)
  return p
}
const data = {
  base: await csv('base.csv', rows.base),
  baseAdapt: await csv('base+adapt.csv', [...rows.base, ...rows.adapt]),
  baseOversampled: await csv('base+adapt-oversampled.csv', [...rows.base, ...Array.from({ length: oversample }, () => rows.adapt).flat()]),
  held: await csv('unseen-held-out.csv', rows.held),
  baseHeld: await csv('original-held-out.csv', rows.baseHeld),
}

const task = ctc ? 'speech-recognition' : 'audio-classification'
const common = { ...taskDefaults(task), task, batchSize: 16, validationSplit: 0, overwrite: true, saveEvery: 'none', keepBest: false, ...(ctc ? {} : { clipSeconds: DEMO_CLIP_SECONDS, workers: 0 }) }
const metricNames = ctc ? ['wer', 'cer'] : ['accuracy']
type Scores = Record<string, number>
const score = async (dir: string): Promise<{ unseen: Scores; original: Scores }> => {
  const on = async (file: string): Promise<Scores> => {
    const m = (await evaluateModel(dir, file, (ctc ? {} : { workers: 0 }) as never)).metrics
    return Object.fromEntries(metricNames.map((n) => [n, m[n]!]))
  }
  return { unseen: await on(data.held), original: await on(data.baseHeld) }
}
const armSettings: Record<Arm, { method: 'frozen' | 'full'; lr: number; data: string }> = {
  frozen: { method: 'frozen', lr: ctc ? lr : 3e-2, data: data.baseAdapt },
  full: { method: 'full', lr, data: data.baseOversampled },
  control: { method: 'full', lr, data: data.base },
}
const fmt = (s: Scores): string => metricNames.map((n) => `${n} ${s[n]!.toFixed(4)}`).join(', ')

interface Run { seed: number; before: { unseen: Scores; original: Scores }; arms: Partial<Record<Arm, { unseen: Scores; original: Scores; seconds: number }>> }
const runs: Run[] = []
for (let seed = firstSeed; seed < firstSeed + seeds; seed++) {
  const first = join(out, `seed${seed}-base`)
  const t0 = Date.now()
  const base = ctc ? { model: 'deepspeech-small', method: 'full' } : { model: 'speech-embedding', method: 'frozen' }
  await train({ ...common, ...base, lr: baseLr, data: data.base, out: first, seed, maxSteps: baseSteps } as never)
  const run: Run = { seed, before: await score(first), arms: {} }
  log(`seed ${seed} before (${((Date.now() - t0) / 1000).toFixed(0)} s, noisy): unseen ${fmt(run.before.unseen)}; original ${fmt(run.before.original)}`)
  for (const arm of arms) {
    const s = armSettings[arm]
    const dir = join(out, `seed${seed}-${arm}`)
    const t1 = Date.now()
    await train({ ...common, model: first, method: s.method, lr: s.lr, data: s.data, out: dir, seed, maxSteps: adaptSteps } as never)
    run.arms[arm] = { ...(await score(dir)), seconds: (Date.now() - t1) / 1000 }
    log(`seed ${seed} ${arm} (${run.arms[arm]!.seconds.toFixed(0)} s, noisy): unseen ${fmt(run.arms[arm]!.unseen)}; original ${fmt(run.arms[arm]!.original)}`)
    await rm(dir, { recursive: true, force: true }) // the scores are the result; the folders are megabytes each
  }
  runs.push(run)
}

const mean = (xs: Scores[]): Scores => Object.fromEntries(metricNames.map((n) => [n, xs.reduce((s, x) => s + x[n]!, 0) / xs.length]))
const both = (pick: (r: Run) => { unseen: Scores; original: Scores }): { unseen: Scores; original: Scores } => ({ unseen: mean(runs.map((r) => pick(r).unseen)), original: mean(runs.map((r) => pick(r).original)) })
const summary = {
  task: kind,
  settings: { baseSteps, baseLr, adaptSteps, lr, oversample, batchSize: 16, ...(ctc ? { model: 'deepspeech-small' } : { model: 'speech-embedding', clipSeconds: DEMO_CLIP_SECONDS }), arms: Object.fromEntries(arms.map((a) => [a, armSettings[a]])) },
  voices: { unseen: unseenVoices },
  clips: { base: rows.base.length, originalHeldOut: rows.baseHeld.length, adaptation: rows.adapt.length, unseenHeldOut: rows.held.length },
  runs,
  mean: { before: both((r) => r.before), ...Object.fromEntries(arms.map((a) => [a, both((r) => r.arms[a]!)])) },
}
await writeFileAtomic(join(out, 'adaptation.json'), `${JSON.stringify(summary, null, 2)}\n`)

const cell = (s: { unseen: Scores; original: Scores }, n: string): string => `${s.unseen[n]!.toFixed(3)} / ${s.original[n]!.toFixed(3)}`
console.log(`\n${kind}: base ${rows.base.length} clips of 12 voices (${baseSteps} steps); adaptation ${rows.adapt.length} clips (one per word) of ${unseenVoices.join(', ')}; ${adaptSteps} steps per arm`)
for (const n of metricNames) {
  console.log(`\n${n} on held-out clips: unseen voices (${rows.held.length}) / original voices (${rows.baseHeld.length})\n`)
  console.log(`| seed | before | ${arms.join(' | ')} |`)
  console.log(`| --- | --- | ${arms.map(() => '---').join(' | ')} |`)
  for (const r of runs) console.log(`| ${r.seed} | ${cell(r.before, n)} | ${arms.map((a) => cell(r.arms[a]!, n)).join(' | ')} |`)
  const m = summary.mean as Record<string, { unseen: Scores; original: Scores }>
  console.log(`| mean | ${cell(m['before']!, n)} | ${arms.map((a) => cell(m[a]!, n)).join(' | ')} |`)
}
