// LR-ASPP over a Hugging Face ResNet body (lraspp_hf_resnet) started from pretrained/fashion-mnist-resnet:
// the body's weights are the folder's resnet.* tensors, logits come at input resolution, a trained
// folder reopens with the same weights, and a mismatched --arch or a missing backbone_config is refused.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { runGraph } from '../../../test/graph-run.js'
import { openSafetensorsFile } from '../../checkpoint/safetensors-node.js'
import { Rng } from '../../runtime/rng.js'
import { openSegCheckpoint, saveSegCheckpoint, setSegHead } from './checkpoint-node.js'

const folder = new URL('../../../pretrained/fashion-mnist-resnet', import.meta.url).pathname
const same = (a: Float32Array | undefined, b: Float32Array): boolean => a !== undefined && a.length === b.length && a.every((v, i) => v === b[i])
const tmp = mkdtempSync(join(tmpdir(), 'ft-lraspp-hf-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

describe('lraspp_hf_resnet', () => {
  it('takes its body from a Hugging Face ResNet folder, gives logits at input size, and round-trips through a trained folder', async () => {
    const ck = await openSegCheckpoint(folder, { numClasses: 11, seed: 1 })
    expect([ck.arch, ck.source, ck.model.hasAux, ck.model.headPrefixes]).toEqual(['lraspp_hf_resnet', 'backbone', false, ['classifier.low_classifier', 'classifier.high_classifier']])
    const params = new Map(ck.model.namedParameters().map(([n, p]) => [n, p.data]))
    const f = await openSafetensorsFile(join(folder, 'model.safetensors'))
    const bodyKeys = f.keys().filter((k) => k.startsWith('resnet.'))
    for (const k of bodyKeys) expect(same(params.get(`backbone.${k.slice('resnet.'.length)}`), await f.readAsFloat32(k)), k).toBe(true)
    await f.close()
    expect([...params.keys()].filter((n) => n.startsWith('backbone.')).length).toBe(bodyKeys.length)

    const x = Float32Array.from({ length: 2 * 3 * 64 * 64 }, (_, i) => Math.cos(i * 0.11))
    const r = await runGraph((g) => ({ out: ck.model.logits(g.input('x', [2, 3, 64, 64])) }), { x: { data: x, shape: [2, 3, 64, 64], dtype: 'float32' } })
    expect(r['out']!.length).toBe(2 * 11 * 64 * 64)
    expect(r['out']!.every(Number.isFinite)).toBe(true)

    setSegHead(ck, ['background', 'a', 'b'], 2)
    await saveSegCheckpoint(tmp, ck, 64)
    const cfg = JSON.parse(readFileSync(join(tmp, 'config.json'), 'utf8')) as Record<string, unknown>
    expect(cfg['backbone_config']).toMatchObject({ model_type: 'resnet', hidden_sizes: [32, 64, 128, 256] })
    const back = await openSegCheckpoint(tmp)
    expect([back.arch, back.labels, back.imageSize]).toEqual(['lraspp_hf_resnet', ['background', 'a', 'b'], 64])
    const after = new Map(back.model.namedParameters().map(([n, p]) => [n, p.data]))
    expect(ck.model.namedParameters().filter(([n, p]) => !same(after.get(n), p.data)).map(([n]) => n)).toEqual([])

    // from scratch: the same layout re-drawn by the builder's init (kaiming-normal body convs)
    const k0 = Float32Array.from(after.get('backbone.embedder.embedder.convolution.weight')!)
    back.model.reinitialise(new Rng(3))
    const k = back.model.namedParameters().find(([n]) => n === 'backbone.embedder.embedder.convolution.weight')![1].data
    expect(same(k, k0)).toBe(false)
    expect(Math.sqrt(k.reduce((s2, v) => s2 + v * v, 0) / k.length)).toBeCloseTo(Math.sqrt(2 / (32 * 49)), 2)

    await expect(openSegCheckpoint(folder, { arch: 'fcn_resnet50' })).rejects.toThrow(/Hugging Face ResNet classifier; fcn_resnet50 has another backbone/)
    const { backbone_config: _, ...rest } = cfg
    writeFileSync(join(tmp, 'config.json'), JSON.stringify(rest))
    await expect(openSegCheckpoint(tmp)).rejects.toThrow(/finetune_arch lraspp_hf_resnet needs backbone_config/)
  })
})
