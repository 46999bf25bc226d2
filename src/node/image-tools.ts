/** Node-only library functions behind `finetune eval`, `predict`, `export`, `inspect` for image models. */
import { existsSync, readdirSync, statSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { dirname } from 'node:path'
import { ConfigError } from '../errors.js'
import { writeFileAtomic } from '../checkpoint/io-node.js'
import { loadImageData, loadImages } from '../data/image-data-node.js'
import { exportInferenceOnnx } from '../export/onnx.js'
import { openImageCheckpoint, saveImageCheckpoint, type ImageCheckpoint } from '../models/image-checkpoint-node.js'
import { Runtime, type Provider } from '../runtime/session.js'
import { ImageTaskRunner } from '../train/image.js'
import type { Prediction } from '../train/text.js'

export interface ImageToolOptions {
  arch?: string
  device?: Provider
  threads?: number
  batchSize?: number
  workers?: number
}

function runner(ck: ImageCheckpoint, runtime: Runtime, batchSize: number, train?: import('../data/image-dataset.js').ImageSplit): ImageTaskRunner {
  return new ImageTaskRunner({ model: ck.model, labels: ck.labels, train: train ?? (null as never), batchSize, seed: 0, method: 'full', runtime, optimizer: { kind: 'sgd', lr: 0 } })
}

export async function evalImages(model: string, data: string, o: ImageToolOptions & { onBadRow?: 'error' | 'skip' } = {}): Promise<{ metrics: Record<string, number>; examples: number; skipped: number }> {
  const ck = await openImageCheckpoint(model, o.arch ? { arch: o.arch } : {})
  const ds = await loadImageData({ data, labels: ck.labels, preprocessing: ck.preprocessing, validationFraction: 0, onBadRow: o.onBadRow ?? 'error', ...(o.workers !== undefined ? { workers: o.workers } : {}) })
  const runtime = new Runtime({ provider: o.device ?? 'cpu', ...(o.threads ? { threads: o.threads } : {}) })
  try {
    const metrics = await runner(ck, runtime, o.batchSize ?? 32, ds.train).evaluate(ds.train)
    return { metrics, examples: ds.train.length, skipped: ds.badRows().total }
  } finally {
    await ds.close()
    await runtime.dispose()
  }
}

export async function predictImages(model: string, paths: readonly string[], o: ImageToolOptions = {}): Promise<(Prediction & { path: string })[]> {
  const ck = await openImageCheckpoint(model, o.arch ? { arch: o.arch } : {})
  const set = await loadImages(paths, { preprocessing: ck.preprocessing, ...(o.workers !== undefined ? { workers: o.workers } : {}) })
  const runtime = new Runtime({ provider: o.device ?? 'cpu', ...(o.threads ? { threads: o.threads } : {}) })
  const r = runner(ck, runtime, o.batchSize ?? 16)
  const out: (Prediction & { path: string })[] = []
  try {
    for await (const b of set.batches(0, { batchSize: o.batchSize ?? 16 })) {
      const res = await r.session.evaluate({ pixels: { data: b.pixels, shape: b.shape, dtype: 'float32' } })
      const lg = res.outputs['logits']!.data as Float32Array
      const L = ck.labels.length
      b.indices.forEach((ix, k) => {
        const row = Array.from(lg.subarray(k * L, (k + 1) * L))
        const m = Math.max(...row)
        const e = row.map((v) => Math.exp(v - m))
        const s = e.reduce((a, c) => a + c, 0)
        const best = row.indexOf(m)
        out.push({ path: set.paths[ix]!, label: ck.labels[best]!, score: e[best]! / s, logits: row })
      })
    }
    return out
  } finally {
    await set.close()
    await runtime.dispose()
  }
}

export async function exportImages(model: string, o: ImageToolOptions & { format: 'onnx' | 'safetensors'; out: string }): Promise<{ path: string; inputs: Record<string, number[]> }> {
  const ck = await openImageCheckpoint(model, o.arch ? { arch: o.arch } : {})
  if (o.format === 'safetensors') {
    if (existsSync(o.out) && !statSync(o.out).isDirectory()) throw new ConfigError('EXPORT_OUT', `${o.out} is a file; safetensors export writes a folder`, 'pass a folder path as --out')
    await saveImageCheckpoint(o.out, ck)
    return { path: o.out, inputs: {} }
  }
  const p = ck.preprocessing
  const H = p.crop?.height ?? (p.resize && 'height' in p.resize ? p.resize.height : ck.model.defaultImageSize)
  const W = p.crop?.width ?? (p.resize && 'width' in p.resize ? p.resize.width : ck.model.defaultImageSize)
  const B = o.batchSize ?? 1
  const bytes = exportInferenceOnnx({
    model: ck.model,
    inputs: { pixel_values: { shape: [B, 3, H, W], dtype: 'float32' } },
    forward: (i) => ({ logits: ck.model.logits(i['pixel_values']!) }),
    metadata: { source: ck.source, arch: ck.arch, id2label: JSON.stringify(Object.fromEntries(ck.labels.map((l, i) => [i, l]))) },
  })
  await mkdir(dirname(o.out) || '.', { recursive: true })
  await writeFileAtomic(o.out, [bytes])
  return { path: o.out, inputs: { pixel_values: [B, 3, H, W] } }
}

export async function inspectImages(model: string, o: ImageToolOptions = {}): Promise<Record<string, unknown>> {
  const ck = await openImageCheckpoint(model, o.arch ? { arch: o.arch } : {})
  const byModule: Record<string, number> = {}
  for (const [n, p] of ck.model.namedParameters()) if (p.kind === 'param') byModule[n.split('.')[0]!] = (byModule[n.split('.')[0]!] ?? 0) + p.data.length
  return {
    path: model,
    source: ck.source,
    arch: ck.arch,
    parameters: ck.model.countParameters(),
    numClasses: ck.model.numClasses,
    featureSize: ck.model.featureSize,
    head: ck.model.headPrefixes,
    labels: ck.labels,
    preprocessing: ck.preprocessing,
    byModule,
    files: statSync(model).isDirectory() ? readdirSync(model).sort() : [model],
  }
}
