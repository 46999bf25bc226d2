/**
 * Checks one torchvision segmentation family against its golden (scripts/gen_segmentation_goldens.py):
 * shared by src/models/segmentation.test.ts and segmentation-resnet.test.ts. Tolerances are stated
 * there.
 */
import { readFileSync } from 'node:fs'
import { expect } from 'vitest'
import { runGraph } from './graph-run.js'
import { expectClose } from './op-check.js'
import { grad } from '../src/autodiff/grad.js'
import type { Tensor } from '../src/graph/graph.js'
import { SegmentationModel, segmentationLoss, type SegmentationArch } from '../src/models/segmentation.js'
import { detUniform, fillDeterministic } from '../src/models/vision-weights.js'
import { hostF32, hostI64 } from '../src/train/step.js'

interface Sampled { shape: number[]; indices: number[]; values: number[]; max_abs: number; l2: number; float32_err?: number }
interface GradGolden extends Sampled { float32_err: number; perturbed_err: number }
interface Golden {
  arch: SegmentationArch
  num_classes: number
  image_size: number
  batch: number
  input: { name: string; scale: number }
  target: { name: string; ignore_index: number; first: number[]; ignored: number }
  aux_weight: number
  weight_checks: Record<string, number[]>
  param_count: number
  param_count_default: number
  eval: { out: Sampled; aux?: Sampled }
  train: { out: Sampled; aux?: Sampled; loss: number; loss_parts: Record<string, number>; grads: Record<string, GradGolden>; running_mean: Record<string, number[]> }
}

export const goldenDir = new URL('./golden/segmentation/', import.meta.url).pathname
const golden = (arch: string): Golden => JSON.parse(readFileSync(`${goldenDir}${arch}.json`, 'utf8')) as Golden
const maxAbs = (a: ArrayLike<number>): number => Array.from(a).reduce((m, v) => Math.max(m, Math.abs(v)), 0)

/** The golden's masks: u in [-1, 1) from the formula, floor((u + 1) / 2 * (K + 1)), K meaning ignore. */
function targets(g: Golden): BigInt64Array {
  const n = g.batch * g.image_size * g.image_size
  const u = detUniform(g.target.name, new Float32Array(n), 1)
  return BigInt64Array.from(u, (v) => {
    const c = Math.floor(((v + 1) / 2) * (g.num_classes + 1))
    return BigInt(c === g.num_classes ? g.target.ignore_index : c)
  })
}

function expectSampled(got: Float32Array, want: Sampled, what: string): void {
  const tol = Math.max(1e-4, 10 * (want.float32_err ?? 0))
  expect(got.length, `${what}: size`).toBe(want.shape.reduce((a, b) => a * b, 1))
  expectClose(want.indices.map((i) => got[i]!), want.values, tol, what)
  expect(Math.abs(maxAbs(got) - want.max_abs) / want.max_abs, `${what}: max |v|`).toBeLessThan(tol)
  const l2 = Math.sqrt(got.reduce((a, v) => a + v * v, 0))
  expect(Math.abs(l2 - want.l2) / want.l2, `${what}: L2 norm`).toBeLessThan(tol)
}

/** Eval and train logits (with aux), the reference-script loss, gradients and running means of `arch` against its golden. */
export async function checkSegmentationGolden(arch: SegmentationArch): Promise<void> {
      const g = golden(arch)
      const model = new SegmentationModel(arch, g.num_classes, { init: false, dropout: 0 })
      const params = new Map(model.nameParameters().map((p) => [p.name, p]))
      fillDeterministic(model)
      for (const [name, want] of Object.entries(g.weight_checks)) expect(Array.from(params.get(name)!.data.subarray(0, want.length)), name).toEqual(want)
      // the same state_dict keys as torchvision (every golden name resolves) and the same parameter counts
      expect(model.countParameters()).toBe(g.param_count)
      // at torchvision's pretrained configuration (21 classes) only the class convolutions grow
      const headWidth = model.headPrefixes.reduce((a, h) => a + params.get(`${h}.weight`)!.shape[1]! + 1, 0)
      expect(g.param_count + (21 - g.num_classes) * headWidth).toBe(g.param_count_default)
      expect(model.hasAux).toBe(g.aux_weight > 0)

      const S = g.image_size
      const shape = [g.batch, 3, S, S]
      const x = hostF32(detUniform(g.input.name, new Float32Array(shape.reduce((a, b) => a * b, 1)), g.input.scale), shape)
      const t = targets(g)
      expect(Array.from(t.subarray(0, 16), Number)).toEqual(g.target.first)
      expect(t.filter((v) => v === 255n).length).toBe(g.target.ignored)
      const y = hostI64(Array.from(t, Number), [g.batch, S, S])

      const ev = await runGraph((gr) => {
        const r = model.forward(gr.input('x', shape))
        return { out: r.out, ...(r.aux ? { aux: r.aux } : {}) }
      }, { x })
      expectSampled(ev['out']!, g.eval.out, `${arch} eval out`)
      if (g.eval.aux) expectSampled(ev['aux']!, g.eval.aux, `${arch} eval aux`)

      const names = Object.keys(g.train.grads)
      const bnNames = Object.keys(g.train.running_mean)
      const tr = await runGraph((gr) => {
        const target = gr.input('y', [g.batch, S, S], 'int64')
        const r = model.forwardLoss(gr.input('x', shape), target)
        const out: Record<string, Tensor> = { out: r.logits, loss: r.loss }
        if (r.aux) {
          out['aux'] = r.aux
          out['loss_out'] = segmentationLoss(r.logits, target)
        }
        const ds = grad(r.loss, names.map((n) => gr.param(params.get(n)!)))
        names.forEach((n, i) => (out[`grad:${n}`] = ds[i]!))
        for (const n of bnNames) out[`rm:${n}`] = gr.stateUpdates.get(params.get(n)!)!
        return out
      }, { x, y }, { training: true })
      expectSampled(tr['out']!, g.train.out, `${arch} train out`)
      if (g.train.aux) {
        expectSampled(tr['aux']!, g.train.aux, `${arch} train aux`)
        expect(Math.abs(tr['loss_out']![0]! - g.train.loss_parts['out']!) / g.train.loss_parts['out']!, `${arch} main loss`).toBeLessThan(1e-4)
      }
      expect(Math.abs(tr['loss']![0]! - g.train.loss) / g.train.loss, `${arch} loss`).toBeLessThan(1e-4)
      for (const n of names) {
        const want = g.train.grads[n]!
        const got = tr[`grad:${n}`]!
        const tol = Math.max(1e-3, 10 * Math.max(want.float32_err, want.perturbed_err))
        expect(got.length).toBe(want.shape.reduce((a, b) => a * b, 1))
        const worst = Math.max(...want.indices.map((i, k) => Math.abs(got[i]! - want.values[k]!)))
        expect(worst / want.max_abs, `${arch} d loss / d ${n}: worst error ${worst}, max |g| ${want.max_abs}`).toBeLessThan(tol)
        const l2 = Math.sqrt(got.reduce((a, v) => a + v * v, 0))
        expect(Math.abs(l2 - want.l2) / want.l2, `${arch} |d ${n}|`).toBeLessThan(tol)
      }
      for (const n of bnNames) expectClose(tr[`rm:${n}`]!, g.train.running_mean[n]!, 1e-4, `${arch} ${n} after one train-mode forward`)
}
