// List flags: values accumulate over repeats and commas; --no-NAME on a list gives ["none"] (a task
// reads it as "turn it off", as --no-augment does for object-detection's --augment list).
import { describe, expect, it } from 'vitest'
import { parseFlags } from './flags.js'

const cmd = { name: 'x', summary: '', usage: '', flags: { augment: { type: 'list', describe: '' }, keep: { type: 'boolean', describe: '' } } } as const

describe('list flags', () => {
  it('accumulate comma-separated values; --no-NAME gives ["none"]; absent gives []', () => {
    expect(parseFlags(cmd, ['--augment', 'flip,scale', '--augment=crop']).flags.augment).toEqual(['flip', 'scale', 'crop'])
    expect(parseFlags(cmd, ['--no-augment', '--keep']).flags).toEqual({ augment: ['none'], keep: true })
    expect(parseFlags(cmd, []).flags.augment).toEqual([])
  })
})
