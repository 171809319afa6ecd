import { describe, expect, it } from 'vitest';
import { encodeModifiedUtf7, imapAstring } from '../../src/imap/mailbox-name.js';

describe('modified UTF-7 mailbox names', () => {
  it.each([
    ['INBOX', 'INBOX'],
    ['Archive.Old ISP', 'Archive.Old ISP'],
    ['Tom & Jerry', 'Tom &- Jerry'],
    // RFC 3501 §5.1.3 example
    ['~peter/mail/台北/日本語', '~peter/mail/&U,BTFw-/&ZeVnLIqe-'],
    ['Entwürfe', 'Entw&APw-rfe'],
    ['Gelöschte Elemente', 'Gel&APY-schte Elemente'],
    ['📧', '&2D3c5w-'],
  ])('%s -> %s', (name, wire) => {
    expect(encodeModifiedUtf7(name)).toBe(wire);
  });
});

describe('IMAP astring', () => {
  it('leaves atoms bare and quotes the rest', () => {
    expect(imapAstring('INBOX')).toBe('INBOX');
    expect(imapAstring('Archive.Old ISP')).toBe('"Archive.Old ISP"');
    expect(imapAstring('a"b\\c')).toBe('"a\\"b\\\\c"');
    expect(imapAstring('nil')).toBe('"nil"');
    expect(imapAstring('')).toBe('""');
  });
  it('refuses line breaks and NUL without repeating the text, which may be a password', () => {
    expect(() => imapAstring('a\r\nb')).toThrow(/line break/);
    for (const secret of ['hunter2\nx', 'hunter2\0']) {
      let message = '';
      try {
        imapAstring(secret);
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message).toMatch(/line break or NUL/);
      expect(message).not.toContain('hunter2');
    }
  });
});
