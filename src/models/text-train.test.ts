// One AdamW step of bert-tiny sequence classification against torch.optim.AdamW with HF Trainer's
// parameter groups (scripts/gen_text_goldens.py). Tolerances: loss and gradient norm 1e-5 relative;
// parameters after the step 2e-6 absolute (lr is 1e-3; Adam's first step is m/sqrt(v) ~ sign(g),
// so float32 rounding of tiny gradients moves a parameter by at most about lr * 1e-3).
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { openSafetensorsFile } from '../checkpoint/safetensors-node.js'
import { taskLoss } from '../heads/losses.js'
import { Runtime } from '../runtime/session.js'
import { TrainSession, hostI64 } from '../train/step.js'
import { loadWeights } from './load.js'
import { textFamily } from './registry.js'

const root = new URL('../../', import.meta.url).pathname
const g = JSON.parse(readFileSync(`${root}test/golden/text/bert-adamw-step.json`, 'utf8'))

async function model() {
  const fam = textFamily('bert')
  const m = fam.build({ ...g.config, hidden_dropout_prob: 0, attention_probs_dropout_prob: 0 }, 'sequence-classification')
  m.nameParameters()
  const f = await openSafetensorsFile(`${root}${g.checkpoint}/model.safetensors`)
  await loadWeights(m, f, { basePrefix: 'bert', newOk: m.headPrefixes, ignorable: fam.ignorable })
  await f.close()
  return m
}

describe('AdamW step on BERT matches torch with HF Trainer grouping', () => {
  for (const variant of ['unclipped', 'clipped'] as const) {
    it(variant, async () => {
      const m = await model()
      const want = g[variant]
      const decay = new Set<string>(g.decay_parameters)
      for (const [n, p] of m.namedParameters()) expect(p.decay, n).toBe(decay.has(n))
      const s = new TrainSession({
        runtime: new Runtime({ threads: 1 }),
        model: m,
        optimizer: { kind: 'adamw', lr: g.optimizer.lr, weightDecay: g.optimizer.weight_decay, betas: g.optimizer.betas, eps: g.optimizer.eps },
        ...(want.max_grad_norm ? { clipNorm: want.max_grad_norm } : {}),
        forward: (i) => ({ loss: taskLoss('sequence-classification', m.logits({ input_ids: i['input_ids']!, attention_mask: i['attention_mask']!, token_type_ids: i['token_type_ids']! }), i['labels']!, 'single_label_classification') }),
      })
      const flat = (a: number[][]) => a.flat()
      const B = g.inputs.input_ids.length
      const T = g.inputs.input_ids[0].length
      const r = await s.trainStep({
        input_ids: hostI64(flat(g.inputs.input_ids), [B, T]),
        attention_mask: hostI64(flat(g.inputs.attention_mask), [B, T]),
        token_type_ids: hostI64(flat(g.inputs.token_type_ids), [B, T]),
        labels: hostI64(g.inputs.labels, [B]),
      })
      expect(Math.abs(r.loss - want.loss) / want.loss).toBeLessThan(1e-5)
      expect(Math.abs(r.gradNorm! - want.grad_norm) / want.grad_norm).toBeLessThan(1e-5)
      const params = new Map(m.namedParameters())
      for (const [name, t] of Object.entries(want.params_after as Record<string, { data: number[] }>)) {
        const got = params.get(name)!.data
        let worst = 0
        t.data.forEach((v, i) => (worst = Math.max(worst, Math.abs(got[i]! - v))))
        expect(worst, name).toBeLessThan(2e-6)
      }
    })
  }
})
