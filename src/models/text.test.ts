// Every text family against golden outputs of the PyTorch reference of Hugging Face's modeling code
// (scripts/text_reference.py, validated against torchtext's RoBERTa and torch.nn modules; see
// scripts/README-goldens.md). Tolerances: logits and hidden states 1e-4 relative to the largest
// magnitude, loss 1e-5 relative, gradients 1e-4 relative to the largest gradient entry.
import { readdirSync, readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import type { Tensor } from '../graph/graph.js'
import { openSafetensorsFile } from '../checkpoint/safetensors-node.js'
import { grad } from '../autodiff/grad.js'
import { inferProblemType, taskLoss } from '../heads/losses.js'
import { runGraph } from '../../test/graph-run.js'
import { expectClose } from '../../test/op-check.js'
import type { TextModel, TextTask } from './hf.js'
import { loadWeights } from './load.js'
import { textFamily } from './registry.js'

interface Golden {
  family: string
  head: TextTask
  checkpoint: string
  config: Record<string, unknown>
  weight_overrides?: Record<string, { shape: number[]; data: number[] }>
  inputs: { input_ids: number[][]; attention_mask: number[][]; token_type_ids?: number[][]; labels?: number[] | number[][] | number[][][]; labels_dtype?: 'int64' | 'float32' }
  outputs: Record<string, { shape: number[]; data: number[] } | number | string | number[] | unknown>
  grads?: Record<string, { shape: number[]; data: number[] }>
}

const root = new URL('../../', import.meta.url).pathname
const dir = `${root}test/golden/text/`
const files = readdirSync(dir).filter((f) => f.endsWith('.json') && !f.includes('adamw'))

const flat = (a: unknown): number[] => (Array.isArray(a) ? a.flatMap(flat) : [a as number])
const i64 = (rows: number[][]) => ({ data: BigInt64Array.from(flat(rows).map((v) => BigInt(v))), shape: [rows.length, rows[0]!.length], dtype: 'int64' as const })

export async function loadGoldenModel(g: Golden): Promise<TextModel> {
  const fam = textFamily(g.family)
  const model = fam.build(g.config, g.head === 'base' ? 'base' : g.head)
  model.nameParameters()
  const f = await openSafetensorsFile(`${root}${g.checkpoint}/model.safetensors`)
  await loadWeights(model, f, { basePrefix: model.basePrefix, newOk: model.headPrefixes, ignorable: fam.ignorable, ignoreMismatchedSizes: !!g.weight_overrides })
  await f.close()
  for (const [name, w] of Object.entries(g.weight_overrides ?? {})) {
    const p = model.namedParameters().find(([n]) => n === name)![1]
    p.data = Float32Array.from(w.data)
  }
  return model
}

describe('text families match the PyTorch reference', () => {
  for (const file of files) {
    it(file.replace('.json', ''), async () => {
      const g = JSON.parse(readFileSync(dir + file, 'utf8')) as Golden
      const model = await loadGoldenModel(g)
      const params = new Map(model.namedParameters())
      const feeds: Record<string, ReturnType<typeof i64> | { data: Float32Array; shape: number[]; dtype: 'float32' }> = {
        input_ids: i64(g.inputs.input_ids),
        attention_mask: i64(g.inputs.attention_mask),
      }
      if (g.inputs.token_type_ids) feeds['token_type_ids'] = i64(g.inputs.token_type_ids)
      const labels = g.inputs.labels
      const lshape = labels ? (Array.isArray(labels[0]) ? [labels.length, (labels[0] as unknown[]).length] : [labels.length]) : []
      if (labels) feeds['labels'] = g.inputs.labels_dtype === 'float32' ? { data: Float32Array.from(flat(labels)), shape: lshape, dtype: 'float32' } : { data: BigInt64Array.from(flat(labels).map((v) => BigInt(v))), shape: lshape, dtype: 'int64' }
      const gradNames = Object.keys(g.grads ?? {})
      const out = await runGraph((gr) => {
        const x = {
          input_ids: gr.input('input_ids', feeds['input_ids']!.shape, 'int64'),
          attention_mask: gr.input('attention_mask', feeds['attention_mask']!.shape, 'int64'),
          ...(g.inputs.token_type_ids ? { token_type_ids: gr.input('token_type_ids', feeds['token_type_ids']!.shape, 'int64') } : {}),
        }
        const res: Record<string, Tensor> = {}
        const logits = model.logits(x)
        if (g.head === 'base') {
          res['last_hidden_state'] = logits
          const pooler = (model as unknown as { bert?: { pooler: { forward(h: Tensor): Tensor } | null }; roberta?: { pooler: { forward(h: Tensor): Tensor } | null } })
          const p = pooler.bert?.pooler ?? pooler.roberta?.pooler
          if (p && g.outputs['pooler_output']) res['pooler_output'] = p.forward(logits)
          return res
        }
        res['logits'] = logits
        const lab = gr.input('labels', feeds['labels']!.shape, feeds['labels']!.dtype)
        const problem = (g.outputs['problem_type'] as string | undefined) ?? inferProblemType(logits.shape[logits.rank - 1]!, g.inputs.labels_dtype ?? 'int64')
        const loss = taskLoss(g.head, logits, lab, problem as never)
        res['loss'] = loss
        const grads = grad(loss, gradNames.map((n) => gr.param(params.get(n)!)))
        gradNames.forEach((n, i) => (res[`grad:${n}`] = grads[i] ?? gr.scalar(0).expand(params.get(n)!.shape)))
        return res
      }, feeds)
      for (const [name, want] of Object.entries(g.outputs)) {
        if (typeof want !== 'object' || want === null || !('data' in want)) continue
        if (!out[name]) continue
        const w = want as { shape: number[]; data: number[] }
        expectClose(out[name]!, w.data, 1e-4, `${file} ${name}`)
      }
      if (g.outputs['loss'] !== undefined) {
        const l = g.outputs['loss'] as number | { data: number[] }
        const want = typeof l === 'number' ? l : l.data[0]!
        expect(Math.abs(out['loss']![0]! - want) / Math.max(Math.abs(want), 1e-6)).toBeLessThan(1e-5)
      }
      for (const n of gradNames) expectClose(out[`grad:${n}`]!, g.grads![n]!.data, 1e-4, `${file} d loss / d ${n}`)
      expect(Object.keys(out).length).toBeGreaterThan(0)
    })
  }
})
