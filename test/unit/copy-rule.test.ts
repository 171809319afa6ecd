import { describe, expect, it } from 'vitest';
import { copyDigests, judgeCopy, serverChanges } from '../../src/message/copy-rule.js';

const original = Buffer.from(
  'Message-ID: <a@b>\r\nSubject: caf\xe9 \xa37,000\r\nStatus: O\r\n\r\nline one\r\ncr\r\r\nbare\rcr\r\n',
  'latin1',
);
const bin = (s: string) => Buffer.from(s, 'latin1');
const judgeOf = (from: Buffer, copy: Buffer) => judgeCopy(copyDigests(from), copyDigests(copy));
const judge = (copy: Buffer) => judgeOf(original, copy);
const edit = (f: (s: string) => string) => bin(f(original.toString('latin1')));

const LINE_ENDS = 'line ends rewritten';
const BARE_CR = 'bare CR deleted';
const EMPTY_BODY = 'line end added to an empty body';
const MUNGE = '8-bit header bytes replaced by X';
const FIELDS = 'X-IMAPbase/X-UID/X-UIDL/Status headers added or rewritten';

/**
 * A multipart message as a MIME-tree store rebuilds it on FETCH (WildDuck):
 * the same parts, but the blank lines after the closing boundary come back
 * before the first part. Not one byte differs but the order of its lines.
 */
const multipart = (preamble: string, epilogue: string) =>
  bin(
    'Message-ID: <m@x>\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n' +
      preamble +
      '--b\r\nContent-Type: text/plain\r\n\r\npay 100 EUR\r\n--b\r\nContent-Type: text/plain\r\n\r\nsigned\r\n--b--\r\n' +
      epilogue,
  );

describe('the copy rule', () => {
  it('a byte-equal copy is identical', () => {
    expect(judge(Buffer.from(original))).toBe('identical');
  });

  it.each([
    ['Dovecot folds CR runs before LF', (s: string) => s.replace(/\r+\n/g, '\r\n'), [LINE_ENDS]],
    ['a store writes every line end as LF', (s: string) => s.replace(/\r*\n/g, '\n'), [LINE_ENDS]],
    ['Courier deletes a bare CR', (s: string) => s.replace('bare\rcr', 'barecr'), [BARE_CR]],
    [
      'Courier deletes a bare CR and folds CR runs',
      (s: string) => s.replace(/\r+\n/g, '\r\n').replace(/\r(?!\n)/g, ''),
      [LINE_ENDS, BARE_CR],
    ],
    ['Cyrus munge8bit', (s: string) => s.replace(/[\x80-\xff]/g, 'X'), [MUNGE]],
    [
      'Mailutils adds its headers and rewrites Status',
      (s: string) => s.replace('Status: O\r\n', 'Status: OR\r\nX-IMAPbase: 1 2\r\nX-UID: 1\r\n'),
      [FIELDS],
    ],
  ])('%s: the message, with the change named', (_name, change, names) => {
    const copy = edit(change);
    expect(judge(copy)).toBe('server-changed');
    expect(serverChanges(original, copy)).toEqual(names);
  });

  it.each([
    ['an empty body', 'From: a@x\r\nSubject: beat\r\n\r\n'],
    ['no body at all', 'From: a@x\r\nSubject: beat\r\n'],
  ])('Mailutils stores %s with one empty line, and its own headers: the message, with both changes named', (_name, text) => {
    const copy = bin('From: a@x\r\nSubject: beat\r\nX-IMAPbase: 1 2\r\nX-UID: 1\r\n\r\n\r\n');
    expect(judgeOf(bin(text), copy)).toBe('server-changed');
    expect(serverChanges(bin(text), copy)).toEqual([EMPTY_BODY, FIELDS]);
  });

  it('Mailutils as a POP3 source adds that line between readings: a copy of the earlier reading is the message too', () => {
    const reread = bin('From: a@x\r\nSubject: beat\r\nStatus: O\r\n\r\n\r\n');
    const copy = bin('From: a@x\r\nSubject: beat\r\n\r\n');
    expect(judgeOf(reread, copy)).toBe('server-changed');
    expect(serverChanges(reread, copy)).toEqual([EMPTY_BODY, FIELDS]);
  });

  it.each([
    ['one byte of the body', (s: string) => s.replace('line one', 'line One')],
    ['a header value', (s: string) => s.replace('7,000', '9,000')],
    ['8-bit bytes in the body', (s: string) => s.replace('bare', 'b\xe9re')],
    ['a field added that servers do not add', (s: string) => s.replace('Status: O\r\n', 'Status: O\r\nX-Spam: yes\r\n')],
    ['a bare CR made a line end (no server measured does that: it splits a line)', (s: string) => s.replace('bare\rcr', 'bare\r\ncr')],
    ['a CR added inside a line', (s: string) => s.replace('line one', 'line\r one')],
    ['a line end moved within the body', (s: string) => s.replace('line one\r\ncr', 'line onecr\r\n')],
    ['two lines joined', (s: string) => s.replace('line one\r\n', 'line one')],
    ['a line split', (s: string) => s.replace('line one', 'line\r\none')],
    ['an empty line added to a body', (s: string) => `${s}\r\n`],
    ['an empty line added between header and body', (s: string) => s.replace('\r\n\r\n', '\r\n\r\n\r\n')],
    ['two lines swapped', (s: string) => s.replace('line one\r\ncr\r\r\n', 'cr\r\r\nline one\r\n')],
    ['the last line end dropped', (s: string) => s.slice(0, -2)],
  ])('another message when %s', (_name, change) => {
    const copy = edit(change);
    expect(judge(copy)).toBe('different');
    expect(serverChanges(original, copy)).toBeUndefined();
  });

  it('a line end is not movable: a\\r\\nb is not ab\\r\\n', () => {
    expect(judgeOf(bin('S: x\r\n\r\na\r\nb'), bin('S: x\r\n\r\nab\r\n'))).toBe('different');
    expect(judgeOf(bin('S: x\r\n\r\na\r\nb\r\n'), bin('S: x\r\n\r\nab\r\n\r\n'))).toBe('different');
    expect(judgeOf(bin('S: x\r\n\r\na\nb\n'), bin('S: x\r\n\r\nab\n\n'))).toBe('different');
  });

  it('blank lines moved from after the last MIME part to before the first (a MIME-tree store) make another message', () => {
    const stored = multipart('', '\r\n\r\n');
    const served = multipart('\r\n\r\n', '');
    expect(stored.length).toBe(served.length);
    expect(judgeOf(stored, served)).toBe('different');
    expect(serverChanges(stored, served)).toBeUndefined();
  });

  it('the undone changes go one way: a copy with the 8-bit bytes its original had as X is another message', () => {
    const munged = edit((s) => s.replace(/[\x80-\xff]/g, 'X'));
    expect(judgeOf(munged, original)).toBe('different');
    expect(
      judgeOf(
        edit((s) => s.replace('bare\rcr', 'barecr')),
        original,
      ),
    ).toBe('different');
  });

  it('the line-end form does not depend on where CR runs, bare CRs and LFs fall in the bytes', () => {
    const crlf = bin('Subject: x\r\n\r\n\r\n\ra\r\r\nb\n\nc\rd\r\n');
    const lf = bin('Subject: x\n\n\n\ra\nb\n\nc\rd\n');
    expect(copyDigests(crlf).tolerant).toBe(copyDigests(lf).tolerant);
    expect(copyDigests(crlf).tolerant).not.toBe(copyDigests(bin('Subject: x\n\n\n\rab\n\nc\rd\n')).tolerant);
  });
});
