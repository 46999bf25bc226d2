import { describe, expect, it } from 'vitest'
import { Graph } from '../graph/graph.js'
import { lower } from '../onnx/lower.js'
import { availableProviders, getOrt, setOrt } from './ort.js'
import { contentHash, Runtime } from './session.js'

const tiny = () => sized(2)
const sized = (n: number) => {
  const g = new Graph()
  const y = g.input('x', [n]).exp()
  return lower({ outputs: [{ name: 'y', tensor: y }] }).bytes()
}

describe('execution providers', () => {
  it('an unknown provider is refused with the valid ones listed', () => {
    expect(() => new Runtime({ provider: 'tpu' as never })).toThrow(/unknown execution provider "tpu"/)
    try {
      new Runtime({ provider: 'tpu' as never })
    } catch (e) {
      expect((e as { hint?: string }).hint).toMatch(/cpu, webgpu, cuda/)
    }
  })

  it('a provider this ONNX Runtime build cannot start gives one clear error with a hint', async () => {
    const have = availableProviders()
    expect(have).toContain('cpu')
    // onnxruntime-node ships without the CUDA libraries when its install step is skipped
    const rt = new Runtime({ provider: 'cuda' })
    const err = await rt.session('k', tiny).then(() => null, (e: unknown) => e as { code: string; message: string; hint?: string })
    const checked = await rt.check().then(() => null, (e: unknown) => e as { code: string })
    expect(checked?.code ?? null).toBe(err ? 'RUNTIME_PROVIDER_FAILED' : null)
    if (err) {
      expect(err.code).toBe('RUNTIME_PROVIDER_FAILED')
      expect(err.message).toMatch(/could not start the cuda execution provider/)
      expect(err.hint).toMatch(/--device cpu/)
      expect(err.hint).toMatch(/ONNXRUNTIME_NODE_INSTALL_CUDA=v12 npm rebuild onnxruntime-node/)
    } else expect(have).toContain('cuda') // a machine with CUDA: the session simply works
  })

  it('WebGPU without a usable Vulkan adapter fails with the provider named and what to check', async () => {
    if (!availableProviders().includes('webgpu')) return // a build without the WebGPU provider is refused earlier (RUNTIME_PROVIDER_MISSING)
    const rt = new Runtime({ provider: 'webgpu' })
    const err = await rt.session('k', tiny).then(() => null, (e: unknown) => e as { code: string; message: string; hint?: string })
    if (err) {
      expect(err.code).toBe('RUNTIME_PROVIDER_FAILED')
      expect(err.message).toMatch(/could not start the webgpu execution provider/)
      expect(err.hint).toMatch(/Vulkan/)
      expect(err.hint).toMatch(/--device cpu/)
    } else expect(rt.cachedSessions).toBe(1) // a machine with a Vulkan GPU: the session simply works
    await rt.dispose()
  })

  it('sessions are cached by key and the least recently used is released beyond the limit', async () => {
    const rt = new Runtime({ threads: 1, maxSessions: 2 })
    const a = await rt.session('a', () => sized(1))
    let builds = 0
    expect(await rt.session('a', () => (builds++, sized(1)))).toBe(a)
    expect(builds).toBe(0) // a known key does not even build its model again
    await rt.session('b', () => sized(2))
    expect(rt.compileMs).toBeGreaterThan(0)
    await rt.session('c', () => sized(3))
    expect(rt.cachedSessions).toBe(2)
    expect(rt.has('a')).toBe(false)
    expect(rt.has('b') && rt.has('c')).toBe(true)
    expect(await rt.session('a', () => sized(1))).not.toBe(a) // released, so started again
    await rt.dispose()
    expect(rt.cachedSessions).toBe(0)
    expect(rt.has('b')).toBe(false)
  })

  it('keys whose models have the same bytes share one session, started once', async () => {
    const rt = new Runtime({ threads: 1 })
    const a = await rt.session('run 1: step', () => sized(4))
    const started = rt.compileMs
    expect(await rt.session('run 2: step', () => sized(4))).toBe(a)
    expect(rt.compileMs).toBe(started)
    expect(rt.cachedSessions).toBe(1)
    const other = await rt.session('run 2: eval', () => sized(5))
    expect(other).not.toBe(a)
    expect(rt.cachedSessions).toBe(2)
    const out = await other.run({ x: new (getOrt().Tensor)('float32', new Float32Array(5), [5]) })
    expect(Array.from(out.y!.data as Float32Array)).toEqual([1, 1, 1, 1, 1])
    await rt.dispose()
  })

  it('a new generation releases the sessions none of the last `keep` generations asked for', async () => {
    const rt = new Runtime({ threads: 1 })
    rt.nextGeneration(2) // run 1 uses a and b
    await rt.session('run 1: a', () => sized(1))
    await rt.session('run 1: b', () => sized(2))
    rt.nextGeneration(2) // run 2 uses b and c
    await rt.session('run 2: b', () => sized(2))
    await rt.session('run 2: c', () => sized(3))
    rt.nextGeneration(2) // a was last used two runs ago: kept for this run
    expect(rt.cachedSessions).toBe(3)
    await rt.session('run 3: c', () => sized(3))
    rt.nextGeneration(2) // a (run 1) goes; b (run 2) and c (run 3) stay
    expect(rt.cachedSessions).toBe(2)
    expect(rt.has('run 1: a')).toBe(false)
    expect(rt.has('run 2: b') && rt.has('run 3: c')).toBe(true)
    const started = rt.compileMs
    await rt.session('run 4: b', () => sized(2))
    expect(rt.compileMs).toBe(started)
    await rt.dispose()
  })

  it('content hashes tell apart one changed byte, one byte less and the same bytes at an offset', () => {
    const b = Uint8Array.from({ length: 4099 }, (_, i) => (i * 2654435761) >>> 24)
    const h = contentHash(b)
    expect(h).toMatch(/^[0-9a-f]{16}-4099$/)
    const c = b.slice()
    c[1234] = c[1234]! ^ 1
    expect(contentHash(c)).not.toBe(h)
    expect(contentHash(b.subarray(0, 4098))).not.toBe(h)
    const shifted = new Uint8Array(4100)
    shifted.set(b, 1)
    expect(contentHash(shifted.subarray(1))).toBe(h)
  })
})

describe('session options', () => {
  it('sessions use the CPU arena without ONNX Runtime\'s memory pattern (peak memory 15-40% lower at the same speed)', async () => {
    const real = getOrt()
    const seen: Record<string, unknown>[] = []
    const create = real.InferenceSession.create.bind(real.InferenceSession) as (b: Uint8Array, o: Record<string, unknown>) => ReturnType<typeof real.InferenceSession.create>
    const spy = { ...real, InferenceSession: { ...real.InferenceSession, create: (b: Uint8Array, o: Record<string, unknown>) => (seen.push(o), create(b, o)) } }
    setOrt(spy as never, availableProviders())
    try {
      const rt = new Runtime()
      const s = await rt.session('opts', tiny)
      expect(s.outputNames).toEqual(['y'])
      await rt.dispose()
    } finally {
      setOrt(real, availableProviders())
    }
    expect(seen).toHaveLength(1)
    expect(seen[0]).toMatchObject({ enableMemPattern: false, enableCpuMemArena: true })
  })
})
