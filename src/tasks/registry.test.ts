import { existsSync, readdirSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { getTask, TASK_NAMES, TASKS, taskOfConfig } from './registry.js'

describe('tasks registry', () => {
  it('every task lives in its own folder and has the parts every task has', () => {
    const folders = readdirSync(new URL('.', import.meta.url)).filter((f) => existsSync(new URL(`./${f}/`, import.meta.url)) && !f.includes('.'))
    expect(folders.sort()).toEqual([...TASK_NAMES].sort())
    for (const t of TASKS) {
      expect(typeof t.prepare).toBe('function')
      expect(typeof t.open).toBe('function')
      expect(t.summary.length).toBeGreaterThan(10)
      for (const [k, o] of Object.entries(t.options)) expect(o.commands.length, `${t.name} --${k}`).toBeGreaterThan(0)
    }
  })
  it('finds the task a config.json records, by finetune_task or by the architecture of its head', () => {
    expect(taskOfConfig({ finetune_task: 'causal-lm', model_type: 'bert', architectures: ['BertForSequenceClassification'] })?.name).toBe('causal-lm')
    expect(taskOfConfig({ model_type: 'bert', architectures: ['BertForSequenceClassification'] })?.name).toBe('text-classification')
    expect(taskOfConfig({ model_type: 'distilbert', architectures: ['DistilBertForTokenClassification'] })?.name).toBe('token-classification')
    expect(taskOfConfig({ model_type: 'gpt2', architectures: ['GPT2LMHeadModel'] })?.name).toBe('causal-lm')
    expect(taskOfConfig({ model_type: 'vit', architectures: ['ViTForImageClassification'] })?.name).toBe('image-classification')
    expect(taskOfConfig({ finetune_arch: 'resnet18' })?.name).toBe('image-classification')
    expect(taskOfConfig({ model_type: 'wav2vec2', architectures: ['Wav2Vec2ForCTC'] })?.name).toBe('speech-recognition')
    expect(taskOfConfig({ finetune_task: 'semantic-segmentation', finetune_arch: 'fcn_resnet50' })?.name).toBe('semantic-segmentation')
    expect(taskOfConfig({ model_type: 'bert', architectures: ['BertModel'] })).toBeNull()
    expect(() => getTask('summarise')).toThrow(expect.objectContaining({ code: 'TASK_UNKNOWN', message: 'unknown task "summarise"', hint: `choose one of ${TASK_NAMES.join(', ')}` }))
    expect(TASK_NAMES.slice(0, 5)).toEqual(['text-classification', 'token-classification', 'causal-lm', 'masked-lm', 'image-classification'])
    expect(taskOfConfig({ model_type: 'speech-embedding', id2label: { 0: 'yes' } })?.name).toBe('audio-classification')
    expect(taskOfConfig({ finetune_task: 'text-detection', finetune_source: 'onnx' })?.name).toBe('text-detection')
  })
})
