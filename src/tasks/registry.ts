/**
 * Every task finetune knows, in the order --help lists them. Adding a task is one folder under
 * src/tasks/ and one line here.
 */
import { ConfigError } from '../errors.js'
import { audioClassification } from './audio-classification/task-node.js'
import { causalLm } from './causal-lm/index.js'
import { imageClassification } from './image-classification/task-node.js'
import { semanticSegmentation } from './semantic-segmentation/task-node.js'
import { speechRecognition } from './speech-recognition/task-node.js'
import { summarization } from './summarization/task-node.js'
import { maskedLm } from './masked-lm/index.js'
import { objectDetection } from './object-detection/task-node.js'
import { textClassification } from './text-classification/index.js'
import { textDetection } from './text-detection/task-node.js'
import { tokenClassification } from './token-classification/index.js'
import { translation } from './translation/task-node.js'
import { TASK_FIELD, type Task } from './task.js'

export const TASKS: readonly Task[] = [
  textClassification,
  tokenClassification,
  causalLm,
  maskedLm,
  imageClassification,
  audioClassification,
  speechRecognition,
  semanticSegmentation,
  translation,
  summarization,
  textDetection,
  objectDetection,
]

export const TASK_NAMES: readonly string[] = TASKS.map((t) => t.name)

/** The task of this name; the error lists the valid ones. */
export function getTask(name: string): Task {
  const t = TASKS.find((x) => x.name === name)
  if (!t) throw new ConfigError('TASK_UNKNOWN', `unknown task "${name}"`, `choose one of ${TASK_NAMES.join(', ')}`)
  return t
}

/**
 * The task a model's config.json records: `finetune_task` in folders finetune trained, otherwise
 * the one task whose checkpoints say so (Hugging Face `architectures`). Null when it says nothing.
 */
export function taskOfConfig(config: Record<string, unknown>): Task | null {
  const named = config[TASK_FIELD]
  if (typeof named === 'string') return getTask(named)
  return TASKS.find((t) => t.recognises(config)) ?? null
}
