import { describe, expect, it } from 'vitest';
import { copyDigests, judgeCopy, serverChanges } from '../../src/message/copy-rule.js';

const original = Buffer.from(
  'Message-ID: <a@b>\r\nSubject: caf\xe9 \xa37,000\r\nStatus: O\r\n\r\nline one\r\ncr\r\r\nbare\rcr\r\n',
  'latin1',
);
const judge = (copy: Buffer) => judgeCopy(copyDigests(original), copyDigests(copy));
const edit = (f: (s: string) => string) => Buffer.from(f(original.toString('latin1')), 'latin1');

describe('the copy rule', () => {
  it('a byte-equal copy is identical', () => {
    expect(judge(Buffer.from(original))).toBe('identical');
  });

  it.each([
    ['Dovecot folds CR runs before LF', (s: string) => s.replace(/\r+\n/g, '\r\n'), ['line ends rewritten']],
    ['Cyrus makes a bare CR a line end', (s: string) => s.replace(/\r(?!\n)/g, '\r\n'), ['line ends rewritten']],
    ['Courier deletes a bare CR', (s: string) => s.replace(/\r\r\n/g, '\r\n').replace(/\r(?!\n)/g, ''), ['line ends rewritten']],
    ['Cyrus munge8bit', (s: string) => s.replace(/[\x80-\xff]/g, 'X'), ['8-bit header bytes replaced by X']],
    [
      'Mailutils adds its headers and rewrites Status',
      (s: string) => s.replace('Status: O\r\n', 'Status: OR\r\nX-IMAPbase: 1 2\r\nX-UID: 1\r\n'),
      ['X-IMAPbase/X-UID/X-UIDL/Status headers added or rewritten'],
    ],
  ])('%s: the message, with the change named', (_name, change, names) => {
    const copy = edit(change);
    expect(judge(copy)).toBe('server-changed');
    expect(serverChanges(original, copy)).toEqual(names);
  });

  it.each([
    ['one byte of the body', (s: string) => s.replace('line one', 'line One')],
    ['a header value', (s: string) => s.replace('7,000', '9,000')],
    ['8-bit bytes in the body', (s: string) => s.replace('bare', 'b\xe9re')],
    ['a field added that servers do not add', (s: string) => s.replace('Status: O\r\n', 'Status: O\r\nX-Spam: yes\r\n')],
  ])('another message when %s differs', (_name, change) => {
    const copy = edit(change);
    expect(judge(copy)).toBe('different');
    expect(serverChanges(original, copy)).toBeUndefined();
  });

  it('hashes the body without line ends the same whether it is read a run at a time or a byte at a time', () => {
    const body = Buffer.from('\r\n\ra\r\r\nb\n\nc\rd', 'latin1');
    const plain = Buffer.from('Subject: x\r\n\r\n', 'latin1');
    const stripped = Buffer.concat([plain, Buffer.from('abcd')]);
    expect(copyDigests(Buffer.concat([plain, body])).tolerant).toBe(copyDigests(stripped).tolerant);
  });
});
