import { describe, expect, it } from 'vitest';
import { isLoopback, parseServerUrl, redactUrl } from '../../src/cli/server-url.js';

describe('isLoopback: where plain text may go without --allow-plaintext', () => {
  it.each(['localhost', 'LOCALHOST', '127.0.0.1', '127.0.0.2', '127.255.255.254', '::1'])('%s is loopback', (host) => {
    expect(isLoopback(host)).toBe(true);
  });

  // A name is only a name: 127.mail.example may resolve to any address.
  it.each(['127.mail.example', '127.0.0.1.attacker.example', '127.', 'mail.example', '192.0.2.7', '::ffff:10.0.0.1', 'localhost.example'])(
    '%s is not loopback',
    (host) => {
      expect(isLoopback(host)).toBe(false);
    },
  );
});

describe('server URLs keep passwords out of messages', () => {
  it('reads a password from the URL, and redacts it', () => {
    const url = parseServerUrl('imaps://bob:s%40cret@imap.example:993', 'IMAP');
    expect(url.password).toBe('s@cret');
    expect(redactUrl('imaps://bob:s%40cret@imap.example:993')).toBe('imaps://bob:****@imap.example:993');
  });

  it('a bad URL error does not repeat the password', () => {
    expect(() => parseServerUrl('imaps://bob:Zq9-secret@imap.example/INBOX', 'IMAP')).toThrow(/^(?!.*Zq9-secret)/s);
  });
});
