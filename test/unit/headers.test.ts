import { describe, expect, it } from 'vitest';
import { firstHeader, headerBlock, parseHeaders, type HeaderField } from '../../src/message/headers.js';

const bin = (s: string): Buffer => Buffer.from(s, 'latin1');
const str = (b: Buffer): string => b.toString('latin1');

describe('headerBlock', () => {
  it.each([
    ['CRLF', 'A: 1\r\nB: 2\r\n\r\nbody\r\n\r\nmore', 'A: 1\r\nB: 2\r\n\r\n'],
    ['bare LF', 'A: 1\nB: 2\n\nbody\n\nmore', 'A: 1\nB: 2\n\n'],
    ['LF then CRLF', 'A: 1\nB: 2\n\r\nbody', 'A: 1\nB: 2\n\r\n'],
    ['CR runs before LF', 'A: 1\r\r\n\r\r\nbody', 'A: 1\r\r\n\r\r\n'],
    ['a CR-run line ending is not an empty line', 'A: 1\r\r\nB: 2\r\n\r\nbody', 'A: 1\r\r\nB: 2\r\n\r\n'],
    ['empty line first (no headers)', '\r\nbody\r\n', '\r\n'],
    ['bare LF empty line first', '\nbody\n', '\n'],
    ['header block with nothing after it', 'A: 1\r\n\r\n', 'A: 1\r\n\r\n'],
  ])('%s', (_name, message, expected) => {
    expect(str(headerBlock(bin(message)))).toBe(expected);
  });

  it('returns the whole message when there is no empty line', () => {
    const message = bin('A: 1\r\nB: 2\r\nno separator here\r\n');
    expect(headerBlock(message).equals(message)).toBe(true);
  });

  it('returns the whole message when it has no line break at all', () => {
    expect(str(headerBlock(bin('Subject: lonely')))).toBe('Subject: lonely');
  });

  it('returns an empty buffer for an empty message', () => {
    expect(headerBlock(Buffer.alloc(0)).length).toBe(0);
  });

  it('keeps 8-bit and NUL bytes intact', () => {
    const message = Buffer.concat([bin('Subject: caf'), Buffer.from([0xe9, 0x00, 0xff]), bin('\r\n\r\nbody')]);
    const block = headerBlock(message);
    expect(block.equals(message.subarray(0, message.length - 4))).toBe(true);
  });

  it('is fast on a 25 MB message with a small header', () => {
    const header = bin('From: a@example.com\r\nSubject: big\r\n\r\n');
    const line = bin(`${'x'.repeat(76)}\r\n`);
    const body = Buffer.alloc(25 * 1024 * 1024);
    for (let i = 0; i + line.length <= body.length; i += line.length) line.copy(body, i);
    const message = Buffer.concat([header, body]);
    const start = performance.now();
    const block = headerBlock(message);
    const elapsed = performance.now() - start;
    expect(block.equals(header)).toBe(true);
    expect(elapsed).toBeLessThan(50);
  });

  it('stays fast on a 25 MB message without any empty line', () => {
    const line = bin(`X-Filler: ${'y'.repeat(66)}\r\n`);
    const message = Buffer.alloc(line.length * 340_000);
    for (let i = 0; i < message.length; i += line.length) line.copy(message, i);
    const start = performance.now();
    const block = headerBlock(message);
    const elapsed = performance.now() - start;
    expect(block.length).toBe(message.length);
    expect(elapsed).toBeLessThan(1000);
  });
});

describe('parseHeaders', () => {
  const fields = (s: string | Buffer): HeaderField[] => parseHeaders(typeof s === 'string' ? bin(s) : s);

  it('parses fields in order with lower-cased names and trimmed values', () => {
    expect(fields('From: a@example.com\r\nTO:   b@example.com  \r\nX-Empty:\r\nsubject:hi\r\n\r\n')).toEqual([
      { name: 'from', value: 'a@example.com' },
      { name: 'to', value: 'b@example.com' },
      { name: 'x-empty', value: '' },
      { name: 'subject', value: 'hi' },
    ]);
  });

  it('keeps repeated fields, each in its place', () => {
    expect(fields('Received: one\r\nX: 1\r\nReceived: two\r\n\r\n')).toEqual([
      { name: 'received', value: 'one' },
      { name: 'x', value: '1' },
      { name: 'received', value: 'two' },
    ]);
  });

  it('unfolds by removing the line break before WSP and keeping the WSP', () => {
    expect(fields('Subject: a\r\n b\r\n\tc\r\n   d\r\nTo: x\r\n\r\n')).toEqual([
      { name: 'subject', value: 'a b\tc   d' },
      { name: 'to', value: 'x' },
    ]);
  });

  it('unfolds a value that starts on a continuation line', () => {
    expect(fields('Message-ID:\r\n <id@example.com>\r\n\r\n')).toEqual([{ name: 'message-id', value: '<id@example.com>' }]);
  });

  it('gives the same fields for CRLF, bare LF and CR-run line endings', () => {
    const crlf = fields('Subject: a\r\n b\r\nFrom: c\r\n\r\n');
    expect(fields('Subject: a\n b\nFrom: c\n\n')).toEqual(crlf);
    expect(fields('Subject: a\r\r\n b\r\r\nFrom: c\r\r\n\r\r\n')).toEqual(crlf);
    expect(fields('Subject: a\n b\r\nFrom: c\n\r\n')).toEqual(crlf);
  });

  it('keeps a bare CR inside a line as a byte of the value', () => {
    expect(fields('Subject: a\rb\r\n\r\n')).toEqual([{ name: 'subject', value: 'a\rb' }]);
  });

  it('keeps 8-bit bytes: latin1 é (0xE9) round-trips', () => {
    const raw = Buffer.concat([bin('From: Ren'), Buffer.from([0xe9]), bin(' <r@example.fr>\r\n\r\n')]);
    const [from] = fields(raw);
    expect(from?.value).toBe('Ren\u00e9 <r@example.fr>');
    expect(Buffer.from(from?.value ?? '', 'latin1').equals(raw.subarray(6, raw.length - 4))).toBe(true);
  });

  it('keeps UTF-8 sequences as their individual bytes', () => {
    const raw = Buffer.concat([bin('Subject: '), Buffer.from('é', 'utf8'), bin('\r\n\r\n')]);
    expect(fields(raw)[0]?.value).toBe('\u00c3\u00a9');
  });

  it('keeps NUL bytes', () => {
    const raw = Buffer.concat([bin('Subject: a'), Buffer.from([0]), bin('b\r\n\r\n')]);
    expect(fields(raw)).toEqual([{ name: 'subject', value: 'a\u0000b' }]);
  });

  it('skips lines without a colon, and their continuation lines', () => {
    expect(fields('From: a\r\ngarbage line\r\n continued garbage\r\nTo: b\r\n\r\n')).toEqual([
      { name: 'from', value: 'a' },
      { name: 'to', value: 'b' },
    ]);
  });

  it('skips an mbox From_ line although it contains colons', () => {
    expect(fields('From someone@example.com Tue Jul  1 10:52:37 2003\nSubject: s\n\n')).toEqual([{ name: 'subject', value: 's' }]);
  });

  it('skips a continuation line before the first field', () => {
    expect(fields(' stray\r\nSubject: s\r\n\r\n')).toEqual([{ name: 'subject', value: 's' }]);
  });

  it('skips a line with an empty field name', () => {
    expect(fields(': nothing\r\nSubject: s\r\n\r\n')).toEqual([{ name: 'subject', value: 's' }]);
  });

  it('tolerates whitespace between the field name and the colon', () => {
    expect(fields('Subject  : s\r\nTo\t: t\r\n\r\n')).toEqual([
      { name: 'subject', value: 's' },
      { name: 'to', value: 't' },
    ]);
  });

  it('keeps colons inside the value', () => {
    expect(fields('Date: Tue, 1 Jul 2003 10:52:37 +0200\r\n\r\n')[0]?.value).toBe('Tue, 1 Jul 2003 10:52:37 +0200');
  });

  it('stops at the first empty line when given a whole message', () => {
    expect(fields('Subject: s\r\n\r\nNot-A-Header: body text\r\n')).toEqual([{ name: 'subject', value: 's' }]);
  });

  it('parses a block without a final line break', () => {
    expect(fields('Subject: s\r\nTo: t')).toEqual([
      { name: 'subject', value: 's' },
      { name: 'to', value: 't' },
    ]);
    expect(fields('Subject: s\r')).toEqual([{ name: 'subject', value: 's' }]);
  });

  it('returns nothing for an empty block or a lone empty line', () => {
    expect(fields('')).toEqual([]);
    expect(fields('\r\n')).toEqual([]);
  });

  it('is linear on a 1 MB header block of many fields', () => {
    const parts: string[] = [];
    for (let i = 0; i < 20_000; i++) parts.push(`X-Field-${i}: value number ${i} with some padding text\r\n`);
    const raw = bin(`${parts.join('')}\r\n`);
    expect(raw.length).toBeGreaterThan(1_000_000);
    const start = performance.now();
    const parsed = fields(raw);
    expect(performance.now() - start).toBeLessThan(1000);
    expect(parsed).toHaveLength(20_000);
    expect(parsed[19_999]).toEqual({ name: 'x-field-19999', value: 'value number 19999 with some padding text' });
  });

  it('is linear on one field folded over 1 MB', () => {
    const raw = bin(`References: <first@x>\r\n${' <next@example.com>\r\n'.repeat(60_000)}\r\n`);
    expect(raw.length).toBeGreaterThan(1_000_000);
    const start = performance.now();
    const parsed = fields(raw);
    expect(performance.now() - start).toBeLessThan(1000);
    expect(parsed).toHaveLength(1);
    expect(parsed[0]?.value.length).toBe('<first@x>'.length + ' <next@example.com>'.length * 60_000);
  });

  it('is linear on a 1 MB block of lines without a colon', () => {
    const raw = bin(`${'x'.repeat(1_000_000)}\r\nSubject: s\r\n\r\n`);
    const start = performance.now();
    expect(fields(raw)).toEqual([{ name: 'subject', value: 's' }]);
    expect(performance.now() - start).toBeLessThan(1000);
  });
});

describe('firstHeader', () => {
  const list: HeaderField[] = [
    { name: 'received', value: 'first' },
    { name: 'subject', value: 's' },
    { name: 'received', value: 'second' },
  ];

  it('returns the first value, matching the name case-insensitively', () => {
    expect(firstHeader(list, 'Received')).toBe('first');
    expect(firstHeader(list, 'SUBJECT')).toBe('s');
  });

  it('returns undefined when the field is absent', () => {
    expect(firstHeader(list, 'date')).toBeUndefined();
  });
});
