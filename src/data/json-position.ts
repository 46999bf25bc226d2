/**
 * Where JSON text first goes wrong. JSON.parse's messages give a position only for some errors, so
 * on failure the line is checked again by this small validator (the error path only) to point at
 * the exact character.
 */

/** 0-based index of the first character that makes `s` invalid JSON, or -1 when it is valid. */
export function jsonErrorPosition(s: string): number {
  let i = 0
  const n = s.length
  const fail = (): never => {
    throw new Stop()
  }
  const ws = (): void => {
    while (i < n) {
      const c = s.charCodeAt(i)
      if (c === 32 || c === 9 || c === 10 || c === 13) i++
      else break
    }
  }
  const literal = (word: string): void => {
    for (let k = 0; k < word.length; k++, i++) if (s[i] !== word[k]) fail()
  }
  const str = (): void => {
    i++ // opening quote
    for (;;) {
      if (i >= n) fail()
      const c = s.charCodeAt(i)
      if (c === 34) {
        i++
        return
      }
      if (c === 92) {
        i++
        const e = s[i]
        if (e !== undefined && '"\\/bfnrt'.includes(e)) i++
        else if (e === 'u') {
          i++
          for (let k = 0; k < 4; k++, i++) if (!/[0-9a-fA-F]/.test(s[i] ?? '')) fail()
        } else fail()
      } else if (c < 0x20) fail()
      else i++
    }
  }
  const num = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y
  const value = (): void => {
    ws()
    const c = s[i]
    if (c === '{') {
      i++
      ws()
      if (s[i] === '}') {
        i++
        return
      }
      for (;;) {
        ws()
        if (s[i] !== '"') fail()
        str()
        ws()
        if (s[i] !== ':') fail()
        i++
        value()
        ws()
        if (s[i] === ',') i++
        else if (s[i] === '}') {
          i++
          return
        } else fail()
      }
    } else if (c === '[') {
      i++
      ws()
      if (s[i] === ']') {
        i++
        return
      }
      for (;;) {
        value()
        ws()
        if (s[i] === ',') i++
        else if (s[i] === ']') {
          i++
          return
        } else fail()
      }
    } else if (c === '"') str()
    else if (c === 't') literal('true')
    else if (c === 'f') literal('false')
    else if (c === 'n') literal('null')
    else {
      num.lastIndex = i
      if (!num.test(s)) fail()
      i = num.lastIndex
    }
  }
  try {
    value()
    ws()
    if (i < n) fail()
    return -1
  } catch (e) {
    if (e instanceof Stop) return Math.min(i, n)
    throw e
  }
}

class Stop {}
