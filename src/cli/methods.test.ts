// Fine-tuning methods from the command line on a tiny randomly initialised BERT: LoRA (a PEFT
// adapter out, the base untouched, predict/eval from the folder, --merge, --adapter on the base),
// gradual unfreezing (stages by step, exact resume), per-layer learning rates, and the errors.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openSafetensorsFile } from '../checkpoint/safetensors-node.js'
import { runCli } from '../../test/cli.js'
import { sentimentCsv, tinyBert } from '../../test/text-fixtures.js'

const dir = mkdtempSync(join(tmpdir(), 'ft-cli-methods-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const model = join(dir, 'bert-tiny')
const data = join(dir, 'sent.csv')
const common = ['--threads', '1', '--batch-size', '16', '--schedule', 'constant', '--max-length', '16']
const tensors = async (file: string): Promise<Map<string, Float32Array>> => {
  const f = await openSafetensorsFile(file)
  const m = new Map<string, Float32Array>()
  for (const k of f.keys()) if (f.info(k).dtype !== 'I64') m.set(k, await f.readAsFloat32(k))
  await f.close()
  return m
}
const same = (a: Float32Array | undefined, b: Float32Array | undefined): boolean => !!a && !!b && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength))
type Pred = { label: string; logits: number[] }
const preds = (stdout: string): Pred[] => stdout.trim().split('\n').map((l) => JSON.parse(l) as Pred)
const texts = ['the movie was great', 'an awful plot', 'quite a wonderful story']

beforeAll(async () => {
  await tinyBert(model)
  sentimentCsv(data, 160)
}, 120_000)

describe('LoRA from the command line', () => {
  const out = join(dir, 'lora')
  it('trains only the adapter and the head, writes a PEFT adapter beside the untouched base weights', async () => {
    const r = await runCli(['train', '--model', model, '--data', data, '--out', out, '--method', 'lora', '--lora-r', '8', '--lora-alpha', '16', '--lr', '1e-2', '--epochs', '15', '--json', ...common])
    expect(r.code, r.stderr).toBe(0)
    const res = JSON.parse(r.stdout.trim().split('\n').pop()!)
    expect(res.metrics.accuracy).toBeGreaterThanOrEqual(0.85)
    expect(res.saved).toBe('adapter')
    // 2 layers x (query, value) x r (in + out) + the new 2-label head
    expect(res.trainable_parameters).toBe(2 * 2 * 8 * (32 + 32) + (32 * 2 + 2))
    const conf = JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8'))
    expect(conf).toMatchObject({ peft_type: 'LORA', task_type: 'SEQ_CLS', r: 8, lora_alpha: 16, target_modules: ['query', 'value'], modules_to_save: ['classifier'], base_model_name_or_path: model })
    const adapter = await tensors(join(out, 'adapter_model.safetensors'))
    expect([...adapter.keys()]).toContain('base_model.model.bert.encoder.layer.1.attention.self.value.lora_B.weight')
    // the base is bit-identical; model.safetensors holds no LoRA tensors
    const before = await tensors(join(model, 'model.safetensors'))
    const after = await tensors(join(out, 'model.safetensors'))
    expect([...after.keys()].some((k) => k.includes('lora_'))).toBe(false)
    for (const [k, v] of before) expect(same(after.get(`bert.${k}`) ?? after.get(k), v), k).toBe(true)
  })

  it('predict and eval read the adapter from the folder; --merge gives the same logits as plain weights', async () => {
    const p = await runCli(['predict', '--model', out, '--json', '--threads', '1', ...texts])
    expect(p.code, p.stderr).toBe(0)
    const a = preds(p.stdout)
    expect(a.slice(0, 2).map((x) => x.label)).toEqual(['positive', 'negative'])
    const e = await runCli(['eval', '--model', out, '--data', data, '--json', '--threads', '1'])
    expect(JSON.parse(e.stdout).accuracy).toBeGreaterThanOrEqual(0.85)
    const merged = join(dir, 'merged')
    const x = await runCli(['export', '--model', out, '--format', 'safetensors', '--merge', '--out', merged])
    expect(x.code, x.stderr).toBe(0)
    expect(existsSync(join(merged, 'adapter_config.json'))).toBe(false)
    expect([...(await tensors(join(merged, 'model.safetensors'))).keys()].some((k) => k.includes('lora_'))).toBe(false)
    const q = preds((await runCli(['predict', '--model', merged, '--json', '--threads', '1', ...texts])).stdout)
    q.forEach((row, i) => row.logits.forEach((v, j) => expect(v).toBeCloseTo(a[i]!.logits[j]!, 4)))
    // the adapter on the bare base model it was trained from gives the same predictions too
    const b = await runCli(['predict', '--model', model, '--task', 'text-classification', '--adapter', out, '--json', '--threads', '1', ...texts])
    expect(b.code, b.stderr).toBe(0)
    preds(b.stdout).forEach((row, i) => row.logits.forEach((v, j) => expect(v).toBeCloseTo(a[i]!.logits[j]!, 4)))
  })

  it('refuses what LoRA cannot do, naming the layers it could adapt', async () => {
    const t = await runCli(['train', '--model', model, '--data', data, '--out', join(dir, 'x1'), '--method', 'lora', '--lora-targets', 'q_proj', ...common])
    expect(t.code).toBe(1)
    expect(t.stderr).toMatch(/no linear layer of the model matches --lora-targets q_proj[\s\S]*query, key, value/)
    const u = await runCli(['train', '--model', model, '--data', data, '--out', join(dir, 'x2'), '--method', 'lora', '--unfreeze', 'gradual', ...common])
    expect(u.code).toBe(1)
    expect(u.stderr).toMatch(/--unfreeze gradual applies to --method full/)
    expect(existsSync(join(dir, 'x1')) || existsSync(join(dir, 'x2'))).toBe(false)
  })
})

describe('gradual unfreezing and per-layer learning rates', () => {
  const args = (o: string, steps: number, extra: string[] = []) => ['train', '--model', model, '--data', data, '--out', o, '--max-steps', String(steps), '--unfreeze', 'gradual', '--unfreeze-every', '3', '--lr', '5e-3', '--save-every', '2', '--eval-every', '100', ...common, ...extra]
  it('unfreezes one layer group from the top every N steps: after 8 steps the embeddings never trained', async () => {
    const o = join(dir, 'gradual')
    const r = await runCli(args(o, 8))
    expect(r.code, r.stderr).toBe(0)
    const before = await tensors(join(model, 'model.safetensors'))
    const after = await tensors(join(o, 'model.safetensors'))
    // groups: embeddings, layer.0, layer.1, head; stages at steps 0-2, 3-5, 6-8
    expect(same(after.get('bert.embeddings.word_embeddings.weight'), before.get('embeddings.word_embeddings.weight'))).toBe(true)
    expect(same(after.get('bert.encoder.layer.0.attention.self.query.weight'), before.get('encoder.layer.0.attention.self.query.weight'))).toBe(false)
    expect(same(after.get('bert.encoder.layer.1.output.dense.weight'), before.get('encoder.layer.1.output.dense.weight'))).toBe(false)
  })

  it('a run killed mid-schedule resumes to the uninterrupted losses', async () => {
    const a = join(dir, 'ga')
    const b = join(dir, 'gb')
    expect((await runCli(args(a, 9))).code).toBe(0)
    expect((await runCli(args(b, 5))).code).toBe(0) // newest checkpoint: step 4, in the second stage
    const r = await runCli([...args(b, 9), '--resume'])
    expect(r.code, r.stderr).toBe(0)
    const losses = (d: string) => readFileSync(join(d, 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; step?: number; loss?: number }).filter((e) => e.type === 'step')
    const la = new Map(losses(a).map((e) => [e.step, e.loss]))
    // the resumed run's lines for steps 5..9 (the killed run's step 5 came before them)
    const lb = new Map(losses(b).filter((e) => e.step! > 4).map((e) => [e.step, e.loss]))
    expect([...lb.keys()]).toEqual([5, 6, 7, 8, 9])
    for (const [step, loss] of lb) expect(loss, `step ${step}`).toBe(la.get(step))
  })

  it('--lr-mult keeps the lowest group nearly still while the head learns', async () => {
    const o = join(dir, 'lrmult')
    const r = await runCli(['train', '--model', model, '--data', data, '--out', o, '--max-steps', '6', '--lr', '5e-3', '--lr-mult', '1000', '--save-every', 'none', ...common])
    expect(r.code, r.stderr).toBe(0)
    const before = await tensors(join(model, 'model.safetensors'))
    const after = await tensors(join(o, 'model.safetensors'))
    const moved = (k: string, base: string) => {
      const x = after.get(k)!
      const y = before.get(base)!
      let d = 0
      for (let i = 0; i < x.length; i++) d = Math.max(d, Math.abs(x[i]! - y[i]!))
      return d
    }
    // embeddings: lr / 1000^3; layer.1: lr / 1000
    expect(moved('bert.embeddings.word_embeddings.weight', 'embeddings.word_embeddings.weight')).toBeLessThan(1e-7)
    expect(moved('bert.encoder.layer.1.output.dense.weight', 'encoder.layer.1.output.dense.weight')).toBeGreaterThan(0)
    expect(moved('bert.pooler.dense.weight', 'pooler.dense.weight')).toBeGreaterThan(1e-3)
  })
})
