/** `preprocessor_config.json` in a model folder, read into a Preprocessing and written back. */
import { readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ConfigError } from '../errors.js'
import { preprocessingFromHf, preprocessingToHf, type Preprocessing } from './image-preprocessing.js'

export const PREPROCESSOR_CONFIG = 'preprocessor_config.json'

/**
 * The preprocessing of a model folder (or of a preprocessor_config.json file given directly), with
 * the file's contents (`raw`, to write back what Preprocessing does not describe); undefined when
 * the folder has no such file.
 */
export async function readPreprocessorConfig(dirOrFile: string): Promise<{ preprocessing: Preprocessing; raw: Record<string, unknown>; file: string } | undefined> {
  const file = (await stat(dirOrFile).catch(() => undefined))?.isDirectory() ? join(dirOrFile, PREPROCESSOR_CONFIG) : dirOrFile
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw e
  }
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (e) {
    throw new ConfigError('CONFIG_PREPROCESSING', `${file}: is not valid JSON (${(e as Error).message})`, 'fix the file, or delete it to use the default preprocessing')
  }
  return { preprocessing: preprocessingFromHf(raw, file), raw: raw as Record<string, unknown>, file }
}

/** Writes `p` as `dir/preprocessor_config.json`, keeping the fields of `base` it does not describe. */
export async function writePreprocessorConfig(dir: string, p: Preprocessing, base: Record<string, unknown> = {}): Promise<string> {
  const file = join(dir, PREPROCESSOR_CONFIG)
  await writeFile(file, JSON.stringify(preprocessingToHf(p, base), null, 2) + '\n')
  return file
}
