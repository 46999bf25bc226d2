/**
 * Detection (COCO mAP) and segmentation (mIoU) on composed Fashion-MNIST scenes (issue 13), a
 * pre-trained backbone against the same network from random weights: scenes from
 * scripts/detection-scenes.ts (train from Fashion-MNIST's training items, test from its test items),
 * then for each label budget (the first N training scenes) and each start, the same steps, batch,
 * learning rate and seed; both sides scored on the same test scenes.
 *
 * - detection: FCOS over pretrained/fashion-mnist-resnet's body (fcos_hf_resnet_fpn: FPN 64 wide,
 *   torchvision's FCOS head and loss) vs the same network with every weight re-drawn (`init: random`);
 * - segmentation: LR-ASPP over the same body (lraspp_hf_resnet) vs the same from random weights.
 *
 *   nice -n 10 npx tsx scripts/detection-evidence.ts [OUT=/tmp/ft-scenes-evidence] [STEPS=150] [BUDGETS=50,500] [TASKS=detection,segmentation] [TEST=200] [OPTIMIZER=sgd] [LR=0.01] [STARTS=pretrained,scratch]
 *
 * (SGD with momentum, weight decay 1e-4 and a linear schedule are both tasks' defaults; OPTIMIZER adamw keeps the rest.)
 *
 * Prints markdown tables and writes OUT/evidence.json (rows of earlier runs into the same OUT are kept
 * unless rerun: STARTS=scratch reruns only that side); run by hand (CI never runs it). Figures are
 * deterministic for a command; times depend on the machine's load.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import '../src/runtime/ort-node.js'
import { evaluateModel, taskDefaults, train } from '../src/tasks/run-node.js'
import { writeScenes } from './detection-scenes.js'

const [out = '/tmp/ft-scenes-evidence', stepsArg = '150', budgetsArg = '50,500', tasksArg = 'detection,segmentation', testArg = '200', optimizer = 'sgd', lrArg = '0.01', startsArg = 'pretrained,scratch'] = process.argv.slice(2)
const lr = Number(lrArg)
const root = new URL('../', import.meta.url).pathname
const backbone = join(root, 'pretrained/fashion-mnist-resnet')
const steps = Number(stepsArg)
const budgets = budgetsArg.split(',').map(Number)
const log = (s: string): void => console.error(`[${new Date().toISOString().slice(11, 19)}] ${s}`)
mkdirSync(out, { recursive: true })

// the scenes: one generation per budget (a split's first N scenes are the same whatever follows)
const scenes = (n: number): string => join(out, `scenes-${n}`)
for (const n of budgets) if (!existsSync(join(scenes(n), 'train', 'instances.json'))) await writeScenes(scenes(n), { train: n, val: 0, test: 0 }, 13, 128, log)
const testDir = join(out, 'scenes-test')
if (!existsSync(join(testDir, 'test', 'instances.json'))) await writeScenes(testDir, { train: 0, val: 0, test: Number(testArg) }, 13, 128, log)

interface Row { task: string; budget: number; start: 'pretrained' | 'scratch'; metrics: Record<string, number>; train_s: number }
const evidenceFile = join(out, 'evidence.json')
const rows: Row[] = existsSync(evidenceFile) ? (JSON.parse(readFileSync(evidenceFile, 'utf8')) as { rows: Row[] }).rows : []
const common = { seed: 0, threads: 2, validationSplit: 0, batchSize: 8, evalBatchSize: 8, maxSteps: steps, epochs: 100_000, evalEvery: 1_000_000, saveEvery: 'none' as const, keepBest: false }

const settings = {
  detection: {
    train: (n: number) => ({ ...taskDefaults('object-detection'), ...common, task: 'object-detection', model: backbone, data: join(scenes(n), 'train', 'instances.json'), minSize: 128, maxSize: 128, optimizer, lr }),
    eval: (dir: string) => evaluateModel(dir, join(testDir, 'test', 'instances.json'), { task: 'object-detection', batchSize: 8, threads: 2, onBadRow: 'error' } as never),
    keys: ['map', 'map_50', 'map_75', 'mar_100'],
  },
  segmentation: {
    train: (n: number) => ({ ...taskDefaults('semantic-segmentation'), ...common, task: 'semantic-segmentation', model: backbone, arch: 'lraspp_hf_resnet', data: join(scenes(n), 'train'), imageSize: 128, optimizer, lr }),
    eval: (dir: string) => evaluateModel(dir, join(testDir, 'test'), { task: 'semantic-segmentation', batchSize: 8, threads: 2, imageSize: 128, onBadRow: 'error' } as never),
    keys: ['mIoU', 'mAcc', 'pixel_accuracy'],
  },
} as const

for (const task of tasksArg.split(',') as (keyof typeof settings)[]) {
  const s = settings[task]
  for (const n of budgets) {
    for (const start of startsArg.split(',') as ('pretrained' | 'scratch')[]) {
      const dir = join(out, `${task}-${n}-${start}`)
      const t0 = performance.now()
      await train({ ...s.train(n), out: dir, overwrite: true, init: start === 'scratch' ? 'random' : 'pretrained', log } as never)
      const train_s = (performance.now() - t0) / 1000
      const r = await s.eval(dir)
      const old = rows.findIndex((x) => x.task === task && x.budget === n && x.start === start)
      if (old >= 0) rows.splice(old, 1)
      rows.push({ task, budget: n, start, metrics: r.metrics, train_s })
      log(`${task} ${n} scenes ${start}: ${s.keys.map((k) => `${k} ${r.metrics[k]?.toFixed(4)}`).join(' ')} (${train_s.toFixed(0)} s)`)
      writeFileSync(`${evidenceFile}.tmp`, `${JSON.stringify({ steps, batch_size: 8, optimizer, lr, test_scenes: Number(testArg), rows }, null, 2)}\n`)
      renameSync(`${evidenceFile}.tmp`, evidenceFile)
    }
  }
  console.log(`\n| ${task} | training scenes | start | ${s.keys.join(' | ')} | train time (s) |\n| --- | --- | --- | ${s.keys.map(() => '---').join(' | ')} | --- |`)
  for (const r of rows.filter((x) => x.task === task)) console.log(`| ${task} | ${r.budget} | ${r.start} | ${s.keys.map((k) => (r.metrics[k] ?? NaN).toFixed(3)).join(' | ')} | ${r.train_s.toFixed(0)} |`)
}
