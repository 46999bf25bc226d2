/**
 * finetune: fine-tune pre-trained networks from TypeScript. Model code traces to a static graph,
 * autodiff adds the backward pass and the optimizer update, and ONNX Runtime runs the whole step.
 */
import './runtime/ort-node.js'

export * from './errors.js'
export { VERSION } from './version.js'
export { Graph, Parameter, Tensor, concat, trace, where, withGraph, type TensorLike } from './graph/graph.js'
export type { DType } from './graph/dtype.js'
export { Module, markStructureChanged } from './graph/module.js'
export * as nn from './graph/nn.js'
export { grad } from './autodiff/grad.js'
export { lower } from './onnx/lower.js'
export { evaluate } from './runtime/reference.js'
export { Rng } from './runtime/rng.js'
export { Runtime, PROVIDERS, type Provider, type RuntimeOptions, type HostTensor } from './runtime/session.js'
export { availableProviders, setOrt } from './runtime/ort.js'
export type { OptimizerConfig, ParamGroup } from './optim/optimizers.js'
export { lrFactor, parseSchedule, SCHEDULES, type Schedule } from './optim/schedules.js'
export { BatchNorm2d, Conv2d, Embedding, LayerNorm, Linear, MLP } from './models/layers.js'
export { TransformerBlock, type BlockConfig } from './models/transformer-block.js'
export { TrainSession, hostF32, hostI64, type ForwardFn, type StepResult, type TrainState } from './train/step.js'
export { saveTrainState, loadTrainState } from './train/state-node.js'
export { exportInferenceOnnx } from './export/onnx.js'
