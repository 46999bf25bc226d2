// Audio-classification folders: the speech embedding's feature standardisation round-trips, and a
// folder written before it existed (no feature_norm.* in model.safetensors) still loads as identity.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { writeSafetensorsFile } from '../../checkpoint/io-node.js'
import { modelTensors } from '../../models/pretrained-node.js'
import type { SpeechEmbeddingClassifier } from '../../models/speech-embedding.js'
import { Rng } from '../../runtime/rng.js'
import { openAudioCheckpoint, saveAudioCheckpoint } from './checkpoint-node.js'

const dir = mkdtempSync(join(tmpdir(), 'ft-audio-ck-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const clip = { sampleRate: 16000, length: 12512, pad: 'center', crop: 'center', trainCrop: 'random' } as const

describe('audio-classification checkpoints', () => {
  it('feature_norm is saved and read back; a folder without it loads with the identity; another missing weight is refused', async () => {
    const ck = await openAudioCheckpoint('speech-embedding')
    const m = ck.model as SpeechEmbeddingClassifier
    m.setHead(2, new Rng(3))
    ck.labels = ['no', 'yes']
    ck.labelled = true
    m.adaptFeatureNorm(Float32Array.from({ length: 3 * 96 }, (_, i) => (i % 7) * 3 + Math.floor(i / 96)), 3)
    const saved = join(dir, 'new')
    await saveAudioCheckpoint(saved, ck, clip)
    const back = (await openAudioCheckpoint(saved)).model as SpeechEmbeddingClassifier
    expect(back.feature_norm.mean.data).toEqual(m.feature_norm.mean.data)
    expect(back.feature_norm.std.data).toEqual(m.feature_norm.std.data)
    expect(back.classifier.weight.data).toEqual(m.classifier.weight.data)

    // the same folder as an older version wrote it
    const old = join(dir, 'old')
    await saveAudioCheckpoint(old, ck, clip)
    await writeSafetensorsFile(join(old, 'model.safetensors'), modelTensors(m).filter(([n]) => !n.startsWith('feature_norm.')), { format: 'pt' })
    const o = (await openAudioCheckpoint(old)).model as SpeechEmbeddingClassifier
    expect(Array.from(o.feature_norm.mean.data).every((v) => v === 0)).toBe(true)
    expect(Array.from(o.feature_norm.std.data).every((v) => v === 1)).toBe(true)
    expect(o.classifier.weight.data).toEqual(m.classifier.weight.data)

    await writeSafetensorsFile(join(old, 'model.safetensors'), modelTensors(m).filter(([n]) => n !== 'classifier.bias'), { format: 'pt' })
    await expect(openAudioCheckpoint(old)).rejects.toThrow(/lacks 1: classifier\.bias/)
  })
})
