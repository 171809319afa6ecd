import { describe, expect, it } from 'vitest';
import { parseListReply, parseUidlReply } from '../../src/pop3/pop3-listing.js';

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
  it('reads "n uid" lines; a uid is printable ASCII, kept exactly', () => {
    const uids = parseUidlReply(body('1 000000016b072c81\r\n2\tAbC.d-e_f+g/h=\r\n3 x trailing\r\n'));
    expect([...uids]).toEqual([
      [1, '000000016b072c81'],
      [2, 'AbC.d-e_f+g/h='],
      [3, 'x'],
    ]);
  });

  it('names the first unreadable line', () => {
    for (const bad of ['1', '1 ', 'a b', '1 \u00e9t\u00e9']) {
      expect(() => parseUidlReply(body(`${bad}\r\n`))).toThrow(expect.objectContaining({ line: bad }));
    }
  });
});
