// `finetune predict` on a model whose weights hold NaN used to print label "-1" and null logits
// with exit 0, and a config.json with hidden_size 1e9 ended in "internal error: RangeError: Invalid
// typed array length". Both are now one error line with a code and a hint, exit 1.
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { writeSafetensorsFile } from '../checkpoint/io-node.js'
import { openSafetensorsFile } from '../checkpoint/safetensors-node.js'
import type { TensorToWrite } from '../checkpoint/safetensors.js'
import { textFamily } from '../models/registry.js'
import { saveTextCheckpoint } from '../models/pretrained-node.js'
import { fixtureTokenizer } from '../../test/text-fixtures.js'
import { stripesFolder } from '../../test/image-fixtures.js'
import { main } from './main.js'

const root = new URL('../../', import.meta.url).pathname
const dir = mkdtempSync(join(tmpdir(), 'ft-cli-ckpt-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
afterEach(() => vi.restoreAllMocks())

/** Runs main in this process and returns its exit code and what it printed. */
async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = ''
  let stderr = ''
  vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => ((stdout += String(s)), true))
  vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => ((stderr += String(s)), true))
  const code = await main(args)
  vi.restoreAllMocks()
  return { code, stdout, stderr }
}

const classifier = join(dir, 'classifier')
const images = join(dir, 'images')

beforeAll(async () => {
  const tok = fixtureTokenizer()
  const config = { model_type: 'bert', vocab_size: tok.vocabSize, hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 4, intermediate_size: 64, max_position_embeddings: 64, id2label: { 0: 'negative', 1: 'positive' }, label2id: { negative: 0, positive: 1 } }
  const m = textFamily('bert').build(config, 'sequence-classification')
  m.nameParameters()
  mkdirSync(classifier, { recursive: true })
  await saveTextCheckpoint(classifier, m, tok, config)
  await stripesFolder(images, 1, 32)
}, 60_000)

function copy(from: string, name: string): string {
  const to = join(dir, name)
  cpSync(from, to, { recursive: true })
  return to
}

async function withNaN(model: string, key: RegExp): Promise<void> {
  const f = await openSafetensorsFile(join(model, 'model.safetensors'))
  const out: [string, TensorToWrite][] = []
  for (const k of f.keys()) {
    const { dtype, shape } = f.info(k)
    if (dtype === 'I64') out.push([k, { dtype, shape, data: (await f.read(k)).data as BigInt64Array }])
    else {
      const data = Float32Array.from(await f.readAsFloat32(k))
      if (key.test(k)) data[0] = NaN
      out.push([k, { dtype: 'F32', shape, data }])
    }
  }
  await f.close()
  await writeSafetensorsFile(join(model, 'model.safetensors'), out, { format: 'pt' })
}

describe('predict refuses broken checkpoints with a clear error', () => {
  it('the intact model predicts (the fixture itself is fine)', async () => {
    const r = await run(['predict', '--model', classifier, '--json', '--threads', '1', 'the movie was great'])
    expect(r.code, r.stderr).toBe(0)
    const p = JSON.parse(r.stdout) as { label: string; logits: number[] }
    expect(['negative', 'positive']).toContain(p.label)
    expect(p.logits.every(Number.isFinite)).toBe(true)
  })

  it('a text model with a NaN weight: exit 1, CHECKPOINT_NOT_FINITE naming the tensor, nothing on stdout', async () => {
    const m = copy(classifier, 'nan-text')
    await withNaN(m, /encoder\.layer\.0\.output\.dense\.weight$/)
    const r = await run(['predict', '--model', m, '--json', '--threads', '1', 'the movie was great'])
    expect(r.code).toBe(1)
    expect(r.stdout).toBe('')
    expect(r.stderr).toContain('error[CHECKPOINT_NOT_FINITE]')
    expect(r.stderr).toContain(`${join(m, 'model.safetensors')}: 1 tensor(s)`)
    expect(r.stderr).toContain('"bert.encoder.layer.0.output.dense.weight": 1 NaN of 2048 values')
    expect(r.stderr).toMatch(/hint: .*earlier checkpoint/)
    expect(r.stderr).not.toMatch(/internal error/)
  })

  it('a text model whose config.json says hidden_size 1e9: exit 1, CONFIG_SIZE, no internal error', async () => {
    const m = copy(classifier, 'huge-text')
    const c = JSON.parse(readFileSync(join(m, 'config.json'), 'utf8')) as Record<string, unknown>
    writeFileSync(join(m, 'config.json'), JSON.stringify({ ...c, hidden_size: 1e9 }))
    const r = await run(['predict', '--model', m, '--threads', '1', 'the movie was great'])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('error[CONFIG_SIZE]')
    expect(r.stderr).toContain('hidden_size = 1000000000')
    expect(r.stderr).toMatch(/bert\.embeddings\.word_embeddings\.weight of shape \[\d+, 32\], but the config makes it \[\d+, 1000000000\]/)
    expect(r.stderr).toMatch(/hint: /)
    expect(r.stderr).not.toMatch(/internal error|RangeError/)
  })

  it('an HF image model with a NaN weight, and one with an absurd hidden_size: exit 1 with the code', async () => {
    const image = join(images, 'horizontal', '0.png')
    const nan = copy(join(root, 'test/fixtures/models/hf-vit-tiny'), 'nan-vit')
    await withNaN(nan, /^vit\.embeddings\.cls_token$/)
    const a = await run(['predict', '--model', nan, '--threads', '1', image])
    expect(a.code).toBe(1)
    expect(a.stderr).toContain('error[CHECKPOINT_NOT_FINITE]')
    expect(a.stderr).toContain('"vit.embeddings.cls_token": 1 NaN of')
    const huge = copy(join(root, 'test/fixtures/models/hf-vit-tiny'), 'huge-vit')
    const c = JSON.parse(readFileSync(join(huge, 'config.json'), 'utf8')) as Record<string, unknown>
    writeFileSync(join(huge, 'config.json'), JSON.stringify({ ...c, hidden_size: 1e9, num_attention_heads: 1 }))
    const b = await run(['predict', '--model', huge, '--threads', '1', image])
    expect(b.code).toBe(1)
    expect(b.stderr).toContain('error[CONFIG_SIZE]')
    expect(b.stderr).toContain('hidden_size = 1000000000')
    expect(b.stderr).not.toMatch(/internal error/)
  })
})
