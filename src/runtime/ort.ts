/**
 * The ONNX Runtime binding in use. The core never imports a platform package itself: the Node entry
 * registers onnxruntime-node, a browser entry would register onnxruntime-web.
 */
import type * as OrtCommon from 'onnxruntime-common'
import { RuntimeError } from '../errors.js'

export type Ort = Pick<typeof OrtCommon, 'InferenceSession' | 'Tensor' | 'env'> & {
  listSupportedBackends?: () => { name: string; bundled: boolean }[]
  /** The nodes of a graph that `options`' provider would leave to the CPU, where the binding can tell. */
  cpuNodes?: (bytes: Uint8Array, options: OrtCommon.InferenceSession.SessionOptions) => Promise<string[]>
}
export type OrtTensor = OrtCommon.Tensor
export type OrtSession = OrtCommon.InferenceSession

let current: Ort | null = null
let platformProviders: readonly string[] = ['cpu']

export function setOrt(ort: Ort, providers?: readonly string[]): void {
  current = ort
  if (providers) platformProviders = providers
}

export function getOrt(): Ort {
  if (!current) throw new RuntimeError('RUNTIME_NO_ORT', 'no ONNX Runtime binding is registered', 'import "finetune" (Node) or call setOrt() with onnxruntime-web')
  return current
}

/** Execution providers the registered binding has. */
export function availableProviders(): readonly string[] {
  return platformProviders
}
