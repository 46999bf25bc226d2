import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ConfigError } from '../errors.js'
import { readPreprocessorConfig, writePreprocessorConfig } from './image-preprocessing-node.js'
import { checkPreprocessing, defaultPreprocessing, outputSize, preprocessingFromHf, preprocessingToHf, type Preprocessing } from './image-preprocessing.js'

// preprocessor_config.json files as the Hub has them (google/vit-base-patch16-224, facebook/convnext-tiny-224,
// microsoft/resnet-50, facebook/deit-small-patch16-224, an old ViTFeatureExtractor)
const vit = {
  do_normalize: true,
  do_rescale: true,
  do_resize: true,
  image_mean: [0.5, 0.5, 0.5],
  image_processor_type: 'ViTImageProcessor',
  image_std: [0.5, 0.5, 0.5],
  resample: 2,
  rescale_factor: 0.00392156862745098,
  size: { height: 224, width: 224 },
}
const convnext = {
  crop_pct: 0.875,
  do_normalize: true,
  do_resize: true,
  image_processor_type: 'ConvNextImageProcessor',
  image_mean: [0.485, 0.456, 0.406],
  image_std: [0.229, 0.224, 0.225],
  resample: 3,
  size: { shortest_edge: 224 },
}
const deit = {
  crop_size: { height: 224, width: 224 },
  do_center_crop: true,
  do_normalize: true,
  do_resize: true,
  image_mean: [0.485, 0.456, 0.406],
  image_processor_type: 'DeiTImageProcessor',
  image_std: [0.229, 0.224, 0.225],
  resample: 3,
  size: { height: 256, width: 256 },
}
const featureExtractor = { do_normalize: true, do_resize: true, feature_extractor_type: 'ViTFeatureExtractor', image_mean: [0.5, 0.5, 0.5], image_std: [0.5, 0.5, 0.5], resample: 2, size: 224 }
const clip = {
  crop_size: 224,
  do_center_crop: true,
  do_normalize: true,
  do_resize: true,
  feature_extractor_type: 'CLIPFeatureExtractor',
  image_mean: [0.48145466, 0.4578275, 0.40821073],
  image_std: [0.26862954, 0.26130258, 0.27577711],
  resample: 3,
  size: 224,
}

describe('reading preprocessor_config.json', () => {
  it('reads ViT: a fixed size, no crop, bilinear, mean/std 0.5', () => {
    expect(preprocessingFromHf(vit)).toEqual({ resize: { height: 224, width: 224 }, crop: null, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], interpolation: 'bilinear', rescaleFactor: 1 / 255 })
  })

  it('reads ConvNext below 384 as resize to shortest_edge/crop_pct then a centre crop', () => {
    const p = preprocessingFromHf(convnext)
    expect(p.resize).toEqual({ shortestEdge: 256 })
    expect(p.crop).toEqual({ height: 224, width: 224 })
    expect(p.interpolation).toBe('bicubic')
    expect(outputSize(p)).toEqual({ height: 224, width: 224 })
  })

  it('reads ConvNext from 384 up as a square warp without crop', () => {
    const p = preprocessingFromHf({ ...convnext, size: { shortest_edge: 384 } })
    expect(p.resize).toEqual({ height: 384, width: 384 })
    expect(p.crop).toBeNull()
  })

  it('reads DeiT: a fixed size then a crop', () => {
    const p = preprocessingFromHf(deit)
    expect(p.resize).toEqual({ height: 256, width: 256 })
    expect(p.crop).toEqual({ height: 224, width: 224 })
  })

  it('reads an integer size as a square for ViT and as the shorter side where there is a crop', () => {
    expect(preprocessingFromHf(featureExtractor).resize).toEqual({ height: 224, width: 224 })
    const c = preprocessingFromHf(clip)
    expect(c.resize).toEqual({ shortestEdge: 224 })
    expect(c.crop).toEqual({ height: 224, width: 224 })
    expect(c.mean).toEqual(clip.image_mean)
  })

  it('turns off normalisation and rescaling when the file says so', () => {
    const p = preprocessingFromHf({ ...vit, do_normalize: false, do_rescale: false, do_resize: false })
    expect(p).toMatchObject({ resize: null, mean: [0, 0, 0], std: [1, 1, 1], rescaleFactor: 1 })
  })

  it('lists every problem of a bad file at once', () => {
    const bad = { size: { shortest_edge: -3 }, crop_size: 'big', do_center_crop: true, resample: 9, image_mean: [0.5, 0.5], image_std: [0, 0, 0] }
    let err: ConfigError | undefined
    try {
      preprocessingFromHf(bad, 'model/preprocessor_config.json')
    } catch (e) {
      err = e as ConfigError
    }
    expect(err).toBeInstanceOf(ConfigError)
    expect(err!.message).toContain('model/preprocessor_config.json has 5 problem(s)')
    for (const field of ['size.shortest_edge', 'crop_size', 'resample', 'image_mean', 'image_std']) expect(err!.message).toContain(`- ${field}:`)
  })

  it('rejects a hand-made preprocessing with a zero std or a bad size', () => {
    expect(() => checkPreprocessing({ ...defaultPreprocessing, std: [0.2, 0, 0.2], crop: { height: 0, width: 2 } })).toThrow(/crop.height: must be a positive integer[\s\S]*std: must not be 0/)
  })
})

describe('writing preprocessor_config.json', () => {
  const roundTrip = (p: Preprocessing, base?: Record<string, unknown>): Preprocessing => preprocessingFromHf(JSON.parse(JSON.stringify(preprocessingToHf(p, base))))

  for (const [name, file] of Object.entries({ vit, convnext, deit, featureExtractor, clip })) {
    it(`round-trips the ${name} file through Preprocessing`, () => {
      const p = preprocessingFromHf(file)
      const written = preprocessingToHf(p, file)
      expect(preprocessingFromHf(written)).toEqual(p)
    })
  }

  it('keeps ConvNext in its crop_pct form', () => {
    const out = preprocessingToHf(preprocessingFromHf(convnext), convnext)
    expect(out).toMatchObject({ image_processor_type: 'ConvNextImageProcessor', size: { shortest_edge: 224 }, crop_pct: 224 / 256, resample: 3 })
  })

  it('names a processor that can express the preprocessing when the base cannot', () => {
    const p: Preprocessing = { ...preprocessingFromHf(vit), resize: { shortestEdge: 160 }, crop: { height: 128, width: 128 } }
    const out = preprocessingToHf(p, vit)
    expect(out.image_processor_type).toBe('BitImageProcessor')
    expect(roundTrip(p, vit)).toEqual(p)
    const fixed: Preprocessing = { ...p, resize: { height: 64, width: 48 }, crop: null }
    expect(preprocessingToHf(fixed).image_processor_type).toBe('ViTImageProcessor')
    expect(roundTrip(fixed)).toEqual(fixed)
  })

  it('keeps fields it does not describe', () => {
    expect(preprocessingToHf(preprocessingFromHf(vit), { ...vit, processor_class: 'ViTProcessor' }).processor_class).toBe('ViTProcessor')
  })
})

describe('preprocessor_config.json on disk', () => {
  it('is read from a model folder, written back, and missing without error', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ft-pre-'))
    try {
      expect(await readPreprocessorConfig(dir)).toBeUndefined()
      await writeFile(join(dir, 'preprocessor_config.json'), JSON.stringify(convnext))
      const got = await readPreprocessorConfig(dir)
      expect(got!.preprocessing.resize).toEqual({ shortestEdge: 256 })
      const out = join(dir, 'out')
      await writeFile(join(dir, 'bad.json'), '{ "size": ')
      await expect(readPreprocessorConfig(join(dir, 'bad.json'))).rejects.toThrow(/bad\.json: is not valid JSON/)
      await mkdir(out)
      await writePreprocessorConfig(out, got!.preprocessing, got!.raw)
      expect((await readPreprocessorConfig(out))!.preprocessing).toEqual(got!.preprocessing)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
