/** Node-only: atomic save and load of a training state file. */
import { writeSafetensorsFile } from '../checkpoint/io-node.js'
import { openSafetensorsFile } from '../checkpoint/safetensors-node.js'
import type { TrainState } from './step.js'
import { stateFromSafetensors, stateToSafetensors } from './state.js'

export async function saveTrainState(path: string, s: TrainState): Promise<void> {
  const { tensors, metadata } = stateToSafetensors(s)
  await writeSafetensorsFile(path, tensors, metadata)
}

export async function loadTrainState(path: string): Promise<TrainState> {
  const f = await openSafetensorsFile(path)
  try {
    return await stateFromSafetensors(f)
  } finally {
    await f.close()
  }
}
