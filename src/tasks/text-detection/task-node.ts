/**
 * `text-detection`: text regions as polygons, by a DB (Differentiable Binarization) detector
 * imported from ONNX, PP-OCRv4's by default (`--model pp-ocrv4-det`). Training reads PaddleOCR's
 * label file (data-node.ts), crops images to `--image-size`, makes DB targets (src/data/db-targets.ts)
 * and minimises the DB loss (loss.ts); evaluation and prediction resize as PaddleOCR's
 * DetResizeForTest, post-process as DBPostProcess (postprocess.ts) and score hmean as DetMetric.
 *
 * The inference graph has no threshold branch (see loss.ts), so the loss is the probability-map
 * part of DB's: 5 x balanced BCE + Dice on the probability map. BatchNorm stays in its inference
 * form unless --no-freeze-bn (batches of a few crops give poor batch statistics).
 */
import { mkdir } from 'node:fs/promises'
import { dirname } from 'node:path'
import { ConfigError } from '../../errors.js'
import { writeFileAtomic } from '../../checkpoint/io-node.js'
import { makeDbTargets } from '../../data/db-targets.js'
import type { Point } from '../../data/polygon.js'
import { hostF32, TrainSession } from '../../train/step.js'
import type { TrainBatch, TrainingJob } from '../../train/trainer.js'
import { combineTextCounts, evaluateTextImage, type DetCounts } from '../../train/metrics-text-detection.js'
import type { OptimizerConfig } from '../../optim/optimizers.js'
import { Rng } from '../../runtime/rng.js'
import { Runtime } from '../../runtime/session.js'
import { followEvaluation, type OpenOptions, type PredictRecord, type Task } from '../task.js'
import { cropRng, forTest, ImageCache, readLabelFile, splitImages, trainCrop, writeBgr, type TextImage } from './data-node.js'
import { BUILTIN_DETECTORS, openTextDetector, type TextDetector } from './detector-node.js'
import { dbLossProbabilityOnly } from './loss.js'
import { drawPolygon } from '../../data/draw.js'
import { Drawings, drawOption } from '../draw-node.js'
import { DB_POSTPROCESS_DEFAULTS, dbPostProcess, type DbPostProcessOptions, type TextBox } from './postprocess.js'

const num = (v: unknown, d: number): number => (typeof v === 'number' ? v : d)
/** --draw: text polygons in green. */
const TEXT_COLOUR = [0, 230, 0] as const

function postOptions(o: Record<string, unknown>, config: Record<string, unknown> = {}): DbPostProcessOptions {
  return {
    ...DB_POSTPROCESS_DEFAULTS,
    thresh: num(o['thresh'], num(config['det_db_thresh'], DB_POSTPROCESS_DEFAULTS.thresh)),
    boxThresh: num(o['boxThresh'], num(config['det_db_box_thresh'], DB_POSTPROCESS_DEFAULTS.boxThresh)),
    unclipRatio: num(o['unclipRatio'], num(config['det_db_unclip_ratio'], DB_POSTPROCESS_DEFAULTS.unclipRatio)),
  }
}

/** The detector's forward for training (loss from the DB targets) and inference (the probability map). */
function session(det: TextDetector, runtime: Runtime, optimizer: OptimizerConfig, extra: { clipNorm?: number; accumulation?: number; seed?: number } = {}): TrainSession {
  return new TrainSession({
    runtime,
    model: det.model,
    optimizer,
    ...extra,
    forward: (i, g) => {
      const { logits, probs } = det.maps(i['x']!)
      const shrinkMap = i['shrink_map']
      const loss = shrinkMap ? dbLossProbabilityOnly({ shrink: probs, shrinkLogits: logits }, { shrinkMap, shrinkMask: i['shrink_mask']! }).loss : undefined
      return { ...(loss ? { loss } : {}), ...(g.training ? {} : { outputs: { probs } }) }
    },
  })
}

/** Boxes for one image: resized as DetResizeForTest, run, post-processed to source pixels; with DB targets, the loss too. */
async function detect(s: TrainSession, cache: ImageCache, im: TextImage, limitSideLen: number, post: DbPostProcessOptions, withLoss: boolean): Promise<{ boxes: TextBox[]; loss?: number }> {
  const img = await cache.get(im)
  const t = forTest(img, im, limitSideLen)
  const { width: W, height: H } = t.image
  const x = new Float32Array(3 * W * H)
  writeBgr(t.image, x, 0)
  const feeds: Record<string, ReturnType<typeof hostF32>> = { x: hostF32(x, [1, 3, H, W]) }
  if (withLoss) {
    const tg = makeDbTargets(W, H, t.polygons, im.ignore)
    feeds['shrink_map'] = hostF32(tg.shrinkMap, [1, H, W])
    feeds['shrink_mask'] = hostF32(tg.shrinkMask, [1, H, W])
  }
  const r = await s.evaluate(feeds)
  const probs = r.outputs['probs']!.data as Float32Array
  for (let i = 0; i < probs.length; i++)
    if (!Number.isFinite(probs[i]!)) throw new ConfigError('OUTPUT_NOT_FINITE', `the detector gave non-finite probabilities for ${im.path}`, 'its weights are not finite (training diverged?): use an earlier checkpoint, or retrain with a lower --lr')
  return { boxes: dbPostProcess(probs, W, H, img.width, img.height, post), ...(r.loss !== undefined ? { loss: r.loss } : {}) }
}

/** hmean, precision, recall (and the mean DB loss at evaluation size) over labelled images. */
async function evaluateImages(s: TrainSession, cache: ImageCache, images: readonly TextImage[], limitSideLen: number, post: DbPostProcessOptions): Promise<Record<string, number>> {
  const counts: DetCounts[] = []
  let loss = 0
  for (const im of images) {
    const r = await detect(s, cache, im, limitSideLen, post, true)
    loss += r.loss ?? 0
    counts.push(evaluateTextImage(im.polygons.map((p, i) => ({ points: p, ignore: im.ignore[i]! })), r.boxes.map((b) => ({ points: b.points }))))
  }
  const m = combineTextCounts(counts)
  return { eval_loss: loss / Math.max(1, images.length), hmean: m.hmean, precision: m.precision, recall: m.recall }
}

const usage = (msg: string, hint: string): ConfigError => new ConfigError('CLI_USAGE', msg, hint)

export const textDetection: Task = {
  name: 'text-detection',
  summary: 'text regions as polygons: a DB detector (PP-OCRv4 det, from ONNX), DB loss, hmean',
  modality: 'image',
  options: {
    imageSize: { type: 'int', describe: 'training crop side (a multiple of 32; PaddleOCR trains at 640)', default: 640, min: 32, commands: ['train'] },
    limitSideLen: { type: 'int', describe: "evaluation and prediction: the longer side's limit before rounding to multiples of 32 (DetResizeForTest)", default: 960, min: 32, commands: ['train', 'eval', 'predict'] },
    thresh: { type: 'number', describe: `binarisation threshold of the probability map (default ${DB_POSTPROCESS_DEFAULTS.thresh})`, min: 0, max: 1, commands: ['train', 'eval', 'predict'] },
    boxThresh: { type: 'number', describe: `drop boxes whose mean probability is lower (default ${DB_POSTPROCESS_DEFAULTS.boxThresh})`, min: 0, max: 1, commands: ['train', 'eval', 'predict'] },
    unclipRatio: { type: 'number', describe: `how far boxes are grown: area x ratio / perimeter (default ${DB_POSTPROCESS_DEFAULTS.unclipRatio})`, min: 0, commands: ['train', 'eval', 'predict'] },
    augment: { type: 'boolean', describe: 'random scale (0.5-1.5 times the evaluation scale) and crop of training images (--no-augment: the centre crop at the evaluation scale)', default: true, commands: ['train'] },
    freezeBn: { type: 'boolean', describe: 'keep BatchNorm in inference form while training (--no-freeze-bn: batch statistics)', default: true, commands: ['train'] },
    draw: drawOption('the text polygons in green'),
  },
  defaults: { batchSize: 4, lr: 1e-4, weightDecay: 0, schedule: 'cosine', optimizer: 'adam' },
  examples: [
    'finetune train --task text-detection --model pp-ocrv4-det --data train/label.txt --validation test/label.txt --out ./det',
    'finetune eval --model ./det --data test/label.txt',
    'finetune predict --model ./det --json page1.png page2.jpg',
    'finetune export --model ./det --format onnx --out det.onnx',
  ],
  predictInputs: 'IMAGE...',
  recognises: () => false,

  async prepare(o, runtime) {
    if (o.method !== 'full') throw new ConfigError('TEXT_DET_METHOD', `--method ${o.method} is not available for text-detection`, 'the detector is trained in full (--method full); --freeze-bn keeps BatchNorm fixed')
    if (o.subset) throw new ConfigError('TEXT_DET_SUBSET', 'label-budget subsets are not available for text-detection', 'train on a smaller label file instead')
    const S = num(o['imageSize'], 640)
    if (S % 32 !== 0) throw usage(`--image-size ${S} is not a multiple of 32`, `the detector downsamples 32 times: use ${Math.max(32, Math.round(S / 32) * 32)}`)
    const det = await openTextDetector(o.model)
    det.trainBatchNorm = o['freezeBn'] === false
    const data = readLabelFile(o.data, o.onBadRow)
    const val = o.validation ? readLabelFile(o.validation, o.onBadRow) : null
    const split = val ? { train: data.images, validation: val.images } : splitImages(data.images, o.validationSplit, o.seed)
    const post = postOptions(o)
    const limit = num(o['limitSideLen'], 960)
    const augment = o['augment'] !== false
    const cache = new ImageCache()
    const train = split.train
    const B = Math.min(o.batchSize, train.length)
    // the images are read before anything is written: a bad one stops here with its file and line
    for (const im of [...train, ...split.validation]) await cache.get(im)
    const job = async (optimizer: OptimizerConfig): Promise<TrainingJob> => {
      const s = session(det, runtime, optimizer, { ...(o.clipNorm > 0 ? { clipNorm: o.clipNorm } : {}), accumulation: o.gradAccum, seed: o.seed })
      const batchesPerEpoch = Math.max(1, Math.floor(train.length / B))
      return {
        session: s,
        trainExamples: train.length,
        evalExamples: split.validation.length,
        batchesPerEpoch,
        async *batches(epoch: number, start: number): AsyncIterable<TrainBatch> {
          const order = train.map((_, i) => i)
          new Rng(o.seed * 7919 + epoch).shuffle(order)
          for (let b = start; b < batchesPerEpoch; b++) {
            const x = new Float32Array(B * 3 * S * S)
            const shrinkMap = new Float32Array(B * S * S)
            const shrinkMask = new Float32Array(B * S * S)
            for (let k = 0; k < B; k++) {
              const id = order[b * B + k]!
              const im = train[id]!
              const c = trainCrop(await cache.get(im), im, { size: S, scale: [0.5, 1.5], limitSideLen: limit }, augment ? cropRng(o.seed, epoch, id) : null)
              writeBgr(c.image, x, k * 3 * S * S)
              const t = makeDbTargets(S, S, c.polygons, c.ignore)
              shrinkMap.set(t.shrinkMap, k * S * S)
              shrinkMask.set(t.shrinkMask, k * S * S)
            }
            yield { feeds: { x: hostF32(x, [B, 3, S, S]), shrink_map: hostF32(shrinkMap, [B, S, S]), shrink_mask: hostF32(shrinkMask, [B, S, S]) }, examples: B }
          }
        },
        evaluate: () => evaluateImages(s, cache, split.validation, limit, post),
      }
    }
    return {
      model: det.model,
      headPrefixes: [],
      job,
      defaultMetric: 'hmean',
      labels: [],
      headFromCheckpoint: true,
      trainExamples: train.length,
      evalExamples: split.validation.length,
      skipped: data.skipped + (val?.skipped ?? 0),
      record: { source: 'onnx', arch: `onnx:${String(det.config['onnx_source_file'] ?? det.file)}`, loss: 'DB loss on the probability map (5 x balanced BCE + Dice): the inference graph has no threshold branch', image_size: S, freeze_bn: o['freezeBn'] !== false },
      save: (dir) => det.save(dir, { finetune_task: 'text-detection', det_db_thresh: post.thresh, det_db_box_thresh: post.boxThresh, det_db_unclip_ratio: post.unclipRatio, det_limit_side_len: limit }),
      close: async () => {},
    }
  },

  async open(model: string, o: OpenOptions) {
    const det = await openTextDetector(model)
    const runtime = new Runtime({ provider: o.device ?? 'cpu', ...(o.threads ? { threads: o.threads } : {}) })
    const s = session(det, runtime, { kind: 'sgd', lr: 0 })
    const post = postOptions(o, det.config)
    const limit = num(o['limitSideLen'], num(det.config['det_limit_side_len'], 960))
    const cache = new ImageCache()
    return {
      async evaluate(data, eo) {
        const { images, skipped } = readLabelFile(data, eo.onBadRow)
        followEvaluation(s, eo, images.length)
        return { metrics: await evaluateImages(s, cache, images, limit, post), examples: images.length, skipped }
      },
      async predict(paths, po) {
        if (paths.length === 0) throw usage('finetune predict: give image files as arguments', 'run "finetune predict --task text-detection --help"')
        const drawings = await Drawings.open(po['draw'])
        const out: PredictRecord[] = []
        for (const path of paths) {
          const { boxes } = await detect(s, cache, { path, polygons: [], ignore: [], file: path, line: 0 }, limit, post, false)
          let drawn: string | undefined
          if (drawings) {
            const canvas = await drawings.canvas(path)
            for (const b of boxes) drawPolygon(canvas, b.points, TEXT_COLOUR)
            drawn = await drawings.write(path, canvas)
          }
          out.push({ path, boxes: boxes.map((b) => ({ points: b.points.map(([x, y]): Point => [x, y]), score: b.score })), ...(drawn ? { drawn } : {}), logits: [] })
        }
        return out
      },
      async export(eo) {
        if (eo.format !== 'onnx') {
          await det.save(eo.out, { finetune_task: 'text-detection' })
          return { path: eo.out, inputs: {} }
        }
        await mkdir(dirname(eo.out) || '.', { recursive: true })
        await writeFileAtomic(eo.out, [det.exportOnnx()])
        return { path: eo.out, inputs: { [det.inputName]: [-1, 3, -1, -1] } }
      },
      async inspect() {
        const byModule: Record<string, number> = {}
        let n = 0
        for (const [name, p] of det.model.namedParameters()) if (p.kind === 'param') {
          const k = name.split(/[._]/)[0]!
          byModule[k] = (byModule[k] ?? 0) + p.data.length
          n += p.data.length
        }
        const json = { path: model, task: 'text-detection', source: 'onnx', file: det.file, input: det.inputName, output: det.probsName, logits: det.logitsName, parameters: n, postprocess: post, limit_side_len: limit, builtin: Object.keys(BUILTIN_DETECTORS) }
        return { json, byModule, rows: [['model', model], ['task', 'text-detection'], ['graph', det.file], ['parameters', n.toLocaleString()], ['maps', `${det.inputName} -> ${det.logitsName} -> sigmoid -> ${det.probsName}`], ['post-processing', JSON.stringify(post)]] }
      },
      close: () => runtime.dispose(),
    }
  },
}
