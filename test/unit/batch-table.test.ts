import { describe, expect, it } from 'vitest';
import { cutMiddle, renderTable, wrapText } from '../../src/cli/batch-table.js';

describe('wrapText', () => {
  it('breaks at spaces, indents what follows, keeps every word', () => {
    const text = 'poplift: bob -> bob: IMAP server 127.0.0.1:993 refused the login for bob: [AUTHENTICATIONFAILED] Authentication failed.';
    const lines = wrapText(text, 40);
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(40);
    expect(lines.slice(1).every((l) => l.startsWith('  '))).toBe(true);
    expect(lines.map((l) => l.trim()).join(' ')).toBe(text);
  });
  it('splits a word longer than a line, and pads to the width when asked', () => {
    expect(wrapText('abcdefghij', 4)).toEqual(['abcd', '  ef', '  gh', '  ij']);
    expect(wrapText('a b', 5, '  ', true)).toEqual(['a b  ']);
  });
});

describe('renderTable', () => {
  const header = ['line', 'mailbox', 'found', 'status'];
  const right = [true, false, true, false];
  const rows = [
    ['2', 'alice@pop.old.example -> alice@imap.new.example "Archive/Old ISP"', '120', 'ok'],
    ['3', 'bob@pop.old.example -> bob@imap.new.example "Archive/Old ISP"', '0', 'auth failed'],
  ];
  const totals = ['', 'total: 2 mailboxes, 1 ok, 1 failed', '120', 'FAILED'];

  it('without a width, or when it fits, every cell is whole', () => {
    const whole = renderTable(header, right, rows, totals);
    expect(whole).toContain(rows[0]![1]);
    expect(whole).toMatch(/total: 2 mailboxes, 1 ok, 1 failed\s+120\s+FAILED\n$/);
    expect(renderTable(header, right, rows, totals, { width: 200, short: ['a', 'b'] })).toBe(whole);
  });

  it('narrowed to a width: the short names, the totals label below, every line fits', () => {
    const short = ['alice → Archive/Old ISP', 'bob → Archive/Old ISP'];
    const text = renderTable(header, right, rows, totals, { width: 50, short });
    const lines = text.trimEnd().split('\n');
    for (const l of lines) expect(l.length, l).toBeLessThanOrEqual(50);
    expect(lines[2]).toMatch(/^ {3}2 {2}alice → Archive\/Old ISP\s+120 {2}ok$/);
    expect(lines[5]).toMatch(/^ {6}total\s+120 {2}FAILED$/);
    expect(lines[6]).toBe('total: 2 mailboxes, 1 ok, 1 failed');
    // Narrower still: the short names lose their middle.
    const narrow = renderTable(header, right, rows, totals, { width: 36, short });
    expect(narrow.split('\n')[2]).toBe('   2  alice… ISP    120  ok');
  });

  it('cutMiddle keeps both ends', () => {
    expect(cutMiddle('abcdefghij', 5)).toBe('ab…ij');
    expect(cutMiddle('abc', 5)).toBe('abc');
  });
});
