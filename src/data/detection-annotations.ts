/**
 * Object-detection annotations in one in-memory form, parsed from COCO JSON, Pascal VOC XML and
 * YOLO txt (this file: text in, objects out; detection-data-node.ts reads the files).
 *
 * Every image becomes an `AnnotatedImage`: boxes (N, 4) x1 y1 x2 y2 in absolute pixels (continuous
 * coordinates: a box over pixel columns 0..9 is [0, 10]), labels as indices into the category list
 * (contiguous from 0, whatever ids the file uses), crowd flags, and where the format has them,
 * areas, VOC's difficult flags and instance masks (pycocotools RLE, see rle.ts).
 *
 * How each format's coordinates are read:
 * - COCO `bbox` [x, y, w, h] is already continuous: [x, y, x + w, y + h];
 * - VOC `bndbox` holds 1-based inclusive pixel indices: [xmin - 1, ymin - 1, xmax, ymax] (Detectron2's rule);
 * - YOLO `class cx cy w h` is normalised by the image size; a line with more than 4 numbers after
 *   the class is a polygon `x1 y1 x2 y2 ...` (Ultralytics' segmentation format), whose box is its extent.
 * A box reaching outside the image by less than `boxTolerance` pixels (default 1: rounding in
 * exporters) is clipped to it; further out it is an error (DATA_BOX_OUTSIDE). An empty box
 * (zero width or height) is DATA_BAD_BOX. Both are row errors: `onBadRow: 'skip'` drops the object
 * and counts it, keeping the image.
 */
import { DataError } from '../errors.js'
import { BadRows, DataRowError, fileError, type BadRowReport, type OnBadRow } from './errors.js'
import { rleFromPolygons, rleFromString, rleProblem, type Rle } from './rle.js'
import { parseXml, xmlChild, xmlChildText, XmlSyntaxError, type XmlElement } from './xml.js'

/** A category: the id the annotation file uses (COCO category_id, YOLO class index) and its name. */
export interface Category {
  id: number
  name: string
}

/** One image and its objects (see the module comment). */
export interface AnnotatedImage {
  /** As the annotation names it (COCO file_name, VOC filename, YOLO: the image path). */
  file: string
  width: number
  height: number
  /** (N, 4) x1 y1 x2 y2, absolute pixels. */
  boxes: Float32Array
  /** Index into the category list, per object. */
  labels: Int32Array
  iscrowd: Uint8Array
  /** COCO's `area` per object (what COCO's size ranges use), when the file gives it. */
  areas?: Float32Array
  /** VOC's `difficult` flags. */
  difficult?: Uint8Array
  /** Instance masks, one per object, when requested and the format has them. */
  masks?: Rle[]
  /** COCO's image id. */
  id?: number
}

/** A parsed annotation set: categories (label i is categories[i]) and images. */
export interface DetectionAnnotations {
  categories: Category[]
  images: AnnotatedImage[]
  /** Objects and images skipped under onBadRow 'skip', by reason. */
  skipped: BadRowReport
}

export interface AnnotationOptions {
  /** Stop at the first bad object or image (default), or skip and count them. */
  onBadRow?: OnBadRow
  /** The category names a model already has: labels follow this order, other names are errors. */
  categories?: readonly string[]
  /** Pixels a box may reach outside its image and be clipped (default 1). */
  boxTolerance?: number
  /** COCO: read `segmentation` into instance masks (default false). */
  masks?: boolean
}

/** The 20 Pascal VOC classes, in the order VOC's devkit and torchvision number them (1..20 after background). */
export const VOC_CLASSES: readonly string[] = [
  'aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car', 'cat', 'chair', 'cow',
  'diningtable', 'dog', 'horse', 'motorbike', 'person', 'pottedplant', 'sheep', 'sofa', 'train', 'tvmonitor',
]

const fmt = (v: number): string => String(Math.round(v * 100) / 100)
const fmtBox = (b: readonly number[]): string => `[${b.map(fmt).join(', ')}]`
const listNames = (names: readonly string[]): string => (names.length > 12 ? `${names.slice(0, 12).join(', ')}, ... (${names.length} in all)` : names.join(', '))

/** Growing per-image object arrays. */
class ObjectList {
  boxes: number[] = []
  labels: number[] = []
  crowd: number[] = []
  areas: number[] = []
  difficult: number[] = []
  masks: Rle[] = []
  push(box: readonly number[], label: number, crowd = 0): void {
    this.boxes.push(...box)
    this.labels.push(label)
    this.crowd.push(crowd)
  }
  image(file: string, width: number, height: number, extra: { areas?: boolean; difficult?: boolean; masks?: boolean; id?: number }): AnnotatedImage {
    const out: AnnotatedImage = { file, width, height, boxes: Float32Array.from(this.boxes), labels: Int32Array.from(this.labels), iscrowd: Uint8Array.from(this.crowd) }
    if (extra.areas) out.areas = Float32Array.from(this.areas)
    if (extra.difficult) out.difficult = Uint8Array.from(this.difficult)
    if (extra.masks) out.masks = this.masks
    if (extra.id !== undefined) out.id = extra.id
    return out
  }
}

/**
 * Checks an x1 y1 x2 y2 box against its image: clips it when it reaches outside by at most
 * `tolerance`, throws DataRowError otherwise. `where` places the object in messages.
 */
export function checkBox(box: number[], width: number, height: number, tolerance: number, where: { file: string; line?: number }, what: string): number[] {
  if (!box.every(Number.isFinite)) throw new DataRowError('DATA_BAD_BOX', where, `${what}: box ${JSON.stringify(box)} has a value that is not a number`, 'fix or remove the object, or skip such objects (onBadRow: skip)')
  const [x1, y1, x2, y2] = box as [number, number, number, number]
  if (!(x2 > x1 && y2 > y1)) throw new DataRowError('DATA_BAD_BOX', where, `${what}: box ${fmtBox(box)} is empty (x2 <= x1 or y2 <= y1)`, 'fix or remove the object, or skip such objects (onBadRow: skip)')
  if (x1 < -tolerance || y1 < -tolerance || x2 > width + tolerance || y2 > height + tolerance) {
    throw new DataRowError('DATA_BOX_OUTSIDE', where, `${what}: box ${fmtBox(box)} extends outside the ${width}x${height} image`, 'check the box and the image size, or skip such objects (onBadRow: skip)')
  }
  return [Math.max(0, x1), Math.max(0, y1), Math.min(width, x2), Math.min(height, y2)]
}

/** Maps names to labels: a fixed list (unknown names are errors) or the names met, in the given order. */
function nameResolver(fixed: readonly string[] | undefined): { label: (name: string) => number | undefined; names: () => string[] } {
  const map = new Map<string, number>()
  fixed?.forEach((n, i) => map.set(n, i))
  return {
    label: (name) => map.get(name),
    names: () => [...map.keys()],
  }
}

// ---------------------------------------------------------------------------------------------
// COCO

type Json = Record<string, unknown>
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)
const posInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v > 0

/**
 * COCO instances JSON (`images`, `annotations`, `categories`) already parsed from `file`. Labels
 * follow the categories sorted by id (or `opts.categories` by name). See the module comment.
 */
export function parseCocoDetection(json: unknown, file: string, opts: AnnotationOptions = {}): DetectionAnnotations {
  const bad = new BadRows(opts.onBadRow ?? 'error')
  const tol = opts.boxTolerance ?? 1
  if (!isObj(json)) throw fileError('DATA_COCO_FORMAT', file, 'is not a COCO annotation file (the top level is not an object)', 'expected {"images": [...], "annotations": [...], "categories": [...]}')
  for (const key of ['images', 'annotations', 'categories']) {
    if (!Array.isArray(json[key])) throw fileError('DATA_COCO_FORMAT', file, `has no "${key}" array`, 'a COCO instances file has "images", "annotations" and "categories" arrays')
  }
  // categories: sorted by id; labels are positions in that order (or in opts.categories)
  const cats: Category[] = []
  const seenCat = new Set<number>()
  ;(json.categories as unknown[]).forEach((c, i) => {
    if (!isObj(c) || typeof c.id !== 'number' || !Number.isInteger(c.id) || typeof c.name !== 'string') {
      throw fileError('DATA_COCO_FORMAT', file, `categories[${i}] is not {"id": integer, "name": string}: ${JSON.stringify(c)?.slice(0, 80)}`, 'fix the categories list')
    }
    if (seenCat.has(c.id)) throw fileError('DATA_COCO_FORMAT', file, `category id ${c.id} is listed twice`, 'give every category its own id')
    seenCat.add(c.id)
    cats.push({ id: c.id, name: c.name })
  })
  cats.sort((a, b) => a.id - b.id)
  let categories: Category[] = cats
  const labelOfCat = new Map<number, number>()
  if (opts.categories) {
    const byName = new Map(opts.categories.map((n, i) => [n, i]))
    categories = opts.categories.map((name, i) => ({ id: cats.find((c) => c.name === name)?.id ?? i, name }))
    for (const c of cats) {
      const l = byName.get(c.name)
      if (l !== undefined) labelOfCat.set(c.id, l)
    }
  } else cats.forEach((c, i) => labelOfCat.set(c.id, i))

  // images
  interface Img { entry: { id: number; file: string; width: number; height: number }; objects: ObjectList }
  const images = new Map<number, Img>()
  const order: Img[] = []
  ;(json.images as unknown[]).forEach((im, i) => {
    try {
      if (!isObj(im) || typeof im.id !== 'number' || typeof im.file_name !== 'string' || !posInt(im.width) || !posInt(im.height)) {
        throw new DataRowError('DATA_BAD_IMAGE_ENTRY', { file }, `image ${i}: expected {"id", "file_name", "width", "height"} with positive integer sizes, got ${JSON.stringify(im)?.slice(0, 100)}`, 'fix the entry, or skip such images (onBadRow: skip)')
      }
      if (images.has(im.id)) throw fileError('DATA_COCO_FORMAT', file, `image id ${im.id} is listed twice`, 'give every image its own id')
      const rec: Img = { entry: { id: im.id, file: im.file_name, width: im.width, height: im.height }, objects: new ObjectList() }
      images.set(im.id, rec)
      order.push(rec)
    } catch (e) {
      bad.handle(e)
    }
  })

  const catNames = cats.map((c) => `${c.id} ${c.name}`)
  ;(json.annotations as unknown[]).forEach((ann, a) => {
    try {
      if (!isObj(ann)) throw new DataRowError('DATA_BAD_ANNOTATION', { file }, `annotation ${a} is not an object`, 'fix or remove it, or skip such annotations (onBadRow: skip)')
      const img = typeof ann.image_id === 'number' ? images.get(ann.image_id) : undefined
      const idPart = ann.id !== undefined ? `id ${JSON.stringify(ann.id)}, ` : ''
      if (!img) {
        throw new DataRowError('DATA_UNKNOWN_IMAGE', { file }, `annotation ${a} (${idPart}image_id ${JSON.stringify(ann.image_id)}) refers to an image that is not in "images"`, 'add the image entry or remove the annotation, or skip such annotations (onBadRow: skip)')
      }
      const { width, height } = img.entry
      const what = `annotation ${a} (${idPart}image ${img.entry.id} ${JSON.stringify(img.entry.file)})`
      const label = typeof ann.category_id === 'number' ? labelOfCat.get(ann.category_id) : undefined
      if (label === undefined) {
        const known = opts.categories ? `the model's categories (${listNames(opts.categories)})` : `the file's categories (${listNames(catNames)})`
        throw new DataRowError('DATA_UNKNOWN_CATEGORY', { file }, `${what}: category_id ${JSON.stringify(ann.category_id)} is not among ${known}`, 'fix the category_id or add the category, or skip such annotations (onBadRow: skip)')
      }
      const bb = ann.bbox
      if (!Array.isArray(bb) || bb.length !== 4 || !bb.every((v) => typeof v === 'number')) {
        throw new DataRowError('DATA_BAD_BOX', { file }, `${what}: bbox ${JSON.stringify(bb)} is not [x, y, width, height]`, 'fix the bbox, or skip such annotations (onBadRow: skip)')
      }
      const [x, y, w, h] = bb as number[]
      const box = checkBox([x!, y!, x! + w!, y! + h!], width, height, tol, { file }, what)
      let mask: Rle | undefined
      if (opts.masks) mask = cocoMask(ann.segmentation, box, height, width, file, what)
      const crowd = ann.iscrowd === 1 || ann.iscrowd === true ? 1 : 0
      const o = img.objects
      o.push(box, label, crowd)
      o.areas.push(typeof ann.area === 'number' && ann.area >= 0 ? ann.area : (box[2]! - box[0]!) * (box[3]! - box[1]!))
      if (mask) o.masks.push(mask)
    } catch (e) {
      bad.handle(e)
    }
  })
  return {
    categories,
    images: order.map((r) => r.objects.image(r.entry.file, r.entry.width, r.entry.height, { areas: true, masks: !!opts.masks, id: r.entry.id })),
    skipped: bad.report(),
  }
}

/** COCO `segmentation` as an RLE: polygons (merged), uncompressed or compressed RLE; absent -> the box, as pycocotools does for box results. */
function cocoMask(seg: unknown, box: number[], height: number, width: number, file: string, what: string): Rle {
  const badMask = (msg: string, code = 'DATA_BAD_MASK'): DataRowError => new DataRowError(code, { file }, `${what}: ${msg}`, 'fix the segmentation, or skip such annotations (onBadRow: skip)')
  if (seg === undefined || seg === null || (Array.isArray(seg) && seg.length === 0)) {
    const [x1, y1, x2, y2] = box as [number, number, number, number]
    return rleFromPolygons([[x1, y1, x1, y2, x2, y2, x2, y1]], height, width)
  }
  if (Array.isArray(seg)) {
    const polys = seg.map((p, k) => {
      if (!Array.isArray(p) || p.length < 6 || p.length % 2 !== 0 || !p.every((v) => typeof v === 'number' && Number.isFinite(v))) {
        throw badMask(`polygon ${k} is not [x1, y1, x2, y2, ...] with at least 3 points`)
      }
      return p as number[]
    })
    return rleFromPolygons(polys, height, width)
  }
  if (isObj(seg) && Array.isArray(seg.size) && seg.counts !== undefined) {
    const [h, w] = seg.size as number[]
    if (h !== height || w !== width) throw badMask(`mask size ${h}x${w} (height x width) differs from the image's ${height}x${width}`, 'DATA_MASK_SIZE')
    let r: Rle
    if (typeof seg.counts === 'string') {
      try {
        r = rleFromString(seg.counts, height, width)
      } catch (e) {
        throw badMask(`compressed RLE counts cannot be read: ${(e as Error).message}`)
      }
    } else if (Array.isArray(seg.counts) && seg.counts.every((v) => typeof v === 'number' && Number.isInteger(v) && v >= 0)) {
      r = { height, width, counts: Uint32Array.from(seg.counts as number[]) }
    } else throw badMask('RLE counts are neither a string nor a list of non-negative integers')
    const problem = rleProblem(r)
    if (problem) throw badMask(`RLE: ${problem}`)
    return r
  }
  throw badMask(`segmentation is neither polygons nor RLE: ${JSON.stringify(seg).slice(0, 80)}`)
}

// ---------------------------------------------------------------------------------------------
// Pascal VOC

/** One VOC annotation file before labels are assigned. */
export interface VocAnnotation {
  file: string
  width: number
  height: number
  objects: { name: string; box: number[]; difficult: boolean; line: number }[]
}

/** Reads one VOC XML annotation (`xmlFile` names it in errors). Bad objects go through `bad`; a file that cannot be read at all throws DataRowError. */
export function parseVocAnnotation(text: string, xmlFile: string, bad: BadRows, boxTolerance = 1): VocAnnotation {
  let root: XmlElement
  try {
    root = parseXml(text)
  } catch (e) {
    if (e instanceof XmlSyntaxError) throw new DataRowError('DATA_BAD_XML', { file: xmlFile, line: e.line }, `not well-formed XML: ${e.message}`, 'fix the file, or skip such files (onBadRow: skip)')
    throw e
  }
  const where = { file: xmlFile, line: root.line }
  if (root.name !== 'annotation') throw new DataRowError('DATA_BAD_XML', where, `the root element is <${root.name}>, not <annotation>`, 'a Pascal VOC file has one <annotation> element')
  const size = xmlChild(root, 'size')
  const width = Number(size && xmlChildText(size, 'width'))
  const height = Number(size && xmlChildText(size, 'height'))
  if (!size || !posInt(width) || !posInt(height)) {
    throw new DataRowError('DATA_BAD_XML', { file: xmlFile, line: size?.line ?? root.line }, `<size> lacks a positive <width> and <height> (got ${size ? `${xmlChildText(size, 'width')}x${xmlChildText(size, 'height')}` : 'no <size>'})`, 'add the image size, or skip such files (onBadRow: skip)')
  }
  const file = xmlChildText(root, 'filename')
  if (!file) throw new DataRowError('DATA_BAD_XML', where, 'has no <filename>', 'add the image file name, or skip such files (onBadRow: skip)')
  const objects: VocAnnotation['objects'] = []
  root.children.forEach((o) => {
    if (o.name !== 'object') return
    try {
      const name = xmlChildText(o, 'name')
      const what = `object ${objects.length + 1}${name ? ` "${name}"` : ''}`
      const at = { file: xmlFile, line: o.line }
      if (!name) throw new DataRowError('DATA_BAD_XML', at, `${what} has no <name>`, 'name the object, or skip such objects (onBadRow: skip)')
      const bb = xmlChild(o, 'bndbox')
      if (!bb) throw new DataRowError('DATA_BAD_BOX', at, `${what} has no <bndbox>`, 'add the box, or skip such objects (onBadRow: skip)')
      const v = ['xmin', 'ymin', 'xmax', 'ymax'].map((k) => Number(xmlChildText(bb, k) ?? NaN))
      const box = checkBox([v[0]! - 1, v[1]! - 1, v[2]!, v[3]!], width, height, boxTolerance, { file: xmlFile, line: bb.line }, what)
      objects.push({ name, box, difficult: xmlChildText(o, 'difficult') === '1', line: o.line })
    } catch (e) {
      bad.handle(e)
    }
  })
  return { file, width, height, objects }
}

/**
 * Assigns labels to VOC annotations: `categories` fixes the list (other names are
 * DATA_UNKNOWN_CATEGORY); without it, the 20 VOC classes when every name is one of them, else
 * the names found, sorted.
 */
export function vocToDetection(anns: readonly VocAnnotation[], xmlFiles: readonly string[], bad: BadRows, categories?: readonly string[]): { categories: Category[]; images: AnnotatedImage[] } {
  let names = categories
  if (!names) {
    const found = new Set<string>()
    for (const a of anns) for (const o of a.objects) found.add(o.name)
    names = [...found].every((n) => VOC_CLASSES.includes(n)) ? VOC_CLASSES : [...found].sort()
  }
  const resolve = nameResolver(names)
  const images = anns.map((a, i) => {
    const o = new ObjectList()
    for (const obj of a.objects) {
      try {
        const label = resolve.label(obj.name)
        if (label === undefined) {
          throw new DataRowError('DATA_UNKNOWN_CATEGORY', { file: xmlFiles[i]!, line: obj.line }, `object "${obj.name}" is not among the categories (${listNames(resolve.names())})`, 'fix the name, or skip such objects (onBadRow: skip)')
        }
        o.push(obj.box, label)
        o.difficult.push(obj.difficult ? 1 : 0)
      } catch (e) {
        bad.handle(e)
      }
    }
    return o.image(a.file, a.width, a.height, { difficult: true })
  })
  return { categories: names.map((name, id) => ({ id, name })), images }
}

// ---------------------------------------------------------------------------------------------
// YOLO

/**
 * One YOLO label file for an image of width x height: `class cx cy w h` per line, normalised, or
 * `class x1 y1 x2 y2 ...` polygons (normalised; with `masks`, rasterised to instance masks).
 * Blank lines are skipped. Bad lines go through `bad`.
 */
export function parseYoloLabels(
  text: string,
  labelFile: string,
  image: { file: string; width: number; height: number },
  categories: readonly string[],
  bad: BadRows,
  opts: { boxTolerance?: number; masks?: boolean } = {},
): AnnotatedImage {
  const { width: W, height: H } = image
  // tolerance in normalised units, from pixels
  const tol = opts.boxTolerance ?? 1
  const o = new ObjectList()
  const lines = text.split(/\r?\n/)
  lines.forEach((raw, i) => {
    const line = raw.trim()
    if (!line) return
    const where = { file: labelFile, line: i + 1 }
    try {
      const parts = line.split(/\s+/)
      const nums = parts.map(Number)
      const fields = nums.length - 1
      if (!(fields === 4 || (fields >= 6 && fields % 2 === 0))) {
        throw new DataRowError('DATA_YOLO_LINE', where, `has ${fields} numbers after the class; expected 4 (cx cy w h) or a polygon (x1 y1 x2 y2 x3 y3 ...)`, 'fix the line, or skip such lines (onBadRow: skip)')
      }
      const nan = parts.findIndex((_, k) => !Number.isFinite(nums[k]!))
      if (nan >= 0) throw new DataRowError('DATA_YOLO_LINE', where, `field ${nan + 1} ${JSON.stringify(parts[nan])} is not a number`, 'fix the line, or skip such lines (onBadRow: skip)')
      const c = nums[0]!
      if (!Number.isInteger(c) || c < 0 || c >= categories.length) {
        throw new DataRowError('DATA_UNKNOWN_CATEGORY', where, `class ${parts[0]} is not among the ${categories.length} classes (0..${categories.length - 1}: ${listNames(categories)})`, 'fix the class or the names list (classes.txt / data.yaml), or skip such lines (onBadRow: skip)')
      }
      let box: number[]
      let poly: number[] | undefined
      if (fields === 4) {
        const [cx, cy, w, h] = nums.slice(1) as [number, number, number, number]
        box = [(cx - w / 2) * W, (cy - h / 2) * H, (cx + w / 2) * W, (cy + h / 2) * H]
      } else {
        poly = nums.slice(1).map((v, k) => v * (k % 2 === 0 ? W : H))
        const xs = poly.filter((_, k) => k % 2 === 0)
        const ys = poly.filter((_, k) => k % 2 === 1)
        box = [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)]
      }
      const what = `object of class ${c} (${categories[c]})`
      const checked = checkBox(box, W, H, tol, where, what)
      o.push(checked, c)
      if (opts.masks) {
        const [x1, y1, x2, y2] = checked as [number, number, number, number]
        o.masks.push(rleFromPolygons([poly ?? [x1, y1, x1, y2, x2, y2, x2, y1]], H, W))
      }
    } catch (e) {
      bad.handle(e)
    }
  })
  return o.image(image.file, W, H, { masks: !!opts.masks })
}

/** classes.txt / obj.names: one class name per line, blank lines skipped. */
export function parseYoloNames(text: string, file: string): string[] {
  const names = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '')
  if (names.length === 0) throw fileError('DATA_YOLO_NAMES', file, 'lists no class names', 'write one class name per line')
  return names
}

/**
 * The parts of an Ultralytics data.yaml that matter here: `path`, `train`, `val` and `names` (a
 * list, inline `[a, b]` or `- a` lines, or a mapping `0: a` lines). A small reader of exactly these
 * shapes, not a YAML parser.
 */
export function parseYoloDataYaml(text: string, file: string): { names: string[]; path?: string; train?: string; val?: string } {
  const lines = text.split(/\r?\n/).map((l) => l.replace(/\s+#.*$/, '').replace(/^#.*$/, ''))
  const out: { names: string[]; path?: string; train?: string; val?: string } = { names: [] }
  const unquote = (s: string): string => s.trim().replace(/^(['"])(.*)\1$/, '$2')
  for (let i = 0; i < lines.length; i++) {
    const m = /^([A-Za-z_]+)\s*:\s*(.*)$/.exec(lines[i]!)
    if (!m) continue
    const [, key, rest] = m as unknown as [string, string, string]
    if (key === 'path' || key === 'train' || key === 'val') {
      if (rest.trim()) out[key] = unquote(rest)
    } else if (key === 'names') {
      if (rest.trim().startsWith('[')) {
        const inner = rest.trim().replace(/^\[/, '').replace(/\]$/, '')
        out.names = inner.split(',').map(unquote).filter((n) => n !== '')
      } else {
        const byIndex: string[] = []
        let j = i + 1
        for (; j < lines.length && (/^\s+\S/.test(lines[j]!) || lines[j]!.trim() === ''); j++) {
          const l = lines[j]!.trim()
          if (!l) continue
          const item = /^-\s*(.*)$/.exec(l)
          const pair = /^(\d+)\s*:\s*(.*)$/.exec(l)
          if (item) byIndex.push(unquote(item[1]!))
          else if (pair) byIndex[Number(pair[1])] = unquote(pair[2]!)
          else throw fileError('DATA_YOLO_NAMES', file, `line ${j + 1}: ${JSON.stringify(l)} is neither "- name" nor "index: name"`, 'write names as a list or as index: name lines')
        }
        i = j - 1
        const hole = byIndex.findIndex((n) => n === undefined)
        if (hole >= 0 || byIndex.length !== Object.keys(byIndex).length) throw fileError('DATA_YOLO_NAMES', file, `names has no entry for class ${hole >= 0 ? hole : byIndex.length}`, 'number the classes 0, 1, 2, ... without gaps')
        out.names = byIndex
      }
    }
  }
  if (out.names.length === 0) throw fileError('DATA_YOLO_NAMES', file, 'has no "names" list', 'add names: [class0, class1, ...]')
  return out
}

// ---------------------------------------------------------------------------------------------
// Instances -> semantic masks

/**
 * An index mask (row-major, height x width) from an image's instance masks, as torchvision's
 * segmentation reference builds one from COCO: each pixel gets label + 1 of the object covering
 * it (0 is background), the larger label where several do, and `overlap` (255, ignored) where
 * more than one object covers it. Crowd objects are included, as there.
 */
export function semanticMaskFromInstances(img: AnnotatedImage, decode: (r: Rle) => Uint8Array, overlap = 255): Uint8Array {
  if (!img.masks) throw new DataError('DATA_NO_MASKS', `${img.file}: has no instance masks`, 'read the annotations with masks: true')
  const out = new Uint8Array(img.width * img.height)
  const count = new Uint8Array(img.width * img.height)
  img.masks.forEach((r, k) => {
    const m = decode(r)
    const v = img.labels[k]! + 1
    for (let p = 0; p < m.length; p++) {
      if (!m[p]) continue
      if (v > out[p]!) out[p] = v
      if (count[p]! < 2) count[p]!++
    }
  })
  for (let p = 0; p < out.length; p++) if (count[p]! > 1) out[p] = overlap
  return out
}
