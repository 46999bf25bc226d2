/** Node-only: registers onnxruntime-node as the runtime binding. */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as ort from 'onnxruntime-node'
import type * as OrtCommon from 'onnxruntime-common'
import { setOrt, type Ort } from './ort.js'

const o = ort as unknown as Ort
// finetune turns ONNX Runtime's failures into its own errors; ORT's log lines would only precede them
// (FINETUNE_ORT_LOG=warning|info|verbose brings them back for debugging)
o.env.logLevel = (process.env['FINETUNE_ORT_LOG'] as typeof o.env.logLevel | undefined) ?? 'fatal'
const listed = o.listSupportedBackends?.().map((b) => b.name) ?? ['cpu']

/**
 * The nodes a provider leaves to the CPU, as "OpType(input types)": ONNX Runtime's own error names
 * none of them. The graph runs once on zeros with the CPU fallback allowed and the profiler on; the
 * profile names each node's provider.
 */
async function cpuNodes(bytes: Uint8Array, options: OrtCommon.InferenceSession.SessionOptions): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'finetune-placement-'))
  try {
    const s = await ort.InferenceSession.create(bytes, { ...options, extra: {}, enableProfiling: true, profileFilePrefix: join(dir, 'p'), graphOptimizationLevel: 'basic' })
    const feeds: Record<string, OrtCommon.Tensor> = {}
    for (const m of s.inputMetadata) {
      if (!m.isTensor) continue
      const shape = m.shape.map((d) => (typeof d === 'number' ? d : 1))
      const n = shape.reduce((a, b) => a * b, 1)
      const data = m.type === 'int64' ? new BigInt64Array(n) : m.type === 'int32' ? new Int32Array(n) : m.type === 'bool' || m.type === 'uint8' ? new Uint8Array(n) : new Float32Array(n)
      feeds[m.name] = new ort.Tensor(m.type as 'float32', data as Float32Array, shape)
    }
    await s.run(feeds)
    s.endProfiling()
    await s.release()
    const file = readdirSync(dir).find((f) => f.endsWith('.json'))
    if (!file) return []
    const events = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { cat: string; args?: { op_name?: string; provider?: string; input_type_shape?: Record<string, number[]>[] } }[]
    const found = new Set<string>()
    for (const e of events) {
      if (e.cat !== 'Node' || e.args?.provider !== 'CPUExecutionProvider') continue
      found.add(`${e.args.op_name ?? '?'}(${(e.args.input_type_shape ?? []).map((t) => Object.keys(t)[0]).join(', ')})`)
    }
    return [...found]
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

setOrt({ InferenceSession: o.InferenceSession, Tensor: o.Tensor, env: o.env, ...(o.listSupportedBackends ? { listSupportedBackends: o.listSupportedBackends } : {}), cpuNodes }, listed.includes('cpu') ? listed : ['cpu', ...listed])
