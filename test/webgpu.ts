/**
 * Whether ONNX Runtime's WebGPU provider can start here. Without a GPU it runs on SwiftShader, the
 * CPU Vulkan driver Debian's chromium ships (slow, but the same provider code): its driver file is
 * put in VK_ICD_FILENAMES, which child processes (the CLI) inherit.
 */
import { existsSync } from 'node:fs'
import { Runtime } from '../src/runtime/session.js'

const SWIFTSHADER = '/usr/lib/chromium/vk_swiftshader_icd.json'

export async function webgpuAvailable(): Promise<boolean> {
  if (!process.env['VK_ICD_FILENAMES'] && existsSync(SWIFTSHADER)) process.env['VK_ICD_FILENAMES'] = SWIFTSHADER
  return new Runtime({ provider: 'webgpu' })
    .check()
    .then(() => true)
    .catch(() => false)
}
