/** Whether a --model argument names an image classifier (the other commands then use the image tools). */
import { existsSync, statSync } from 'node:fs'
import { extname, join } from 'node:path'
import { isImageModelFolder } from '../index.js'

export function isImageModel(path: string, arch?: string): boolean {
  if (arch) return true
  if (!existsSync(path)) return false
  if (statSync(path).isFile()) return extname(path) === '.safetensors' || /(^|\/)model(\.min)?\.(json|js)$/.test(path)
  return isImageModelFolder(path) || existsSync(join(path, 'model.json')) || existsSync(join(path, 'model.min.js'))
}
