import { describe, expect, it } from 'vitest'
import { ConfigError } from '../errors.js'
import { checkConfigSizes, guardAllocation, type ConfigSizes, type ShapeSource } from './config-sizes.js'
import { bertSizes, parseBertConfig } from './bert.js'
import { textFamilies } from './registry.js'
import { hfVisionFamilies } from './hf-vision.js'

const src = (shapes: Record<string, number[]>): ShapeSource => ({ name: 'model.safetensors', keys: () => Object.keys(shapes), info: (k) => ({ shape: shapes[k]! }) })

const caught = (f: () => unknown): ConfigError => {
  try {
    f()
  } catch (e) {
    return e as ConfigError
  }
  throw new Error('expected a throw')
}

const tiny = { vocab_size: 100, hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 4, intermediate_size: 64, max_position_embeddings: 64 }
const tinyCkpt = (): Record<string, number[]> => ({
  'bert.embeddings.word_embeddings.weight': [100, 32],
  'bert.embeddings.position_embeddings.weight': [64, 32],
  'bert.embeddings.token_type_embeddings.weight': [2, 32],
  'bert.encoder.layer.0.intermediate.dense.weight': [64, 32],
  'bert.encoder.layer.1.intermediate.dense.weight': [64, 32],
})

describe('config sizes against the checkpoint', () => {
  it('passes a config that matches its weights, with or without the backbone prefix', () => {
    expect(() => checkConfigSizes(bertSizes(parseBertConfig(tiny)), src(tinyCkpt()), { file: 'config.json', memoryBytes: 1e9 })).not.toThrow()
    const bare = Object.fromEntries(Object.entries(tinyCkpt()).map(([k, v]) => [k.slice('bert.'.length), v]))
    expect(() => checkConfigSizes(bertSizes(parseBertConfig(tiny)), src(bare), { file: 'config.json' })).not.toThrow()
  })

  it('names the field, its value, the tensor and both shapes; every wrong field once', () => {
    const e = caught(() => checkConfigSizes(bertSizes(parseBertConfig({ ...tiny, hidden_size: 1e9, intermediate_size: 65 })), src(tinyCkpt()), { file: 'x/config.json' }))
    expect(e).toBeInstanceOf(ConfigError)
    expect(e.code).toBe('CONFIG_SIZE')
    expect(e.message).toContain('x/config.json does not match the checkpoint')
    expect(e.message).toContain('hidden_size = 1000000000: model.safetensors has bert.embeddings.word_embeddings.weight of shape [100, 32], but the config makes it [100, 1000000000]')
    expect(e.message).toContain('intermediate_size = 65, hidden_size = 1000000000: model.safetensors has bert.encoder.layer.0.intermediate.dense.weight of shape [64, 32]')
    expect(e.message.match(/position_embeddings/g)).toBeNull() // hidden_size is reported once
    expect(e.hint).toMatch(/config\.json/)
  })

  it('compares layer counts with the blocks the checkpoint holds', () => {
    const e = caught(() => checkConfigSizes(bertSizes(parseBertConfig({ ...tiny, num_hidden_layers: 5000 })), src(tinyCkpt()), { file: 'config.json' }))
    expect(e.code).toBe('CONFIG_SIZE')
    expect(e.message).toContain('num_hidden_layers = 5000: model.safetensors holds 2 (bert.encoder.layer.N for N = 0..1)')
  })

  it('refuses parameters that exceed memory, naming the sizes', () => {
    const s = bertSizes(parseBertConfig({ ...tiny, vocab_size: 30522, hidden_size: 4096 }))
    const e = caught(() => checkConfigSizes(s, null, { file: 'config.json', memoryBytes: 100e6 }))
    expect(e.code).toBe('CONFIG_SIZE')
    expect(e.message).toMatch(/about \d\.\d\de\d+ parameters \(.+ GB as float32\), more than this machine's 0\.100 GB of memory/)
    expect(e.message).toContain('hidden_size = 4096')
    expect(e.message).toContain('vocab_size = 30522')
    // an overflowing estimate is refused too
    expect(() => checkConfigSizes({ ...s, params: Infinity }, null, { file: 'c', memoryBytes: 1e12 })).toThrow(/parameters/)
    expect(() => checkConfigSizes(s, null, { file: 'config.json' })).not.toThrow()
  })

  it('every size field of every text family must be a positive integer', () => {
    const fields = { bert: ['vocab_size', 'hidden_size', 'num_hidden_layers', 'num_attention_heads', 'intermediate_size', 'max_position_embeddings', 'type_vocab_size'], roberta: ['hidden_size', 'num_hidden_layers'], distilbert: ['vocab_size', 'dim', 'n_layers', 'n_heads', 'hidden_dim', 'max_position_embeddings'], gpt2: ['vocab_size', 'n_embd', 'n_layer', 'n_head', 'n_positions', 'n_inner'] } as const
    for (const [fam, keys] of Object.entries(fields)) {
      for (const k of keys) {
        for (const bad of [0, -3, 2.5, '8']) {
          const e = caught(() => textFamilies[fam]!.sizes({ vocab_size: 100, [k]: bad }, 'config.json'))
          expect(e.code, `${fam} ${k}=${bad}`).toBe('CONFIG_INVALID')
          expect(e.message).toContain(`${k}: must be a positive integer (a size), got ${JSON.stringify(bad)}`)
          expect(e.message).not.toMatch(/divisible/)
        }
      }
    }
  })

  it('estimates the parameters of the real configurations to within a few percent', () => {
    // bert-base-uncased 109.5M, distilbert-base-uncased 66.4M, gpt2 124.4M (from their model cards)
    const near = (n: number, want: number): void => expect(Math.abs(n / want - 1)).toBeLessThan(0.03)
    near(textFamilies['bert']!.sizes({ vocab_size: 30522 }).params, 109.5e6)
    near(textFamilies['distilbert']!.sizes({ vocab_size: 30522 }).params, 66.4e6)
    near(textFamilies['gpt2']!.sizes({}).params, 124.4e6)
    // microsoft/resnet-50 25.6M, google/vit-base-patch16-224 86.6M, google/mobilenet_v2_1.0_224 3.5M (heads of 1000 included there)
    near(hfVisionFamilies.resnet.sizes({ model_type: 'resnet' }).params + 2048 * 1000, 25.6e6)
    near(hfVisionFamilies.vit.sizes({ model_type: 'vit' }).params + 768 * 1000, 86.6e6)
    expect(Math.abs(hfVisionFamilies.mobilenet_v2.sizes({ model_type: 'mobilenet_v2' }).params + 1280 * 1000 - 3.5e6) / 3.5e6).toBeLessThan(0.1)
  })

  it('guardAllocation turns an allocation RangeError into CONFIG_SIZE and passes other errors on', () => {
    const sizes = (): ConfigSizes => ({ fields: { hidden_size: 1e9 }, params: 1e12, tensors: [], blocks: [] })
    const e = caught(() => guardAllocation(() => new Float32Array(2 ** 53), 'config.json', sizes))
    expect(e.code).toBe('CONFIG_SIZE')
    expect(e.message).toMatch(/too large to allocate \(Invalid typed array length/)
    expect(e.message).toContain('hidden_size = 1000000000')
    expect(() => guardAllocation(() => JSON.parse('{'), 'c')).toThrow(SyntaxError)
    expect(() => guardAllocation(() => 'x'.repeat(-1), 'c')).toThrow(RangeError) // a RangeError that is not an allocation
    expect(guardAllocation(() => 7, 'c')).toBe(7)
  })
})
