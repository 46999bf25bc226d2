import { describe, expect, it } from 'vitest'
import * as tf from '@tensorflow/tfjs'
import { CheckpointError } from '../errors.js'
import { Rng } from '../runtime/rng.js'
import { decodeBase64, decodeWeightGroup, parseJsModuleLiteral, parseKerasTopology, parseTfjsModelJson, readTfjsLayersModel, type TfjsWeightSpec } from './tfjs.js'

const topology = { class_name: 'Sequential', config: { name: 's', layers: [{ class_name: 'Dense', config: { name: 'd', units: 2, batch_input_shape: [null, 3] } }] } }

describe('TF.js weight decoding', () => {
  it('dequantizes uint8, uint16 and float16 weights bit for bit as tfjs-core does', () => {
    const rng = new Rng(4)
    const specs: TfjsWeightSpec[] = [
      { name: 'a/kernel', shape: [3, 5], dtype: 'float32', quantization: { dtype: 'uint8', scale: 0.0123456789, min: -1.2345 } },
      { name: 'b/kernel', shape: [7], dtype: 'float32', quantization: { dtype: 'uint16', scale: 3.3e-5, min: 0.77 } },
      { name: 'c/kernel', shape: [2, 3], dtype: 'float32', quantization: { dtype: 'float16' } },
      { name: 'd/bias', shape: [4], dtype: 'float32' },
      { name: 'e/count', shape: [2], dtype: 'int32', quantization: { dtype: 'uint8', scale: 0.5, min: 3 } },
    ]
    const bytes = new Uint8Array(15 + 14 + 12 + 16 + 2)
    for (let i = 0; i < bytes.length; i++) bytes[i] = rng.int(256)
    bytes[15 + 14 + 2 * 6 + 3] = 0x3f // keep the float32 bias finite
    for (let i = 0; i < 3; i++) bytes[15 + 14 + 2 * 6 + 4 * i + 7] = 0x3e
    // a shard split in two, as the converter writes big groups
    const got = decodeWeightGroup({ paths: ['s1', 's2'], weights: specs }, [bytes.subarray(0, 20), bytes.subarray(20)], 'model.json')
    const ref = tf.io.decodeWeights(bytes.slice().buffer, specs as tf.io.WeightsManifestEntry[])
    for (const w of got) expect(w.data).toEqual(Float32Array.from(ref[w.name]!.dataSync()))
    expect(got.map((w) => w.shape)).toEqual(specs.map((s) => s.shape))
  })

  it('names the shards when their size does not match the manifest', () => {
    const g = { paths: ['group1-shard1of1.bin'], weights: [{ name: 'a', shape: [4], dtype: 'float32' as const }] }
    expect(() => decodeWeightGroup(g, [new Uint8Array(12)], 'm/model.json')).toThrow(/m\/model\.json: the shards group1-shard1of1\.bin hold 12 bytes, the manifest's 1 weights need 16/)
  })

  it('rejects duplicate weight names', async () => {
    const json = { modelTopology: topology, weightsManifest: [{ paths: ['a'], weights: [{ name: 'd/kernel', shape: [1], dtype: 'float32' }] }, { paths: ['b'], weights: [{ name: 'd/kernel', shape: [1], dtype: 'float32' }] }] }
    await expect(readTfjsLayersModel(json, 'model.json', async () => new Uint8Array(4))).rejects.toThrow(/lists "d\/kernel" twice/)
  })
})

describe('model.json parsing', () => {
  it('refuses a graph model and says to convert the Keras model', () => {
    const err = (() => {
      try {
        parseTfjsModelJson({ format: 'graph-model', modelTopology: {}, weightsManifest: [] }, 'g/model.json')
      } catch (e) {
        return e as CheckpointError
      }
    })()
    expect(err).toBeInstanceOf(CheckpointError)
    expect(err!.code).toBe('TFJS_NOT_LAYERS_MODEL')
    expect(err!.message).toMatch(/g\/model\.json has format "graph-model"/)
    expect(err!.hint).toMatch(/--input_format keras/)
  })

  it('reports every manifest problem at once', () => {
    const raw = {
      modelTopology: topology,
      weightsManifest: [{ paths: ['x.bin'], weights: [
        { name: 'a', shape: [2], dtype: 'string' },
        { name: 'b', shape: [2], dtype: 'float32', quantization: { dtype: 'int4' } },
        { name: 'c', shape: [2], dtype: 'float32', quantization: { dtype: 'uint8', scale: 0.1 } },
      ] }],
    }
    const err = (() => {
      try {
        parseTfjsModelJson(raw, 'model.json')
      } catch (e) {
        return e as CheckpointError
      }
    })()
    expect(err).toBeInstanceOf(CheckpointError)
    expect(err?.code).toBe('TFJS_BAD_MODEL_JSON')
    expect(err?.message).toMatch(/3 problem/)
    expect(err?.message).toMatch(/weights\[0\]\.dtype: is "string"/)
    expect(err?.message).toMatch(/weights\[1\]\.quantization\.dtype: is "int4"; supported: uint8, uint16, float16/)
    expect(err?.message).toMatch(/weights\[2\]\.quantization\.min: must be a number/)
  })

  it('reads Keras 3 topologies: Functional, {args, kwargs} nodes, unwrapped input and output refs', () => {
    const tensor = (name: string) => ({ class_name: '__keras_tensor__', config: { shape: [null, 4], dtype: 'float32', keras_history: [name, 0, 0] } })
    const t = parseKerasTopology({
      class_name: 'Functional',
      config: {
        name: 'k3',
        layers: [
          { class_name: 'InputLayer', name: 'in', config: { name: 'in', batch_shape: [null, 4] }, inbound_nodes: [] },
          { class_name: 'Dense', name: 'a', config: { name: 'a', units: 4 }, inbound_nodes: [{ args: [tensor('in')], kwargs: {} }] },
          { class_name: 'Add', name: 'sum', config: { name: 'sum' }, inbound_nodes: [{ args: [[tensor('a'), tensor('in')]], kwargs: {} }] },
        ],
        input_layers: ['in', 0, 0],
        output_layers: ['sum', 0, 0],
      },
    }, 'k3.json')
    expect(t.layers.map((l) => l.inbound)).toEqual([[], [[['in', 0, 0]]], [[['a', 0, 0], ['in', 0, 0]]]])
    expect(t.inputs).toEqual([['in', 0, 0]])
    expect(t.outputs).toEqual([['sum', 0, 0]])
  })

  it('reads a Keras 2.2 Sequential (a bare layer list) and gives it an input layer', () => {
    const t = parseKerasTopology({ keras_version: '2.2.4', model_config: { class_name: 'Sequential', config: [
      { class_name: 'Dense', config: { name: 'd1', units: 3, batch_input_shape: [null, 5] } },
      { class_name: 'Dense', config: { name: 'd2', units: 2 } },
    ] } }, 'seq.json')
    expect(t.kerasVersion).toBe('2.2.4')
    expect(t.layers.map((l) => [l.className, l.name, l.inbound])).toEqual([
      ['InputLayer', 'd1_input', []],
      ['Dense', 'd1', [[['d1_input', 0, 0]]]],
      ['Dense', 'd2', [[['d1', 0, 0]]]],
    ])
    expect(t.outputs).toEqual([['d2', 0, 0]])
  })

  it('names a layer that reads a layer the model lacks', () => {
    expect(() => parseKerasTopology({ class_name: 'Model', config: { layers: [{ class_name: 'Dense', name: 'd', config: { name: 'd' }, inbound_nodes: [[['ghost', 0, 0, {}]]] }], input_layers: [['d', 0, 0]], output_layers: [['d', 0, 0]] } }, 'm.json'))
      .toThrow(/layers\["d"\]\.inbound_nodes: reads layer "ghost"/)
  })
})

describe('JavaScript bundles', () => {
  it('decodes standard, URL-safe and unpadded base64 like Buffer', () => {
    const rng = new Rng(9)
    for (const n of [0, 1, 2, 3, 4, 5, 100, 1001]) {
      const b = Buffer.from(Array.from({ length: n }, () => rng.int(256)))
      expect(decodeBase64(b.toString('base64'))).toEqual(new Uint8Array(b))
      expect(decodeBase64(b.toString('base64url'))).toEqual(new Uint8Array(b))
    }
    expect(() => decodeBase64('ab$c', 'shard.js')).toThrow(/shard\.js has a character that is not base64/)
  })

  it('reads the literal a minified UMD module exports, without running it', () => {
    const umd = `!function(e){"object"==typeof exports&&"undefined"!=typeof module?module.exports=e():window.model=e()}(function(){return function e(a,n,i){}({1:[function(e,a,n){a.exports={modelTopology:{keras_version:"2.2.4",config:{trainable:!1,ok:!0,rate:.5,min:-.0388,eps:1e-3,big:-2E+2,name:'it\\'s',u:"\\u0041\\n"},list:[1,[2,null],{}],"quoted key":void 0}}},{}]},{},[1])(1)});`
    expect(parseJsModuleLiteral(umd, 'model.min.js')).toEqual({
      modelTopology: { keras_version: '2.2.4', config: { trainable: false, ok: true, rate: 0.5, min: -0.0388, eps: 1e-3, big: -200, name: "it's", u: 'A\n' }, list: [1, [2, null], {}], 'quoted key': null },
    })
    expect(parseJsModuleLiteral('export default "QUJD"\n', 'shard.js')).toBe('QUJD')
    expect(parseJsModuleLiteral('export var NSFW_CLASSES = { 0: "a", 1: "b" };', 'c.js', 'NSFW_CLASSES')).toEqual({ 0: 'a', 1: 'b' })
    expect(() => parseJsModuleLiteral('module.exports = compute()', 'bad.js')).toThrow(/bad\.js does not export a literal/)
    expect(() => parseJsModuleLiteral('module.exports = {a: f(1)}', 'bad.js')).toThrow(/bad\.js: cannot read the exported literal/)
  })
})
