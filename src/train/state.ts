/**
 * Training state <-> safetensors: parameters and buffers under their checkpoint names, optimizer
 * moments under `optim.<param>.<slot>` (PyTorch's slot names), counters in the metadata.
 */
import { CheckpointError } from '../errors.js'
import type { SafetensorsFile, TensorToWrite } from '../checkpoint/safetensors.js'
import type { TrainState } from './step.js'

/** Format 2 stores Adam's moments as the graph keeps them (TrainState.moments 'scaled'); 1 as torch does. */
export const STATE_FORMAT = 'finetune-train-state/2'
const STATE_FORMAT_1 = 'finetune-train-state/1'

export function stateToSafetensors(s: TrainState): { tensors: [string, TensorToWrite][]; metadata: Record<string, string> } {
  const tensors: [string, TensorToWrite][] = Object.entries(s.tensors).map(([k, t]) => [k, { dtype: 'F32', shape: [...t.shape], data: t.data }])
  const metadata = { format: STATE_FORMAT, step: String(s.step), micro: String(s.micro), random_counter: String(s.randomCounter), seed: String(s.seed) }
  return { tensors, metadata }
}

export async function stateFromSafetensors(f: SafetensorsFile): Promise<TrainState> {
  const m = f.metadata
  if (m['format'] !== STATE_FORMAT && m['format'] !== STATE_FORMAT_1) throw new CheckpointError('STATE_FORMAT', `${f.name} is not a finetune training state (format "${m['format'] ?? 'none'}", expected "${STATE_FORMAT}")`, 'pass the state.safetensors from a finetune checkpoint folder')
  const num = (k: string): number => {
    const v = Number(m[k])
    if (!Number.isFinite(v)) throw new CheckpointError('STATE_FORMAT', `${f.name}: metadata field "${k}" is missing or not a number`)
    return v
  }
  const tensors: TrainState['tensors'] = {}
  for (const k of f.keys()) tensors[k] = { shape: f.info(k).shape, data: await f.readAsFloat32(k) }
  return { tensors, step: num('step'), micro: num('micro'), randomCounter: num('random_counter'), seed: num('seed'), moments: m['format'] === STATE_FORMAT_1 ? 'torch' : 'scaled' }
}
