/** Node-only: registers onnxruntime-node as the runtime binding. */
import * as ort from 'onnxruntime-node'
import { setOrt, type Ort } from './ort.js'

const o = ort as unknown as Ort
// finetune turns ONNX Runtime's failures into its own errors; ORT's log lines would only precede them
// (FINETUNE_ORT_LOG=warning|info|verbose brings them back for debugging)
o.env.logLevel = (process.env['FINETUNE_ORT_LOG'] as typeof o.env.logLevel | undefined) ?? 'fatal'
const listed = o.listSupportedBackends?.().map((b) => b.name) ?? ['cpu']
setOrt(o, listed.includes('cpu') ? listed : ['cpu', ...listed])
