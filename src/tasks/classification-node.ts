/**
 * What the file classification tasks (audio-classification, image-classification) share once a
 * model is open: predict over a set of files (label, score and logits per file), the weights-folder
 * and ONNX exports, and the classes row of inspect. The tasks keep what differs: how files become
 * batches, which input the graph reads, the metadata an export records.
 */
import { existsSync, statSync } from 'node:fs'
import { copyFile, mkdir } from 'node:fs/promises'
import { dirname } from 'node:path'
import { ConfigError } from '../errors.js'
import { writeFileAtomic } from '../checkpoint/io-node.js'
import type { Tensor } from '../graph/graph.js'
import type { Module } from '../graph/module.js'
import { exportInferenceOnnx } from '../export/onnx.js'
import type { LoraConfig } from '../methods/index.js'
import { saveWithAdapter } from './adapter-node.js'
import { assertFiniteOutputs, softmax, type ExportResult, type PredictRecord } from './task.js'

/** Files to classify, decoded in batches in path order (`indices` into `paths`). */
export interface ClassifiedFiles<B extends { indices: ArrayLike<number> }> {
  paths: readonly string[]
  batches(startBatch: number, opts: { batchSize: number }): AsyncIterable<B>
  close(): Promise<void>
}

/**
 * One record per file: the best label, its softmax score and the logits (`logitsOf` gives a batch's
 * B x labels, row-major). Non-finite logits name the file; the set is closed either way.
 */
export async function predictLabels<B extends { indices: ArrayLike<number> }>(set: ClassifiedFiles<B>, batchSize: number, logitsOf: (b: B) => Promise<Float32Array>, labels: readonly string[], model: string): Promise<PredictRecord[]> {
  const out: PredictRecord[] = []
  const L = labels.length
  try {
    for await (const b of set.batches(0, { batchSize })) {
      const lg = await logitsOf(b)
      Array.from(b.indices).forEach((ix, k) => {
        const row = Array.from(lg.subarray(k * L, (k + 1) * L))
        assertFiniteOutputs(row, model, set.paths[ix]!)
        const p = softmax(row)
        const best = p.indexOf(Math.max(...p))
        out.push({ path: set.paths[ix]!, label: labels[best]!, score: p[best]!, logits: row })
      })
    }
    return out
  } finally {
    await set.close()
  }
}

/**
 * A `--format safetensors` export to a folder: the task's own layout (`save`), with an unmerged
 * LoRA adapter beside it. `orFile` completes the message when `out` is a file (a task that also
 * writes single files says when).
 */
export async function exportWeightsFolder(out: string, model: Module, adapter: LoraConfig | null, save: (dir: string) => Promise<void>, o: { baseModel: string; task: string; orFile?: string }): Promise<ExportResult> {
  if (existsSync(out) && !statSync(out).isDirectory()) throw new ConfigError('EXPORT_OUT', `${out} is a file; safetensors export writes a folder${o.orFile ? ` ${o.orFile}` : ''}`, 'pass a folder path as --out')
  await saveWithAdapter(out, model, adapter, save, { merge: false, baseModel: o.baseModel, task: o.task })
  return { path: out, inputs: {} }
}

/** An untrained imported graph exported as itself, byte for byte; dynamic axes read -1. */
export async function copySourceGraph(file: string, out: string, input: { name: string; shape: readonly (number | string | null)[] }): Promise<ExportResult> {
  await mkdir(dirname(out) || '.', { recursive: true })
  await copyFile(file, out)
  return { path: out, inputs: { [input.name]: input.shape.map((d) => (typeof d === 'number' ? d : -1)) } }
}

/** config/metadata id2label: `{"0": label, ...}` as a JSON string. */
export const id2labelJson = (labels: readonly string[]): string => JSON.stringify(Object.fromEntries(labels.map((l, i) => [i, l])))

/**
 * An ONNX inference export of a classifier reading one float32 input: `logits` = forward(input),
 * the given metadata, written atomically.
 */
export async function exportClassifierOnnx(out: string, o: { model: Module; input: string; shape: number[]; dynamicBatch: boolean; forward: (x: Tensor) => Tensor; metadata: Record<string, string> }): Promise<ExportResult> {
  const bytes = exportInferenceOnnx({
    dynamicBatch: o.dynamicBatch,
    model: o.model,
    inputs: { [o.input]: { shape: o.shape, dtype: 'float32' } },
    forward: (i) => ({ logits: o.forward(i[o.input]!) }),
    metadata: o.metadata,
  })
  await mkdir(dirname(out) || '.', { recursive: true })
  await writeFileAtomic(out, [bytes])
  return { path: out, inputs: { [o.input]: o.shape } }
}

/** Inspect's classes row: the count and the first 20 names. */
export const classesRow = (labels: readonly string[]): [string, string] => ['classes', `${labels.length}: ${labels.slice(0, 20).join(', ')}${labels.length > 20 ? ', ...' : ''}`]
