// Whether the finetune command starts itself once more with transparent huge pages for its memory.
// ONNX Runtime's CPU arena holds a training step's tensors; with huge pages for it a step runs 3-6%
// faster on Linux (BENCHMARKS.md, "Huge pages for ONNX Runtime's arena"). glibc 2.35 and later
// takes that from GLIBC_TUNABLES, read at process start only, hence a second process.
import { readFileSync } from 'node:fs'

export const HUGEPAGES = 'glibc.malloc.hugetlb=1'

/**
 * The environment to start the command again with, or null to run it in this process: not for help
 * or version output, not off Linux, on another C library, with the kernel's huge pages off, where
 * GLIBC_TUNABLES already sets them (or this is the second process), or with FINETUNE_HUGEPAGES=0.
 * @param {Record<string, string | undefined>} env
 * @param {{ platform: string, glibc: string | undefined, thp: string | undefined, args: readonly string[] }} sys
 * @returns {Record<string, string | undefined> | null}
 */
export function hugePagesEnv(env, sys) {
  const first = sys.args[0]
  if (first === undefined || first.startsWith('-')) return null
  if (sys.platform !== 'linux' || env.FINETUNE_HUGEPAGES === '0') return null
  if ((env.GLIBC_TUNABLES ?? '').includes('glibc.malloc.hugetlb')) return null
  const [major = 0, minor = 0] = (sys.glibc ?? '').split('.').map(Number)
  if (!(major > 2 || (major === 2 && minor >= 35))) return null
  // /sys/kernel/mm/transparent_hugepage/enabled reads "always [madvise] never"; glibc madvises
  if (sys.thp === undefined || sys.thp.includes('[never]')) return null
  return { ...env, GLIBC_TUNABLES: [env.GLIBC_TUNABLES, HUGEPAGES].filter(Boolean).join(':') }
}

/**
 * This machine's side of hugePagesEnv's question; the C library and the kernel setting are read only
 * when asked (not for help output, nor in the second process).
 */
export function systemFacts(args) {
  return {
    platform: process.platform,
    args,
    get glibc() {
      return process.platform === 'linux' ? process.report?.getReport().header.glibcVersionRuntime : undefined
    },
    get thp() {
      try {
        return readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8')
      } catch {
        return undefined
      }
    },
  }
}
