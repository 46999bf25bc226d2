/**
 * Detection and segmentation data from disk (the parsing is in detection-annotations.ts and
 * index-mask.ts). Image paths in the results are paths to open (joined with the images folder).
 * - COCO: an instances JSON and its images folder;
 * - Pascal VOC: a VOCdevkit year folder (Annotations/, JPEGImages/, ImageSets/Main/<split>.txt);
 * - YOLO: an Ultralytics data.yaml, or an images folder whose labels are found as Ultralytics
 *   finds them (the last `images` path segment replaced by `labels`, extension `.txt`; else beside
 *   the image) with class names from classes.txt / data.yaml; an image without a label file has no
 *   objects (Ultralytics' background images);
 * - semantic segmentation: an images folder and a masks folder paired by file stem (index PNGs,
 *   255 = ignore), or VOC's SegmentationClass with ImageSets/Segmentation/<split>.txt.
 * Row errors (a bad object, a missing or unreadable image, a mask whose size differs from its
 * image) stop the load, or with `onBadRow: 'skip'` are skipped and counted in `skipped`.
 */
import { access, readdir, readFile } from 'node:fs/promises'
import { basename, dirname, extname, isAbsolute, join, relative, resolve, sep } from 'node:path'
import { inflateSync } from 'node:zlib'
import sharp from 'sharp'
import { BadRows, DataRowError, fileError, mergeReports, type BadRowReport } from './errors.js'
import { parseCocoDetection, parseVocAnnotation, parseYoloDataYaml, parseYoloLabels, parseYoloNames, vocToDetection, type AnnotatedImage, type AnnotationOptions, type DetectionAnnotations, type VocAnnotation } from './detection-annotations.js'
import { isImageName } from './image.js'
import { checkImageHeader } from './image-decode-node.js'
import { decodeIndexPng, IndexPngError, isPng, type IndexMask } from './index-mask.js'

async function readText(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8')
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    throw fileError('DATA_MISSING_FILE', path, code === 'ENOENT' ? `does not exist (${what})` : `cannot be read: ${code ?? (e as Error).message}`, 'check the path')
  }
}

const exists = (p: string): Promise<boolean> => access(p).then(() => true, () => false)

/** Checks that the images exist (`verify: 'exists'`) or that their headers give the annotated size (`'header'`). */
async function verifyImages(images: AnnotatedImage[], annotationFile: string, verify: 'header' | 'exists' | 'none', bad: BadRows): Promise<AnnotatedImage[]> {
  if (verify === 'none') return images
  const ok = await eachInOrder(images, bad, async (img) => {
    // existence first, by the file system: the image decoder's wording for a missing file varies
    if (!(await exists(img.file))) throw new DataRowError('DATA_UNKNOWN_IMAGE_FILE', { file: annotationFile }, `image ${JSON.stringify(img.file)} does not exist`, 'check the images folder, or skip such images (onBadRow: skip)')
    if (verify === 'exists') return true
    const h = await checkImageHeader(img.file).catch((e: unknown) => {
      if (e instanceof DataRowError && /does not exist/.test(e.message)) throw new DataRowError('DATA_UNKNOWN_IMAGE_FILE', { file: annotationFile }, `image ${JSON.stringify(img.file)} does not exist`, 'check the images folder, or skip such images (onBadRow: skip)')
      throw e
    })
    if (h.width !== img.width || h.height !== img.height) {
      throw new DataRowError('DATA_IMAGE_SIZE', { file: annotationFile }, `image ${JSON.stringify(img.file)} is ${h.width}x${h.height} but annotated as ${img.width}x${img.height}`, 'fix the annotated size (boxes are in annotated pixels), or skip such images (onBadRow: skip)')
    }
    return true
  })
  return images.filter((_, i) => ok[i])
}

/** Runs `fn` over `items` (32 at a time); errors go through `bad` in input order, so the first bad item is the one reported. */
async function eachInOrder<T, R>(items: readonly T[], bad: BadRows, fn: (t: T) => Promise<R>): Promise<(R | undefined)[]> {
  const settled = await mapLimit(items, 32, (t) => fn(t).then((value) => ({ value }), (error: unknown) => ({ error })))
  return settled.map((r) => {
    if ('error' in r) {
      bad.handle(r.error)
      return undefined
    }
    return r.value
  })
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++
      out[i] = await fn(items[i]!)
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  return out
}

export interface CocoLoadOptions extends AnnotationOptions {
  /** The instances JSON. */
  annotations: string
  /** The images folder (default: the JSON's folder). */
  images?: string
  /** Check that every image exists (default), that its header has the annotated size, or nothing. */
  verify?: 'header' | 'exists' | 'none'
}

/** Reads a COCO instances file and checks its images (see CocoLoadOptions). */
export async function loadCocoDetection(opts: CocoLoadOptions): Promise<DetectionAnnotations> {
  const text = await readText(opts.annotations, 'the COCO annotations')
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (e) {
    throw fileError('DATA_COCO_FORMAT', opts.annotations, `is not valid JSON: ${(e as Error).message}`, 'check the file')
  }
  const parsed = parseCocoDetection(json, basename(opts.annotations), opts)
  const dir = opts.images ?? dirname(opts.annotations)
  for (const img of parsed.images) img.file = isAbsolute(img.file) ? img.file : join(dir, img.file)
  const bad = new BadRows(opts.onBadRow ?? 'error')
  const images = await verifyImages(parsed.images, opts.annotations, opts.verify ?? 'exists', bad)
  return { categories: parsed.categories, images, skipped: mergeReports(parsed.skipped, bad.report()) }
}

export interface VocLoadOptions extends Omit<AnnotationOptions, 'masks'> {
  /** A VOC year folder (holding Annotations/ and JPEGImages/). */
  root: string
  /** ImageSets/Main/<split>.txt lists the images (e.g. 'train', 'val', 'trainval'); default every file in Annotations/. */
  split?: string
  verify?: 'header' | 'exists' | 'none'
}

/** Reads Pascal VOC detection annotations (see VocLoadOptions). Labels: `categories`, else VOC's 20 classes, else the names found. */
export async function loadVocDetection(opts: VocLoadOptions): Promise<DetectionAnnotations> {
  const annDir = join(opts.root, 'Annotations')
  let ids: string[]
  if (opts.split) {
    const list = join(opts.root, 'ImageSets', 'Main', `${opts.split}.txt`)
    ids = (await readText(list, `the ${opts.split} split`)).split(/\r?\n/).map((l) => l.trim().split(/\s+/)[0]!).filter((l) => l)
  } else {
    const names = await readdir(annDir).catch(() => {
      throw fileError('DATA_MISSING_FILE', annDir, 'does not exist', 'point root at a VOC year folder (VOCdevkit/VOC2012) holding Annotations/ and JPEGImages/')
    })
    ids = names.filter((n) => n.endsWith('.xml')).sort().map((n) => n.slice(0, -4))
  }
  const bad = new BadRows(opts.onBadRow ?? 'error')
  const anns: VocAnnotation[] = []
  const xmlFiles: string[] = []
  const texts = await eachInOrder(ids, bad, async (id) => {
    const p = join(annDir, `${id}.xml`)
    return readFile(p, 'utf8').catch(() => {
      throw new DataRowError('DATA_MISSING_FILE', { file: p }, 'does not exist (listed in the split)', 'check the split list, or skip such images (onBadRow: skip)')
    })
  })
  ids.forEach((id, i) => {
    const text = texts[i]
    if (text === undefined) return
    const p = join(annDir, `${id}.xml`)
    try {
      anns.push(parseVocAnnotation(text, p, bad, opts.boxTolerance))
      xmlFiles.push(p)
    } catch (e) {
      bad.handle(e)
    }
  })
  const { categories, images } = vocToDetection(anns, xmlFiles, bad, opts.categories)
  for (const img of images) img.file = join(opts.root, 'JPEGImages', img.file)
  const verified = await verifyImages(images, annDir, opts.verify ?? 'exists', bad)
  return { categories, images: verified, skipped: bad.report() }
}

export interface YoloLoadOptions extends Omit<AnnotationOptions, 'categories'> {
  /** An Ultralytics data.yaml, or an images folder. */
  data: string
  /** With data.yaml: which split's images (default 'train'). */
  split?: 'train' | 'val'
  /** Class names: classes.txt or data.yaml (default: found beside the images or their parent folders). */
  names?: string
}

/** YOLO detections plus how many images had no label file. */
export interface YoloAnnotations extends DetectionAnnotations {
  unlabelled: number
}

/** Reads YOLO txt labels for every image of a folder (see YoloLoadOptions and the module comment). */
export async function loadYoloDetection(opts: YoloLoadOptions): Promise<YoloAnnotations> {
  let imagesDir = opts.data
  let names: string[] | undefined
  if (/\.ya?ml$/i.test(opts.data)) {
    const y = parseYoloDataYaml(await readText(opts.data, 'the YOLO data file'), opts.data)
    const root = y.path ? resolve(dirname(opts.data), y.path) : dirname(opts.data)
    const rel = opts.split === 'val' ? y.val : y.train
    if (!rel) throw fileError('DATA_YOLO_NAMES', opts.data, `has no "${opts.split ?? 'train'}" entry`, 'add train: and val: image folders')
    imagesDir = resolve(root, rel)
    names = y.names
  }
  if (opts.names) names = await readNames(opts.names)
  names ??= await findNames(imagesDir)
  const files = await walkImages(imagesDir)
  if (files.length === 0) throw fileError('DATA_EMPTY', imagesDir, 'holds no images', 'point at the images folder (images/train)')
  const bad = new BadRows(opts.onBadRow ?? 'error')
  let unlabelled = 0
  // label lines are parsed after the parallel header reads, in file order, so errors come in order
  const sizes = await eachInOrder(files, bad, (file) => checkImageHeader(file))
  const texts = await mapLimit(files, 32, (file) => readFile(yoloLabelPath(file), 'utf8').catch(() => undefined))
  const results = files.map((file, i) => {
    const size = sizes[i]
    if (!size) return undefined
    const text = texts[i]
    if (text === undefined) unlabelled++
    try {
      return parseYoloLabels(text ?? '', yoloLabelPath(file), { file, width: size.width, height: size.height }, names, bad, { ...(opts.boxTolerance !== undefined ? { boxTolerance: opts.boxTolerance } : {}), masks: !!opts.masks })
    } catch (e) {
      bad.handle(e)
      return undefined
    }
  })
  await checkOrphanLabels(imagesDir, files, bad)
  return { categories: names.map((name, id) => ({ id, name })), images: results.filter((r): r is AnnotatedImage => r !== undefined), skipped: bad.report(), unlabelled }
}

/** A label file in the labels folder with no image of its stem is a row error (its objects would be lost silently). */
async function checkOrphanLabels(imagesDir: string, images: readonly string[], bad: BadRows): Promise<void> {
  const labelsDir = dirname(yoloLabelPath(join(resolve(imagesDir), 'x.jpg')))
  if (labelsDir === resolve(imagesDir) || !(await exists(labelsDir))) return
  const wanted = new Set(images.map((f) => yoloLabelPath(resolve(f))))
  const found: string[] = []
  const walk = async (d: string): Promise<void> => {
    for (const e of (await readdir(d, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      if (e.isDirectory()) await walk(join(d, e.name))
      else if (e.name.endsWith('.txt') && e.name !== 'classes.txt') found.push(join(d, e.name))
    }
  }
  await walk(labelsDir)
  for (const f of found) {
    if (wanted.has(f)) continue
    const s = relative(labelsDir, f).slice(0, -4)
    try {
      throw new DataRowError('DATA_UNKNOWN_IMAGE_FILE', { file: f }, `labels an image that does not exist (no ${s}.jpg, .png or other image in ${imagesDir})`, 'add the image or remove the label file, or skip such files (--on-bad-row skip)')
    } catch (e) {
      bad.handle(e)
    }
  }
}

/** Ultralytics' img2label_paths: the last "/images/" segment becomes "/labels/", the extension ".txt". */
export function yoloLabelPath(image: string): string {
  const a = `${sep}images${sep}`
  const i = image.lastIndexOf(a)
  const base = i >= 0 ? image.slice(0, i) + `${sep}labels${sep}` + image.slice(i + a.length) : image
  return base.slice(0, base.length - extname(base).length) + '.txt'
}

async function readNames(path: string): Promise<string[]> {
  const text = await readText(path, 'the class names')
  return /\.ya?ml$/i.test(path) ? parseYoloDataYaml(text, path).names : parseYoloNames(text, path)
}

async function findNames(imagesDir: string): Promise<string[]> {
  let dir = resolve(imagesDir)
  for (let up = 0; up < 3; up++) {
    for (const n of ['classes.txt', 'obj.names', 'data.yaml', 'dataset.yaml']) if (await exists(join(dir, n))) return readNames(join(dir, n))
    dir = dirname(dir)
  }
  throw fileError('DATA_YOLO_NAMES', imagesDir, 'has no classes.txt or data.yaml beside it or in the two folders above', 'pass names: path/to/classes.txt (one class name per line)')
}

async function walkImages(dir: string): Promise<string[]> {
  const out: string[] = []
  const walk = async (d: string): Promise<void> => {
    let entries
    try {
      entries = await readdir(d, { withFileTypes: true })
    } catch {
      throw fileError('DATA_MISSING_FILE', d, 'is not a readable folder', 'check the path')
    }
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      if (e.name.startsWith('.')) continue
      const p = join(d, e.name)
      if (e.isDirectory()) await walk(p)
      else if (isImageName(e.name)) out.push(p)
    }
  }
  await walk(dir)
  return out
}

// ---------------------------------------------------------------------------------------------
// Semantic segmentation

/**
 * Reads an index mask: palette or grayscale PNGs through index-mask.ts (sharp would turn the
 * palette into colours), other single-channel images through sharp. Errors are DataRowError
 * DATA_BAD_MASK naming the file.
 */
export async function readIndexMask(path: string): Promise<IndexMask> {
  let bytes: Uint8Array
  try {
    bytes = await readFile(path)
  } catch {
    throw new DataRowError('DATA_BAD_MASK', { file: path }, 'does not exist', 'check the masks folder, or skip such images (onBadRow: skip)')
  }
  try {
    if (isPng(bytes)) return decodeIndexPng(bytes, (z) => inflateSync(z))
    const { data, info } = await sharp(bytes).raw().toBuffer({ resolveWithObject: true })
    if (info.channels !== 1) throw new IndexPngError(`has ${info.channels} channels; an index mask has one (a palette or 8-bit grayscale PNG)`)
    return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) }
  } catch (e) {
    const msg = e instanceof IndexPngError ? e.message : `cannot be decoded: ${(e as Error).message.split('\n')[0]}`
    throw new DataRowError('DATA_BAD_MASK', { file: path }, msg, 'save masks as palette or grayscale PNGs of class indices, or skip such images (onBadRow: skip)')
  }
}

/** One image and its mask. */
export interface SegmentationPair {
  image: string
  mask: string
  width: number
  height: number
}

export interface SegmentationLoadOptions {
  /** The images folder. */
  images: string
  /** The masks folder: `<stem>.png` for every image `<stem>.<ext>` (sub-folders mirrored). */
  masks: string
  /** Only these stems (e.g. from a split list); default every image. */
  ids?: readonly string[]
  onBadRow?: 'error' | 'skip'
  /** Check that each mask's size equals its image's by reading both headers (default true). */
  verify?: boolean
}

/** Pairs images with their masks by stem and checks sizes (DATA_MISSING_MASK, DATA_MASK_SIZE). */
export async function loadSegmentationPairs(opts: SegmentationLoadOptions): Promise<{ pairs: SegmentationPair[]; skipped: BadRowReport }> {
  const bad = new BadRows(opts.onBadRow ?? 'error')
  let images = await walkImages(opts.images)
  if (opts.ids) {
    const byStem = new Map(images.map((p) => [stem(relative(opts.images, p)), p]))
    images = []
    for (const id of opts.ids) {
      const p = byStem.get(id)
      if (p) images.push(p)
      else bad.handle(new DataRowError('DATA_UNKNOWN_IMAGE_FILE', { file: opts.images }, `has no image for ${JSON.stringify(id)} (listed in the split)`, 'check the split list, or skip such images (onBadRow: skip)'))
    }
  }
  if (images.length === 0) throw fileError('DATA_EMPTY', opts.images, 'holds no images', 'point at the images folder')
  const pairs = await eachInOrder(images, bad, async (image): Promise<SegmentationPair> => {
    const mask = join(opts.masks, stem(relative(opts.images, image)) + '.png')
    if (!(await exists(mask))) throw new DataRowError('DATA_MISSING_MASK', { file: image }, `has no mask (expected ${mask})`, 'add the mask, or skip such images (onBadRow: skip)')
    const im = await checkImageHeader(image)
    if (opts.verify !== false) {
      const m = await checkImageHeader(mask)
      if (m.width !== im.width || m.height !== im.height) {
        throw new DataRowError('DATA_MASK_SIZE', { file: mask }, `is ${m.width}x${m.height} but its image ${basename(image)} is ${im.width}x${im.height}`, "masks have their image's size; fix or remove it, or skip such images (onBadRow: skip)")
      }
    }
    return { image, mask, width: im.width, height: im.height }
  })
  return { pairs: pairs.filter((p): p is SegmentationPair => p !== undefined), skipped: bad.report() }
}

/** Pascal VOC semantic segmentation: JPEGImages/ and SegmentationClass/, ids from ImageSets/Segmentation/<split>.txt. */
export async function loadVocSegmentation(opts: { root: string; split: string; onBadRow?: 'error' | 'skip' }): Promise<{ pairs: SegmentationPair[]; skipped: BadRowReport }> {
  const list = join(opts.root, 'ImageSets', 'Segmentation', `${opts.split}.txt`)
  const ids = (await readText(list, `the ${opts.split} split`)).split(/\r?\n/).map((l) => l.trim()).filter((l) => l)
  return loadSegmentationPairs({ images: join(opts.root, 'JPEGImages'), masks: join(opts.root, 'SegmentationClass'), ids, ...(opts.onBadRow ? { onBadRow: opts.onBadRow } : {}) })
}

const stem = (p: string): string => p.slice(0, p.length - extname(p).length)
