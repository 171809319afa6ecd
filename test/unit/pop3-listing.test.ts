import { describe, expect, it } from 'vitest';
import { Pop3Listing, isWellFormedUidl, parseListReply, parseUidlLines, parseUidlReply } from '../../src/pop3/pop3-listing.js';

const body = (text: string) => Buffer.from(text, 'latin1');

describe('parseListReply', () => {
  it('reads "n size" lines, with tabs, extra words, bare LF and blank lines', () => {
    const sizes = parseListReply(body('1 120\r\n2\t3456 extra\r\n\r\n  \r\n10 7\n11  0octets'));
    expect([...sizes]).toEqual([
      [1, 120],
      [2, 3456],
      [10, 7],
      [11, 0],
    ]);
  });

  it('keeps numbers beyond 32 bits exact', () => {
    expect([...parseListReply(body('4294967297 9007199254740991\r\n'))]).toEqual([[4294967297, 9007199254740991]]);
  });

  it('names the first unreadable line', () => {
    for (const bad of ['x 1', '1', '1x 2', '1 y', ' 1 2', '1 99999999999999999999']) {
      expect(() => parseListReply(body(`1 5\r\n${bad}\r\n3 4\r\n`))).toThrow(expect.objectContaining({ line: bad }));
    }
  });

  it('reads an empty reply as no messages', () => {
    expect(parseListReply(body('')).size).toBe(0);
  });
});

describe('parseUidlReply', () => {
  it('reads "n uid" lines; a uid is kept exactly, up to the line end', () => {
    const uids = parseUidlReply(body('1 000000016b072c81\r\n2\tAbC.d-e_f+g/h=\r\n3 x trailing\r\n'));
    expect([...uids]).toEqual([
      [1, '000000016b072c81'],
      [2, 'AbC.d-e_f+g/h='],
      [3, 'x trailing'],
    ]);
  });

  it('does not cut ids at a space or an 8-bit byte, so different ids stay different', () => {
    const raw = Buffer.concat([
      body('1 x U1-abc\r\n2 x U2-abc\r\n'),
      body('3 caf'),
      Buffer.from([0xe9]),
      body('\r\n'),
      body('4 caf'),
      Buffer.from([0xe8]),
      body('\r\n'),
    ]);
    const uids = parseUidlReply(raw);
    expect(uids.get(1)).toBe('x U1-abc');
    expect(uids.get(2)).toBe('x U2-abc');
    expect(Buffer.from(uids.get(3)!, 'latin1')).toEqual(Buffer.from([0x63, 0x61, 0x66, 0xe9]));
    expect(uids.get(3)).not.toBe(uids.get(4));
    expect(new Set(uids.values()).size).toBe(4);
  });

  it('names the first line that does not start with a message number', () => {
    for (const bad of ['a b', 'x1 y', '1x 2']) {
      expect(() => parseUidlReply(body(`${bad}\r\n`))).toThrow(expect.objectContaining({ line: bad }));
    }
  });

  it('keeps a line without an id as an empty id, and notes numbers listed twice', () => {
    const lines = parseUidlLines(body('1\r\n2 \r\n3 a\r\n3 b\r\n'));
    expect([...lines]).toEqual([
      [1, ''],
      [2, ''],
      [3, 'a'],
    ]);
    expect([...lines.repeatedNumbers]).toEqual([3]);
  });
});

describe('Pop3Listing', () => {
  const sizes = (count: number) => new Map(Array.from({ length: count }, (_, i) => [i + 1, 100 + i] as const));

  it('marks which numbers have a unique, well-formed UIDL, and why the others do not', () => {
    const raw = Buffer.concat([
      body('1 good-1\r\n2 has space\r\n3 caf'),
      Buffer.from([0xe9]),
      body('\r\n4 same\r\n5 same\r\n7 good-7\r\n7 again\r\n8\r\n9 good-9\r\n'),
    ]);
    const listing = new Pop3Listing(sizes(9), parseUidlLines(raw));
    expect(listing.hasUidl).toBe(true);
    expect([...listing.numbers]).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const problems = [...listing.numbers].map((n) => listing.problem(n) ?? 'ok');
    expect(problems).toEqual(['ok', 'malformed', 'malformed', 'duplicate', 'duplicate', 'missing', 'malformed', 'malformed', 'ok']);
    expect([...listing.numbers].filter((n) => listing.identifiable(n))).toEqual([1, 9]);
    expect(listing.uidl(2)).toBe('has space');
    expect(listing.size(9)).toBe(108);
    expect([...listing.withProblems()]).toEqual([
      ['malformed', [2, 3, 7, 8]],
      ['duplicate', [4, 5]],
      ['missing', [6]],
    ]);
  });

  it('without UIDL no message is identifiable', () => {
    const listing = new Pop3Listing(sizes(2), undefined);
    expect(listing.hasUidl).toBe(false);
    expect(listing.identifiable(1)).toBe(false);
    expect(listing.problem(2)).toBe('no-uidl');
  });

  it('isWellFormedUidl follows RFC 1939 (0x21-0x7E, at least one)', () => {
    expect(isWellFormedUidl('!~AZaz09')).toBe(true);
    for (const bad of ['', 'a b', 'a\tb', 'caf\u00e9', 'a\x7f']) expect(isWellFormedUidl(bad)).toBe(false);
  });
});
