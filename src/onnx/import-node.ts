/** Node-only: read an .onnx file and the external-data files stored beside it. */
import { readFileSync } from 'node:fs'
import { dirname, isAbsolute, relative, resolve } from 'node:path'
import { OnnxImportError } from '../errors.js'
import { importOnnx, type ImportOptions, type OnnxModel } from './import.js'

/** Imports the model at `path`; external-data weights are read from files in its folder. */
export function loadOnnxFile(path: string, opts: Omit<ImportOptions, 'external'> = {}): OnnxModel {
  let bytes: Uint8Array
  try {
    bytes = readFileSync(path)
  } catch (e) {
    throw new OnnxImportError('ONNX_FILE', `cannot read ONNX model ${path}: ${e instanceof Error ? e.message : String(e)}`, 'check the path')
  }
  const dir = dirname(resolve(path))
  const files = new Map<string, Uint8Array>()
  return importOnnx(bytes, {
    ...opts,
    external: (location, offset, length) => {
      const full = resolve(dir, location)
      const rel = relative(dir, full)
      // the ONNX spec keeps external data beside the model; never read outside its folder
      if (isAbsolute(location) || rel.startsWith('..'))
        throw new OnnxImportError('ONNX_EXTERNAL_DATA', `external data location "${location}" points outside the model's folder ${dir}`, 'keep external data files beside the .onnx file')
      let data = files.get(full)
      if (!data) {
        try {
          data = readFileSync(full)
        } catch {
          throw new OnnxImportError('ONNX_EXTERNAL_DATA', `external data file ${full} (named by the model) cannot be read`, 'copy the .onnx file together with its .data file(s)')
        }
        files.set(full, data)
      }
      const end = length === undefined ? data.length : offset + length
      if (end > data.length) throw new OnnxImportError('ONNX_EXTERNAL_DATA', `external data ${location} has ${data.length} bytes, the model reads up to byte ${end}`, 'the .data file is truncated or belongs to another model')
      return data.subarray(offset, end)
    },
  })
}
