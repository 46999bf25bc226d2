// The text demo's split: what --limit keeps is a part of the full split, so a quick look tests only
// on e-mails of the full test side (those scripts/adapt-text-bert.ts leaves out of the pre-trained start).
import { describe, expect, it } from 'vitest'
import { textDemoSplit } from './demo-text.js'

describe('the text demo split', () => {
  const mails = Array.from({ length: 1000 }, (_, i) => ({ label: i % 3 === 0 ? 'spam' : 'ham' }))
  it('holds out testSize e-mails, stratified, disjoint from the training pool', () => {
    const full = textDemoSplit(mails, 100)
    expect(full.test).toHaveLength(100)
    expect(full.train).toHaveLength(900)
    expect(full.test.filter((i) => mails[i]!.label === 'spam').length).toBe(33)
    expect(new Set([...full.train, ...full.test]).size).toBe(1000)
    expect(textDemoSplit(mails, 100)).toEqual(full) // seeded
  })
  it('--limit thins each side of the full split instead of splitting a thinned list', () => {
    const full = textDemoSplit(mails, 100)
    const quick = textDemoSplit(mails, 100, 120)
    expect(quick.train.length + quick.test.length).toBeLessThanOrEqual(120)
    expect(quick.test.length).toBeGreaterThan(0)
    expect(quick.test.every((i) => full.test.includes(i))).toBe(true)
    expect(quick.train.every((i) => full.train.includes(i))).toBe(true)
  })
})
