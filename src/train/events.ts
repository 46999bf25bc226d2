/**
 * The vocabulary of a training run. The progress bar, events.jsonl, the dashboard and user callbacks
 * all consume these events; they carry plain numbers, never runtime tensors.
 */

export type TrainEvent =
  | { type: 'start'; time: string; totalSteps: number; epochs: number; trainExamples: number; evalExamples: number; parameters: number; trainable: number; resumedFromStep: number | null }
  | { type: 'step'; step: number; epoch: number; loss: number; lr: number; gradNorm: number | null; examplesPerSec: number; elapsedMs: number }
  | { type: 'eval'; step: number; epoch: number; metrics: Record<string, number> }
  | { type: 'checkpoint'; step: number; path: string; best: boolean }
  | { type: 'end'; step: number; reason: StopReason; elapsedMs: number; bestStep: number | null; metrics: Record<string, number> }

export type StopReason = 'completed' | 'early-stopping' | 'stopped'

/**
 * How far a long pass that is not a training step has got: the features computed once for
 * `--method frozen`, or an evaluation. Progress is for display only: events.jsonl does not record it.
 */
export interface PhaseProgress {
  phase: 'features' | 'eval'
  /** Examples done so far, at most `total`. */
  done: number
  total: number
}

export interface CallbackContext {
  /** Ends training after the current step; the reason is recorded in the end event. */
  stop(reason?: string): void
}

/** A training callback: any subset of these async methods (Keras-style hooks). */
export interface Callback {
  onStart?(e: Extract<TrainEvent, { type: 'start' }>, ctx: CallbackContext): void | Promise<void>
  onStep?(e: Extract<TrainEvent, { type: 'step' }>, ctx: CallbackContext): void | Promise<void>
  onEval?(e: Extract<TrainEvent, { type: 'eval' }>, ctx: CallbackContext): void | Promise<void>
  onCheckpoint?(e: Extract<TrainEvent, { type: 'checkpoint' }>, ctx: CallbackContext): void | Promise<void>
  onEnd?(e: Extract<TrainEvent, { type: 'end' }>, ctx: CallbackContext): void | Promise<void>
  /**
   * True when training must pause after update `step` for this callback to act before the next
   * update (it changes what trains, as gradual unfreezing does): a run of several steps per runtime
   * call then ends there. Other callbacks see each step's event after its run.
   */
  runBoundary?(step: number): boolean
  /** A pass over data that is not a training step advanced (Keras' on_test_batch_end, HF's on_prediction_step). */
  onProgress?(p: PhaseProgress): void
  /** Every event, in order (events.jsonl writers, dashboards). */
  onEvent?(e: TrainEvent, ctx: CallbackContext): void | Promise<void>
}

/** A (done, total) reporter that tells every callback's onProgress how far `phase` has got. */
export function progressReporter(callbacks: readonly Callback[] | undefined, phase: PhaseProgress['phase']): ((done: number, total: number) => void) | undefined {
  const cbs = (callbacks ?? []).filter((cb) => cb.onProgress)
  if (cbs.length === 0) return undefined
  return (done, total) => {
    for (const cb of cbs) cb.onProgress!({ phase, done: Math.min(done, total), total })
  }
}
