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
  /** Every event, in order (events.jsonl writers, dashboards). */
  onEvent?(e: TrainEvent, ctx: CallbackContext): void | Promise<void>
}
