/**
 * gettext catalogues on disk: reading one .mo file, and finding the catalogues of a language under
 * a root such as /usr/share (`<root>/.../<lang>/LC_MESSAGES/<domain>.mo`).
 */
import { readdir, readFile } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { fileError } from './errors.js'
import { parseMo, type MoCatalog } from './mo.js'

/** Reads and parses one .mo file. */
export async function readMoFile(path: string): Promise<MoCatalog> {
  let bytes: Uint8Array
  try {
    bytes = await readFile(path)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e
    throw fileError('DATA_FILE_MISSING', path, 'does not exist', 'pass the path of a compiled gettext catalogue (.mo)')
  }
  return parseMo(bytes, path)
}

/** A catalogue found on disk: its path and domain (the file name without .mo, which names the package). */
export interface MoLocation {
  path: string
  domain: string
}

/**
 * Every `<lang>/LC_MESSAGES/*.mo` below `root`, sorted by path. `lang` is a locale directory name
 * (`de`, `pt_BR`, `zh_CN`); regional variants (`de_AT`) are not included unless named.
 */
export async function findMoFiles(root: string, lang: string): Promise<MoLocation[]> {
  const out: MoLocation[] = []
  const walk = async (dir: string): Promise<void> => {
    let ents
    try {
      ents = await readdir(dir, { withFileTypes: true })
    } catch {
      return // unreadable directories are not catalogues
    }
    for (const e of ents) {
      const p = join(dir, e.name)
      if (e.isDirectory()) {
        if (e.name === 'LC_MESSAGES' && basename(dir) === lang) {
          for (const f of await readdir(p)) if (f.endsWith('.mo')) out.push({ path: join(p, f), domain: f.slice(0, -3) })
        } else await walk(p)
      }
    }
  }
  await walk(root)
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
}
