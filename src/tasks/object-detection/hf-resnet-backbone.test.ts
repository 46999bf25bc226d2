// FCOS over a Hugging Face ResNet body (fcos_hf_resnet_fpn) started from pretrained/fashion-mnist-resnet:
// the body's weights are the folder's resnet.* tensors, the pyramid is 64 wide with P3..P7 at strides
// 8..128, a trained folder reopens with the same weights, and a ResNet whose C5 is not at stride 32
// is refused with the reason.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { runGraph } from '../../../test/graph-run.js'
import { openSafetensorsFile } from '../../checkpoint/safetensors-node.js'
import { FCOS } from '../../models/fcos.js'
import { parseHfResNetConfig } from '../../models/hf-resnet.js'
import { Rng } from '../../runtime/rng.js'
import { openDetCheckpoint, saveDetCheckpoint, setDetHead } from './checkpoint-node.js'

const folder = new URL('../../../pretrained/fashion-mnist-resnet', import.meta.url).pathname
const same = (a: Float32Array | undefined, b: Float32Array): boolean => a !== undefined && a.length === b.length && a.every((v, i) => v === b[i])
const tmp = mkdtempSync(join(tmpdir(), 'ft-fcos-hf-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

describe('fcos_hf_resnet_fpn', () => {
  it('takes its body from a Hugging Face ResNet folder, runs at 128 px, and round-trips through a trained folder', async () => {
    const ck = await openDetCheckpoint(folder, { numClasses: 10, seed: 1 })
    expect([ck.arch, ck.source]).toEqual(['fcos_hf_resnet_fpn', 'backbone'])
    expect(ck.model.backbone.out_channels).toBe(64)
    const params = new Map(ck.model.namedParameters().map(([n, p]) => [n, p.data]))
    const f = await openSafetensorsFile(join(folder, 'model.safetensors'))
    const bodyKeys = f.keys().filter((k) => k.startsWith('resnet.'))
    expect(bodyKeys.length).toBeGreaterThan(40)
    for (const k of bodyKeys) {
      expect(same(params.get(`backbone.body.${k.slice('resnet.'.length)}`), await f.readAsFloat32(k)), k).toBe(true)
    }
    await f.close()
    expect([...params.keys()].filter((n) => n.startsWith('backbone.body.')).length).toBe(bodyKeys.length)

    const x = Float32Array.from({ length: 3 * 128 * 128 }, (_, i) => Math.sin(i * 0.37))
    const r = await runGraph((g) => {
      const out = ck.model.forward(g.input('x', [1, 3, 128, 128]))
      expect(out.levels).toEqual([[16, 16], [8, 8], [4, 4], [2, 2], [1, 1]])
      return { cls: out.cls_logits, reg: out.bbox_regression }
    }, { x: { data: x, shape: [1, 3, 128, 128], dtype: 'float32' } })
    expect(r['cls']!.length).toBe(341 * 10)
    expect(r['cls']!.every(Number.isFinite)).toBe(true)

    setDetHead(ck, ['a', 'b', 'c'], 2)
    await saveDetCheckpoint(tmp, ck, { minSize: 128, maxSize: 128 })
    const cfg = JSON.parse(readFileSync(join(tmp, 'config.json'), 'utf8')) as Record<string, unknown>
    expect(cfg['finetune_arch']).toBe('fcos_hf_resnet_fpn')
    expect(cfg['backbone_config']).toMatchObject({ model_type: 'resnet', hidden_sizes: [32, 64, 128, 256], layer_type: 'basic' })
    const back = await openDetCheckpoint(tmp)
    expect([back.arch, back.labels, back.transform]).toEqual(['fcos_hf_resnet_fpn', ['a', 'b', 'c'], { minSize: 128, maxSize: 128 }])
    const after = new Map(back.model.namedParameters().map(([n, p]) => [n, p.data]))
    const differ = ck.model.namedParameters().filter(([n, p]) => !n.endsWith('num_batches_tracked') && !same(after.get(n), p.data)).map(([n]) => n)
    expect(differ).toEqual([])
  })

  it('from scratch re-draws every weight by its own init: the head keeps its prior bias and small weights', () => {
    const c = parseHfResNetConfig({ model_type: 'resnet', hidden_sizes: [8, 16, 32, 64], depths: [1, 1, 1, 1], layer_type: 'basic', embedding_size: 8 })
    const m = new FCOS(3, { hfResNet: c, seed: 4 })
    expect(m.backbone.out_channels).toBe(32)
    const before = new Map(m.namedParameters().map(([n, p]) => [n, Float32Array.from(p.data)]))
    m.reinitialise(new Rng(9))
    const p = new Map(m.namedParameters().map(([n, q]) => [n, q.data]))
    expect(Array.from(p.get('head.classification_head.cls_logits.bias')!)).toEqual(Array(3).fill(Math.fround(-Math.log(99))))
    const w = p.get('head.classification_head.conv.0.weight')!
    const std = Math.sqrt(w.reduce((a, v) => a + v * v, 0) / w.length)
    expect(std).toBeGreaterThan(0.008)
    expect(std).toBeLessThan(0.012)
    const conv1 = 'backbone.body.embedder.embedder.convolution.weight'
    expect(same(p.get(conv1), before.get(conv1)!)).toBe(false)
    const k = p.get(conv1)!
    expect(Math.sqrt(k.reduce((a, v) => a + v * v, 0) / k.length)).toBeCloseTo(Math.sqrt(2 / (8 * 49)), 1)
  })

  it('refuses a ResNet whose last stage is not at stride 32, saying why', () => {
    const three = parseHfResNetConfig({ model_type: 'resnet', hidden_sizes: [16, 32, 64], depths: [1, 1, 1], layer_type: 'basic', embedding_size: 16 })
    expect(() => new FCOS(3, { hfResNet: three })).toThrow(/3 stages ends at stride 16; the feature pyramid takes C3..C5 at strides 8, 16, 32/)
  })
})
