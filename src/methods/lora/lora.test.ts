// LoRA on the text families: step 0 reproduces the base model, merged == unmerged, trainable counts
// are PEFT's formula, PEFT's key names and config round-trip, and a bad adapter gets a clear error.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openSafetensorsFile } from '../../checkpoint/safetensors-node.js'
import type { TextModel } from '../../models/hf.js'
import { loadWeights } from '../../models/load.js'
import { loadTextCheckpoint } from '../../models/pretrained-node.js'
import { textFamily } from '../../models/registry.js'
import { Rng } from '../../runtime/rng.js'
import { runGraph } from '../../../test/graph-run.js'
import { tinyBert } from '../../../test/text-fixtures.js'
import { layerGroups, lrGroups } from '../groups.js'
import { applyLora, hasLora, mergeLora, type LoraConfig } from './lora.js'
import { loadAdapter, saveAdapter } from './peft-node.js'

const dir = mkdtempSync(join(tmpdir(), 'ft-lora-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
beforeAll(async () => {
  await tinyBert(join(dir, 'bert'))
  await tinyBert(join(dir, 'gpt2'), 'gpt2')
}, 60_000)

const B = 2
const T = 6
const ids = BigInt64Array.from({ length: B * T }, (_, i) => BigInt(5 + ((i * 7) % 40)))
const feeds = { input_ids: { data: ids, shape: [B, T], dtype: 'int64' as const }, attention_mask: { data: new BigInt64Array(B * T).fill(1n), shape: [B, T], dtype: 'int64' as const }, token_type_ids: { data: new BigInt64Array(B * T), shape: [B, T], dtype: 'int64' as const } }
const logits = async (m: TextModel): Promise<Float32Array> =>
  (await runGraph((g) => ({ y: m.logits({ input_ids: g.input('input_ids', [B, T], 'int64'), attention_mask: g.input('attention_mask', [B, T], 'int64'), ...(m.usesTokenTypes ? { token_type_ids: g.input('token_type_ids', [B, T], 'int64') } : {}) }) }), feeds))['y']!
const open = async (fam: string, labels = 3) => (await loadTextCheckpoint(join(dir, fam), { task: 'sequence-classification', labels: { names: Array.from({ length: labels }, (_, i) => `l${i}`), problemType: 'single_label_classification' }, seed: 1 })).model
const cfg = (o: Partial<LoraConfig> = {}): LoraConfig => ({ r: 4, alpha: 8, dropout: 0, targets: ['query', 'value'], bias: 'none', rslora: false, modulesToSave: ['classifier'], ...o })
const close = (a: Float32Array, b: Float32Array, tol: number): void => {
  expect(a.length).toBe(b.length)
  let worst = 0
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / (1 + Math.abs(b[i]!)))
  expect(worst).toBeLessThan(tol)
}
const randomise = (m: TextModel, seed: number): void => {
  const r = new Rng(seed)
  for (const [n, p] of m.namedParameters()) if (/lora_B/.test(n)) for (let i = 0; i < p.data.length; i++) p.data[i] = r.normal() * 0.3
}

describe('LoRA', () => {
  it('before training the adapted model computes exactly what the base computes (B starts at zero)', async () => {
    const m = await open('bert')
    const before = await logits(m)
    const rep = applyLora(m, cfg(), new Rng(3))
    expect(rep.adapted).toEqual(['bert.encoder.layer.0.attention.self.query', 'bert.encoder.layer.0.attention.self.value', 'bert.encoder.layer.1.attention.self.query', 'bert.encoder.layer.1.attention.self.value'])
    expect(Array.from(await logits(m))).toEqual(Array.from(before))
  })

  it("trainable parameters are PEFT's: r * (in + out) per adapted layer, plus modules_to_save", async () => {
    const m = await open('bert')
    const rep = applyLora(m, cfg(), new Rng(3))
    const H = 32
    expect(rep.trainable).toBe(4 * 4 * (H + H) + (H * 3 + 3))
    const trainable = m.namedParameters().filter(([, p]) => p.requiresGrad).map(([n]) => n)
    expect(trainable.every((n) => /lora_[AB]|^classifier\./.test(n))).toBe(true)
    // bias 'all' adds every bias; 'lora_only' the adapted layers' biases
    const all = applyLora(await open('bert'), cfg({ bias: 'all' }), new Rng(3))
    const only = applyLora(await open('bert'), cfg({ bias: 'lora_only' }), new Rng(3))
    expect(only.trainable - rep.trainable).toBe(4 * H)
    expect(all.trainable).toBeGreaterThan(only.trainable)
  })

  it('merged and unmerged give the same logits (Linear and GPT-2 Conv1D, rsLoRA)', async () => {
    for (const [fam, targets] of [['bert', ['query', 'value']], ['gpt2', ['c_attn', 'c_proj']]] as const) {
      const m = await open(fam)
      const rep = applyLora(m, cfg({ targets: [...targets], rslora: fam === 'gpt2' }), new Rng(5))
      expect(rep.adapted.length).toBe(fam === 'gpt2' ? 6 : 4) // GPT-2: c_attn, and c_proj in attention and MLP
      randomise(m, 9)
      const unmerged = await logits(m)
      const merged = mergeLora(m)
      expect(merged).toEqual(rep.adapted)
      expect(hasLora(m)).toBe(false)
      expect(m.namedParameters().some(([n]) => n.includes('lora_'))).toBe(false)
      close(await logits(m), unmerged, 1e-5)
    }
  })

  it("a saved adapter has PEFT's key names and config, and loads onto a fresh base with the same outputs", async () => {
    const m = await open('bert')
    const c = cfg({ rslora: true })
    applyLora(m, c, new Rng(5))
    randomise(m, 11)
    const want = await logits(m)
    const out = join(dir, 'adapter')
    await saveAdapter(out, m, c, { baseModel: join(dir, 'bert'), taskType: 'SEQ_CLS' })
    const conf = JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8'))
    expect(conf).toMatchObject({ peft_type: 'LORA', task_type: 'SEQ_CLS', r: 4, lora_alpha: 8, target_modules: ['query', 'value'], use_rslora: true, bias: 'none', modules_to_save: ['classifier'] })
    const st = await openSafetensorsFile(join(out, 'adapter_model.safetensors'))
    expect(st.keys().sort()).toEqual([
      'base_model.model.bert.encoder.layer.0.attention.self.query.lora_A.weight',
      'base_model.model.bert.encoder.layer.0.attention.self.query.lora_B.weight',
      'base_model.model.bert.encoder.layer.0.attention.self.value.lora_A.weight',
      'base_model.model.bert.encoder.layer.0.attention.self.value.lora_B.weight',
      'base_model.model.bert.encoder.layer.1.attention.self.query.lora_A.weight',
      'base_model.model.bert.encoder.layer.1.attention.self.query.lora_B.weight',
      'base_model.model.bert.encoder.layer.1.attention.self.value.lora_A.weight',
      'base_model.model.bert.encoder.layer.1.attention.self.value.lora_B.weight',
      'base_model.model.classifier.bias',
      'base_model.model.classifier.weight',
    ])
    expect(st.info('base_model.model.bert.encoder.layer.0.attention.self.query.lora_A.weight').shape).toEqual([4, 32])
    expect(st.info('base_model.model.bert.encoder.layer.0.attention.self.query.lora_B.weight').shape).toEqual([32, 4])
    await st.close()
    const fresh = await open('bert')
    await loadAdapter(out, fresh)
    close(await logits(fresh), want, 1e-6)
  })

  it('an adapter with fields or methods finetune cannot apply is refused with every problem listed', async () => {
    const out = join(dir, 'dora')
    const m = await open('bert')
    applyLora(m, cfg(), new Rng(5))
    await saveAdapter(out, m, cfg(), { baseModel: 'x', taskType: null })
    const conf = JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8'))
    writeFileSync(join(out, 'adapter_config.json'), JSON.stringify({ ...conf, use_dora: true, rank_pattern: { query: 8 }, frobnicate: 1 }))
    await expect(loadAdapter(out, await open('bert'))).rejects.toThrow(/use_dora = true is not supported[\s\S]*rank_pattern[\s\S]*unknown field frobnicate/)
    writeFileSync(join(out, 'adapter_config.json'), JSON.stringify({ ...conf, peft_type: 'IA3' }))
    await expect(loadAdapter(out, await open('bert'))).rejects.toThrow(/peft_type is "IA3"; finetune reads LORA adapters/)
    // an adapter for another base: wrongly shaped tensors are named
    writeFileSync(join(out, 'adapter_config.json'), JSON.stringify(conf))
    await expect(loadAdapter(out, await open('bert', 5))).rejects.toThrow(/wrongly shaped tensors: base_model\.model\.classifier\.weight \[3,32\] \(the model's is \[5,32\]\)/)
  })

  it('targets that match nothing list the layers that can be adapted', async () => {
    expect(() => applyLora(m0!, cfg({ targets: ['q_proj'] }), new Rng(1))).toThrow(/no linear layer of the model matches --lora-targets q_proj/)
  })
})

let m0: TextModel | null = null
beforeAll(async () => {
  m0 = await open('bert')
})

describe('layer groups and per-layer learning rates', () => {
  it('groups follow the blocks, bottom to top; the head (with the pooler) is last', async () => {
    const m = await open('bert')
    const g = layerGroups(m, m.headPrefixes)
    expect(g.map((x) => x.name)).toEqual(['embeddings', 'bert.encoder.layer.0', 'bert.encoder.layer.1', 'head'])
    expect(g[3]!.params).toContain('classifier.weight')
    expect(g[3]!.params).toContain('bert.pooler.dense.weight')
    expect(g.flatMap((x) => x.params).length).toBe(m.namedParameters().filter(([, p]) => p.kind === 'param').length)
    const byName = (groups: ReturnType<typeof lrGroups>) => Object.fromEntries(groups.map((x) => [x.name, x.lrScale]))
    expect(byName(lrGroups(g, { lrMult: 2.6 }))).toEqual({ embeddings: 2.6 ** -3, 'bert.encoder.layer.0': 2.6 ** -2, 'bert.encoder.layer.1': 2.6 ** -1, head: 1 })
    expect(byName(lrGroups(g, { layerDecay: 0.5 }))).toEqual({ embeddings: 0.5 ** 3, 'bert.encoder.layer.0': 0.5 ** 2, 'bert.encoder.layer.1': 0.5, head: 1 })
  })
})

describe('a PEFT-layout adapter from the PyTorch reference (scripts/gen_peft_fixture.py)', () => {
  it("applied to bert-tiny gives the reference's logits (PEFT's LoRA forward, rsLoRA scaling, modules_to_save)", async () => {
    const root = new URL('../../../', import.meta.url).pathname
    const golden = JSON.parse(readFileSync(join(root, 'test/golden/peft/bert-tiny-lora.json'), 'utf8')) as { input_ids: number[][]; token_type_ids: number[][]; attention_mask: number[][]; logits: number[][] }
    const fam = textFamily('bert')
    const m = fam.build(JSON.parse(readFileSync(join(root, 'test/fixtures/models/bert-tiny/config.json'), 'utf8')), 'sequence-classification')
    m.nameParameters()
    const f = await openSafetensorsFile(join(root, 'test/fixtures/models/bert-tiny/model.safetensors'))
    await loadWeights(m, f, { basePrefix: m.basePrefix, newOk: m.headPrefixes, ignorable: fam.ignorable })
    await f.close()
    const c = await loadAdapter(join(root, 'test/fixtures/peft/bert-tiny-lora'), m)
    expect(c).toMatchObject({ r: 4, alpha: 8, rslora: true, targets: ['query', 'value'], modulesToSave: ['classifier'] })
    const [b, t] = [golden.input_ids.length, golden.input_ids[0]!.length]
    const i64 = (x: number[][]) => ({ data: BigInt64Array.from(x.flat().map(BigInt)), shape: [b, t], dtype: 'int64' as const })
    const y = (await runGraph((g) => ({ y: m.logits({ input_ids: g.input('input_ids', [b, t], 'int64'), attention_mask: g.input('attention_mask', [b, t], 'int64'), token_type_ids: g.input('token_type_ids', [b, t], 'int64') }) }), { input_ids: i64(golden.input_ids), attention_mask: i64(golden.attention_mask), token_type_ids: i64(golden.token_type_ids) }))['y']!
    close(y, Float32Array.from(golden.logits.flat()), 1e-4)
  })
})
