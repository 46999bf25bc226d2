import { describe, expect, it } from 'vitest'
import { emailToText, parseEmail, stripHtml } from './spam-assassin.js'
import { loadSpamAssassin } from './spam-assassin-node.js'

const bytes = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0))

describe('e-mail text', () => {
  it('drops headers and keeps the decoded subject and body', () => {
    const raw = 'From: a@b.c\nReceived: from x\n\tby y\nSubject: =?iso-8859-1?Q?Caf=E9_men=FC?=\n =?utf-8?B?4pyT?=\n\nHello  there,\nsee you.\n'
    expect(parseEmail(bytes(raw))).toEqual({ subject: 'Café menü✓', body: 'Hello there, see you.' })
  })

  it('reads text parts of nested multipart mail, preferring text/plain, decoding QP and base64', () => {
    const raw = [
      'Subject: offer',
      'Content-Type: multipart/mixed; boundary="==b"',
      '',
      'preamble',
      '--==b',
      'Content-Type: multipart/alternative;',
      '\tboundary="==bAA"',
      '',
      '--==bAA',
      'Content-Type: text/plain; charset=iso-8859-1',
      'Content-Transfer-Encoding: quoted-printable',
      '',
      'Cr=E8me br=FBl=',
      'ée for you',
      '--==bAA',
      'Content-Type: text/html',
      '',
      '<p>html version</p>',
      '--==bAA--',
      '--==b',
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: base64',
      '',
      btoa('second part ✓'.replace(/✓/, '\xe2\x9c\x93')),
      '--==b',
      'Content-Type: image/gif',
      'Content-Transfer-Encoding: base64',
      '',
      'R0lGODlhAQABAAAAACw=',
      '--==b--',
      'epilogue',
    ].join('\r\n')
    expect(parseEmail(bytes(raw))).toEqual({ subject: 'offer', body: 'Crème brûlée for you second part ✓' })
  })

  it('falls back to HTML without tags, scripts or entities', () => {
    expect(stripHtml('<html><head><title>t</title></head><body>Buy&nbsp;<b>now</b> &amp; save &#36;5<script>x()</script></body></html>').replace(/\s+/g, ' ').trim()).toBe(
      'Buy now & save $5',
    )
    const raw = 'Subject: hi\nContent-Type: text/html\n\n<div>Only <i>html</i></div>'
    expect(parseEmail(bytes(raw)).body).toBe('Only html')
  })

  it('caps the body at a word boundary', () => {
    const text = emailToText(bytes('Subject: s\n\n' + 'word '.repeat(1000)), 100)
    const [subject, body] = text.split('\n')
    expect(subject).toBe('s')
    expect(body!.length).toBeLessThanOrEqual(100)
    expect(body!.endsWith('word')).toBe(true)
  })
})

describe('SpamAssassin corpus', () => {
  it('loads ham and spam records in a fixed order', async () => {
    const few = await loadSpamAssassin({ limitPerGroup: 20 })
    expect(few.length).toBe(100)
    expect(few.filter((r) => r.label === 'spam').length).toBe(40)
    expect(few[0]!.id).toBe('easy-ham-1/00001')
    expect(few[0]!.text.startsWith('Re: New Sequences Window\n')).toBe(true)
    for (const r of few) {
      expect(r.text).not.toMatch(/^(Received|Return-Path|Message-Id):/im)
      expect(r.text.length).toBeLessThanOrEqual(2000 + r.text.indexOf('\n') + 1)
    }
    const again = await loadSpamAssassin({ groups: ['spam-1'], limitPerGroup: 20 })
    expect(again).toEqual(few.filter((r) => r.id.startsWith('spam-1/')))
  })

  it('holds the whole corpus: 4150 ham and 1896 spam', async () => {
    const all = await loadSpamAssassin()
    expect(all.length).toBe(6046)
    expect(all.filter((r) => r.label === 'ham').length).toBe(4150)
    expect(all.filter((r) => r.text.split('\n')[1]!.trim() === '').length).toBeLessThan(30) // image-only spam has no text
  })
})

describe('SpamAssassin as a data set', () => {
  it('goes through the text-classification pipeline with ham=0, spam=1', async () => {
    const { loadTextData } = await import('./dataset.js')
    const { recordsSource } = await import('./source.js')
    const records = await loadSpamAssassin({ limitPerGroup: 10 })
    const ds = await loadTextData(recordsSource('spam-assassin.jsonl', records), undefined, { task: 'text-classification', validationFraction: 0.2, stratify: true })
    expect(ds.labels?.labelMap.label2id).toEqual({ ham: 0, spam: 1 })
    expect([ds.train.length, ds.validation!.length]).toEqual([40, 10])
    const val = await ds.validation!.getMany(Array.from({ length: 10 }, (_, i) => i))
    expect(val.filter((e) => e.label === 1).length).toBe(4) // 20 of 50 are spam
  })
})
