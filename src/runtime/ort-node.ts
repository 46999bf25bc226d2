/** Node-only: registers onnxruntime-node as the runtime binding. */
import * as ort from 'onnxruntime-node'
import { setOrt, type Ort } from './ort.js'

const o = ort as unknown as Ort
const listed = o.listSupportedBackends?.().map((b) => b.name) ?? ['cpu']
setOrt(o, listed.includes('cpu') ? listed : ['cpu', ...listed])
