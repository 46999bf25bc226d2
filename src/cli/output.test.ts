// The terminal's progress bars: a bar's last line is drawn once, and the bars of passes besides the
// training steps (evaluations, cached features) appear only for passes that take a while.
import { describe, expect, it } from 'vitest'
import { passProgress, ProgressBar, SHOW_PASS_AFTER_MS } from './output.js'

/** A stream that records what is written; `isTTY` as a terminal or a pipe. */
function sink(tty: boolean): NodeJS.WriteStream & { text: string } {
  const s = { text: '', isTTY: tty, write(c: string) { s.text += c; return true } }
  return s as unknown as NodeJS.WriteStream & { text: string }
}

describe('ProgressBar', () => {
  it('draws the final line once, however often it is ticked past the total; end() draws an unfinished bar once', () => {
    let t = 0
    const out = sink(false)
    const bar = new ProgressBar({ total: 3, label: 'eval', unit: 'ex', stream: out, now: () => t })
    bar.tick(1)
    t = 500
    bar.tick(1) // within 10 s of the last line: not drawn on a pipe
    t = 1000
    bar.tick(1)
    bar.tick(1)
    bar.end()
    const lines = out.text.trim().split('\n')
    expect(lines).toHaveLength(2)
    expect(lines[0]).toContain(' 1/3 ')
    expect(lines[1]).toBe('eval ████████████████████████ 3/3 00:01<00:00 3.00 ex/s')
    const short = sink(true)
    const b2 = new ProgressBar({ total: 10, label: 'features', unit: 'ex', stream: short, now: () => 0 })
    b2.tick(4)
    b2.end()
    b2.end()
    expect(short.text.split('\n')).toHaveLength(2) // one line left, then nothing
    expect(short.text).toContain('4/10')
  })

  it('counts elapsed time from `start` for a bar shown after its work began', () => {
    const out = sink(false)
    const bar = new ProgressBar({ total: 100, label: 'eval', unit: 'ex', stream: out, start: 0, now: () => 2000 })
    bar.tick(50)
    expect(out.text).toContain('50/100 00:02<00:02 25.0 ex/s')
  })
})

describe('passProgress', () => {
  it('shows no bar for a pass quicker than SHOW_PASS_AFTER_MS, and a bar counting from the pass start for a slower one', () => {
    let t = 0
    const out = sink(false)
    const p = passProgress(() => null, { stream: out, now: () => t })
    p.progress({ phase: 'eval', done: 0, total: 8 })
    t = SHOW_PASS_AFTER_MS - 1
    p.progress({ phase: 'eval', done: 8, total: 8 })
    p.end()
    expect(out.text).toBe('')
    // features: the bar appears at the first report after the threshold, with everything done so far
    t = 10_000
    p.progress({ phase: 'features', done: 0, total: 100 })
    t += 400
    p.progress({ phase: 'features', done: 20, total: 100 })
    t += SHOW_PASS_AFTER_MS
    p.progress({ phase: 'features', done: 40, total: 100 })
    expect(out.text).toBe('features ██████████░░░░░░░░░░░░░░ 40/100 00:01<00:02 28.6 ex/s\n')
    t += 2000
    p.progress({ phase: 'features', done: 100, total: 100 })
    expect(out.text.trim().split('\n').at(-1)).toMatch(/^features █{24} 100\/100 00:03<00:00 /)
    // the next pass (an evaluation) starts afresh
    p.progress({ phase: 'eval', done: 0, total: 10 })
    t += 5000
    p.progress({ phase: 'eval', done: 5, total: 10 })
    p.end()
    const lines = out.text.trim().split('\n')
    expect(lines.slice(-2)).toEqual([expect.stringMatching(/^eval .* 5\/10 00:05</), expect.stringMatching(/^eval .* 5\/10 00:05</)])
  })

  it('on a terminal, starts its bar on a new line below an open training bar', () => {
    let t = 0
    const out = sink(true)
    const train = new ProgressBar({ total: 10, label: 'train', unit: 'step', stream: out, now: () => t })
    train.tick(3)
    const p = passProgress(() => train, { stream: out, now: () => t })
    p.progress({ phase: 'eval', done: 0, total: 4 })
    t = 2000
    p.progress({ phase: 'eval', done: 2, total: 4 })
    p.progress({ phase: 'eval', done: 4, total: 4 })
    p.end()
    const rows = out.text.split('\n')
    expect(rows[0]).toContain('train')
    expect(rows[0]).toContain('3/10')
    expect(rows[1]).toContain('eval')
    expect(rows[1]).toContain('4/4')
    expect(rows[2]).toBe('')
  })
})
