/**
 * Audio data from disk: the library function behind `--data` for the audio tasks. `data` (and
 * `validation`) may be:
 * - an audio folder: one sub-folder per class (class ids follow the sorted folder names), audio
 *   files found recursively inside each; hidden and non-audio files are skipped and reported in
 *   `ignored`;
 * - a folder holding `train/` and `val/` (or `validation/`, `valid/`) audio folders;
 * - a CSV, TSV or JSONL file with an audio path column (`path`, `audio`, `file`, ...; paths
 *   relative to the file) and a label column (`label`, `class`, ...) or a transcript column
 *   (`transcript`, `text`, `sentence`).
 * Files are decoded (WAV, FLAC, MP3, Ogg Vorbis/Opus), mixed to mono, resampled to `sampleRate`
 * and cropped/padded to the clip length in worker threads while batches are read. Without
 * validation data, a seeded (stratified, for labels) share of the training examples is held out.
 */
import { readdir, stat } from 'node:fs/promises'
import { basename, dirname, isAbsolute, join, resolve } from 'node:path'
import { ConfigError } from '../errors.js'
import { isAudioName } from './audio.js'
import { checkAudioHeader } from './audio-decode-node.js'
import { AudioSplit, type AudioBatch, type AudioDataset, type AudioExamples, type AudioSplitContext } from './audio-dataset.js'
import { checkAudioAugmentation, checkClipPolicy, defaultAudioAugmentation, defaultClipPolicy, type AudioAugmentation, type ClipPolicy } from './audio-transforms.js'
import { audioProcessor, defaultAudioWorkerCount } from './audio-workers-node.js'
import { BadRows, checkEach, DataRowError, fileError, type DataPosition, type OnBadRow } from './errors.js'
import { buildLabelMap, encodeLabel, labelNames, LabelCollector, type LabelMap, type LabelScheme } from './labels.js'
import { splitTrainValidation } from './order.js'
import { fileSource } from './source-node.js'
import { formatFromName, readRecords, type DataFormat } from './table.js'

export interface AudioDataOptions {
  /** See the module comment for the layouts. */
  data: string
  /** Validation data in any of the same layouts (default: the layout's own, else a held-out share of `data`). */
  validation?: string
  /** The model's sample rate (Hz); every file is resampled to it. Default 16000. */
  sampleRate?: number
  /** Clip length and crop/pad policy. `seconds` or `length` (samples); default 1 s, pad at the end, centre crop (random for training). */
  clip?: Partial<Omit<ClipPolicy, 'sampleRate'>> & { seconds?: number }
  /** The labels a model already has (evaluation, resuming): ids are fixed, other labels are errors. */
  labels?: LabelMap | readonly string[]
  /** What examples carry (default: 'label', or 'transcript' for a table with a transcript column and no label column). */
  target?: 'label' | 'transcript'
  /** Training augmentation (default defaultAudioAugmentation); null for none. */
  augmentation?: AudioAugmentation | null
  /** Without validation data: the share held out (default 0.1; 0 for none). */
  validationFraction?: number
  /** Seeds the held-out split, the epoch order and the augmentation. Default 42. */
  seed?: number
  /** Stop at the first bad file or row (default), or skip and count them. */
  onBadRow?: OnBadRow
  /** Worker threads that decode (default min(cores, 4)); 0 decodes in-process. */
  workers?: number
  /** Batches prepared ahead of the one being used (default 2). */
  prefetch?: number
  /** Table layouts: the audio path and label/transcript columns (default: found by name). */
  audioColumn?: string
  labelColumn?: string
  transcriptColumn?: string
  format?: DataFormat
  /** Read every file's first bytes while loading (default 'header'): missing, empty and non-audio files are found before training. */
  verify?: 'header' | 'none'
}

type RawSource =
  | { kind: 'folder'; file: string; classes: string[]; paths: string[]; classOf: Int32Array }
  | { kind: 'table'; file: string; numeric: boolean; paths: string[]; values: unknown[]; lines: Int32Array; target: 'label' | 'transcript' }

const VALIDATION_DIRS = ['val', 'validation', 'valid']
const AUDIO_COLUMNS = ['path', 'audio', 'audio_path', 'file', 'filename', 'file_name', 'filepath', 'wav']
const LABEL_COLUMNS = ['label', 'labels', 'class', 'category', 'target', 'word', 'keyword']
const TRANSCRIPT_COLUMNS = ['transcript', 'transcription', 'text', 'sentence', 'utterance']

/** The clip policy of the options (checked). */
export function clipPolicyOf(opts: Pick<AudioDataOptions, 'sampleRate' | 'clip'>): ClipPolicy {
  const sampleRate = opts.sampleRate ?? defaultClipPolicy.sampleRate
  const c = opts.clip ?? {}
  if (c.seconds !== undefined && c.length !== undefined && Math.round(c.seconds * sampleRate) !== c.length) {
    throw new ConfigError('CONFIG_CLIP', `clip.seconds (${c.seconds}) and clip.length (${c.length} samples) disagree at ${sampleRate} Hz`, 'give one of them')
  }
  const length = c.length ?? Math.round((c.seconds ?? 1) * sampleRate)
  return checkClipPolicy({ sampleRate, length, pad: c.pad ?? defaultClipPolicy.pad, crop: c.crop ?? defaultClipPolicy.crop, trainCrop: c.trainCrop ?? defaultClipPolicy.trainCrop })
}

/** Reads and checks an audio data set (see AudioDataOptions and the module comment). Nothing is decoded until batches are read. */
export async function loadAudioData(opts: AudioDataOptions): Promise<AudioDataset> {
  const bad = new BadRows(opts.onBadRow ?? 'error')
  const ignored = new BadRows('skip', 20)
  const given = opts.labels === undefined ? undefined : Array.isArray(opts.labels) ? buildLabelMap(opts.labels as readonly string[], 'given') : (opts.labels as LabelMap)
  const fraction = opts.validationFraction ?? 0.1
  if (!(fraction >= 0 && fraction < 1)) throw new ConfigError('CONFIG_VALIDATION_FRACTION', `validationFraction must be in [0, 1), got ${fraction}`, 'use e.g. 0.1, or 0 for no held-out share')
  const clip = clipPolicyOf(opts)
  const augmentation = opts.augmentation === undefined ? defaultAudioAugmentation : opts.augmentation
  if (augmentation) checkAudioAugmentation(augmentation)

  const { train: trainRaw, validation: layoutVal } = await openSource(opts.data, opts, ignored, true)
  const valRaw = opts.validation !== undefined ? (await openSource(opts.validation, opts, ignored, false)).train : layoutVal
  const target = trainRaw.kind === 'table' ? trainRaw.target : 'label'
  if (valRaw && (valRaw.kind === 'table' ? valRaw.target : 'label') !== target) {
    throw fileError('DATA_BAD_LAYOUT', valRaw.file, `holds ${target === 'label' ? 'transcripts' : 'labels'} but the training data holds ${target}s`, 'give validation data of the same kind as the training data')
  }
  const scheme = target === 'label' ? trainScheme(trainRaw, given, bad) : undefined
  const train = await encode(trainRaw, scheme, bad, opts)
  const val = valRaw ? await encode(valRaw, scheme, bad, opts) : undefined
  if (train.length === 0) throw fileError('DATA_EMPTY', opts.data, 'has no usable audio files (every one was skipped)', 'see the skipped files in the report')

  const ctx: AudioSplitContext = {
    processor: audioProcessor(opts.workers ?? defaultAudioWorkerCount()),
    policy: clip,
    augmentation,
    seed: opts.seed ?? 42,
    prefetch: opts.prefetch ?? 2,
    bad,
    failed: new WeakMap(),
  }
  let trainIds = allIds(train.length)
  let validation: AudioSplit | undefined
  let validationSource: AudioDataset['validationSource'] = 'none'
  if (val) {
    validation = new AudioSplit('validation', val, allIds(val.length), ctx)
    validationSource = 'file'
  } else if (fraction > 0 && train.length > 1) {
    const labels = Int32Array.from({ length: train.length }, (_, i) => train.label(i))
    const split = splitTrainValidation(train.length, { fraction, seed: ctx.seed, ...(target === 'label' ? { stratify: labels } : {}) })
    trainIds = split.train
    validation = new AudioSplit('validation', train, split.validation, ctx)
    validationSource = 'split'
  }
  const labelMap = scheme?.labelMap ?? buildLabelMap([], 'given')
  return {
    layout: trainRaw.kind === 'folder' ? 'audio-folder' : 'table',
    target,
    labels: labelMap,
    numLabels: scheme ? scheme.numLabels : 0,
    train: new AudioSplit('train', train, trainIds, ctx),
    validation,
    validationSource,
    clip,
    augmentation,
    ignored: ignored.report(),
    badRows: () => bad.report(),
    close: () => ctx.processor.close(),
  }
}

const allIds = (n: number): Uint32Array => Uint32Array.from({ length: n }, (_, i) => i)
const sortNames = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

class FileExamples implements AudioExamples {
  readonly paths: string[]
  readonly classIds: Int32Array
  readonly texts: string[] | undefined
  constructor(paths: string[], classIds: Int32Array, texts?: string[]) {
    this.paths = paths
    this.classIds = classIds
    this.texts = texts
  }
  get length(): number {
    return this.paths.length
  }
  label(id: number): number {
    return this.classIds[id]!
  }
  transcript(id: number): string {
    return this.texts?.[id] ?? ''
  }
  path(id: number): string {
    return this.paths[id]!
  }
}

async function statOrThrow(path: string): Promise<import('node:fs').Stats> {
  try {
    return await stat(path)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e
    let hint = `check the path (${basename(path)} in ${dirname(path)})`
    const near = await readdir(dirname(path)).then((n) => n.filter((f) => !f.startsWith('.')).slice(0, 8), () => [])
    if (near.length) hint = `${dirname(path)} holds: ${near.join(', ')}`
    throw fileError('DATA_FILE_MISSING', path, 'does not exist', hint)
  }
}

async function isDir(p: string, e: import('node:fs').Dirent): Promise<boolean> {
  if (e.isDirectory()) return true
  return e.isSymbolicLink() && ((await stat(p).catch(() => undefined))?.isDirectory() ?? false)
}

/** Audio files under `dir`, recursively, sorted by path; hidden and non-audio files go to `ignored`. */
async function walkAudio(dir: string, ignored: BadRows): Promise<string[]> {
  const out: string[] = []
  for (const e of (await readdir(dir, { withFileTypes: true })).sort((a, b) => sortNames(a.name, b.name))) {
    const p = join(dir, e.name)
    if (e.name.startsWith('.')) ignored.handle(new DataRowError('DATA_HIDDEN_FILE', { file: p }, 'is hidden; skipped'))
    else if (await isDir(p, e)) out.push(...(await walkAudio(p, ignored)))
    else if (isAudioName(e.name)) out.push(p)
    else ignored.handle(new DataRowError('DATA_NOT_AUDIO', { file: p }, 'is not an audio file (by its extension); skipped'))
  }
  return out
}

async function openSource(data: string, opts: AudioDataOptions, ignored: BadRows, isTrain: boolean): Promise<{ train: RawSource; validation?: RawSource }> {
  const st = await statOrThrow(data)
  if (!st.isDirectory()) return { train: await readTable(data, opts) }
  const entries = (await readdir(data, { withFileTypes: true })).filter((e) => !e.name.startsWith('.'))
  const dirs = entries.filter((e) => e.isDirectory()).map((e) => e.name)
  const valDir = VALIDATION_DIRS.find((v) => dirs.includes(v))
  if (dirs.includes('train') && dirs.every((d) => d === 'train' || d === 'test' || VALIDATION_DIRS.includes(d))) {
    const train = await scanFolder(join(data, 'train'), ignored)
    return valDir && isTrain ? { train, validation: await scanFolder(join(data, valDir), ignored) } : { train }
  }
  return { train: await scanFolder(data, ignored) }
}

async function scanFolder(root: string, ignored: BadRows): Promise<RawSource> {
  const classes: string[] = []
  let loose = 0
  for (const e of (await readdir(root, { withFileTypes: true })).sort((a, b) => sortNames(a.name, b.name))) {
    const p = join(root, e.name)
    if (e.name.startsWith('.')) ignored.handle(new DataRowError('DATA_HIDDEN_FILE', { file: p }, 'is hidden; skipped'))
    else if (await isDir(p, e)) classes.push(e.name)
    else if (isAudioName(e.name)) loose++
    else ignored.handle(new DataRowError('DATA_NOT_AUDIO', { file: p }, 'is not an audio file (by its extension); skipped'))
  }
  if (classes.length === 0) {
    if (loose > 0) throw fileError('DATA_NO_CLASS_FOLDERS', root, `holds ${loose} audio files but no class folders`, 'put the clips of each class in a sub-folder named after the class (data/yes/1.wav, data/no/2.wav), or list them in a CSV with path,label')
    throw fileError('DATA_EMPTY', root, 'holds no class folders and no audio files', 'point the data at a folder with one sub-folder of audio files per class')
  }
  if (loose > 0) throw fileError('DATA_BAD_LAYOUT', root, `holds ${loose} audio files next to its class folders`, 'move them into the folder of their class, or remove them')
  const paths: string[] = []
  const classOf: number[] = []
  for (const [c, name] of classes.entries()) {
    const found = await walkAudio(join(root, name), ignored)
    if (found.length === 0) throw fileError('DATA_EMPTY_CLASS', join(root, name), `class "${name}" has no audio files`, 'add clips to it or remove the folder: every class folder must hold at least one audio file')
    for (const f of found) {
      paths.push(f)
      classOf.push(c)
    }
  }
  return { kind: 'folder', file: root, classes, paths, classOf: Int32Array.from(classOf) }
}

function pickColumn(cols: string[], wanted: string | undefined, names: string[], what: string, file: string, required: boolean): string | undefined {
  if (wanted !== undefined) {
    if (cols.includes(wanted)) return wanted
    throw fileError('DATA_NO_COLUMN', file, `has no column "${wanted}"; its columns are ${cols.map((c) => JSON.stringify(c)).join(', ')}`, `pass the ${what} column by name`)
  }
  const found = names.find((n) => cols.includes(n)) ?? cols.find((c) => names.includes(c.toLowerCase()))
  if (found || !required) return found
  throw fileError('DATA_NO_COLUMN', file, `has no ${what} column (looked for ${names.join(', ')}); its columns are ${cols.map((c) => JSON.stringify(c)).join(', ')}`, `name the column one of ${names.join(', ')}, or pass its name`)
}

async function readTable(path: string, opts: AudioDataOptions): Promise<RawSource> {
  const format = formatFromName(path, opts.format)
  if (format !== 'csv' && format !== 'tsv' && format !== 'jsonl') {
    throw fileError('DATA_UNKNOWN_FORMAT', path, `is read as ${format}, which cannot list audio files`, 'list audio files in a CSV, TSV or JSONL file with a path and a label or transcript column, or point at an audio folder')
  }
  const source = await fileSource(path)
  const base = dirname(resolve(path))
  const paths: string[] = []
  const values: unknown[] = []
  const lines: number[] = []
  let audioCol: string | undefined
  let valueCol: string | undefined
  let target: 'label' | 'transcript' = opts.target ?? 'label'
  const bad = new BadRows(opts.onBadRow ?? 'error')
  try {
    for await (const r of readRecords(source, { format, badRows: bad })) {
      if (audioCol === undefined || valueCol === undefined) {
        const cols = Object.keys(r.values)
        audioCol = pickColumn(cols, opts.audioColumn, AUDIO_COLUMNS, 'audio path', path, true)!
        if (opts.target === undefined) {
          const label = pickColumn(cols, opts.labelColumn, LABEL_COLUMNS, 'label', path, false)
          const text = pickColumn(cols, opts.transcriptColumn, TRANSCRIPT_COLUMNS, 'transcript', path, false)
          target = label === undefined && text !== undefined ? 'transcript' : 'label'
        }
        valueCol = target === 'label'
          ? pickColumn(cols, opts.labelColumn, LABEL_COLUMNS, 'label', path, true)!
          : pickColumn(cols, opts.transcriptColumn, TRANSCRIPT_COLUMNS, 'transcript', path, true)!
      }
      const v = r.values[audioCol]
      if (typeof v !== 'string' || v.trim() === '') {
        bad.handle(new DataRowError('DATA_NO_AUDIO_PATH', { file: path, line: r.line, field: audioCol }, `column "${audioCol}" holds ${v === undefined ? 'nothing' : JSON.stringify(v)} where an audio path is expected`, 'give every row the path of its audio file (relative to the data file)'))
        continue
      }
      const t = r.values[valueCol]
      if (target === 'transcript' && typeof t !== 'string') {
        bad.handle(new DataRowError('DATA_NO_TRANSCRIPT', { file: path, line: r.line, field: valueCol }, `column "${valueCol}" holds ${t === undefined ? 'nothing' : JSON.stringify(t)} where a transcript is expected`, 'give every row its transcript as text'))
        continue
      }
      paths.push(isAbsolute(v.trim()) ? v.trim() : join(base, v.trim()))
      values.push(t)
      lines.push(r.line)
    }
  } finally {
    await source.close?.()
  }
  return { kind: 'table', file: path, numeric: format !== 'jsonl', paths, values, lines: Int32Array.from(lines), target }
}

const namesScheme = (labelMap: LabelMap): LabelScheme => ({ problemType: 'single_label_classification', numLabels: labelNames(labelMap).length, kind: 'names', labelMap, separator: '|' })

function trainScheme(raw: RawSource, given: LabelMap | undefined, bad: BadRows): LabelScheme {
  if (raw.kind === 'folder') return namesScheme(given ?? buildLabelMap(raw.classes))
  const collector = new LabelCollector({ ...(given ? { labels: labelNames(given) } : {}), allowRegression: false, allowMulti: false, numericStrings: raw.numeric })
  raw.values.forEach((v, i) => {
    try {
      collector.add(v, { file: raw.file, line: raw.lines[i]! })
    } catch (e) {
      bad.handle(e)
    }
  })
  return collector.finish(raw.file)
}

async function encode(raw: RawSource, scheme: LabelScheme | undefined, bad: BadRows, opts: AudioDataOptions): Promise<AudioExamples> {
  const paths: string[] = []
  const ids: number[] = []
  const texts: string[] = []
  for (let i = 0; i < raw.paths.length; i++) {
    const where: DataPosition = raw.kind === 'folder' ? { file: raw.paths[i]! } : { file: raw.file, line: raw.lines[i]! }
    try {
      if (scheme) {
        const value = raw.kind === 'folder' ? raw.classes[raw.classOf[i]!] : raw.values[i]
        ids.push(encodeLabel(scheme, value, where, { numericStrings: raw.kind === 'table' && raw.numeric }) as number)
      } else {
        ids.push(-1)
        texts.push(String(raw.kind === 'table' ? raw.values[i] : ''))
      }
      paths.push(raw.paths[i]!)
    } catch (e) {
      bad.handle(e)
    }
  }
  if ((opts.verify ?? 'header') === 'header') {
    const ok = await checkEach(paths, bad, checkAudioHeader)
    return new FileExamples(paths.filter((_, i) => ok[i]), Int32Array.from(ids.filter((_, i) => ok[i])), scheme ? undefined : texts.filter((_, i) => ok[i]))
  }
  return new FileExamples(paths, Int32Array.from(ids), scheme ? undefined : texts)
}

/** Audio files to predict on: files, and folders searched recursively (sorted; hidden and non-audio files skipped). */
export interface AudioFileSet {
  paths: string[]
  length: number
  clip: ClipPolicy
  /** Clips in path order from `startBatch` (labels -1, transcripts ''). */
  batches(startBatch: number, opts: { batchSize: number; prefetch?: number }): AsyncGenerator<AudioBatch>
  ignored: ReturnType<BadRows['report']>
  badRows(): ReturnType<BadRows['report']>
  close(): Promise<void>
}

/** Opens audio files for prediction (`finetune predict`) with the model's clip policy; nothing is decoded until batches are read. */
export async function loadAudioFiles(paths: readonly string[], opts: Pick<AudioDataOptions, 'sampleRate' | 'clip' | 'workers' | 'prefetch' | 'onBadRow'> = {}): Promise<AudioFileSet> {
  const ignored = new BadRows('skip', 20)
  const bad = new BadRows(opts.onBadRow ?? 'error')
  const clip = clipPolicyOf(opts)
  const files: string[] = []
  for (const p of paths) {
    if ((await statOrThrow(p)).isDirectory()) {
      const found = await walkAudio(p, ignored)
      if (found.length === 0) throw fileError('DATA_EMPTY', p, 'holds no audio files', 'point at audio files or a folder of them')
      files.push(...found)
    } else files.push(p)
  }
  const ctx: AudioSplitContext = { processor: audioProcessor(opts.workers ?? defaultAudioWorkerCount()), policy: clip, augmentation: null, seed: 0, prefetch: opts.prefetch ?? 2, bad, failed: new WeakMap() }
  const split = new AudioSplit('predict', new FileExamples(files, new Int32Array(files.length).fill(-1)), allIds(files.length), ctx)
  return {
    paths: files,
    length: files.length,
    clip,
    batches: (startBatch, o) => split.batches(0, startBatch, { batchSize: o.batchSize, train: false, ...(o.prefetch !== undefined ? { prefetch: o.prefetch } : {}) }),
    ignored: ignored.report(),
    badRows: () => bad.report(),
    close: () => ctx.processor.close(),
  }
}
