// loadOnnxFile reads weights stored as external data beside the model, and refuses locations
// outside the model's folder.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { trace } from '../graph/graph.js'
import { evaluate } from '../runtime/reference.js'
import { nd } from '../runtime/ndarray.js'
import { buildModel, node, vi } from '../../test/onnx-build.js'
import { loadOnnxFile } from './import-node.js'

const external = (name: string, location: string, offset: number, dims: number[]) => ({
  name,
  dims,
  dataType: 1,
  dataLocation: 1,
  externalData: [{ key: 'location', value: location }, { key: 'offset', value: String(offset) }, { key: 'length', value: String(4 * dims.reduce((a, b) => a * b, 1)) }],
})

const dirs: string[] = []
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

describe('loadOnnxFile', () => {
  it('reads external-data initializers from the file beside the model', () => {
    const dir = mkdtempSync(join(tmpdir(), 'onnx-ext-'))
    dirs.push(dir)
    const w = Float32Array.from([1, 2, 3, 4, 5, 6])
    const b = Float32Array.from([0.5, -0.5])
    const data = new Uint8Array(8 + 24 + 8)
    data.set(new Uint8Array(w.buffer), 8)
    data.set(new Uint8Array(b.buffer), 32)
    writeFileSync(join(dir, 'weights.data'), data)
    const bytes = buildModel({
      inputs: [vi('x', ['n', 3])],
      outputs: [vi('y', ['n', 2])],
      inits: [external('fc.weight', 'weights.data', 8, [2, 3]), external('fc.bias', 'weights.data', 32, [2])],
      nodes: [node('Gemm', ['x', 'fc.weight', 'fc.bias'], ['y'], [{ name: 'transB', type: 2, i: 1 }])],
    })
    writeFileSync(join(dir, 'model.onnx'), bytes)
    const m = loadOnnxFile(join(dir, 'model.onnx'))
    expect(Array.from(m.namedParameters().find(([k]) => k === 'fc.weight')![1].data)).toEqual([1, 2, 3, 4, 5, 6])
    const { result } = trace((g) => evaluate([m.forward({ x: g.input('x', [1, 3]) })['y']!], { x: nd([1, 3], [1, 1, 1]) })[0]!)
    expect(Array.from(result.data)).toEqual([6.5, 14.5])
  })

  it('refuses external data outside the model folder, and names a missing file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'onnx-ext-'))
    dirs.push(dir)
    const mk = (loc: string) => buildModel({ inputs: [vi('x', [1, 2])], outputs: [vi('y', [1, 2])], inits: [external('w', loc, 0, [2])], nodes: [node('Mul', ['x', 'w'], ['y'])] })
    writeFileSync(join(dir, 'a.onnx'), mk('../secret.bin'))
    expect(() => loadOnnxFile(join(dir, 'a.onnx'))).toThrow(/outside the model's folder/)
    writeFileSync(join(dir, 'b.onnx'), mk('missing.data'))
    expect(() => loadOnnxFile(join(dir, 'b.onnx'))).toThrow(/missing\.data .* cannot be read/)
  })
})
