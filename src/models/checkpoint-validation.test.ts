// Loading refuses checkpoints whose float weights hold NaN or infinities (CHECKPOINT_NOT_FINITE) and
// config.json files whose sizes are absurd or disagree with the weights (CONFIG_SIZE), for every
// source: HF text folders (bert, distilbert, roberta, gpt2), HF vision folders (resnet, vit,
// mobilenet_v2), torchvision state dicts and TF.js Layers models. The size checks run on the
// safetensors header before any parameter is allocated.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { writeSafetensorsFile } from '../checkpoint/io-node.js'
import { openSafetensorsFile } from '../checkpoint/safetensors-node.js'
import type { TensorToWrite } from '../checkpoint/safetensors.js'
import { FinetuneError } from '../errors.js'
import { openHfVisionFolder } from './hf-vision-node.js'
import { openImageCheckpoint } from './image-checkpoint-node.js'
import { loadTextCheckpoint } from './pretrained-node.js'
import { torchvisionStateDict } from '../../test/image-fixtures.js'

const root = new URL('../../', import.meta.url).pathname
const tmp = mkdtempSync(join(tmpdir(), 'ft-ckpt-validation-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))
let n = 0

/** A fresh copy of a fixture model folder. */
function copyFixture(name: string): string {
  const dir = join(tmp, `${name}-${n++}`)
  cpSync(join(root, 'test/fixtures/models', name), dir, { recursive: true })
  return dir
}

function patchConfig(dir: string, patch: Record<string, unknown>): void {
  const c = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...c, ...patch }))
}

/** Rewrites a safetensors file with `edit` applied to each tensor's float32 values. */
async function editTensors(file: string, edit: (key: string, data: Float32Array) => void): Promise<void> {
  const f = await openSafetensorsFile(file)
  const out: [string, TensorToWrite][] = []
  for (const k of f.keys()) {
    const { dtype, shape } = f.info(k)
    if (dtype === 'I64') out.push([k, { dtype, shape, data: (await f.read(k)).data as BigInt64Array }])
    else {
      const data = Float32Array.from(await f.readAsFloat32(k))
      edit(k, data)
      out.push([k, { dtype: 'F32', shape, data }])
    }
  }
  await f.close()
  await writeSafetensorsFile(file, out, { format: 'pt' })
}

async function rejection(p: Promise<unknown>): Promise<FinetuneError> {
  try {
    await p
  } catch (e) {
    if (e instanceof FinetuneError) return e
    throw e
  }
  throw new Error('expected the load to fail')
}

const TEXT = [
  { fixture: 'bert-tiny', key: 'bert.encoder.layer.1.output.dense.weight', size: { hidden_size: 1e9 }, field: 'hidden_size = 1000000000', tensor: 'embeddings.word_embeddings.weight' },
  { fixture: 'roberta-tiny', key: 'roberta.encoder.layer.0.attention.self.query.bias', size: { intermediate_size: 1e9 }, field: 'intermediate_size = 1000000000', tensor: 'encoder.layer.0.intermediate.dense.weight' },
  { fixture: 'distilbert-tiny', key: 'distilbert.embeddings.word_embeddings.weight', size: { dim: 2 ** 40, n_heads: 1 }, field: 'dim = 1099511627776', tensor: 'embeddings.word_embeddings.weight' },
  { fixture: 'gpt2-tiny', key: 'transformer.h.0.mlp.c_fc.weight', size: { n_positions: 5e8 }, field: 'n_positions = 500000000', tensor: 'wpe.weight' },
] as const

describe('text checkpoints', () => {
  for (const t of TEXT) {
    it(`${t.fixture}: the unmodified fixture passes both checks`, async () => {
      // the fixtures have no tokenizer files: getting that far means the weights loaded
      const e = await rejection(loadTextCheckpoint(copyFixture(t.fixture), { task: 'base' }))
      expect(e.code).toBe('MODEL_NO_TOKENIZER')
    })

    it(`${t.fixture}: a NaN and an infinity in one weight are refused, naming file, tensor and counts`, async () => {
      const dir = copyFixture(t.fixture)
      await editTensors(join(dir, 'model.safetensors'), (k, d) => {
        if (!k.endsWith(t.key.slice(t.key.indexOf('.') + 1))) return
        d[0] = NaN
        d[d.length - 1] = -Infinity
        d[1] = NaN
      })
      const e = await rejection(loadTextCheckpoint(dir, { task: 'base' }))
      expect(e.code).toBe('CHECKPOINT_NOT_FINITE')
      expect(e.message).toContain(join(dir, 'model.safetensors'))
      expect(e.message).toMatch(new RegExp(`"(\\w+\\.)?${t.key.slice(t.key.indexOf('.') + 1).replace(/\./g, '\\.')}": 2 NaN and 1 infinite of \\d+ values`))
      expect(e.hint).toMatch(/earlier checkpoint/)
    })

    it(`${t.fixture}: an absurd size is refused before allocating, naming the field, the tensor and its shape`, async () => {
      const dir = copyFixture(t.fixture)
      patchConfig(dir, t.size)
      const e = await rejection(loadTextCheckpoint(dir, { task: 'base' }))
      expect(e.code).toBe('CONFIG_SIZE')
      expect(e.message).toContain(t.field)
      expect(e.message).toMatch(new RegExp(`${t.tensor.replace(/\./g, '\\.')} of shape \\[\\d+, \\d+\\]`))
      expect(e.message).toContain(join(dir, 'config.json'))
    })
  }

  it('a size that is not a positive integer is a config problem listed with the others', async () => {
    const dir = copyFixture('bert-tiny')
    patchConfig(dir, { hidden_size: -32, num_hidden_layers: 1.5, intermediate_size: 0 })
    const e = await rejection(loadTextCheckpoint(dir, { task: 'base' }))
    expect(e.code).toBe('CONFIG_INVALID')
    expect(e.message).toContain('hidden_size: must be a positive integer (a size), got -32')
    expect(e.message).toContain('num_hidden_layers: must be a positive integer (a size), got 1.5')
    expect(e.message).toContain('intermediate_size: must be a positive integer (a size), got 0')
  })

  it('a layer count the checkpoint does not have is refused before building thousands of layers', async () => {
    const dir = copyFixture('bert-tiny')
    patchConfig(dir, { num_hidden_layers: 100000 })
    const e = await rejection(loadTextCheckpoint(dir, { task: 'base' }))
    expect(e.code).toBe('CONFIG_SIZE')
    expect(e.message).toMatch(/num_hidden_layers = 100000: .* holds 2 \(bert\.encoder\.layer\.N for N = 0\.\.1\)/)
  })

  it('sizes with nothing to compare against are refused when the parameters exceed memory', async () => {
    const dir = copyFixture('bert-tiny')
    patchConfig(dir, { hidden_size: 1e9 })
    await writeSafetensorsFile(join(dir, 'model.safetensors'), [['something.else', { dtype: 'F32', shape: [1], data: new Float32Array(1) }]])
    const e = await rejection(loadTextCheckpoint(dir, { task: 'base' }))
    expect(e.code).toBe('CONFIG_SIZE')
    expect(e.message).toMatch(/describes a model of about .* parameters \(.* as float32\), more than this machine's .* of memory/)
    expect(e.message).toContain('hidden_size = 1000000000')
  })

  it('a NaN in a sharded checkpoint names the shard that holds it', async () => {
    const dir = copyFixture('bert-tiny')
    const f = await openSafetensorsFile(join(dir, 'model.safetensors'))
    const keys = f.keys()
    const shards: [string, TensorToWrite][][] = [[], []]
    const weightMap: Record<string, string> = {}
    for (const [i, k] of keys.entries()) {
      const data = Float32Array.from(await f.readAsFloat32(k))
      if (k.endsWith('pooler.dense.bias')) data[3] = NaN
      const s = i < keys.length / 2 ? 0 : 1
      shards[s]!.push([k, { dtype: 'F32', shape: f.info(k).shape, data }])
      weightMap[k] = `model-0000${s + 1}-of-00002.safetensors`
    }
    await f.close()
    rmSync(join(dir, 'model.safetensors'))
    for (const s of [0, 1]) await writeSafetensorsFile(join(dir, `model-0000${s + 1}-of-00002.safetensors`), shards[s]!)
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: weightMap }))
    const where = weightMap[keys.find((k) => k.endsWith('pooler.dense.bias'))!]!
    const e = await rejection(loadTextCheckpoint(dir, { task: 'sequence-classification' }))
    expect(e.code).toBe('CHECKPOINT_NOT_FINITE')
    expect(e.message).toContain(`${join(dir, where)}: 1 tensor(s)`)
    expect(e.message).toMatch(/pooler\.dense\.bias": 1 NaN of 32 values/)
  })
})

const VISION = [
  { fixture: 'hf-resnet-tiny', key: 'resnet.encoder.stages.0.layers.0.layer.1.normalization.running_var', size: { embedding_size: 1e9 }, field: 'embedding_size = 1000000000', tensor: 'resnet.embedder.embedder.convolution.weight' },
  { fixture: 'hf-vit-tiny', key: 'vit.embeddings.position_embeddings', size: { hidden_size: 2 ** 31, num_attention_heads: 1 }, field: 'hidden_size = 2147483648', tensor: 'vit.embeddings.patch_embeddings.projection.weight' },
  { fixture: 'hf-mobilenet_v2-tiny', key: 'classifier.weight', size: { depth_multiplier: 1e7 }, field: 'depth_multiplier = 10000000', tensor: 'mobilenet_v2.conv_stem.first_conv.convolution.weight' },
] as const

describe('image checkpoints', () => {
  for (const t of VISION) {
    it(`${t.fixture}: loads unmodified; a NaN is refused with file, tensor and count`, async () => {
      await openHfVisionFolder(copyFixture(t.fixture))
      const dir = copyFixture(t.fixture)
      await editTensors(join(dir, 'model.safetensors'), (k, d) => {
        if (k === t.key) d[d.length - 1] = NaN
      })
      const e = await rejection(openImageCheckpoint(dir))
      expect(e.code).toBe('CHECKPOINT_NOT_FINITE')
      expect(e.message).toContain(`${join(dir, 'model.safetensors')}: 1 tensor(s)`)
      expect(e.message).toMatch(new RegExp(`"${t.key.replace(/\./g, '\\.')}": 1 NaN of \\d+ values`))
    })

    it(`${t.fixture}: an absurd size is refused before allocating, naming the field and the tensor`, async () => {
      const dir = copyFixture(t.fixture)
      patchConfig(dir, t.size)
      const e = await rejection(openImageCheckpoint(dir))
      expect(e.code).toBe('CONFIG_SIZE')
      expect(e.message).toContain(t.field)
      expect(e.message).toMatch(new RegExp(`${t.tensor.replace(/\./g, '\\.')} of shape \\[\\d+, \\d+, \\d+, \\d+\\]`))
    })
  }

  it('resnet: a stage of another width or depth is named by its index', async () => {
    const dir = copyFixture('hf-resnet-tiny')
    const c = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { hidden_sizes: number[]; depths: number[] }
    patchConfig(dir, { hidden_sizes: c.hidden_sizes.map((h, i) => (i === 1 ? h * 2 : h)), depths: c.depths.map((d, i) => (i === 0 ? d + 3 : d)) })
    const e = await rejection(openImageCheckpoint(dir))
    expect(e.code).toBe('CONFIG_SIZE')
    expect(e.message).toContain(`hidden_sizes[1] = ${c.hidden_sizes[1]! * 2}`)
    expect(e.message).toContain(`depths[0] = ${c.depths[0]! + 3}: `)
    expect(e.message).toContain('resnet.encoder.stages.0.layers.N')
  })

  it('vit: an --image-size whose position embeddings would not fit in memory is refused', async () => {
    const e = await rejection(openImageCheckpoint(copyFixture('hf-vit-tiny'), { imageSize: 16 * 2 ** 20 }))
    expect(e.code).toBe('CONFIG_SIZE')
    expect(e.message).toMatch(/image_size = 16777216/)
  })

  it('torchvision state dict: a NaN is refused', async () => {
    const file = await torchvisionStateDict(join(tmp, 'mobilenet.safetensors'), 'mobilenet_v2', 2)
    await editTensors(file, (k, d) => {
      if (k === 'features.1.conv.1.weight') d.fill(Infinity, 0, 5)
    })
    const e = await rejection(openImageCheckpoint(file, { arch: 'mobilenet_v2' }))
    expect(e.code).toBe('CHECKPOINT_NOT_FINITE')
    expect(e.message).toContain(`${file}: 1 tensor(s)`)
    expect(e.message).toContain('"features.1.conv.1.weight": 5 infinite of')
  }, 60_000)

  it('TF.js Layers model: a NaN in a (float16-quantised) weight is refused, naming the shard and the weight', async () => {
    const dir = join(tmp, 'tfjs')
    cpSync(join(root, 'test/fixtures/tfjs/sequential'), dir, { recursive: true })
    const shard = join(dir, 'group1-shard1of1.bin')
    const bytes = readFileSync(shard)
    bytes.writeUInt16LE(0x7e00, 2) // conv/kernel, stored first as float16: its second value becomes NaN
    writeFileSync(shard, bytes)
    const e = await rejection(openImageCheckpoint(dir))
    expect(e.code).toBe('CHECKPOINT_NOT_FINITE')
    expect(e.message).toContain(`${join(dir, 'model.json')} (weights in group1-shard1of1.bin)`)
    expect(e.message).toMatch(/"conv\/kernel": 1 NaN of \d+ values/)
  })
})
