// Training on ONNX Runtime's WebGPU provider with parameters and optimizer state resident on the
// device (SwiftShader where there is no GPU, see test/webgpu.ts); skipped where it cannot start.
import { describe, expect, it } from 'vitest'
import type { Tensor } from '../graph/graph.js'
import { Module } from '../graph/module.js'
import * as nn from '../graph/nn.js'
import { BatchNorm2d, Conv2d, Linear } from '../models/layers.js'
import { encodeModel } from '../onnx/proto.js'
import { valueInfo } from '../onnx/lower.js'
import { Rng } from '../runtime/rng.js'
import { Runtime } from '../runtime/session.js'
import { webgpuAvailable } from '../../test/webgpu.js'
import { TrainSession, hostF32, hostI64 } from './step.js'

const webgpu = await webgpuAvailable()

class Net extends Module {
  conv = new Conv2d(3, 8, 3, new Rng(1), { padding: 1, bias: false })
  bn = new BatchNorm2d(8)
  fc = new Linear(8, 4, new Rng(2))
  forward(x: Tensor): Tensor {
    return this.fc.forward(this.bn.forward(this.conv.forward(x)).relu().mean([2, 3])) // (B, 4)
  }
}

function session(provider: 'cpu' | 'webgpu'): { m: Net; s: TrainSession } {
  const m = new Net()
  const forward = (i: Record<string, Tensor>) => {
    const logits = m.forward(i['x']!)
    return { loss: nn.crossEntropy(logits, i['y']!), outputs: { pred: logits.argmax(-1) } }
  }
  return { m, s: new TrainSession({ runtime: new Runtime({ provider, threads: 1 }), model: m, forward, optimizer: { kind: 'adamw', lr: 0.01 } }) }
}

const batch = { x: hostF32(Float32Array.from({ length: 4 * 3 * 8 * 8 }, (_, i) => Math.sin(i * 0.37)), [4, 3, 8, 8]), y: hostI64([0, 1, 2, -100], [4]) }

describe.skipIf(!webgpu)('training on WebGPU with the state resident on the device', () => {
  it('matches the CPU step for step; parameters come back only when synced', async () => {
    const cpu = session('cpu')
    const gpu = session('webgpu')
    for (let k = 0; k < 3; k++) {
      const a = await cpu.s.trainStep(batch)
      const b = await gpu.s.trainStep(batch)
      expect(b.loss).toBeCloseTo(a.loss, 5)
      expect(b.gradNorm).toBeCloseTo(a.gradNorm!, 4)
      expect(Array.from(b.outputs['pred']!.data as BigInt64Array)).toEqual(Array.from(a.outputs['pred']!.data as BigInt64Array))
    }
    // parameters, buffers and Adam's moments stayed on the device; the host copy is stale, and says so
    expect(gpu.m.fc.weight.onDevice).toBe('webgpu')
    expect(gpu.s.state.device.get(gpu.m.fc.weight)?.tensor.location).toBe('gpu-buffer')
    expect(gpu.s.state.device.get('optim.fc.weight.exp_avg')?.tensor.location).toBe('gpu-buffer')
    expect(() => gpu.m.bn.running_mean.data).toThrow(/"bn.running_mean" has its current value on the webgpu device/)
    let caught: unknown
    try {
      void gpu.m.fc.weight.data
    } catch (e) {
      caught = e
    }
    expect(caught).toMatchObject({ code: 'PARAM_ON_DEVICE', hint: expect.stringMatching(/syncToHost/) })
    // evaluation reads the device copies too
    const ea = await cpu.s.evaluate(batch)
    const eb = await gpu.s.evaluate(batch)
    expect(eb.loss).toBeCloseTo(ea.loss!, 5)
    const sa = await cpu.s.exportState()
    const sb = await gpu.s.exportState() // syncs
    expect(gpu.m.fc.weight.onDevice).toBeNull()
    expect(Object.keys(sb.tensors).sort()).toEqual(Object.keys(sa.tensors).sort())
    for (const [k, t] of Object.entries(sa.tensors)) {
      const u = sb.tensors[k]!.data
      t.data.forEach((v, i) => expect(Math.abs(u[i]! - v), `${k}[${i}]`).toBeLessThan(1e-4 * Math.max(1, Math.abs(v))))
    }
    // a value replaced on the host (a resume) is uploaded again before the next step
    cpu.s.importState(sa)
    gpu.s.importState(sa)
    const a = await cpu.s.trainStep(batch)
    const b = await gpu.s.trainStep(batch)
    expect(b.loss).toBeCloseTo(a.loss, 5)
    // the end of training frees the device copies; the values are on the host, and a step uploads them again
    await gpu.s.releaseDevice()
    expect(gpu.s.state.device.size).toBe(0)
    expect(gpu.m.fc.weight.onDevice).toBeNull()
    expect((await gpu.s.trainStep(batch)).loss).toBeCloseTo((await cpu.s.trainStep(batch)).loss, 5)
  })

  it('refuses several steps per run (a Scan has no WebGPU kernel) with what to do', async () => {
    const { s } = session('webgpu')
    await expect(s.trainSteps([batch, batch], [1, 1])).rejects.toMatchObject({ code: 'CONFIG_STEPS_PER_RUN' })
  })

  it('names the operators the provider has no kernel for instead of running them on the CPU', async () => {
    const rt = new Runtime({ provider: 'webgpu' })
    // bytes are not rewritten: LogSoftmax and an int64 Mul stay as they are
    const bytes = encodeModel({
      irVersion: 8,
      opsetImport: [{ domain: '', version: 17 }],
      producerName: 'test',
      graph: {
        name: 'g',
        node: [
          { opType: 'LogSoftmax', input: ['x'], output: ['y'], attribute: [{ name: 'axis', type: 2, i: -1 }] },
          { opType: 'Mul', input: ['i', 'i'], output: ['j'] },
        ],
        initializer: [],
        input: [valueInfo('x', { shape: [2, 3], dtype: 'float32' }), valueInfo('i', { shape: [2], dtype: 'int64' })],
        output: [valueInfo('y', { shape: [2, 3], dtype: 'float32' }), valueInfo('j', { shape: [2], dtype: 'int64' })],
      },
    })
    const err = await rt.session('unsupported', () => bytes).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'RUNTIME_PROVIDER_OPS' })
    expect(String((err as Error).message)).toMatch(/LogSoftmax\(float\).*Mul\(int64, int64\)|Mul\(int64, int64\).*LogSoftmax\(float\)/)
    await rt.dispose()
  })
})
