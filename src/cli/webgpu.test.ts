// `finetune train --device webgpu` end to end (SwiftShader where there is no GPU, see test/webgpu.ts):
// the same model as on the CPU, and the flags that cannot work there refused with what to do.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openSafetensorsFile } from '../checkpoint/safetensors-node.js'
import { runCli } from '../../test/cli.js'
import { sentimentCsv, tinyBert } from '../../test/text-fixtures.js'
import { webgpuAvailable } from '../../test/webgpu.js'

const webgpu = await webgpuAvailable()
const dir = mkdtempSync(join(tmpdir(), 'ft-cli-webgpu-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const model = join(dir, 'bert-tiny')
const data = join(dir, 'sent.csv')
const common = ['--model', model, '--data', data, '--task', 'text-classification', '--max-steps', '3', '--threads', '1', '--batch-size', '8', '--max-length', '16', '--json']

beforeAll(async () => {
  await tinyBert(model)
  sentimentCsv(data, 40)
}, 120_000)

describe.skipIf(!webgpu)('finetune train --device webgpu', () => {
  it('trains the model the CPU trains, and saves it', async () => {
    const [cpu, gpu] = [join(dir, 'cpu'), join(dir, 'gpu')]
    const a = await runCli(['train', ...common, '--out', cpu])
    const b = await runCli(['train', ...common, '--out', gpu, '--device', 'webgpu'])
    expect(a.code, a.stderr).toBe(0)
    expect(b.code, b.stderr).toBe(0)
    const metrics = (d: string) => JSON.parse(readFileSync(join(d, 'metrics.json'), 'utf8')) as Record<string, number>
    expect(metrics(gpu)['eval_loss']).toBeCloseTo(metrics(cpu)['eval_loss']!, 4)
    const [sa, sb] = [await openSafetensorsFile(join(cpu, 'model.safetensors')), await openSafetensorsFile(join(gpu, 'model.safetensors'))]
    expect(sb.keys().sort()).toEqual(sa.keys().sort())
    let worst = 0
    for (const n of sa.keys()) {
      const [x, y] = [await sa.readAsFloat32(n), await sb.readAsFloat32(n)]
      x.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - y[i]!))))
    }
    await Promise.all([sa.close(), sb.close()])
    expect(sa.keys().length).toBeGreaterThan(10)
    expect(worst).toBeLessThan(1e-4)
  }, 120_000)

  it('refuses --steps-per-run above 1 with the reason', async () => {
    const r = await runCli(['train', ...common, '--out', join(dir, 'k'), '--device', 'webgpu', '--steps-per-run', '4'])
    expect(r.code).not.toBe(0)
    expect(r.stderr).toMatch(/CONFIG_STEPS_PER_RUN.*Scan.*webgpu/s)
  })
})
