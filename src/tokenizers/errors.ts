import { TokenizerError } from '../errors.js'

/** Throws a TokenizerError; `where` names the file (and field) at fault. */
export function fail(code: string, where: string, message: string, hint?: string): never {
  throw new TokenizerError(code, `${where}: ${message}`, hint)
}

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json }
export type JsonObject = { [k: string]: Json }

export const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v)

/** Field accessors that fail with the file and field named. */
export class Fields {
  constructor(
    readonly where: string,
    readonly obj: JsonObject,
  ) {}
  private bad(key: string, want: string): never {
    return fail('TOKENIZER_BAD_FIELD', this.where, `field "${key}" should be ${want}, got ${JSON.stringify(this.obj[key])?.slice(0, 80)}`, 'the file may be corrupt or from an incompatible tokenizers version')
  }
  str(key: string, dflt?: string): string {
    const v = this.obj[key]
    if (typeof v === 'string') return v
    if ((v === undefined || v === null) && dflt !== undefined) return dflt
    return this.bad(key, 'a string')
  }
  optStr(key: string): string | undefined {
    const v = this.obj[key]
    if (v === undefined || v === null) return undefined
    if (typeof v === 'string') return v
    return this.bad(key, 'a string or null')
  }
  bool(key: string, dflt?: boolean): boolean {
    const v = this.obj[key]
    if (typeof v === 'boolean') return v
    if ((v === undefined || v === null) && dflt !== undefined) return dflt
    return this.bad(key, 'true or false')
  }
  optBool(key: string): boolean | undefined {
    const v = this.obj[key]
    if (v === undefined || v === null) return undefined
    if (typeof v === 'boolean') return v
    return this.bad(key, 'true, false or null')
  }
  num(key: string, dflt?: number): number {
    const v = this.obj[key]
    if (typeof v === 'number') return v
    if ((v === undefined || v === null) && dflt !== undefined) return dflt
    return this.bad(key, 'a number')
  }
  optNum(key: string): number | undefined {
    const v = this.obj[key]
    if (v === undefined || v === null) return undefined
    if (typeof v === 'number') return v
    return this.bad(key, 'a number or null')
  }
  obj_(key: string): JsonObject {
    const v = this.obj[key]
    if (isObject(v)) return v
    return this.bad(key, 'an object')
  }
  arr(key: string): Json[] {
    const v = this.obj[key]
    if (Array.isArray(v)) return v
    return this.bad(key, 'an array')
  }
  sub(key: string): Fields {
    return new Fields(`${this.where}.${key}`, this.obj_(key))
  }
}
